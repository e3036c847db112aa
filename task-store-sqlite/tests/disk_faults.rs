//! A disk that fills up or turns read-only: the store answers with a backend error, never a
//! panic, loses nothing it acknowledged, and leaves a sound file.
//!
//! - A full disk, everywhere: the writer runs in a child process whose file size limit
//!   (`ulimit -f`, RLIMIT_FSIZE) stops the write-ahead log from growing, so writes fail with
//!   EFBIG as they would on a full disk.
//! - A full disk, where mount namespaces are allowed: a child writes to a tiny tmpfs until
//!   ENOSPC, then frees space and the same store writes again.
//! - A read-only file system: a child opens the store on a read-only bind mount (or, without
//!   mount namespaces, on files it may not write, as an unprivileged user).

mod common;

use common::child::{self, ChildProcess};
use common::url;
use serde_json::{Map, Value, json};
use std::path::Path;
use std::process::Command;
use task_core::{NewTask, Scope, StoreConfig, TaskError, TaskStatus, TaskStore, TaskStoreExt};
use task_store_sqlite::SqliteTaskStore;

/// The file size limit of the writer child, in KiB (`ulimit -f` units in bash).
const SIZE_LIMIT_KIB: u32 = 1024;
/// The tmpfs size for the ENOSPC test.
const TMPFS_SIZE: &str = "768k";
/// Space the tmpfs child holds back, then frees to recover.
const BALLAST_BYTES: usize = 96 * 1024;

fn result(id: &str) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("id".into(), json!(id));
    map.insert("text".into(), json!("r".repeat(4_000)));
    map
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("a runtime")
}

/// Whether this machine lets us make a private mount namespace and mount in it.
/// `NO_MOUNT_NAMESPACES=1` pretends it does not, to exercise the fallbacks.
fn mount_namespaces() -> bool {
    if std::env::var_os("NO_MOUNT_NAMESPACES").is_some() {
        return false;
    }
    Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "mount",
            "-t",
            "tmpfs",
        ])
        .args(["tmpfs", "/mnt"])
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Whether `error` is a backend error, as a failing disk must give.
fn backend(error: &TaskError) -> bool {
    matches!(error, TaskError::Backend { .. })
}

#[test]
#[ignore = "the child process's entry point; the disk tests run it"]
fn child_process() {
    let Some((role, path)) = child::role() else {
        return;
    };
    runtime().block_on(async move {
        let outcome = match role.as_str() {
            "filler" => filler(&path).await,
            "tmpfs" => tmpfs(&path).await,
            "read_only" => read_only(&path).await,
            other => Err(format!("unknown role {other}")),
        };
        match outcome {
            Ok(()) => child::say("DONE"),
            Err(error) => child::say(format!("ERROR {error}")),
        }
    });
}

/// Creates and completes tasks with 4 KB results until a write fails; reports each
/// acknowledged step, then the failure, and checks the store still reads and still refuses.
/// Returns the id and step that failed.
async fn fill(store: &SqliteTaskStore) -> Result<(String, &'static str), String> {
    let all = Scope::All;
    let mut last = None;
    for n in 0..100_000 {
        let id = format!("task-{n}");
        if let Err(error) = store.create(NewTask::new().with_id(id.clone())).await {
            return full(store, error, last, id, "create").await;
        }
        child::say(format!("created {id}"));
        if let Err(error) = store.complete(&all, &id, result(&id)).await {
            return full(store, error, Some(id.clone()), id, "complete").await;
        }
        child::say(format!("completed {id}"));
        last = Some(id);
    }
    Err("the disk never filled up".into())
}

/// Checks the failure, then that reads still work and writes still fail.
async fn full(
    store: &SqliteTaskStore,
    error: TaskError,
    readable: Option<String>,
    id: String,
    step: &'static str,
) -> Result<(String, &'static str), String> {
    if !backend(&error) {
        return Err(format!("a full disk gave {error:?}, not a backend error"));
    }
    child::say(format!("FULL {step} {id} {error}"));
    if let Some(readable) = readable {
        store
            .get(&Scope::All, &readable)
            .await
            .map_err(|e| format!("reading {readable} on a full disk: {e}"))?;
    }
    match store.create(NewTask::new().with_id("one-more")).await {
        Err(error) if backend(&error) => Ok((id, step)),
        other => Err(format!("a second write on a full disk gave {other:?}")),
    }
}

async fn filler(path: &Path) -> Result<(), String> {
    let store = SqliteTaskStore::open(&url(path), StoreConfig::default())
        .await
        .map_err(|e| format!("open: {e}"))?;
    child::say("READY");
    fill(&store).await?;
    Ok(())
}

