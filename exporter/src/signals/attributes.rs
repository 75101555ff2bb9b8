//! OTLP attribute constructors: a semantic-convention key (a `&'static str` constant) and a
//! plain value, straight into the protobuf `KeyValue` with no intermediate value type.

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};

fn key_value(key: &'static str, value: Value) -> KeyValue {
    KeyValue { key: key.to_owned(), value: Some(AnyValue { value: Some(value) }), key_strindex: 0 }
}

pub fn string(key: &'static str, value: impl Into<String>) -> KeyValue {
    key_value(key, Value::StringValue(value.into()))
}

pub fn int(key: &'static str, value: i64) -> KeyValue {
    key_value(key, Value::IntValue(value))
}

pub fn boolean(key: &'static str, value: bool) -> KeyValue {
    key_value(key, Value::BoolValue(value))
}
