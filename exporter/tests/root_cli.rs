//! `spanwire check` and `spanwire run` start-up errors, on the real binary (root needed).

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_spanwire");

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "these tests need root: run them with sudo");
}

/// Runs the binary as user `nobody` with every capability dropped.
fn unprivileged(args: &[&str]) -> std::process::Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", BIN])
        .args(args)
        .output()
        .expect("setpriv (util-linux) runs")
}

#[test]
fn root_check_passes_on_this_machine() {
    require_root();
    let out = Command::new(BIN).arg("check").output().expect("run check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "spanwire check failed here:\n{text}");
    for item in [
        "privileges",
        "kernel BTF",
        "tracefs",
        "syscall tracepoints",
        "program type tracepoint",
        "map type ringbuf",
        "programs load+verify",
    ] {
        assert!(text.lines().any(|l| l.starts_with("ok") && l.contains(item)), "{item} not ok:\n{text}");
    }
    assert!(!text.contains("MISSING"));
}

#[test]
fn root_check_explains_missing_privileges() {
    require_root();
    let out = unprivileged(&["check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "check must fail without privileges:\n{text}");
    assert!(text.contains("MISSING privileges"), "{text}");
    assert!(text.contains("fix: run as root, or grant CAP_BPF, CAP_PERFMON"), "{text}");
    assert!(text.contains("MISSING programs load+verify"), "{text}");
    assert!(text.contains("spanwire check: FAILED"), "{text}");
}

#[test]
fn root_run_without_privileges_fails_with_a_fix() {
    require_root();
    let out = unprivileged(&["run", "--port", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("missing privileges: run as root, or grant CAP_BPF and CAP_PERFMON"), "{err}");
}

#[test]
fn bad_config_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("spanwire-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("bad.yaml");
    std::fs::write(&path, "capture:\n  payload_bytes: 10\n").expect("write");
    let out = Command::new(BIN).args(["run", "--config"]).arg(&path).output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("invalid config file") && err.contains("unknown field `payload_bytes`"), "{err}");
    std::fs::write(&path, "capture:\n  payload_max_bytes: 100000\n").expect("write");
    let out = Command::new(BIN).args(["run", "--config"]).arg(&path).output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid capture.payload_max_bytes: must be 1..=4096"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
