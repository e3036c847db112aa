//! `mcp-task-server --http`: the real binary over real HTTP. The official conformance suite
//! (scripts/conformance.sh) checks the protocol; these tests check what it does not: owners
//! and bearer tokens, bad input, and the command line; `instances` runs several instances on
//! one store.

#[path = "../common/mod.rs"]
mod common;
mod instances;
mod support;

use serde_json::{Value, json};
use std::process::{Command, Output, Stdio};
use support::{Server, unknown_task};

fn confirm(value: bool) -> Value {
    json!({"action": "accept", "content": {"confirm": value}})
}

#[tokio::test]
async fn a_cancelled_slow_compute_ends_cancelled() {
    let server = Server::start(&[]);
    let client = server.client();
    let task_id = client
        .start_task("slow_compute", json!({"seconds": 600, "label": "c"}))
        .await;
    let ack = client.cancel(&task_id).await.expect("an ack");
    assert_eq!(ack, json!({"resultType": "complete"}));
    let task = client.wait_for(&task_id, "cancelled").await;
    assert!(
        task.get("result").is_none() && task.get("error").is_none(),
        "{task}"
    );
}

#[tokio::test]
async fn without_auth_the_task_id_is_the_capability() {
    let server = Server::start(&[]);
    let (first, second) = (server.client(), server.client());
    let task_id = first
        .start_task("slow_compute", json!({"seconds": 600}))
        .await;
    uuid_v4(&task_id);
    assert_eq!(
        second.get(&task_id).await.expect("known")["status"],
        "working"
    );
    second.cancel(&task_id).await.expect("an ack");
    first.wait_for(&task_id, "cancelled").await;
    assert!(server.log().contains("every caller is one anonymous owner"));
    assert!(server.log().contains("lease: 60 s"), "the default lease");
}

#[tokio::test]
async fn an_answer_resumes_the_work_and_unasked_keys_are_ignored() {
    let server = Server::start(&[]);
    let client = server.client();
    let task_id = client
        .start_task("confirm_delete", json!({"filename": "a.txt"}))
        .await;
    let parked = client.wait_for(&task_id, "input_required").await;
    assert_eq!(
        parked["inputRequests"]["confirm"]["method"],
        "elicitation/create"
    );

    let ack = client
        .update(&task_id, json!({"never-asked": confirm(true)}))
        .await;
    assert_eq!(ack, Ok(json!({"resultType": "complete"})));
    assert_eq!(client.get(&task_id).await.expect("known"), parked);

    client
        .update(&task_id, json!({"confirm": confirm(true)}))
        .await
        .expect("an ack");
    let done = client.wait_for(&task_id, "completed").await;
    assert_eq!(
        done["result"]["content"][0]["text"],
        "confirm_delete(a.txt): confirmed = true"
    );
    // A finished task acknowledges answers and cancels and stays as it is.
    client
        .update(&task_id, json!({"confirm": confirm(false)}))
        .await
        .expect("an ack");
    client.cancel(&task_id).await.expect("an ack");
    assert_eq!(client.get(&task_id).await.expect("known"), done);
}

#[tokio::test]
async fn malformed_task_requests_get_invalid_params_and_change_nothing() {
    let server = Server::start(&[]);
    let client = server.client();
    let task_id = client
        .start_task("confirm_delete", json!({"filename": "b.txt"}))
        .await;
    let parked = client.wait_for(&task_id, "input_required").await;
    let malformed = [
        ("tasks/update", json!({"taskId": task_id})),
        (
            "tasks/update",
            json!({"taskId": task_id, "inputResponses": [confirm(true)]}),
        ),
        ("tasks/update", json!({"inputResponses": {}})),
        ("tasks/get", json!({})),
        ("tasks/cancel", json!({"taskId": 7})),
    ];
    for (method, params) in &malformed {
        let answer = client.post(method, params.clone()).await;
        let error = &answer.body.as_ref().expect("a JSON body")["error"];
        assert_eq!(error["code"], -32602, "{method} {params}: {error}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with(&format!("Invalid params for {method}: ")),
            "{message}"
        );
        // Without the extension, the capability check comes first, as for well-formed ones.
        let error = client
            .clone()
            .without_tasks()
            .request(method, params.clone())
            .await
            .expect_err("refused");
        assert_eq!(error["code"], -32021, "{method} {params}: {error}");
    }
    assert_eq!(client.get(&task_id).await.expect("known"), parked);
    // Other unknown methods stay -32601.
    let error = client.request("tasks/list", json!({})).await.unwrap_err();
    assert_eq!(error["code"], -32601);
}

