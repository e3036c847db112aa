//! The server's tools: `sleep`, `fail` and `echo`.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::time::Duration;
use task_core::jsonrpc::ErrorData;
use task_protocol::{TaskSupport, ToolOutcome};

/// The code of the error the `fail` tool answers with: the first of JSON-RPC's
/// implementation-defined server errors, so it is never mistaken for a storage failure (-32603).
pub const TOOL_FAILED: i64 = -32000;

/// Longest `sleep`, in seconds (a day).
const MAX_SLEEP_SECONDS: f64 = 86_400.0;

/// A tool this server offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// Sleeps, then answers with a text.
    Sleep,
    /// Fails the request with a JSON-RPC error.
    Fail,
    /// Answers with its argument.
    Echo,
}

impl Tool {
    /// Every tool, in the order `tools/list` shows them.
    pub const ALL: [Tool; 3] = [Tool::Sleep, Tool::Fail, Tool::Echo];

    /// The tool's name.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Sleep => "sleep",
            Tool::Fail => "fail",
            Tool::Echo => "echo",
        }
    }

    /// The tool called `name`.
    pub fn find(name: &str) -> Option<Tool> {
        Tool::ALL.into_iter().find(|tool| tool.name() == name)
    }

    /// Its `execution.taskSupport`; `None` leaves it out (which means forbidden).
    pub fn task_support(self) -> Option<TaskSupport> {
        match self {
            Tool::Sleep | Tool::Fail => Some(TaskSupport::Optional),
            Tool::Echo => None,
        }
    }

    /// Its entry in `tools/list`.
    pub fn definition(self) -> Value {
        let (description, schema) = match self {
            Tool::Sleep => (
                "Sleeps for the given number of seconds, then answers with `text` or \"slept N s\". Stops when cancelled.",
                json!({
                    "type": "object",
                    "properties": {
                        "seconds": {"type": "number", "minimum": 0, "maximum": MAX_SLEEP_SECONDS},
                        "text": {"type": "string"}
                    },
                    "required": ["seconds"]
                }),
            ),
            Tool::Fail => (
                "Fails the request with a JSON-RPC error carrying `message`.",
                json!({
                    "type": "object",
                    "properties": {"message": {"type": "string"}},
                    "required": ["message"]
                }),
            ),
            Tool::Echo => (
                "Answers with `text`.",
                json!({
                    "type": "object",
                    "properties": {"text": {"type": "string"}},
                    "required": ["text"]
                }),
            ),
        };
        let mut definition = json!({
            "name": self.name(),
            "description": description,
            "inputSchema": schema,
        });
        if let Some(support) = self.task_support() {
            definition["execution"] = json!({ "taskSupport": support });
        }
        definition
    }

    /// Runs the tool. Arguments that do not fit its schema give a tool error result
    /// (`isError: true`), as revision 2025-11-25 asks, so a model can correct itself.
    pub async fn run(self, arguments: Map<String, Value>) -> ToolOutcome {
        match self {
            Tool::Sleep => {
                let args: SleepArgs = match parse_arguments(self, arguments) {
                    Ok(args) => args,
                    Err(result) => return Ok(result),
                };
                let duration = match sleep_duration(args.seconds) {
                    Ok(duration) => duration,
                    Err(message) => return Ok(error_result(&message)),
                };
                tokio::time::sleep(duration).await;
                let text = args
                    .text
                    .unwrap_or_else(|| format!("slept {} s", args.seconds));
                Ok(text_result(&text))
            }
            Tool::Fail => match parse_arguments::<FailArgs>(self, arguments) {
                Ok(args) => Err(ErrorData::new(TOOL_FAILED, args.message)),
                Err(result) => Ok(result),
            },
            Tool::Echo => match parse_arguments::<EchoArgs>(self, arguments) {
                Ok(args) => Ok(text_result(&args.text)),
                Err(result) => Ok(result),
            },
        }
    }
}

#[derive(Deserialize)]
struct SleepArgs {
    seconds: f64,
    text: Option<String>,
}

#[derive(Deserialize)]
struct FailArgs {
    message: String,
}

#[derive(Deserialize)]
struct EchoArgs {
    text: String,
}

fn parse_arguments<T: DeserializeOwned>(
    tool: Tool,
    arguments: Map<String, Value>,
) -> Result<T, Map<String, Value>> {
    serde_json::from_value(Value::Object(arguments)).map_err(|error| {
        error_result(&format!(
            "Invalid arguments for tool {}: {error}",
            tool.name()
        ))
    })
}

fn sleep_duration(seconds: f64) -> Result<Duration, String> {
    if (0.0..=MAX_SLEEP_SECONDS).contains(&seconds) {
        Duration::try_from_secs_f64(seconds).map_err(|error| error.to_string())
    } else {
        Err(format!(
            "Invalid arguments for tool sleep: seconds must be between 0 and {MAX_SLEEP_SECONDS}, got {seconds}"
        ))
    }
}

/// A `CallToolResult` with one text block.
fn text_result(text: &str) -> Map<String, Value> {
    let mut result = Map::new();
    result.insert("content".into(), json!([{ "type": "text", "text": text }]));
    result
}

/// A tool error result: the text, and `isError: true`.
fn error_result(text: &str) -> Map<String, Value> {
    let mut result = text_result(text);
    result.insert("isError".into(), Value::Bool(true));
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn definitions_declare_task_support() {
        let sleep = Tool::Sleep.definition();
        assert_eq!(sleep["execution"]["taskSupport"], "optional");
        assert_eq!(sleep["inputSchema"]["required"], json!(["seconds"]));
        assert_eq!(
            Tool::Fail.definition()["execution"]["taskSupport"],
            "optional"
        );
        assert!(Tool::Echo.definition().get("execution").is_none());
        assert_eq!(Tool::find("echo"), Some(Tool::Echo));
        assert_eq!(Tool::find("nope"), None);
    }

    #[tokio::test]
    async fn tools_answer_as_documented() {
        let slept = Tool::Sleep
            .run(args(json!({"seconds": 0.01})))
            .await
            .unwrap();
        assert_eq!(slept["content"][0]["text"], "slept 0.01 s");
        let slept = Tool::Sleep
            .run(args(json!({"seconds": 0, "text": "hi"})))
            .await
            .unwrap();
        assert_eq!(slept["content"][0]["text"], "hi");
        let echoed = Tool::Echo.run(args(json!({"text": "abc"}))).await.unwrap();
        assert_eq!(
            echoed,
            args(json!({"content": [{"type": "text", "text": "abc"}]}))
        );
        let failed = Tool::Fail.run(args(json!({"message": "nope"}))).await;
        assert_eq!(failed, Err(ErrorData::new(TOOL_FAILED, "nope")));
    }

    #[tokio::test]
    async fn bad_arguments_are_tool_errors() {
        for (tool, arguments) in [
            (Tool::Sleep, json!({})),
            (Tool::Sleep, json!({"seconds": "1"})),
            (Tool::Sleep, json!({"seconds": -1})),
            (Tool::Sleep, json!({"seconds": 1e300})),
            (Tool::Fail, json!({"message": 3})),
            (Tool::Echo, json!({"words": "x"})),
        ] {
            let result = tool.run(args(arguments.clone())).await.unwrap();
            assert_eq!(result["isError"], true, "{tool:?} {arguments}");
            let text = result["content"][0]["text"].as_str().unwrap();
            assert!(text.starts_with("Invalid arguments for tool"), "{text}");
        }
    }
}
