//! What the Redis tests share: the server's URL, stores under a fresh key prefix that delete
//! their keys when dropped, raw connections to look inside, and a private `redis-server`.
#![allow(dead_code)] // each test file uses a different part

use conformance_tests::delegate::{Delegate, Delegating};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use task_core::{StoreConfig, TaskStore};
use task_store_redis::redis;
use task_store_redis::{RedisOptions, RedisTaskStore};

/// Far longer than anything should take; reaching it means a hang.
pub const HANG: Duration = Duration::from_secs(30);

/// The Redis the tests use: `REDIS_URL`, or the default local one.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A key prefix no other test or run uses.
pub fn fresh_prefix() -> String {
    format!("test-{}", uuid::Uuid::new_v4().simple())
}

/// Default options under a fresh prefix.
pub fn options() -> RedisOptions {
    RedisOptions::default().with_key_prefix(fresh_prefix())
}

/// Opens a store, failing the test with a clear message when Redis does not answer: the
/// Redis tests never skip.
pub async fn open_at(url: &str, config: StoreConfig, options: RedisOptions) -> RedisTaskStore {
    match RedisTaskStore::open_with(url, config, options).await {
        Ok(store) => store,
        Err(error) => panic!(
            "cannot open a Redis store at {url}: {error}. The Redis tests need a server: \
             run ./scripts/test-all.sh (it starts one) or set REDIS_URL"
        ),
    }
}

/// A blocking connection for looking at keys directly.
pub fn raw(url: &str) -> redis::Connection {
    let client = redis::Client::open(url).expect("a valid Redis URL");
    client
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("cannot connect to Redis at {url}: {e}"))
}

/// Every key matching `pattern`.
pub fn keys_matching(url: &str, pattern: &str) -> Vec<String> {
    let mut connection = raw(url);
    let mut keys = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query(&mut connection)
            .expect("SCAN");
        keys.extend(batch);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
}

/// The pub/sub channel that wakes waiters of `task_id` in a store with `prefix`.
pub fn channel_of(prefix: &str, task_id: &str) -> String {
    let hex: String = task_id.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{{{prefix}}}:ch:{hex}")
}

/// How many connections of the Redis at `url` subscribe to `channel`; -1 if it does not answer.
pub fn subscribers(url: &str, channel: &str) -> i64 {
    let Ok(mut connection) = redis::Client::open(url)
        .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(1)))
    else {
        return -1;
    };
    redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query::<(String, i64)>(&mut connection)
        .map_or(-1, |(_, count)| count)
}

/// Blocks (off the async workers) until `channel` on the Redis at `url` has `count`
/// subscribers.
pub async fn until_subscribers(url: &str, channel: &str, count: i64) {
    let (url, channel) = (url.to_owned(), channel.to_owned());
    tokio::task::spawn_blocking(move || {
        eventually(&format!("{count} subscribers of {channel}"), || {
            subscribers(&url, &channel) == count
        })
    })
    .await
    .expect("the subscriber probe");
}

/// Deletes every key matching `pattern`.
pub fn delete_keys(url: &str, pattern: &str) -> redis::RedisResult<()> {
    let keys = keys_matching(url, pattern);
    if !keys.is_empty() {
        let mut connection = raw(url);
        redis::cmd("DEL").arg(&keys).query::<i64>(&mut connection)?;
    }
    Ok(())
}

/// A store under a fresh prefix that deletes all its keys when dropped. As a [`Delegating`]
/// store it is a `TaskStore` itself.
#[derive(Debug)]
pub struct Scratch {
    pub store: RedisTaskStore,
    url: String,
}

impl Scratch {
    /// A scratch store on the test Redis.
    pub async fn open(config: StoreConfig) -> Delegating<Scratch> {
        Scratch::open_with(config, options()).await
    }

    /// A scratch store on the test Redis with `options` (whose prefix should be fresh).
    pub async fn open_with(config: StoreConfig, options: RedisOptions) -> Delegating<Scratch> {
        Scratch::open_at(&redis_url(), config, options).await
    }

    /// A scratch store on the Redis at `url`.
    pub async fn open_at(
        url: &str,
        config: StoreConfig,
        options: RedisOptions,
    ) -> Delegating<Scratch> {
        Delegating(Scratch {
            store: open_at(url, config, options).await,
            url: url.to_owned(),
        })
    }

    /// Every key this store holds now.
    pub fn keys(&self) -> Vec<String> {
        keys_matching(&self.url, &self.store.key_pattern())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Best effort: a test against a stopped server has nothing left to delete.
        let _ = delete_keys(&self.url, &self.store.key_pattern());
    }
}

impl Delegate for Scratch {
    fn inner(&self) -> &dyn TaskStore {
        &self.store
    }
}

/// The conformance suite's factory: a scratch store per case. The suite stores 10 MB payloads,
/// which a busy machine's Redis takes seconds to handle (stalling every other case's calls
/// meanwhile), so replies may take longer than the default 2 s.
pub async fn scratch_store(config: StoreConfig) -> Arc<dyn TaskStore> {
    let options = options().with_response_timeout(Duration::from_secs(30));
    Arc::new(Scratch::open_with(config, options).await)
}

/// Awaits `future`, failing the test if it takes longer than [`HANG`]. Waits under test run
/// without a timeout of their own inside this guard, so a missed wake-up fails the test
/// rather than ending the wait at its deadline.
pub async fn within_hang<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(HANG, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what} hung for {HANG:?}"),
    }
}

