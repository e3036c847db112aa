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
    let output = run(&["--store", "mysql://db/tasks"]);
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

#[test]
fn stuck_tasks_are_recovered_at_start() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = format!("sqlite://{}", dir.path().join("tasks.db").display());
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (stuck, done) = runtime.block_on(async {
        let store = task_store::open(&url).await.expect("the store opens");
        let stuck = store
            .create(task_store::NewTask::new())
            .await
            .expect("create");
        let done = store
            .create(task_store::NewTask::new())
            .await
            .expect("create");
        let all = task_store::Scope::All;
        task_store::TaskStoreExt::complete(store.as_ref(), &all, &done.task_id, Default::default())
            .await
            .expect("complete");
        (stuck.task_id, done.task_id)
    });
    let output = run(&["--store", &url, "--recover-stuck-after", "0"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("marked 1 stuck task(s) failed"), "{stderr}");
    runtime.block_on(async {
        let store = task_store::open(&url).await.expect("the store reopens");
        let all = task_store::Scope::All;
        let stuck = store.get(&all, &stuck).await.expect("the stuck task");
        assert_eq!(stuck.status, task_store::TaskStatus::Failed);
        assert_eq!(
            stuck.status_message.as_deref(),
            Some("the server restarted before the task finished")
        );
        let done = store.get(&all, &done).await.expect("the finished task");
        assert_eq!(done.status, task_store::TaskStatus::Completed);
    });
}
