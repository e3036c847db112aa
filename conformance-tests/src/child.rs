//! A second process on the same store, for tests that need one: the test binary runs one of
//! its own tests again as a child, which finds its role in an environment variable the parent
//! set, and the two talk one line at a time, the parent on the child's stdin, the child on its
//! stdout.
//!
//! ```no_run
//! use conformance_tests::child::{Kid, say};
//! use std::time::Duration;
//!
//! const ROLE: &str = "MY_STORE_CHILD_ROLE";
//!
//! #[test]
//! fn another_process_sees_the_task() {
//!     if let Ok(role) = std::env::var(ROLE) {
//!         // The child: open the store, act out `role`, report.
//!         say("done");
//!         return;
//!     }
//!     let kid = Kid::spawn("another_process_sees_the_task", &[(ROLE, "read")]);
//!     assert_eq!(kid.next(Duration::from_secs(30)), "done");
//!     kid.finish();
//! }
//! # fn main() {}
//! ```
//!
//! Three scenarios every store that several processes share should pass come ready-made:
//! [`waiter_wakes`], [`worker_wakes`] and [`worker_hears_answers`], with the child's side in
//! [`act`]. [`scenario`] runs one from the parent's side in one call (it makes the task and
//! starts the child), and [`act_in_scenario`] is the child's side of it:
//!
//! ```no_run
//! use conformance_tests::child;
//! use std::time::Duration;
//! use task_core::{Scope, TaskStore};
//!
//! const ROLE: &str = "MY_STORE_CHILD_ROLE";
//! const HANG: Duration = Duration::from_secs(60);
//!
//! // The body of a test named `a_waiter_in_another_process_wakes`, in both processes, on a
//! // store both open the same way.
//! async fn a_waiter_in_another_process_wakes(store: &dyn TaskStore) {
//!     if let Ok(role) = std::env::var(ROLE) {
//!         assert!(child::act_in_scenario(&role, store, &Scope::owner("alice"), HANG).await);
//!         return;
//!     }
//!     let test = "a_waiter_in_another_process_wakes";
//!     child::scenario(store, test, (ROLE, child::WAIT), &[], "alice", HANG).await;
//! }
//! # fn main() {}
//! ```
//!
//! These are test helpers: they panic when a process cannot be started or talked to, or a
//! scenario goes wrong, which fails the test that called them.

