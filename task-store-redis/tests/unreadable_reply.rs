//! A change whose reply cannot be read was still sent, and may have landed: the store must
//! not report it as a plain failure. Against a real `redis-server`, through a TCP proxy that
//! corrupts the one reply that follows a marked command, the change lands and the caller gets
//! `Retry::OutcomeUnknown`; a create repeated with the same id then answers the task the
//! first one made.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use support::{PrivateRedis, fresh_prefix, open_at, within_hang};
use task_core::{
    NewTask, PageRequest, Retry, Scope, StoreConfig, TaskError, TaskStore, TaskStoreExt,
};
use task_store_redis::{RedisOptions, RedisTaskStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to the reply.
#[derive(Clone, Copy, Debug)]
enum Corruption {
    /// Its first byte becomes one no RESP reply starts with: the driver cannot parse it.
    Garble,
    /// It is replaced by a well-formed reply no script gives (`+OK`).
    Replace,
}

/// The marker to watch for, and what to do to the reply after it.
type Armed = Arc<Mutex<Option<(String, Corruption)>>>;

/// A TCP proxy in front of Redis. Once armed, it corrupts the reply to the first command
/// that contains the marker, then closes that connection, as a broken link would.
struct Proxy {
    addr: SocketAddr,
    armed: Armed,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let addr = listener.local_addr().expect("its address");
        let armed = Armed::default();
        tokio::spawn({
            let armed = armed.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    tokio::spawn(relay(client, upstream, armed.clone()));
                }
            }
        });
        Proxy { addr, armed }
    }

    fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    fn arm(&self, marker: &str, corruption: Corruption) {
        *self.armed.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((marker.to_owned(), corruption));
    }
}

/// The armed corruption, disarmed, when `chunk` holds the marker.
fn disarm_on(armed: &Armed, chunk: &[u8]) -> Option<Corruption> {
    let mut armed = armed.lock().unwrap_or_else(PoisonError::into_inner);
    let (marker, corruption) = armed.as_ref()?;
    let marked = chunk.windows(marker.len()).any(|w| w == marker.as_bytes());
    let corruption = *corruption;
    marked.then(|| {
        *armed = None;
        corruption
    })
}

async fn relay(mut client: TcpStream, upstream: SocketAddr, armed: Armed) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut from_client, mut to_client) = client.split();
    let (mut from_server, mut to_server) = server.split();
    let (mut up, mut down) = (vec![0; 1 << 16], vec![0; 1 << 16]);
    // Set once this connection carried the marked command: its next reply is corrupted.
    let mut corrupt_next = None;
    loop {
        tokio::select! {
            read = from_client.read(&mut up) => {
                let Ok(n @ 1..) = read else { return };
                let chunk = &up[..n];
                if let Some(corruption) = disarm_on(&armed, chunk) {
                    corrupt_next = Some(corruption);
                }
                if to_server.write_all(chunk).await.is_err() {
                    return;
                }
            }
            read = from_server.read(&mut down) => {
                let Ok(n @ 1..) = read else { return };
                let reply = &mut down[..n];
                match corrupt_next.take() {
                    None => {
                        if to_client.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                    Some(Corruption::Garble) => {
                        reply[0] = b'X';
                        let _ = to_client.write_all(reply).await;
                        return;
                    }
                    Some(Corruption::Replace) => {
                        let _ = to_client.write_all(b"+OK\r\n").await;
                        return;
                    }
                }
            }
        }
    }
}

/// A store through the proxy, and one straight to Redis for looking at what landed. No
/// sweeper, so the only commands on the proxied connection are the test's.
async fn stores(redis: &PrivateRedis, proxy: &Proxy) -> (RedisTaskStore, RedisTaskStore) {
    let options = RedisOptions::default()
        .with_key_prefix(fresh_prefix())
        .with_sweep_interval(None)
        .with_response_timeout(Duration::from_secs(5));
    let proxied = open_at(&proxy.url(), StoreConfig::default(), options.clone()).await;
    let direct = open_at(&redis.url(), StoreConfig::default(), options).await;
    (proxied, direct)
}

fn outcome_unknown<T: std::fmt::Debug>(what: &str, result: Result<T, TaskError>) {
    match result {
        Err(error) => assert_eq!(error.retry(), Retry::OutcomeUnknown, "{what}: {error}"),
        Ok(value) => panic!("{what}: answered {value:?} through a corrupted reply"),
    }
}

/// Runs `call` again while it fails retryably, as a caller does after a dropped connection
/// (the first call after the proxy closed it may find the socket dead); at most a few times.
async fn repeated<T, F, Fut>(what: &str, call: F) -> Result<T, TaskError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, TaskError>>,
{
    let mut attempts = 0;
    loop {
        attempts += 1;
        match within_hang(what, call()).await {
            Err(error) if error.is_retryable() && attempts < 5 => {
                eprintln!("{what}: {error}; again");
            }
            other => return other,
        }
    }
}

fn upstream(redis: &PrivateRedis) -> SocketAddr {
    let url = redis.url();
    let authority = url.trim_start_matches("redis://");
    authority.parse().expect("127.0.0.1:PORT")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_whose_reply_is_unreadable_reports_an_unknown_outcome() {
    let redis = PrivateRedis::start();
    let proxy = Proxy::start(upstream(&redis)).await;
    let (proxied, direct) = stores(&redis, &proxy).await;
    let alice = Scope::owner("alice");
    let task = proxied
        .create(NewTask::new().owned_by("alice"))
        .await
        .expect("create");
    for (round, corruption) in [Corruption::Garble, Corruption::Replace]
        .into_iter()
        .enumerate()
    {
        let marker = format!("landed-{round}-{corruption:?}");
        proxy.arm(&marker, corruption);
        let sent = proxied.set_message(&alice, &task.task_id, &marker);
        outcome_unknown(
            &format!("{corruption:?}"),
            within_hang("the update", sent).await,
        );
        // It landed.
        let now = direct.get(&alice, &task.task_id).await.expect("get");
        assert_eq!(now.status_message.as_deref(), Some(marker.as_str()));
        // The proxied store reconnects and reads the same.
        let read = repeated("a read", || proxied.get(&alice, &task.task_id)).await;
        assert_eq!(read.expect("a read after the broken reply"), now);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_reply_is_unreadable_can_be_repeated_without_a_second_task() {
    let redis = PrivateRedis::start();
    let proxy = Proxy::start(upstream(&redis)).await;
    let (proxied, direct) = stores(&redis, &proxy).await;
    for (round, corruption) in [Corruption::Garble, Corruption::Replace]
        .into_iter()
        .enumerate()
    {
        let task_id = format!("job-{round}");
        let marker = format!("queued-{round}-{corruption:?}");
        let new = NewTask::new()
            .with_id(&task_id)
            .owned_by("alice")
            .with_message(&marker);
        proxy.arm(&marker, corruption);
        outcome_unknown(
            &format!("{corruption:?}"),
            within_hang("the create", proxied.create(new.clone())).await,
        );
        let landed = direct.get(&Scope::All, &task_id).await.expect("it landed");
        let again = repeated("the repeat", || proxied.create(new.clone())).await;
        assert_eq!(again.expect("the repeat answers the task"), landed);
    }
    let page = direct
        .list(&Scope::All, PageRequest::first())
        .await
        .expect("list");
    assert_eq!(page.tasks.len(), 2, "one task per create: {:?}", page.tasks);
}
