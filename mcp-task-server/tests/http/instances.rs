//! Several `--http` instances on one store (a SQLite file, a Redis prefix, a PostgreSQL
//! schema): a task created through one is read, answered and cancelled through another, and
//! the work resumes or stops where it runs; an instance killed with SIGKILL leaves its
//! unfinished tasks to lapse into `failed`, seen from the others with no command run; a
//! restarted instance runs nothing again and loses nothing. Waits are bounded only to fail a
//! broken server instead of hanging; no assertion depends on speed.

use crate::common::{self, TestStore};
use crate::support::{Client, Server};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The lease of the instances in these tests, in seconds (the default is 60).
const LEASE_SECS: u64 = 3;

/// What a client sees of a task whose instance died.
const LAPSED: &str = "the server instance running this task stopped before it finished";

/// Guards against a hang only.
const PATIENCE: Duration = Duration::from_secs(120);

fn start(store: &str, lease_secs: u64) -> Server {
    Server::start(&["--store", store, "--lease-secs", &lease_secs.to_string()])
}

fn confirm(value: bool) -> Value {
    json!({"action": "accept", "content": {"confirm": value}})
}

fn value(text: &str) -> Value {
    json!({"action": "accept", "content": {"value": text}})
}

/// Whether input request `key` is pending. The work of `multi_input` asks for its two
/// values in two changes, so `input_required` alone does not say both are pending.
fn asks(key: &'static str) -> impl Fn(&Value) -> bool {
    move |task| task["inputRequests"].get(key).is_some()
}

fn is_terminal(task: &Value) -> bool {
    ["completed", "failed", "cancelled"].contains(&task["status"].as_str().unwrap_or_default())
}

