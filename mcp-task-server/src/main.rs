//! `mcp-task-server`: an MCP 2025-11-25 server over stdio whose tasks live in any task store.
//!
//! ```text
//! mcp-task-server [--store URL] [--owner NAME] [--recover-stuck-after SECONDS]
//! mcp-task-server --http ADDR [--auth-token TOKEN=PRINCIPAL]... [--auth-file PATH]...
//! ```
//!
//! With `--http` it serves MCP 2026-07-28 over Streamable HTTP instead (see the `http` module).
//!
//! It answers `initialize`, `ping`, `tools/list`, `tools/call` and `tasks/*`, offers the tools
//! `sleep`, `fail` and `echo`, and sends `notifications/tasks/status` for its tasks. Each
//! process is one session: its tasks are bound to a fresh random owner, or to `--owner`, so
//! that processes sharing a SQLite or Redis store can act as one owner or as several.
//! stdout carries only JSON-RPC; logs go to stderr, and so do the spans of served requests and
//! store calls that `RUST_LOG` asks for (such as `RUST_LOG=debug`).

/// Writes a log line to stderr (stdout belongs to the protocol).
macro_rules! log {
    ($($arg:tt)*) => {
        eprintln!("mcp-task-server: {}", format_args!($($arg)*))
    };
}

mod http;
mod message;
mod server;
mod stdio;
mod tools;

use clap::Parser;
use std::process::ExitCode;
use task_core::backend::validate;
use task_store::url::redact_url;
use task_store::{StoreBuilder, StoreConfig};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// An MCP server whose tasks live in any task store: 2025-11-25 over stdio, or 2026-07-28 over
/// Streamable HTTP with --http.
#[derive(Debug, Parser)]
#[command(name = "mcp-task-server", version, about)]
struct Args {
    /// Where tasks live: memory://, sqlite://PATH, redis://HOST:PORT or
    /// postgres://USER@HOST:PORT/DATABASE, with store settings as query parameters (such as
    /// ?max_ttl=60000).
    #[arg(long, value_name = "URL", default_value = "memory://")]
    store: String,
    /// The owner this session's tasks are bound to; a fresh random one if absent. Processes
    /// that share a store and an owner see each other's tasks.
    #[arg(long, value_name = "NAME")]
    owner: Option<String>,
    /// On start, mark every task of the store that is still running but has not changed for
    /// this many seconds as failed: after a crash, their workers are gone and clients would
    /// otherwise wait forever. Leave it out when other live servers share the store.
    #[arg(long, value_name = "SECONDS")]
    recover_stuck_after: Option<u64>,
    #[command(flatten)]
    http: http::Options,
}

/// The message a recovered task fails with.
const RECOVERED_MESSAGE: &str = "the server restarted before the task finished";

/// Store settings the server applies unless the URL's query says otherwise: tasks live an hour
/// by default and a day at most, and each owner may have 1,000 unfinished tasks.
fn store_defaults() -> StoreConfig {
    StoreConfig::default()
        .with_default_ttl(Some(3_600_000))
        .with_max_ttl(Some(86_400_000))
        .with_max_tasks_per_owner(Some(1_000))
}

/// Prints spans and events to stderr (stdout belongs to the protocol) as `RUST_LOG` asks;
/// only warnings when it is unset. rmcp's own events show whole requests and results, so they
/// stay at errors unless `RUST_LOG` names rmcp.
fn init_tracing() {
    let asked = std::env::var("RUST_LOG").unwrap_or_default();
    let mut filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::WARN.into())
        .parse_lossy(&asked);
    if !asked.contains("rmcp")
        && let Ok(quiet) = "rmcp=error".parse()
    {
        filter = filter.add_directive(quiet);
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            log!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(args));
    // Exit at once: the runtime's stdin reader thread may be blocked in a read that would
    // otherwise delay the exit after a stop signal.
    std::process::exit(code)
}

async fn run(args: Args) -> i32 {
    let http = match args.http.load() {
        Ok(http) => http,
        Err(problem) => {
            log!("{problem}");
            return 2;
        }
    };
    let owner = args
        .owner
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if let Err(error) = validate::owner(&owner) {
        log!("--owner: {error}");
        return 2;
    }
    let store = match StoreBuilder::new(&args.store)
        .config(store_defaults())
        .open()
        .await
    {
        Ok(store) => store,
        Err(error) => {
            log!("cannot open the store: {error}");
            return 1;
        }
    };
    if let Some(seconds) = args.recover_stuck_after {
        let age = std::time::Duration::from_secs(seconds);
        match store.recover_stuck(age, RECOVERED_MESSAGE).await {
            Ok(count) => log!("marked {count} stuck task(s) failed"),
            Err(error) => {
                log!("cannot recover stuck tasks: {error}");
                return 1;
            }
        }
    }
    if let Some(http) = http {
        return http.serve(store).await;
    }
    log!(
        "serving MCP {} on stdio; store {}; owner {owner}",
        server::PROTOCOL_VERSION,
        redact_url(&args.store)
    );
    stdio::serve(store, owner, tokio::io::stdin(), tokio::io::stdout()).await;
    0
}