/// On a tiny tmpfs: fills it, frees the ballast, retries the failed step on the same store,
/// then reopens the file and checks it.
async fn tmpfs(path: &Path) -> Result<(), String> {
    let ballast = path.with_file_name("ballast");
    std::fs::write(&ballast, vec![0u8; BALLAST_BYTES]).map_err(|e| format!("ballast: {e}"))?;
    let store = SqliteTaskStore::open(&url(path), StoreConfig::default())
        .await
        .map_err(|e| format!("open: {e}"))?;
    child::say("READY");
    let (id, step) = fill(&store).await?;
    std::fs::remove_file(&ballast).map_err(|e| format!("freeing the ballast: {e}"))?;
    let all = Scope::All;
    if step == "create" {
        store
            .create(NewTask::new().with_id(id.clone()))
            .await
            .map_err(|e| format!("create once space is free: {e}"))?;
    }
    store
        .complete(&all, &id, result(&id))
        .await
        .map_err(|e| format!("complete once space is free: {e}"))?;
    child::say(format!("RECOVERED {id}"));
    let written: Vec<String> = (0..)
        .map(|n| format!("task-{n}"))
        .take_while(|t| t != &id)
        .chain([id.clone()])
        .collect();
    store.close().await;
    let store = SqliteTaskStore::open(&url(path), StoreConfig::default())
        .await
        .map_err(|e| format!("reopen: {e}"))?;
    for task in &written {
        let outcome = store
            .get_result(&all, task)
            .await
            .map_err(|e| e.to_string())?;
        if outcome != Some(task_core::TaskOutcome::Result(result(task))) {
            return Err(format!("{task} lost its result"));
        }
    }
    integrity(&store).await
}

async fn integrity(store: &SqliteTaskStore) -> Result<(), String> {
    let mut conn = sqlx::ConnectOptions::connect(store.connect_options())
        .await
        .map_err(|e| e.to_string())?;
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    if check == "ok" {
        Ok(())
    } else {
        Err(format!("integrity_check: {check}"))
    }
}

/// On a read-only file system: writing must fail with a backend error, whether at open or at
/// the first write; when the store opens, reads work.
async fn read_only(path: &Path) -> Result<(), String> {
    let probe = path.with_file_name("probe");
    if std::fs::write(&probe, b"x").is_ok() {
        return Err("the directory is writable: the test set-up failed".into());
    }
    let store = match SqliteTaskStore::open(&url(path), StoreConfig::default()).await {
        Err(error) if backend(&error) => {
            child::say(format!("REFUSED AT OPEN {error}"));
            return Ok(());
        }
        Err(error) => return Err(format!("open gave {error:?}, not a backend error")),
        Ok(store) => store,
    };
    let task = store
        .get(&Scope::All, "seed")
        .await
        .map_err(|e| format!("a read on a read-only disk: {e}"))?;
    match store.cancel(&Scope::All, &task.task_id).await {
        Err(error) if backend(&error) => child::say(format!("REFUSED AT WRITE {error}")),
        other => return Err(format!("a write on a read-only disk gave {other:?}")),
    }
    match store.create(NewTask::new()).await {
        Err(error) if backend(&error) => Ok(()),
        other => Err(format!("a create on a read-only disk gave {other:?}")),
    }
}

/// Reads the child's reports up to `FULL`: the acknowledged ids (created, completed) and the
/// failed step.
fn until_full(child: &mut ChildProcess) -> (Vec<String>, Vec<String>, String, String) {
    let (mut created, mut completed) = (Vec::new(), Vec::new());
    loop {
        let line = child
            .next()
            .expect("the child reports until the disk is full");
        let mut words = line.splitn(4, ' ');
        match (words.next(), words.next(), words.next()) {
            (Some("created"), Some(id), None) => created.push(id.to_owned()),
            (Some("completed"), Some(id), None) => completed.push(id.to_owned()),
            (Some("FULL"), Some(step), Some(id)) => {
                eprintln!("the writer hit the limit: {line}");
                return (created, completed, step.to_owned(), id.to_owned());
            }
            _ if line.starts_with("ERROR") => panic!("the child failed: {line}"),
            _ => {}
        }
    }
}

