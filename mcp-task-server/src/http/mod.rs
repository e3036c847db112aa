//! `--http ADDR`: MCP revision 2026-07-28 over rmcp's Streamable HTTP server, endpoint `/mcp`.
//!
//! Every request stands alone (no sessions, JSON replies), so any request may follow any
//! other. Bearer tokens (`--auth-token`, `--auth-file`) decide who owns a task; without them
//! the task id is the only capability.

mod auth;
mod fixtures;
mod handler;
mod tasks;

use auth::Tokens;
use axum::Router;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use task_core::TaskStore;

/// How long requests still running at a stop signal may take to finish.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Room for the JSON-RPC envelope around the largest payload the store accepts.
const ENVELOPE_BYTES: usize = 1024 * 1024;

/// The command-line options of the HTTP mode.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Serve MCP 2026-07-28 over Streamable HTTP at this address (such as 127.0.0.1:8080; port
    /// 0 picks a free one), endpoint /mcp, instead of MCP 2025-11-25 over stdio.
    #[arg(long = "http", value_name = "ADDR", conflicts_with = "owner")]
    addr: Option<String>,
    /// With --http: a bearer token and the principal it stands for (repeatable). Requests
    /// without a known token get HTTP 401. Command lines are visible to other local users:
    /// prefer --auth-file.
    #[arg(long, value_name = "TOKEN=PRINCIPAL", requires = "addr")]
    auth_token: Vec<String>,
    /// With --http: a file of TOKEN=PRINCIPAL lines (repeatable; blank lines and lines
    /// starting with # are skipped).
    #[arg(long, value_name = "PATH", requires = "addr")]
    auth_file: Vec<PathBuf>,
    /// With --http: a Host header to accept besides localhost, 127.0.0.1 and ::1 (repeatable;
    /// HOST or HOST:PORT). Other hosts are refused, against DNS rebinding.
    #[arg(long, value_name = "HOST", requires = "addr")]
    allowed_host: Vec<String>,
    /// With --http: the lease on a running task, in seconds. This instance renews the lease
    /// of each task it runs every quarter of it, and fails every task of the store whose lease
    /// lapsed (its instance died) as often. Give every instance sharing a store the same
    /// value; 0 turns leases off.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_LEASE_SECS, requires = "addr")]
    lease_secs: u64,
}

/// The lease `--lease-secs` defaults to: a dead instance's tasks fail within about 75 s.
const DEFAULT_LEASE_SECS: u64 = task_store_rmcp::DEFAULT_LEASE.as_secs();

/// A checked HTTP configuration, ready to serve.
pub struct Server {
    addr: String,
    lease: Option<Duration>,
    tokens: Option<Arc<Tokens>>,
    allowed_hosts: Vec<String>,
}

impl Options {
    /// `None` without `--http`; otherwise the checked configuration, or a message saying what
    /// is wrong (never showing a token).
    pub fn load(&self) -> Result<Option<Server>, String> {
        let Some(addr) = &self.addr else {
            return Ok(None);
        };
        let tokens = if self.auth_token.is_empty() && self.auth_file.is_empty() {
            None
        } else {
            let tokens = Tokens::load(&self.auth_token, &self.auth_file)?;
            if tokens.len() == 0 {
                return Err("--auth-file: no TOKEN=PRINCIPAL line found".into());
            }
            Some(Arc::new(tokens))
        };
        let mut allowed_hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"]
            .into_iter()
            .map(String::from)
            .collect();
        allowed_hosts.extend(self.allowed_host.iter().cloned());
        let lease = (self.lease_secs > 0).then(|| Duration::from_secs(self.lease_secs));
        Ok(Some(Server {
            addr: addr.clone(),
            lease,
            tokens,
            allowed_hosts,
        }))
    }
}

impl Server {
    /// Serves until SIGINT or SIGTERM; returns the exit code.
    pub async fn serve(self, store: Arc<dyn TaskStore>) -> i32 {
        let config = store.config();
        let tasks = tasks::Tasks::new(Arc::clone(&store), self.lease);
        let mcp = StreamableHttpService::new(
            {
                let tasks = tasks.clone();
                move || Ok(handler::TaskServer::new(tasks.clone()))
            },
            Arc::new(NeverSessionManager::default()),
            StreamableHttpServerConfig::default()
                .with_legacy_session_mode(false)
                .with_stateless_protocol_metadata_required(true)
                .with_json_response(true)
                .with_allowed_hosts(self.allowed_hosts)
                .with_max_request_body_bytes(
                    config.max_payload_bytes.saturating_add(ENVELOPE_BYTES),
                ),
        );
        let auth = self.tokens.as_ref().map_or_else(
            || "none: every caller is one anonymous owner".to_owned(),
            |tokens| format!("bearer tokens of {} principal(s)", tokens.len()),
        );
        let router =
            Router::new()
                .nest_service("/mcp", mcp)
                .layer(axum::middleware::from_fn_with_state(
                    self.tokens,
                    auth::authenticate,
                ));
        let stop = crate::stdio::stop_signal();
        let listener = match tokio::net::TcpListener::bind(&self.addr).await {
            Ok(listener) => listener,
            Err(error) => {
                log!("cannot listen on {}: {error}", self.addr);
                return 1;
            }
        };
        match listener.local_addr() {
            Ok(addr) => {
                let lease = self.lease.map_or_else(
                    || "none".to_owned(),
                    |lease| format!("{} s", lease.as_secs()),
                );
                log!("serving MCP 2026-07-28 on http://{addr}/mcp; auth: {auth}; lease: {lease}")
            }
            Err(error) => log!("cannot read the listening address: {error}"),
        }
        let stopping = Arc::new(tokio::sync::Notify::new());
        let server = axum::serve(listener, router).with_graceful_shutdown({
            let stopping = stopping.clone();
            async move { stopping.notified().await }
        });
        let server = std::future::IntoFuture::into_future(server);
        tokio::pin!(server);
        let code = tokio::select! {
            served = &mut server => match served {
                Ok(()) => 0,
                Err(error) => {
                    log!("the HTTP server failed: {error}");
                    1
                }
            },
            () = stop => {
                log!("stop signal received");
                stopping.notify_one();
                if tokio::time::timeout(STOP_GRACE, &mut server).await.is_err() {
                    log!("requests still running after {STOP_GRACE:?} were cut off");
                }
                0
            }
        };
        tasks.shutdown();
        code
    }
}
