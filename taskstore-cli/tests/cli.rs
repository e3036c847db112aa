//! Every subcommand through the real `taskstore` binary, against a SQLite file and a Redis
//! server (`REDIS_URL`, default `redis://127.0.0.1:6379`; the Redis cases fail, never skip, when
//! it does not answer).

use serde_json::Value;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;
use task_store::{NewTask, Scope, TaskStore, TaskStoreExt};

const BIN: &str = env!("CARGO_BIN_EXE_taskstore");

fn taskstore(store: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .expect("the taskstore binary runs")
}

fn ok_json(store: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = taskstore(store, &all);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?} printed no JSON: {e}"))
}

fn ok_text(store: &str, args: &[&str]) -> String {
    let out = taskstore(store, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A failure: its exit code and its one-line message, with no panic or backtrace.
fn failure(store: &str, args: &[&str]) -> (i32, String) {
    let out = taskstore(store, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
    (out.status.code().unwrap_or(-1), stderr)
}

/// Runs every subcommand against the store at `url`.
async fn every_subcommand(url: &str) {
    // demo: 70% complete, 20% fail, 10% cancelled by their client.
    let demo = ok_json(url, &["demo", "--tasks", "40", "--concurrency", "4"]);
    let by_status = &demo["by_status"];
    assert_eq!(by_status["completed"], 28, "{demo}");
    assert_eq!(by_status["failed"], 8, "{demo}");
    assert_eq!(by_status["cancelled"], 4, "{demo}");
    let owner = demo["owner"].as_str().expect("the demo's owner").to_owned();
    assert!(ok_text(url, &["demo", "--tasks", "20"]).contains("FINAL STATUS"));

    let stats = ok_json(url, &["stats", "--owner", &owner]);
    assert_eq!(stats["total"], 40, "{stats}");
    assert_eq!(stats["by_status"]["failed"], 8, "{stats}");
    assert!(ok_text(url, &["stats"]).contains("completed"));

    let listed = ok_json(url, &["list", "--owner", &owner]);
    assert_eq!(listed.as_array().map(Vec::len), Some(40));
    let failed = ok_json(url, &["list", "--owner", &owner, "--status", "failed"]);
    let failed = failed.as_array().expect("a JSON array");
    assert_eq!(failed.len(), 8);
    let table = ok_text(url, &["list", "--status", "cancelled"]);
    assert!(
        table.starts_with("ID") && table.contains("cancelled"),
        "{table}"
    );

    let failed_id = failed[0]["taskId"].as_str().expect("an id");
    let got = ok_json(url, &["get", failed_id]);
    assert_eq!(got["status"], "failed");
    assert!(ok_text(url, &["get", failed_id]).contains("status: failed"));
    let result = ok_json(url, &["result", failed_id]);
    assert!(
        result["outcome"]["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("simulated failure")),
        "{result}"
    );
    let completed = ok_json(url, &["list", "--owner", &owner, "--status", "completed"]);
    let completed_id = completed[0]["taskId"].as_str().expect("an id");
    let text = ok_text(url, &["result", completed_id]);
    assert!(text.contains("result of task"), "{text}");

    // cancel and watch need a running task, made through the library on the same store.
    let store: Arc<dyn TaskStore> = task_store::open(url).await.expect("the store opens");
    let running = store.create(NewTask::new()).await.expect("create").task_id;
    assert_eq!(
        failure(url, &["result", &running]).0,
        2,
        "no result while working"
    );
    assert_eq!(ok_json(url, &["cancel", &running])["status"], "cancelled");
    let (code, message) = failure(url, &["cancel", &running]);
    assert_eq!(code, 2, "{message}");

    let watched = store.create(NewTask::new()).await.expect("create").task_id;
    let watcher = Command::new(BIN)
        .args(["--store", url, "watch", &watched])
        .stdout(Stdio::piped())
        .spawn()
        .expect("watch starts");
    tokio::time::sleep(Duration::from_millis(300)).await;
    store
        .set_message(&Scope::All, &watched, "half way")
        .await
        .expect("progress");
    tokio::time::sleep(Duration::from_millis(100)).await;
    store
        .complete(&Scope::All, &watched, Default::default())
        .await
        .expect("complete");
    let watched_out = tokio::task::spawn_blocking(move || watcher.wait_with_output())
        .await
        .expect("join")
        .expect("watch ends");
    assert!(watched_out.status.success());
    let lines = String::from_utf8_lossy(&watched_out.stdout).into_owned();
    assert!(
        lines
            .lines()
            .last()
            .is_some_and(|l| l.contains("completed")),
        "{lines}"
    );

    for _ in 0..3 {
        store
            .create(NewTask::new().with_ttl(100))
            .await
            .expect("create");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let purged = ok_json(url, &["purge"]);
    assert!(
        purged["purged"].as_u64().is_some_and(|n| n <= 3),
        "{purged}"
    );
    assert!(ok_text(url, &["purge"]).starts_with("purged"));

    // recover: a task whose worker went quiet is failed, with the message given.
    let stuck = store.create(NewTask::new()).await.expect("create").task_id;
    store
        .set_message(&Scope::All, &stuck, "step 1")
        .await
        .expect("progress");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let args = ["recover", "--older-than", "1", "--message", "worker lost"];
    assert_eq!(ok_json(url, &args)["recovered"], 1);
    let failed = ok_json(url, &["get", &stuck]);
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["statusMessage"], "worker lost");
    assert!(ok_text(url, &["recover", "--older-than", "1"]).contains("marked 0 stuck"));
    let (code, _) = failure(url, &["recover", "--older-than", "1", "--owner", &owner]);
    assert_eq!(code, 2, "recover is for every owner");

    let (code, message) = failure(url, &["get", "no-such-task"]);
    assert_eq!(code, 3, "{message}");
    assert!(message.contains("not found"), "{message}");
    let (code, _) = failure(url, &["get", "no-such-task", "--owner", &owner]);
    assert_eq!(code, 3);
    // A usage error is clap's: exit code 2 and a first line that names the problem.
    let out = taskstore(url, &["list", "--status", "finished"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: invalid value 'finished'"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_subcommand_on_sqlite() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = format!("sqlite://{}", dir.path().join("tasks.db").display());
    every_subcommand(&url).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_subcommand_on_redis() {
    let server = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("cli-test-{}", task_store::generate_task_id());
    let url = format!("{server}/0?prefix={prefix}");
    let store = match task_store::RedisTaskStore::open(&url, Default::default()).await {
        Ok(store) => store,
        Err(e) => panic!("the Redis at {server} does not answer ({e}): run ./scripts/test-all.sh"),
    };
    every_subcommand(&url).await;
    let client = task_store::redis::redis::Client::open(server.as_str()).expect("a Redis URL");
    let mut connection = client.get_connection().expect("a connection");
    let keys: Vec<String> = task_store::redis::redis::cmd("KEYS")
        .arg(store.key_pattern())
        .query(&mut connection)
        .expect("KEYS");
    if !keys.is_empty() {
        let _: i64 = task_store::redis::redis::cmd("DEL")
            .arg(&keys)
            .query(&mut connection)
            .expect("DEL");
    }
}

/// The PostgreSQL the tests use: `DATABASE_URL`, or the local server with trust
/// authentication.
fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Drops a test's schema.
async fn drop_schema(schema: &str) {
    use task_store::postgres::sqlx::{self, Connection};
    let mut conn = sqlx::PgConnection::connect(&database_url())
        .await
        .expect("a connection");
    let statement = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
        .execute(&mut conn)
        .await
        .expect("DROP SCHEMA");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_subcommand_on_postgres() {
    let schema = format!("cli_test_{}", uuid_like());
    let url = format!("{}?schema={schema}", database_url());
    every_subcommand(&url).await;
    drop_schema(&schema).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_on_a_postgres_schema_without_a_store_say_so_and_create_nothing() {
    let schema = format!("cli_test_{}", uuid_like());
    let url = format!("{}?schema={schema}", database_url());
    for args in [&["stats"][..], &["get", "some-task"], &["purge"]] {
        let (code, message) = failure(&url, args);
        assert_eq!(code, 3, "{args:?}: {message}");
        assert!(message.contains("no store at"), "{args:?}: {message}");
    }
    assert!(
        !task_store::PostgresTaskStore::exists(&url).await.unwrap(),
        "nothing was created"
    );
}

/// A fresh name part: lower-case hex, fit for a schema name.
fn uuid_like() -> String {
    task_store::generate_task_id().replace('-', "")
}

#[test]
fn an_unreachable_store_is_a_backend_error() {
    let (code, message) = failure("redis://127.0.0.1:1", &["stats"]);
    assert_eq!(code, 4, "{message}");
}

#[test]
fn an_unknown_scheme_is_invalid_input() {
    let (code, message) = failure("mysql://localhost/x", &["stats"]);
    assert_eq!(code, 2, "{message}");
}

#[test]
fn commands_on_a_missing_sqlite_file_say_so_and_create_nothing() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("absent.db");
    let url = format!("sqlite://{}", path.display());
    let commands: [&[&str]; 8] = [
        &["stats"],
        &["list", "--status", "working"],
        &["get", "some-task"],
        &["result", "some-task"],
        &["watch", "some-task"],
        &["cancel", "some-task"],
        &["purge"],
        &["recover", "--older-than", "60"],
    ];
    for args in commands {
        let (code, message) = failure(&url, args);
        assert_eq!(code, 3, "{args:?}: {message}");
        assert!(
            message.contains("no store at") && message.contains("absent.db"),
            "{args:?}: {message}"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").collect();
        assert!(left.is_empty(), "{args:?} created {left:?}");
    }
    // The default store, `taskstore.db` in the current directory, is not made by a look.
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .env_remove("TASKSTORE_URL")
        .arg("stats")
        .output()
        .expect("the taskstore binary runs");
    assert_eq!(out.status.code(), Some(3));
    assert!(!dir.path().join("taskstore.db").exists());
    // The demo makes the store; then the commands work.
    ok_json(&url, &["demo", "--tasks", "10"]);
    assert!(path.exists());
    assert_eq!(ok_json(&url, &["stats"])["total"], 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn purge_for_one_owner_is_refused_and_purges_nothing() {
    let dir = tempfile::tempdir().expect("a temp dir");
    // No background sweeper: only `purge` deletes expired tasks here.
    let url = format!(
        "sqlite://{}?sweep_interval_ms=0",
        dir.path().join("tasks.db").display()
    );
    let store = task_store::open(&url).await.expect("the store opens");
    for owner in ["alice", "bob"] {
        store
            .create(NewTask::new().owned_by(owner).with_ttl(1))
            .await
            .expect("create");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (code, message) = failure(&url, &["purge", "--owner", "alice"]);
    assert_eq!(code, 2, "{message}");
    assert!(message.contains("--owner"), "{message}");
    assert_eq!(
        ok_json(&url, &["purge"])["purged"],
        2,
        "nothing was purged before"
    );
}

#[test]
fn help_lists_the_status_values() {
    let out = taskstore("memory://", &["list", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("[possible values: working, input_required, completed, failed, cancelled]"),
        "{help}"
    );
}
