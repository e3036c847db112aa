//! Task managers: rmcp's in-memory `TaskManager` and ours (task-store-rmcp) on each of our
//! stores, driven through the same calls. Every spawned task's work either waits for input
//! round after round, or waits for a cancel request; it reports when it resumes or sees the
//! cancel, so the latencies end where the work's own code runs again.

use crate::workload::{OWNER, Res, Subject, TTL_MS};
use rmcp::model::{CallToolResult, DetailedTask, InputRequest, TaskPayload};
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use task_core::TaskStore;
use task_store_rmcp::{TaskExit, TaskOptions};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Longest the measurement waits for work to park, resume or see a cancel.
const GUARD: Duration = Duration::from_secs(5);

/// What the work of a spawned task does.
pub enum Work {
    /// Asks for input under keys `k0`, `k1`, …; says just before each request that it is
    /// about to ask, and reports each time it resumes.
    Ask {
        asking: mpsc::UnboundedSender<()>,
        resumed: mpsc::UnboundedSender<Instant>,
    },
    /// Waits for a cancel request, reports when it sees it and ends as cancelled.
    AwaitCancel(oneshot::Sender<Instant>),
}

/// The calls of a task manager, as an MCP server makes them.
pub trait Driver: Send + Sync + 'static {
    fn start(&self, work: Work) -> impl Future<Output = Res<String>> + Send;
    fn read(&self, id: &str) -> impl Future<Output = Res<DetailedTask>> + Send;
    fn answer(&self, id: &str, key: String) -> impl Future<Output = Res<()>> + Send;
    fn request_cancel(&self, id: &str) -> impl Future<Output = Res<()>> + Send;
    /// Stops every task's work.
    fn stop(&self);
}

/// The context a task's work gets, from either manager.
trait WorkContext: Send + 'static {
    fn ask(&self, key: String) -> impl Future<Output = Result<Value, TaskExit>> + Send;
    fn cancel_requested(&self) -> impl Future<Output = ()> + Send;
}

fn input_request() -> Result<InputRequest, TaskExit> {
    let request = serde_json::json!({
        "method": "elicitation/create",
        "params": {
            "message": "Continue?",
            "requestedSchema": {"type": "object", "properties": {"go": {"type": "boolean"}}}
        }
    });
    serde_json::from_value(request)
        .map_err(|e| TaskExit::Error(rmcp::ErrorData::internal_error(e.to_string(), None)))
}

impl WorkContext for rmcp::task_manager::TaskContext {
    async fn ask(&self, key: String) -> Result<Value, TaskExit> {
        self.request_input(key, input_request()?).await
    }

    async fn cancel_requested(&self) {
        self.cancelled().await;
    }
}

impl WorkContext for task_store_rmcp::TaskContext {
    async fn ask(&self, key: String) -> Result<Value, TaskExit> {
        self.request_input(key, input_request()?).await
    }

    async fn cancel_requested(&self) {
        self.cancelled().await;
    }
}

async fn run<C: WorkContext>(context: C, work: Work) -> Result<CallToolResult, TaskExit> {
    match work {
        Work::Ask { asking, resumed } => {
            let mut round = 0_u64;
            loop {
                let _ = asking.send(());
                context.ask(format!("k{round}")).await?;
                let _ = resumed.send(Instant::now());
                round += 1;
            }
        }
        Work::AwaitCancel(seen) => {
            context.cancel_requested().await;
            let _ = seen.send(Instant::now());
            Err(TaskExit::Cancelled)
        }
    }
}

fn options() -> TaskOptions {
    TaskOptions::new().with_ttl_ms(TTL_MS)
}

impl Driver for rmcp::task_manager::TaskManager {
    async fn start(&self, work: Work) -> Res<String> {
        let task = self.spawn(options(), |context| Box::pin(run(context, work)));
        Ok(task.task_id)
    }

    async fn read(&self, id: &str) -> Res<DetailedTask> {
        Ok(self.get_task(id)?)
    }

    async fn answer(&self, id: &str, key: String) -> Res<()> {
        Ok(self.update_task(id, [(key, serde_json::json!({"action": "accept"}))])?)
    }

    async fn request_cancel(&self, id: &str) -> Res<()> {
        Ok(self.cancel_task(id)?)
    }

    fn stop(&self) {
        self.shutdown();
    }
}

impl Driver for task_store_rmcp::TaskManager {
    async fn start(&self, work: Work) -> Res<String> {
        let task = self
            .spawn(options(), |context| Box::pin(run(context, work)))
            .await?;
        Ok(task.task_id)
    }

    async fn read(&self, id: &str) -> Res<DetailedTask> {
        Ok(self.get_task(id).await?)
    }

    async fn answer(&self, id: &str, key: String) -> Res<()> {
        let answer = serde_json::json!({"action": "accept"});
        Ok(self.update_task(id, [(key, answer)]).await?)
    }

