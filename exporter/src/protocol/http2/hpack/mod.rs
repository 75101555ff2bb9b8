//! HPACK (RFC 7541) header block decoder for an observer that may not know
//! the dynamic table.
//!
//! Every field is decoded, wanted or not, because every literal with
//! incremental indexing changes the dynamic table. A field whose name or
//! value lives in an unknown part of the table is reported as
//! [`FieldRef::Unknown`]; nothing is ever guessed (see [`table`] for why
//! the known part stays correct).

pub mod encode;
pub mod huffman;
pub mod table;

use thiserror::Error;

pub use huffman::HuffmanError;
pub use table::{DynamicTable, Lookup, DEFAULT_TABLE_SIZE, ENTRY_OVERHEAD, STATIC};

/// Default hard cap on one dynamic table's entry bytes, whatever the peers negotiate.
pub const DEFAULT_MAX_TABLE_SIZE: usize = 64 * 1024;
/// Continuation bytes of an integer (7 bits each) beyond which it overflows 32 bits.
const MAX_INTEGER_BYTES: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum HpackError {
    #[error("index {index} is not in the header table")]
    InvalidIndex { index: usize },
    #[error("integer does not fit in 32 bits")]
    IntegerOverflow,
    #[error("header block ends inside a field")]
    Truncated,
    #[error("invalid Huffman string: {0}")]
    Huffman(#[from] HuffmanError),
    #[error("dynamic table size update to {requested} exceeds SETTINGS_HEADER_TABLE_SIZE {limit}")]
    SizeUpdateTooLarge { requested: usize, limit: usize },
    #[error("dynamic table size update after a header field")]
    SizeUpdateAfterField,
}

/// One decoded header field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldRef<'a> {
    Known {
        name: &'a [u8],
        value: &'a [u8],
    },
    /// Name or value comes from an unknown dynamic table entry.
    Unknown,
}

/// What a block decode saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockOutcome {
    /// Fields delivered to the sink (known or not).
    pub fields: usize,
    /// Of those, fields delivered as [`FieldRef::Unknown`].
    pub unknown_fields: usize,
    /// The block was cut (`complete == false`): fields after the cut were not
    /// seen and the table state is now unknown.
    pub truncated: bool,
}

/// HPACK decoder for one direction of a connection.
#[derive(Debug)]
pub struct Decoder {
    table: DynamicTable,
    /// `SETTINGS_HEADER_TABLE_SIZE` in force for this direction; `None` when unknown.
    limit: Option<usize>,
    name: Vec<u8>,
    value: Vec<u8>,
}

impl Decoder {
    /// Decoder at the start of a connection (empty table, 4096 bytes), holding
    /// at most `max_table_size` bytes of entries.
    pub fn new(max_table_size: usize) -> Self {
        Decoder {
            table: DynamicTable::new(max_table_size),
            limit: Some(DEFAULT_TABLE_SIZE),
            name: Vec::new(),
            value: Vec::new(),
        }
    }

    /// Decoder whose table state and limit are unknown (capture started
    /// mid-connection).
    pub fn unknown(max_table_size: usize) -> Self {
        let mut d = Decoder::new(max_table_size);
        d.forget();
        d.limit = None;
        d
    }

    /// The table state can no longer be trusted (a header block was lost).
    pub fn forget(&mut self) {
        self.table.forget(false);
    }

    /// Sets the `SETTINGS_HEADER_TABLE_SIZE` the encoder must respect
    /// (`None`: unknown, size updates are then not checked).
    pub fn set_limit(&mut self, limit: Option<usize>) {
        self.limit = limit;
    }

    pub fn limit(&self) -> Option<usize> {
        self.limit
    }

    /// Whether the whole dynamic table is known.
    pub fn is_synced(&self) -> bool {
        self.table.is_complete()
    }

    pub fn table(&self) -> &DynamicTable {
        &self.table
    }

