//! Another owner's task costs exactly what a missing one costs: for every scoped call, the
//! commands Redis runs (the scripts' own calls included, counted by `INFO commandstats` on a
//! private server) are the same for a foreign id as for a missing one, and so is the answer.
//! No extra round trip tells an owner that a foreign id exists.

mod support;

use serde_json::Map;
use std::collections::BTreeMap;
use support::{PrivateRedis, fresh_prefix, open_at, raw};
use task_core::{NewTask, PageRequest, Scope, StoreConfig, TaskStore, TaskStoreExt};
use task_store_redis::{RedisOptions, RedisTaskStore, redis};

/// Calls per command since the server started, leaving out INFO itself.
fn command_calls(url: &str) -> BTreeMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut raw(url))
        .expect("INFO commandstats");
    info.lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            (name != "info").then(|| (name.to_owned(), calls))
        })
        .collect()
}

/// What a call made Redis run: the change in each command's count.
async fn cost<F, Fut>(url: &str, call: F) -> (BTreeMap<String, u64>, String)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let before = command_calls(url);
    let answer = call().await;
    let after = command_calls(url);
    let delta = after
        .into_iter()
        .map(|(name, calls)| {
            let was = before.get(&name).copied().unwrap_or(0);
            (name, calls - was)
        })
        .filter(|(_, calls)| *calls > 0)
        .collect();
    (delta, answer)
}

/// The answer with the id taken out, so a foreign and a missing id can be compared.
fn answer<T: std::fmt::Debug>(result: Result<T, task_core::TaskError>, id: &str) -> String {
    format!("{result:?}").replace(id, "<id>")
}

/// Runs the scoped call `name` on `id` and returns its answer.
async fn one_call(store: &RedisTaskStore, scope: &Scope, id: &str, name: &str) -> String {
    match name {
        "get" => answer(store.get(scope, id).await, id),
        "get_record" => answer(store.get_record(scope, id).await, id),
        "get_result" => answer(store.get_result(scope, id).await, id),
        "set_message" => answer(store.set_message(scope, id, "x").await, id),
        "cancel" => answer(store.cancel(scope, id).await, id),
        "complete" => answer(store.complete(scope, id, Map::new()).await, id),
        "delete" => answer(store.delete(scope, id).await, id),
        other => panic!("no call named {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_id_runs_the_same_commands_as_a_missing_one() {
    let server = PrivateRedis::start();
    let url = server.url();
    // No background commands during the test: the sweeper is off.
    let options = RedisOptions::default()
        .with_key_prefix(fresh_prefix())
        .with_sweep_interval(None);
    let store = open_at(&url, StoreConfig::default(), options).await;
    let mut alices = Vec::new();
    for _ in 0..20 {
        let task = store
            .create(NewTask::new().owned_by("alice"))
            .await
            .unwrap();
        alices.push(task.task_id);
    }
    let bob = Scope::owner("bob");
    let missing = "00000000-0000-4000-8000-000000000000";
    let names = [
        "get",
        "get_record",
        "get_result",
        "set_message",
        "cancel",
        "complete",
        "delete",
    ];
    for (n, name) in names.into_iter().enumerate() {
        let foreign = &alices[n];
        let (foreign_cost, foreign_answer) =
            cost(&url, || one_call(&store, &bob, foreign, name)).await;
        let (missing_cost, missing_answer) =
            cost(&url, || one_call(&store, &bob, missing, name)).await;
        eprintln!("{name}: {foreign_cost:?}");
        assert!(!foreign_cost.is_empty(), "{name} reached Redis");
        assert_eq!(
            foreign_cost, missing_cost,
            "{name}: commands for a foreign id"
        );
        assert_eq!(foreign_answer, missing_answer, "{name}: the answer");
    }
    // Listing: bob, while alice has tasks, costs what carol costs in a store of nobody's.
    let (bob_cost, bob_page) = cost(&url, || async {
        format!("{:?}", store.list(&bob, PageRequest::first()).await)
    })
    .await;
    let empty = open_at(
        &url,
        StoreConfig::default(),
        RedisOptions::default()
            .with_key_prefix(fresh_prefix())
            .with_sweep_interval(None),
    )
    .await;
    let (carol_cost, carol_page) = cost(&url, || async {
        let carol = Scope::owner("carol");
        format!("{:?}", empty.list(&carol, PageRequest::first()).await)
    })
    .await;
    eprintln!("list: {bob_cost:?}");
    assert_eq!(bob_cost, carol_cost, "list: commands");
    assert_eq!(bob_page, carol_page, "list: the page");
    // None of bob's attempts changed alice's tasks.
    for id in &alices {
        let task = store.get(&Scope::owner("alice"), id).await.unwrap();
        assert_eq!(task.status, task_core::TaskStatus::Working, "{id}");
    }
}