/// Polls `tasks/get` until `done` holds for the task, and returns it.
async fn poll_until(client: &Client, task_id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let task = client.get(task_id).await.expect("the task is known");
        if done(&task) {
            return task;
        }
        assert!(Instant::now() < deadline, "never got there: {task}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn text_of(task: &Value) -> &str {
    task["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
}

async fn dead_instance(store: TestStore) {
    let first = start(&store.url, LEASE_SECS);
    let second = start(&store.url, LEASE_SECS);
    let (a, b) = (first.client(), second.client());
    assert!(first.log().contains(&format!("lease: {LEASE_SECS} s")));

    // Created through A; answered, cancelled and read through B. The work runs in A.
    let answered = a
        .start_task("confirm_delete", json!({"filename": "x"}))
        .await;
    let cancelled = a.start_task("slow_compute", json!({"seconds": 600})).await;
    let parked = a.start_task("multi_input", json!({})).await;
    let running = a.start_task("slow_compute", json!({"seconds": 600})).await;
    b.wait_for(&answered, "input_required").await;
    b.update(&answered, json!({"confirm": confirm(true)}))
        .await
        .expect("an ack");
    b.cancel(&cancelled).await.expect("an ack");
    poll_until(&b, &parked, asks("input-a")).await;
    b.update(&parked, json!({"input-a": value("one")}))
        .await
        .expect("an ack");
    let done = b.wait_for(&answered, "completed").await;
    assert_eq!(text_of(&done), "confirm_delete(x): confirmed = true");
    b.wait_for(&cancelled, "cancelled").await;

    // Live work keeps its lease, waiting for input or not, however long it takes.
    tokio::time::sleep(Duration::from_secs(2 * LEASE_SECS)).await;
    let waiting = b.get(&parked).await.expect("known");
    assert_eq!(waiting["status"], "input_required", "{waiting}");
    assert_eq!(
        waiting["inputRequests"].as_object().map(|r| r.len()),
        Some(1),
        "{waiting}"
    );
    assert_eq!(b.get(&running).await.expect("known")["status"], "working");

    // A dies; B fails its unfinished tasks once their lease lapses, with no command run.
    first.kill();
    let killed = Instant::now();
    for task_id in [&parked, &running] {
        let lapsed = poll_until(&b, task_id, is_terminal).await;
        eprintln!("{task_id} failed {:?} after the kill", killed.elapsed());
        assert_eq!(lapsed["status"], "failed", "{lapsed}");
        assert_eq!(lapsed["statusMessage"], LAPSED, "{lapsed}");
        assert_eq!(lapsed["error"]["code"], -32603, "{lapsed}");
        assert_eq!(lapsed["error"]["message"], LAPSED, "{lapsed}");
    }
    assert_eq!(b.get(&answered).await.expect("known"), done);
    assert_eq!(
        b.get(&cancelled).await.expect("known")["status"],
        "cancelled"
    );

    // A restarted A loses nothing and runs nothing again: every task stays exactly as it was
    // (lastUpdatedAt included) for two more leases, seen through either instance.
    let ids = [&answered, &cancelled, &parked, &running];
    let mut before = Vec::new();
    for task_id in ids {
        before.push(b.get(task_id).await.expect("known"));
    }
    let restarted = start(&store.url, LEASE_SECS);
    let a = restarted.client();
    tokio::time::sleep(Duration::from_secs(2 * LEASE_SECS)).await;
    for (task_id, before) in ids.into_iter().zip(&before) {
        assert_eq!(&a.get(task_id).await.expect("known"), before);
        assert_eq!(&b.get(task_id).await.expect("known"), before);
    }
    // And it runs new work, answered through B.
    let fresh = a.start_task("confirm_delete", json!({})).await;
    b.wait_for(&fresh, "input_required").await;
    b.update(&fresh, json!({"confirm": confirm(false)}))
        .await
        .expect("an ack");
    let fresh = a.wait_for(&fresh, "completed").await;
    assert_eq!(
        text_of(&fresh),
        "confirm_delete(file.txt): confirmed = false"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_instances_tasks_fail_and_a_restart_loses_none_sqlite() {
    dead_instance(common::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_instances_tasks_fail_and_a_restart_loses_none_redis() {
    dead_instance(common::redis()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_instances_tasks_fail_and_a_restart_loses_none_postgres() {
    dead_instance(common::postgres()).await;
}

/// How many tasks the load test runs, half created through each instance.
const LOAD_TASKS: usize = 300;

/// One task of the load test: what it is, what the clients do with it, and how its worker
/// must settle it. `via` is the instance that creates it; `other` the other one.
async fn one_task(n: usize, via: Client, other: Client) {
    let at = |pick: usize| if pick.is_multiple_of(2) { &via } else { &other };
    let (task_id, status, text) = match n % 6 {
        // An answer through the other instance resumes the work.
        0 => {
            let id = via
                .start_task("confirm_delete", json!({"filename": n.to_string()}))
                .await;
            poll_until(&other, &id, asks("confirm")).await;
            other
                .update(&id, json!({"confirm": confirm(true)}))
                .await
                .expect("an ack");
            (
                id,
                "completed",
                Some(format!("confirm_delete({n}): confirmed = true")),
            )
        }
        // Two answers, one through each instance.
        1 => {
            let id = via.start_task("multi_input", json!({})).await;
            poll_until(&other, &id, asks("input-a")).await;
            poll_until(&other, &id, asks("input-b")).await;
            other
                .update(&id, json!({"input-a": value(&format!("a{n}"))}))
                .await
                .expect("an ack");
            via.update(&id, json!({"input-b": value(&format!("b{n}"))}))
                .await
                .expect("an ack");
            (
                id,
                "completed",
                Some(format!("multi_input: a = a{n}, b = b{n}")),
            )
        }
        // A cancel while the work waits for input.
        2 => {
            let id = via.start_task("confirm_delete", json!({})).await;
            poll_until(at(n / 6), &id, asks("confirm")).await;
            at(n / 6 + 1).cancel(&id).await.expect("an ack");
            (id, "cancelled", None)
        }
        // A cancel of long work, through either instance.
        3 => {
            let id = via
                .start_task("slow_compute", json!({"seconds": 600}))
                .await;
            at(n / 6).cancel(&id).await.expect("an ack");
            (id, "cancelled", None)
        }
        // Short work, left alone.
        4 => {
            let id = via
                .start_task(
                    "slow_compute",
                    json!({"seconds": 0.2, "label": n.to_string()}),
                )
                .await;
            (
                id,
                "completed",
                Some(format!("slow_compute({n}) done after 0.2s")),
            )
        }
        // An answer, a late cancel after it, through the instance that did not answer: the
        // work has its answer and completes.
        _ => {
            let id = via
                .start_task("confirm_delete", json!({"filename": n.to_string()}))
                .await;
            poll_until(&via, &id, asks("confirm")).await;
            via.update(&id, json!({"confirm": confirm(false)}))
                .await
                .expect("an ack");
            let done = poll_until(&other, &id, is_terminal).await;
            other.cancel(&id).await.expect("an ack");
            assert_eq!(done["status"], "completed", "{done}");
            (
                id,
                "completed",
                Some(format!("confirm_delete({n}): confirmed = false")),
            )
        }
    };
    let settled = poll_until(at(n), &task_id, is_terminal).await;
    assert_eq!(settled["status"], status, "task {n}: {settled}");
    match text {
        Some(text) => assert_eq!(text_of(&settled), text, "task {n}"),
        None => assert!(settled.get("result").is_none(), "task {n}: {settled}"),
    }
    assert!(settled.get("error").is_none(), "task {n}: {settled}");
    // Both instances see the same end.
    assert_eq!(at(n + 1).get(&task_id).await.expect("known"), settled);
}

async fn many_tasks(store: TestStore) {
    // A lease long enough that renewals keep up on a loaded machine; under load it must hold.
    let first = start(&store.url, 10);
    let second = start(&store.url, 10);
    let (a, b) = (first.client(), second.client());
    let limit = Arc::new(tokio::sync::Semaphore::new(48));
    let mut flows = tokio::task::JoinSet::new();
    for n in 0..LOAD_TASKS {
        let (via, other) = if n.is_multiple_of(2) {
            (a.clone(), b.clone())
        } else {
            (b.clone(), a.clone())
        };
        let limit = Arc::clone(&limit);
        flows.spawn(async move {
            let _turn = limit.acquire_owned().await.expect("the semaphore is open");
            one_task(n, via, other).await;
        });
    }
    let started = Instant::now();
    while let Some(flow) = flows.join_next().await {
        flow.expect("every task ends as its worker settled it");
    }
    eprintln!("{LOAD_TASKS} tasks settled in {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_across_two_instances_end_as_their_workers_settled_them_sqlite() {
    many_tasks(common::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_across_two_instances_end_as_their_workers_settled_them_redis() {
    many_tasks(common::redis()).await;
}

/// Instances sharing a store and a token file agree on owners: a principal reaches its task
/// through any instance, and another principal gets the answer of an unknown id there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn principals_hold_across_instances() {
    let store = common::sqlite();
    let dir = tempfile::tempdir().expect("a temp dir");
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "tok-alice=alice\ntok-bob=bob\n").expect("written");
    let tokens = tokens.to_str().expect("a UTF-8 path");
    let args = ["--store", store.url.as_str(), "--auth-file", tokens];
    let (first, second) = (Server::start(&args), Server::start(&args));
    let task_id = first
        .client_with_token("tok-alice")
        .start_task("confirm_delete", json!({}))
        .await;
    let alice = second.client_with_token("tok-alice");
    let bob = second.client_with_token("tok-bob");
    poll_until(&alice, &task_id, asks("confirm")).await;
    assert_eq!(
        bob.get(&task_id).await,
        Err(crate::support::unknown_task(&task_id))
    );
    assert_eq!(
        second
            .client()
            .post("tasks/get", json!({"taskId": task_id}))
            .await
            .status,
        401
    );
    alice
        .update(&task_id, json!({"confirm": confirm(true)}))
        .await
        .expect("an ack");
    alice.wait_for(&task_id, "completed").await;
}
