//! One MCP session: the methods it answers, the tasks it runs, and their status notifications.

use crate::message::response;
use crate::tools::Tool;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;
use task_core::jsonrpc::{ErrorData, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, code_name};
use task_core::{Scope, Task, TaskChange, TaskError, TaskStore};
use task_protocol::notify::watch_task;
use task_protocol::params::{CallToolParams, parse};
use task_protocol::{check_task_support, start_tool_task, tasks_capability};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tracing::Instrument;
use tracing::field::Empty;

/// The protocol revision this server speaks.
pub const PROTOCOL_VERSION: &str = "2025-11-25";

/// The status message of a task whose work was still running when the server stopped.
pub const SHUTDOWN_MESSAGE: &str = "the server shut down before the task finished";

/// Where outgoing messages go; one writer drains it, so lines never interleave.
pub type Outbox = mpsc::Sender<Value>;

/// A session's state. Requests are handled concurrently, each in its own tokio task.
#[derive(Debug)]
pub struct Server {
    store: Arc<dyn TaskStore>,
    caller: Scope,
    outbox: Outbox,
    /// Tasks whose work runs in this process.
    running: Arc<Mutex<HashSet<String>>>,
    /// Status watchers and worker monitors.
    background: Mutex<JoinSet<()>>,
    /// Whether `initialize` has succeeded; until then only `ping` is served.
    initialized: AtomicBool,
}

/// What a method answered: a plain result, or a created task to watch once it is answered.
enum Reply {
    Result(Value),
    TaskCreated { result: Value, task: Task },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitializeParams {
    protocol_version: Value,
    #[serde(default)]
    client_info: Option<Value>,
}

#[derive(Deserialize)]
struct ListToolsParams {
    #[serde(default)]
    cursor: Option<String>,
}

impl Server {
    /// A session whose tasks are bound to `owner`.
    pub fn new(store: Arc<dyn TaskStore>, owner: String, outbox: Outbox) -> Arc<Self> {
        Arc::new(Server {
            store,
            caller: Scope::Owner(owner),
            outbox,
            running: Arc::default(),
            background: Mutex::new(JoinSet::new()),
            initialized: AtomicBool::new(false),
        })
    }

    /// Answers one request, then starts watching the task it created, if any: the status
    /// notifications of a task never precede its `CreateTaskResult`.
    ///
    /// The request runs in an INFO span `request` with its method, the task id it names or
    /// creates, the session's owner and its outcome (`ok` or the error code's name), and
    /// never its params or result; an INFO event `done` in the span reports it answered.
    pub async fn handle_request(&self, id: Value, method: String, params: Option<Value>) {
        let task_id = params
            .as_ref()
            .and_then(|params| params.get("taskId"))
            .and_then(Value::as_str);
        let span = tracing::info_span!(
            "request",
            method = method.as_str(),
            task_id,
            owner = self.caller.owner_name(),
            outcome = Empty,
        );
        let started = Instant::now();
        let reply = self
            .dispatch(&method, params)
            .instrument(span.clone())
            .await;
        let (outcome, created) = match reply {
            Ok(Reply::Result(result)) => (Ok(result), None),
            Ok(Reply::TaskCreated { result, task }) => {
                span.record("task_id", task.task_id.as_str());
                (Ok(result), Some(task))
            }
            Err(error) => (Err(error), None),
        };
        let name = outcome
            .as_ref()
            .map_or_else(|e| code_name(e.code), |_| "ok");
        span.record("outcome", name);
        tracing::info!(parent: &span, elapsed = ?started.elapsed(), "done");
        // A closed outbox means the client is gone; there is nobody left to answer.
        let _ = self.outbox.send(response(id, outcome)).await;
        if let Some(task) = created {
            self.watch(task);
        }
    }

    /// Handles a notification from the client; unknown ones are ignored, as JSON-RPC asks.
    pub fn handle_notification(&self, method: &str) {
        if method == "notifications/initialized" {
            log!("client initialized");
        }
    }

    /// Stops the session: tasks whose work runs here can no longer finish, so they end
    /// `failed` rather than stay `working` in a shared store; watchers stop.
    pub async fn shutdown(&self) {
        let running: Vec<String> = lock(&self.running).drain().collect();
        for task_id in running {
            let change = TaskChange::fail(SHUTDOWN_MESSAGE);
            match self.store.update(&Scope::All, &task_id, change).await {
                Ok(_) | Err(TaskError::InvalidTransition { .. } | TaskError::NotFound { .. }) => {}
                Err(error) => log!("could not mark task {task_id} failed at shutdown: {error}"),
            }
        }
        lock(&self.background).abort_all();
    }

