//! A map keyed by pairs that still serializes to JSON (whose map keys must be strings): it is
//! written as a list of `[a, b, value]` entries. Reads and writes go through `Deref` to the
//! inner `BTreeMap`.

use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};

use serde::{Deserialize, Serialize};

/// A `BTreeMap<(A, B), V>` that serializes as a list.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "Vec<(A, B, V)>", from = "Vec<(A, B, V)>")]
#[serde(bound(serialize = "A: Clone + Ord + Serialize, B: Clone + Ord + Serialize, V: Clone + Serialize"))]
#[serde(bound(deserialize = "A: Ord + Deserialize<'de>, B: Ord + Deserialize<'de>, V: Deserialize<'de>"))]
pub struct PairMap<A: Ord, B: Ord, V>(BTreeMap<(A, B), V>);

impl<A: Ord, B: Ord, V> Default for PairMap<A, B, V> {
    fn default() -> Self {
        PairMap(BTreeMap::new())
    }
}

impl<A: Ord, B: Ord, V> Deref for PairMap<A, B, V> {
    type Target = BTreeMap<(A, B), V>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<A: Ord, B: Ord, V> DerefMut for PairMap<A, B, V> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl<A: Ord, B: Ord, V> From<PairMap<A, B, V>> for Vec<(A, B, V)> {
    fn from(m: PairMap<A, B, V>) -> Self {
        m.0.into_iter().map(|((a, b), v)| (a, b, v)).collect()
    }
}

impl<A: Ord, B: Ord, V> From<Vec<(A, B, V)>> for PairMap<A, B, V> {
    fn from(v: Vec<(A, B, V)>) -> Self {
        PairMap(v.into_iter().map(|(a, b, v)| ((a, b), v)).collect())
    }
}
