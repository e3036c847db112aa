//! [`RedisTaskStore`]: the [`TaskStore`] implementation.

mod sweeper;
mod walk;

use crate::error::{self, corrupt};
use crate::keys::{self, Keys, Member};
use crate::options::{MAX_RECONNECT_DELAY, RedisOptions};
use crate::record::{self, TASK_FIELDS};
use crate::scripts;
use crate::subscriber::{Subscriber, Watch};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{
    Cmd, ConnectionAddr, FromRedisValue, RedisResult, Script, TlsCertificates, Value, cmd,
};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use task_core::backend::{
    self, CHANGEABLE, ChangePlan, MAX_RECORD_ATTEMPTS, PageQuery, RecordWriter, UpdateSource,
    create_task_state, repeated_create, stuck_cutoff, time, update_by_record, validate,
};
use task_core::redact::redact_url;
use task_core::{
    Capabilities, LimitKind, NewTask, PageRequest, Retry, Scope, StoreConfig, Task, TaskChange,
    TaskError, TaskOutcome, TaskPage, TaskRecord, TaskStatus, TaskStore,
};
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio::time::timeout;
use walk::Walk;

/// Tries of a create whose id keeps changing hands between the script and the read.
const CREATE_ATTEMPTS: usize = 3;
/// Index entries read per round trip by purge and recovery.
const SCAN_BATCH: usize = 500;
/// Stale index entries collected by a listing before it prunes them.
const PRUNE_BATCH: usize = 500;

/// The driver's client for `url`: TLS for `rediss://`, checked against the options' roots.
fn client(url: &str, options: &RedisOptions) -> Result<redis::Client, TaskError> {
    let invalid =
        |e| TaskError::InvalidInput(format!("invalid Redis URL {:?}: {e}", redact_url(url)));
    let client = match &options.tls_root_certificates {
        None => redis::Client::open(url).map_err(invalid)?,
        Some(roots) => {
            let certificates = TlsCertificates {
                client_tls: None,
                root_cert: Some(roots.clone()),
            };
            redis::Client::build_with_tls(url, certificates).map_err(invalid)?
        }
    };
    if matches!(
        client.get_connection_info().addr(),
        ConnectionAddr::TcpTls { .. }
    ) {
        install_crypto_provider();
    }
    Ok(client)
}

/// rustls needs a process-wide crypto provider: ring's, unless the program installed another.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // An error means another thread installed one first, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// A [`TaskStore`] kept in Redis, shared by any number of processes.
///
/// Open it with [`RedisTaskStore::open`] (defaults, and the key prefix from the URL's
/// `prefix` parameter) or [`RedisTaskStore::open_with`]. All callers share one multiplexed,
/// self-reconnecting connection, and all waiters one pub/sub connection. The store must be
/// used inside the tokio runtime that opened it. Its background sweeper
/// ([`RedisOptions::sweep_interval`]) stops when the store is dropped.
#[derive(Debug)]
pub struct RedisTaskStore {
    config: StoreConfig,
    options: RedisOptions,
    keys: Keys,
    connection: ConnectionManager,
    subscriber: Subscriber,
    /// [`CHANGEABLE`] as the update script takes it: `,working,input_required,`.
    changeable: String,
    /// [`Keys::unfinished`] and [`Keys::unfinished_by_owner`], which every ending change
    /// names: spelled once.
    unfinished: String,
    unfinished_by_owner: String,
    /// The background sweeper, aborted when the store is dropped.
    sweeper: Option<AbortHandle>,
}

impl Drop for RedisTaskStore {
    fn drop(&mut self) {
        if let Some(sweeper) = &self.sweeper {
            sweeper.abort();
        }
    }
}

impl RedisTaskStore {
    /// Opens a store at `url` (`redis://[user:password@]host[:port][/db][?prefix=...]`, or
    /// `rediss://` for TLS) with default [`RedisOptions`], the key prefix taken from the URL
    /// when it names one.
    pub async fn open(url: &str, config: StoreConfig) -> Result<Self, TaskError> {
        let options = RedisOptions::from_url(url)?;
        RedisTaskStore::open_with(url, config, options).await
    }

