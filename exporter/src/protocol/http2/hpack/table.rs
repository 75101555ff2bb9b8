//! HPACK static table (RFC 7541 Appendix A) and a dynamic table (§2.3.2,
//! §4) that stays truthful when its state is only partly known.
//!
//! # Partial knowledge
//!
//! An observer can lose the dynamic table (capture started mid-connection, a
//! header block was not captured). Entries inserted *after* that are still
//! known and are always the newest, so they sit at the front of the table:
//! the entries we hold are a prefix of the encoder's table (or the encoder's
//! table is a prefix of ours, when it evicted more than we could tell). In
//! both cases an index that falls inside our entries names the entry the
//! encoder meant; an index beyond them is "unknown" rather than an error
//! while the table is not [`complete`](DynamicTable::is_complete).
//!
//! The table becomes complete again only when that is provable:
//! * a dynamic table size update to 0 empties it;
//! * an eviction (insertion or size update, with the maximum size known)
//!   cut into our known entries, or they leave no room for another entry,
//!   so everything older is gone.

use std::collections::VecDeque;
use std::fmt;

/// Bytes of overhead per entry (RFC 7541 §4.1).
pub const ENTRY_OVERHEAD: usize = 32;
/// Default `SETTINGS_HEADER_TABLE_SIZE` (RFC 9113 §6.5.2).
pub const DEFAULT_TABLE_SIZE: usize = 4096;

/// RFC 7541 Appendix A; index 1 is `STATIC[0]`.
pub const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// Result of looking an index up in the static + dynamic tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    Found {
        name: &'a [u8],
        value: &'a [u8],
    },
    /// The index may be valid but its entry is not known.
    Unknown,
    /// The index is 0 or beyond a complete table.
    Invalid,
}

enum Entry {
    Known {
        name: Box<[u8]>,
        value: Box<[u8]>,
    },
    /// An entry whose name or value is not known (its size neither).
    Unknown,
}

impl Entry {
    fn size(&self) -> usize {
        match self {
            Entry::Known { name, value } => name.len() + value.len() + ENTRY_OVERHEAD,
            Entry::Unknown => ENTRY_OVERHEAD,
        }
    }
}

/// The dynamic table of one decoder. Values are never printed by `Debug`.
pub struct DynamicTable {
    /// Newest first.
    entries: VecDeque<Entry>,
    /// Sum of entry sizes (unknown entries count their minimum, 32).
    size: usize,
    /// Maximum size last set by the encoder, if known.
    max_size: Option<usize>,
    /// Memory bound: never more than this many bytes of entries are held.
    cap: usize,
    complete: bool,
    unknown_entries: usize,
}

impl fmt::Debug for DynamicTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamicTable")
            .field("entries", &self.entries.len())
            .field("size", &self.size)
            .field("max_size", &self.max_size)
            .field("complete", &self.complete)
            .finish()
    }
}

impl DynamicTable {
    /// The state at the start of a connection: empty, 4096 bytes (bounded by `cap`).
    pub fn new(cap: usize) -> Self {
        let mut t =
            DynamicTable { entries: VecDeque::new(), size: 0, max_size: None, cap, complete: true, unknown_entries: 0 };
        t.reset(DEFAULT_TABLE_SIZE);
        t
    }

    /// Empty table with a known maximum size.
    pub fn reset(&mut self, max_size: usize) {
        self.entries.clear();
        self.size = 0;
        self.unknown_entries = 0;
        self.max_size = Some(max_size);
        self.complete = true;
    }

    /// Forgets everything: entries may have been inserted that we did not see.
    /// `keep_max` keeps the maximum size (a lost block cannot have changed it
    /// when its start, where size updates live, was decoded).
    pub fn forget(&mut self, keep_max: bool) {
        self.entries.clear();
        self.size = 0;
        self.unknown_entries = 0;
        self.complete = false;
        if !keep_max {
            self.max_size = None;
        }
    }

    /// Whether the held entries are the whole table.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Size per RFC 7541 §4.1 of the held entries.
    pub fn size(&self) -> usize {
        self.size
    }

