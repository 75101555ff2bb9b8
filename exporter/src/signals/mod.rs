//! Domain records to OpenTelemetry signals.

pub mod attributes;
pub mod logs;
pub mod route;
mod rpc;
pub mod traces;
pub mod wire;

use std::sync::Arc;

use crate::decorate::process::ProcessInfo;

/// What the processing stage hands to the export stage.
// Spans are most of the traffic; boxing them would add an allocation per span to save
// space on the rarer log records.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Telemetry {
    Span(traces::HttpSpan),
    Log(logs::LogLine),
}

impl Telemetry {
    pub fn process(&self) -> &Arc<ProcessInfo> {
        match self {
            Telemetry::Span(s) => &s.process,
            Telemetry::Log(l) => &l.process,
        }
    }
}
