//! Opening a schema: a fresh one is created and migrated, one of an older version is upgraded
//! with its tasks kept, a schema of a newer release or of another application is refused and
//! left alone, and many stores may open one schema at once.

mod support;

use serde_json::{Map, json};
use support::{Scratch, database_url, drop_schema, fresh_schema, raw};
use task_core::{
    NewTask, Scope, StoreConfig, TaskError, TaskOutcome, TaskStatus, TaskStore, TaskStoreExt,
};
use task_store_postgres::{PostgresError, PostgresOptions, PostgresTaskStore, SCHEMA_VERSION};

async fn open(schema: &str) -> Result<PostgresTaskStore, TaskError> {
    let options = PostgresOptions::default().with_schema(schema);
    PostgresTaskStore::open_with(&database_url(), StoreConfig::default(), options).await
}

fn postgres_error(error: &TaskError) -> &PostgresError {
    std::error::Error::source(error)
        .and_then(|s| s.downcast_ref::<PostgresError>())
        .unwrap_or_else(|| panic!("not a PostgresError: {error:?}"))
}

async fn execute(statement: String) {
    let mut conn = raw(&database_url()).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
        .execute(&mut conn)
        .await
        .unwrap();
}

/// Drops the schema when the test ends, however it ends.
struct DropSchema(String);

impl Drop for DropSchema {
    fn drop(&mut self) {
        drop_schema(&database_url(), &self.0);
    }
}

#[tokio::test]
async fn a_fresh_schema_is_created_at_the_current_version_and_reopens() {
    let scratch = Scratch::open(StoreConfig::default()).await;
    let schema = scratch.0.schema().to_owned();
    let task = scratch.create(NewTask::new()).await.unwrap();
    assert_eq!(schema_version(&schema).await, SCHEMA_VERSION);
    let again = open(&schema).await.unwrap();
    assert_eq!(again.get(&Scope::All, &task.task_id).await.unwrap(), task);
}

#[tokio::test]
async fn exists_says_whether_a_store_is_there_and_creates_nothing() {
    let schema = fresh_schema();
    let _cleanup = DropSchema(schema.clone());
    let url = format!("{}?schema={schema}", database_url());
    assert!(!PostgresTaskStore::exists(&url).await.unwrap());
    let mut conn = raw(&database_url()).await;
    let schemas: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_namespace WHERE nspname = $1")
        .bind(&schema)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(schemas, 0, "nothing was created");
    open(&schema).await.unwrap();
    assert!(PostgresTaskStore::exists(&url).await.unwrap());
}

#[tokio::test]
async fn a_newer_schema_is_refused_and_left_alone() {
    let scratch = Scratch::open(StoreConfig::default()).await;
    let schema = scratch.0.schema().to_owned();
    let newer = SCHEMA_VERSION + 1;
    execute(format!(
        "UPDATE {schema}.task_store_schema SET version = {newer}"
    ))
    .await;
    let error = open(&schema).await.unwrap_err();
    assert!(
        matches!(
            postgres_error(&error),
            PostgresError::SchemaTooNew { found, supported }
                if *found == newer && *supported == SCHEMA_VERSION
        ),
        "{error}"
    );
    assert!(!error.is_retryable());
    let mut conn = raw(&database_url()).await;
    let version: i32 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT version FROM {schema}.task_store_schema"
    )))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(i64::from(version), newer, "left as it was");
}

