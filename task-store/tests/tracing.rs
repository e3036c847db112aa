//! Every store `task_store::open` opens traces its calls: with a subscriber capturing
//! everything at TRACE (the stores' spans and whatever the drivers emit), real calls on each
//! compiled-in backend leave spans that name the task, the owner and the outcome, and the
//! captured output holds no payload and no password.

use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use task_store::{NewTask, Scope, TaskStore, TaskStoreExt};
use tracing_subscriber::fmt::MakeWriter;

/// Distinctive enough that finding either anywhere in the output means it leaked.
const PAYLOAD: &str = "payload-marker-2f8a6";
const PASSWORD: &str = "Pw-7b3c9-tracing-canary";

/// Everything the subscriber writes, shared with the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut buffer = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Real calls carrying the payload marker everywhere a payload can go: the status message,
/// the original request, the result and a failure's message. Returns the ids of the task
/// that completed and the one that failed.
async fn exercise(store: &dyn TaskStore) -> (String, String) {
    let alice = Scope::owner("alice");
    let params = json!({"name": "t", "arguments": {"x": PAYLOAD}});
    let task = store
        .create(
            NewTask::new()
                .owned_by("alice")
                .with_message(PAYLOAD)
                .with_request("tools/call", params),
        )
        .await
        .expect("create");
    let id = task.task_id.as_str();
    store.get(&alice, id).await.expect("get");
    store.get_record(&alice, id).await.expect("get_record");
    store
        .set_message(&alice, id, PAYLOAD)
        .await
        .expect("update");
    let result = json!({"content": [{"type": "text", "text": PAYLOAD}]});
    let result = result.as_object().cloned().expect("an object");
    store.complete(&alice, id, result).await.expect("complete");
    store.get_result(&alice, id).await.expect("get_result");
    store.cancel(&alice, id).await.expect_err("a finished task");
    store
        .get(&Scope::owner("bob"), id)
        .await
        .expect_err("bob's view");
    store.list(&alice, Default::default()).await.expect("list");
    let failing = store
        .create(NewTask::new().owned_by("alice"))
        .await
        .expect("create");
    store
        .fail(&alice, &failing.task_id, PAYLOAD)
        .await
        .expect("fail");
    (task.task_id, failing.task_id)
}

/// The `done` lines of the `store` spans of `call` on `task_id`.
fn spans<'a>(log: &'a str, call: &str, task_id: &str) -> Vec<&'a str> {
    log.lines()
        .filter(|line| {
            line.contains(&format!("store{{call=\"{call}\""))
                && line.contains("task_store: done")
                && line.contains(&format!("task_id=\"{task_id}\""))
        })
        .collect()
}

fn assert_traced(backend: &str, log: &str, completed: &str, failed: &str) {
    let has = |call: &str, task_id: &str, fields: &[&str]| {
        let found = spans(log, call, task_id);
        assert!(
            found
                .iter()
                .any(|line| fields.iter().all(|field| line.contains(field))),
            "{backend}: no {call} span on {task_id} with {fields:?}: {log}"
        );
    };
    let (ok, alice) = ("outcome=\"ok\"", "owner=\"alice\"");
    has("create", completed, &[ok, alice]);
    has("get", completed, &[ok, alice]);
    has("get_record", completed, &[ok]);
    has("update", completed, &[ok, alice]);
    has("get_result", completed, &[ok]);
    has("update", completed, &["outcome=\"invalid_transition\""]);
    has(
        "get",
        completed,
        &["owner=\"bob\"", "outcome=\"not_found\""],
    );
    has("update", failed, &[ok]);
    assert!(
        log.contains("store{call=\"list\" owner=\"alice\""),
        "{backend}: no list span: {log}"
    );
    assert!(!log.contains(PAYLOAD), "{backend}: a payload leaked: {log}");
    assert!(
        !log.contains(PASSWORD),
        "{backend}: the password leaked: {log}"
    );
}

/// One test, since the subscriber is the process's (the stores' background tasks run on
/// other threads), and one backend after another in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_spans_carry_task_owner_and_outcome_but_no_payload_or_secret() {
    let captured = Captured::default();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .init();

    #[cfg(feature = "memory")]
    {
        let store = task_store::open("memory://").await.expect("memory");
        let (completed, failed) = exercise(store.as_ref()).await;
        assert_traced("memory", &captured.text(), &completed, &failed);
    }
    #[cfg(feature = "sqlite")]
    {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("tasks.db").display());
        let store = task_store::open(&url).await.expect("sqlite");
        let (completed, failed) = exercise(store.as_ref()).await;
        assert_traced("sqlite", &captured.text(), &completed, &failed);
    }
    #[cfg(feature = "redis")]
    {
        let redis = conformance_tests::fixtures::PasswordRedis::start(PASSWORD);
        let prefix = format!("tracing-{}", task_store::generate_task_id());
        let url = format!("{}?prefix={prefix}", redis.url());
        let store = task_store::open(&url).await.expect("redis");
        let (completed, failed) = exercise(store.as_ref()).await;
        assert_traced("redis", &captured.text(), &completed, &failed);
    }
    #[cfg(feature = "postgres")]
    {
        use task_store::postgres::sqlx::{self, Connection};
        // Trust authentication ignores the password, so the URL can carry one to check.
        let server = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let (scheme, rest) = server.split_once("://").expect("a URL");
        let (user, host) = rest.split_once('@').expect("a user in the URL");
        let user = user.split(':').next().unwrap_or(user);
        let with_password = format!("{scheme}://{user}:{PASSWORD}@{host}");
        let schema = format!("tracing_{}", std::process::id());
        let url = format!("{with_password}?schema={schema}");
        let store = task_store::open(&url).await.expect("postgres");
        let (completed, failed) = exercise(store.as_ref()).await;
        assert_traced("postgres", &captured.text(), &completed, &failed);
        drop(store);
        let mut admin = sqlx::PgConnection::connect(&server)
            .await
            .expect("postgres");
        let drop_schema = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
        sqlx::raw_sql(sqlx::AssertSqlSafe(drop_schema))
            .execute(&mut admin)
            .await
            .expect("drop the test's schema");
    }
}
