//! Domain records to OpenTelemetry signals.

pub mod route;
pub mod traces;
