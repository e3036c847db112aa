//! The markdown report: one table per backend with the ratios, then the targets.

use crate::cli::{Family, MANAGER_TASKS, Who};
use crate::workload::{Cell, Op};
use std::fmt::Write;
use std::time::Duration;

/// One measurement.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Record {
    pub family: Family,
    pub size: usize,
    pub who: Who,
    pub callers: usize,
    pub op: Op,
    pub cell: Cell,
}

/// Everything a run measured.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct Results {
    pub records: Vec<Record>,
    /// Heap bytes per task after filling, by (family, size, who).
    pub footprints: Vec<(Family, usize, Who, f64)>,
    /// Machine facts.
    pub facts: Vec<(String, String)>,
    /// Versions and anything that kept a subject from running.
    pub notes: Vec<String>,
    pub families: Vec<Family>,
    pub callers: Vec<usize>,
    pub ops: Vec<Op>,
    /// Store sizes, by family.
    pub sizes: Vec<(Family, Vec<usize>)>,
}

impl Results {
    fn cell(&self, family: Family, size: usize, who: Who, callers: usize, op: Op) -> Option<&Cell> {
        self.records
            .iter()
            .find(|r| {
                r.family == family
                    && r.size == size
                    && r.who == who
                    && r.callers == callers
                    && r.op == op
            })
            .map(|r| &r.cell)
    }

    fn rate(&self, family: Family, size: usize, who: Who, callers: usize, op: Op) -> Option<f64> {
        self.cell(family, size, who, callers, op)
            .and_then(Cell::rate)
    }

    fn footprint(&self, family: Family, size: usize, who: Who) -> Option<f64> {
        self.footprints
            .iter()
            .find(|f| f.0 == family && f.1 == size && f.2 == who)
            .map(|f| f.3)
    }

    fn sizes_of(&self, family: Family) -> &[usize] {
        self.sizes
            .iter()
            .find(|(f, _)| *f == family)
            .map_or(&[], |(_, sizes)| sizes.as_slice())
    }
}

/// A value as it reads in a table, and the number the ratios use (higher is better).
struct Shown {
    text: String,
    score: Option<f64>,
}

/// Which latency a row shows, if it shows one.
type View = Option<fn(&Cell) -> Option<Duration>>;

fn show(cell: Option<&Cell>, latency: View) -> Shown {
    let Some(cell) = cell else {
        return Shown {
            text: "–".to_owned(),
            score: None,
        };
    };
    match (cell, latency) {
        (Cell::NotApplicable(why), _) => Shown {
            text: format!("n/a ({why})"),
            score: None,
        },
        (Cell::Failed(_), _) => Shown {
            text: "failed†".to_owned(),
            score: None,
        },
        (Cell::Latency { .. }, Some(pick)) => match pick(cell) {
            Some(d) => Shown {
                text: duration(d),
                score: Some(1.0 / d.as_secs_f64().max(1e-9)),
            },
            None => Shown {
                text: "–".to_owned(),
                score: None,
            },
        },
        (Cell::Rate { partial, .. }, None) => match cell.rate() {
            Some(rate) => Shown {
                text: format!(
                    "{}{}",
                    per_second(rate),
                    if partial.is_some() { "*" } else { "" }
                ),
                score: Some(rate),
            },
            None => Shown {
                text: "–".to_owned(),
                score: None,
            },
        },
        _ => Shown {
            text: "–".to_owned(),
            score: None,
        },
    }
}

fn p50(cell: &Cell) -> Option<Duration> {
    match cell {
        Cell::Latency { p50, .. } => Some(*p50),
        _ => None,
    }
}

fn p99(cell: &Cell) -> Option<Duration> {
    match cell {
        Cell::Latency { p99, .. } => Some(*p99),
        _ => None,
    }
}

/// `1.23M/s`, `45.6k/s`, `789/s`.
pub fn per_second(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{:.2}M/s", rate / 1e6)
    } else if rate >= 1e5 {
        format!("{:.0}k/s", rate / 1e3)
    } else if rate >= 1e3 {
        format!("{:.1}k/s", rate / 1e3)
    } else if rate >= 10.0 {
        format!("{rate:.0}/s")
    } else {
        format!("{rate:.2}/s")
    }
}

