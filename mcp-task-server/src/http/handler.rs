//! The MCP handler of the HTTP mode: discovery, the fixture tools and `tasks/*`, every call
//! made as the request's authenticated owner.

use super::auth;
use super::fixtures;
use super::tasks::{Owner, Tasks};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, ClientCapabilities, CustomRequest,
    CustomResult, GetTaskParams, GetTaskResult, Implementation, ListToolsResult,
    PaginatedRequestParams, ProtocolVersion, ServerCapabilities, ServerConfig, UpdateTaskParams,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler};
use std::borrow::Cow;
use std::time::Instant;
use task_core::jsonrpc::code_name;
use tracing::field::Empty;
use tracing::{Instrument, Span};

/// The `tasks/*` methods of the extension, which rmcp routes here when their params do not
/// parse.
const TASK_METHODS: [&str; 3] = ["tasks/get", "tasks/update", "tasks/cancel"];

/// Serves one request as its authenticated owner, in an INFO span `request` with the method,
/// the task id it names (or the one `tools/call` creates, recorded by [`Tasks::spawn`]), the
/// owner and the outcome: `ok`, or the JSON-RPC error code's name; an INFO event `done` in
/// the span reports it answered. Never params, results or tokens.
async fn served<T, F, Fut>(
    method: &'static str,
    task_id: Option<&str>,
    cx: &RequestContext<RoleServer>,
    work: F,
) -> Result<T, ErrorData>
where
    F: FnOnce(Owner) -> Fut,
    Fut: Future<Output = Result<T, ErrorData>>,
{
    let span = tracing::info_span!("request", method, task_id, owner = Empty, outcome = Empty);
    let started = Instant::now();
    let result = async {
        let owner = auth::owner(cx)?;
        if let Some(owner) = &owner {
            Span::current().record("owner", owner.as_str());
        }
        work(owner).await
    }
    .instrument(span.clone())
    .await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(error) => code_name(i64::from(error.code.0)),
    };
    span.record("outcome", outcome);
    tracing::info!(parent: &span, elapsed = ?started.elapsed(), "done");
    result
}

/// One handler per request (rmcp's HTTP service builds one for each); the tasks are shared.
#[derive(Clone)]
pub struct TaskServer {
    tasks: Tasks,
}

impl TaskServer {
    /// A handler serving `tasks`.
    pub fn new(tasks: Tasks) -> Self {
        TaskServer { tasks }
    }
}

impl ServerHandler for TaskServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tasks()
                .build(),
        )
        .with_server_info(Implementation::new(
            "mcp-task-server",
            env!("CARGO_PKG_VERSION"),
        ))
    }

    /// Only 2026-07-28: the HTTP mode is stateless, without the older revisions' sessions.
    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Owned(vec![ProtocolVersion::V_2026_07_28])
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        cx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        served("tools/list", None, &cx, |_| async {
            Ok(ListToolsResult::with_all_items(fixtures::tools()))
        })
        .await
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let cx = &cx;
        served("tools/call", None, cx, |owner| async move {
            fixtures::call(&self.tasks, &owner, request, cx).await
        })
        .await
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        let task_id = request.task_id.as_str();
        served("tasks/get", Some(task_id), &cx, |owner| async move {
            let task = self.tasks.get(&owner, task_id).await?;
            Ok(GetTaskResult::new(task))
        })
        .await
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let task_id = request.task_id.as_str();
        served("tasks/update", Some(task_id), &cx, |owner| async move {
            let responses = request.input_responses;
            self.tasks.update(&owner, task_id, responses).await
        })
        .await
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let task_id = request.task_id.as_str();
        served("tasks/cancel", Some(task_id), &cx, |owner| async move {
            self.tasks.cancel(&owner, task_id).await
        })
        .await
    }

    /// A `tasks/*` request whose params do not parse gets -32602 (after the extension check
    /// the well-formed ones get), not rmcp's -32601; other unknown methods keep -32601.
    async fn on_custom_request(
        &self,
        request: CustomRequest,
        cx: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        let method = request.method.as_str();
        if !TASK_METHODS.contains(&method) {
            return Err(ErrorData::new(
                rmcp::model::ErrorCode::METHOD_NOT_FOUND,
                request.method,
                None,
            ));
        }
        if !cx
            .client_capabilities()
            .is_some_and(|capabilities| capabilities.supports_tasks())
        {
            return Err(ErrorData::missing_required_client_capability(
                ClientCapabilities::builder().enable_tasks().build(),
            ));
        }
        let params = request.params.unwrap_or_default();
        let problem = match method {
            "tasks/get" => serde_json::from_value::<GetTaskParams>(params).err(),
            "tasks/update" => serde_json::from_value::<UpdateTaskParams>(params).err(),
            _ => serde_json::from_value::<CancelTaskParams>(params).err(),
        };
        let detail = problem.map_or_else(String::new, |problem| format!(": {problem}"));
        Err(ErrorData::invalid_params(
            format!("Invalid params for {method}{detail}"),
            None,
        ))
    }
}
