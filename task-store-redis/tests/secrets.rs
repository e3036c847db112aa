//! A password in a Redis URL never shows in an error or a debug form: not for a URL the driver
//! cannot parse, a wrong password, or a server that went away.

mod support;

use conformance_tests::fixtures::PasswordRedis;
use support::fresh_prefix;
use task_core::{NewTask, Scope, StoreConfig, TaskError, TaskStore};
use task_store_redis::{RedisOptions, RedisTaskStore};

/// The server's password: distinctive enough that finding it anywhere means it leaked.
const PASSWORD: &str = "Pw-31d7a-redis-canary";
/// A wrong password a client gives.
const WRONG: &str = "Pw-9e0b2-wrong-canary";

fn assert_hidden(what: &str, text: &str) {
    for secret in [PASSWORD, WRONG] {
        assert!(!text.contains(secret), "{what} shows a password: {text}");
    }
}

fn shown(error: &TaskError) -> String {
    format!("{error} {error:?}")
}

async fn open(url: &str) -> Result<RedisTaskStore, TaskError> {
    let options = RedisOptions::default().with_key_prefix(fresh_prefix());
    RedisTaskStore::open_with(url, StoreConfig::default(), options).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_the_driver_refuses_are_reported_without_the_password() {
    for url in [
        format!("redis://:{PASSWORD}@127.0.0.1:notaport/0"),
        format!("redis://u:{PASSWORD}@/0"),
        format!("redis://:{PASSWORD}@127.0.0.1:6379/zero"),
        format!("redis://:{PASSWORD}@127.0.0.1:6379/0?protocol=9"),
        format!("http://:{PASSWORD}@127.0.0.1:6379/0"),
    ] {
        let error = open(&url).await.expect_err("a bad URL");
        assert!(matches!(error, TaskError::InvalidInput(_)), "{error:?}");
        assert_hidden(&url, &shown(&error));
        if let Err(error) = RedisOptions::from_url(&url) {
            assert_hidden(&url, &shown(&error));
        }
    }
    let error = RedisOptions::from_url(&format!("http://{PASSWORD}@/?prefix=x"))
        .expect_err("not a Redis URL");
    assert_hidden("RedisOptions::from_url", &shown(&error));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_and_a_lost_server_are_reported_without_the_password() {
    let mut server = PasswordRedis::start(PASSWORD);
    let wrong = format!("redis://default:{WRONG}@127.0.0.1:{}/0", server.port);
    let error = open(&wrong).await.expect_err("a wrong password");
    assert_hidden("a refused password", &shown(&error));

    let store = open(&server.url()).await.expect("the right password");
    assert_hidden("the store's debug form", &format!("{store:?}"));
    let task = store.create(NewTask::new()).await.expect("create");
    server.stop();
    let error = store
        .get(&Scope::All, &task.task_id)
        .await
        .expect_err("the server is gone");
    assert_hidden("a lost server", &shown(&error));
    let error = open(&server.url())
        .await
        .expect_err("nothing listens any more");
    assert_hidden("a refused connection", &shown(&error));
}
