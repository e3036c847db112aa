//! Command-line options.

use crate::workload::{Op, Plan, PlanCalls};
use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

/// Benchmarks our task stores side by side with their peers and the hardware's limits, prints a
/// markdown table and writes it to BENCHMARKS.md.
///
/// Run: `cargo bench --manifest-path bench/Cargo.toml` (full; a report says how long its run
/// took, about 15 minutes on two busy cores with `-- --sizes 1k,100k`), or with `-- --quick`.
#[derive(Parser, Debug)]
#[command(name = "compare")]
pub struct Options {
    /// A short smoke run (small stores, fewer calls); writes target/BENCHMARKS-quick.md.
    #[arg(long)]
    pub quick: bool,
    /// Backends to measure.
    #[arg(long, value_delimiter = ',', default_values = ["memory", "sqlite", "redis", "postgres"])]
    pub backends: Vec<Family>,
    /// Store sizes (such as 1k,100k,1m) instead of each backend's own list.
    #[arg(long, value_delimiter = ',', value_parser = parse_size)]
    pub sizes: Option<Vec<usize>>,
    /// Concurrent callers.
    #[arg(long, value_delimiter = ',', default_values = ["1", "32"])]
    pub callers: Vec<usize>,
    /// Operations: create, get, status, complete, cancel, list, wake (stores); spawn, get-task,
    /// resume, cancel-seen (task managers).
    #[arg(long, value_delimiter = ',', value_parser = parse_op)]
    pub ops: Option<Vec<Op>>,
    /// Subjects: ours, limit, turul, pmcp, python-sdk, rmcp.
    #[arg(long, value_delimiter = ',', default_values = ["ours", "limit", "turul", "pmcp", "python-sdk", "rmcp"])]
    pub subjects: Vec<Who>,
    /// Time box of one operation at one concurrency, in seconds (default: 1 in memory, 2 for
    /// SQLite and Redis; 0.2 with --quick).
    #[arg(long)]
    pub budget: Option<f64>,
    /// Multiplies every operation's planned number of calls (for profiling, or a longer run).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Seed of the random task choice.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// A Redis server to use instead of starting a private `redis-server` on a free port. Only
    /// keys under `bench:` are written and deleted.
    #[arg(long, env = "BENCH_REDIS_URL")]
    pub redis_url: Option<String>,
    /// The PostgreSQL server: a URL of a database to connect to as a user who may create
    /// databases. Each run creates a scratch database next to it and drops it at the end.
    #[arg(
        long,
        env = "BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub postgres_url: String,
    /// Where to write the markdown (default: BENCHMARKS.md for a full run).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Measure nothing: render the report again from the measurements a run saved (every run
    /// saves them next to its markdown, as `.json`).
    #[arg(long)]
    pub render: Option<PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    pub bench: bool,
}

/// A backend and everything measured next to it.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
pub enum Family {
    Memory,
    Sqlite,
    Redis,
    Postgres,
}

impl Family {
    pub fn title(self) -> &'static str {
        match self {
            Family::Memory => "Memory",
            Family::Sqlite => "SQLite (file, WAL)",
            Family::Redis => "Redis (loopback)",
            Family::Postgres => "PostgreSQL (loopback)",
        }
    }
}

/// Who is measured.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
pub enum Who {
    Ours,
    Limit,
    Turul,
    Pmcp,
    PythonSdk,
    /// rmcp's in-memory `TaskManager`, beside our task manager.
    Rmcp,
}

impl Who {
    /// Column title within a family.
    pub fn name(self, family: Family) -> &'static str {
        match (self, family) {
            (Who::Ours, _) => "ours",
            (Who::Limit, Family::Memory) => "bare HashMap",
            (Who::Limit, Family::Sqlite) => "raw sqlx",
            (Who::Limit, Family::Redis) => "raw round trip",
            (Who::Limit, Family::Postgres) => "raw sqlx",
            (Who::Turul, Family::Memory) => "turul memory",
            (Who::Turul, Family::Postgres) => "turul PostgreSQL",
            (Who::Turul, _) => "turul SQLite",
            (Who::Pmcp, Family::Memory) => "pmcp memory",
            (Who::Pmcp, _) => "pmcp Redis",
            (Who::PythonSdk, _) => "Python SDK",
            (Who::Rmcp, _) => "rmcp memory",
        }
    }

    /// The columns of a family, in order.
    pub fn columns(family: Family) -> &'static [Who] {
        match family {
            Family::Memory => &[Who::Ours, Who::Limit, Who::Turul, Who::Pmcp, Who::PythonSdk],
            Family::Sqlite => &[Who::Ours, Who::Limit, Who::Turul],
            Family::Redis => &[Who::Ours, Who::Limit, Who::Pmcp],
            Family::Postgres => &[Who::Ours, Who::Limit, Who::Turul],
        }
    }
}

