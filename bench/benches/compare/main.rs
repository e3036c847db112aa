//! The benchmark program: our task stores side by side with their peers and with the hardware's
//! limits, on the same workload in the same run. Prints a markdown table and writes it to
//! BENCHMARKS.md.
//!
//! Run `cargo bench --manifest-path bench/Cargo.toml` from the repository's root (full run),
//! with `-- --quick` for a smoke run; `-- --help` lists the options.

mod alloc;
mod cli;
mod machine;
mod postgres_scratch;
mod python;
mod redis_server;
mod report;
mod subjects;
mod workload;

use clap::Parser;
use cli::{Family, Options, Who};
use report::{Record, Results};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use subjects::{BareMap, Manager, Ours, Pmcp, RawPostgres, RawRedis, RawSqlite, Turul};
use task_core::StoreConfig;
use task_store_memory::MemoryTaskStore;
use task_store_postgres::{PostgresOptions, PostgresTaskStore};
use task_store_redis::{RedisOptions, RedisTaskStore};
use task_store_sqlite::SqliteTaskStore;
use workload::{Cell, Op, Res, Subject};

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// How the numbers are made, appended to the report.
const METHOD: &str = include_str!("method.md");

fn main() -> ExitCode {
    let options = Options::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

async fn run(options: Options) -> Res<()> {
    let root = repository_root();
    // `cargo bench` runs the program in bench/; paths given to it are the repository's.
    let from_root = |path: &PathBuf| root.join(path);
    if let Some(saved) = options.render.as_ref().map(from_root) {
        let results: Results = serde_json::from_slice(&std::fs::read(&saved)?)?;
        let output = options
            .output
            .as_ref()
            .map_or_else(|| saved.with_extension("md"), from_root);
        return write_report(&results, &output);
    }
    let started = std::time::Instant::now();
    let mut families = options.backends.clone();
    families.sort();
    families.dedup();
    let mut results = Results {
        facts: machine::facts(),
        families: families.clone(),
        callers: options.callers.clone(),
        ops: options.ops(),
        sizes: families.iter().map(|&f| (f, options.sizes(f))).collect(),
        ..Results::default()
    };
    // The options as given, so that a report says how it was made.
    let flags: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| arg != "--bench")
        .collect();
    results.facts.push((
        "flags".to_owned(),
        if flags.is_empty() {
            "none (the full run)".to_owned()
        } else {
            format!("`{}`", flags.join(" "))
        },
    ));
    results.notes.push(crate_versions(&root));
    let mut bench = Bench {
        options: &options,
        results,
        root: root.clone(),
        python: None,
        analyze: None,
    };
    for family in families {
        match family {
            Family::Memory => bench.memory().await,
            Family::Sqlite => bench.sqlite().await?,
            Family::Redis => bench.redis().await,
            Family::Postgres => bench.postgres().await,
        }
    }
    let facts = &mut bench.results.facts;
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        facts.push(("load average at end".to_owned(), load.join(" ")));
    }
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    facts.push(("run took".to_owned(), format!("{minutes:.1} minutes")));
    let output = options.output.as_ref().map_or_else(
        || {
            if options.is_full_run() {
                root.join("BENCHMARKS.md")
            } else {
                root.join("target/BENCHMARKS-quick.md")
            }
        },
        from_root,
    );
    let saved = output.with_extension("json");
    if let Some(dir) = saved.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&saved, serde_json::to_vec(&bench.results)?)?;
    eprintln!("saved the measurements in {}", saved.display());
    write_report(&bench.results, &output)
}

/// Prints the report and writes it to `output`, with the analysis in bench/ANALYSIS.md (read
/// at run time, so that it can be revised and the report rendered again from saved figures).
/// Opens our SQLite store on the file at `path` with the default configuration.
async fn open_sqlite(path: &Path) -> Res<SqliteTaskStore> {
    let location = path.to_str().ok_or("database path is not UTF-8")?;
    Ok(SqliteTaskStore::open(location, StoreConfig::default()).await?)
}