#[tokio::test]
async fn a_schema_of_another_application_is_refused() {
    let schema = fresh_schema();
    let _cleanup = DropSchema(schema.clone());
    execute(format!(
        "CREATE SCHEMA {schema}; CREATE TABLE {schema}.users (id int)"
    ))
    .await;
    let error = open(&schema).await.unwrap_err();
    assert!(
        matches!(postgres_error(&error), PostgresError::ForeignSchema(_)),
        "{error}"
    );
    let mut conn = raw(&database_url()).await;
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = $1")
        .bind(&schema)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(tables, 1, "nothing was added");

    let marked = fresh_schema();
    let _cleanup_marked = DropSchema(marked.clone());
    execute(format!(
        "CREATE SCHEMA {marked}; \
         CREATE TABLE {marked}.task_store_schema (application text, version integer); \
         INSERT INTO {marked}.task_store_schema VALUES ('another-app', 1)"
    ))
    .await;
    let error = open(&marked).await.unwrap_err();
    assert!(
        matches!(postgres_error(&error), PostgresError::ForeignSchema(_)),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_opening_one_new_schema_at_once_all_succeed() {
    let schema = fresh_schema();
    let _cleanup = DropSchema(schema.clone());
    let opening: Vec<_> = (0..8)
        .map(|_| {
            let schema = schema.clone();
            tokio::spawn(async move { open(&schema).await.map(|_| ()) })
        })
        .collect();
    for open in opening {
        open.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn stores_in_different_schemas_do_not_see_each_other() {
    let a = Scratch::open(StoreConfig::default()).await;
    let b = Scratch::open(StoreConfig::default()).await;
    let task = a.create(NewTask::new().with_id("shared-id")).await.unwrap();
    assert!(matches!(
        b.get(&Scope::All, &task.task_id).await,
        Err(TaskError::NotFound { .. })
    ));
    b.create(NewTask::new().with_id("shared-id")).await.unwrap();
    assert_eq!(
        a.list(&Scope::All, Default::default())
            .await
            .unwrap()
            .tasks
            .len(),
        1
    );
}

async fn schema_version(schema: &str) -> i64 {
    let mut conn = raw(&database_url()).await;
    let version: i32 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT version FROM {schema}.task_store_schema"
    )))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    i64::from(version)
}

/// A schema as version 1 left it (migration 0001 alone), holding a working task, a completed
/// one and one waiting for an input answer, is upgraded when the current store opens it; the
/// tasks read as they were written and take every change.
#[tokio::test]
async fn a_version_1_schema_is_upgraded_and_its_tasks_stay_readable_and_changeable() {
    let schema = fresh_schema();
    let _cleanup = DropSchema(schema.clone());
    let version_1 = include_str!("../src/schema/0001_tasks.sql");
    let now = task_core::backend::time::now().timestamp_millis();
    let result = Map::from_iter([("answer".to_owned(), json!(42))]);
    let outcome = serde_json::to_string(&TaskOutcome::Result(result.clone())).unwrap();
    let ask = json!({"method": "elicitation/create", "params": {"message": "Sure?"}});
    let pending = json!({ "confirm": ask }).to_string();
    execute(format!(
        "CREATE SCHEMA {schema}; SET search_path TO {schema};
         {version_1}
         INSERT INTO task_store_schema (application, version) VALUES ('mcp-task-store', 1);
         INSERT INTO tasks (task_id, owner, status, created_at, last_updated_at, revision)
             VALUES ('working', 'alice', 'working', {now}, {now}, '2025-11-25');
         INSERT INTO tasks (task_id, owner, status, status_message, created_at,
                 last_updated_at, ttl, expires_at, outcome, revision)
             VALUES ('done', 'alice', 'completed', 'all done'::bytea, {now}, {now} + 1,
                 3600000, {now} + 3600000, '{outcome}', '2025-11-25');
         INSERT INTO tasks (task_id, owner, status, created_at, last_updated_at, revision,
                 input_requests)
             VALUES ('asking', 'bob', 'input_required', {now}, {now}, '2026-07-28',
                 '{pending}');"
    ))
    .await;
    assert_eq!(schema_version(&schema).await, 1);

    let store = open(&schema).await.unwrap();
    assert_eq!(schema_version(&schema).await, SCHEMA_VERSION);
    let (alice, bob) = (Scope::owner("alice"), Scope::owner("bob"));

    let working = store.get_record(&alice, "working").await.unwrap();
    assert_eq!(working.task.status, TaskStatus::Working);
    assert_eq!(working.task.last_updated_at.timestamp_millis(), now);
    assert!(working.input_keys_used.is_empty() && working.input_responses.is_empty());
    let done = store.get(&alice, "done").await.unwrap();
    assert_eq!(done.status, TaskStatus::Completed);
    assert_eq!(done.status_message.as_deref(), Some("all done"));
    assert_eq!(done.ttl, Some(3_600_000));
    let kept = store.get_result(&alice, "done").await.unwrap();
    assert_eq!(kept, Some(TaskOutcome::Result(result.clone())));
    let asking = store.get_record(&bob, "asking").await.unwrap();
    assert_eq!(asking.task.status, TaskStatus::InputRequired);
    assert_eq!(asking.input_requests["confirm"], ask);
    assert!(
        asking.input_keys_used.contains("confirm"),
        "a pending key counts as used"
    );
    let listed = store.list(&alice, Default::default()).await.unwrap();
    assert_eq!(listed.tasks.len(), 2);

    // Every kind of change takes on the old rows.
    let changed = store
        .set_message(&alice, "working", "half way")
        .await
        .unwrap();
    assert!(changed.last_updated_at > working.task.last_updated_at);
    store
        .complete(&alice, "working", result.clone())
        .await
        .unwrap();
    assert_eq!(
        store.get_result(&alice, "working").await.unwrap(),
        Some(TaskOutcome::Result(result))
    );
    let again = Map::from_iter([("confirm".to_owned(), ask.clone())]);
    assert!(
        matches!(
            store.request_input(&bob, "asking", again).await,
            Err(TaskError::InputKeyReused { .. })
        ),
        "the key pending before the upgrade is not asked again"
    );
    let answer = Map::from_iter([("confirm".to_owned(), json!({"action": "accept"}))]);
    let answered = store.respond(&bob, "asking", answer).await.unwrap();
    assert_eq!(answered.status, TaskStatus::Working);
    let record = store.get_record(&bob, "asking").await.unwrap();
    assert_eq!(
        record.input_responses["confirm"],
        json!({"action": "accept"})
    );
    store.request_cancel(&bob, "asking").await.unwrap();
    assert!(
        store
            .get_record(&bob, "asking")
            .await
            .unwrap()
            .cancel_requested
    );
    store.cancel(&bob, "asking").await.unwrap();
    assert!(store.delete(&alice, "done").await.unwrap());
    let made = store
        .create(NewTask::new().owned_by("alice"))
        .await
        .unwrap();
    assert_eq!(store.get(&alice, &made.task_id).await.unwrap(), made);
}
