//! What the server tests share: the stores they run against, and a small JSON-RPC client that
//! drives the real binary over its stdin and stdout.
#![allow(dead_code)] // each test file uses its own part

use serde_json::{Value, json};
use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;

/// Hang guard for anything a test waits for; never a timing assertion.
pub const GUARD: Duration = Duration::from_secs(60);

/// The server binary under test.
pub const SERVER: &str = env!("CARGO_BIN_EXE_mcp-task-server");

/// A store the server runs against.
pub struct TestStore {
    /// Its `--store` URL.
    pub url: String,
    /// Whether several processes can share it.
    pub shared: bool,
    _dir: Option<tempfile::TempDir>,
    /// For Redis: the server and the key prefix, whose keys go with the `TestStore`.
    redis_keys: Option<(String, String)>,
    /// For PostgreSQL: the server and the schema, which goes with the `TestStore`.
    pg_schema: Option<(String, String)>,
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Some((server, schema)) = self.pg_schema.take() {
            drop_pg_schema(server, schema);
        }
        use task_store::redis::redis;
        let Some((server, prefix)) = &self.redis_keys else {
            return;
        };
        // Best effort: every key of the store starts with its `{prefix}` hash tag.
        let Ok(mut connection) = redis::Client::open(server.as_str())
            .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(2)))
        else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{{{prefix}}}:*"))
            .query(&mut connection)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(keys).query(&mut connection);
        }
    }
}

impl TestStore {
    /// The URL with store settings added to its query.
    pub fn url_with(&self, settings: &str) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{separator}{settings}", self.url)
    }
}

/// The in-process memory store: one per server process.
pub fn memory() -> TestStore {
    TestStore {
        url: "memory://".into(),
        shared: false,
        _dir: None,
        redis_keys: None,
        pg_schema: None,
    }
}

/// A SQLite file in a fresh temporary directory, removed with the `TestStore`.
pub fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().expect("a temporary directory");
    TestStore {
        url: format!("sqlite://{}", dir.path().join("tasks.db").display()),
        shared: true,
        _dir: Some(dir),
        redis_keys: None,
        pg_schema: None,
    }
}

/// A Redis at `$REDIS_URL` (which `scripts/test-all.sh` provides), under a fresh key prefix.
pub fn redis() -> TestStore {
    let server = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let separator = if server.contains('?') { '&' } else { '?' };
    let prefix = format!("mcp-task-server-test-{}", uuid::Uuid::new_v4());
    TestStore {
        url: format!("{server}{separator}prefix={prefix}"),
        shared: true,
        _dir: None,
        redis_keys: Some((server, prefix)),
        pg_schema: None,
    }
}

/// A PostgreSQL at `$DATABASE_URL` (default the local server with trust authentication), in
/// a fresh schema that is dropped with the `TestStore`.
pub fn postgres() -> TestStore {
    let server = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let separator = if server.contains('?') { '&' } else { '?' };
    let schema = format!("server_test_{}", uuid::Uuid::new_v4().simple());
    TestStore {
        url: format!("{server}{separator}schema={schema}"),
        shared: true,
        _dir: None,
        redis_keys: None,
        pg_schema: Some((server, schema)),
    }
}

/// Drops a test's schema, on a thread of its own so that it may run inside a runtime.
fn drop_pg_schema(server: String, schema: String) {
    use task_store::postgres::sqlx::{self, Connection};
    let _ = std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            let Ok(mut conn) = sqlx::PgConnection::connect(&server).await else {
                return;
            };
            let statement = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(&mut conn)
                .await;
        });
    })
    .join();
}

/// A unique owner name for a test.
pub fn unique_owner(label: &str) -> String {
    format!("{label}-{}", uuid::Uuid::new_v4())
}

/// The server's tasks/* and tools/* answers, as `Ok(result)` or `Err(error object)`.
pub type Answer = Result<Value, Value>;

/// A running server process and the messages it sent that nobody has looked at yet.
pub struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    unread: VecDeque<Value>,
    next_id: i64,
    /// Every line the server wrote to stdout and stderr so far.
    transcript: Arc<Mutex<String>>,
    /// Every line the server wrote to stderr so far.
    log: Arc<Mutex<String>>,
    stderr_relay: JoinHandle<()>,
}