fn parse_size(text: &str) -> Result<usize, String> {
    let lower = text.trim().to_ascii_lowercase();
    let (digits, scale) = match lower.strip_suffix('k') {
        Some(d) => (d, 1_000),
        None => match lower.strip_suffix('m') {
            Some(d) => (d, 1_000_000),
            None => (lower.as_str(), 1),
        },
    };
    match digits.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n * scale),
        _ => Err(format!(
            "'{text}' is not a store size such as 1000, 100k or 1m"
        )),
    }
}

fn parse_op(text: &str) -> Result<Op, String> {
    Op::parse(text).ok_or_else(|| {
        let all: Vec<&str> = Op::ALL.iter().map(|op| op.key()).collect();
        format!("'{text}' is not one of {}", all.join(", "))
    })
}

/// Tasks a task manager holds while its operations are measured (work waiting for input in
/// each), on every backend.
pub const MANAGER_TASKS: usize = 1_000;

/// Sizes of the MCP Python SDK's store (its own store is O(n) per call).
pub const PYTHON_SDK_SIZES: [usize; 2] = [1_000, 10_000];

impl Options {
    /// Store sizes of a family.
    pub fn sizes(&self, family: Family) -> Vec<usize> {
        if let Some(sizes) = &self.sizes {
            return sizes.clone();
        }
        match (family, self.quick) {
            (Family::Memory, false) => vec![1_000, 10_000, 100_000, 1_000_000],
            (Family::Sqlite, false) => vec![1_000, 100_000, 1_000_000],
            (Family::Redis | Family::Postgres, false) => vec![1_000, 100_000],
            (Family::Memory, true) => vec![1_000, 10_000],
            (_, true) => vec![1_000],
        }
    }

    pub fn ops(&self) -> Vec<Op> {
        self.ops.clone().unwrap_or_else(|| Op::ALL.to_vec())
    }

    /// Calls and time box of a family.
    pub fn plan(&self, family: Family) -> Plan {
        let calls = match family {
            Family::Memory => PlanCalls {
                create: 100_000,
                get: 200_000,
                status: 100_000,
                complete: 50_000,
                cancel: 50_000,
            },
            Family::Sqlite | Family::Redis | Family::Postgres => PlanCalls {
                create: 10_000,
                get: 50_000,
                status: 10_000,
                complete: 10_000,
                cancel: 10_000,
            },
        };
        let shrink = |n: usize| {
            let n = if self.quick { n / 20 } else { n };
            ((n as f64 * self.scale) as usize).max(1)
        };
        let default_budget = match (family, self.quick) {
            (_, true) => 0.2,
            (Family::Memory, false) => 1.0,
            _ => 2.0,
        };
        Plan {
            calls: PlanCalls {
                create: shrink(calls.create),
                get: shrink(calls.get),
                status: shrink(calls.status),
                complete: shrink(calls.complete),
                cancel: shrink(calls.cancel),
            },
            budget: Duration::from_secs_f64(self.budget.unwrap_or(default_budget)),
            wake_rounds: if self.quick { 100 } else { 1_000 },
            reps: if self.quick { 1 } else { 3 },
        }
    }

    /// Whether this run is the full default one, whose table belongs in BENCHMARKS.md.
    pub fn is_full_run(&self) -> bool {
        !self.quick
            && self.sizes.is_none()
            && self.ops.is_none()
            && self.budget.is_none()
            && self.scale == 1.0
            && self.backends.len() == 4
            && self.subjects.len() == 6
            && self.callers == [1, 32]
    }
}