/// `45 µs`, `1.23 ms`.
pub fn duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1_000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.2} ms", us / 1e3)
    }
}

fn size_label(size: usize) -> String {
    if size >= 1_000_000 && size.is_multiple_of(1_000_000) {
        format!("{}M", size / 1_000_000)
    } else if size >= 1_000 && size.is_multiple_of(1_000) {
        format!("{}k", size / 1_000)
    } else {
        size.to_string()
    }
}

fn times(ours: Option<f64>, other: Option<f64>) -> String {
    match (ours, other) {
        (Some(a), Some(b)) if b > 0.0 => {
            let r = a / b;
            if r >= 100.0 {
                format!("{r:.0}×")
            } else if r >= 10.0 {
                format!("{r:.1}×")
            } else {
                format!("{r:.2}×")
            }
        }
        _ => "–".to_owned(),
    }
}

fn percent(ours: Option<f64>, limit: Option<f64>) -> String {
    match (ours, limit) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.0}%", 100.0 * a / b),
        _ => "–".to_owned(),
    }
}

/// The rows an operation takes: its rate, or its latency's p50 and p99.
fn views(op: Op) -> Vec<(String, View)> {
    if op.is_latency() {
        vec![
            (
                format!("{} p50", op.label()),
                Some(p50 as fn(&Cell) -> Option<Duration>),
            ),
            (
                format!("{} p99", op.label()),
                Some(p99 as fn(&Cell) -> Option<Duration>),
            ),
        ]
    } else {
        vec![(format!("{}, per s", op.label()), None)]
    }
}

/// Ours on `family` as a multiple of rmcp's cost (time per call, or latency p50) for `op` at
/// `callers`: below 1× ours is cheaper.
fn manager_cost(results: &Results, family: Family, op: Op, callers: usize) -> Option<f64> {
    let score = |family, who| {
        let cell = results.cell(family, MANAGER_TASKS, who, callers, op);
        let view = views(op).first().and_then(|(_, view)| *view);
        show(cell, view).score
    };
    let ours = score(family, Who::Ours)?;
    let rmcp = score(Family::Memory, Who::Rmcp)?;
    (ours > 0.0).then(|| rmcp / ours)
}

fn cost_ratio(cost: Option<f64>) -> String {
    cost.map_or("–".to_owned(), |c| format!("{c:.2}×"))
}

/// rmcp's in-memory task manager beside ours on every backend.
fn manager_table(results: &Results, out: &mut String) {
    let mut header = String::from("| operation | callers | rmcp memory |");
    let mut rule = String::from("|---|---:|---:|");
    for &family in &results.families {
        header.push_str(&format!(" ours, {} | cost ÷ rmcp's |", family.title()));
        rule.push_str("---:|---:|");
    }
    let _ = writeln!(out, "{header}\n{rule}");
    for &op in results.ops.iter().filter(|op| op.is_manager()) {
        for (label, view) in views(op) {
            for &callers in &results.callers {
                let rmcp = results.cell(Family::Memory, MANAGER_TASKS, Who::Rmcp, callers, op);
                let mut row = format!("| {label} | {callers} | {} |", show(rmcp, view).text);
                for &family in &results.families {
                    let ours = results.cell(family, MANAGER_TASKS, Who::Ours, callers, op);
                    let (ours, rmcp) = (show(ours, view), show(rmcp, view));
                    // Rates and latencies alike: rmcp's score over ours is ours' cost over rmcp's.
                    let cost = ours.score.zip(rmcp.score).map(|(o, r)| r / o);
                    row.push_str(&format!(" {} | {} |", ours.text, cost_ratio(cost)));
                }
                let _ = writeln!(out, "{row}");
            }
        }
    }
    failures(
        results.records.iter().filter(|r| r.op.is_manager()),
        |r| format!("{} on {}", r.who.name(r.family), r.family.title()),
        out,
    );
}

/// Lists the failed `records`, each as where it ran (`place`), its callers and its
/// operation, under a heading, if any failed.
fn failures<'a>(
    records: impl Iterator<Item = &'a Record>,
    place: impl Fn(&Record) -> String,
    out: &mut String,
) {
    let failures: Vec<String> = records
        .filter_map(|r| match &r.cell {
            Cell::Failed(e) => Some(format!(
                "- {}, {} callers, {}: {e}",
                place(r),
                r.callers,
                r.op.label()
            )),
            _ => None,
        })
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "\n† Failures:\n\n{}", failures.join("\n"));
    }
}

