//! Collections shared across the pipeline.

/// Hash maps and sets for the per-event lookups (interned texts, sessions, groups): foldhash, a
/// fraction of SipHash's cost on short keys, still seeded per process so that crafted keys in
/// the data cannot predict collisions. Iteration order is as unspecified as the standard one's.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub type FastSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;
