//! Service A of the trace-linking tests in several runtimes: for `GET /work/{id}` each calls
//! service B (the go-http server) with `GET /b/{id}`, propagating no trace context, so the
//! only way its CLIENT span can get a parent is the agent's in-process linking.

use std::process::Command;

use anyhow::Result;

use super::{clean_command, exe_name, go_build, python, servers_dir, wait_listening, which, ChildProc, Server};

/// The runtimes service A is implemented in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainA {
    /// `net/http` with the default `http.Client` (goroutines on a few OS threads).
    Go,
    /// `ThreadingHTTPServer` (a thread per connection) and `http.client`.
    Python,
    /// `http.createServer` and a keep-alive `http.Agent` (one event loop).
    Node,
}

impl ChainA {
    /// Starts this implementation of A with `OTEL_SERVICE_NAME=service`.
    pub fn start(self, service: &str, downstream_port: u16) -> Result<Server> {
        let downstream = downstream_port.to_string();
        let (program, mut cmd) = match self {
            ChainA::Go => {
                let bin = go_build("go-http")?.join("chaina");
                let mut cmd = clean_command(&bin);
                cmd.args(["-downstream", &format!("127.0.0.1:{downstream}")]);
                (bin, cmd)
            }
            ChainA::Python => {
                let py = python()?;
                let mut cmd = clean_command(&py);
                cmd.arg(servers_dir().join("chain_a.py")).args([
                    "--port",
                    "0",
                    "--forward-id",
                    "--downstream-port",
                    &downstream,
                ]);
                (py, cmd)
            }
            ChainA::Node => {
                let node = which("node")?;
                let mut cmd = clean_command(&node);
                cmd.arg(servers_dir().join("chain_a.js")).args(["--downstream-port", &downstream]);
                (node, cmd)
            }
        };
        start(&format!("chain-a-{self:?}"), cmd.env("OTEL_SERVICE_NAME", service), service, &program)
    }
}

fn start(name: &str, cmd: &mut Command, service: &str, program: &std::path::Path) -> Result<Server> {
    let proc = ChildProc::spawn(name, cmd)?;
    let port = wait_listening(&proc)?;
    Ok(Server { proc, port, service: service.to_owned(), exe: exe_name(program)? })
}

/// Runs integration/servers/concurrent_client.py: `clients` keep-alive connections started
/// together, each sending `requests` sequential `GET /work/{label}-c{client}-r{n}`.
pub fn drive(port: u16, clients: usize, requests: usize, label: &str) -> Result<()> {
    let py = python()?;
    let mut cmd = clean_command(&py);
    cmd.arg(servers_dir().join("concurrent_client.py"))
        .args(["--port", &port.to_string(), "--label", label])
        .args(["--clients", &clients.to_string(), "--requests", &requests.to_string()])
        .env("OTEL_SERVICE_NAME", "load-client");
    ChildProc::spawn("concurrent_client", &mut cmd)?.finish(super::CLIENT_TIMEOUT)
}