    /// Decodes a header block, calling `sink` for every field in order.
    ///
    /// `complete == false` means only a prefix of the block is available:
    /// fields wholly inside it are decoded, then the table is forgotten.
    /// On error the table is forgotten too and the fields already delivered
    /// must be discarded by the caller.
    pub fn decode<F>(&mut self, block: &[u8], complete: bool, mut sink: F) -> Result<BlockOutcome, HpackError>
    where
        F: FnMut(FieldRef<'_>),
    {
        let mut out = BlockOutcome::default();
        let mut pos = 0usize;
        let mut seen_field = false;
        while pos < block.len() {
            match self.representation(block, &mut pos, &mut seen_field, &mut sink, &mut out) {
                Ok(()) => {}
                Err(HpackError::Truncated) if !complete => break,
                Err(e) => {
                    self.table.forget(false);
                    return Err(e);
                }
            }
        }
        if !complete {
            out.truncated = true;
            self.table.forget(seen_field);
        }
        Ok(out)
    }

    fn representation<F>(
        &mut self,
        block: &[u8],
        pos: &mut usize,
        seen_field: &mut bool,
        sink: &mut F,
        out: &mut BlockOutcome,
    ) -> Result<(), HpackError>
    where
        F: FnMut(FieldRef<'_>),
    {
        let first = *block.get(*pos).ok_or(HpackError::Truncated)?;
        if first & 0x80 != 0 {
            // Indexed header field (§6.1).
            let index = decode_integer(block, pos, 7)?;
            let field = match self.table.get(index) {
                Lookup::Found { name, value } => FieldRef::Known { name, value },
                Lookup::Unknown => FieldRef::Unknown,
                Lookup::Invalid => return Err(HpackError::InvalidIndex { index }),
            };
            *seen_field = true;
            deliver(field, sink, out);
            return Ok(());
        }
        if first & 0xe0 == 0x20 {
            // Dynamic table size update (§6.3): only before the first field.
            if *seen_field {
                return Err(HpackError::SizeUpdateAfterField);
            }
            let requested = decode_integer(block, pos, 5)?;
            if let Some(limit) = self.limit.filter(|&l| requested > l) {
                return Err(HpackError::SizeUpdateTooLarge { requested, limit });
            }
            self.table.set_max_size(requested);
            return Ok(());
        }
        // Literal header field (§6.2): with incremental indexing (01),
        // without indexing (0000) or never indexed (0001).
        let indexing = first & 0xc0 == 0x40;
        let index = decode_integer(block, pos, if indexing { 6 } else { 4 })?;
        let name_known = if index == 0 {
            decode_string(block, pos, &mut self.name)?;
            true
        } else {
            match self.table.get(index) {
                Lookup::Found { name, .. } => {
                    self.name.clear();
                    self.name.extend_from_slice(name);
                    true
                }
                Lookup::Unknown => false,
                Lookup::Invalid => return Err(HpackError::InvalidIndex { index }),
            }
        };
        decode_string(block, pos, &mut self.value)?;
        *seen_field = true;
        if name_known {
            deliver(FieldRef::Known { name: &self.name, value: &self.value }, sink, out);
            if indexing {
                self.table.insert(&self.name, &self.value);
            }
        } else {
            deliver(FieldRef::Unknown, sink, out);
            if indexing {
                self.table.insert_unknown();
            }
        }
        Ok(())
    }
}

fn deliver<F: FnMut(FieldRef<'_>)>(field: FieldRef<'_>, sink: &mut F, out: &mut BlockOutcome) {
    out.fields += 1;
    if field == FieldRef::Unknown {
        out.unknown_fields += 1;
    }
    sink(field);
}

/// Decodes an integer with an N-bit prefix (§5.1) at `*pos`, advancing it.
pub fn decode_integer(buf: &[u8], pos: &mut usize, prefix_bits: u8) -> Result<usize, HpackError> {
    let mask = (1u64 << prefix_bits.clamp(1, 8)) - 1;
    let first = *buf.get(*pos).ok_or(HpackError::Truncated)?;
    let mut value = u64::from(first) & mask;
    let mut p = *pos + 1;
    if value == mask {
        let mut shift = 0u32;
        for i in 0.. {
            if i == MAX_INTEGER_BYTES {
                return Err(HpackError::IntegerOverflow);
            }
            let b = *buf.get(p).ok_or(HpackError::Truncated)?;
            p += 1;
            value += u64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let value = u32::try_from(value).map_err(|_| HpackError::IntegerOverflow)?;
    *pos = p;
    Ok(value as usize)
}

/// Decodes a string literal (§5.2) at `*pos` into `out`, advancing `pos`.
pub fn decode_string(buf: &[u8], pos: &mut usize, out: &mut Vec<u8>) -> Result<(), HpackError> {
    let huffman = *buf.get(*pos).ok_or(HpackError::Truncated)? & 0x80 != 0;
    let mut p = *pos;
    let len = decode_integer(buf, &mut p, 7)?;
    let raw = p.checked_add(len).and_then(|end| buf.get(p..end)).ok_or(HpackError::Truncated)?;
    out.clear();
    if huffman {
        huffman::decode(raw, out)?;
    } else {
        out.extend_from_slice(raw);
    }
    *pos = p + len;
    Ok(())
}

#[cfg(test)]
mod tests;
