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
//! These are test helpers: they panic when a process cannot be started or talked to, which
//! fails the test that called them.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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
