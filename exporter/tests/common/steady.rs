//! integration/servers/steady_client.py: a client at a fixed rate or count against a test
//! server, for the collector outage and hang tests.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use otlp_sink::{serde_json, ReceivedSpan, SPAN_KIND_SERVER};

use super::{clean_command, python, servers_dir, ChildProc};

/// Starts steady_client.py against `port`; `args` choose the path and the rate or count.
pub fn start(port: u16, args: &[&str]) -> Result<ChildProc> {
    let mut cmd = clean_command(python()?);
    cmd.arg(servers_dir().join("steady_client.py")).args(["--port", &port.to_string()]).args(args);
    ChildProc::spawn("steady-client", &mut cmd)
}

/// Waits for a steady client; returns how many requests it made (all must have succeeded).
pub fn finish(mut client: ChildProc, timeout: Duration) -> Result<u64> {
    client.finish(timeout)?;
    let line = client.stdout.all().pop().context("no output from steady_client")?;
    let v: serde_json::Value = serde_json::from_str(&line)?;
    let (requests, ok) = (v["requests"].as_u64().context("requests")?, v["ok"].as_u64().context("ok")?);
    ensure!(requests == ok, "the server failed requests: {line}");
    Ok(requests)
}

/// SERVER spans for `path`.
pub fn count_path(spans: &[ReceivedSpan], path: &str) -> usize {
    spans.iter().filter(|s| s.kind == SPAN_KIND_SERVER && s.attr_str("url.path") == Some(path)).count()
}
