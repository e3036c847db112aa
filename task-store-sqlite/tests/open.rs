//! Opening stores: URLs and paths, schema versions, foreign and corrupt files, busy files.

mod common;

use common::{TempStore, url};
use sqlx::{ConnectOptions, Connection};
use std::error::Error as _;
use std::time::Duration;
use task_core::{NewTask, Retry, Scope, StoreConfig, TaskError, TaskStore, TaskStoreExt};
use task_store_sqlite::{SCHEMA_VERSION, SqliteError, SqliteOptions, SqliteTaskStore};

/// The [`SqliteError`] inside a backend error, with its retryable flag.
fn sqlite_error(error: &TaskError) -> (&SqliteError, bool) {
    match error {
        TaskError::Backend {
            backend: "sqlite",
            retry,
            source,
        } => match source.downcast_ref::<SqliteError>() {
            Some(inner) => (inner, *retry != Retry::Never),
            None => panic!("a backend error without a SqliteError source: {error}"),
        },
        other => panic!("expected a sqlite backend error, got {other:?}"),
    }
}

async fn raw(path: &std::path::Path) -> sqlx::SqliteConnection {
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .connect()
        .await
        .expect("a raw connection")
}

#[tokio::test]
async fn a_url_creates_the_file_and_reopening_keeps_the_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub-dir-free name.db");
    assert!(!path.exists());
    let store = SqliteTaskStore::open(&url(&path), StoreConfig::default())
        .await
        .unwrap();
    assert!(path.exists(), "the file is created");
    assert_eq!(store.location().path(), Some(path.as_path()));
    let task = store
        .create(NewTask::new().owned_by("alice").with_message("kept"))
        .await
        .unwrap();
    store.close().await;

    // A plain path and the `sqlite:` form open the same file; the schema is not re-created.
    for location in [
        path.display().to_string(),
        format!("sqlite:{}", path.display()),
    ] {
        let again = SqliteTaskStore::open(&location, StoreConfig::default())
            .await
            .unwrap();
        let read = again.get(&Scope::owner("alice"), &task.task_id).await;
        assert_eq!(read.unwrap(), task, "{location}");
        again.close().await;
    }
}

#[tokio::test]
async fn bad_locations_are_invalid_input() {
    for bad in [
        "",
        "sqlite://",
        "sqlite://x.db?pool_size=0",
        "sqlite://x.db?nope=1",
    ] {
        let opened = SqliteTaskStore::open(bad, StoreConfig::default()).await;
        assert!(
            matches!(opened, Err(TaskError::InvalidInput(_))),
            "{bad}: {opened:?}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let missing_dir = dir.path().join("no-such-dir").join("t.db");
    let opened = SqliteTaskStore::open(&url(&missing_dir), StoreConfig::default()).await;
    let error = opened.unwrap_err();
    assert!(matches!(error, TaskError::Backend { .. }), "{error}");
}

#[tokio::test]
async fn a_file_from_a_newer_schema_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = SqliteTaskStore::open(&url(&path), StoreConfig::default())
        .await
        .unwrap();
    store.create(NewTask::new()).await.unwrap();
    store.close().await;
    let newer = SCHEMA_VERSION + 1;
    let mut conn = raw(&path).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "PRAGMA user_version = {newer}"
    )))
    .execute(&mut conn)
    .await
    .unwrap();

    let error = SqliteTaskStore::open(&url(&path), StoreConfig::default())
        .await
        .unwrap_err();
    let (inner, retryable) = sqlite_error(&error);
    assert!(!retryable);
    assert!(
        matches!(inner, SqliteError::SchemaTooNew { found, supported }
            if *found == newer && *supported == SCHEMA_VERSION),
        "{inner:?}"
    );
    let text = error.to_string();
    assert!(text.contains("newer"), "a clear message: {text}");
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(version, newer, "the file is untouched");
    conn.close().await.unwrap();
}

