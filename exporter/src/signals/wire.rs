//! A protobuf writer for the OTLP messages spans are exported in: fields are written straight
//! into one buffer, nested messages get their length once, when they are closed.
//!
//! prost's `encode` of a nested message computes the length of every sub-message at every
//! level above it; for spans (request → resource → scope → span → attribute → value) that
//! walk, plus building and dropping the intermediate structs, was a third of the agent's CPU.

/// Protobuf wire types used here.
const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

/// Appends protobuf fields to a byte buffer.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

/// Where a nested message started; given back to [`Writer::close`].
#[must_use]
pub struct Open {
    len_at: usize,
    /// Bytes reserved for the length varint.
    reserved: usize,
}

/// Bytes of `v` as a varint.
pub fn varint_len(v: u64) -> usize {
    // 1 + floor(log2(v) / 7), and 1 for 0.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Bytes of a length-delimited field of `body` bytes, key and length included (fields < 16).
pub fn len_field_len(body: usize) -> usize {
    1 + varint_len(body as u64) + body
}

impl Writer {
    pub fn with_capacity(n: usize) -> Self {
        Writer { buf: Vec::with_capacity(n) }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Appends fields encoded elsewhere.
    pub fn append(&mut self, encoded: &[u8]) {
        self.buf.extend_from_slice(encoded);
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn key(&mut self, field: u32, wire_type: u32) {
        self.varint(u64::from(field << 3 | wire_type));
    }

    /// A length-delimited field (string, bytes, or an already encoded message).
    pub fn bytes(&mut self, field: u32, v: &[u8]) {
        self.key(field, LEN);
        self.varint(v.len() as u64);
        self.buf.extend_from_slice(v);
    }

    /// A string or bytes field, left out when empty (the proto3 default).
    pub fn bytes_nonempty(&mut self, field: u32, v: &[u8]) {
        if !v.is_empty() {
            self.bytes(field, v);
        }
    }

    /// A varint field (uint32/uint64/int64/enum; negative int64 as two's complement), left
    /// out when zero (the proto3 default).
    pub fn uint(&mut self, field: u32, v: u64) {
        if v != 0 {
            self.key(field, VARINT);
            self.varint(v);
        }
    }

    pub fn fixed64(&mut self, field: u32, v: u64) {
        if v != 0 {
            self.key(field, FIXED64);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
    }

    pub fn fixed32(&mut self, field: u32, v: u32) {
        if v != 0 {
            self.key(field, FIXED32);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// Starts a nested message field; everything written until [`Writer::close`] is its body.
    pub fn open(&mut self, field: u32) -> Open {
        self.open_reserving(field, 1)
    }

    /// [`Writer::open`] for a message of 128 to 16 383 bytes (a span): its two-byte length is
    /// written in place at close, without moving the body.
    pub fn open_wide(&mut self, field: u32) -> Open {
        self.open_reserving(field, 2)
    }

    fn open_reserving(&mut self, field: u32, reserved: usize) -> Open {
        self.key(field, LEN);
        let len_at = self.buf.len();
        for _ in 0..reserved {
            self.buf.push(0);
        }
        Open { len_at, reserved }
    }

    /// Writes the length of the message started at `open`; the body moves only when its
    /// length does not fit the bytes reserved (or needs fewer: varints stay minimal).
    #[inline]
    pub fn close(&mut self, open: Open) {
        let len = self.buf.len() - open.len_at - open.reserved;
        if open.reserved == 1 && len < 0x80 {
            self.buf[open.len_at] = len as u8; // most attributes
            return;
        }
        self.close_long(open, len);
    }

    fn close_long(&mut self, open: Open, len: usize) {
        let body_at = open.len_at + open.reserved;
        let n = varint_len(len as u64);
        if n != open.reserved {
            let end = self.buf.len();
            let new_body_at = open.len_at + n;
            if n > open.reserved {
                self.buf.resize(end + n - open.reserved, 0);
            }
            self.buf.copy_within(body_at..end, new_body_at);
            self.buf.truncate(new_body_at + len);
        }
        let mut v = len as u64;
        for b in &mut self.buf[open.len_at..open.len_at + n] {
            *b = (v as u8 & 0x7f) | 0x80;
            v >>= 7;
        }
        self.buf[open.len_at + n - 1] &= 0x7f;
    }

    /// The key and length of a length-delimited field whose `len` body bytes follow.
    pub fn len_prefix(&mut self, field: u32, len: usize) {
        self.key(field, LEN);
        self.varint(len as u64);
    }

    /// An OTLP `KeyValue` with a string value (field `field` of the enclosing message).
    pub fn attr_str(&mut self, field: u32, key: &str, value: &str) {
        let kv = self.open(field);
        self.bytes(1, key.as_bytes());
        let any = self.open(2);
        self.bytes(1, value.as_bytes());
        self.close(any);
        self.close(kv);
    }

    /// An OTLP `KeyValue` with an int64 value.
    pub fn attr_int(&mut self, field: u32, key: &str, value: i64) {
        let kv = self.open(field);
        self.bytes(1, key.as_bytes());
        let any = self.open(2);
        // The oneof member is present even when zero.
        self.key(3, VARINT);
        self.varint(value as u64);
        self.close(any);
        self.close(kv);
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::trace::v1::Span;
    use prost::Message;

    use super::{varint_len, Writer};

    #[test]
    fn varint_lengths() {
        for (v, n) in [(0u64, 1), (127, 1), (128, 2), (16_383, 2), (16_384, 3), (u64::MAX, 10)] {
            assert_eq!(varint_len(v), n, "{v}");
            let mut buf = Vec::new();
            prost::encoding::encode_varint(v, &mut buf);
            assert_eq!(buf.len(), n, "{v}");
        }
    }

    #[test]
    fn any_reserved_width_gives_prosts_bytes() {
        for body in [1usize, 127, 128, 300, 16_383, 16_384, 70_000] {
            let payload = vec![7u8; body];
            let expected =
                Span { name: String::from_utf8(payload.clone()).expect("ascii"), ..Default::default() }.encode_to_vec();
            for wide in [false, true] {
                let mut w = Writer::default();
                let o = if wide { w.open_wide(5) } else { w.open(5) };
                w.append(&payload);
                w.close(o);
                assert_eq!(w.as_bytes(), &expected[..], "body {body} wide {wide}");
            }
        }
    }

    #[test]
    fn matches_prost_for_short_and_long_messages() {
        let long = "x".repeat(300);
        let mut w = Writer::default();
        let span = w.open(1);
        w.bytes_nonempty(5, b"GET /");
        w.attr_str(9, "url.path", &long);
        w.attr_int(9, "server.port", 0);
        w.attr_int(9, "neg", -5);
        w.fixed64(7, 1_700_000_000_000_000_000);
        w.fixed32(16, 0x100);
        w.uint(6, 2);
        w.close(span);
        // A repeated field 1 of length-delimited spans decodes like a ScopeSpans' `spans`
        // would; decode the single span from its body.
        let bytes = w.into_bytes();
        let mut b = &bytes[..];
        assert_eq!(b[0], 0x0a);
        let len = prost::encoding::decode_varint(&mut &b[1..]).expect("len") as usize;
        b = &b[bytes.len() - len..];
        let s = Span::decode(b).expect("valid span");
        let kv =
            |k: &str, v: Value| KeyValue { key: k.into(), value: Some(AnyValue { value: Some(v) }), key_strindex: 0 };
        let expected = Span {
            name: "GET /".into(),
            attributes: vec![
                kv("url.path", Value::StringValue(long)),
                kv("server.port", Value::IntValue(0)),
                kv("neg", Value::IntValue(-5)),
            ],
            start_time_unix_nano: 1_700_000_000_000_000_000,
            flags: 0x100,
            kind: 2,
            ..Default::default()
        };
        assert_eq!(s, expected);
        assert_eq!(s.encode_to_vec().len(), len, "same size as prost's encoding");
    }
}
