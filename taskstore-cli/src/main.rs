//! `taskstore`: inspect and exercise any MCP task store from the command line.

mod commands;
mod demo;
mod output;

use clap::builder::PossibleValue;
use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;
use std::sync::LazyLock;
use task_store::url::{Backend, StoreUrl, redact_url};
use task_store::{Scope, TaskError, TaskStatus};
use tracing::Instrument;
use tracing::field::Empty;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// The store used when neither `--store` nor `TASKSTORE_URL` is given: an embedded SQLite file
/// in the current directory.
const DEFAULT_STORE: &str = "sqlite://taskstore.db";

/// Inspect and exercise MCP task stores (memory, SQLite, Redis, PostgreSQL).
#[derive(Debug, Parser)]
#[command(name = "taskstore", version, about)]
struct Cli {
    /// Store URL: memory://, sqlite://PATH, sqlite::memory:, redis://HOST:PORT/DB?prefix=NAME or
    /// postgres://USER@HOST:PORT/DATABASE?schema=NAME.
    // The environment's value may hold a password: help names the variable only.
    #[arg(
        long,
        env = "TASKSTORE_URL",
        hide_env_values = true,
        default_value = DEFAULT_STORE,
        global = true
    )]
    store: String,
    /// Act as this owner (session or principal); without it, every task is visible.
    #[arg(long, global = true)]
    owner: Option<String>,
    /// Print JSON instead of tables, for scripts.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run simulated tasks through create, progress and complete, fail or cancel.
    Demo {
        /// How many tasks to run.
        #[arg(long, default_value_t = 1_000)]
        tasks: usize,
        /// How many run at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// List tasks, page by page.
    List {
        /// Only tasks in this status.
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
    },
    /// Show one task.
    Get {
        /// The task id.
        id: String,
    },
    /// Print a task's outcome: its result or its error.
    Result {
        /// The task id.
        id: String,
        /// Wait until the task is terminal instead of failing while it runs.
        #[arg(long)]
        wait: bool,
    },
    /// Cancel a task.
    Cancel {
        /// The task id.
        id: String,
    },
    /// Print every change of a task until it is terminal.
    Watch {
        /// The task id.
        id: String,
    },
    /// Delete expired tasks now.
    Purge,
    /// Fail every running task not updated for a while: for a restarted server whose workers
    /// died, so its clients stop waiting.
    Recover {
        /// Tasks not updated for this many seconds count as stuck.
        #[arg(long, value_name = "SECONDS")]
        older_than: u64,
        /// The message the failed tasks carry.
        #[arg(long, default_value = commands::RECOVER_MESSAGE)]
        message: String,
    },
    /// Count tasks by status.
    Stats,
}

impl Command {
    /// The subcommand's name, for its span.
    fn name(&self) -> &'static str {
        match self {
            Command::Demo { .. } => "demo",
            Command::List { .. } => "list",
            Command::Get { .. } => "get",
            Command::Result { .. } => "result",
            Command::Cancel { .. } => "cancel",
            Command::Watch { .. } => "watch",
            Command::Purge => "purge",
            Command::Recover { .. } => "recover",
            Command::Stats => "stats",
        }
    }

    /// The task the command is about, if one.
    fn task_id(&self) -> Option<&str> {
        match self {
            Command::Get { id }
            | Command::Result { id, .. }
            | Command::Cancel { id }
            | Command::Watch { id } => Some(id),
            _ => None,
        }
    }
}

/// A task status on the command line: the values are the wire names, listed by `--help`.
#[derive(Clone, Copy, Debug)]
struct StatusArg(TaskStatus);

impl ValueEnum for StatusArg {
    fn value_variants<'a>() -> &'a [Self] {
        static VARIANTS: LazyLock<Vec<StatusArg>> =
            LazyLock::new(|| TaskStatus::ALL.map(StatusArg).to_vec());
        &VARIANTS
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.0.as_str()))
    }
}

/// Why a command failed.
enum Failure {
    /// The store's answer.
    Store(TaskError),
    /// There is no store at the URL: a SQLite file that does not exist, or a PostgreSQL schema
    /// without one.
    NoStore(String),
}

impl From<TaskError> for Failure {
    fn from(error: TaskError) -> Self {
        Failure::Store(error)
    }
}

