//! Facts about the machine and the software measured, printed with the table.

use std::process::Command;

/// One line per fact.
pub fn facts() -> Vec<(String, String)> {
    let mut facts = vec![
        (
            "date".to_owned(),
            chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        ),
        (
            "cores".to_owned(),
            std::thread::available_parallelism().map_or("unknown".to_owned(), |n| n.to_string()),
        ),
    ];
    if let Some(cpu) = read_field("/proc/cpuinfo", "model name") {
        facts.push(("cpu".to_owned(), cpu));
    }
    if let Some(memory) = read_field("/proc/meminfo", "MemTotal") {
        facts.push(("memory".to_owned(), memory));
    }
    if let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") {
        facts.push(("kernel".to_owned(), release.trim().to_owned()));
    }
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        facts.push(("load average at start".to_owned(), load.join(" ")));
    }
    if let Some(rustc) = output("rustc", &["--version"]) {
        facts.push(("rustc".to_owned(), rustc));
    }
    facts
}

fn read_field(path: &str, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find(|line| line.starts_with(name))
        .and_then(|line| line.split_once(':'))
        .map(|(_, value)| value.trim().to_owned())
}

/// The first line a command prints, if it runs.
pub fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next().map(|line| line.trim().to_owned())
}