fn write_report(results: &Results, output: &Path) -> Res<()> {
    let analysis =
        std::fs::read_to_string(repository_root().join("bench/ANALYSIS.md")).unwrap_or_default();
    let text = report::render(results, &format!("{analysis}\n{METHOD}"));
    println!("{text}");
    std::fs::write(output, text)?;
    eprintln!("wrote {}", output.display());
    Ok(())
}

struct Bench<'a> {
    options: &'a Options,
    results: Results,
    root: PathBuf,
    /// The Python interpreter for the MCP Python SDK, once looked for.
    python: Option<Result<PathBuf, String>>,
    /// The scratch PostgreSQL database whose statistics are gathered after each fill.
    analyze: Option<String>,
}

impl Bench<'_> {
    fn wants(&self, who: Who) -> bool {
        self.options.subjects.contains(&who)
    }

    async fn memory(&mut self) {
        let family = Family::Memory;
        for size in self.options.sizes(family) {
            if self.wants(Who::Ours) {
                let store = MemoryTaskStore::new(StoreConfig::default());
                self.subject(family, size, Who::Ours, Ok(Ours::new(store)))
                    .await;
            }
            if self.wants(Who::Limit) {
                self.subject(family, size, Who::Limit, Ok(BareMap::new()))
                    .await;
            }
            if self.wants(Who::Turul) {
                self.subject(family, size, Who::Turul, Ok(Turul::memory()))
                    .await;
            }
            if self.wants(Who::Pmcp) {
                self.subject(family, size, Who::Pmcp, Ok(Pmcp::memory()))
                    .await;
            }
            if self.wants(Who::PythonSdk) && cli::PYTHON_SDK_SIZES.contains(&size) {
                self.python_sdk(size);
            }
        }
        if self.wants(Who::Rmcp) {
            self.fresh_managers(family, Who::Rmcp, Manager::rmcp).await;
        }
        if self.wants(Who::Ours) {
            let ours = || Manager::ours(MemoryTaskStore::new(StoreConfig::default()));
            self.fresh_managers(family, Who::Ours, ours).await;
        }
    }

    async fn sqlite(&mut self) -> Res<()> {
        let family = Family::Sqlite;
        let data = self.root.join("target/bench-data");
        std::fs::create_dir_all(&data)?;
        let dir = tempfile::tempdir_in(&data)?;
        if let Some(version) = sqlite_version(dir.path()).await {
            self.results.notes.push(format!(
                "SQLite {version} (bundled with sqlx), files in target/bench-data"
            ));
        }
        for size in self.options.sizes(family) {
            if self.wants(Who::Ours) {
                let path = dir.path().join(format!("ours-{size}.db"));
                let store = open_sqlite(&path).await.map(Ours::new);
                self.subject(family, size, Who::Ours, store).await;
            }
            if self.wants(Who::Limit) {
                let path = dir.path().join(format!("raw-{size}.db"));
                self.subject(family, size, Who::Limit, RawSqlite::open(&path).await)
                    .await;
            }
            if self.wants(Who::Turul) {
                let path = dir.path().join(format!("turul-{size}.db"));
                self.subject(family, size, Who::Turul, Turul::sqlite(&path).await)
                    .await;
            }
        }
        if self.wants(Who::Ours) {
            let path = dir.path().join("manager.db");
            let manager = open_sqlite(&path).await.map(Manager::ours);
            self.manager(family, Who::Ours, manager).await;
        }
        Ok(())
    }

    async fn redis(&mut self) {
        let family = Family::Redis;
        let (url, _server) = match &self.options.redis_url {
            Some(url) => (url.clone(), None),
            None => match redis_server::RedisServer::start().await {
                Ok(server) => (server.url.clone(), Some(server)),
                Err(e) => {
                    self.unavailable(family, &format!("no Redis: {e}"));
                    return;
                }
            },
        };
        if let Some(version) = redis_server::version(&url).await {
            self.results
                .notes
                .push(format!("Redis {version} on loopback, no persistence"));
        }
        for size in self.options.sizes(family) {
            if self.wants(Who::Ours) {
                let options = RedisOptions::default().with_key_prefix("bench-ours");
                let store = RedisTaskStore::open_with(&url, StoreConfig::default(), options).await;
                let pattern = store.as_ref().ok().map(RedisTaskStore::key_pattern);
                let subject = store.map(Ours::new).map_err(Into::into);
                self.subject(family, size, Who::Ours, subject).await;
                if let Some(pattern) = pattern {
                    self.clean_redis(&url, &pattern).await;
                }
            }
            if self.wants(Who::Limit) {
                let subject = RawRedis::open(&url, "bench:raw:").await;
                self.subject(family, size, Who::Limit, subject).await;
                self.clean_redis(&url, "bench:raw:*").await;
            }
            if self.wants(Who::Pmcp) {
                let subject = Pmcp::redis(&url, "bench:pmcp").await;
                self.subject(family, size, Who::Pmcp, subject).await;
                self.clean_redis(&url, "bench:pmcp:*").await;
            }
        }
        if self.wants(Who::Ours) {
            let options = RedisOptions::default().with_key_prefix("bench-manager");
            let store = RedisTaskStore::open_with(&url, StoreConfig::default(), options).await;
            let pattern = store.as_ref().ok().map(RedisTaskStore::key_pattern);
            let manager = store.map(Manager::ours).map_err(Into::into);
            self.manager(family, Who::Ours, manager).await;
            if let Some(pattern) = pattern {
                self.clean_redis(&url, &pattern).await;
            }
        }
    }

    /// Every subject in a scratch database of the server at `--postgres-url`, each in a
    /// schema of its own; the database is dropped at the end.
    async fn postgres(&mut self) {
        let family = Family::Postgres;
        let scratch = match postgres_scratch::Scratch::create(&self.options.postgres_url).await {
            Ok(scratch) => scratch,
            Err(e) => {
                self.unavailable(family, &format!("no PostgreSQL: {e}"));
                return;
            }
        };
        self.results.notes.push(format!(
            "PostgreSQL {} on loopback, a scratch database per run",
            scratch.version
        ));
        let url = scratch.url.clone();
        self.analyze = Some(url.clone());
        let ours = |schema: &str| {
            PostgresOptions::default()
                .with_schema(schema)
                .with_sweep_interval(None)
        };
        for size in self.options.sizes(family) {
            if self.wants(Who::Ours) {
                let store = PostgresTaskStore::open_with(
                    &url,
                    StoreConfig::default(),
                    ours(&format!("ours_{size}")),
                )
                .await;
                let subject = store.map(Ours::new).map_err(Into::into);
                self.subject(family, size, Who::Ours, subject).await;
            }
            if self.wants(Who::Limit) {
                let subject = RawPostgres::open(&url, &format!("raw_{size}")).await;
                self.subject(family, size, Who::Limit, subject).await;
            }
            if self.wants(Who::Turul) {
                let subject = Turul::postgres(&url, &format!("turul_{size}")).await;
                let pool = subject.as_ref().ok().and_then(Turul::pool);
                self.subject(family, size, Who::Turul, subject).await;
                if let Some(pool) = pool {
                    pool.close().await;
                }
            }
        }
        if self.wants(Who::Ours) {
            let store = PostgresTaskStore::open_with(&url, StoreConfig::default(), ours("manager"));
            let manager = store.await.map(Manager::ours).map_err(Into::into);
            self.manager(family, Who::Ours, manager).await;
        }
        self.analyze = None;
        if let Err(e) = scratch.drop_database().await {
            let note = format!("could not drop the scratch database: {e}");
            self.results.notes.push(note);
        }
    }

    async fn clean_redis(&mut self, url: &str, pattern: &str) {
        if let Err(e) = subjects::delete_keys(url, pattern).await {
            let note = format!("could not delete Redis keys {pattern}: {e}");
            self.results.notes.push(note);
        }
    }

    /// Records `why` as the failure of every measurement of the family.
    fn unavailable(&mut self, family: Family, why: &str) {
        eprintln!("{}: {why}", family.title());
        for size in self.options.sizes(family) {
            for &who in Who::columns(family) {
                self.fail_all(family, size, who, false, why);
            }
        }
        self.fail_all(family, cli::MANAGER_TASKS, Who::Ours, true, why);
    }

    /// Records `why` as the failure of every store operation, or every task manager
    /// operation, of a subject.
    fn fail_all(&mut self, family: Family, size: usize, who: Who, manager: bool, why: &str) {
        for &callers in &self.options.callers {
            for op in self.options.ops() {
                if op.is_manager() != manager {
                    continue;
                }
                self.results.records.push(Record {
                    family,
                    size,
                    who,
                    callers,
                    op,
                    cell: Cell::Failed(why.to_owned()),
                });
            }
        }
    }

    /// A task manager holding [`cli::MANAGER_TASKS`] tasks.
    async fn manager<S: Subject>(&mut self, family: Family, who: Who, manager: Res<S>) {
        self.subject(family, cli::MANAGER_TASKS, who, manager).await;
    }

    /// In-memory task managers, a fresh one holding [`cli::MANAGER_TASKS`] tasks for every
    /// operation and concurrency: rmcp's manager scans every task it holds on each call, so
    /// the tasks one operation leaves behind would weigh on the next.
    async fn fresh_managers<S: Subject>(&mut self, family: Family, who: Who, open: impl Fn() -> S) {
        for callers in self.options.callers.clone() {
            for op in self.options.ops().into_iter().filter(|op| op.is_manager()) {
                let only = Some((callers, op));
                self.measure_subject(family, cli::MANAGER_TASKS, who, Ok(open()), only)
                    .await;
            }
        }
    }

    /// Fills one subject and measures every operation of its kind (a store's or a task
    /// manager's) at every concurrency.
    async fn subject<S: Subject>(
        &mut self,
        family: Family,
        size: usize,
        who: Who,
        subject: Res<S>,
    ) {
        self.measure_subject(family, size, who, subject, None).await;
    }

    /// Fills one subject and measures its operations at every concurrency, or `only` one
    /// operation at one concurrency.
    async fn measure_subject<S: Subject>(
        &mut self,
        family: Family,
        size: usize,
        who: Who,
        subject: Res<S>,
        only: Option<(usize, Op)>,
    ) {
        let name = if S::MANAGER {
            format!("{} task manager", who.name(family))
        } else {
            who.name(family).to_owned()
        };
        let subject = match subject {
            Ok(subject) => Arc::new(subject),
            Err(e) => {
                self.fail_all(
                    family,
                    size,
                    who,
                    S::MANAGER,
                    &format!("could not open: {e}"),
                );
                return;
            }
        };
        let started = std::time::Instant::now();
        let (filled, bytes) =
            alloc::net_bytes(workload::fill(&subject, size, self.options.seed)).await;
        let mut pool = match filled {
            Ok(pool) => pool,
            Err(e) => {
                self.fail_all(
                    family,
                    size,
                    who,
                    S::MANAGER,
                    &format!("could not fill: {e}"),
                );
                return;
            }
        };
        // A fill lands faster than autovacuum gathers statistics on a store in use: without
        // them the planner takes every subject's keyset page for a few rows and sorts all the
        // owner's tasks for each page, whoever the subject.
        if let Some(url) = &self.analyze
            && let Err(e) = postgres_scratch::analyze(url).await
        {
            eprintln!("[{} {size}] {name}: ANALYZE failed: {e}", family.title());
        }
        if family == Family::Memory && !S::MANAGER {
            let per_task = (bytes - pool.own_bytes() as isize) as f64 / size as f64;
            self.results.footprints.push((family, size, who, per_task));
        }
        eprintln!(
            "[{} {size}] {name}: filled in {:.1?}",
            family.title(),
            started.elapsed()
        );
        let plan = self.options.plan(family);
        let mut single = std::collections::HashMap::new();
        let ops: Vec<Op> = self
            .options
            .ops()
            .into_iter()
            .filter(|op| op.is_manager() == S::MANAGER)
            .collect();
        for &callers in &self.options.callers {
            for &op in &ops {
                if only.is_some_and(|only| only != (callers, op)) {
                    continue;
                }
                let known = single.get(&op).copied();
                let cell = workload::measure(&subject, &mut pool, op, callers, &plan, known).await;
                if callers == 1
                    && let Some(per_call) = cell.per_call(op)
                {
                    single.insert(op, per_call);
                }
                eprintln!(
                    "[{} {size}] {name} ×{callers} {}: {}",
                    family.title(),
                    op.label(),
                    brief(&cell)
                );
                self.results.records.push(Record {
                    family,
                    size,
                    who,
                    callers,
                    op,
                    cell,
                });
            }
        }
    }

    /// The MCP Python SDK's store at `size`.
    fn python_sdk(&mut self, size: usize) {
        let family = Family::Memory;
        if self.python.is_none() {
            self.python = Some(python::interpreter(&self.root).map_err(|e| e.to_string()));
        }
        let python = match &self.python {
            Some(Ok(python)) => python.clone(),
            Some(Err(e)) => {
                let why = e.clone();
                self.fail_all(family, size, Who::PythonSdk, false, &why);
                return;
            }
            None => return,
        };
        let script = self.root.join("bench/python/python_sdk_store.py");
        let plan = self.options.plan(family);
        eprintln!("[{} {size}] Python SDK: running", family.title());
        let store_ops: Vec<Op> = self
            .options
            .ops()
            .into_iter()
            .filter(|op| !op.is_manager())
            .collect();
        match python::run(
            &python,
            &script,
            size,
            &self.options.callers,
            &store_ops,
            &plan,
            self.options.seed,
        ) {
            Ok(run) => {
                let note = format!("Python SDK: mcp {} InMemoryTaskStore", run.mcp);
                if !self.results.notes.contains(&note) {
                    self.results.notes.push(note);
                }
                self.results
                    .footprints
                    .push((family, size, Who::PythonSdk, run.bytes_per_task));
                for (op, callers, cell) in run.cells {
                    self.results.records.push(Record {
                        family,
                        size,
                        who: Who::PythonSdk,
                        callers,
                        op,
                        cell,
                    });
                }
            }
            Err(e) => self.fail_all(family, size, Who::PythonSdk, false, &e.to_string()),
        }
    }
}

