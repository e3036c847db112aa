//! The tools of the HTTP mode: the fixtures the official MCP conformance suite calls to check
//! the tasks extension.
//!
//! A tool that supports tasks runs as one when the request declares the extension
//! (`io.modelcontextprotocol/tasks` in its client capabilities); an optional one runs in the
//! request otherwise, and a required one answers -32021. Arguments that do not fit a tool's
//! schema are a tool error (`isError: true`), with no task created.

use super::tasks::{Owner, TaskContext, TaskExit, TaskFuture, Tasks};
use rmcp::ErrorData;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ContentBlock,
    CreateTaskResult, ElicitRequest, ElicitRequestParams, ElicitationSchema, InputRequest,
    InputRequests, InputRequiredResult, JsonObject, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use serde_json::{Value, json};
use std::future::Future;
use std::time::Duration;

/// Longest `slow_compute`, in seconds.
const MAX_SECONDS: f64 = 3_600.0;

/// Whether a tool runs as a task.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TaskSupport {
    /// Always answers in the request.
    Never,
    /// A task when the request declares the extension, else in the request.
    Optional,
    /// Only as a task: -32021 without the extension.
    Required,
}

struct Fixture {
    name: &'static str,
    task: TaskSupport,
    description: &'static str,
    /// The properties of the object the arguments must be, and which are required.
    properties: fn() -> Value,
    required: &'static [&'static str],
}

const FIXTURES: [Fixture; 7] = [
    Fixture {
        name: "greet",
        task: TaskSupport::Never,
        description: "Answers `Hello, {name}!` at once.",
        properties: || json!({"name": {"type": "string"}}),
        required: &["name"],
    },
    Fixture {
        name: "slow_compute",
        task: TaskSupport::Optional,
        description: "Sleeps `seconds` (default 1, at most 3600), then answers with `label`; \
                      a cancelled task ends `cancelled`.",
        properties: || json!({"seconds": {"type": "number"}, "label": {"type": "string"}}),
        required: &[],
    },
    Fixture {
        name: "failing_job",
        task: TaskSupport::Required,
        description: "After a second, ends `completed` with a tool error result \
                      (`isError: true`).",
        properties: || json!({}),
        required: &[],
    },
    Fixture {
        name: "protocol_error_job",
        task: TaskSupport::Optional,
        description: "After 200 ms, fails with a JSON-RPC internal error (-32603), which a task \
                      shows as `failed`.",
        properties: || json!({}),
        required: &[],
    },
    Fixture {
        name: "confirm_delete",
        task: TaskSupport::Required,
        description: "Asks the client to confirm deleting `filename` (an elicitation), then \
                      answers whether it did. Deletes nothing.",
        properties: || json!({"filename": {"type": "string"}}),
        required: &[],
    },
    Fixture {
        name: "multi_input",
        task: TaskSupport::Required,
        description: "Asks the client for two values at once (two elicitations), then answers \
                      with both.",
        properties: || json!({}),
        required: &[],
    },
    Fixture {
        name: "test_tool_with_task",
        task: TaskSupport::Required,
        description: "Asks for a name in the request (`input_required`); called again with the \
                      answer in `inputResponses.user_name`, greets it from a task.",
        properties: || json!({}),
        required: &[],
    },
];

/// Every tool, for `tools/list`.
pub fn tools() -> Vec<Tool> {
    FIXTURES
        .iter()
        .map(|fixture| {
            let mut schema = JsonObject::new();
            schema.insert("type".into(), json!("object"));
            schema.insert("properties".into(), (fixture.properties)());
            if !fixture.required.is_empty() {
                schema.insert("required".into(), json!(fixture.required));
            }
            Tool::new(fixture.name, fixture.description, schema)
        })
        .collect()
}