    /// Opens a store at `url` with explicit options. Connects and loads the Lua scripts, so a
    /// Redis that cannot be reached gives a retryable [`TaskError::Backend`] here.
    pub async fn open_with(
        url: &str,
        config: StoreConfig,
        options: RedisOptions,
    ) -> Result<Self, TaskError> {
        options.validate()?;
        let client = client(url, &options)?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.response_timeout))
            .set_number_of_retries(options.reconnect_retries)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(MAX_RECONNECT_DELAY);
        let deadline = options.call_deadline();
        let connection = timeout(
            deadline,
            ConnectionManager::new_with_config(client.clone(), manager),
        )
        .await
        .map_err(|_| error::timed_out(deadline))?
        .map_err(error::backend)?;
        let mut store = RedisTaskStore::assemble(&client, connection, config, options);
        store.load_scripts().await?;
        if let Some(every) = store.options.sweep_interval {
            // The sweeper works on a store of its own over the same connection, without a
            // sweeper: it ends when this store aborts it.
            let sweeper = RedisTaskStore::assemble(
                &client,
                store.connection.clone(),
                store.config.clone(),
                store.options.clone(),
            );
            store.sweeper = Some(tokio::spawn(sweeper::run(sweeper, every)).abort_handle());
        }
        Ok(store)
    }

    /// A store over `connection`, its subscriber not yet connected and with no sweeper.
    fn assemble(
        client: &redis::Client,
        connection: ConnectionManager,
        config: StoreConfig,
        options: RedisOptions,
    ) -> RedisTaskStore {
        let keys = Keys::new(&options.key_prefix);
        RedisTaskStore {
            subscriber: Subscriber::new(
                client.clone(),
                options.connect_timeout,
                options.response_timeout,
            ),
            changeable: format!(",{},", CHANGEABLE.map(TaskStatus::as_str).join(",")),
            unfinished: keys.unfinished(),
            unfinished_by_owner: keys.unfinished_by_owner(),
            keys,
            connection,
            config,
            options,
            sweeper: None,
        }
    }

    /// The options the store runs with.
    pub fn options(&self) -> &RedisOptions {
        &self.options
    }

    /// The glob pattern that matches every key of this store and no other key.
    pub fn key_pattern(&self) -> String {
        self.keys.pattern()
    }

    async fn load_scripts(&self) -> Result<(), TaskError> {
        let loads = scripts::all().map(|script| {
            self.call(move |mut connection| async move { script.load_async(&mut connection).await })
        });
        futures_util::future::try_join_all(loads).await?;
        Ok(())
    }

    /// Runs one call against Redis, bounded by [`RedisOptions::call_deadline`]. A refused
    /// connection never carried the command, so it is tried once more: that attempt waits
    /// for the reconnection the driver has just started.
    async fn call<T, F, Fut>(&self, op: F) -> Result<T, TaskError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let deadline = self.options.call_deadline();
        let mut retried = false;
        loop {
            match timeout(deadline, op(self.connection.clone())).await {
                Err(_) => return Err(error::timed_out(deadline)),
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(e)) if e.is_connection_refusal() && !retried => retried = true,
                Ok(Err(e)) => return Err(error::backend(e)),
            }
        }
    }

    async fn query<T: FromRedisValue>(&self, command: &Cmd) -> Result<T, TaskError> {
        self.call(|mut connection| async move { command.query_async(&mut connection).await })
            .await
    }

    async fn invoke(
        &self,
        script: &Script,
        keys: &[impl AsRef<str>],
        args: &[&[u8]],
    ) -> Result<Value, TaskError> {
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(key.as_ref());
        }
        for arg in args {
            invocation.arg(*arg);
        }
        let invocation = &invocation;
        self.call(|mut connection| async move { invocation.invoke_async(&mut connection).await })
            .await
    }

    /// Runs update.lua: the change applies only if the task is visible to `scope`, its status
    /// is changeable, (with `before_ms`) it was last updated before that time, and it meets
    /// `plan` ([`backend::plan`]). `None` when it was updated since.
    async fn apply(
        &self,
        scope: &Scope,
        task_id: &str,
        change: &TaskChange,
        before_ms: Option<i64>,
        plan: (bool, bool),
    ) -> Result<Option<Task>, TaskError> {
        let (ends, needs_no_pending_input) = plan;
        let flag = |on: bool| -> &[u8] { if on { b"1" } else { b"0" } };
        let outcome = change
            .outcome
            .as_ref()
            .map(record::outcome_json)
            .transpose()?
            .unwrap_or_default();
        let before = before_ms.map(|ms| ms.to_string()).unwrap_or_default();
        let message = change.status_message.as_deref().unwrap_or_default();
        // Only a change that ends the task touches the sets of unfinished tasks, so only it
        // names them and spells its entries: the owner in hex and the member's tail (trusted
        // access names no owner, and the script adds the task's).
        let task_key = self.keys.task(task_id);
        let mut keys = vec![task_key.as_str()];
        let (mut owner_hex, mut tail) = (String::new(), String::new());
        if ends {
            keys.extend([self.unfinished.as_str(), &self.unfinished_by_owner]);
            owner_hex = scope.owner_name().map(keys::hex).unwrap_or_default();
            tail = Member::tail(task_id, scope.owner_name());
        }
        let channel = self.keys.channel(task_id);
        let args: [&[u8]; 13] = [
            scope.owner_name().unwrap_or_default().as_bytes(),
            channel.as_bytes(),
            self.changeable.as_bytes(),
            change
                .status
                .map(TaskStatus::as_str)
                .unwrap_or_default()
                .as_bytes(),
            if change.status_message.is_some() {
                b"1"
            } else {
                b"0"
            },
            message.as_bytes(),
            outcome.as_bytes(),
            flag(change.cancel_requested),
            before.as_bytes(),
            flag(ends),
            flag(needs_no_pending_input),
            owner_hex.as_bytes(),
            tail.as_bytes(),
        ];
        let reply = self.invoke(&scripts::UPDATE, &keys, &args).await?;
        match applied(task_id, change, reply).map_err(error::unreadable_reply)? {
            Reply::Changed(task) => Ok(Some(task)),
            Reply::Fresh => Ok(None),
            Reply::PendingInput => {
                let record = self.get_record(scope, task_id).await?;
                match backend::explain_refusal(change, task_id, &record) {
                    Some(refusal) => Err(refusal),
                    // Answered in between: the caller tries again.
                    None => Ok(None),
                }
            }
        }
    }

    /// Runs prune.lua over index members, which re-checks each; returns how many tasks left
    /// the index and how many members were still live.
    async fn prune(&self, members: &[Vec<u8>]) -> Result<(u64, usize), TaskError> {
        let mut keys = vec![
            self.keys.all(),
            self.keys.expiry(),
            self.keys.unfinished(),
            self.keys.unfinished_by_owner(),
        ];
        let mut args: Vec<&[u8]> = Vec::with_capacity(members.len());
        for bytes in members {
            // Members this crate did not write cannot name their keys: leave them.
            let Some(member) = Member::decode(bytes) else {
                continue;
            };
            keys.push(self.keys.task(&member.task_id));
            match &member.owner {
                Some(owner) => {
                    keys.push(self.keys.owner_index(owner));
                    keys.push(self.keys.owner_expiry(owner));
                }
                None => {
                    keys.push(self.keys.all());
                    keys.push(self.keys.expiry());
                }
            }
            args.push(bytes);
        }
        if args.is_empty() {
            return Ok((0, members.len()));
        }
        let reply = self.invoke(&scripts::PRUNE, &keys, &args).await?;
        let (removed, kept) = pruned(reply).map_err(error::unreadable_reply)?;
        Ok((removed, kept + members.len() - args.len()))
    }

    /// Removes the index entries of tasks expired by Redis's clock, one batch after another
    /// while `proceed` (asked before each batch) answers true; returns how many tasks left
    /// the index.
    async fn purge_while<F, Fut>(&self, mut proceed: F) -> Result<u64, TaskError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<bool, TaskError>>,
    {
        if !proceed().await? {
            return Ok(0);
        }
        let now = self.server_now_ms().await?;
        let mut purged = 0;
        // Members judged live by the script stay in the set: skip past them.
        let mut kept = 0;
        loop {
            let mut range = cmd("ZRANGEBYSCORE");
            range
                .arg(self.keys.expiry())
                .arg("-inf")
                .arg(now)
                .arg("LIMIT")
                .arg(kept)
                .arg(SCAN_BATCH);
            let members: Vec<Vec<u8>> = self.query(&range).await?;
            if members.is_empty() {
                return Ok(purged);
            }
            let (removed, live) = self.prune(&members).await?;
            purged += removed;
            kept += live;
            if !proceed().await? {
                return Ok(purged);
            }
        }
    }

    /// Redis's clock, in ms since the epoch: the clock the scripts stamp tasks with.
    async fn server_now_ms(&self) -> Result<i64, TaskError> {
        let (seconds, micros): (i64, i64) = self.query(&cmd("TIME")).await?;
        Ok(seconds.saturating_mul(1_000).saturating_add(micros / 1_000))
    }

    /// Reads the tasks of index members in one round trip: for each, the task when the member
    /// names it exactly and `scope` may see it, `None` for a stale member.
    async fn resolve(
        &self,
        scope: &Scope,
        members: &[Member],
    ) -> Result<Vec<Option<Task>>, TaskError> {
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for member in members {
            pipe.cmd("HMGET")
                .arg(self.keys.task(&member.task_id))
                .arg(&TASK_FIELDS[..]);
        }
        let pipe = &pipe;
        let rows: Vec<Vec<Value>> = self
            .call(|mut connection| async move { pipe.query_async(&mut connection).await })
            .await?;
        members
            .iter()
            .zip(rows)
            .map(|(member, row)| {
                let Some((task, owner)) = record::visible_task(&member.task_id, scope, &row)?
                else {
                    return Ok(None);
                };
                let id = row.get(7).map(record::text).transpose()?.flatten();
                let exact = id == Some(member.task_id.as_str())
                    && owner == member.owner
                    && task.created_at.timestamp_millis() == member.created_ms;
                Ok(exact.then_some(task))
            })
            .collect()
    }
}

