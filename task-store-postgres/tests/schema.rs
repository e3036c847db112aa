//! Opening a schema: a fresh one is created and migrated, a schema of a newer release or of
//! another application is refused and left alone, and many stores may open one schema at once.

mod support;

use support::{Scratch, database_url, drop_schema, fresh_schema, raw};
use task_core::{NewTask, Scope, StoreConfig, TaskError, TaskStore};
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
    let mut conn = raw(&database_url()).await;
    let version: i32 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT version FROM {schema}.task_store_schema"
    )))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(i64::from(version), SCHEMA_VERSION);
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
