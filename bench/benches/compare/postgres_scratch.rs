//! A scratch database for one run, made on the server at `--postgres-url` and dropped at the
//! end, so that a run leaves nothing behind and never meets an earlier run's tables.

use crate::workload::Res;
use sqlx::{Connection, PgConnection};

pub struct Scratch {
    /// The server's URL with the scratch database in it.
    pub url: String,
    /// The server's version.
    pub version: String,
    admin: String,
    name: String,
}

impl Scratch {
    pub async fn create(admin: &str) -> Res<Self> {
        let mut conn = PgConnection::connect(admin).await?;
        let version: String = sqlx::query_scalar("SHOW server_version")
            .fetch_one(&mut conn)
            .await?;
        let name = format!(
            "task_store_bench_{}_{}",
            std::process::id(),
            chrono::Utc::now().timestamp()
        );
        // The name is made here of digits and letters.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        let _ = conn.close().await;
        // The admin URL with its database (the path) replaced.
        let (base, query) = admin.split_once('?').unwrap_or((admin, ""));
        let server = match base.rfind('/') {
            Some(slash) if slash > base.find("//").map_or(0, |at| at + 1) => &base[..slash],
            _ => base,
        };
        let url = if query.is_empty() {
            format!("{server}/{name}")
        } else {
            format!("{server}/{name}?{query}")
        };
        Ok(Scratch {
            url,
            version: version.split_whitespace().next().unwrap_or("?").to_owned(),
            admin: admin.to_owned(),
            name,
        })
    }

    /// Drops the database, ending any connection still open in it (pools of stores whose
    /// background tasks outlive them).
    pub async fn drop_database(self) -> Res<()> {
        let mut conn = PgConnection::connect(&self.admin).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut conn)
        .await?;
        let _ = conn.close().await;
        Ok(())
    }
}

/// Gathers the planner's statistics of every table in the database at `url`.
pub async fn analyze(url: &str) -> Res<()> {
    let mut conn = PgConnection::connect(url).await?;
    sqlx::query("ANALYZE").execute(&mut conn).await?;
    let _ = conn.close().await;
    Ok(())
}
