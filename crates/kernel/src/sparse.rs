//! [`Sparse`]: a map of state added after clouds already existed ([`Rare`] is its optional
//! value). Empty, it is left out of
//! snapshots (with `skip_serializing_if = "Sparse::is_empty"` and `default`) and hashes as
//! nothing, so a cloud from before the map existed loads and keeps its state hash; once it
//! holds anything it hashes like the map itself.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

/// A map that hashes as nothing while empty. Reach the map with `.0`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent, bound(serialize = "K: Serialize, V: Serialize", deserialize = "K: Ord + Deserialize<'de>, V: Deserialize<'de>"))]
pub struct Sparse<K, V>(pub BTreeMap<K, V>);

impl<K, V> Default for Sparse<K, V> {
    fn default() -> Self {
        Sparse(BTreeMap::new())
    }
}

impl<K, V> Sparse<K, V> {
    /// Whether it holds nothing (then it is left out of snapshots).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Ord, V> Sparse<K, V> {
    /// Sets every entry of `other`, keeping the rest.
    pub fn merge(&mut self, other: Sparse<K, V>) {
        self.0.extend(other.0);
    }
}

impl<K: Hash, V: Hash> Hash for Sparse<K, V> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        if !self.0.is_empty() {
            self.0.hash(h);
        }
    }
}

/// An optional value added after clouds already existed: `None` is left out of snapshots
/// (with `skip_serializing_if = "Rare::is_none"` and `default`) and hashes as nothing, so old
/// state keeps its hash; `Some` hashes like the value itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Rare<T>(pub Option<T>);

impl<T> Rare<T> {
    /// Whether it is unset (then it is left out of snapshots).
    pub fn is_none(&self) -> bool {
        self.0.is_none()
    }
}

impl<T: Hash> Hash for Rare<T> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        if let Some(v) = &self.0 {
            v.hash(h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::StableHasher;

    fn hash_of(x: &impl Hash) -> u64 {
        let mut h = StableHasher::default();
        x.hash(&mut h);
        h.finish()
    }

    #[test]
    fn empty_hashes_as_nothing_and_full_as_its_map() {
        assert_eq!(hash_of(&Sparse::<u8, u8>::default()), StableHasher::default().finish());
        let m = BTreeMap::from([(1u8, 2u8)]);
        assert_eq!(hash_of(&Sparse(m.clone())), hash_of(&m));
    }

    #[test]
    fn unset_rare_hashes_as_nothing_and_set_as_its_value() {
        assert_eq!(hash_of(&Rare::<String>::default()), StableHasher::default().finish());
        assert_eq!(hash_of(&Rare(Some(7u32))), hash_of(&7u32));
    }
}