#[tokio::test]
async fn an_oversized_answer_is_refused_and_changes_nothing() {
    let server = Server::start(&["--store", "memory://?max_payload_bytes=2000"]);
    let client = server.client();
    let task_id = client
        .start_task("confirm_delete", json!({"filename": "c.txt"}))
        .await;
    let parked = client.wait_for(&task_id, "input_required").await;
    let large = json!({"confirm": {"action": "accept", "content": {
        "confirm": true, "note": "x".repeat(5_000)
    }}});
    let error = client.update(&task_id, large).await.unwrap_err();
    assert_eq!(error["code"], -32602, "{error}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("inputResponses") && message.contains("the limit is 2000"),
        "{message}"
    );
    // A body past the limit and the room for its envelope is refused before it is read whole.
    let huge = json!({"confirm": {"action": "accept", "content": {
        "confirm": true, "note": "x".repeat(1_100_000)
    }}});
    let answer = client
        .post(
            "tasks/update",
            json!({"taskId": task_id, "inputResponses": huge}),
        )
        .await;
    assert_eq!(answer.status, 413);
    assert_eq!(client.get(&task_id).await.expect("known"), parked);
    client
        .update(&task_id, json!({"confirm": confirm(true)}))
        .await
        .expect("an ack");
    client.wait_for(&task_id, "completed").await;
}

#[tokio::test]
async fn two_servers_sharing_a_sqlite_file_serve_the_same_tasks() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = format!("sqlite://{}", dir.path().join("tasks.db").display());
    let worker = Server::start(&["--store", &store]);
    let other = Server::start(&["--store", &store]);
    let (worker, other) = (worker.client(), other.client());
    let task_id = worker
        .start_task("confirm_delete", json!({"filename": "d.txt"}))
        .await;
    // The other instance sees the parked task and answers it; the work resumes where it runs.
    let parked = other.wait_for(&task_id, "input_required").await;
    assert_eq!(worker.get(&task_id).await.expect("known"), parked);
    other
        .update(&task_id, json!({"confirm": confirm(true)}))
        .await
        .expect("an ack");
    let done = other.wait_for(&task_id, "completed").await;
    assert_eq!(worker.get(&task_id).await.expect("known"), done);

    // A cancel through the other instance reaches work running in the first.
    let task_id = worker
        .start_task("slow_compute", json!({"seconds": 600, "label": "long"}))
        .await;
    other.cancel(&task_id).await.expect("an ack");
    worker.wait_for(&task_id, "cancelled").await;
}

#[tokio::test]
async fn unknown_ids_answer_invalid_params() {
    let server = Server::start(&[]);
    let client = server.client();
    for task_id in [uuid::Uuid::new_v4().to_string(), "not-a-task".to_owned()] {
        assert_eq!(client.get(&task_id).await, Err(unknown_task(&task_id)));
        let update = client.update(&task_id, json!({"k": confirm(true)})).await;
        assert_eq!(update, Err(unknown_task(&task_id)));
        assert_eq!(client.cancel(&task_id).await, Err(unknown_task(&task_id)));
    }
}

#[tokio::test]
async fn arguments_that_do_not_fit_are_a_tool_error_and_start_nothing() {
    let server = Server::start(&[]);
    let client = server.client();
    let cases = [
        ("slow_compute", json!({"seconds": -1})),
        ("slow_compute", json!({"seconds": 1e300})),
        ("slow_compute", json!({"seconds": "soon"})),
        ("slow_compute", json!({"label": 3})),
        ("greet", json!({})),
        ("greet", json!({"name": ["x"]})),
        ("confirm_delete", json!({"filename": false})),
    ];
    for (tool, arguments) in cases {
        let result = client
            .call_tool(tool, arguments.clone())
            .await
            .expect("a result");
        assert_eq!(result["isError"], true, "{tool} {arguments}: {result}");
        assert!(result.get("taskId").is_none(), "{result}");
        let text = result["content"][0]["text"].as_str().unwrap_or_default();
        assert!(text.starts_with("Invalid arguments: "), "{text}");
    }
    let error = client
        .call_tool("no_such_tool", json!({}))
        .await
        .unwrap_err();
    assert_eq!(error["code"], -32602);
}

