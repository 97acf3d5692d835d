//! Collections that clone in constant time, whatever they hold: a shared
//! block plus a small private layer of what changed since the clone. The
//! state keeps its histories and catalogues in them so that a hypothetical
//! state (a dry run) shares everything with the real one and copies only
//! what it changes. Once no clone shares the block any more, the next write
//! folds the private layer back in, so the live state pays nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A copy-on-write vector: cloning shares the items; a write copies only
/// the item written (or appends to a private tail). When no clone shares
/// the block any more, the next write folds the private parts back in.
#[derive(Debug, Clone)]
pub(crate) struct CowVec<T> {
    shared: Arc<Vec<T>>,
    changed: BTreeMap<usize, T>,
    tail: Vec<T>,
}

impl<T> Default for CowVec<T> {
    fn default() -> Self {
        Self {
            shared: Arc::new(Vec::new()),
            changed: BTreeMap::new(),
            tail: Vec::new(),
        }
    }
}

impl<T: Clone> CowVec<T> {
    /// The vector, shared from now on.
    pub(crate) fn from_vec(items: Vec<T>) -> Self {
        Self {
            shared: Arc::new(items),
            changed: BTreeMap::new(),
            tail: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.shared.len().saturating_add(self.tail.len())
    }

    pub(crate) fn get(&self, index: usize) -> Option<&T> {
        let base = self.shared.len();
        if index < base {
            self.changed.get(&index).or_else(|| self.shared.get(index))
        } else {
            self.tail.get(index.saturating_sub(base))
        }
    }

    pub(crate) fn last(&self) -> Option<&T> {
        self.len().checked_sub(1).and_then(|i| self.get(i))
    }

    pub(crate) fn iter(
        &self,
    ) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator + Clone + '_ {
        let base = self.shared.len();
        // Every index below `len` is in the block or the tail.
        (0..self.len()).map(move |i| {
            if i < base {
                self.changed.get(&i).unwrap_or(&self.shared[i])
            } else {
                &self.tail[i.saturating_sub(base)]
            }
        })
    }

    /// Folds the private parts into the block if no clone shares it (call
    /// before taking a snapshot clone, so the private parts stay small).
    pub(crate) fn fold(&mut self) {
        let _ = self.settle();
    }

    /// Folds the private parts into the block when no one else holds it.
    fn settle(&mut self) -> bool {
        let Some(block) = Arc::get_mut(&mut self.shared) else {
            return false;
        };
        for (i, item) in std::mem::take(&mut self.changed) {
            block[i] = item;
        }
        block.append(&mut self.tail);
        true
    }

    pub(crate) fn push(&mut self, item: T) {
        if self.settle()
            && let Some(block) = Arc::get_mut(&mut self.shared)
        {
            block.push(item);
            return;
        }
        self.tail.push(item);
    }

    pub(crate) fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        if self.settle() {
            return Arc::get_mut(&mut self.shared).and_then(|b| b.get_mut(index));
        }
        let base = self.shared.len();
        if index >= base {
            return self.tail.get_mut(index.saturating_sub(base));
        }
        let original = self.shared.get(index)?;
        Some(
            self.changed
                .entry(index)
                .or_insert_with(|| original.clone()),
        )
    }
}

impl<T: Clone + PartialEq> PartialEq for CowVec<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<T: Clone + Eq> Eq for CowVec<T> {}

impl<T: Clone + Serialize> Serialize for CowVec<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de, T: Clone + Deserialize<'de>> Deserialize<'de> for CowVec<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self {
            shared: Arc::new(Vec::deserialize(deserializer)?),
            changed: BTreeMap::new(),
            tail: Vec::new(),
        })
    }
}

/// A copy-on-write ordered map: a shared map plus a private layer of
/// entries written since the clone (no entry is ever removed: the state
/// only grows).
#[derive(Debug, Clone)]
pub(crate) struct CowMap<K, V> {
    shared: Arc<BTreeMap<K, V>>,
    layer: BTreeMap<K, V>,
}

