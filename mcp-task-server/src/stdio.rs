//! The stdio transport: newline-delimited JSON-RPC on stdin and stdout.
//!
//! One reader parses lines and starts a tokio task per request, so a slow `tasks/result`
//! never holds up other requests; one writer owns stdout, so lines never interleave.
//! `initialize` is answered before the next line is read, so requests sent right behind it
//! find the session initialized. A request whose id is already in flight is refused, and
//! `notifications/cancelled` aborts the request it names. At end of input or on SIGINT or
//! SIGTERM the session shuts down and everything already queued is written.

use crate::message::{self, Incoming, response};
use crate::server::{Outbox, Server, lock};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use task_core::TaskStore;
use task_core::jsonrpc::{ErrorData, INVALID_REQUEST};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

/// Largest message accepted, in bytes; longer lines are answered with a parse error.
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Requests being handled, by id, so that `notifications/cancelled` can abort them.
type InFlight = Arc<Mutex<HashMap<String, AbortHandle>>>;

/// Serves one session over `input` and `output` until the input ends or a stop signal.
pub async fn serve(
    store: Arc<dyn TaskStore>,
    owner: String,
    input: impl AsyncRead + Unpin,
    output: impl AsyncWrite + Send + Unpin + 'static,
) {
    let (outbox, queue) = mpsc::channel(1024);
    let (close, closed) = oneshot::channel();
    let writer = tokio::spawn(write_messages(output, queue, closed));
    let server = Server::new(store, owner, outbox.clone());
    let in_flight = InFlight::default();

    read_messages(&server, &outbox, &in_flight, BufReader::new(input)).await;

    server.shutdown().await;
    for (_, request) in lock(&in_flight).drain() {
        request.abort();
    }
    let _ = close.send(());
    let _ = writer.await;
}

async fn read_messages(
    server: &Arc<Server>,
    outbox: &Outbox,
    in_flight: &InFlight,
    mut input: impl AsyncBufRead + Unpin,
) {
    let stop = stop_signal();
    tokio::pin!(stop);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = tokio::select! {
            read = read_line(&mut input, &mut line) => read,
            () = &mut stop => {
                log!("stop signal received");
                return;
            }
        };
        match read {
            Ok(Line::End) => return,
            Ok(Line::Complete) => {}
            Ok(Line::TooLong) => {
                let error = ErrorData::new(
                    task_core::jsonrpc::PARSE_ERROR,
                    format!("Parse error: a message is limited to {MAX_MESSAGE_BYTES} bytes"),
                );
                let _ = outbox.send(response(Value::Null, Err(error))).await;
                continue;
            }
            Err(error) => {
                log!("cannot read stdin: {error}");
                return;
            }
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match message::parse(&line) {
            Incoming::Request { id, method, params } => {
                if let Err(error) = start_request(server, in_flight, &id, method, params).await {
                    let _ = outbox.send(response(id, Err(error))).await;
                }
            }
            Incoming::Notification { method, params } if method == "notifications/cancelled" => {
                cancel_request(in_flight, params)
            }
            Incoming::Notification { method, .. } => server.handle_notification(&method),
            Incoming::Response => {}
            Incoming::Invalid { id, error } => {
                let _ = outbox.send(response(id, Err(error))).await;
            }
        }
    }
}

/// Starts handling a request, or refuses it when its id is in flight: a second request under
/// that id could neither be answered apart from the first nor cancelled on its own.
async fn start_request(
    server: &Arc<Server>,
    in_flight: &InFlight,
    id: &Value,
    method: String,
    params: Option<Value>,
) -> Result<(), ErrorData> {
    let key = id.to_string();
    if lock(in_flight).contains_key(&key) {
        return Err(ErrorData::new(
            INVALID_REQUEST,
            format!("Invalid request: duplicate id {key} in flight"),
        ));
    }
    if method == "initialize" {
        // Quick, and it opens the session: answered before the next line is read.
        server.handle_request(id.clone(), method, params).await;
        return Ok(());
    }
    // Held while spawning, so the handler cannot deregister before it is registered.
    let mut requests = lock(in_flight);
    let handler = {
        let (server, in_flight, key, id) =
            (server.clone(), in_flight.clone(), key.clone(), id.clone());
        tokio::spawn(async move {
            server.handle_request(id, method, params).await;
            let mut requests = lock(&in_flight);
            // Remove only this request's entry, should another ever take its place.
            if requests.get(&key).map(AbortHandle::id) == tokio::task::try_id() {
                requests.remove(&key);
            }
        })
    };
    requests.insert(key, handler.abort_handle());
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CancelledParams {
    request_id: Value,
}

/// `notifications/cancelled`: the request is aborted and, as the specification asks, not
/// answered. A task it created lives on; `tasks/cancel` is how a task is cancelled.
fn cancel_request(in_flight: &InFlight, params: Option<Value>) {
    let Some(CancelledParams { request_id }) = params.and_then(|p| serde_json::from_value(p).ok())
    else {
        return;
    };
    if let Some(request) = lock(in_flight).remove(&request_id.to_string()) {
        request.abort();
    }
}

/// How reading one line ended.
enum Line {
    Complete,
    TooLong,
    End,
}

/// Reads one line into `line`, without its size growing past [`MAX_MESSAGE_BYTES`].
async fn read_line(
    input: &mut (impl AsyncBufRead + Unpin),
    line: &mut Vec<u8>,
) -> io::Result<Line> {
    let mut too_long = false;
    loop {
        let buffer = input.fill_buf().await?;
        if buffer.is_empty() {
            return Ok(if too_long {
                Line::TooLong
            } else if line.is_empty() {
                Line::End
            } else {
                Line::Complete
            });
        }
        let (chunk, done) = match buffer.iter().position(|&b| b == b'\n') {
            Some(end) => (&buffer[..=end], true),
            None => (buffer, false),
        };
        let used = chunk.len();
        if !too_long && line.len() + used > MAX_MESSAGE_BYTES {
            too_long = true;
            line.clear();
        }
        if !too_long {
            line.extend_from_slice(chunk);
        }
        input.consume(used);
        if done {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Complete
            });
        }
    }
}

async fn write_messages(
    mut output: impl AsyncWrite + Unpin,
    mut queue: mpsc::Receiver<Value>,
    mut close: oneshot::Receiver<()>,
) {
    let mut closing = false;
    loop {
        let message = if closing {
            queue.try_recv().ok()
        } else {
            tokio::select! {
                message = queue.recv() => message,
                _ = &mut close => {
                    closing = true;
                    continue;
                }
            }
        };
        let Some(message) = message else { return };
        let mut bytes = match serde_json::to_vec(&message) {
            Ok(bytes) => bytes,
            Err(error) => {
                log!("dropped an unserialisable message: {error}");
                continue;
            }
        };
        bytes.push(b'\n');
        if let Err(error) = write_line(&mut output, &bytes).await {
            log!("cannot write stdout: {error}");
            return;
        }
    }
}

async fn write_line(output: &mut (impl AsyncWrite + Unpin), bytes: &[u8]) -> io::Result<()> {
    output.write_all(bytes).await?;
    output.flush().await
}

/// Resolves on SIGINT or SIGTERM; never if they cannot be watched. The signals are watched
/// from this call on, not from the first poll, so one sent just after the server said it is
/// ready still stops it gracefully.
pub(crate) fn stop_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt()).ok();
        let terminate = signal(SignalKind::terminate()).ok();
        let received = |watched: Option<Signal>| async move {
            match watched {
                Some(mut watched) => {
                    watched.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        async move {
            tokio::select! {
                () = received(interrupt) => {}
                () = received(terminate) => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
