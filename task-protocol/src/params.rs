//! Request params of the task methods, parsed with serde; anything malformed is -32602.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use task_core::TaskMetadata;
use task_core::jsonrpc::{ErrorData, INVALID_PARAMS};

/// Parses a request's params, which must be an object; absent params parse as an empty one.
///
/// ```
/// use task_protocol::params::{parse, TaskIdParams};
/// let params: TaskIdParams = parse(Some(serde_json::json!({"taskId": "t1"}))).unwrap();
/// assert_eq!(params.task_id, "t1");
/// assert_eq!(parse::<TaskIdParams>(None).unwrap_err().code, -32602);
/// ```
pub fn parse<T: DeserializeOwned>(params: Option<Value>) -> Result<T, ErrorData> {
    let params = params.unwrap_or_else(|| Value::Object(Map::new()));
    if !params.is_object() {
        return Err(ErrorData::new(
            INVALID_PARAMS,
            "Invalid params: expected an object",
        ));
    }
    serde_json::from_value(params)
        .map_err(|error| ErrorData::new(INVALID_PARAMS, format!("Invalid params: {error}")))
}

/// Params of `tasks/get`, `tasks/result` and `tasks/cancel`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskIdParams {
    /// The task asked about.
    pub task_id: String,
}

/// Params of `tasks/list`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct ListTasksParams {
    /// A cursor from a previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Params of `tools/call`, with the `task` field of a task-augmented call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallToolParams {
    /// The tool to call.
    pub name: String,
    /// The tool's arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Map<String, Value>>,
    /// Present when the requestor asks for a task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskMetadata>,
    /// Every other field (such as `_meta`), kept so the stored request is the one received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
