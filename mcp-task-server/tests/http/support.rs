//! The real binary in `--http` mode, and a plain HTTP/1.1 client speaking MCP 2026-07-28 to it.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const TASKS_EXTENSION: &str = "io.modelcontextprotocol/tasks";

/// A running `mcp-task-server --http 127.0.0.1:0 ARGS`, killed on drop.
pub struct Server {
    child: Child,
    /// `127.0.0.1:PORT`
    pub addr: String,
    log: Arc<Mutex<String>>,
    /// Reads stderr into `log` until the process ends.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(args: &[&str]) -> Server {
        Server::start_with_env(args, &[])
    }

    /// Starts it with extra environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-task-server"))
            .args(["--http", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server binary starts");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr is piped"));
        let log = Arc::new(Mutex::new(String::new()));
        let mut addr = None;
        let mut line = String::new();
        while stderr.read_line(&mut line).unwrap_or(0) > 0 {
            log.lock().unwrap().push_str(&line);
            if let Some(rest) = line.split("on http://").nth(1) {
                addr = rest.split("/mcp").next().map(str::to_owned);
                break;
            }
            line.clear();
        }
        let Some(addr) = addr else {
            let _ = child.kill();
            panic!("the server did not start: {}", log.lock().unwrap());
        };
        // Keep reading, so the log is complete and the server never blocks on a full pipe.
        let rest = log.clone();
        let reader = std::thread::spawn(move || {
            let mut line = String::new();
            while stderr.read_line(&mut line).unwrap_or(0) > 0 {
                rest.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        Server {
            child,
            addr,
            log,
            reader: Some(reader),
        }
    }

    /// Everything the server wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Kills the process with SIGKILL, as a crash would, and waits for it to end.
    pub fn kill(mut self) {
        self.child.kill().expect("the server is killed");
        self.child.wait().expect("the server ends");
    }

    /// Sends SIGTERM and waits for the exit code.
    pub fn terminate(self) -> Option<i32> {
        self.terminate_with_log().0
    }

    /// Sends SIGTERM, waits for the exit code and returns everything the server wrote to
    /// stderr.
    pub fn terminate_with_log(mut self) -> (Option<i32>, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let code = self.child.wait().expect("the server exits").code();
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the stderr reader");
        }
        (code, self.log())
    }

    /// A client without credentials.
    pub fn client(&self) -> Client {
        Client {
            addr: self.addr.clone(),
            host: self.addr.clone(),
            token: None,
            tasks: true,
        }
    }

    /// A client sending `Authorization: Bearer TOKEN`.
    pub fn client_with_token(&self, token: &str) -> Client {
        Client {
            token: Some(token.to_owned()),
            ..self.client()
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer: status, `WWW-Authenticate` and the JSON body, if any.
pub struct Answer {
    pub status: StatusCode,
    pub www_authenticate: Option<String>,
    pub body: Option<Value>,
}

/// One MCP client: every request stands alone and carries the 2026-07-28 `_meta`.
#[derive(Clone)]
pub struct Client {
    addr: String,
    /// The `Host` header.
    host: String,
    token: Option<String>,
    /// Whether requests declare the tasks extension.
    tasks: bool,
}

impl Client {
    /// The same client, sending `Host: HOST`.
    pub fn with_host(mut self, host: &str) -> Client {
        self.host = host.to_owned();
        self
    }

    /// The same client, not declaring the tasks extension.
    pub fn without_tasks(mut self) -> Client {
        self.tasks = false;
        self
    }

    /// Posts one JSON-RPC request with the headers the transport requires.
    pub async fn post(&self, method: &str, params: Value) -> Answer {
        let mut params = params;
        let capabilities = if self.tasks {
            json!({"extensions": {TASKS_EXTENSION: {}}, "elicitation": {}})
        } else {
            json!({})
        };
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "http-test", "version": "0"},
            "io.modelcontextprotocol/clientCapabilities": capabilities,
        });
        let name = match method {
            "tools/call" => params.get("name"),
            _ => params.get("taskId"),
        }
        .and_then(Value::as_str)
        .map(str::to_owned);
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let mut request = Request::post(format!("http://{}/mcp", self.addr))
            .header("host", &self.host)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method);
        if let Some(name) = name {
            request = request.header("mcp-name", name);
        }
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("a valid request");
        let stream = tokio::net::TcpStream::connect(&self.addr)
            .await
            .expect("the server accepts");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("an HTTP/1.1 connection");
        tokio::spawn(connection);
        let response = sender.send_request(request).await.expect("an answer");
        let status = response.status();
        let www_authenticate = response
            .headers()
            .get("www-authenticate")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("the body")
            .to_bytes();
        Answer {
            status,
            www_authenticate,
            body: serde_json::from_slice(&bytes).ok(),
        }
    }

    /// The JSON-RPC result, or the JSON-RPC error object.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, Value> {
        let answer = self.post(method, params).await;
        let body = answer
            .body
            .unwrap_or_else(|| panic!("{method}: HTTP {} without a JSON body", answer.status));
        match (body.get("result"), body.get("error")) {
            (Some(result), None) => Ok(result.clone()),
            (None, Some(error)) => Err(error.clone()),
            _ => panic!("{method}: neither a result nor an error: {body}"),
        }
    }

    pub async fn call_tool(&self, name: &str, arguments: Value) -> Result<Value, Value> {
        self.request("tools/call", json!({"name": name, "arguments": arguments}))
            .await
    }

    /// Calls a tool that must answer with a task, and returns its id.
    pub async fn start_task(&self, name: &str, arguments: Value) -> String {
        let created = self.call_tool(name, arguments).await.expect("a task");
        assert_eq!(created["resultType"], "task", "{created}");
        created["taskId"].as_str().expect("a task id").to_owned()
    }

    pub async fn get(&self, task_id: &str) -> Result<Value, Value> {
        self.request("tasks/get", json!({"taskId": task_id})).await
    }

    pub async fn update(&self, task_id: &str, responses: Value) -> Result<Value, Value> {
        self.request(
            "tasks/update",
            json!({"taskId": task_id, "inputResponses": responses}),
        )
        .await
    }

    pub async fn cancel(&self, task_id: &str) -> Result<Value, Value> {
        self.request("tasks/cancel", json!({"taskId": task_id}))
            .await
    }

    /// Polls `tasks/get` until the task's status is `status`; panics if it never gets there.
    pub async fn wait_for(&self, task_id: &str, status: &str) -> Value {
        // A bound so a broken server fails the test instead of hanging it; not a timing claim.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let task = self.get(task_id).await.expect("the task is known");
            if task["status"] == status {
                return task;
            }
            let terminal = ["completed", "failed", "cancelled"];
            if terminal.contains(&task["status"].as_str().unwrap_or_default()) {
                panic!("expected {status}, the task ended: {task}");
            }
            assert!(Instant::now() < deadline, "never {status}: {task}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The error a caller gets for an id no task has: rmcp's wording.
pub fn unknown_task(task_id: &str) -> Value {
    json!({"code": -32602, "message": format!("unknown task: {task_id}")})
}