/// `RUST_LOG=trace` prints a span per request naming the method, the task, the owner and the
/// outcome, and never a payload (arguments, answers, results) or a bearer token.
#[tokio::test]
async fn spans_name_task_owner_and_outcome_but_never_a_payload_or_token() {
    const PAYLOAD: &str = "payload-marker-4c1e8";
    const TOKEN: &str = "tok-6d2a9-tracing-canary";
    let server = Server::start_with_env(
        &["--auth-token", &format!("{TOKEN}=alice")],
        &[("RUST_LOG", "trace")],
    );
    let client = server.client_with_token(TOKEN);
    let task_id = client
        .start_task("confirm_delete", json!({"filename": PAYLOAD}))
        .await;
    client.wait_for(&task_id, "input_required").await;
    let answer = json!({"action": "accept", "content": {"confirm": true, "note": PAYLOAD}});
    client
        .update(&task_id, json!({"confirm": answer}))
        .await
        .expect("an ack");
    let done = client.wait_for(&task_id, "completed").await;
    assert!(
        done.to_string().contains(PAYLOAD),
        "the payload went through"
    );
    let unknown = client.get("no-such-task").await.expect_err("unknown");
    assert_eq!(unknown["code"], -32602);
    let (_, log) = server.terminate_with_log();

    let spans = |method: &str, task_id: &str| -> Vec<String> {
        log.lines()
            .filter(|line| {
                line.contains(&format!("request{{method=\"{method}\""))
                    && line.contains(&format!("task_id=\"{task_id}\""))
            })
            .map(str::to_owned)
            .collect()
    };
    for method in ["tools/call", "tasks/update", "tasks/get"] {
        let found = spans(method, &task_id);
        assert!(
            found
                .iter()
                .any(|line| line.contains("owner=\"alice\"") && line.contains("outcome=\"ok\"")),
            "no {method} span for {task_id} with its owner and outcome: {log}"
        );
    }
    let missing = spans("tasks/get", "no-such-task");
    assert!(
        missing
            .iter()
            .any(|line| line.contains("outcome=\"invalid_params\"")),
        "no error outcome: {log}"
    );
    assert!(!log.contains(PAYLOAD), "a payload reached the log: {log}");
    assert!(!log.contains(TOKEN), "the token reached the log: {log}");
}

#[tokio::test]
async fn without_a_known_token_a_request_gets_401() {
    let server = Server::start(&["--auth-token", "tok-alice-1=alice"]);
    let list = json!({});
    for client in [
        server.client(),
        server.client_with_token("tok-mallory"),
        server.client_with_token(""),
    ] {
        let answer = client.post("tools/list", list.clone()).await;
        assert_eq!(answer.status, 401);
        assert_eq!(answer.www_authenticate.as_deref(), Some("Bearer"));
    }
    let answer = server
        .client_with_token("tok-alice-1")
        .post("tools/list", list)
        .await;
    assert_eq!(answer.status, 200);
    let tools = &answer.body.expect("a JSON body")["result"]["tools"];
    assert_eq!(tools.as_array().map(Vec::len), Some(7), "{tools}");
    assert!(server.log().contains("bearer tokens of 1 principal(s)"));
}

