//! A process flooding stdout must not make the agent exceed its memory bound nor starve
//! HTTP capture: the kernel rate-limits stdout/stderr capture per process and counts the
//! rest. Root needed (loads eBPF); named `root_*`.

mod common;

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use common::{clean_command, python, require_root, rss_kib, serial, Agent, ChildProc, Otlp};
use otlp_sink::Sink;

const FLOOD_SECS: u64 = 5;
const MAX_AGENT_RSS_KIB: u64 = 150 * 1024;

#[test]
fn root_stdout_flood_is_bounded_and_counted() -> Result<()> {
    require_root();
    let _serial = serial();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let sink = rt.block_on(Sink::start())?;
    // Writes 64 KiB of JSON lines per write() to stdout (pointed at /dev/null), as fast as it
    // can, once the agent is ready (the test creates the `go` file).
    let go = std::env::temp_dir().join(format!("spanwire-flood-{}", std::process::id()));
    let _ = std::fs::remove_file(&go);
    let script = format!(
        r#"
import os, sys, time
os.dup2(os.open('/dev/null', os.O_WRONLY), 1)
line = b'{{"level":"info","msg":"' + b'x' * 100 + b'"}}\n'
chunk = line * (65536 // len(line))
while not os.path.exists({go:?}):
    time.sleep(0.01)
end = time.time() + {FLOOD_SECS}
n = 0
while time.time() < end:
    n += os.write(1, chunk)
os.write(2, ("wrote %d\n" % n).encode())
"#
    );
    let py = python()?;
    let mut cmd = clean_command(&py);
    cmd.args(["-c", &script]);
    let mut writer = ChildProc::spawn("flood", &mut cmd)?;
    let agent = Agent::start_with(&["--pid".into(), writer.pid().to_string()], Otlp::Grpc, &sink)?;
    std::fs::write(&go, b"go")?;
    let start = Instant::now();
    let mut peak_rss = 0;
    while start.elapsed() < Duration::from_secs(FLOOD_SECS + 1) {
        peak_rss = peak_rss.max(rss_kib(agent.pid())?);
        std::thread::sleep(Duration::from_millis(200));
    }
    writer.finish(Duration::from_secs(20))?;
    let _ = std::fs::remove_file(&go);
    let wrote: u64 = writer
        .stderr
        .text()
        .lines()
        .find_map(|l| l.strip_prefix("wrote ").and_then(|n| n.trim().parse().ok()))
        .unwrap_or(0);
    let stats = agent.stop()?;
    let logs = sink.logs();
    let mb_per_s = wrote as f64 / 1e6 / FLOOD_SECS as f64;
    eprintln!(
        "flood: {mb_per_s:.0} MB/s written, {} records exported, {} writes rate-limited, peak agent RSS {} KiB",
        logs.len(),
        stats.get("log_writes_rate_limited_total")?,
        peak_rss
    );
    ensure!(mb_per_s >= 20.0, "the writer must really flood (got {mb_per_s:.1} MB/s)");
    ensure!(peak_rss < MAX_AGENT_RSS_KIB, "agent RSS {peak_rss} KiB over the bound");
    ensure!(stats.get("log_writes_rate_limited_total")? > 0, "the excess is counted: {stats:?}");
    ensure!(stats.get("ringbuf_dropped_events_total")? == 0, "the ring buffer is not flooded: {stats:?}");
    ensure!(!logs.is_empty(), "some lines are exported");
    // stdout carries the JSON lines (the writer's final "wrote N" goes to stderr).
    let stdout: Vec<_> =
        logs.iter().filter(|l| l.attributes.get("log.iostream").and_then(|v| v.as_str()) == Some("stdout")).collect();
    ensure!(!stdout.is_empty() && stdout.iter().all(|l| l.severity_text == "INFO"), "JSON level parsed on stdout");
    // Each captured write is cut at max_line_bytes (1024): at most 16 lines of ~116 bytes each.
    ensure!(logs.len() as u64 <= 16 * 200 * (FLOOD_SECS + 2), "rate limit holds: {} records", logs.len());
    drop(rt);
    Ok(())
}
