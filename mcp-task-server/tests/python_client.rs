//! Interoperability: the official MCP Python SDK client (pip `mcp==1.30.0`) drives the server
//! over stdio, through `tests/interop/python_client.py`.
//!
//! The interpreter is `$MCP_PYTHON`, or the workspace's `.venv` that `scripts/test-all.sh`
//! creates. A missing interpreter or package fails the test with a message; it never skips.

mod common;

use common::{GUARD, SERVER, TestStore};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::process::Command;

const SDK_VERSION: &str = "1.30.0";

/// Runs the client script against each store; `python_client::<store>` in the test output.
macro_rules! python_client_tests {
    ($($store:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $store() {
                run_python_client(&common::$store()).await;
            }
        )*
    };
}

python_client_tests!(memory, sqlite, redis, postgres);

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in the workspace")
}

/// The interpreter that has the SDK, or a failure that says how to get one.
fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("MCP_PYTHON") {
        return PathBuf::from(python);
    }
    let venv = workspace_root().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no Python client: set MCP_PYTHON to an interpreter with pip mcp=={SDK_VERSION}, or run \
         ./scripts/test-all.sh, which creates {}",
        venv.display()
    );
    venv
}

async fn run_python_client(store: &TestStore) {
    let python = python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/python_client.py");
    let sdk = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('mcp'))",
        ])
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let installed = String::from_utf8_lossy(&sdk.stdout).trim().to_owned();
    assert!(
        sdk.status.success() && installed == SDK_VERSION,
        "{} lacks pip mcp=={SDK_VERSION} (found {installed:?}; {}); run ./scripts/test-all.sh",
        python.display(),
        String::from_utf8_lossy(&sdk.stderr).trim()
    );

    let mut command = Command::new(&python);
    command
        .arg(&script)
        .args(["--server", SERVER, "--store", &store.url])
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if store.shared {
        command.arg("--shared");
    }
    // The script guards its own waits; this guard only catches a wedged interpreter.
    let output = tokio::time::timeout(GUARD * 5, command.output())
        .await
        .expect("hang guard: the Python client finishes")
        .expect("the Python client runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "the Python client failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("every check passed"),
        "the Python client ended without its summary:\n{stdout}"
    );
}