#[test]
fn a_file_size_limit_fails_writes_with_a_backend_error_and_keeps_every_acknowledged_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.db");
    let all = Scope::All;
    // Made here, without the limit, so the child only appends.
    runtime().block_on(async {
        let store = SqliteTaskStore::open(&url(&path), StoreConfig::default())
            .await
            .unwrap();
        store.close().await;
    });
    // SIGXFSZ ignored: a write past the limit then fails with EFBIG instead of killing.
    let limit = format!("trap '' XFSZ; ulimit -f {SIZE_LIMIT_KIB}; exec \"$@\"");
    let wrapper = ["bash", "-c", limit.as_str(), "bash"];
    let mut filler = ChildProcess::spawn_under(&wrapper, "filler", &path, &[]);
    filler.expect("READY");
    let (created, completed, step, failed) = until_full(&mut filler);
    filler.expect("DONE");
    filler.finish();
    assert!(completed.len() >= 10, "some writes fit under the limit");

    runtime().block_on(async {
        let store = SqliteTaskStore::open(&url(&path), StoreConfig::default())
            .await
            .expect("the file reopens without the limit");
        for id in &created {
            let task = store.get(&all, id).await.expect("an acknowledged create");
            if completed.contains(id) {
                assert_eq!(task.status, TaskStatus::Completed, "{id}");
                let outcome = store.get_result(&all, id).await.unwrap();
                assert_eq!(outcome, Some(task_core::TaskOutcome::Result(result(id))));
            } else {
                assert_eq!(id, &failed, "only the failed step's task is unfinished");
                assert_eq!(
                    task.status,
                    TaskStatus::Working,
                    "{id}: the failed write left it"
                );
            }
        }
        if step == "create" {
            assert!(
                matches!(
                    store.get(&all, &failed).await,
                    Err(TaskError::NotFound { .. })
                ),
                "the failed create left nothing"
            );
        }
        assert!(
            store.get(&all, "one-more").await.is_err(),
            "nor did the retry"
        );
        integrity(&store).await.expect("a sound file");
    });
}

#[test]
fn a_full_tmpfs_fails_writes_then_the_same_store_recovers_when_space_is_freed() {
    if !mount_namespaces() {
        eprintln!(
            "SKIPPED: this machine allows no mount namespaces (unshare --mount), so no private \
             tmpfs; the file size limit test covers a full disk"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.db");
    let mount =
        format!("mount -t tmpfs -o size={TMPFS_SIZE} tmpfs \"$1\" && shift && exec \"$@\"",);
    let dir_text = dir.path().to_str().expect("a UTF-8 temporary path");
    let wrapper = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "bash",
        "-c",
        &mount,
        "bash",
        dir_text,
    ];
    let mut child = ChildProcess::spawn_under(&wrapper, "tmpfs", &path, &[]);
    child.expect("READY");
    let (_, completed, _, failed) = until_full(&mut child);
    assert!(completed.len() >= 5, "some writes fit");
    child.expect(&format!("RECOVERED {failed}"));
    child.expect("DONE");
    child.finish();
}

#[test]
fn a_read_only_file_system_gives_a_backend_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.db");
    runtime().block_on(async {
        let store = SqliteTaskStore::open(&url(&path), StoreConfig::default())
            .await
            .unwrap();
        store.create(NewTask::new().with_id("seed")).await.unwrap();
        store.close().await;
    });
    let dir_text = dir
        .path()
        .to_str()
        .expect("a UTF-8 temporary path")
        .to_owned();
    let bind_ro = "mount --bind \"$1\" \"$1\" && mount -o remount,bind,ro \"$1\" && shift && \
                   exec \"$@\"";
    let mut child = if mount_namespaces() {
        let wrapper = [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "bash",
            "-c",
            bind_ro,
            "bash",
            &dir_text,
        ];
        ChildProcess::spawn_under(&wrapper, "read_only", &path, &[])
    } else {
        // No mount namespaces: files the child may not write. Root ignores file modes, so a
        // root test runs the child as nobody.
        eprintln!("no mount namespaces: using read-only files and an unprivileged child");
        let status = Command::new("chmod")
            .args(["-R", "a-w,a+rX", &dir_text])
            .status()
            .expect("chmod");
        assert!(status.success());
        let root = Command::new("id").arg("-u").output().expect("id -u").stdout == b"0\n";
        let nobody = [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ];
        ChildProcess::spawn_under(if root { &nobody } else { &[] }, "read_only", &path, &[])
    };
    let said = child.next().expect("the child reports");
    assert!(said.starts_with("REFUSED AT"), "the child said {said:?}");
    eprintln!("{said}");
    child.expect("DONE");
    child.finish();
    let _ = Command::new("chmod")
        .args(["-R", "u+w", &dir_text])
        .status();
}