/// What the exit code says happened.
fn exit_code(failure: &Failure) -> u8 {
    match failure {
        Failure::NoStore(_) | Failure::Store(TaskError::NotFound { .. }) => 3,
        Failure::Store(
            TaskError::InvalidInput(_)
            | TaskError::InvalidCursor
            | TaskError::InvalidTransition { .. }
            | TaskError::AlreadyExists { .. },
        ) => 2,
        Failure::Store(TaskError::Backend { .. }) => 4,
        Failure::Store(_) => 1,
    }
}

/// Prints spans and events to stderr as `RUST_LOG` asks; only warnings when it is unset.
fn init_tracing() {
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::WARN.into())
        .from_env_lossy();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    // The command's span: its name, task id and owner, and its outcome; never the store URL.
    let span = tracing::info_span!(
        "command",
        command = cli.command.name(),
        task_id = cli.command.task_id(),
        owner = cli.owner.as_deref(),
        outcome = Empty,
    );
    let started = std::time::Instant::now();
    let result = run(cli).instrument(span.clone()).await;
    span.record(
        "outcome",
        match &result {
            Ok(()) => "ok",
            Err(Failure::Store(error)) => error.kind(),
            Err(Failure::NoStore(_)) => "no_store",
        },
    );
    tracing::info!(parent: &span, elapsed = ?started.elapsed(), "done");
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let message = match &failure {
                Failure::Store(error) => output::one_line(error),
                Failure::NoStore(message) => message.clone(),
            };
            eprintln!("taskstore: {message}");
            ExitCode::from(exit_code(&failure))
        }
    }
}

/// Only `demo` may create a store: any other command on a SQLite file that is not there, or
/// a PostgreSQL schema that holds no store, would otherwise leave an empty store behind and
/// answer as if it were one.
async fn store_must_exist(url: &str) -> Result<(), Failure> {
    let mut parsed = StoreUrl::parse(url)?;
    match parsed.backend {
        Backend::Sqlite => {
            let location = task_store::sqlite::Location::from_url(&parsed.location_with_params())?;
            match location.path() {
                Some(path) if !path.exists() => Err(Failure::NoStore(format!(
                    "no store at {}: {} does not exist (`taskstore demo` creates one)",
                    redact_url(url),
                    path.display()
                ))),
                _ => Ok(()),
            }
        }
        Backend::Postgres => {
            // The store's own settings only: the others are not the backend's to read.
            parsed.apply_config(task_store::StoreConfig::default())?;
            let location = parsed.location_with_params();
            if task_store::postgres::PostgresTaskStore::exists(&location).await? {
                Ok(())
            } else {
                Err(Failure::NoStore(format!(
                    "no store at {}: its schema holds no task store (`taskstore demo` creates one)",
                    redact_url(url)
                )))
            }
        }
        _ => Ok(()),
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    if !matches!(cli.command, Command::Demo { .. }) {
        store_must_exist(&cli.store).await?;
    }
    let store = task_store::open(&cli.store).await?;
    let scope = match cli.owner {
        Some(owner) => Scope::Owner(owner),
        None => Scope::All,
    };
    let out = output::Output { json: cli.json };
    let done = match cli.command {
        Command::Demo { tasks, concurrency } => {
            demo::run(store, &cli.store, &out, tasks, concurrency).await
        }
        Command::List { status } => {
            let status = status.map(|StatusArg(status)| status);
            commands::list(store.as_ref(), &scope, status, &out).await
        }
        Command::Get { id } => commands::get(store.as_ref(), &scope, &id, &out).await,
        Command::Result { id, wait } => {
            commands::result(store.as_ref(), &scope, &id, wait, &out).await
        }
        Command::Cancel { id } => commands::cancel(store.as_ref(), &scope, &id, &out).await,
        Command::Watch { id } => commands::watch(store.as_ref(), &scope, &id, &out).await,
        Command::Purge => commands::purge(store.as_ref(), &scope, &out).await,
        Command::Recover {
            older_than,
            message,
        } => commands::recover(store.as_ref(), &scope, older_than, &message, &out).await,
        Command::Stats => commands::stats(store.as_ref(), &scope, &out).await,
    };
    Ok(done?)
}
