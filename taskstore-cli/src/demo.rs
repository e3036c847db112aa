//! `demo`: simulated tasks run through the store the way an MCP server's workers would.

use crate::output::{self, Output};
use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;
use task_store::url::redact_url;
use task_store::{
    NewTask, Retry, Scope, TaskError, TaskStatus, TaskStore, TaskStoreExt, generate_task_id,
    task_execution,
};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// How a simulated task ends.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fate {
    Complete,
    Fail,
    Cancel,
}

impl Fate {
    /// Seven in ten complete, two fail, one is cancelled by its client.
    fn of(index: usize) -> Fate {
        match index % 10 {
            0..=6 => Fate::Complete,
            7 | 8 => Fate::Fail,
            _ => Fate::Cancel,
        }
    }
}

/// Runs `tasks` simulated tasks, `concurrency` at a time, then prints counts by final status
/// (read back from the store) and the throughput.
pub async fn run(
    store: Arc<dyn TaskStore>,
    store_url: &str,
    out: &Output,
    tasks: usize,
    concurrency: usize,
) -> Result<(), TaskError> {
    let store_url = redact_url(store_url);
    if tasks == 0 || concurrency == 0 {
        return Err(TaskError::InvalidInput(
            "--tasks and --concurrency must be positive".into(),
        ));
    }
    // Each run has its own owner, so its counts are its own even on a shared store.
    let owner = format!("demo-{}", &generate_task_id()[..8]);
    let scope = Scope::owner(owner.clone());
    let bar = if out.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(tasks as u64)
    };
    bar.set_style(progress_style()?);
    let permits = Arc::new(Semaphore::new(concurrency));
    let started = Instant::now();
    let mut running = JoinSet::new();
    for index in 0..tasks {
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| TaskError::backend("demo", Retry::Never, e))?;
        let (store, owner, bar) = (store.clone(), owner.clone(), bar.clone());
        running.spawn(async move {
            let id = run_one(store, &owner, index).await;
            bar.inc(1);
            drop(permit);
            id
        });
    }
    let mut ids = Vec::with_capacity(tasks);
    while let Some(joined) = running.join_next().await {
        ids.push(joined.map_err(|e| TaskError::backend("demo", Retry::Never, e))??);
    }
    let elapsed = started.elapsed();
    bar.finish_and_clear();

    let mut counts: BTreeMap<TaskStatus, usize> = BTreeMap::new();
    for id in &ids {
        *counts
            .entry(store.get(&scope, id).await?.status)
            .or_default() += 1;
    }
    let rate = tasks as f64 / elapsed.as_secs_f64();
    if out.json {
        let by_status: BTreeMap<&str, usize> =
            counts.iter().map(|(s, n)| (s.as_str(), *n)).collect();
        return out.json(&json!({
            "store": store_url,
            "owner": owner,
            "tasks": tasks,
            "concurrency": concurrency,
            "elapsed_ms": elapsed.as_millis() as u64,
            "tasks_per_second": rate.round(),
            "by_status": by_status,
        }));
    }
    let mut rows: Vec<Vec<String>> = counts
        .iter()
        .map(|(s, n)| vec![s.to_string(), n.to_string()])
        .collect();
    rows.push(vec!["total".into(), ids.len().to_string()]);
    output::table(&["FINAL STATUS", "TASKS"], &rows);
    println!(
        "{tasks} tasks in {:.2} s: {:.0} tasks/s at concurrency {concurrency} on {store_url} (owner {owner})",
        elapsed.as_secs_f64(),
        rate
    );
    Ok(())
}

/// The progress bar: tasks done, the rate in whole tasks per second and the time taken.
fn progress_style() -> Result<ProgressStyle, TaskError> {
    let style = ProgressStyle::with_template("{bar:40} {pos}/{len} tasks {rate} {elapsed}")
        .map_err(|e| TaskError::InvalidInput(e.to_string()))?;
    // indicatif's own {per_sec} prints four decimals and thousands separators.
    Ok(
        style.with_key("rate", |state: &ProgressState, out: &mut dyn fmt::Write| {
            let _ = write!(out, "{:.0}/s", state.per_sec());
        }),
    )
}

/// One task's life: created, three progress steps by its worker, then its fate.
async fn run_one(
    store: Arc<dyn TaskStore>,
    owner: &str,
    index: usize,
) -> Result<String, TaskError> {
    let fate = Fate::of(index);
    let new = NewTask::new()
        .owned_by(owner)
        .with_ttl(3_600_000)
        .with_message("queued");
    let id = store.create(new).await?.task_id;
    let worker = tokio::spawn({
        let (store, id) = (store.clone(), id.clone());
        async move {
            task_execution(store, &id, move |mut ctx| async move {
                for step in 1..=3 {
                    ctx.update_status(format!("step {step}/3"))
                        .await
                        .map_err(|e| e.to_string())?;
                }
                match fate {
                    Fate::Complete => {
                        let text = format!("result of task {index}");
                        let result = json!({ "content": [{ "type": "text", "text": text }] });
                        let result = result.as_object().cloned().unwrap_or_default();
                        ctx.complete(result).await.map_err(|e| e.to_string())?;
                        Ok(())
                    }
                    Fate::Fail => Err(format!("simulated failure of task {index}")),
                    Fate::Cancel => ctx.cancelled().await.map_err(|e| e.to_string()),
                }
            })
            .await
        }
    });
    if fate == Fate::Cancel {
        // The client cancels once the worker has reported all its progress.
        let scope = Scope::owner(owner);
        let mut task = store.get(&scope, &id).await?;
        while task.status_message.as_deref() != Some("step 3/3") {
            task = store
                .wait_for_update(&scope, &id, task.last_updated_at, None)
                .await?;
        }
        store.cancel(&scope, &id).await?;
    }
    worker
        .await
        .map_err(|e| TaskError::backend("demo", Retry::Never, e))??;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use indicatif::{ProgressDrawTarget, TermLike};
    use std::io;
    use std::sync::Mutex;

    /// A terminal that keeps what is drawn on it.
    #[derive(Debug, Default)]
    struct Screen(Arc<Mutex<String>>);

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            120
        }
        fn move_cursor_up(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn write_line(&self, line: &str) -> io::Result<()> {
            self.write_str(line)?;
            self.write_str("\n")
        }
        fn write_str(&self, text: &str) -> io::Result<()> {
            self.0.lock().expect("the screen").push_str(text);
            Ok(())
        }
        fn clear_line(&self) -> io::Result<()> {
            self.0.lock().expect("the screen").clear();
            Ok(())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_rate_is_a_whole_number_per_second() {
        let screen = Arc::new(Mutex::new(String::new()));
        let target = ProgressDrawTarget::term_like(Box::new(Screen(screen.clone())));
        let bar = ProgressBar::with_draw_target(Some(5_000), target);
        bar.set_style(progress_style().expect("the style"));
        for _ in 0..5 {
            bar.inc(1_000);
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        bar.force_draw();
        let drawn = screen.lock().expect("the screen").clone();
        let rate = drawn
            .split_whitespace()
            .find_map(|word| word.strip_suffix("/s"))
            .unwrap_or_else(|| panic!("no rate in {drawn:?}"));
        assert!(
            !rate.is_empty() && rate.chars().all(|c| c.is_ascii_digit()),
            "the rate is {rate:?} in {drawn:?}"
        );
        assert!(drawn.contains("5000/5000 tasks"), "{drawn:?}");
    }
}