/// The rows of one family's table.
fn table(results: &Results, family: Family, out: &mut String) {
    let columns = Who::columns(family);
    let mut header = String::from("| tasks | operation | callers |");
    let mut rule = String::from("|---:|---|---:|");
    for &who in columns {
        header.push_str(&format!(" {} |", who.name(family)));
        rule.push_str("---:|");
        match who {
            Who::Ours => {}
            Who::Limit => {
                header.push_str(" ours, % of limit |");
                rule.push_str("---:|");
            }
            _ => {
                header.push_str(&format!(" ours ÷ {} |", who.name(family)));
                rule.push_str("---:|");
            }
        }
    }
    let _ = writeln!(out, "{header}\n{rule}");
    for &size in results.sizes_of(family) {
        for &op in results.ops.iter().filter(|op| !op.is_manager()) {
            let views = views(op);
            for (label, view) in views {
                for &callers in &results.callers {
                    let mut row = format!("| {} | {label} | {callers} |", size_label(size));
                    let ours = show(results.cell(family, size, Who::Ours, callers, op), view);
                    for &who in columns {
                        let cell = results.cell(family, size, who, callers, op);
                        let shown = show(cell, view);
                        row.push_str(&format!(" {} |", shown.text));
                        match who {
                            Who::Ours => {}
                            Who::Limit => {
                                row.push_str(&format!(" {} |", percent(ours.score, shown.score)))
                            }
                            _ => row.push_str(&format!(" {} |", times(ours.score, shown.score))),
                        }
                    }
                    let _ = writeln!(out, "{row}");
                }
            }
        }
        if family == Family::Memory {
            let ours = results.footprint(family, size, Who::Ours);
            let mut row = format!("| {} | heap bytes per task | – |", size_label(size));
            for &who in columns {
                let bytes = results.footprint(family, size, who);
                row.push_str(&format!(
                    " {} |",
                    bytes.map_or("–".to_owned(), |b| format!("{b:.0} B"))
                ));
                // Fewer bytes is better: the ratios compare inverses.
                let (ours, other) = (ours.map(|b| 1.0 / b), bytes.map(|b| 1.0 / b));
                match who {
                    Who::Ours => {}
                    Who::Limit => row.push_str(&format!(" {} |", percent(ours, other))),
                    _ => row.push_str(&format!(" {} |", times(ours, other))),
                }
            }
            let _ = writeln!(out, "{row}");
        }
    }
    failures(
        results
            .records
            .iter()
            .filter(|r| r.family == family && !r.op.is_manager()),
        |r| format!("{} at {} tasks", r.who.name(family), size_label(r.size)),
        out,
    );
}

/// A checked target: met or not, with the figures that decide it.
struct Verdict {
    target: String,
    met: Option<bool>,
    detail: String,
    /// A finding reported without a target to meet.
    info: bool,
}

