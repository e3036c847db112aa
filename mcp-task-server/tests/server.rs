//! The real `mcp-task-server` binary, driven over stdio, against every store.

mod common;

use common::{Server, TestStore, unique_owner};
use serde_json::{Value, json};

store_tests!(
    stores: [memory, sqlite, redis, postgres],
    cases: [
        initialize_declares_tools_and_tasks,
        bad_input_gets_json_rpc_errors_and_the_server_keeps_going,
        a_sleep_task_runs_to_completion,
        tasks_result_waits_without_holding_up_other_requests,
        a_failing_tool_task_ends_failed_with_its_error,
        a_tool_error_result_ends_failed_with_the_result_kept,
        ttl_is_defaulted_and_clamped,
        unknown_ids_are_invalid_params,
        plain_calls_answer_directly_and_can_be_cancelled,
        requests_before_initialize_are_refused_except_ping,
        a_second_request_with_an_id_in_flight_is_refused,
        finished_tasks_leave_room_under_the_owner_limit,
    ]
);

fn code(error: Value) -> i64 {
    error["code"].as_i64().expect("an error code")
}

async fn initialize_declares_tools_and_tasks(store: &TestStore) {
    let mut server = Server::spawn(&store.url, None);
    let init = server
        .request(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
        )
        .await
        .unwrap();
    assert_eq!(init["protocolVersion"], "2025-11-25");
    assert_eq!(
        init["capabilities"]["tasks"],
        json!({"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}})
    );
    assert!(init["capabilities"]["tools"].is_object());
    assert_eq!(init["serverInfo"]["name"], "mcp-task-server");
    // A client asking for another revision is answered with the one the server speaks.
    let other = server
        .request(
            "initialize",
            json!({"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
        )
        .await
        .unwrap();
    assert_eq!(other["protocolVersion"], "2025-11-25");

    assert_eq!(server.request("ping", json!({})).await, Ok(json!({})));
    let tools = server.request("tools/list", json!({})).await.unwrap();
    let tools = tools["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["sleep", "fail", "echo"]);
    assert_eq!(tools[0]["execution"]["taskSupport"], "optional");
    assert_eq!(tools[1]["execution"]["taskSupport"], "optional");
    assert!(tools[2].get("execution").is_none());
    for tool in tools {
        assert_eq!(tool["inputSchema"]["type"], "object");
    }
    assert!(server.close().await.success());
}

async fn bad_input_gets_json_rpc_errors_and_the_server_keeps_going(store: &TestStore) {
    let mut server = Server::start(&store.url, None).await;
    server.send_line("{this is not json").await;
    assert_eq!(code(server.answer(&Value::Null).await.unwrap_err()), -32700);
    server.send_line("[]").await;
    assert_eq!(code(server.answer(&Value::Null).await.unwrap_err()), -32600);
    server
        .send_line(r#"{"jsonrpc":"2.0","id":"no-method"}"#)
        .await;
    assert_eq!(
        code(server.answer(&json!("no-method")).await.unwrap_err()),
        -32600
    );
    server
        .send_line(r#"{"jsonrpc":"1.0","id":"old","method":"ping"}"#)
        .await;
    assert_eq!(
        code(server.answer(&json!("old")).await.unwrap_err()),
        -32600
    );
    // A response from the client, and an unknown notification, get no answer at all.
    server
        .send_line(r#"{"jsonrpc":"2.0","id":99,"result":{}}"#)
        .await;
    server
        .send_line(r#"{"jsonrpc":"2.0","method":"notifications/whatever"}"#)
        .await;

    let cases = [
        ("resources/list", json!({}), -32601),
        ("tasks/get", json!({}), -32602),
        ("tasks/get", json!({"taskId": 5}), -32602),
        ("tasks/list", json!({"cursor": "not-a-cursor"}), -32602),
        ("tools/call", json!({"arguments": {}}), -32602),
        (
            "tools/call",
            json!({"name": "nope", "arguments": {}}),
            -32602,
        ),
        (
            "tools/call",
            json!({"name": "sleep", "task": {"ttl": -1}}),
            -32602,
        ),
        (
            "tools/call",
            json!({"name": "echo", "arguments": {"text": "x"}, "task": {}}),
            -32601,
        ),
        ("tools/list", json!({"cursor": "x"}), -32602),
        ("initialize", json!({}), -32602),
    ];
    for (method, params, expected) in cases {
        let error = server.request(method, params.clone()).await.unwrap_err();
        assert_eq!(code(error.clone()), expected, "{method} {params}: {error}");
        assert!(error["message"].is_string());
    }
    // Still serving, and nothing answered the response or the notification.
    assert_eq!(server.request("ping", json!({})).await, Ok(json!({})));
    assert!(!server.has_unread(|m| m["id"] == 99));
    assert!(server.close().await.success());
}

async fn a_sleep_task_runs_to_completion(store: &TestStore) {
    let mut server = Server::start(&store.url, None).await;
    let task = server
        .start_task("sleep", json!({"seconds": 0.1, "text": "rested"}))
        .await;
    let id = task["taskId"].as_str().unwrap().to_owned();
    assert_eq!(task["status"], "working");
    assert!(task.get("ttl").is_some() && task["createdAt"].is_string());

    let done = server.status_notification(&id, "completed").await;
    assert_eq!(
        done["params"]["_meta"]["io.modelcontextprotocol/related-task"]["taskId"],
        id.as_str()
    );
    let got = server
        .request("tasks/get", json!({"taskId": id}))
        .await
        .unwrap();
    assert_eq!(got["status"], "completed");
    assert_eq!(got["taskId"], id.as_str());
    assert_eq!(got["createdAt"], task["createdAt"]);

    let result = server
        .request("tasks/result", json!({"taskId": id}))
        .await
        .unwrap();
    assert_eq!(
        result["content"],
        json!([{"type": "text", "text": "rested"}])
    );
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/related-task"]["taskId"],
        id.as_str()
    );

    let listed = server.request("tasks/list", json!({})).await.unwrap();
    let ids: Vec<&str> = listed["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["taskId"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&id.as_str()), "{listed}");
    assert!(server.close().await.success());
}

async fn tasks_result_waits_without_holding_up_other_requests(store: &TestStore) {
    let mut server = Server::start(&store.url, None).await;
    let task = server.start_task("sleep", json!({"seconds": 600})).await;
    let id = task["taskId"].as_str().unwrap().to_owned();
    let waiting = server
        .send_request("tasks/result", json!({"taskId": id}))
        .await;
    // Other requests are answered while tasks/result waits.
    assert_eq!(server.request("ping", json!({})).await, Ok(json!({})));
    let got = server
        .request("tasks/get", json!({"taskId": id}))
        .await
        .unwrap();
    assert_eq!(got["status"], "working");
    assert!(
        !server.has_unread(|m| m["id"] == waiting),
        "tasks/result answered early"
    );

    let cancelled = server
        .request("tasks/cancel", json!({"taskId": id}))
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["taskId"], id.as_str());
    let error = server.answer(&waiting).await.unwrap_err();
    assert_eq!(code(error.clone()), -32602);
    assert_eq!(error["data"], json!({"taskId": id, "status": "cancelled"}));
    server.status_notification(&id, "cancelled").await;
    let again = server
        .request("tasks/cancel", json!({"taskId": id}))
        .await
        .unwrap_err();
    assert_eq!(code(again.clone()), -32602);
    assert_eq!(
        again["message"],
        "Cannot cancel task in terminal state 'cancelled'"
    );
    assert!(server.close().await.success());
}

async fn a_failing_tool_task_ends_failed_with_its_error(store: &TestStore) {
    let mut server = Server::start(&store.url, None).await;
    let task = server
        .start_task("fail", json!({"message": "out of coffee"}))
        .await;
    let id = task["taskId"].as_str().unwrap().to_owned();
    let failed = server.status_notification(&id, "failed").await;
    assert_eq!(failed["params"]["statusMessage"], "out of coffee");
    let error = server
        .request("tasks/result", json!({"taskId": id}))
        .await
        .unwrap_err();
    assert_eq!(error, json!({"code": -32000, "message": "out of coffee"}));
    // Called plainly, it fails the request itself with the same error.
    let plain = server
        .request(
            "tools/call",
            json!({"name": "fail", "arguments": {"message": "out of coffee"}}),
        )
        .await;
    assert_eq!(plain, Err(error));
    assert!(server.close().await.success());
}

async fn a_tool_error_result_ends_failed_with_the_result_kept(store: &TestStore) {
    let mut server = Server::start(&store.url, None).await;
    let task = server.start_task("sleep", json!({"seconds": "soon"})).await;
    let id = task["taskId"].as_str().unwrap().to_owned();
    server.status_notification(&id, "failed").await;
    let result = server
        .request("tasks/result", json!({"taskId": id}))
        .await
        .unwrap();
    assert_eq!(result["isError"], true);
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("Invalid arguments for tool sleep"),
        "{text}"
    );
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/related-task"]["taskId"],
        id.as_str()
    );
    assert!(server.close().await.success());
}

async fn ttl_is_defaulted_and_clamped(store: &TestStore) {
    let mut server = Server::start(&store.url, None).await;
    let call = |task: Value| json!({"name": "sleep", "arguments": {"seconds": 0}, "task": task});
    let default = server.request("tools/call", call(json!({}))).await.unwrap();
    assert_eq!(
        default["task"]["ttl"], 3_600_000,
        "the server's default ttl"
    );
    let capped = server
        .request("tools/call", call(json!({"ttl": 1_000_000_000_u64})))
        .await
        .unwrap();
    assert_eq!(capped["task"]["ttl"], 86_400_000, "the server's ttl cap");
    assert!(server.close().await.success());

    let mut server = Server::start(&store.url_with("max_ttl=5000"), None).await;
    let clamped = server
        .request("tools/call", call(json!({"ttl": 60_000})))
        .await
        .unwrap();
    assert_eq!(clamped["task"]["ttl"], 5_000, "the URL's ttl cap");
    let kept = server
        .request("tools/call", call(json!({"ttl": 2_000})))
        .await
        .unwrap();
    assert_eq!(kept["task"]["ttl"], 2_000);
    assert!(server.close().await.success());
}

async fn unknown_ids_are_invalid_params(store: &TestStore) {
    let mut server = Server::start(&store.url, None).await;
    for method in ["tasks/get", "tasks/result", "tasks/cancel"] {
        let error = server
            .request(method, json!({"taskId": "no-such-task"}))
            .await
            .unwrap_err();
        assert_eq!(
            error,
            json!({"code": -32602, "message": "Task not found: no-such-task"}),
            "{method}"
        );
    }
    assert!(server.close().await.success());
}

async fn finished_tasks_leave_room_under_the_owner_limit(store: &TestStore) {
    let mut server = Server::start(&store.url_with("max_tasks_per_owner=3"), None).await;
    // Twice the limit of tasks, each finished before the next starts.
    for _ in 0..6 {
        let task = server.start_task("sleep", json!({"seconds": 0})).await;
        let id = task["taskId"].as_str().unwrap().to_owned();
        server
            .request("tasks/result", json!({"taskId": id}))
            .await
            .expect("the task completes");
    }
    for _ in 0..3 {
        server.start_task("sleep", json!({"seconds": 600})).await;
    }
    let refused = server
        .request(
            "tools/call",
            json!({"name": "sleep", "arguments": {"seconds": 0}, "task": {}}),
        )
        .await
        .unwrap_err();
    assert_eq!(
        refused,
        json!({
            "code": 429,
            "message": "task limit exceeded: at most 3 unfinished tasks per owner",
            "data": {"limit": "per_owner", "max": 3}
        })
    );
    assert!(server.close().await.success());
}

async fn plain_calls_answer_directly_and_can_be_cancelled(store: &TestStore) {
    let mut server = Server::start(&store.url, None).await;
    let echoed = server
        .request(
            "tools/call",
            json!({"name": "echo", "arguments": {"text": "hi"}}),
        )
        .await
        .unwrap();
    assert_eq!(echoed, json!({"content": [{"type": "text", "text": "hi"}]}));
    let slept = server
        .request(
            "tools/call",
            json!({"name": "sleep", "arguments": {"seconds": 0}}),
        )
        .await
        .unwrap();
    assert_eq!(slept["content"][0]["text"], "slept 0 s");

    // A long plain sleep is aborted by notifications/cancelled and never answered.
    let long = server
        .send_request(
            "tools/call",
            json!({"name": "sleep", "arguments": {"seconds": 600}}),
        )
        .await;
    server
        .send(json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": long, "reason": "test"}}))
        .await;
    assert_eq!(server.request("ping", json!({})).await, Ok(json!({})));
    let listed = server.request("tasks/list", json!({})).await.unwrap();
    assert_eq!(listed["tasks"], json!([]), "plain calls create no task");
    assert!(!server.has_unread(|m| m["id"] == long));
    assert!(server.close().await.success());
}

async fn requests_before_initialize_are_refused_except_ping(store: &TestStore) {
    let mut server = Server::spawn(&store.url, None);
    assert_eq!(server.request("ping", json!({})).await, Ok(json!({})));
    let early = [
        ("tools/list", json!({})),
        ("tasks/list", json!({})),
        ("tasks/get", json!({"taskId": "t"})),
        (
            "tools/call",
            json!({"name": "sleep", "arguments": {"seconds": 0}, "task": {}}),
        ),
        ("resources/list", json!({})),
    ];
    for (method, params) in &early {
        let error = server.request(method, params.clone()).await.unwrap_err();
        assert_eq!(code(error.clone()), -32600, "{method}: {error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("initialize"), "{message}");
    }
    // A failed initialize leaves the session closed.
    let failed = server.request("initialize", json!({})).await.unwrap_err();
    assert_eq!(code(failed), -32602);
    let error = server.request("tools/list", json!({})).await.unwrap_err();
    assert_eq!(code(error), -32600);

    // A request sent right behind initialize, without waiting for its answer, is served.
    let init = json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}});
    let initialize = server.send_request("initialize", init).await;
    let listing = server.send_request("tasks/list", json!({})).await;
    assert!(server.answer(&initialize).await.is_ok());
    let listed = server.answer(&listing).await.unwrap();
    assert_eq!(
        listed["tasks"],
        json!([]),
        "the early tools/call made no task"
    );
    assert!(server.request("tools/list", json!({})).await.is_ok());
    assert!(server.close().await.success());
}

async fn a_second_request_with_an_id_in_flight_is_refused(store: &TestStore) {
    let mut server = Server::start(&store.url, None).await;
    let task = server.start_task("sleep", json!({"seconds": 600})).await;
    let task_id = task["taskId"].as_str().unwrap().to_owned();
    let id = json!("same-id");
    // tasks/result stays in flight until the task ends; a ping reuses its id meanwhile.
    server
        .send(json!({"jsonrpc": "2.0", "id": id, "method": "tasks/result", "params": {"taskId": task_id}}))
        .await;
    server
        .send(json!({"jsonrpc": "2.0", "id": id, "method": "ping"}))
        .await;
    let refused = server.answer(&id).await.unwrap_err();
    assert_eq!(code(refused.clone()), -32600, "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("in flight"),
        "{refused}"
    );
    // The first request is untouched: it answers when the task ends.
    server
        .request("tasks/cancel", json!({"taskId": task_id}))
        .await
        .unwrap();
    let first = server.answer(&id).await.unwrap_err();
    assert_eq!(
        first["data"],
        json!({"taskId": task_id, "status": "cancelled"})
    );

    // Once answered, the id is free again; and the first of two is still the one cancelled.
    assert_eq!(
        server.request("ping", json!({})).await,
        Ok(json!({})),
        "ids are free once answered"
    );
    let long = json!("long");
    server
        .send(json!({"jsonrpc": "2.0", "id": long, "method": "tools/call", "params": {"name": "sleep", "arguments": {"seconds": 600}}}))
        .await;
    server
        .send(json!({"jsonrpc": "2.0", "id": long, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "x"}}}))
        .await;
    assert_eq!(code(server.answer(&long).await.unwrap_err()), -32600);
    server
        .send(json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": long}}))
        .await;
    assert_eq!(server.request("ping", json!({})).await, Ok(json!({})));
    assert!(!server.has_unread(|m| m["id"] == long));
    assert!(server.close().await.success());
}

/// Cases that need a store several processes share: `cross_process::<store>::<case>`.
mod cross_process {
    use super::*;

    store_tests!(
        stores: [sqlite, redis, postgres],
        cases: [
            tasks_are_shared_by_owner_across_processes,
            shutdown_fails_the_tasks_it_abandons,
        ]
    );

    async fn tasks_are_shared_by_owner_across_processes(store: &TestStore) {
        assert!(store.shared);
        let owner = unique_owner("shared");
        let mut first = Server::start(&store.url, Some(&owner)).await;
        let mut twin = Server::start(&store.url, Some(&owner)).await;
        let mut stranger = Server::start(&store.url, Some(&unique_owner("stranger"))).await;

        // tasks/result in the twin wakes when the first process completes the task.
        let quick = first
            .start_task("sleep", json!({"seconds": 0.3, "text": "shared"}))
            .await;
        let quick_id = quick["taskId"].as_str().unwrap().to_owned();
        let result = twin
            .request("tasks/result", json!({"taskId": quick_id}))
            .await
            .unwrap();
        assert_eq!(result["content"][0]["text"], "shared");
        let listed = twin.request("tasks/list", json!({})).await.unwrap();
        assert_eq!(listed["tasks"][0]["taskId"], quick_id.as_str());

        // A cancel from the twin stops the work in the first process, which reports it.
        let long = first.start_task("sleep", json!({"seconds": 600})).await;
        let long_id = long["taskId"].as_str().unwrap().to_owned();
        let cancelled = twin
            .request("tasks/cancel", json!({"taskId": long_id}))
            .await
            .unwrap();
        assert_eq!(cancelled["status"], "cancelled");
        first.status_notification(&long_id, "cancelled").await;

        // Another owner sees none of it.
        for method in ["tasks/get", "tasks/result", "tasks/cancel"] {
            let error = stranger
                .request(method, json!({"taskId": quick_id}))
                .await
                .unwrap_err();
            assert_eq!(code(error), -32602, "{method}");
        }
        let nothing = stranger.request("tasks/list", json!({})).await.unwrap();
        assert_eq!(nothing["tasks"], json!([]));
        for server in [first, twin, stranger] {
            assert!(server.close().await.success());
        }
    }

    async fn shutdown_fails_the_tasks_it_abandons(store: &TestStore) {
        let owner = unique_owner("shutdown");
        let mut first = Server::start(&store.url, Some(&owner)).await;
        let long = first.start_task("sleep", json!({"seconds": 600})).await;
        let done = first.start_task("sleep", json!({"seconds": 0})).await;
        first
            .status_notification(done["taskId"].as_str().unwrap(), "completed")
            .await;
        assert!(first.close().await.success());

        let mut second = Server::start(&store.url, Some(&owner)).await;
        let abandoned = second
            .request("tasks/get", json!({"taskId": long["taskId"]}))
            .await
            .unwrap();
        assert_eq!(abandoned["status"], "failed");
        assert_eq!(
            abandoned["statusMessage"],
            "the server shut down before the task finished"
        );
        let finished = second
            .request("tasks/get", json!({"taskId": done["taskId"]}))
            .await
            .unwrap();
        assert_eq!(
            finished["status"], "completed",
            "finished tasks are left alone"
        );
        assert!(second.close().await.success());
    }
}
