//! The MCP Python SDK's own store, `InMemoryTaskStore`, driven by
//! `bench/python/python_sdk_store.py` with the same workload and operation counts.

use crate::workload::{Cell, Op, Plan, Res};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The SDK release that still has its `InMemoryTaskStore`.
const MCP_VERSION: &str = "1.30.0";

#[derive(Deserialize)]
struct Output {
    mcp: String,
    bytes_per_task: f64,
    results: HashMap<String, Measured>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Measured {
    Rate {
        count: usize,
        seconds: f64,
        partial: Option<String>,
    },
    Latency {
        p50_us: f64,
        p99_us: f64,
        samples: usize,
    },
}

/// What one run of the script measured.
pub struct PythonSdkRun {
    pub mcp: String,
    pub bytes_per_task: f64,
    pub cells: Vec<(Op, usize, Cell)>,
}

/// The virtualenv's Python with `mcp==1.30.0`, created (as `scripts/test-all.sh` does) if
/// missing.
pub fn interpreter(root: &Path) -> Res<PathBuf> {
    let python = root.join(".venv/bin/python");
    let has_mcp = |python: &Path| {
        Command::new(python)
            .args([
                "-c",
                "import importlib.metadata as m; print(m.version('mcp'))",
            ])
            .output()
            .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == MCP_VERSION)
    };
    if has_mcp(&python) {
        return Ok(python);
    }
    eprintln!("python SDK: creating .venv with mcp=={MCP_VERSION}");
    let venv = root.join(".venv");
    let created = python.exists()
        || Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success());
    let installed = created
        && Command::new(root.join(".venv/bin/pip"))
            .args(["install", "--quiet", &format!("mcp=={MCP_VERSION}")])
            .status()
            .is_ok_and(|s| s.success());
    if installed && has_mcp(&python) {
        Ok(python)
    } else {
        Err(format!("no Python with mcp=={MCP_VERSION} in .venv").into())
    }
}

/// Runs the Python SDK's store at `size` for every caller count and operation.
pub fn run(
    python: &Path,
    script: &Path,
    size: usize,
    callers: &[usize],
    ops: &[Op],
    plan: &Plan,
    seed: u64,
) -> Res<PythonSdkRun> {
    let calls = serde_json::json!({
        "create": plan.calls.create,
        "get": plan.calls.get,
        "status": plan.calls.status,
        "complete": plan.calls.complete,
        "cancel": plan.calls.cancel,
    });
    let out = Command::new(python)
        .arg(script)
        .args(["--size", &size.to_string()])
        .arg("--callers")
        .args(callers.iter().map(ToString::to_string))
        .args(["--budget", &plan.budget.as_secs_f64().to_string()])
        .args(["--seed", &seed.to_string()])
        .args(["--calls", &calls.to_string()])
        .args(["--wake-rounds", &plan.wake_rounds.to_string()])
        .arg("--ops")
        .args(ops.iter().map(|op| op.key()))
        .output()?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or("no output");
        return Err(format!("Python SDK script failed: {last}").into());
    }
    let output: Output = serde_json::from_slice(&out.stdout)?;
    let mut cells = Vec::new();
    for (key, measured) in output.results {
        let Some((op, callers)) = key.split_once('/') else {
            continue;
        };
        let (Some(op), Ok(callers)) = (Op::parse(op), callers.parse()) else {
            continue;
        };
        let cell = match measured {
            Measured::Rate {
                count,
                seconds,
                partial,
            } => Cell::Rate {
                count,
                seconds,
                partial,
            },
            Measured::Latency {
                p50_us,
                p99_us,
                samples,
            } => Cell::Latency {
                p50: Duration::from_secs_f64(p50_us / 1e6),
                p99: Duration::from_secs_f64(p99_us / 1e6),
                samples,
            },
        };
        cells.push((op, callers, cell));
    }
    Ok(PythonSdkRun {
        mcp: output.mcp,
        bytes_per_task: output.bytes_per_task,
        cells,
    })
}