impl Server {
    /// Starts a server and initializes the session.
    pub async fn start(store: &str, owner: Option<&str>) -> Server {
        let mut server = Server::spawn(store, owner);
        let init = server
            .request(
                "initialize",
                json!({
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "rust-test", "version": "0"}
                }),
            )
            .await
            .expect("initialize succeeds");
        assert_eq!(init["protocolVersion"], "2025-11-25");
        server
            .send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        server
    }

    /// Starts a server without initializing it.
    pub fn spawn(store: &str, owner: Option<&str>) -> Server {
        Server::spawn_with_env(store, owner, &[])
    }

    /// Starts a server with extra environment variables, without initializing it.
    pub fn spawn_with_env(store: &str, owner: Option<&str>, env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(SERVER);
        command.arg("--store").arg(store);
        if let Some(owner) = owner {
            command.arg("--owner").arg(owner);
        }
        command.envs(env.iter().copied());
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the server binary starts");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        // Relay the server's log through the test's output, which the harness captures.
        let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
        let transcript = Arc::new(Mutex::new(String::new()));
        let log = Arc::new(Mutex::new(String::new()));
        let stderr_relay = tokio::spawn({
            let (transcript, log) = (transcript.clone(), log.clone());
            async move {
                while let Ok(Some(line)) = stderr.next_line().await {
                    eprintln!("[server] {line}");
                    record(&transcript, &line);
                    record(&log, &line);
                }
            }
        });
        Server {
            child,
            stdin,
            stdout,
            unread: VecDeque::new(),
            next_id: 1,
            transcript,
            log,
            stderr_relay,
        }
    }

    /// Writes one raw line.
    pub async fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(line.as_bytes()).await.unwrap();
        stdin.write_all(b"\n").await.unwrap();
        stdin.flush().await.unwrap();
    }

    /// Writes one message.
    pub async fn send(&mut self, message: Value) {
        self.send_line(&message.to_string()).await;
    }

    /// Sends a request without waiting for its answer; returns its id.
    pub async fn send_request(&mut self, method: &str, params: Value) -> Value {
        let id = json!(self.next_id);
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        id
    }

    /// Sends a request and waits for its answer.
    pub async fn request(&mut self, method: &str, params: Value) -> Answer {
        let id = self.send_request(method, params).await;
        self.answer(&id).await
    }

    /// Waits for the answer to request `id`.
    pub async fn answer(&mut self, id: &Value) -> Answer {
        let mut response = self.response(id).await;
        match response.get_mut("error") {
            Some(error) => Err(error.take()),
            None => Ok(response["result"].take()),
        }
    }

    /// Waits for the whole response message to request `id` (`null` for parse errors).
    pub async fn response(&mut self, id: &Value) -> Value {
        self.wait_for(|m| m.get("method").is_none() && &m["id"] == id)
            .await
    }

    /// Waits for the status notification of `task_id` with `status`.
    pub async fn status_notification(&mut self, task_id: &str, status: &str) -> Value {
        self.wait_for(|m| {
            m["method"] == "notifications/tasks/status"
                && m["params"]["taskId"] == task_id
                && m["params"]["status"] == status
        })
        .await
    }

    /// Whether a message matching `pred` arrived and is still unread (no waiting).
    pub fn has_unread(&self, pred: impl Fn(&Value) -> bool) -> bool {
        self.unread.iter().any(pred)
    }

    /// Waits for the first message matching `pred`; others stay unread, in order.
    pub async fn wait_for(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(at) = self.unread.iter().position(&pred) {
            return self.unread.remove(at).expect("position is valid");
        }
        loop {
            let line = tokio::time::timeout(GUARD, self.stdout.next_line())
                .await
                .expect("hang guard: the awaited message never came")
                .expect("stdout is readable")
                .expect("the server is still running");
            record(&self.transcript, &line);
            let message: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout carries only JSON-RPC, got {line:?}: {e}"));
            assert_eq!(message["jsonrpc"], "2.0", "{message}");
            if pred(&message) {
                return message;
            }
            self.unread.push_back(message);
        }
    }

    /// Starts a task-augmented tool call and returns the created task.
    pub async fn start_task(&mut self, tool: &str, arguments: Value) -> Value {
        let created = self
            .request(
                "tools/call",
                json!({"name": tool, "arguments": arguments, "task": {"ttl": 60_000}}),
            )
            .await
            .expect("the task is created");
        created["task"].clone()
    }

    /// Closes stdin and waits for the process to exit.
    pub async fn close(self) -> ExitStatus {
        self.close_with_transcript().await.0
    }

    /// Closes stdin, waits for the process to exit and returns everything it wrote to
    /// stdout and stderr.
    pub async fn close_with_transcript(mut self) -> (ExitStatus, String) {
        drop(self.stdin.take());
        let status = tokio::time::timeout(GUARD, self.child.wait())
            .await
            .expect("hang guard: the server exits when its input ends")
            .expect("the exit status is readable");
        while let Ok(Ok(Some(line))) = tokio::time::timeout(GUARD, self.stdout.next_line()).await {
            record(&self.transcript, &line);
        }
        tokio::time::timeout(GUARD, &mut self.stderr_relay)
            .await
            .expect("hang guard: stderr ends with the process")
            .expect("the stderr relay");
        let transcript = self
            .transcript
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        (status, transcript)
    }

    /// Closes stdin, waits for the process to exit and returns everything it wrote to stderr.
    pub async fn close_with_log(self) -> (ExitStatus, String) {
        let log = self.log.clone();
        let (status, _) = self.close_with_transcript().await;
        let log = log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        (status, log)
    }
}

fn record(transcript: &Mutex<String>, line: &str) {
    let mut transcript = transcript
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    transcript.push_str(line);
    transcript.push('\n');
}

// Not every test binary that shares this module starts one.
#[allow(unused_imports)]
pub use conformance_tests::fixtures::PasswordRedis;

/// Runs each listed case against each listed store, as `<store>::<case>`, so every backend's
/// results show by name. Adding a backend is adding its name to a list.
#[macro_export]
macro_rules! store_tests {
    (stores: [$($store:ident),* $(,)?], cases: $cases:tt) => {
        $( store_tests!(@store $store $cases); )*
    };
    (@store $store:ident [$($case:ident),* $(,)?]) => {
        mod $store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(&$crate::common::$store()).await;
                }
            )*
        }
    };
}
