//! A tonic codec for requests that are already protobuf-encoded; the response (an
//! `Export*ServiceResponse`, whose partial-success details the agent does not use) is skipped.

use std::sync::Arc;

use bytes::{Buf, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

/// An encoded request as the pieces it was assembled from (each process's spans are encoded
/// into their own buffer): written to the transport piece by piece, not concatenated first.
/// Cheap to clone for a retry.
#[derive(Debug, Clone, Default)]
pub struct Encoded(Arc<[Bytes]>);

impl Encoded {
    pub fn new(chunks: Vec<Bytes>) -> Self {
        Encoded(chunks.into())
    }

    pub fn len(&self) -> usize {
        self.0.iter().map(Bytes::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn chunks(&self) -> &[Bytes] {
        &self.0
    }

    /// The request in one buffer (OTLP/HTTP bodies; tests).
    pub fn to_bytes(&self) -> Bytes {
        match &*self.0 {
            [one] => one.clone(),
            chunks => chunks.concat().into(),
        }
    }
}

impl From<Bytes> for Encoded {
    fn from(b: Bytes) -> Self {
        Encoded(Arc::from([b]))
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Encoded;
    type Decode = ();
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Encoded;
    type Error = Status;

    fn encode(&mut self, item: Encoded, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.reserve(item.len());
        for chunk in item.chunks() {
            bytes::BufMut::put_slice(dst, chunk);
        }
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = ();
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, Status> {
        let n = src.remaining();
        src.advance(n);
        Ok(Some(()))
    }
}