use serde_json::{Map, Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use task_core::{CurrentTask, Scope, TaskOutcome, TaskStatus, TaskStore, TaskStoreExt};

/// The child's role in [`waiter_wakes`]: wait for the task to end, then report it.
pub const WAIT: &str = "wait";
/// The child's role in [`worker_wakes`]: complete the task when told to.
pub const COMPLETE: &str = "complete";
/// The child's role in [`worker_hears_answers`]: answer the input request `name` when told
/// to, then request a cancel when told to.
pub const ANSWER: &str = "answer";

/// The variable that carries the task's id to the child of a [`scenario`].
pub const TASK_VAR: &str = "CONFORMANCE_TESTS_CHILD_TASK";

/// A head start for a wait in the other process, so that the change most likely reaches it
/// as a wake-up rather than in its first read. Either way the scenario ends the same.
const HEAD_START: Duration = Duration::from_millis(300);

/// Marks the child's lines among the test harness's own output.
const SAYS: &str = "child> ";

/// A child process running one test of this test binary; killed when dropped if still running.
#[derive(Debug)]
pub struct Kid {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Drop for Kid {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Kid {
    /// Runs `test` of this test binary again in a child process, alone, with the environment
    /// variables `vars` set (the child's role among them).
    pub fn spawn(test: &str, vars: &[(&str, &str)]) -> Kid {
        let exe = std::env::current_exe().expect("the test binary");
        let mut command = Command::new(exe);
        command
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        for (name, value) in vars {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("spawn the child process");
        let stdout = child.stdout.take().expect("the child's stdout");
        let stdin = child.stdin.take().expect("the child's stdin");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // The harness may have begun the line with "test <name> ... ".
                if let Some((_, said)) = line.split_once(SAYS) {
                    let _ = sender.send(said.to_owned());
                }
            }
        });
        Kid {
            child,
            stdin: Some(stdin),
            lines,
        }
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child's next line, waiting for it at most `within`.
    pub fn next(&self, within: Duration) -> String {
        self.lines
            .recv_timeout(within)
            .expect("the child said nothing in time")
    }

    /// The lines the child has said and the parent has not read yet, without waiting.
    pub fn said(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    /// Tells the child to go on (see [`await_go`]).
    pub fn go(&mut self) {
        let stdin = self.stdin.as_mut().expect("the child's stdin");
        writeln!(stdin, "go").expect("the child's stdin");
        stdin.flush().expect("the child's stdin");
    }

    /// Kills the child at once (`kill -9`) and reaps it.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill -9 the child");
        self.child.wait().expect("the killed child");
    }

    /// Waits for the child to exit and checks that it succeeded.
    pub fn finish(mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().expect("the child process");
        assert!(status.success(), "the child process failed: {status}");
    }
}

/// In the child: says `line` to the parent.
pub fn say(line: &str) {
    println!("{SAYS}{line}");
}

/// In the child: waits for the parent's [`Kid::go`].
pub fn await_go() {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).expect("stdin");
}

/// In the child: acts out `role` on `task_id` if it is [`WAIT`], [`COMPLETE`] or [`ANSWER`],
/// and says whether it was.
pub async fn act<S>(role: &str, store: &S, scope: &Scope, task_id: &str, within: Duration) -> bool
where
    S: TaskStore + ?Sized,
{
    match role {
        WAIT => {
            store.get(scope, task_id).await.expect("the task");
            say("waiting");
            let done = store.wait_until_terminal(scope, task_id, Some(within));
            let done = done.await.expect("the wait");
            let outcome = store.get_result(scope, task_id).await.expect("the outcome");
            say(&json!({ "status": done.status, "outcome": outcome }).to_string());
        }
        COMPLETE => {
            say("ready");
            await_go();
            let mut result = Map::new();
            result.insert("by".into(), json!(std::process::id()));
            let completed = store.complete(scope, task_id, result).await;
            completed.expect("the completion");
            say("completed");
        }
        ANSWER => {
            say("ready");
            await_go();
            let answer = json!({"action": "accept", "content": {"name": "Ada"}});
            let responses = Map::from_iter([("name".to_owned(), answer)]);
            store
                .respond(scope, task_id, responses)
                .await
                .expect("the answer");
            say("answered");
            await_go();
            let requested = store.request_cancel(scope, task_id).await;
            requested.expect("the cancel request");
            say("cancel requested");
        }
        _ => return false,
    }
    true
}

/// In the child of a [`scenario`]: [`act`] on the task named in [`TASK_VAR`]. Says whether
/// `role` was one of the shared ones.
pub async fn act_in_scenario<S>(role: &str, store: &S, scope: &Scope, within: Duration) -> bool
where
    S: TaskStore + ?Sized,
{
    if ![WAIT, COMPLETE, ANSWER].contains(&role) {
        return false;
    }
    let task_id = std::env::var(TASK_VAR).unwrap_or_else(|_| panic!("{TASK_VAR} is not set"));
    act(role, store, scope, &task_id, within).await
}

/// The parent's side of a shared scenario in one call: makes a task owned by `owner` in
/// `store`, runs `test` again in a child process with `vars` (what the child needs to open the
/// same store), `role_var` set to `role` and the task's id in [`TASK_VAR`], then plays this
/// side of `role`: [`waiter_wakes`] for [`WAIT`], [`worker_wakes`] for [`COMPLETE`] and
/// [`worker_hears_answers`] for [`ANSWER`]. The child calls [`act_in_scenario`].
pub async fn scenario<S>(
    store: &S,
    test: &str,
    (role_var, role): (&str, &str),
    vars: &[(&str, &str)],
    owner: &str,
    within: Duration,
) where
    S: TaskStore + ?Sized,
{
    let new = task_core::NewTask::new().owned_by(owner);
    let task = store.create(new).await.expect("the task");
    let task_id = task.task_id.as_str();
    let mut all = vars.to_vec();
    all.extend([(role_var, role), (TASK_VAR, task_id)]);
    let kid = Kid::spawn(test, &all);
    let scope = Scope::owner(owner);
    match role {
        WAIT => waiter_wakes(store, kid, &scope, task_id, within).await,
        COMPLETE => worker_wakes(store, kid, &scope, task_id, within).await,
        ANSWER => worker_hears_answers(store, kid, &scope, task_id, within).await,
        other => panic!("{other:?} is not a shared scenario's role"),
    }
}

/// A waiter in another process wakes when this one completes the task: `kid` acts out
/// [`WAIT`] on `task_id`, which `scope` may change.
pub async fn waiter_wakes<S>(store: &S, kid: Kid, scope: &Scope, task_id: &str, within: Duration)
where
    S: TaskStore + ?Sized,
{
    assert_eq!(kid.next(within), "waiting");
    tokio::time::sleep(HEAD_START).await;
    let mut result = Map::new();
    result.insert("answer".into(), json!(42));
    let completed = store.complete(scope, task_id, result.clone()).await;
    completed.expect("the completion");
    let report: Value = serde_json::from_str(&kid.next(within)).expect("the child's report");
    assert_eq!(report["status"], json!(TaskStatus::Completed));
    assert_eq!(report["outcome"], json!(TaskOutcome::Result(result)));
    kid.finish();
}

/// A waiter in this process wakes when a worker in another completes the task: `kid` acts out
/// [`COMPLETE`] on `task_id`, which `scope` may change.
pub async fn worker_wakes<S>(
    store: &S,
    mut kid: Kid,
    scope: &Scope,
    task_id: &str,
    within: Duration,
) where
    S: TaskStore + ?Sized,
{
    assert_eq!(kid.next(within), "ready");
    let seen = store.get(scope, task_id).await.expect("the task");
    let waiting = store.wait_for_update(scope, task_id, seen.last_updated_at, Some(within));
    // The wait is polled first, so it is under way before the child is told to go.
    let go = async {
        tokio::time::sleep(HEAD_START).await;
        kid.go();
    };
    let (done, ()) = tokio::join!(waiting, go);
    let done = done.expect("the wait");
    assert_eq!(
        done.status,
        TaskStatus::Completed,
        "woken by the other process"
    );
    assert_eq!(kid.next(within), "completed");
    let outcome = store.get_result(scope, task_id).await.expect("the outcome");
    let Some(TaskOutcome::Result(result)) = outcome else {
        panic!("no result: {outcome:?}");
    };
    assert_eq!(result["by"], json!(kid.id()), "the child completed it");
    assert_ne!(kid.id(), std::process::id());
    kid.finish();
}

/// A worker in this process waiting for its input answer, and then for a cancel request, is
/// woken by both, written by another process: `kid` acts out [`ANSWER`] on `task_id`, which
/// `scope` may change and which must be working.
pub async fn worker_hears_answers<S>(
    store: &S,
    mut kid: Kid,
    scope: &Scope,
    task_id: &str,
    within: Duration,
) where
    S: TaskStore + ?Sized,
{
    let ask = json!({"method": "elicitation/create", "params": {"message": "Name?"}});
    let requests = Map::from_iter([("name".to_owned(), ask)]);
    let asked = store.request_input(scope, task_id, requests).await;
    asked.expect("the input request");
    assert_eq!(kid.next(within), "ready");
    let record = wait_then_go(store, &mut kid, scope, task_id, "name", within).await;
    assert_eq!(
        record
            .answer
            .as_ref()
            .map(|answer| &answer["content"]["name"]),
        Some(&json!("Ada")),
        "the answer reached the worker"
    );
    assert_eq!(record.task.status, TaskStatus::Working);
    assert_eq!(kid.next(within), "answered");
    let record = wait_then_go(store, &mut kid, scope, task_id, "never-asked", within).await;
    assert!(
        record.cancel_requested,
        "the cancel request reached the worker"
    );
    assert_eq!(
        record.task.status,
        TaskStatus::Working,
        "the worker settles it"
    );
    assert_eq!(kid.next(within), "cancel requested");
    kid.finish();
}

/// Waits for an answer to `key` (or a cancel request), telling `kid` to go once the wait is
/// under way.
async fn wait_then_go<S>(
    store: &S,
    kid: &mut Kid,
    scope: &Scope,
    task_id: &str,
    key: &str,
    within: Duration,
) -> CurrentTask
where
    S: TaskStore + ?Sized,
{
    let waiting = store.wait_for_answer(scope, task_id, key, Some(within));
    // The wait is polled first, so it is under way before the child is told to go.
    let go = async {
        tokio::time::sleep(HEAD_START).await;
        kid.go();
    };
    let (record, ()) = tokio::join!(waiting, go);
    record.expect("the wait")
}

/// Expands into one test per shared scenario, named after it: `a_waiter_in_another_process_wakes`
/// ([`WAIT`]), `a_worker_in_another_process_wakes_this_waiter` ([`COMPLETE`]) and
/// `a_worker_wakes_on_answers_and_cancel_requests_from_another_process` ([`ANSWER`]). Each runs
/// on a multi-threaded runtime; in the child (where the variable named by `role_var` is set) it
/// awaits `child(&role)`, which calls [`act_in_scenario`], and in the parent
/// `parent(test_name, role)`, which calls [`scenario`] on a store the child can open too. The
/// calling crate needs tokio with the `macros` and `rt-multi-thread` features.
///
/// ```no_run
/// use conformance_tests::child;
/// use std::time::Duration;
/// use task_core::Scope;
///
/// const ROLE: &str = "MY_STORE_CHILD_ROLE";
/// const HANG: Duration = Duration::from_secs(60);
/// # async fn open() -> task_store_memory::MemoryTaskStore { unimplemented!() }
///
/// async fn in_child(role: &str) {
///     let store = open().await;
///     assert!(child::act_in_scenario(role, &store, &Scope::owner("alice"), HANG).await);
/// }
///
/// async fn in_parent(test: &str, role: &str) {
///     let store = open().await;
///     child::scenario(&store, test, (ROLE, role), &[], "alice", HANG).await;
/// }
///
/// conformance_tests::cross_process_scenarios!(ROLE, in_child, in_parent);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! cross_process_scenarios {
    ($role_var:expr, $child:path, $parent:path $(,)?) => {
        $crate::cross_process_scenarios! {
            @test $role_var, $child, $parent, WAIT,
            /// A waiter in another process wakes when this one completes the task.
            a_waiter_in_another_process_wakes
        }
        $crate::cross_process_scenarios! {
            @test $role_var, $child, $parent, COMPLETE,
            /// A waiter here wakes when a worker in another process completes the task.
            a_worker_in_another_process_wakes_this_waiter
        }
        $crate::cross_process_scenarios! {
            @test $role_var, $child, $parent, ANSWER,
            /// A worker waiting for its input answer, and then for a cancel request, is woken
            /// by both, written by another process.
            a_worker_wakes_on_answers_and_cancel_requests_from_another_process
        }
    };
    (@test $role_var:expr, $child:path, $parent:path, $role:ident, $(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            if let Ok(role) = ::std::env::var($role_var) {
                return $child(&role).await;
            }
            $parent(stringify!($name), $crate::child::$role).await;
        }
    };
}