impl<K, V> Default for CowMap<K, V> {
    fn default() -> Self {
        Self {
            shared: Arc::new(BTreeMap::new()),
            layer: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Clone, V: Clone> CowMap<K, V> {
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        if self.layer.is_empty() {
            return self.shared.get(key);
        }
        self.layer.get(key).or_else(|| self.shared.get(key))
    }

    pub(crate) fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.layer
            .get_key_value(key)
            .or_else(|| self.shared.get_key_value(key))
    }

    pub(crate) fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.get(key).is_some()
    }

    /// Every entry in key order (the layer's copy wins).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        Merge {
            shared: self.shared.iter().peekable(),
            layer: self.layer.iter().peekable(),
        }
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.iter().map(|(_, v)| v)
    }

    /// Folds the layer into the shared map if no clone shares it (call
    /// before taking a snapshot clone, so the layer stays small).
    pub(crate) fn fold(&mut self) {
        let _ = self.settle();
    }

    /// Folds the layer into the shared map when no one else holds it.
    fn settle(&mut self) -> Option<&mut BTreeMap<K, V>> {
        let map = Arc::get_mut(&mut self.shared)?;
        // `append` rebuilds the whole map (linear in its size): only worth
        // it for a large layer; a few entries are inserted one by one.
        if self.layer.len().saturating_mul(8) > map.len() {
            map.append(&mut self.layer);
        } else {
            for (key, value) in std::mem::take(&mut self.layer) {
                map.insert(key, value);
            }
        }
        Some(map)
    }

    pub(crate) fn insert(&mut self, key: K, value: V) {
        match self.settle() {
            Some(map) => {
                map.insert(key, value);
            }
            None => {
                self.layer.insert(key, value);
            }
        }
    }

    pub(crate) fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        if Arc::get_mut(&mut self.shared).is_some() {
            return self.settle().and_then(|map| map.get_mut(key));
        }
        if !self.layer.contains_key(key) {
            let (k, v) = self.shared.get_key_value(key)?;
            self.layer.insert(k.clone(), v.clone());
        }
        self.layer.get_mut(key)
    }
}

/// A copy-on-write ordered set (see [`CowMap`]).
#[derive(Debug, Clone)]
pub(crate) struct CowSet<K>(CowMap<K, ()>);

impl<K: Ord + Clone> PartialEq for CowSet<K> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<K: Ord + Clone> Eq for CowSet<K> {}

impl<K> Default for CowSet<K> {
    fn default() -> Self {
        Self(CowMap::default())
    }
}

impl<K: Ord + Clone> CowSet<K> {
    /// See [`CowMap::fold`].
    pub(crate) fn fold(&mut self) {
        self.0.fold();
    }

    pub(crate) fn contains<Q>(&self, key: &Q) -> bool
    where
        K: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.0.contains_key(key)
    }

    pub(crate) fn insert(&mut self, key: K) {
        self.0.insert(key, ());
    }
}

impl<K: Ord + Clone + Serialize> Serialize for CowSet<K> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|(k, ())| k))
    }
}

impl<'de, K: Ord + Deserialize<'de>> Deserialize<'de> for CowSet<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Built at once from the sequence (sorted, as it is written),
        // not key by key.
        let keys = Vec::<K>::deserialize(deserializer)?;
        Ok(Self(CowMap {
            shared: Arc::new(keys.into_iter().map(|k| (k, ())).collect()),
            layer: BTreeMap::new(),
        }))
    }
}

/// Two sorted iterators merged by key; on equal keys the layer wins.
struct Merge<S: Iterator, L: Iterator> {
    shared: std::iter::Peekable<S>,
    layer: std::iter::Peekable<L>,
}

impl<'a, K: Ord + 'a, V: 'a, S, L> Iterator for Merge<S, L>
where
    S: Iterator<Item = (&'a K, &'a V)>,
    L: Iterator<Item = (&'a K, &'a V)>,
{
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        match (self.shared.peek(), self.layer.peek()) {
            (Some((a, _)), Some((b, _))) => match a.cmp(b) {
                std::cmp::Ordering::Less => self.shared.next(),
                std::cmp::Ordering::Greater => self.layer.next(),
                std::cmp::Ordering::Equal => {
                    self.shared.next();
                    self.layer.next()
                }
            },
            (Some(_), None) => self.shared.next(),
            (None, _) => self.layer.next(),
        }
    }
}