fn targets(results: &Results) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    let has = |family| results.families.contains(&family);
    let callers = &results.callers;
    let ops_rate: Vec<Op> = results
        .ops
        .iter()
        .copied()
        .filter(|op| *op != Op::Wake)
        .collect();

    if has(Family::Memory) {
        let m = Family::Memory;
        let sizes = results.sizes_of(m);
        // Gets per second on one thread.
        let gets: Vec<(usize, f64)> = sizes
            .iter()
            .filter_map(|&s| results.rate(m, s, Who::Ours, 1, Op::Get).map(|r| (s, r)))
            .collect();
        verdicts.push(Verdict {
            target: "Memory: at least 1,000,000 gets/s on one thread".into(),
            met: (!gets.is_empty()).then(|| gets.iter().all(|(_, r)| *r >= 1e6)),
            detail: list(
                gets.iter()
                    .map(|(s, r)| format!("{}: {}", size_label(*s), per_second(*r))),
            ),
            info: false,
        });
        // Flat get cost: from the smallest store to the largest, a get may slow down only as
        // much as a bare HashMap does (the memory hierarchy's share), give or take a quarter.
        if let (Some(first), Some(last)) = (gets.first(), gets.last())
            && first.0 != last.0
        {
            let growth = first.1 / last.1;
            let limit = results
                .rate(m, first.0, Who::Limit, 1, Op::Get)
                .zip(results.rate(m, last.0, Who::Limit, 1, Op::Get))
                .map(|(a, b)| a / b);
            verdicts.push(Verdict {
                target: format!(
                    "Memory: the cost of a get does not grow from {} to {} tasks",
                    size_label(first.0),
                    size_label(last.0)
                ),
                met: limit.map(|limit| growth <= 1.25 * limit.max(1.0)),
                detail: format!(
                    "{:.0} ns at {} and {:.0} ns at {}: {growth:.2}× for {}× the tasks, where a \
                     bare HashMap's get slows {} (cache and TLB misses, not the store's size); \
                     met when within 1.25× of that",
                    1e9 / first.1,
                    size_label(first.0),
                    1e9 / last.1,
                    size_label(last.0),
                    last.0 / first.0,
                    limit.map_or("by an unmeasured factor".to_owned(), |l| format!("{l:.2}×")),
                ),
                info: false,
            });
        }
        verdicts.push(peer_verdict(
            results,
            m,
            Who::Turul,
            2.0,
            &ops_rate,
            callers,
            "Memory: at least 2× turul's in-memory store on every operation",
        ));
    }
    if has(Family::Sqlite) {
        let s = Family::Sqlite;
        verdicts.push(limit_verdict(results, s, &[Op::Get, Op::Status], callers, 0.8, "SQLite: at least 80% of the raw sqlx statement rate for get and for a transition (status update)"));
        verdicts.push(peer_verdict(
            results,
            s,
            Who::Turul,
            2.0,
            &ops_rate,
            callers,
            "SQLite: at least 2× turul's SQLite store",
        ));
    }
    if has(Family::Redis) {
        let r = Family::Redis;
        verdicts.push(limit_verdict(results, r, &[Op::Get, Op::Status, Op::Complete, Op::Cancel], callers, 0.8, "Redis: at least 80% of the raw round-trip rate (get vs HGETALL; transitions vs EVALSHA) at every concurrency"));
    }
    if has(Family::Postgres) {
        let p = Family::Postgres;
        verdicts.push(limit_verdict(results, p, &[Op::Get, Op::Status, Op::Complete, Op::Cancel], callers, 0.8, "PostgreSQL: at least 80% of the raw sqlx statement rate for get and every transition (status update, complete, cancel)"));
        let writes: Vec<Op> = [Op::Create, Op::Status, Op::Complete, Op::Cancel]
            .into_iter()
            .filter(|op| results.ops.contains(op))
            .collect();
        verdicts.push(peer_verdict(
            results,
            p,
            Who::Turul,
            2.0,
            &writes,
            callers,
            "PostgreSQL: at least 2× turul's PostgreSQL store on every write",
        ));
    }
    manager_verdicts(results, &mut verdicts);
    // Listing: a walk over every page that costs O(n) in total keeps its cost per task bounded
    // as the store grows (cache misses add a bounded factor), where an O(n) page makes it grow
    // with the store itself. Met when, from the smallest store to 100k tasks, the cost per task
    // grows by at most a tenth of the growth in tasks.
    for &family in &results.families {
        let sizes: Vec<usize> = results
            .sizes_of(family)
            .iter()
            .copied()
            .filter(|&s| s <= 100_000)
            .collect();
        let (Some(&small), Some(&large)) = (sizes.first(), sizes.last()) else {
            continue;
        };
        if small == large || !results.ops.contains(&Op::List) {
            continue;
        }
        let list = |who, size| results.rate(family, size, who, 1, Op::List);
        let (met, detail) = match (list(Who::Ours, small), list(Who::Ours, large)) {
            (Some(a), Some(b)) => {
                let growth = a / b;
                let beyond = results
                    .sizes_of(family)
                    .iter()
                    .copied()
                    .find(|&s| s > large)
                    .and_then(|s| list(Who::Ours, s).map(|c| (s, b / c)));
                let peers: Vec<String> = Who::columns(family)
                    .iter()
                    .filter(|w| !matches!(w, Who::Ours | Who::Limit))
                    .filter_map(|&w| {
                        let x = list(w, small)?;
                        let y = list(w, large)?;
                        Some(format!("{} {:.0}×", w.name(family), x / y))
                    })
                    .collect();
                (
                    Some(growth <= (large / small) as f64 / 10.0),
                    format!(
                        "{} tasks/s at {}, {} at {}: the cost per task grows {growth:.2}× for \
                         {}× the tasks{}{}",
                        per_second(a).trim_end_matches("/s"),
                        size_label(small),
                        per_second(b),
                        size_label(large),
                        large / small,
                        beyond.map_or(String::new(), |(s, g)| format!(
                            ", and {g:.2}× from {} to {}",
                            size_label(large),
                            size_label(s)
                        )),
                        if peers.is_empty() {
                            String::new()
                        } else {
                            format!("; the peers' cost per task grows {}", peers.join(", "))
                        }
                    ),
                )
            }
            _ => (None, "not measured".to_owned()),
        };
        verdicts.push(Verdict {
            target: format!(
                "{}: walking all pages of a {} store costs O(n) in total",
                family.title(),
                size_label(large)
            ),
            met,
            detail,
            info: false,
        });
    }
    // Wake-ups.
    if results.ops.contains(&Op::Wake) {
        for &family in &results.families {
            let mut worst: Option<(Duration, String)> = None;
            let mut all = Vec::new();
            for &size in results.sizes_of(family) {
                for &c in callers {
                    if let Some(Cell::Latency { p99, .. }) =
                        results.cell(family, size, Who::Ours, c, Op::Wake)
                    {
                        all.push(format!("{} ×{c}: {}", size_label(size), duration(*p99)));
                        if worst.as_ref().is_none_or(|(w, _)| p99 > w) {
                            worst =
                                Some((*p99, format!("{} tasks, {c} callers", size_label(size))));
                        }
                    }
                }
            }
            verdicts.push(Verdict {
                target: format!(
                    "{}: in-process wake-up latency p99 under 1 ms",
                    family.title()
                ),
                met: worst.as_ref().map(|(w, _)| *w < Duration::from_millis(1)),
                detail: list(all.into_iter()),
                info: false,
            });
        }
    }
    verdicts
}

