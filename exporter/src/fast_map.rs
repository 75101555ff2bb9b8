//! Hash maps for the per-event paths: foldhash instead of std's SipHash.
//!
//! The keys are kernel ids (pid, socket address, thread id) or bounded metric attribute sets,
//! looked up several times per event; SipHash cost ~6 % of the agent's CPU there. foldhash is
//! seeded randomly per process, so keys derived from traffic (routes, hosts) still do not
//! collide predictably, and every such map is size-bounded anyway.

pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