#[tokio::test]
async fn another_applications_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("theirs.db");
    let mut conn = raw(&path).await;
    sqlx::raw_sql("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total INTEGER)")
        .execute(&mut conn)
        .await
        .unwrap();
    let error = SqliteTaskStore::open(&url(&path), StoreConfig::default())
        .await
        .unwrap_err();
    let (inner, retryable) = sqlite_error(&error);
    assert!(
        matches!(inner, SqliteError::ForeignDatabase(_)),
        "{inner:?}"
    );
    assert!(!retryable);
    let tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_schema")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(tables, ["invoices"], "no tasks table was added");

    // A database that carries our schema version but another application's id.
    let path = dir.path().join("versioned.db");
    let mut conn = raw(&path).await;
    sqlx::raw_sql("PRAGMA user_version = 1; CREATE TABLE tasks (x)")
        .execute(&mut conn)
        .await
        .unwrap();
    let error = SqliteTaskStore::open(&url(&path), StoreConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(
        sqlite_error(&error).0,
        SqliteError::ForeignDatabase(_)
    ));
}

#[tokio::test]
async fn a_file_that_is_not_a_database_gives_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "these are my notes, not a database\n".repeat(500)).unwrap();
    let error = SqliteTaskStore::open(&url(&path), StoreConfig::default())
        .await
        .unwrap_err();
    let (inner, retryable) = sqlite_error(&error);
    assert!(matches!(inner, SqliteError::Corrupt(_)), "{inner:?}");
    assert!(!retryable);
    assert!(
        error.to_string().contains("not a SQLite database"),
        "{error}"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("these are my notes"),
        "the file is untouched"
    );
}

#[tokio::test]
async fn a_corrupt_store_gives_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = SqliteTaskStore::open(&url(&path), StoreConfig::default())
        .await
        .unwrap();
    for _ in 0..200 {
        store.create(NewTask::new().owned_by("o")).await.unwrap();
    }
    store.close().await; // checkpoints the log into the file
    // Keep page 1 (header and schema), scramble every page after it.
    let mut bytes = std::fs::read(&path).unwrap();
    let page = 4096;
    assert!(bytes.len() > 2 * page, "the tasks span several pages");
    for (i, byte) in bytes.iter_mut().enumerate().skip(page) {
        *byte = (i as u8).wrapping_mul(31) ^ 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();

    let failure = match SqliteTaskStore::open(&url(&path), StoreConfig::default()).await {
        Err(error) => error,
        Ok(store) => store
            .list(&Scope::All, Default::default())
            .await
            .expect_err("reading scrambled pages fails"),
    };
    let (inner, retryable) = sqlite_error(&failure);
    assert!(matches!(inner, SqliteError::Corrupt(_)), "{inner:?}");
    assert!(!retryable);
}

#[tokio::test]
async fn a_busy_file_gives_a_retryable_error_and_changes_nothing() {
    let options = SqliteOptions::default().with_busy_timeout(Duration::from_millis(100));
    let temp = TempStore::new(StoreConfig::default(), options).await;
    let store = &temp.store;
    let task = store.create(NewTask::new()).await.unwrap();

    // Another connection on the same settings takes the write lock and keeps it.
    let mut holder = store.connect_options().connect().await.unwrap();
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .unwrap();
    let attempts = [
        store
            .create(NewTask::new().with_id("blocked"))
            .await
            .map(|_| ()),
        store
            .set_message(&Scope::All, &task.task_id, "x")
            .await
            .map(|_| ()),
        store.cancel(&Scope::All, &task.task_id).await.map(|_| ()),
    ];
    for attempt in attempts {
        let error = attempt.unwrap_err();
        assert_eq!(
            error.retry(),
            Retry::Safe,
            "a busy file ran nothing: {error}"
        );
        let (inner, _) = sqlite_error(&error);
        assert!(matches!(inner, SqliteError::Driver(_)), "{inner:?}");
        let code = inner
            .source()
            .and_then(|e| e.downcast_ref::<sqlx::Error>())
            .and_then(|e| e.as_database_error())
            .and_then(|e| e.code())
            .map(|code| code.into_owned());
        assert_eq!(code.as_deref(), Some("5"), "SQLITE_BUSY");
    }
    // Readers are not blocked by a writer in WAL mode.
    assert_eq!(store.get(&Scope::All, &task.task_id).await.unwrap(), task);
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .unwrap();

    // Nothing was written, and a retry now succeeds.
    assert!(store.get(&Scope::All, "blocked").await.is_err());
    assert_eq!(store.get(&Scope::All, &task.task_id).await.unwrap(), task);
    let cancelled = store.cancel(&Scope::All, &task.task_id).await.unwrap();
    assert!(cancelled.is_terminal());
}
