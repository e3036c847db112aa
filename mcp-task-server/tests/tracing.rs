//! `RUST_LOG=trace` makes the stdio server print a span for every request and every store
//! call, to stderr, naming the task, the owner and the outcome; never a payload (arguments,
//! results, messages) and never the store URL's password.

mod common;

use common::{PasswordRedis, Server};
use serde_json::json;

/// Distinctive enough that finding either anywhere in the log means it leaked.
const PASSWORD: &str = "Pw-5e1d2-tracing-canary";
const PAYLOAD: &str = "payload-marker-93b7c";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_name_task_owner_and_outcome_but_never_a_payload_or_password() {
    let redis = PasswordRedis::start(PASSWORD);
    let prefix = format!("server-tracing-{}", uuid::Uuid::new_v4());
    let url = format!("{}?prefix={prefix}", redis.url());
    let owner = common::unique_owner("tracing");
    let mut server = Server::spawn_with_env(&url, Some(&owner), &[("RUST_LOG", "trace")]);
    let init = json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}});
    server
        .request("initialize", init)
        .await
        .expect("initialize");
    let task = server
        .start_task("sleep", json!({"seconds": 0.01, "text": PAYLOAD}))
        .await;
    let task_id = task["taskId"].as_str().expect("a task id").to_owned();
    let result = server
        .request("tasks/result", json!({"taskId": task_id}))
        .await
        .expect("the result");
    assert_eq!(
        result["content"][0]["text"], PAYLOAD,
        "the payload went through"
    );
    let failed = server.start_task("fail", json!({"message": PAYLOAD})).await;
    server
        .request("tasks/result", json!({"taskId": failed["taskId"]}))
        .await
        .expect_err("the tool failed");
    server
        .request("tasks/get", json!({"taskId": "no-such-task"}))
        .await
        .expect_err("an unknown task");
    let (status, log) = server.close_with_log().await;
    assert!(status.success(), "{log}");

    // The request's span, and the store calls inside it.
    let task_id = format!("task_id=\"{task_id}\"");
    let owner = format!("owner=\"{owner}\"");
    let request = log
        .lines()
        .find(|line| line.contains("request{method=\"tools/call\"") && line.contains(&task_id))
        .unwrap_or_else(|| panic!("no span for the tools/call that made the task: {log}"));
    assert!(request.contains(&owner), "{request}");
    assert!(request.contains("outcome=\"ok\""), "{request}");
    let store_call = log
        .lines()
        .find(|line| line.contains("store{call=\"create\"") && line.contains(&task_id))
        .unwrap_or_else(|| panic!("no span for the store's create: {log}"));
    assert!(store_call.contains("outcome=\"ok\""), "{store_call}");
    assert!(
        log.lines().any(|line| line.contains("call=\"update\"")
            && line.contains(&task_id)
            && line.contains("outcome=\"ok\"")),
        "no span for the update that completed the task: {log}"
    );
    // An error's outcome is its kind.
    assert!(
        log.lines().any(|line| line.contains("store{call=\"get\"")
            && line.contains("task_id=\"no-such-task\"")
            && line.contains("outcome=\"not_found\"")),
        "no not_found outcome: {log}"
    );
    assert!(
        log.lines()
            .any(|line| line.contains("request{method=\"tasks/get\"")
                && line.contains("task_id=\"no-such-task\"")
                && line.contains("outcome=\"invalid_params\"")),
        "no error outcome for the request: {log}"
    );
    assert!(!log.contains(PAYLOAD), "a payload reached the log: {log}");
    assert!(
        !log.contains(PASSWORD),
        "the password reached the log: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_rust_log_no_span_is_printed() {
    let mut server = Server::spawn_with_env("memory://", None, &[("RUST_LOG", "")]);
    let init = json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}});
    server
        .request("initialize", init)
        .await
        .expect("initialize");
    server
        .start_task("sleep", json!({"seconds": 0, "text": PAYLOAD}))
        .await;
    let (status, log) = server.close_with_log().await;
    assert!(status.success(), "{log}");
    assert!(!log.contains("request{"), "{log}");
    assert!(!log.contains("store{"), "{log}");
}