/// Our task manager beside rmcp's: on the memory store at most twice its cost; on a durable
/// store, what keeping the tasks costs.
fn manager_verdicts(results: &Results, verdicts: &mut Vec<Verdict>) {
    let ops: Vec<Op> = results
        .ops
        .iter()
        .copied()
        .filter(|op| op.is_manager())
        .collect();
    if ops.is_empty() {
        return;
    }
    for &family in &results.families {
        let mut parts = Vec::new();
        let mut met = None;
        for &op in &ops {
            for &c in &results.callers {
                let Some(cost) = manager_cost(results, family, op, c) else {
                    continue;
                };
                let ok = cost <= 2.0;
                met = Some(met.unwrap_or(true) && ok);
                let what = if op.is_latency() { " p50" } else { "" };
                let missed = if family == Family::Memory && !ok {
                    " (missed)"
                } else {
                    ""
                };
                parts.push(format!("{}{what} ×{c}: {cost:.2}×{missed}", op.label()));
            }
        }
        let detail = list(parts.into_iter());
        verdicts.push(if family == Family::Memory {
            Verdict {
                target: "Task manager, memory: at most 2× the cost of rmcp's TaskManager (time \
                         per call; latency p50), ours ÷ rmcp's"
                    .into(),
                met,
                detail,
                info: false,
            }
        } else {
            Verdict {
                target: format!(
                    "Task manager, {}: what durability costs, ours ÷ rmcp's in-memory manager",
                    family.title()
                ),
                met: None,
                detail,
                info: true,
            }
        });
    }
}

fn list(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        "not measured".to_owned()
    } else {
        items.join("; ")
    }
}