    async fn request_cancel(&self, id: &str) -> Res<()> {
        Ok(self.cancel_task(id).await?)
    }

    fn stop(&self) {
        self.shutdown();
    }
}

/// Where the asking work of one task says that it is about to ask, and that it resumed.
struct Signals {
    asking: mpsc::UnboundedReceiver<()>,
    resumed: mpsc::UnboundedReceiver<Instant>,
}

/// A task manager under test.
pub struct Manager<D: Driver> {
    driver: D,
    /// The signals of the asking work of each task.
    resumed: Mutex<HashMap<String, Signals>>,
}

impl Manager<rmcp::task_manager::TaskManager> {
    pub fn rmcp() -> Self {
        Manager::new(rmcp::task_manager::TaskManager::new())
    }
}

impl Manager<task_store_rmcp::TaskManager> {
    /// Ours on `store`, bound to the session's owner as an MCP server binds it.
    pub fn ours(store: impl TaskStore) -> Self {
        Manager::new(task_store_rmcp::TaskManager::new(Arc::new(store)).for_owner(OWNER))
    }
}

impl<D: Driver> Manager<D> {
    fn new(driver: D) -> Self {
        Manager {
            driver,
            resumed: Mutex::default(),
        }
    }

    fn resumed(&self) -> std::sync::MutexGuard<'_, HashMap<String, Signals>> {
        self.resumed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The key the work of `id` waits on, once it waits: after the work said it is about to
    /// ask (one signal per request, so none is stale), the task is read until its request
    /// shows, yielding between reads; the request is usually there at the first read.
    async fn pending_key(&self, id: &str, asking: &mut mpsc::UnboundedReceiver<()>) -> Res<String> {
        let until = Instant::now() + GUARD;
        tokio::time::timeout(GUARD, asking.recv())
            .await?
            .ok_or("the work ended")?;
        loop {
            if let TaskPayload::InputRequired { input_requests } =
                self.driver.read(id).await?.payload
                && let Some(key) = input_requests.into_keys().next()
            {
                return Ok(key);
            }
            if Instant::now() >= until {
                return Err(format!("task {id} did not ask for input within {GUARD:?}").into());
            }
            tokio::task::yield_now().await;
        }
    }
}

impl<D: Driver> Drop for Manager<D> {
    fn drop(&mut self) {
        self.driver.stop();
    }
}

impl<D: Driver> Subject for Manager<D> {
    type Version = ();
    const MANAGER: bool = true;

    async fn create(&self) -> Res<String> {
        let (asking_tx, asking) = mpsc::unbounded_channel();
        let (resumed_tx, resumed) = mpsc::unbounded_channel();
        let work = Work::Ask {
            asking: asking_tx,
            resumed: resumed_tx,
        };
        let id = self.driver.start(work).await?;
        self.resumed()
            .insert(id.clone(), Signals { asking, resumed });
        Ok(id)
    }

    async fn get(&self, id: &str) -> Res<()> {
        std::hint::black_box(self.driver.read(id).await?);
        Ok(())
    }

    async fn set_status(&self, _id: &str, _to: crate::workload::Flip) -> Res<()> {
        Err("a task manager has no status updates".into())
    }

    async fn complete(&self, _id: &str) -> Res<()> {
        Err("a task manager's work completes its task".into())
    }

    async fn cancel(&self, id: &str) -> Res<()> {
        self.driver.request_cancel(id).await
    }

    async fn list_page(&self, _cursor: Option<String>) -> Res<(usize, Option<String>)> {
        Err("a task manager does not list".into())
    }

    async fn remove(&self, ids: &[String]) -> Res<()> {
        for id in ids {
            self.driver.request_cancel(id).await?;
            self.resumed().remove(id);
        }
        Ok(())
    }

    async fn resume(&self, id: &str) -> Res<Duration> {
        let mut signals = self
            .resumed()
            .remove(id)
            .ok_or_else(|| format!("no work of task {id}"))?;
        let key = self.pending_key(id, &mut signals.asking).await?;
        let start = Instant::now();
        self.driver.answer(id, key).await?;
        let at = tokio::time::timeout(GUARD, signals.resumed.recv())
            .await?
            .ok_or("the work ended")?;
        self.resumed().insert(id.to_owned(), signals);
        Ok(at.saturating_duration_since(start))
    }

    async fn cancel_seen(&self) -> Res<Duration> {
        let (tx, rx) = oneshot::channel();
        let id = self.driver.start(Work::AwaitCancel(tx)).await?;
        // Lets the work (and our manager's cancel watch) start waiting.
        tokio::time::sleep(Duration::from_millis(1)).await;
        let start = Instant::now();
        self.driver.request_cancel(&id).await?;
        let at = tokio::time::timeout(GUARD, rx).await??;
        Ok(at.saturating_duration_since(start))
    }
}