/// Polls `check` every 20 ms until it holds, failing the test after [`HANG`].
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < HANG, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `redis-server` of the test's own on a spare port, killed on drop; without persistence
/// unless started with [`PrivateRedis::start_persistent`].
#[derive(Debug)]
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
    /// Settings added to the command line of every start.
    settings: Vec<String>,
    /// For a TLS-only server: the certificates it serves and the authority that signed them.
    tls: Option<Arc<TestCertificates>>,
}

/// A certificate authority and a server certificate it signed for `127.0.0.1` and
/// `localhost`, made fresh by the test, as PEM files in a temporary directory.
#[derive(Debug)]
pub struct TestCertificates {
    /// The authority's certificate, PEM: what clients trust.
    pub ca_pem: String,
    dir: tempfile::TempDir,
}

impl TestCertificates {
    /// Generates the authority's and the server's keys and certificates.
    pub fn generate() -> Arc<TestCertificates> {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "task-store-redis test CA");
        let ca_cert = ca.self_signed(&ca_key).expect("the CA certificate");
        let issuer = Issuer::new(ca, ca_key);
        let server_key = KeyPair::generate().expect("a server key");
        let server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("server parameters")
            .signed_by(&server_key, &issuer)
            .expect("the server certificate");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let write = |name: &str, pem: String| {
            std::fs::write(dir.path().join(name), pem).expect("a PEM file");
        };
        write("ca.pem", ca_cert.pem());
        write("server.pem", server.pem());
        write("server.key", server_key.serialize_pem());
        Arc::new(TestCertificates {
            ca_pem: ca_cert.pem(),
            dir,
        })
    }

    fn path(&self, name: &str) -> String {
        self.dir
            .path()
            .join(name)
            .to_str()
            .expect("a UTF-8 path")
            .to_owned()
    }
}

impl PrivateRedis {
    /// Starts a server on a port the system says is free.
    pub fn start() -> PrivateRedis {
        PrivateRedis::start_with(Vec::new())
    }

    /// Starts a server that logs every write to an append-only file in `dir` and syncs it
    /// before it answers (`appendfsync always`), so a restart keeps every acknowledged write.
    pub fn start_persistent(dir: &std::path::Path) -> PrivateRedis {
        let dir = dir.to_str().expect("a UTF-8 directory").to_owned();
        let settings = [
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            &dir,
        ];
        PrivateRedis::start_with(settings.map(str::to_owned).to_vec())
    }

    /// Starts a server that speaks only TLS, with `certificates`' server certificate.
    pub fn start_tls(certificates: &Arc<TestCertificates>) -> PrivateRedis {
        let settings = [
            ("--tls-cert-file", certificates.path("server.pem")),
            ("--tls-key-file", certificates.path("server.key")),
            ("--tls-ca-cert-file", certificates.path("ca.pem")),
            ("--tls-auth-clients", "no".to_owned()),
        ];
        let settings = settings
            .into_iter()
            .flat_map(|(name, value)| [name.to_owned(), value])
            .collect();
        PrivateRedis::start_with_tls(settings, Some(certificates.clone()))
    }

    fn start_with(settings: Vec<String>) -> PrivateRedis {
        PrivateRedis::start_with_tls(settings, None)
    }

    fn start_with_tls(settings: Vec<String>, tls: Option<Arc<TestCertificates>>) -> PrivateRedis {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a spare port");
        let mut server = PrivateRedis {
            port,
            child: None,
            settings,
            tls,
        };
        server.restart();
        server
    }

    /// The server's URL; `rediss://` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// A driver client for the server, trusting the test's authority on a TLS server.
    pub fn client(&self) -> redis::RedisResult<redis::Client> {
        match &self.tls {
            None => redis::Client::open(self.url()),
            Some(certificates) => {
                // The driver's rustls needs a crypto provider; the store installs one too.
                let _ = rustls::crypto::ring::default_provider().install_default();
                let roots = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(certificates.ca_pem.clone().into_bytes()),
                };
                redis::Client::build_with_tls(self.url(), roots)
            }
        }
    }

    /// Blocks (off the async workers) until `channel` has `count` subscribers.
    pub async fn until_subscribers(&self, channel: &str, count: i64) {
        let client = self.client().expect("a client");
        let channel = channel.to_owned();
        tokio::task::spawn_blocking(move || {
            eventually(&format!("{count} subscribers of {channel}"), || {
                client
                    .get_connection_with_timeout(Duration::from_secs(1))
                    .and_then(|mut c| {
                        redis::cmd("PUBSUB")
                            .arg("NUMSUB")
                            .arg(&channel)
                            .query::<(String, i64)>(&mut c)
                    })
                    .is_ok_and(|(_, subscribers)| subscribers == count)
            })
        })
        .await
        .expect("the subscriber probe");
    }

    /// Starts the server again on the same port (after [`PrivateRedis::stop`]).
    pub fn restart(&mut self) {
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let port = self.port.to_string();
        // A TLS server listens on its port for TLS only.
        let ports = match self.tls {
            None => vec!["--port", &port],
            Some(_) => vec!["--port", "0", "--tls-port", &port],
        };
        let child = Command::new(&binary)
            .args(ports)
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(&self.settings)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {binary:?}: {e}. The fault tests need redis-server: \
                     ./scripts/test-all.sh installs it, or set REDIS_SERVER to its path"
                )
            });
        self.child = Some(child);
        eventually("the private redis-server to answer", || {
            self.client()
                .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                .is_ok()
        });
    }

    /// Kills the server (SIGKILL: nothing is saved) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends a signal to the server (`STOP` freezes it, `CONT` resumes it).
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("a running server").id();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} {pid}");
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A frozen server would ignore nothing but SIGKILL; resume it anyway for tidiness.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
        }
        self.stop();
    }
}
