//! The Redis limit: raw round trips on the same connection type as our Redis store. A get is
//! one `HGETALL` of a task-shaped hash; every write is one `EVALSHA` of a trivial script that
//! carries the call's key and arguments.

use crate::workload::{Flip, OWNER, Op, Res, STATUS_MESSAGE, Subject, TTL_MS};
use redis::aio::ConnectionManager;
use std::collections::HashMap;

const TRIVIAL: &str = include_str!("raw_redis/trivial.lua");

pub struct RawRedis {
    conn: ConnectionManager,
    prefix: String,
    script: redis::Script,
    result: String,
}

impl RawRedis {
    /// Keys go under `prefix`.
    pub async fn open(url: &str, prefix: &str) -> Res<Self> {
        let conn = redis::Client::open(url)?.get_connection_manager().await?;
        Ok(RawRedis {
            conn,
            prefix: prefix.to_owned(),
            script: redis::Script::new(TRIVIAL),
            result: serde_json::to_string(&crate::workload::one_kb_result())?,
        })
    }

    fn key(&self, id: &str) -> String {
        format!("{}task:{id}", self.prefix)
    }

    async fn eval(&self, id: &str, args: &[&str]) -> Res<()> {
        let mut invocation = self.script.key(self.key(id));
        for arg in args {
            invocation.arg(*arg);
        }
        let one: i64 = invocation.invoke_async(&mut self.conn.clone()).await?;
        std::hint::black_box(one);
        Ok(())
    }
}

impl Subject for RawRedis {
    type Version = ();

    fn unsupported(&self, op: Op) -> Option<&'static str> {
        match op {
            Op::List => Some("one round trip is no listing"),
            Op::Wake => Some("not measured raw"),
            _ => None,
        }
    }

    async fn fill(&self, n: usize) -> Res<Option<Vec<String>>> {
        let now = chrono::Utc::now().timestamp_millis().to_string();
        let ttl = TTL_MS.to_string();
        let mut ids = Vec::with_capacity(n);
        let mut conn = self.conn.clone();
        for chunk in 0..n.div_ceil(1_000) {
            let mut pipe = redis::pipe();
            for _ in 0..1_000.min(n - chunk * 1_000) {
                let id = uuid::Uuid::new_v4().to_string();
                let fields = [
                    ("taskId", id.as_str()),
                    ("owner", OWNER),
                    ("status", "working"),
                    ("createdAt", now.as_str()),
                    ("lastUpdatedAt", now.as_str()),
                    ("ttl", ttl.as_str()),
                    ("pollInterval", "500"),
                ];
                pipe.hset_multiple(self.key(&id), &fields).ignore();
                ids.push(id);
            }
            pipe.query_async::<()>(&mut conn).await?;
        }
        Ok(Some(ids))
    }

    async fn create(&self) -> Res<String> {
        let id = uuid::Uuid::new_v4().to_string();
        self.eval(&id, &[OWNER]).await?;
        Ok(id)
    }

    async fn get(&self, id: &str) -> Res<()> {
        let fields: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.key(id))
            .query_async(&mut self.conn.clone())
            .await?;
        if fields.is_empty() {
            return Err("task not found".into());
        }
        std::hint::black_box(fields);
        Ok(())
    }

    async fn set_status(&self, id: &str, to: Flip) -> Res<()> {
        let status = match to {
            Flip::InputRequired => "input_required",
            Flip::Working => "working",
        };
        self.eval(id, &[status, STATUS_MESSAGE]).await
    }

    async fn complete(&self, id: &str) -> Res<()> {
        self.eval(id, &["completed", &self.result]).await
    }

    async fn cancel(&self, id: &str) -> Res<()> {
        self.eval(id, &["cancelled"]).await
    }

    async fn list_page(&self, _cursor: Option<String>) -> Res<(usize, Option<String>)> {
        Err("no listing".into())
    }

    async fn remove(&self, ids: &[String]) -> Res<()> {
        let mut conn = self.conn.clone();
        for chunk in ids.chunks(1_000) {
            let keys: Vec<String> = chunk.iter().map(|id| self.key(id)).collect();
            redis::cmd("UNLINK")
                .arg(keys)
                .query_async::<()>(&mut conn)
                .await?;
        }
        Ok(())
    }
}

/// Deletes every key matching the glob `pattern`, so that each subject starts from an empty
/// keyspace.
pub async fn delete_keys(url: &str, pattern: &str) -> Res<()> {
    let mut conn = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1_000)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            redis::cmd("UNLINK")
                .arg(keys)
                .query_async::<()>(&mut conn)
                .await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}