impl<K: Ord + Clone, V: Clone + PartialEq> PartialEq for CowMap<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl<K: Ord + Clone, V: Clone + Eq> Eq for CowMap<K, V> {}

impl<K: Ord + Clone + Serialize, V: Clone + Serialize> Serialize for CowMap<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de, K: Ord + Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for CowMap<K, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Built at once from the entries (sorted, as they are written),
        // not key by key; of two entries with one key the later is kept,
        // as inserting them one by one would.
        struct Entries<K, V>(std::marker::PhantomData<(K, V)>);
        impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> serde::de::Visitor<'de> for Entries<K, V> {
            type Value = Vec<(K, V)>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                // A hint is only a hint: never reserve more than a bound.
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4_096));
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(entries)
            }
        }
        let entries = deserializer.deserialize_map(Entries(std::marker::PhantomData))?;
        Ok(Self {
            shared: Arc::new(entries.into_iter().collect()),
            layer: BTreeMap::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{CowMap, CowVec};

    #[test]
    fn maps_and_sets_read_at_once_are_what_inserting_one_by_one_gives() {
        use std::collections::BTreeMap;
        for json in [
            "{}",
            r#"{"a":1,"b":2}"#,
            r#"{"b":2,"a":1}"#,
            r#"{"a":1,"a":3,"b":2}"#,
        ] {
            let ours: CowMap<String, u8> = serde_json::from_str(json).unwrap();
            let std: BTreeMap<String, u8> = serde_json::from_str(json).unwrap();
            assert_eq!(
                ours.iter()
                    .map(|(k, v)| (k.clone(), *v))
                    .collect::<BTreeMap<_, _>>(),
                std,
                "{json}"
            );
        }
        let set: super::CowSet<u8> = serde_json::from_str("[3,1,2,1]").unwrap();
        assert_eq!(serde_json::to_string(&set).unwrap(), "[1,2,3]");
        assert!((1..=3).all(|k| set.contains(&k)) && !set.contains(&0));
        assert!(serde_json::from_str::<CowMap<String, u8>>("[1]").is_err());
        assert!(serde_json::from_str::<CowMap<String, u8>>(r#"{"a":"x"}"#).is_err());
    }

    #[test]
    fn a_map_clone_shares_entries_and_writes_stay_private() {
        let mut real = CowMap::default();
        for i in [1, 3, 5] {
            real.insert(i, i * 10);
        }
        let mut what_if = real.clone();
        what_if.insert(4, 40);
        *what_if.get_mut(&3).unwrap() = 33;
        assert_eq!(
            real.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(),
            [(1, 10), (3, 30), (5, 50)]
        );
        assert_eq!(
            what_if.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(),
            [(1, 10), (3, 33), (4, 40), (5, 50)]
        );
        assert!(what_if.contains_key(&4) && !real.contains_key(&4));
        assert_ne!(real, what_if);
        drop(real);
        what_if.insert(6, 60);
        assert_eq!(what_if.get(&3), Some(&33));
        assert_eq!(what_if.iter().count(), 5);
        let json = serde_json::to_string(&what_if).unwrap();
        let back: CowMap<i32, i32> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, what_if);
    }

    #[test]
    fn a_clone_shares_items_and_writes_stay_private() {
        let mut real = CowVec::default();
        for i in 0..5 {
            real.push(i);
        }
        let mut what_if = real.clone();
        *what_if.get_mut(1).unwrap() = 10;
        what_if.push(5);
        assert_eq!(real.iter().copied().collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
        assert_eq!(
            what_if.iter().copied().collect::<Vec<_>>(),
            [0, 10, 2, 3, 4, 5]
        );
        assert_eq!(what_if.iter().next_back(), Some(&5));
        assert_eq!(what_if.iter().len(), 6);
        drop(real);
        // Alone again: the next write folds everything back in.
        what_if.push(6);
        assert_eq!(what_if.len(), 7);
        assert_eq!(what_if.get(1), Some(&10));
        assert_ne!(what_if, CowVec::default());
    }
}
