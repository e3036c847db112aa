//! Takes three tasks through their lifecycle on the in-memory store and prints what happens:
//! one completes after asking for input, one fails, one is cancelled mid-work.
//!
//! Run with `cargo run -p task-store-memory --example lifecycle`.

use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use task_core::{
    NewTask, Retry, Scope, StoreConfig, TaskError, TaskStore, TaskStoreExt, task_execution,
    wait_for_result,
};
use task_store_memory::MemoryTaskStore;

#[tokio::main]
async fn main() -> Result<(), TaskError> {
    let store: Arc<dyn TaskStore> = Arc::new(MemoryTaskStore::new(
        StoreConfig::default().with_max_ttl(Some(3_600_000)),
    ));
    let session = Scope::owner("session-1");
    let new = || NewTask::new().owned_by("session-1").with_ttl(60_000);

    let report = store.create(new().with_message("queued")).await?;
    let broken = store.create(new()).await?;
    let endless = store.create(new()).await?;
    for task in [&report, &broken, &endless] {
        println!("created  {}  {}", task.task_id, task.status);
    }
    let watchers: Vec<_> = [&report, &broken, &endless]
        .into_iter()
        .map(|task| tokio::spawn(watch(store.clone(), session.clone(), task.task_id.clone())))
        .collect();

    let worker = tokio::spawn({
        let store = store.clone();
        let id = report.task_id.clone();
        async move {
            task_execution(store, &id, |mut ctx| async move {
                ctx.update_status("reading files").await?;
                pause().await;
                ctx.require_input("which format?").await?;
                pause().await;
                ctx.resume(Some("writing the report".into())).await?;
                pause().await;
                let result = json!({ "content": [{ "type": "text", "text": "report.pdf" }] });
                ctx.complete(result.as_object().cloned().unwrap_or_default())
                    .await?;
                Ok::<_, TaskError>(())
            })
            .await
        }
    });
    let failing = tokio::spawn({
        let store = store.clone();
        let id = broken.task_id.clone();
        async move {
            task_execution(store, &id, |mut ctx| async move {
                ctx.update_status("connecting")
                    .await
                    .map_err(|e| e.to_string())?;
                pause().await;
                Err::<(), String>("upstream refused the connection".into())
            })
            .await
        }
    });
    let cancellable = tokio::spawn({
        let store = store.clone();
        let id = endless.task_id.clone();
        async move {
            task_execution(store, &id, |ctx| async move {
                // Runs until someone cancels it through the store.
                ctx.cancelled().await?;
                println!("worker   {}  saw the cancel and stopped", ctx.task_id());
                Ok::<_, TaskError>(())
            })
            .await
        }
    });

    pause().await;
    let cancelled = store.cancel(&session, &endless.task_id).await?;
    println!("cancel   {}  -> {}", cancelled.task_id, cancelled.status);
    match store.cancel(&session, &endless.task_id).await {
        Err(error) => {
            let rpc = task_core::ErrorData::from(&error);
            println!(
                "cancel   {}  again: {} {}",
                endless.task_id, rpc.code, rpc.message
            );
        }
        Ok(task) => println!(
            "cancel   {}  again unexpectedly gave {}",
            task.task_id, task.status
        ),
    }

    for handle in [worker, failing, cancellable] {
        handle
            .await
            .map_err(|e| TaskError::backend("example", Retry::Never, e))??;
    }
    for watcher in watchers {
        watcher
            .await
            .map_err(|e| TaskError::backend("example", Retry::Never, e))??;
    }
    for task in [&report, &broken, &endless] {
        let (task, outcome) =
            wait_for_result(store.as_ref(), &session, &task.task_id, None).await?;
        let outcome = outcome.map_or("none".to_owned(), |o| {
            serde_json::to_string(&o).unwrap_or_default()
        });
        println!("result   {}  {}  {}", task.task_id, task.status, outcome);
    }
    Ok(())
}

/// Prints every change of one task until it is terminal, driven by the store's wait.
async fn watch(store: Arc<dyn TaskStore>, scope: Scope, id: String) -> Result<(), TaskError> {
    let mut task = store.get(&scope, &id).await?;
    while !task.is_terminal() {
        task = store
            .wait_for_update(&scope, &id, task.last_updated_at, None)
            .await?;
        let message = task.status_message.as_deref().unwrap_or("");
        println!(
            "update   {}  {:<14} {message}",
            task.task_id,
            task.status.as_str()
        );
    }
    Ok(())
}

async fn pause() {
    tokio::time::sleep(Duration::from_millis(100)).await;
}
