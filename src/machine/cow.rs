//! A vector that clones in constant time: a shared block of older items
//! plus a private tail and private copies of changed items. The rollout
//! histories use it so that a hypothetical state (a dry run) shares every
//! revision with the real one and copies only what it changes.

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
    pub(crate) fn len(&self) -> usize {
        self.shared.len() + self.tail.len()
    }

    pub(crate) fn get(&self, index: usize) -> Option<&T> {
        let base = self.shared.len();
        if index < base {
            self.changed.get(&index).or_else(|| self.shared.get(index))
        } else {
            self.tail.get(index - base)
        }
    }

    pub(crate) fn last(&self) -> Option<&T> {
        self.len().checked_sub(1).and_then(|i| self.get(i))
    }

    pub(crate) fn iter(
        &self,
    ) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator + Clone + '_ {
        (0..self.len())
            .filter_map(move |i| self.get(i))
            .collect_exact(self.len())
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
            return self.tail.get_mut(index - base);
        }
        let original = self.shared.get(index)?;
        Some(
            self.changed
                .entry(index)
                .or_insert_with(|| original.clone()),
        )
    }
}

/// An iterator over indices that knows its exact length.
trait CollectExact<'a, T: 'a>: Iterator<Item = &'a T> + DoubleEndedIterator + Clone + Sized {
    fn collect_exact(self, len: usize) -> Exact<Self> {
        Exact { inner: self, len }
    }
}

impl<'a, T: 'a, I: Iterator<Item = &'a T> + DoubleEndedIterator + Clone> CollectExact<'a, T> for I {}

#[derive(Clone)]
struct Exact<I> {
    inner: I,
    len: usize,
}

impl<I: Iterator> Iterator for Exact<I> {
    type Item = I::Item;
    fn next(&mut self) -> Option<Self::Item> {
        let item = self.inner.next()?;
        self.len -= 1;
        Some(item)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len, Some(self.len))
    }
}

impl<I: DoubleEndedIterator> DoubleEndedIterator for Exact<I> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let item = self.inner.next_back()?;
        self.len -= 1;
        Some(item)
    }
}

impl<I: Iterator> ExactSizeIterator for Exact<I> {}

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

#[cfg(test)]
mod tests {
    use super::CowVec;

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
