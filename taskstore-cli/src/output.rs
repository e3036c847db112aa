//! Human tables and JSON for scripts.

use chrono::{DateTime, Utc};
use serde::Serialize;
use task_store::{Task, TaskError};

/// Where results go: aligned text, or JSON with `--json`.
pub struct Output {
    /// Print JSON.
    pub json: bool,
}

impl Output {
    /// Prints a value as pretty JSON.
    pub fn json(&self, value: &impl Serialize) -> Result<(), TaskError> {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| TaskError::InvalidInput(format!("cannot print JSON: {e}")))?;
        println!("{text}");
        Ok(())
    }
}

/// Prints rows under headers, each column as wide as its widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// A duration in the largest two units: `3d4h`, `12m5s`, `850ms`.
pub fn duration(ms: i64) -> String {
    if ms < 0 {
        return "0s".into();
    }
    let units = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    for (i, (size, name)) in units.iter().enumerate() {
        if ms >= *size {
            let mut text = format!("{}{name}", ms / size);
            if let Some((next, next_name)) = units.get(i + 1) {
                let rest = (ms % size) / next;
                if rest > 0 {
                    text.push_str(&format!("{rest}{next_name}"));
                }
            }
            return text;
        }
    }
    format!("{ms}ms")
}

/// Time since the task was created.
pub fn age(task: &Task, now: DateTime<Utc>) -> String {
    duration((now - task.created_at).num_milliseconds())
}

/// Time until the task expires, or `never`.
pub fn ttl_left(task: &Task, now: DateTime<Utc>) -> String {
    match task.expires_at() {
        Some(at) => duration((at - now).num_milliseconds()),
        None => "never".into(),
    }
}

/// The task as `field: value` lines.
pub fn task_fields(task: &Task) -> Vec<(&'static str, String)> {
    let now = Utc::now();
    let mut fields = vec![
        ("id", task.task_id.clone()),
        ("status", task.status.to_string()),
        ("message", task.status_message.clone().unwrap_or_default()),
        ("created", task.created_at.to_rfc3339()),
        ("updated", task.last_updated_at.to_rfc3339()),
        ("age", age(task, now)),
        ("ttl left", ttl_left(task, now)),
    ];
    if let Some(interval) = task.poll_interval {
        fields.push(("poll every", duration(interval as i64)));
    }
    fields
}

/// Prints `field: value` lines, aligned.
pub fn fields(fields: &[(&str, String)]) {
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in fields {
        println!("{key:>width$}: {value}");
    }
}

/// An error as one line, without its source chain's line breaks.
pub fn one_line(error: &TaskError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = cause_source(source);
    }
    text.replace(['\n', '\r'], " ")
}

fn cause_source<'a>(
    error: Option<&'a (dyn std::error::Error + 'static)>,
) -> Option<&'a (dyn std::error::Error + 'static)> {
    error.and_then(std::error::Error::source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_compact() {
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(5_000), "5s");
        assert_eq!(duration(725_000), "12m5s");
        assert_eq!(duration(3_600_000), "1h");
        assert_eq!(duration(273_600_000), "3d4h");
        assert_eq!(duration(-5), "0s");
    }
}
