//! `--exe NAME`: keeps the kernel's pid filter in step with the processes running NAME.

use std::collections::HashSet;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::pid_set::PidSet;

const SCAN_INTERVAL: Duration = Duration::from_millis(250);

pub async fn run(exes: Vec<String>, mut pid_filter: PidSet, cancel: CancellationToken) {
    let mut selected: HashSet<u32> = HashSet::new();
    let mut tick = tokio::time::interval(SCAN_INTERVAL);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = matching_pids(&exes);
        for pid in now.difference(&selected) {
            if let Err(e) = pid_filter.insert(*pid) {
                tracing::warn!(pid, error = %e, "cannot select process for --exe");
            }
        }
        for pid in selected.difference(&now) {
            let _ = pid_filter.remove(*pid);
        }
        selected = now;
    }
}

/// Pids whose executable file name or thread-group name equals one of `exes`.
pub fn matching_pids(exes: &[String]) -> HashSet<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return HashSet::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let base = format!("/proc/{pid}");
            let exe = std::fs::read_link(format!("{base}/exe"))
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
            let comm = std::fs::read_to_string(format!("{base}/comm")).ok().map(|c| c.trim().to_string());
            exes.iter().any(|want| exe.as_deref() == Some(want) || comm.as_deref() == Some(want))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_this_test_process_by_exe_name() {
        let me = std::env::current_exe().expect("exe");
        let name = me.file_name().expect("name").to_string_lossy().into_owned();
        assert!(super::matching_pids(&[name]).contains(&std::process::id()));
        assert!(super::matching_pids(&["no-such-binary-xyz".into()]).is_empty());
    }
}
