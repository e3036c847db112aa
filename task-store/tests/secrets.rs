//! A password in a store URL never shows in an error, whatever the backend and whichever
//! features are compiled in.

use task_store::StoreBuilder;
use task_store::url::StoreUrl;

/// Distinctive enough that finding it anywhere means it leaked.
const PASSWORD: &str = "Pw-8c41e-leak-canary";

/// The text and the debug form of an error: both may end up in a log.
fn shown(error: &task_store::TaskError) -> String {
    format!("{error} {error:?}")
}

fn assert_hidden(what: &str, text: &str) {
    assert!(
        !text.contains(PASSWORD),
        "{what} shows the password: {text}"
    );
}

#[tokio::test]
async fn no_url_error_shows_the_password() {
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let authority = redis.trim_start_matches("redis://");
    let postgres = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let pg_authority = postgres
        .split_once("://")
        .map_or("127.0.0.1:5432", |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or("127.0.0.1:5432")
        .rsplit('@')
        .next()
        .unwrap_or("127.0.0.1:5432")
        .to_owned();
    let urls = [
        // Not a store URL at all.
        format!("mysql://u:{PASSWORD}@host/x"),
        format!("postgres://db/x?password={PASSWORD}"),
        // Redis URLs the driver cannot parse, or whose query is wrong.
        format!("redis://:{PASSWORD}@127.0.0.1:notaport/0"),
        format!("redis://u:{PASSWORD}@/0"),
        format!("redis://:{PASSWORD}@127.0.0.1:6379/0?prefix=%7Bbad"),
        format!("redis://:{PASSWORD}@127.0.0.1:6379/0?colour=blue"),
        format!("redis://:{PASSWORD}@127.0.0.1:6379/0?max_ttl=soon"),
        format!("redis://:{PASSWORD}@127.0.0.1:6379/0?sweep_interval_ms=soon"),
        format!("redis://:{PASSWORD}@127.0.0.1:6379/0?protocol=9"),
        format!("rediss://:{PASSWORD}@127.0.0.1:6379/0#other"),
        // A Redis that refuses the connection, and one that refuses the password (it has
        // none set).
        format!("redis://:{PASSWORD}@127.0.0.1:1/0"),
        format!("redis://:{PASSWORD}@{authority}/0"),
        // PostgreSQL URLs the driver cannot parse or whose query is wrong, a server that
        // refuses the connection, and a role the server does not know.
        format!("postgres://u:{PASSWORD}@127.0.0.1:notaport/x"),
        format!("postgres://u:{PASSWORD}@127.0.0.1:5432/test?schema=Not-A-Name"),
        format!("postgres://u:{PASSWORD}@127.0.0.1:5432/test?colour=blue"),
        format!("postgresql://u:{PASSWORD}@127.0.0.1:1/x?call_timeout_ms=2000"),
        format!("postgres://no_such_role:{PASSWORD}@{pg_authority}/test?call_timeout_ms=5000"),
        // SQLite and memory URLs with a user part they cannot use.
        format!("sqlite://u:{PASSWORD}@/no/such/dir/tasks.db"),
        format!("sqlite://u:{PASSWORD}@?synchronous=sometimes"),
        format!("memory://u:{PASSWORD}@host"),
    ];
    let mut leaks = Vec::new();
    for url in &urls {
        let error = task_store::open(url)
            .await
            .err()
            .unwrap_or_else(|| panic!("{url} should not open"));
        let text = shown(&error);
        if text.contains(PASSWORD) {
            leaks.push(text);
        }
    }
    assert!(
        leaks.is_empty(),
        "errors that show the password:\n{}",
        leaks.join("\n")
    );
}

#[test]
fn debug_forms_hide_the_password() {
    let url = format!("redis://app:{PASSWORD}@127.0.0.1:6379/0?prefix=app&token={PASSWORD}");
    let builder = StoreBuilder::new(&url);
    assert_hidden("StoreBuilder", &format!("{builder:?}"));
    let parsed = StoreUrl::parse(&url).expect("a store URL");
    assert_hidden("StoreUrl", &format!("{parsed:?}"));
    assert!(format!("{parsed:?}").contains("app:***@127.0.0.1"));
    assert_eq!(
        task_store::url::redact_url(&url),
        "redis://app:***@127.0.0.1:6379/0?prefix=app&token=***"
    );
}
