//! `rediss://`: a store round trip over TLS against a local `redis-server` that speaks only
//! TLS, with a certificate authority and a server certificate the test generates.

mod support;

use serde_json::json;
use std::time::Duration;
use support::{PrivateRedis, TestCertificates, channel_of, fresh_prefix, open_at, within_hang};
use task_core::{
    NewTask, Retry, Scope, StoreConfig, TaskError, TaskStatus, TaskStore, TaskStoreExt,
};
use task_store_redis::{RedisOptions, RedisTaskStore, TlsError};

/// The typed TLS error inside a backend error.
fn tls_error(error: &TaskError) -> &TlsError {
    std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<TlsError>())
        .unwrap_or_else(|| panic!("not a TLS error: {error:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_round_trip_over_tls() {
    let certificates = TestCertificates::generate();
    let server = PrivateRedis::start_tls(&certificates);
    let url = server.url();
    assert!(url.starts_with("rediss://"), "{url}");
    let prefix = fresh_prefix();
    // No polling fallback to speak of: only the pub/sub message can end the wait below.
    let options = RedisOptions::default()
        .with_key_prefix(&prefix)
        .with_fallback_poll_interval(Duration::from_secs(3_600))
        .with_tls_root_certificates(certificates.ca_pem.clone());
    let waiting = open_at(&url, StoreConfig::default(), options.clone()).await;
    let working = open_at(&url, StoreConfig::default(), options).await;

    let task = waiting
        .create(NewTask::new().owned_by("alice").with_message("queued"))
        .await
        .expect("create over TLS");
    let alice = Scope::owner("alice");
    assert_eq!(working.get(&alice, &task.task_id).await.expect("get"), task);

    let waiter = tokio::spawn({
        let (task_id, seen) = (task.task_id.clone(), task.last_updated_at);
        async move {
            waiting
                .wait_for_update(&Scope::owner("alice"), &task_id, seen, None)
                .await
        }
    });
    server
        .until_subscribers(&channel_of(&prefix, &task.task_id), 1)
        .await;
    let result = json!({"content": [{"type": "text", "text": "done over TLS"}]});
    let result = result.as_object().cloned().expect("an object");
    working
        .complete(&alice, &task.task_id, result.clone())
        .await
        .expect("complete over TLS");
    let woken = within_hang("the TLS pub/sub wake-up", waiter)
        .await
        .expect("the waiter")
        .expect("the wait");
    assert_eq!(woken.status, TaskStatus::Completed);
    let outcome = working
        .get_result(&alice, &task.task_id)
        .await
        .expect("the result");
    assert_eq!(
        outcome
            .map(|o| serde_json::to_value(o).expect("JSON"))
            .and_then(|o| o.get("result").cloned()),
        Some(json!(result))
    );
    working
        .delete(&Scope::All, &task.task_id)
        .await
        .expect("delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_certificate_from_an_unknown_authority_is_refused() {
    let certificates = TestCertificates::generate();
    let server = PrivateRedis::start_tls(&certificates);
    let stranger = TestCertificates::generate();
    for options in [
        // The system's trust store does not know the test's authority...
        RedisOptions::default(),
        // ...and neither does another authority.
        RedisOptions::default().with_tls_root_certificates(stranger.ca_pem.clone()),
    ] {
        let options = options
            .with_key_prefix(fresh_prefix())
            .with_reconnect_retries(0);
        let error = RedisTaskStore::open_with(&server.url(), StoreConfig::default(), options)
            .await
            .expect_err("an untrusted certificate");
        assert!(matches!(error, TaskError::Backend { .. }), "{error:?}");
        let text = format!("{error}: {:?}", std::error::Error::source(&error));
        assert!(text.contains("certificate"), "{text}");
        // Configuration, not a passing fault: typed, and never worth a retry.
        assert_eq!(error.retry(), Retry::Never, "{error}");
        let tls = tls_error(&error);
        assert!(tls.is_certificate_error(), "{tls}");
    }
    // Turning verification off is refused too.
    let insecure = format!("{}/#insecure", server.url());
    let options = RedisOptions::default().with_key_prefix(fresh_prefix());
    let error = RedisTaskStore::open_with(&insecure, StoreConfig::default(), options)
        .await
        .expect_err("no insecure TLS");
    assert!(error.to_string().contains("insecure"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_roots_need_a_rediss_url() {
    let options = RedisOptions::default().with_tls_root_certificates("not used");
    let error =
        RedisTaskStore::open_with("redis://127.0.0.1:6379", StoreConfig::default(), options)
            .await
            .expect_err("roots without TLS");
    assert!(matches!(error, TaskError::InvalidInput(_)), "{error:?}");
    assert!(error.to_string().contains("rediss://"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_a_server_that_does_not_speak_it_is_a_typed_error_not_worth_a_retry() {
    // A server that answers in plain text, as a Redis without TLS answers a handshake.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let url = format!("rediss://{}", listener.local_addr().expect("its address"));
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            use tokio::io::AsyncWriteExt;
            let _ = client.write_all(b"-ERR Protocol error: not TLS\r\n").await;
            // Held open: the refusal must come from TLS, not from a closed connection.
            tokio::spawn(async move {
                let mut sink = Vec::new();
                let _ = tokio::io::AsyncReadExt::read_to_end(&mut client, &mut sink).await;
            });
        }
    });
    let options = RedisOptions::default()
        .with_key_prefix(fresh_prefix())
        .with_reconnect_retries(0);
    let error = within_hang(
        "a TLS handshake with a plain-text server",
        RedisTaskStore::open_with(&url, StoreConfig::default(), options),
    )
    .await
    .expect_err("no TLS there");
    assert_eq!(error.retry(), Retry::Never, "{error}");
    let tls = tls_error(&error);
    assert!(!tls.is_certificate_error(), "{tls}");
}
