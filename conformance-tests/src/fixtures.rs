//! Servers a test starts for itself (feature `fixtures`): for the workspace's own tests of
//! stores and tools, kept out of the suite that store authors run.
//!
//! These are test helpers: they panic when a server cannot be started, which fails the test
//! that called them.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Far longer than a start should take; reaching it means the server will not start.
const HANG: Duration = Duration::from_secs(60);

/// A `redis-server` of the test's own on a spare port of 127.0.0.1 that requires a password
/// (`requirepass`), without persistence; killed when dropped. The binary is `redis-server`
/// on `PATH`, or `$REDIS_SERVER`.
#[derive(Debug)]
pub struct PasswordRedis {
    /// Its port on 127.0.0.1.
    pub port: u16,
    password: String,
    child: Option<Child>,
}

impl PasswordRedis {
    /// Starts it and waits until it answers a `PING` given the password.
    pub fn start(password: &str) -> PasswordRedis {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a spare port");
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(&binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--requirepass", password])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary:?} ({e}): run ./scripts/test-all.sh"));
        let server = PasswordRedis {
            port,
            password: password.to_owned(),
            child: Some(child),
        };
        let started = Instant::now();
        while !server.answers() {
            assert!(started.elapsed() < HANG, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// Its URL, password included: `redis://:PASSWORD@127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://:{}@127.0.0.1:{}/0", self.password, self.port)
    }

    /// Kills the server (nothing is saved) and waits until it is gone; its port stays
    /// reserved in [`PasswordRedis::port`] for tests that connect to nothing there.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the server answers `AUTH` and `PING`, spoken in RESP by hand so that the
    /// fixture needs no client library.
    fn answers(&self) -> bool {
        let command = |words: &[&str]| {
            let mut out = format!("*{}\r\n", words.len());
            for word in words {
                out.push_str(&format!("${}\r\n{word}\r\n", word.len()));
            }
            out
        };
        let request = command(&["AUTH", &self.password]) + &command(&["PING"]);
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let wait = Some(Duration::from_millis(200));
        if stream.set_read_timeout(wait).is_err() || stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut reply = Vec::new();
        let mut buffer = [0; 64];
        while !reply.ends_with(b"+PONG\r\n") {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => return false,
                Ok(n) => reply.extend_from_slice(&buffer[..n]),
            }
        }
        reply.starts_with(b"+OK\r\n")
    }
}

impl Drop for PasswordRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
