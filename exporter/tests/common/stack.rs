//! The real backends of integration/stack.sh (Collector, Jaeger, Prometheus, VictoriaLogs)
//! as the pipeline tests use them: start them, stop/start one, and query their HTTP APIs.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;

use super::repo_root;

pub const COLLECTOR_GRPC: &str = "http://127.0.0.1:4317";
pub const COLLECTOR_HTTP: &str = "http://127.0.0.1:4318";
pub const JAEGER: &str = "http://127.0.0.1:16686";
pub const VICTORIALOGS: &str = "http://127.0.0.1:9428";

/// Runs `integration/stack.sh ARGS` (a cold `up` builds the backends: ~20 min).
pub fn stack(args: &[&str]) -> Result<()> {
    let script = repo_root().join("integration/stack.sh");
    let status = Command::new("bash")
        .arg(&script)
        .args(args)
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    ensure!(status.success(), "integration/stack.sh {} failed: {status}", args.join(" "));
    Ok(())
}

/// GET `url` with URL-encoded query parameters; the body as JSON.
pub fn get_json(url: &str, params: &[(&str, &str)]) -> Result<Value> {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--fail-with-body", "--noproxy", "*", "--max-time", "20", "-G", url]);
    for (k, v) in params {
        cmd.arg("--data-urlencode").arg(format!("{k}={v}"));
    }
    let out = cmd.output().context("running curl")?;
    let body = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success(), "GET {url} {params:?}: {} {body}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&body).with_context(|| format!("GET {url}: not JSON: {body:.300}"))
}

/// LogsQL query: one JSON object per log line.
pub fn logsql(query: &str, limit: usize) -> Result<Vec<Value>> {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--fail-with-body", "--noproxy", "*", "--max-time", "20"])
        .arg(format!("{VICTORIALOGS}/select/logsql/query"))
        .arg("--data-urlencode")
        .arg(format!("query={query}"))
        .arg("--data-urlencode")
        .arg(format!("limit={limit}"));
    let out = cmd.output().context("running curl")?;
    let body = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success(), "LogsQL {query:?}: {} {body}", String::from_utf8_lossy(&out.stderr));
    body.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("LogsQL line not JSON: {l:.300}")))
        .collect()
}

/// Calls `f` every 500 ms until it returns Some, or fails with the last reason after `timeout`.
pub fn eventually<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let start = Instant::now();
    loop {
        let last = match f() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => "not yet".to_owned(),
            Err(e) => format!("{e:#}"),
        };
        if start.elapsed() >= timeout {
            bail!("{what}: not after {timeout:?}: {last}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// One Jaeger span with what the tests look at.
#[derive(Debug, Clone)]
pub struct JaegerSpan {
    pub span_id: String,
    pub parent: Option<String>,
    pub service: String,
    pub kind: String,
    pub operation: String,
    pub tags: Value,
}

impl JaegerSpan {
    pub fn tag(&self, key: &str) -> Option<&Value> {
        self.tags.as_array()?.iter().find(|t| t["key"] == key).map(|t| &t["value"])
    }
}

/// The spans of one trace in Jaeger's /api/traces JSON.
pub fn jaeger_spans(trace: &Value) -> Vec<JaegerSpan> {
    let processes = &trace["processes"];
    let empty = Vec::new();
    trace["spans"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .map(|s| {
            let tags = s["tags"].clone();
            let kind = tags
                .as_array()
                .and_then(|t| t.iter().find(|t| t["key"] == "span.kind"))
                .and_then(|t| t["value"].as_str())
                .unwrap_or("")
                .to_owned();
            let parent = s["references"]
                .as_array()
                .and_then(|r| r.iter().find(|r| r["refType"] == "CHILD_OF"))
                .and_then(|r| r["spanID"].as_str())
                .map(str::to_owned);
            JaegerSpan {
                span_id: s["spanID"].as_str().unwrap_or("").to_owned(),
                parent,
                service: processes[s["processID"].as_str().unwrap_or("")]["serviceName"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                kind,
                operation: s["operationName"].as_str().unwrap_or("").to_owned(),
                tags,
            }
        })
        .collect()
}

/// Traces of `service` Jaeger holds from the last hour.
pub fn jaeger_traces(service: &str, limit: usize) -> Result<Vec<Value>> {
    let doc = get_json(
        &format!("{JAEGER}/api/traces"),
        &[("service", service), ("limit", &limit.to_string()), ("lookback", "1h")],
    )?;
    Ok(doc["data"].as_array().cloned().unwrap_or_default())
}

/// One trace by id (None while Jaeger does not have it).
pub fn jaeger_trace(trace_id: &str) -> Result<Option<Value>> {
    let out = Command::new("curl")
        .args(["-sS", "--noproxy", "*", "--max-time", "20"])
        .arg(format!("{JAEGER}/api/traces/{trace_id}"))
        .output()
        .context("running curl")?;
    let doc: Value = serde_json::from_slice(&out.stdout).context("Jaeger /api/traces/<id>: not JSON")?;
    Ok(doc["data"].as_array().and_then(|d| d.first()).cloned())
}
