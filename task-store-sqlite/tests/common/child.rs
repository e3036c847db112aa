//! Child processes for the multi-process tests: the test binary re-runs itself with
//! [`ROLE`] set, running only its ignored `child_process` test, which acts out the role.
//! The child talks over stdin and stdout, one line per message; its other output is ignored.
//! A child never outlives its test: it is killed when its handle drops, and it exits when its
//! parent stops reading.

use std::io::{BufRead, BufReader, Lines, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// Names the role a child plays.
pub const ROLE: &str = "TASK_STORE_SQLITE_CHILD_ROLE";
/// The database file the child opens.
pub const PATH: &str = "TASK_STORE_SQLITE_CHILD_PATH";
/// Prefix of every line a child means for its parent.
pub const SAY: &str = "CHILD ";

/// A running child.
pub struct ChildProcess {
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl ChildProcess {
    /// Starts this test binary as a child playing `role` on `path`, with `vars` set too.
    pub fn spawn(role: &str, path: &Path, vars: &[(&str, String)]) -> ChildProcess {
        ChildProcess::spawn_under(&[], role, path, vars)
    }

    /// Like [`ChildProcess::spawn`], but runs the child through `wrapper` (a command and its
    /// arguments, which must end by running the rest of its arguments: the test binary).
    pub fn spawn_under(
        wrapper: &[&str],
        role: &str,
        path: &Path,
        vars: &[(&str, String)],
    ) -> ChildProcess {
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(exe);
                command
            }
            None => Command::new(exe),
        };
        command
            .args(["child_process", "--exact", "--ignored", "--nocapture"])
            .args(["--test-threads", "1"])
            .env(ROLE, role)
            .env(PATH, path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (key, value) in vars {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("the child starts");
        let stdin = child.stdin.take().expect("a piped stdin");
        let stdout = child.stdout.take().expect("a piped stdout");
        ChildProcess {
            child,
            stdin: Some(stdin),
            lines: BufReader::new(stdout).lines(),
        }
    }

    /// The child's next message, or `None` once its output ends.
    pub fn next(&mut self) -> Option<String> {
        for line in self.lines.by_ref() {
            let line = line.expect("the child's output is text");
            // libtest's "test child_process ... " may share the line.
            if let Some((_, message)) = line.split_once(SAY) {
                return Some(message.to_owned());
            }
        }
        None
    }

    /// Reads messages until `expected`, failing on anything else that says ERROR.
    pub fn expect(&mut self, expected: &str) {
        loop {
            match self.next() {
                Some(line) if line == expected => return,
                Some(line) if line.starts_with("ERROR") => panic!("the child failed: {line}"),
                Some(_) => {}
                None => panic!("the child ended before saying {expected:?}"),
            }
        }
    }

    /// Sends one line to the child.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open until finish");
        writeln!(stdin, "{line}").expect("the child reads its stdin");
        stdin.flush().expect("the child reads its stdin");
    }

    /// Waits for the child to exit and checks that it succeeded.
    pub fn finish(mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().expect("the child exits");
        assert!(status.success(), "the child failed: {status}");
    }
}

/// In a child: says `message` to the parent at once; exits if the parent is gone.
pub fn say(message: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{SAY}{message}")
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(2);
    }
}

/// In a child: the parent's next line, or `None` when it closed stdin.
pub fn hear() -> Option<String> {
    let mut line = String::new();
    match std::io::stdin().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end().to_owned()),
    }
}

/// In a child: the role and database path, when this process is a child.
pub fn role() -> Option<(String, std::path::PathBuf)> {
    let role = std::env::var(ROLE).ok()?;
    let path = std::env::var_os(PATH)?;
    Some((role, path.into()))
}
