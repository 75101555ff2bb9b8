//! The OTLP resource of each observed process, built once per process.

use std::collections::HashMap;
use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use crate::decorate::process::ProcessInfo;

/// The resource attributes of one process, from the resource `decorate::process` built for it
/// (process, container and Kubernetes attributes, `service.name` precedence): the single place
/// that turns it into OTLP attributes. `host.name` is in it already.
pub fn resource_attributes(process: &ProcessInfo, _host_name: &str) -> Vec<KeyValue> {
    let mut attrs: Vec<KeyValue> = process
        .resource
        .iter()
        .map(|(k, v)| match v {
            opentelemetry::Value::I64(i) => int_owned(k.as_str(), *i),
            other => string_owned(k.as_str(), other.as_str().into_owned()),
        })
        .collect();
    // A stable order (the SDK resource is a hash map): service.name first, then by key.
    attrs.sort_by(|a, b| (a.key != "service.name", &a.key).cmp(&(b.key != "service.name", &b.key)));
    attrs
}

fn string_owned(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value)) }),
        ..Default::default()
    }
}

fn int_owned(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::IntValue(value)) }),
        ..Default::default()
    }
}

/// This machine's name, read once, for `host.name`.
pub fn host_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".to_string())
    })
}

/// Resources by process. A process is identified by its `Arc<ProcessInfo>` (the process cache
/// hands out one per process, and a new one when a pid is reused); an entry is dropped once
/// nothing but this cache holds the process.
pub struct ResourceCache {
    host_name: String,
    /// Keyed by the address of the `ProcessInfo`, which stays valid while the entry holds the `Arc`.
    map: HashMap<usize, Entry>,
}

struct Entry {
    process: Arc<ProcessInfo>,
    resource: Resource,
    /// `resource`, protobuf-encoded.
    encoded: Vec<u8>,
}

impl ResourceCache {
    pub fn new(host_name: String) -> Self {
        ResourceCache { host_name, map: HashMap::new() }
    }

    /// This machine's name, for `host.name`.
    pub fn for_this_host() -> Self {
        ResourceCache::new(host_name().to_string())
    }

    pub fn get(&mut self, process: &Arc<ProcessInfo>) -> &Resource {
        &self.entry(process).resource
    }

    /// The resource, protobuf-encoded.
    pub fn encoded(&mut self, process: &Arc<ProcessInfo>) -> &[u8] {
        &self.entry(process).encoded
    }

    fn entry(&mut self, process: &Arc<ProcessInfo>) -> &Entry {
        let host_name = &self.host_name;
        self.map.entry(Arc::as_ptr(process) as usize).or_insert_with(|| {
            let resource = Resource { attributes: resource_attributes(process, host_name), ..Default::default() };
            Entry { process: process.clone(), encoded: resource.encode_to_vec(), resource }
        })
    }

    /// Forgets processes nobody else refers to any more (exited, swept from the process cache,
    /// and no telemetry of theirs pending).
    pub fn sweep(&mut self) {
        self.map.retain(|_, e| Arc::strong_count(&e.process) > 1);
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(pid: u32, service: &str) -> Arc<ProcessInfo> {
        Arc::new(crate::decorate::process::test_process(pid, "srv", service))
    }

    #[test]
    fn one_resource_per_process_until_it_is_gone() {
        let mut cache = ResourceCache::new("node-1".into());
        let a = process(10, "checkout");
        let b = process(10, "reused-pid");
        let attrs = cache.get(&a).attributes.clone();
        assert!(attrs.iter().any(|kv| kv.key == "service.name"));
        assert!(attrs.iter().any(|kv| kv.key == "host.name"));
        assert_eq!(Resource::decode(cache.encoded(&a)).expect("valid").attributes, attrs);
        cache.get(&b);
        assert_eq!(cache.len(), 2, "a reused pid is another process");
        drop(a);
        cache.sweep();
        assert_eq!(cache.len(), 1);
        drop(b);
        cache.sweep();
        assert!(cache.is_empty());
    }
}