    pub fn max_size(&self) -> Option<usize> {
        self.max_size
    }

    /// Held entries, newest first; `None` for unknown ones.
    pub fn entries(&self) -> impl Iterator<Item = Option<(&[u8], &[u8])>> {
        self.entries.iter().map(|e| match e {
            Entry::Known { name, value } => Some((&name[..], &value[..])),
            Entry::Unknown => None,
        })
    }

    /// Looks up a 1-based index of the combined static + dynamic index space.
    pub fn get(&self, index: usize) -> Lookup<'_> {
        if index == 0 {
            return Lookup::Invalid;
        }
        if let Some((name, value)) = STATIC.get(index - 1) {
            return Lookup::Found { name: name.as_bytes(), value: value.as_bytes() };
        }
        match self.entries.get(index - 1 - STATIC.len()) {
            Some(Entry::Known { name, value }) => Lookup::Found { name, value },
            Some(Entry::Unknown) => Lookup::Unknown,
            None if self.complete => Lookup::Invalid,
            None => Lookup::Unknown,
        }
    }

    /// Inserts a known entry (RFC 7541 §4.4).
    pub fn insert(&mut self, name: &[u8], value: &[u8]) {
        let size = name.len() + value.len() + ENTRY_OVERHEAD;
        self.insert_entry(Entry::Known { name: name.into(), value: value.into() }, size);
    }

    /// Inserts an entry whose content is not known.
    pub fn insert_unknown(&mut self) {
        self.insert_entry(Entry::Unknown, ENTRY_OVERHEAD);
    }

    fn insert_entry(&mut self, entry: Entry, size: usize) {
        let bound = self.bound();
        if size > bound {
            // `size` is exact for known entries and a lower bound otherwise.
            let beyond_max = self.max_size.is_some_and(|m| size > m);
            self.clear_entries();
            if beyond_max {
                // The encoder emptied its table and did not add the entry.
                self.complete = true;
            } else {
                // The entry exists but we cannot hold it (or its size is unknown).
                self.complete = false;
                self.push(Entry::Unknown, ENTRY_OVERHEAD);
            }
            return;
        }
        let evicted = self.evict_to(bound - size);
        self.push(entry, size);
        self.after_eviction(evicted);
    }

    /// A dynamic table size update (RFC 7541 §6.3) to `new_max`, already
    /// checked against the decoder's limit.
    pub fn set_max_size(&mut self, new_max: usize) {
        self.max_size = Some(new_max);
        if new_max == 0 {
            self.reset(0);
            return;
        }
        let evicted = self.evict_to(self.bound());
        self.after_eviction(evicted);
    }

    fn bound(&self) -> usize {
        self.max_size.unwrap_or(self.cap).min(self.cap)
    }

    fn push(&mut self, entry: Entry, size: usize) {
        if matches!(entry, Entry::Unknown) {
            self.unknown_entries += 1;
        }
        self.size += size;
        self.entries.push_front(entry);
    }

    fn clear_entries(&mut self) {
        self.entries.clear();
        self.size = 0;
        self.unknown_entries = 0;
    }

    /// Evicts the oldest entries until the size is at most `target`;
    /// returns whether any was evicted.
    fn evict_to(&mut self, target: usize) -> bool {
        let mut evicted = false;
        while self.size > target {
            let Some(e) = self.entries.pop_back() else {
                self.size = 0;
                break;
            };
            self.size -= e.size();
            if matches!(e, Entry::Unknown) {
                self.unknown_entries -= 1;
            }
            evicted = true;
        }
        evicted
    }

    fn after_eviction(&mut self, evicted: bool) {
        let Some(max) = self.max_size else {
            return;
        };
        if max > self.cap {
            // The encoder may hold more than we do.
            if evicted {
                self.complete = false;
            }
        } else if !self.complete && self.unknown_entries == 0 && (evicted || self.size + ENTRY_OVERHEAD > max) {
            // The cut fell inside entries of known size, or no other entry
            // fits next to them: nothing older survives.
            self.complete = true;
        }
    }
}
