//! The OpenTelemetry resource environment of a process (`OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`): it wins over everything the agent derives.

/// What a process's environment says about its own service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvResource {
    /// `OTEL_SERVICE_NAME`, else `service.name` inside `OTEL_RESOURCE_ATTRIBUTES`.
    pub service_name: Option<String>,
    /// `service.namespace` inside `OTEL_RESOURCE_ATTRIBUTES`.
    pub service_namespace: Option<String>,
}

impl EnvResource {
    /// From a NUL-separated `/proc/<pid>/environ`.
    pub fn from_environ(environ: &[u8]) -> Self {
        let mut env = EnvResource::default();
        for kv in environ.split(|&b| b == 0).filter_map(|kv| std::str::from_utf8(kv).ok()) {
            if let Some((k, v)) = kv.split_once('=') {
                env.set(k, v);
            }
        }
        env
    }

    /// Applies one variable; others are ignored. `OTEL_SERVICE_NAME` wins over the
    /// `service.name` inside `OTEL_RESOURCE_ATTRIBUTES` whatever their order.
    pub fn set(&mut self, name: &str, value: &str) {
        match name {
            "OTEL_SERVICE_NAME" => {
                if let Some(v) = non_empty(value) {
                    self.service_name = Some(v);
                }
            }
            "OTEL_RESOURCE_ATTRIBUTES" => {
                let attr = |key: &str| {
                    value
                        .split(',')
                        .filter_map(|pair| pair.split_once('='))
                        .find(|(k, _)| k.trim() == key)
                        .and_then(|(_, v)| non_empty(v))
                };
                if self.service_name.is_none() {
                    self.service_name = attr("service.name");
                }
                self.service_namespace = attr("service.namespace").or(self.service_namespace.take());
            }
            _ => {}
        }
    }

    /// Fills what this environment leaves open from `other` (a lower-precedence source).
    pub fn or(self, other: &EnvResource) -> EnvResource {
        EnvResource {
            service_name: self.service_name.or_else(|| other.service_name.clone()),
            service_namespace: self.service_namespace.or_else(|| other.service_namespace.clone()),
        }
    }
}

fn non_empty(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_parsing() {
        let env = EnvResource::from_environ(
            b"PATH=/bin\0OTEL_SERVICE_NAME=checkout\0OTEL_RESOURCE_ATTRIBUTES=a=b,service.name=x, service.namespace = shop\0",
        );
        assert_eq!(env.service_name.as_deref(), Some("checkout"));
        assert_eq!(env.service_namespace.as_deref(), Some("shop"));
        let env = EnvResource::from_environ(b"OTEL_RESOURCE_ATTRIBUTES=service.name=cart\0OTEL_SERVICE_NAME= \0");
        assert_eq!(env.service_name.as_deref(), Some("cart"));
        assert_eq!(env.service_namespace, None);
        assert_eq!(EnvResource::from_environ(b"\xff\xfe\0=\0novalue\0"), EnvResource::default());
        let merged = EnvResource { service_name: None, service_namespace: Some("a".into()) }
            .or(&EnvResource { service_name: Some("b".into()), service_namespace: Some("c".into()) });
        assert_eq!(merged.service_name.as_deref(), Some("b"));
        assert_eq!(merged.service_namespace.as_deref(), Some("a"));
    }
}