/// Ours at least `factor` × the peer on every operation, size and concurrency.
fn peer_verdict(
    results: &Results,
    family: Family,
    peer: Who,
    factor: f64,
    ops: &[Op],
    callers: &[usize],
    target: &str,
) -> Verdict {
    let mut misses = Vec::new();
    let mut worst: Option<(f64, String)> = None;
    let mut compared = 0;
    for &size in results.sizes_of(family) {
        for &op in ops {
            for &c in callers {
                let (Some(a), Some(b)) = (
                    results.rate(family, size, Who::Ours, c, op),
                    results.rate(family, size, peer, c, op),
                ) else {
                    continue;
                };
                compared += 1;
                let ratio = a / b;
                let at = format!("{} at {}, {c} callers", op.label(), size_label(size));
                if ratio < factor {
                    misses.push(format!("{at}: {ratio:.2}×"));
                }
                if worst.as_ref().is_none_or(|(w, _)| ratio < *w) {
                    worst = Some((ratio, at));
                }
            }
        }
    }
    let detail = match (&worst, misses.is_empty()) {
        (None, _) => "not measured".to_owned(),
        (Some((w, at)), true) => format!("{compared} comparisons, the closest {w:.2}× ({at})"),
        (Some(_), false) => format!(
            "missed in {} of {compared}: {}",
            misses.len(),
            misses.join("; ")
        ),
    };
    Verdict {
        target: target.to_owned(),
        met: worst.map(|_| misses.is_empty()),
        detail,
        info: false,
    }
}

/// Ours at least `share` of the limit for `ops`, at every size and concurrency.
fn limit_verdict(
    results: &Results,
    family: Family,
    ops: &[Op],
    callers: &[usize],
    share: f64,
    target: &str,
) -> Verdict {
    let mut parts = Vec::new();
    let mut met = None;
    for &op in ops {
        for &size in results.sizes_of(family) {
            for &c in callers {
                let (Some(a), Some(b)) = (
                    results.rate(family, size, Who::Ours, c, op),
                    results.rate(family, size, Who::Limit, c, op),
                ) else {
                    continue;
                };
                let ok = a / b >= share;
                met = Some(met.unwrap_or(true) && ok);
                parts.push(format!(
                    "{} {} ×{c}: {:.0}%{}",
                    op.label(),
                    size_label(size),
                    100.0 * a / b,
                    if ok { "" } else { " (missed)" }
                ));
            }
        }
    }
    Verdict {
        target: target.to_owned(),
        met,
        detail: list(parts.into_iter()),
        info: false,
    }
}

/// The whole report.
pub fn render(results: &Results, method: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Written by `cargo bench --manifest-path bench/Cargo.toml`, which prints the same tables. \
         Numbers from one run on the machine below; rerun to compare on yours.\n"
    );
    for (name, value) in &results.facts {
        let _ = writeln!(out, "- **{name}:** {value}");
    }
    for note in &results.notes {
        let _ = writeln!(out, "- {note}");
    }
    let _ = writeln!(out, "\n## Targets\n");
    for verdict in targets(results) {
        let mark = match (verdict.met, verdict.info) {
            (_, true) => "measured",
            (Some(true), _) => "met",
            (Some(false), _) => "**missed**",
            (None, _) => "not measured",
        };
        let _ = writeln!(out, "- {}: {mark}. {}", verdict.target, verdict.detail);
    }
    let _ = writeln!(
        out,
        "\n## Reading the tables\n\n\
         - Rates are calls per second (listing: tasks per second over every page, 100 per page), \
         higher is better; wake-up latencies are p50 and p99, lower is better.\n\
         - \"ours ÷ peer\" is how many times better ours is: rate over rate, or the peer's latency \
         over ours, or the peer's bytes over ours. Above 1× ours is better.\n\
         - \"ours, % of limit\" is ours as a share of the hardware limit measured beside it.\n\
         - `*` the time box ended the measurement first: the rate over the calls that fitted.\n\
         - `n/a (why)`: the subject has no equivalent operation. `–`: not run at this size.\n"
    );
    for &family in &results.families {
        let _ = writeln!(out, "## {}\n", family.title());
        table(results, family, &mut out);
        let _ = writeln!(out);
    }
    if results.ops.iter().any(|op| op.is_manager()) {
        let _ = writeln!(
            out,
            "## Task managers: rmcp's in-memory TaskManager and ours on each store\n\n\
             {MANAGER_TASKS} tasks in the manager, each with work waiting for input. \"cost ÷ \
             rmcp's\" is ours' time per call (latency p50 or p99) over rmcp's: below 1× ours \
             is cheaper.\n"
        );
        manager_table(results, &mut out);
        let _ = writeln!(out);
    }
    out.push_str(method);
    out
}
