//! Minimal HPACK block builder: the representations of RFC 7541 §6 written
//! explicitly, so tests and fuzz targets can construct exact blocks
//! (including ones a real encoder would not send). It keeps no table.

use super::huffman;

/// Appends an integer with an N-bit prefix (§5.1); `flags` fills the bits above the prefix.
pub fn integer(out: &mut Vec<u8>, flags: u8, prefix_bits: u8, value: usize) {
    let max = (1usize << prefix_bits.clamp(1, 8)) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    let mut rest = value - max;
    while rest >= 0x80 {
        out.push((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// Appends a string literal (§5.2), Huffman-encoded when `huffman`.
pub fn string(out: &mut Vec<u8>, s: &[u8], huffman: bool) {
    if huffman {
        integer(out, 0x80, 7, huffman::encoded_len(s));
        huffman::encode(s, out);
    } else {
        integer(out, 0, 7, s.len());
        out.extend_from_slice(s);
    }
}

/// How a literal field is written (§6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexing {
    /// `01`: added to the dynamic table.
    Incremental,
    /// `0000`.
    Without,
    /// `0001`.
    Never,
}

/// Builds one header block.
#[derive(Debug, Clone, Default)]
pub struct BlockBuilder {
    pub bytes: Vec<u8>,
    /// Huffman-encode string literals.
    pub huffman: bool,
}

impl BlockBuilder {
    pub fn new(huffman: bool) -> Self {
        BlockBuilder { bytes: Vec::new(), huffman }
    }

    /// Indexed field (§6.1).
    pub fn indexed(mut self, index: usize) -> Self {
        integer(&mut self.bytes, 0x80, 7, index);
        self
    }

    /// Literal with a literal name.
    pub fn literal(mut self, indexing: Indexing, name: &str, value: &str) -> Self {
        let (flags, bits) = Self::literal_prefix(indexing);
        integer(&mut self.bytes, flags, bits, 0);
        string(&mut self.bytes, name.as_bytes(), self.huffman);
        string(&mut self.bytes, value.as_bytes(), self.huffman);
        self
    }

    /// Literal whose name is the entry at `name_index`.
    pub fn literal_indexed_name(mut self, indexing: Indexing, name_index: usize, value: &str) -> Self {
        let (flags, bits) = Self::literal_prefix(indexing);
        integer(&mut self.bytes, flags, bits, name_index);
        string(&mut self.bytes, value.as_bytes(), self.huffman);
        self
    }

    /// Dynamic table size update (§6.3).
    pub fn size_update(mut self, size: usize) -> Self {
        integer(&mut self.bytes, 0x20, 5, size);
        self
    }

    pub fn build(self) -> Vec<u8> {
        self.bytes
    }

    fn literal_prefix(indexing: Indexing) -> (u8, u8) {
        match indexing {
            Indexing::Incremental => (0x40, 6),
            Indexing::Without => (0x00, 4),
            Indexing::Never => (0x10, 4),
        }
    }
}
