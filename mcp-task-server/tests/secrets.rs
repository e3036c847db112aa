//! `mcp-task-server` never writes a store URL's password, to stderr (its log, read with
//! `RUST_LOG=trace` so every level counts) or to stdout (the protocol).

mod common;

use common::{PasswordRedis, SERVER, Server};
use serde_json::json;
use std::process::{Command, Stdio};

/// Distinctive enough that finding it anywhere means it leaked.
const PASSWORD: &str = "Pw-0f7c3-server-canary";

#[test]
fn a_store_that_cannot_open_is_reported_without_the_password() {
    let server = PasswordRedis::start(PASSWORD);
    let wrong = format!("redis://default:{PASSWORD}-x@127.0.0.1:{}/0", server.port);
    for url in [
        format!("redis://:{PASSWORD}@127.0.0.1:notaport/0"),
        format!("mysql://u:{PASSWORD}@host/x"),
        format!("redis://:{PASSWORD}@127.0.0.1:1/0"),
        format!("redis://:{PASSWORD}@127.0.0.1:6379/0?colour=blue"),
        wrong,
    ] {
        let out = Command::new(SERVER)
            .env("RUST_LOG", "trace")
            .args(["--store", &url])
            .stdin(Stdio::null())
            .output()
            .expect("the server binary runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{url}: {stderr}");
        assert!(stderr.contains("cannot open the store"), "{stderr}");
        assert!(
            !stderr.contains(PASSWORD),
            "{url}: the log shows the password: {stderr}"
        );
        assert!(out.stdout.is_empty(), "stdout carries only JSON-RPC");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_never_shows_the_password() {
    let redis = PasswordRedis::start(PASSWORD);
    let prefix = format!("server-secrets-{}", uuid::Uuid::new_v4());
    let url = format!("{}?prefix={prefix}", redis.url());
    let mut server = Server::spawn_with_env(&url, None, &[("RUST_LOG", "trace")]);
    let init = json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}});
    server
        .request("initialize", init)
        .await
        .expect("initialize");
    let task = server
        .start_task("sleep", json!({"seconds": 0.05, "text": "done"}))
        .await;
    let task_id = task["taskId"].as_str().expect("a task id");
    let result = server
        .request("tasks/result", json!({"taskId": task_id}))
        .await
        .expect("the result");
    assert_eq!(result["content"][0]["text"], "done");
    server.request("tasks/list", json!({})).await.expect("list");
    let failed = server.start_task("fail", json!({"message": "no"})).await;
    server
        .request("tasks/result", json!({"taskId": failed["taskId"]}))
        .await
        .expect_err("the tool failed");
    let (status, transcript) = server.close_with_transcript().await;
    assert!(status.success(), "{transcript}");
    assert!(
        !transcript.contains(PASSWORD),
        "the server wrote the password: {transcript}"
    );
    // The log names the store it serves, without the secret.
    assert!(
        transcript.contains("redis://:***@127.0.0.1"),
        "{transcript}"
    );
}