/// `tools/call`: runs the tool, as a task bound to `owner` where it supports one and the
/// request declared the extension.
pub async fn call(
    tasks: &Tasks,
    owner: &Owner,
    request: CallToolRequestParams,
    cx: &RequestContext<RoleServer>,
) -> Result<CallToolResponse, ErrorData> {
    let name = request.name.as_ref();
    let Some(fixture) = FIXTURES.iter().find(|fixture| fixture.name == name) else {
        return Err(ErrorData::invalid_params(
            format!("Unknown tool: {name}"),
            None,
        ));
    };
    let declared = cx
        .client_capabilities()
        .is_some_and(|capabilities| capabilities.supports_tasks());
    if fixture.task == TaskSupport::Required && !declared {
        return Err(ErrorData::missing_required_client_capability(
            ClientCapabilities::builder().enable_tasks().build(),
        ));
    }
    let args = request.arguments.clone().unwrap_or_default();
    match name {
        "greet" => {
            let who = match string_arg(&args, "name") {
                Ok(Some(who)) => who,
                Ok(None) => return Ok(bad_arguments("`name` is required")),
                Err(problem) => return Ok(bad_arguments(&problem)),
            };
            Ok(text(format!("Hello, {who}!")).into())
        }
        "slow_compute" => {
            let seconds = match args.get("seconds") {
                None => 1.0,
                Some(value) => match value.as_f64() {
                    Some(seconds) if (0.0..=MAX_SECONDS).contains(&seconds) => seconds,
                    _ => {
                        return Ok(bad_arguments("`seconds` must be a number from 0 to 3600"));
                    }
                },
            };
            let label = match string_arg(&args, "label") {
                Ok(label) => label.unwrap_or_else(|| "compute".into()),
                Err(problem) => return Ok(bad_arguments(&problem)),
            };
            let work = move |cancelled| slow_compute(seconds, label, cancelled);
            if declared {
                start(tasks, owner, move |ctx| {
                    work(Box::pin(async move { ctx.cancelled().await }))
                })
                .await
            } else {
                let ct = cx.ct.clone();
                in_request(work(Box::pin(async move { ct.cancelled().await })).await)
            }
        }
        "failing_job" => {
            start(tasks, owner, |_| async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok(CallToolResult::error(vec![ContentBlock::text(
                    "failing_job: intentional tool execution error",
                )]))
            })
            .await
        }
        "protocol_error_job" => {
            let work = || async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Err(TaskExit::Error(ErrorData::internal_error(
                    "protocol_error_job: intentional protocol-level failure",
                    None,
                )))
            };
            if declared {
                start(tasks, owner, move |_| work()).await
            } else {
                in_request(work().await)
            }
        }
        "confirm_delete" => {
            let filename = match string_arg(&args, "filename") {
                Ok(filename) => filename.unwrap_or_else(|| "file.txt".into()),
                Err(problem) => return Ok(bad_arguments(&problem)),
            };
            let request = elicitation(format!("Delete {filename}?"), "confirm", true)?;
            start(tasks, owner, move |ctx| async move {
                let answer = ctx.request_input("confirm", request).await?;
                let confirmed = answer
                    .pointer("/content/confirm")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                Ok(text(format!(
                    "confirm_delete({filename}): confirmed = {confirmed}"
                )))
            })
            .await
        }
        "multi_input" => {
            let first = elicitation("Provide value A".into(), "value", false)?;
            let second = elicitation("Provide value B".into(), "value", false)?;
            start(tasks, owner, move |ctx| async move {
                // Both requests are pending at once, so a client may answer them apart.
                let (a, b) = tokio::join!(
                    ctx.request_input("input-a", first),
                    ctx.request_input("input-b", second)
                );
                let (a, b) = (a?, b?);
                let value = |answer: &Value| {
                    answer
                        .pointer("/content/value")
                        .and_then(Value::as_str)
                        .unwrap_or("(none)")
                        .to_owned()
                };
                Ok(text(format!(
                    "multi_input: a = {}, b = {}",
                    value(&a),
                    value(&b)
                )))
            })
            .await
        }
        "test_tool_with_task" => {
            // Round one asks in the request; round two carries the answer and becomes a task.
            let answer = request
                .input_responses
                .as_ref()
                .and_then(|responses| responses.get("user_name"))
                .filter(|answer| answer.is_object());
            let Some(answer) = answer else {
                let mut requests = InputRequests::new();
                requests.insert(
                    "user_name".into(),
                    elicitation("What is your name?".into(), "name", false)?,
                );
                return Ok(InputRequiredResult::from_input_requests(requests).into());
            };
            let who = answer
                .pointer("/content/name")
                .and_then(Value::as_str)
                .unwrap_or("friend")
                .to_owned();
            start(tasks, owner, move |_| async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(text(format!("Hello, {who}! (async)")))
            })
            .await
        }
        _ => Err(ErrorData::internal_error(
            format!("tool {name} has no implementation"),
            None,
        )),
    }
}

type Cancelled = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Sleeps, unless cancelled first.
async fn slow_compute(
    seconds: f64,
    label: String,
    cancelled: Cancelled,
) -> Result<CallToolResult, TaskExit> {
    tokio::select! {
        () = cancelled => Err(TaskExit::Cancelled),
        () = tokio::time::sleep(Duration::from_secs_f64(seconds)) => {
            Ok(text(format!("slow_compute({label}) done after {seconds}s")))
        }
    }
}

/// Starts `work` as a task of `owner` and answers with the task.
async fn start<F, W>(tasks: &Tasks, owner: &Owner, work: F) -> Result<CallToolResponse, ErrorData>
where
    F: FnOnce(TaskContext) -> W,
    W: Future<Output = Result<CallToolResult, TaskExit>> + Send + 'static,
{
    let task = tasks
        .spawn(owner, move |ctx| -> TaskFuture { Box::pin(work(ctx)) })
        .await?;
    Ok(CreateTaskResult::new(task).into())
}

/// The answer of work run in the request.
fn in_request(outcome: Result<CallToolResult, TaskExit>) -> Result<CallToolResponse, ErrorData> {
    match outcome {
        Ok(result) => Ok(result.into()),
        Err(TaskExit::Error(error)) => Err(error),
        Err(TaskExit::Cancelled) => Err(ErrorData::internal_error("request cancelled", None)),
    }
}

fn text(text: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text.into())])
}

fn bad_arguments(problem: &str) -> CallToolResponse {
    CallToolResult::error(vec![ContentBlock::text(format!(
        "Invalid arguments: {problem}"
    ))])
    .into()
}

/// An optional string argument: `Ok(None)` when absent, a tool error when not a string.
fn string_arg(args: &JsonObject, key: &str) -> Result<Option<String>, String> {
    match args.get(key) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.clone())),
        Some(_) => Err(format!("`{key}` must be a string")),
    }
}

/// A form elicitation asking for one property, a boolean or a string.
fn elicitation(message: String, property: &str, boolean: bool) -> Result<InputRequest, ErrorData> {
    let builder = ElicitationSchema::builder();
    let builder = if boolean {
        builder.required_bool(property)
    } else {
        builder.required_string(property)
    };
    let schema = builder
        .build()
        .map_err(|problem| ErrorData::internal_error(problem, None))?;
    Ok(InputRequest::Elicitation(ElicitRequest::new(
        ElicitRequestParams::FormElicitationParams {
            meta: None,
            message,
            requested_schema: schema,
        },
    )))
}