fn brief(cell: &Cell) -> String {
    match cell {
        Cell::Rate { partial, .. } => format!(
            "{}{}",
            cell.rate().map_or("–".to_owned(), report::per_second),
            partial
                .as_ref()
                .map_or(String::new(), |p| format!(" ({p})"))
        ),
        Cell::Latency { p50, p99, samples } => format!(
            "p50 {} p99 {} ({samples} samples)",
            report::duration(*p50),
            report::duration(*p99)
        ),
        Cell::NotApplicable(why) => format!("n/a ({why})"),
        Cell::Failed(e) => format!("FAILED: {e}"),
    }
}

/// Exact versions of the crates compared, from Cargo.lock.
fn crate_versions(root: &Path) -> String {
    let lock = std::fs::read_to_string(root.join("bench/Cargo.lock")).unwrap_or_default();
    let version = |name: &str| {
        let marker = format!("name = \"{name}\"\nversion = \"");
        lock.find(&marker)
            .and_then(|at| lock[at + marker.len()..].split('"').next())
            .unwrap_or("?")
            .to_owned()
    };
    let names = [
        "turul-mcp-task-storage",
        "pmcp-tasks",
        "rmcp",
        "sqlx",
        "redis",
        "tokio",
    ];
    let listed: Vec<String> = names
        .iter()
        .map(|n| format!("{n} {}", version(n)))
        .collect();
    format!("crates: {}", listed.join(", "))
}

async fn sqlite_version(dir: &Path) -> Option<String> {
    use sqlx::Connection;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.join("version.db"))
        .create_if_missing(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await.ok()?;
    let version: String = sqlx::query_scalar("SELECT sqlite_version()")
        .fetch_one(&mut conn)
        .await
        .ok()?;
    let _ = conn.close().await;
    Some(version)
}