    async fn dispatch(&self, method: &str, params: Option<Value>) -> Result<Reply, ErrorData> {
        let result = match method {
            "initialize" => {
                let result = initialize(params)?;
                self.initialized.store(true, Ordering::Release);
                result
            }
            "ping" => json!({}),
            // The specification allows only pings before the session is initialized.
            _ if !self.initialized.load(Ordering::Acquire) => {
                return Err(ErrorData::new(
                    INVALID_REQUEST,
                    format!("Invalid request: {method} before initialize; send initialize first"),
                ));
            }
            "tools/list" => list_tools(params)?,
            "tools/call" => return self.call_tool(params).await,
            _ => match task_protocol::handle(self.store.as_ref(), &self.caller, method, params)
                .await
            {
                Some(outcome) => outcome?,
                None => {
                    return Err(ErrorData::new(
                        METHOD_NOT_FOUND,
                        format!("Method not found: {method}"),
                    ));
                }
            },
        };
        Ok(Reply::Result(result))
    }

    async fn call_tool(&self, params: Option<Value>) -> Result<Reply, ErrorData> {
        let call: CallToolParams = parse(params)?;
        let tool = Tool::find(&call.name).ok_or_else(|| {
            ErrorData::new(INVALID_PARAMS, format!("Unknown tool: {}", call.name))
        })?;
        check_task_support(tool.task_support().unwrap_or_default(), call.task.is_some())?;
        let arguments = call.arguments.clone().unwrap_or_default();
        if call.task.is_none() {
            return Ok(Reply::Result(Value::Object(tool.run(arguments).await?)));
        }
        let started = start_tool_task(self.store.clone(), &self.caller, &call, move |_| {
            tool.run(arguments)
        })
        .await?;
        let result = started.result_json()?;
        let task = started.task().clone();
        self.monitor(task.task_id.clone(), started.worker);
        Ok(Reply::TaskCreated { result, task })
    }

    /// Tracks a running worker until it ends, so that shutdown knows which tasks it abandons.
    fn monitor(&self, task_id: String, worker: JoinHandle<Result<(), TaskError>>) {
        lock(&self.running).insert(task_id.clone());
        let running = self.running.clone();
        self.spawn(async move {
            match worker.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => log!("task {task_id}: could not record its outcome: {error}"),
                Err(error) => log!("task {task_id}: worker stopped: {error}"),
            }
            lock(&running).remove(&task_id);
        });
    }

    /// Sends `notifications/tasks/status` for each change of one of the session's tasks.
    fn watch(&self, task: Task) {
        let (store, caller, outbox) =
            (self.store.clone(), self.caller.clone(), self.outbox.clone());
        self.spawn(async move {
            let send = |message| {
                let outbox = outbox.clone();
                async move {
                    let _ = outbox.send(message).await;
                }
            };
            if let Err(error) = watch_task(store.as_ref(), &caller, &task, send).await {
                log!(
                    "task {}: stopped sending status notifications: {error}",
                    task.task_id
                );
            }
        });
    }

    fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        let mut background = lock(&self.background);
        // Reap what has finished so the set only holds live work.
        while background.try_join_next().is_some() {}
        background.spawn(work);
    }
}

/// `initialize`: agrees on 2025-11-25 and declares tools and tasks.
fn initialize(params: Option<Value>) -> Result<Value, ErrorData> {
    let params: InitializeParams = parse(params)?;
    if params.protocol_version != PROTOCOL_VERSION {
        log!(
            "client asked for protocol {}; answering with {PROTOCOL_VERSION}",
            params.protocol_version
        );
    }
    if let Some(client) = params
        .client_info
        .as_ref()
        .and_then(|info| info.get("name"))
    {
        log!("client {client} connected");
    }
    Ok(json!({
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": { "tools": {}, "tasks": tasks_capability() },
        "serverInfo": { "name": "mcp-task-server", "version": env!("CARGO_PKG_VERSION") },
        "instructions": "Call `sleep` or `fail` as a task (params.task = {ttl}) and follow it with tasks/get, tasks/result, tasks/list and tasks/cancel.",
    }))
}

/// `tools/list`: one page holds every tool, so any cursor is one this server never gave.
fn list_tools(params: Option<Value>) -> Result<Value, ErrorData> {
    let params: ListToolsParams = parse(params)?;
    if params.cursor.is_some() {
        return Err(ErrorData::new(INVALID_PARAMS, "Invalid cursor"));
    }
    let tools: Vec<Value> = Tool::ALL.into_iter().map(Tool::definition).collect();
    Ok(json!({ "tools": tools }))
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