/// What update.lua did, when it did not refuse the change outright.
enum Reply {
    /// The change landed: the changed task.
    Changed(Task),
    /// The task was updated since the cutoff.
    Fresh,
    /// A move to `working` found input requests pending.
    PendingInput,
}

/// What update.lua answered: the changed task, that the task was updated since the cutoff or
/// has input pending, or why nothing changed.
fn applied(task_id: &str, change: &TaskChange, reply: Value) -> Result<Reply, TaskError> {
    let (tag, values) = scripts::tagged(reply)?;
    match tag.as_str() {
        "ok" => Ok(Reply::Changed(record::task(task_id, &values)?)),
        "missing" => Err(TaskError::not_found(task_id)),
        "fresh" => Ok(Reply::Fresh),
        "pending" => Ok(Reply::PendingInput),
        "transition" => {
            let from = values
                .first()
                .map(record::text)
                .transpose()?
                .flatten()
                .and_then(TaskStatus::parse)
                .ok_or_else(|| corrupt("transition reply without a status"))?;
            Err(TaskError::InvalidTransition {
                task_id: task_id.to_owned(),
                from,
                to: change.target(from),
            })
        }
        other => Err(corrupt(format!("update script answered {other:?}"))),
    }
}

/// What prune.lua answered: how many tasks left the index, and how many members were live.
fn pruned(reply: Value) -> Result<(u64, usize), TaskError> {
    let (tag, values) = scripts::tagged(reply)?;
    let removed: Option<u64> = values.first().map(record::number).transpose()?.flatten();
    let kept: Option<usize> = values.get(1).map(record::number).transpose()?.flatten();
    match (tag.as_str(), removed, kept) {
        ("ok", Some(removed), Some(kept)) => Ok((removed, kept)),
        _ => Err(corrupt(format!("prune script answered {tag:?}"))),
    }
}

