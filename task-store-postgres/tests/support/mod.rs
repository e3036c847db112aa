//! What the PostgreSQL tests share: the server's URL, stores in a fresh schema each that drop
//! their schema when dropped, and raw connections to look inside.
#![allow(dead_code)] // each test file uses a different part

use conformance_tests::delegate::{Delegate, Delegating};
use sqlx::{Connection, PgConnection};
use std::sync::Arc;
use std::time::Duration;
use task_core::{StoreConfig, TaskStore};
use task_store_postgres::{PostgresOptions, PostgresTaskStore};

/// Far longer than anything should take; reaching it means a hang.
pub const HANG: Duration = Duration::from_secs(60);

/// The PostgreSQL the tests use: `DATABASE_URL`, or the local server with trust
/// authentication.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A schema no other test or run uses.
pub fn fresh_schema() -> String {
    format!("test_{}", uuid::Uuid::new_v4().simple())
}

/// Default options in a fresh schema.
pub fn options() -> PostgresOptions {
    PostgresOptions::default().with_schema(fresh_schema())
}

/// Opens a store, failing the test with a clear message when the server does not answer: the
/// PostgreSQL tests never skip.
pub async fn open_at(
    url: &str,
    config: StoreConfig,
    options: PostgresOptions,
) -> PostgresTaskStore {
    match PostgresTaskStore::open_with(url, config, options).await {
        Ok(store) => store,
        Err(error) => panic!(
            "cannot open a PostgreSQL store: {error}. The PostgreSQL tests need a server: run \
             ./scripts/test-all.sh (it starts one) or set DATABASE_URL"
        ),
    }
}

/// A raw connection to the test database.
pub async fn raw(url: &str) -> PgConnection {
    PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL: {e}"))
}

/// Drops `schema` and everything in it, on a thread of its own so that it can run from a
/// `Drop` inside a runtime.
pub fn drop_schema(url: &str, schema: &str) {
    let (url, schema) = (url.to_owned(), schema.to_owned());
    let dropped = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let mut conn = PgConnection::connect(&url).await?;
            let statement = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(&mut conn)
                .await?;
            conn.close().await
        })
    })
    .join();
    if let Ok(Err(error)) = dropped {
        eprintln!("could not drop a test schema: {error}");
    }
}

/// A store in a fresh schema that drops the schema when dropped. As a [`Delegating`] store it
/// is a `TaskStore` itself.
#[derive(Debug)]
pub struct Scratch {
    pub store: PostgresTaskStore,
    pub url: String,
}

impl Scratch {
    /// A scratch store on the test server.
    pub async fn open(config: StoreConfig) -> Delegating<Scratch> {
        Scratch::open_with(config, options()).await
    }

    /// A scratch store on the test server with `options` (whose schema should be fresh).
    pub async fn open_with(config: StoreConfig, options: PostgresOptions) -> Delegating<Scratch> {
        let url = database_url();
        Delegating(Scratch {
            store: open_at(&url, config, options).await,
            url,
        })
    }

    /// The store's schema.
    pub fn schema(&self) -> &str {
        &self.store.options().schema
    }
}

impl Delegate for Scratch {
    fn inner(&self) -> &dyn TaskStore {
        &self.store
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        drop_schema(&self.url, &self.store.options().schema);
    }
}

/// A fresh scratch store, as the conformance suite's factory.
pub async fn scratch_store(config: StoreConfig) -> Arc<dyn TaskStore> {
    Arc::new(Scratch::open(config).await)
}

/// A private PostgreSQL cluster in a temporary folder, on a port of its own, that the test
/// may restart; stopped and removed when dropped. Run as the `postgres` user when the test
/// runs as root (the server refuses to run as root).
pub struct Cluster {
    dir: tempfile::TempDir,
    pub port: u16,
}

impl Cluster {
    /// Creates and starts a cluster with trust authentication.
    pub fn start() -> Cluster {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = free_port();
        if is_root() {
            let status = std::process::Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(status.success(), "chown the cluster folder to postgres");
        }
        let cluster = Cluster { dir, port };
        let data = cluster.data();
        cluster.run(
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        cluster.pg_ctl("start");
        cluster
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Restarts the server (`pg_ctl restart -m fast`): every connection is dropped.
    pub fn restart(&self) {
        self.pg_ctl("restart");
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn pg_ctl(&self, action: &str) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        let data = self.data();
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-o", &options, "-m", "fast", "-w", action,
            ],
        );
    }

    fn run(&self, program: &str, args: &[&str]) {
        let bin = postgres_bin(program);
        let mut command = if is_root() {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&bin);
            command
        } else {
            std::process::Command::new(&bin)
        };
        let output = command
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let bin = postgres_bin("pg_ctl");
        let mut command = if is_root() {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&bin);
            command
        } else {
            std::process::Command::new(&bin)
        };
        let _ = command
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The path of a PostgreSQL server program: on `PATH`, or in Debian's versioned folder.
fn postgres_bin(program: &str) -> String {
    if let Ok(dirs) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<_> = dirs.filter_map(Result::ok).map(|d| d.path()).collect();
        versions.sort();
        if let Some(newest) = versions.last() {
            let path = newest.join("bin").join(program);
            if path.exists() {
                return path.display().to_string();
            }
        }
    }
    program.to_owned()
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}
