//! The command line: bad arguments are reported on stderr and the server does not start.

use std::process::{Command, Output, Stdio};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mcp-task-server"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the server binary runs")
}

#[test]
fn an_unknown_store_url_is_reported() {
    let output = run(&["--store", "postgres://db/tasks"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot open the store"), "{stderr}");
    assert!(output.stdout.is_empty(), "stdout carries only JSON-RPC");
}

#[test]
fn a_bad_owner_is_reported() {
    let output = run(&["--owner", ""]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--owner: invalid input: owner is empty"),
        "{stderr}"
    );
}

#[test]
fn help_names_the_options() {
    let output = run(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for option in ["--store <URL>", "--owner <NAME>", "[default: memory://]"] {
        assert!(help.contains(option), "{option} missing from:\n{help}");
    }
}

#[test]
fn end_of_input_ends_the_server() {
    // stdin is /dev/null: the session ends at once, cleanly.
    let output = run(&[]);
    assert!(output.status.success());
    assert!(output.stdout.is_empty());
}