#[tokio::test]
async fn another_principals_task_answers_like_an_unknown_one() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("tokens");
    std::fs::write(&file, "# principals\ntok-alice-2=alice\ntok-bob-2=bob\n").expect("written");
    let server = Server::start(&[
        "--auth-file",
        file.to_str().expect("a UTF-8 path"),
        "--auth-token",
        "tok-alice-3=alice",
    ]);
    let alice = server.client_with_token("tok-alice-2");
    let alice_again = server.client_with_token("tok-alice-3");
    let bob = server.client_with_token("tok-bob-2");

    let task_id = alice.start_task("confirm_delete", json!({})).await;
    let parked = alice.wait_for(&task_id, "input_required").await;
    let stranger = uuid::Uuid::new_v4().to_string();
    let requests = |id: &str| {
        [
            ("tasks/get", json!({"taskId": id})),
            (
                "tasks/update",
                json!({"taskId": id, "inputResponses": {"confirm": confirm(true)}}),
            ),
            ("tasks/cancel", json!({"taskId": id})),
        ]
    };
    for ((method, foreign), (_, unknown)) in requests(&task_id).into_iter().zip(requests(&stranger))
    {
        let foreign = bob.post(method, foreign).await;
        let unknown = bob.post(method, unknown).await;
        assert_eq!(foreign.status, unknown.status, "{method}");
        let foreign = foreign.body.expect("a JSON body");
        assert_eq!(foreign["error"], unknown_task(&task_id), "{method}");
        let unknown = unknown.body.expect("a JSON body").to_string();
        assert_eq!(foreign.to_string(), unknown.replace(&stranger, &task_id));
    }
    // Bob changed nothing; the same principal through another token sees and answers it.
    assert_eq!(alice.get(&task_id).await.expect("known"), parked);
    alice_again
        .update(&task_id, json!({"confirm": confirm(true)}))
        .await
        .expect("an ack");
    alice.wait_for(&task_id, "completed").await;
    assert!(!server.log().contains("tok-"), "{}", server.log());
}

#[tokio::test]
async fn only_loopback_and_allowed_hosts_are_served() {
    let plain = Server::start(&[]);
    let allowing = Server::start(&["--allowed-host", "tasks.example"]);
    for (server, status) in [(&plain, 403), (&allowing, 200)] {
        let answer = server
            .client()
            .with_host("tasks.example")
            .post("tools/list", json!({}))
            .await;
        assert_eq!(answer.status, status);
        let answer = server
            .client()
            .with_host("localhost")
            .post("tools/list", json!({}))
            .await;
        assert_eq!(answer.status, 200);
    }
}

#[tokio::test]
async fn a_stop_signal_ends_the_server() {
    let server = Server::start(&[]);
    let client = server.client();
    client
        .start_task("slow_compute", json!({"seconds": 600}))
        .await;
    assert_eq!(server.terminate(), Some(0));
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mcp-task-server"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the server binary runs")
}

#[test]
fn bad_http_options_are_reported_without_their_tokens() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let missing = dir.path().join("missing");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "# nobody\n").expect("written");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let taken = taken.local_addr().expect("its address").to_string();
    let cannot_listen = format!("cannot listen on {taken}");
    let cases: [(&[&str], &str); 5] = [
        (
            &["--http", "127.0.0.1:0", "--auth-token", "s3cret-token"],
            "--auth-token #1: expected TOKEN=PRINCIPAL",
        ),
        (
            &["--http", "127.0.0.1:0", "--auth-token", "s3cret token=bob"],
            "--auth-token #1: a token is one or more visible ASCII characters",
        ),
        (
            &[
                "--http",
                "127.0.0.1:0",
                "--auth-file",
                missing.to_str().unwrap(),
            ],
            "--auth-file",
        ),
        (
            &[
                "--http",
                "127.0.0.1:0",
                "--auth-file",
                empty.to_str().unwrap(),
            ],
            "--auth-file: no TOKEN=PRINCIPAL line found",
        ),
        (&["--http", &taken], &cannot_listen),
    ];
    for (args, expected) in cases {
        let output = run(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_ne!(output.status.code(), Some(0), "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("s3cret"), "{args:?}: {stderr}");
    }

    // Options of the HTTP mode need --http, and --owner is the stdio mode's.
    for args in [
        &["--auth-token", "s3cret=alice"][..],
        &["--lease-secs", "5"][..],
        &["--http", "127.0.0.1:0", "--owner", "alice"][..],
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("s3cret"), "{args:?}: {stderr}");
    }
}

fn uuid_v4(id: &str) {
    let parsed = uuid::Uuid::parse_str(id).expect("a UUID");
    assert_eq!(parsed.get_version_num(), 4, "{id}");
}