fn number_arg(value: Option<u64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

#[async_trait]
impl TaskStore for RedisTaskStore {
    fn config(&self) -> &StoreConfig {
        &self.config
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn create(&self, new: NewTask) -> Result<Task, TaskError> {
        let record = create_task_state(new, &self.config)?;
        let task_id = record.task.task_id.as_str();
        let owner = record.owner.as_deref();
        let keys = self.keys.task_and_indexes(task_id, owner);
        let head = [
            number_arg(record.task.ttl),
            number_arg(self.config.max_tasks),
            number_arg(self.config.max_tasks_per_owner),
            Member::tail(task_id, owner),
            owner.map(keys::hex).unwrap_or_default(),
        ];
        let fields = record::fields(&record)?;
        let mut args: Vec<&[u8]> = head.iter().map(|a| a.as_bytes()).collect();
        for (name, value) in &fields {
            args.push(name.as_bytes());
            args.push(value.as_bytes());
        }
        for attempt in 1..=CREATE_ATTEMPTS {
            let reply = self.invoke(&scripts::CREATE, &keys, &args).await?;
            let (tag, values) = scripts::tagged(reply).map_err(error::unreadable_reply)?;
            return match tag.as_str() {
                "ok" => {
                    let created = values.first().map(record::number).transpose();
                    let created = created
                        .and_then(|created| {
                            created
                                .flatten()
                                .ok_or_else(|| corrupt("create reply without a time"))
                        })
                        .map_err(error::unreadable_reply)?;
                    let mut task = record.task.clone();
                    task.created_at = time::from_millis(created);
                    task.last_updated_at = task.created_at;
                    Ok(task)
                }
                "exists" => match self.get_record(&Scope::All, task_id).await {
                    Ok(existing) => repeated_create(&existing, &record),
                    // Gone since (deleted, or expired by Redis's clock): the id is free again.
                    Err(TaskError::NotFound { .. }) if attempt < CREATE_ATTEMPTS => continue,
                    Err(TaskError::NotFound { .. }) => break,
                    Err(other) => Err(other),
                },
                "limit_total" => Err(TaskError::LimitExceeded {
                    kind: LimitKind::Total,
                    max: self.config.max_tasks.unwrap_or_default(),
                }),
                "limit_owner" => Err(TaskError::LimitExceeded {
                    kind: LimitKind::PerOwner,
                    max: self.config.max_tasks_per_owner.unwrap_or_default(),
                }),
                other => Err(error::unreadable_reply(corrupt(format!(
                    "create script answered {other:?}"
                )))),
            };
        }
        Err(TaskError::AlreadyExists {
            task_id: task_id.to_owned(),
        })
    }

    async fn get(&self, scope: &Scope, task_id: &str) -> Result<Task, TaskError> {
        validate::access(scope, task_id)?;
        let mut command = cmd("HMGET");
        command.arg(self.keys.task(task_id)).arg(&TASK_FIELDS[..]);
        let row: Vec<Value> = self.query(&command).await?;
        record::visible_task(task_id, scope, &row)?
            .map(|(task, _)| task)
            .ok_or_else(|| TaskError::not_found(task_id))
    }

    async fn get_record(&self, scope: &Scope, task_id: &str) -> Result<TaskRecord, TaskError> {
        validate::access(scope, task_id)?;
        let mut command = cmd("HGETALL");
        command.arg(self.keys.task(task_id));
        let fields: HashMap<String, String> = self.query(&command).await?;
        record::record(task_id, fields)?
            .filter(|record| scope.permits(record.owner.as_deref()))
            .ok_or_else(|| TaskError::not_found(task_id))
    }

    async fn get_result(
        &self,
        scope: &Scope,
        task_id: &str,
    ) -> Result<Option<TaskOutcome>, TaskError> {
        validate::access(scope, task_id)?;
        let mut command = cmd("HMGET");
        command
            .arg(self.keys.task(task_id))
            .arg(&["st", "own", "out"][..]);
        let row: Vec<Option<String>> = self.query(&command).await?;
        match row.as_slice() {
            [Some(_), owner, outcome] if scope.permits(owner.as_deref()) => outcome
                .as_deref()
                .map(|text| record::parse(text, "outcome"))
                .transpose(),
            [_, _, _] => Err(TaskError::not_found(task_id)),
            _ => Err(corrupt("short HMGET reply")),
        }
    }

    async fn update(
        &self,
        scope: &Scope,
        task_id: &str,
        change: TaskChange,
    ) -> Result<Task, TaskError> {
        validate::access(scope, task_id)?;
        validate::change(&change, &self.config)?;
        let ChangePlan::Direct {
            ends,
            needs_no_pending_input,
        } = backend::plan(&change)
        else {
            return update_by_record(self, scope, task_id, &change).await;
        };
        for _ in 0..MAX_RECORD_ATTEMPTS {
            let plan = (ends, needs_no_pending_input);
            if let Some(task) = self.apply(scope, task_id, &change, None, plan).await? {
                return Ok(task);
            }
        }
        Err(backend::contended(crate::error::BACKEND, task_id))
    }

    async fn list(&self, scope: &Scope, page: PageRequest) -> Result<TaskPage, TaskError> {
        let page = PageQuery::new(scope, &page, &self.config)?;
        let start = match &page.after {
            Some(position) => Member::after(position.created_at_ms, &position.task_id).into_bytes(),
            None => b"-".to_vec(),
        };
        let mut tasks: Vec<Task> = Vec::with_capacity(page.fetch());
        let mut walk = Walk::new(self, scope, start);
        while tasks.len() < page.fetch() {
            match walk.next(page.fetch() - tasks.len()).await? {
                Some(mut found) => tasks.append(&mut found),
                None => break,
            }
        }
        walk.finish().await?;
        Ok(page.page(tasks))
    }

    async fn delete(&self, scope: &Scope, task_id: &str) -> Result<bool, TaskError> {
        validate::access(scope, task_id)?;
        let channel = self.keys.channel(task_id);
        // The script needs the owner's index keys. A scoped caller names the owner; trusted
        // access reads it first, and the script refuses (-1) if the id changed hands since.
        for _ in 0..3 {
            let owner = match scope {
                Scope::Owner(owner) => Some(owner.clone()),
                Scope::All => {
                    let mut read = cmd("HGET");
                    read.arg(self.keys.task(task_id)).arg("own");
                    self.query::<Option<String>>(&read).await?
                }
            };
            let keys = self.keys.task_and_indexes(task_id, owner.as_deref());
            let owner_hex = owner.as_deref().map(keys::hex).unwrap_or_default();
            let args: [&[u8]; 4] = [
                scope.owner_name().unwrap_or_default().as_bytes(),
                channel.as_bytes(),
                owner.as_deref().unwrap_or_default().as_bytes(),
                owner_hex.as_bytes(),
            ];
            match self.invoke(&scripts::DELETE, &keys, &args).await? {
                Value::Int(1) => return Ok(true),
                Value::Int(0) => return Ok(false),
                Value::Int(-1) => continue,
                other => {
                    let why = format!("delete script answered {other:?}");
                    return Err(error::unreadable_reply(corrupt(why)));
                }
            }
        }
        Err(TaskError::backend(
            error::BACKEND,
            Retry::Safe,
            format!("task {task_id:?} changed owner during every delete attempt"),
        ))
    }

    async fn wait_for_update(
        &self,
        scope: &Scope,
        task_id: &str,
        seen: DateTime<Utc>,
        timeout: Option<Duration>,
    ) -> Result<Task, TaskError> {
        validate::access(scope, task_id)?;
        let mut source = Waiter {
            store: self,
            scope,
            task_id,
            seen,
            watch: self.subscriber.watch(self.keys.channel(task_id)),
        };
        // Poll now and then too: a lost message (the subscriber was reconnecting) only delays.
        let poll = Some(self.options.fallback_poll_interval);
        backend::wait_for_update(&mut source, seen, timeout, poll).await
    }

    async fn notify_update(&self, task_id: &str) -> Result<(), TaskError> {
        validate::task_id(task_id)?;
        let mut publish = cmd("PUBLISH");
        publish.arg(self.keys.channel(task_id)).arg("notify");
        self.query::<i64>(&publish).await?;
        Ok(())
    }

    async fn purge_expired(&self) -> Result<u64, TaskError> {
        self.purge_while(|| async { Ok(true) }).await
    }

    async fn recover_stuck(&self, older_than: Duration, message: &str) -> Result<u64, TaskError> {
        validate::message(message, self.config.max_payload_bytes)?;
        let change = TaskChange::fail(message);
        validate::change(&change, &self.config)?;
        // Redis's clock, which stamps the tasks, decides which are stuck.
        let now = time::from_millis(self.server_now_ms().await?);
        let before_ms = stuck_cutoff(now, older_than).timestamp_millis();
        let mut recovered = 0;
        // Only unfinished tasks are candidates, so a sweep costs as many reads as there are
        // tasks running, however many finished ones the store keeps. ZSCAN returns every
        // member that stays in the set throughout; tasks that end meanwhile need no recovery.
        let unfinished = self.keys.unfinished();
        let mut cursor: u64 = 0;
        loop {
            let mut scan = cmd("ZSCAN");
            scan.arg(&unfinished)
                .arg(cursor)
                .arg("COUNT")
                .arg(SCAN_BATCH);
            let (next, page): (u64, Vec<Vec<u8>>) = self.query(&scan).await?;
            // Members and scores alternate.
            let members: Vec<Member> = page
                .iter()
                .step_by(2)
                .filter_map(|bytes| Member::decode(bytes))
                .collect();
            let found = self.resolve(&Scope::All, &members).await?;
            // The read only picks candidates; update.lua decides, checking status and idleness.
            let idle =
                |t: &Task| !t.is_terminal() && t.last_updated_at.timestamp_millis() < before_ms;
            for task in found.into_iter().flatten().filter(idle) {
                match self
                    .apply(
                        &Scope::All,
                        &task.task_id,
                        &change,
                        Some(before_ms),
                        (true, false),
                    )
                    .await
                {
                    Ok(Some(_)) => recovered += 1,
                    Ok(None)
                    | Err(TaskError::NotFound { .. } | TaskError::InvalidTransition { .. }) => {}
                    Err(other) => return Err(other),
                }
            }
            if next == 0 {
                return Ok(recovered);
            }
            cursor = next;
        }
    }
}

/// The record path of the changes that need the whole record (input requests, answers,
/// cancel requests): `HGETALL`, then replace.lua as the compare-and-set.
impl RecordWriter for RedisTaskStore {
    const BACKEND: &'static str = crate::error::BACKEND;

    async fn read_record(&self, scope: &Scope, task_id: &str) -> Result<TaskRecord, TaskError> {
        self.get_record(scope, task_id).await
    }

    async fn replace_record(
        &self,
        scope: &Scope,
        expected: DateTime<Utc>,
        record: &TaskRecord,
    ) -> Result<bool, TaskError> {
        let task = &record.task;
        if task.is_terminal() {
            // replace.lua leaves the unfinished-task indexes alone: ending changes take
            // update.lua (backend::plan never routes them here).
            return Err(TaskError::InvalidInput(
                "the record path does not end tasks".into(),
            ));
        }
        let outcome = record
            .outcome
            .as_ref()
            .map(record::outcome_json)
            .transpose()?
            .unwrap_or_default();
        let input = record::input_fields(record)?;
        let expected = expected.timestamp_millis().to_string();
        let stamp = task.last_updated_at.timestamp_millis().to_string();
        let keys = [self.keys.task(&task.task_id)];
        let channel = self.keys.channel(&task.task_id);
        let args: [&[u8]; 12] = [
            scope.owner_name().unwrap_or_default().as_bytes(),
            channel.as_bytes(),
            expected.as_bytes(),
            stamp.as_bytes(),
            task.status.as_str().as_bytes(),
            if task.status_message.is_some() {
                b"1"
            } else {
                b"0"
            },
            bytes(&task.status_message),
            outcome.as_bytes(),
            if record.cancel_requested { b"1" } else { b"0" },
            bytes(&input.requests),
            bytes(&input.keys_used),
            bytes(&input.responses),
        ];
        let (tag, _) = scripts::tagged(self.invoke(&scripts::REPLACE, &keys, &args).await?)?;
        match tag.as_str() {
            "ok" => Ok(true),
            "moved" => Ok(false),
            other => Err(corrupt(format!("replace script answered {other:?}"))),
        }
    }
}

/// An optional text as a script argument; `''` for none.
fn bytes(value: &Option<String>) -> &[u8] {
    value.as_deref().unwrap_or_default().as_bytes()
}

/// One waiter's view of its task, for the shared wait loop.
struct Waiter<'a> {
    store: &'a RedisTaskStore,
    scope: &'a Scope,
    task_id: &'a str,
    seen: DateTime<Utc>,
    watch: Watch,
}

impl UpdateSource for Waiter<'_> {
    async fn arm(&mut self) -> Result<Arc<Notify>, TaskError> {
        // Subscribed before the read: a change after it is published to us. While the
        // subscriber is down the wait polls.
        self.watch.subscribed().await;
        Ok(self.watch.notify().clone())
    }

    async fn read(&mut self, woken: bool) -> Result<Task, TaskError> {
        // A message that woke us carries the changed task: take it if it is news.
        let published = woken
            .then(|| self.watch.last_message())
            .flatten()
            .and_then(|message| record::published_task(self.task_id, self.scope, &message))
            .filter(|task| task.last_updated_at > self.seen && !task.is_expired());
        match published {
            Some(task) => Ok(task),
            None => self.store.get(self.scope, self.task_id).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use task_core::{NewTask, TaskStoreExt};

    /// What update.lua publishes is the task it returns, as the waiters' decoder reads it.
    #[tokio::test]
    async fn a_change_publishes_the_changed_task() {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
        let options = RedisOptions::default().with_key_prefix(&prefix);
        let store = RedisTaskStore::open_with(&url, StoreConfig::default(), options)
            .await
            .unwrap();
        let alice = Scope::owner("alice");
        let task = store
            .create(NewTask::new().owned_by("alice").with_ttl(60_000))
            .await
            .unwrap();
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut pubsub = client.get_async_pubsub().await.unwrap();
        pubsub
            .subscribe(store.keys.channel(&task.task_id))
            .await
            .unwrap();

        let changed = store
            .set_status(
                &alice,
                &task.task_id,
                TaskStatus::InputRequired,
                Some("a \"name\"?"),
            )
            .await
            .unwrap();
        let message = pubsub.on_message().next().await.unwrap();
        let message = message.get_payload_bytes();
        let id = &task.task_id;
        assert_eq!(
            record::published_task(id, &alice, message),
            Some(changed.clone())
        );
        assert_eq!(
            record::published_task(id, &Scope::All, message),
            Some(changed)
        );
        assert_eq!(
            record::published_task(id, &Scope::owner("bob"), message),
            None
        );
        for other in [&b"deleted"[..], b"notify", b"[]", b"[\"working\"]"] {
            assert_eq!(record::published_task(id, &Scope::All, other), None);
        }
        assert!(
            store.delete(&alice, id).await.unwrap(),
            "leaves no keys behind"
        );
    }
}
