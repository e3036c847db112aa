//! The `taskstore` binary never prints a store URL's password: not in errors, not in its
//! help, not in the demo's report. Every run has `RUST_LOG=trace`, so logs at any level
//! are checked too.

use conformance_tests::fixtures::PasswordRedis;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_taskstore");

/// Distinctive enough that finding it anywhere means it leaked.
const PASSWORD: &str = "Pw-5be12-cli-canary";

fn taskstore(store: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .env("RUST_LOG", "trace")
        .env_remove("TASKSTORE_URL")
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .expect("the taskstore binary runs")
}

/// Everything the run printed, checked for the password.
fn printed(what: &str, out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains(PASSWORD),
        "{what} printed the password: {text}"
    );
    text
}

/// The URL of `server`, with its password, under a prefix of these tests.
fn url(server: &PasswordRedis) -> String {
    format!("{}?prefix=cli-secrets", server.url())
}

#[test]
fn errors_never_show_the_password() {
    let server = PasswordRedis::start(PASSWORD);
    let wrong = format!("redis://default:{PASSWORD}-x@127.0.0.1:{}/0", server.port);
    for (url, code) in [
        (format!("redis://:{PASSWORD}@127.0.0.1:notaport/0"), 2),
        (format!("mysql://u:{PASSWORD}@host/x"), 2),
        (format!("postgres://db/x?password={PASSWORD}"), 4),
        (
            format!("postgres://u:{PASSWORD}@127.0.0.1:1/x?call_timeout_ms=2000"),
            4,
        ),
        (format!("redis://:{PASSWORD}@127.0.0.1:1/0"), 4),
        (format!("redis://:{PASSWORD}@127.0.0.1:6379/0?bogus=1"), 2),
        (wrong, 4),
    ] {
        let out = taskstore(&url, &["stats"]);
        let text = printed(&url, &out);
        assert_eq!(out.status.code(), Some(code), "{url}: {text}");
        // The error is the last line, after the command's span at RUST_LOG=trace.
        let last = text.lines().last().unwrap_or_default();
        assert!(last.starts_with("taskstore: "), "{text}");
        assert!(text.contains("command{command=\"stats\""), "{text}");
    }
    // The redacted URL still says which store was meant.
    let out = taskstore(&format!("mysql://u:{PASSWORD}@host/x"), &["stats"]);
    assert!(printed("mysql", &out).contains("mysql://u:***@host/x"));
}

#[test]
fn help_does_not_show_the_url_from_the_environment() {
    let url = format!("redis://:{PASSWORD}@127.0.0.1:6379/0");
    for args in [&["--help"][..], &["stats", "--help"][..]] {
        let out = Command::new(BIN)
            .env("TASKSTORE_URL", &url)
            .args(args)
            .output()
            .expect("the taskstore binary runs");
        assert!(out.status.success());
        let text = printed("--help", &out);
        assert!(text.contains("TASKSTORE_URL"), "{text}");
    }
}

#[test]
fn the_demo_and_the_commands_never_show_the_password() {
    let server = PasswordRedis::start(PASSWORD);
    let url = url(&server);
    let out = taskstore(&url, &["demo", "--tasks", "20"]);
    let text = printed("demo", &out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("redis://:***@127.0.0.1"), "{text}");

    let out = taskstore(&url, &["demo", "--tasks", "20", "--json"]);
    let text = printed("demo --json", &out);
    assert!(out.status.success(), "{text}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["by_status"]["completed"], 14, "{report}");
    assert!(
        report["store"]
            .as_str()
            .is_some_and(|store| store.starts_with("redis://:***@127.0.0.1")),
        "{report}"
    );

    for args in [
        &["stats"][..],
        &["list"],
        &["purge"],
        &["get", "no-such-task"],
        &["watch", "no-such-task"],
    ] {
        printed(&format!("{args:?}"), &taskstore(&url, args));
    }
}
