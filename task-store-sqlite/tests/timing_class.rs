//! Another owner's task costs exactly what a missing one costs: for every scoped call, the
//! statements SQLite runs (as sqlx logs them) are the same for a foreign id as for a missing
//! one, they return the same number of rows, and the answer is the same. No extra statement
//! tells an owner that a foreign id exists.

mod common;

use common::{TempStore, fast};
use serde_json::Map;
use std::sync::Mutex;
use std::time::Duration;
use task_core::{NewTask, PageRequest, Scope, StoreConfig, TaskStatus, TaskStore, TaskStoreExt};

/// Every statement sqlx ran, as it logs them under the target `sqlx::query`.
static STATEMENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == "sqlx::query"
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let text = record.args().to_string();
            STATEMENTS.lock().unwrap().push(text);
        }
    }

    fn flush(&self) {}
}

static CAPTURE: Capture = Capture;

/// The statements a call ran: their SQL and row counts, without the timings.
async fn statements<F, Fut>(call: F) -> (Vec<String>, String)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = String>,
{
    STATEMENTS.lock().unwrap().clear();
    let answer = call().await;
    let ran = STATEMENTS
        .lock()
        .unwrap()
        .drain(..)
        .map(|line| match line.split_once(" elapsed=") {
            Some((statement, _)) => statement.to_owned(),
            None => line,
        })
        .collect();
    (ran, answer)
}

fn answer<T: std::fmt::Debug>(result: Result<T, task_core::TaskError>, id: &str) -> String {
    format!("{result:?}").replace(id, "<id>")
}

async fn one_call(store: &dyn TaskStore, scope: &Scope, id: &str, name: &str) -> String {
    match name {
        "get" => answer(store.get(scope, id).await, id),
        "get_record" => answer(store.get_record(scope, id).await, id),
        "get_result" => answer(store.get_result(scope, id).await, id),
        "set_message" => answer(store.set_message(scope, id, "x").await, id),
        "cancel" => answer(store.cancel(scope, id).await, id),
        "complete" => answer(store.complete(scope, id, Map::new()).await, id),
        "delete" => answer(store.delete(scope, id).await, id),
        other => panic!("no call named {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_id_runs_the_same_statements_as_a_missing_one() {
    log::set_logger(&CAPTURE).expect("the only logger of this test binary");
    log::set_max_level(log::LevelFilter::Debug);
    // No background statements during the test (the poller and sweeper sleep for an hour),
    // and one reader connection, opened before measuring, so none opens mid-call.
    let options = fast()
        .with_watch_interval(Duration::from_secs(3_600))
        .with_sweep_interval(None)
        .with_pool_size(1);
    let store = TempStore::new(StoreConfig::default(), options.clone()).await;
    let mut alices = Vec::new();
    for _ in 0..20 {
        let task = store
            .create(NewTask::new().owned_by("alice"))
            .await
            .unwrap();
        alices.push(task.task_id);
    }
    let bob = Scope::owner("bob");
    let missing = "00000000-0000-4000-8000-000000000000";
    let names = [
        "get",
        "get_record",
        "get_result",
        "set_message",
        "cancel",
        "complete",
        "delete",
    ];
    for name in names {
        one_call(&store, &bob, "warm-up", name).await;
    }
    for (n, name) in names.into_iter().enumerate() {
        let foreign = &alices[n];
        let (foreign_ran, foreign_answer) =
            statements(|| one_call(&store, &bob, foreign, name)).await;
        let (missing_ran, missing_answer) =
            statements(|| one_call(&store, &bob, missing, name)).await;
        let summaries: Vec<&str> = foreign_ran
            .iter()
            .map(|s| s.split(" db.statement").next().unwrap_or(s))
            .collect();
        eprintln!("{name}: {summaries:?}");
        assert!(!foreign_ran.is_empty(), "{name} ran a statement");
        assert_eq!(
            foreign_ran, missing_ran,
            "{name}: statements for a foreign id"
        );
        assert_eq!(foreign_answer, missing_answer, "{name}: the answer");
    }
    let (bob_ran, bob_page) =
        statements(|| async { format!("{:?}", store.list(&bob, PageRequest::first()).await) })
            .await;
    let carol = Scope::owner("carol");
    let (carol_ran, carol_page) =
        statements(|| async { format!("{:?}", store.list(&carol, PageRequest::first()).await) })
            .await;
    assert!(!bob_ran.is_empty(), "list ran a statement");
    assert_eq!(bob_ran, carol_ran, "list: statements");
    assert_eq!(bob_page, carol_page, "list: the page");
    // Alice's tasks cost bob's listing nothing: it runs as on a store that has none.
    let empty = TempStore::new(StoreConfig::default(), options).await;
    empty.list(&bob, PageRequest::first()).await.unwrap();
    let (empty_ran, empty_page) =
        statements(|| async { format!("{:?}", empty.list(&bob, PageRequest::first()).await) })
            .await;
    assert_eq!(
        bob_ran, empty_ran,
        "list: statements against an empty store"
    );
    assert_eq!(bob_page, empty_page, "list: the page of an empty store");
    for id in &alices {
        let task = store.get(&Scope::owner("alice"), id).await.unwrap();
        assert_eq!(task.status, TaskStatus::Working, "{id}");
    }
}
