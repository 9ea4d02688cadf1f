//! [`RequestId`], and [`IdSet`]: a set of request ids.

use std::fmt;

/// The request id of a record: which request on the connection it belongs to. Id 0
/// ([`RequestId::MANAGEMENT`]) is reserved for management records (GET_VALUES and the
/// like).
///
/// ```
/// use fastcgi_codec::RequestId;
///
/// let id = RequestId::new(1);
/// assert_eq!(id.get(), 1);
/// assert!(!id.is_management());
/// assert!(RequestId::MANAGEMENT.is_management());
/// assert_eq!(id.to_string(), "1");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RequestId(u16);

impl RequestId {
    /// The id of management records (0).
    pub const MANAGEMENT: RequestId = RequestId(0);

    /// The id `value` as it is on the wire.
    pub const fn new(value: u16) -> Self {
        RequestId(value)
    }

    /// The id as it is on the wire.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// Whether this is the management id (0).
    pub const fn is_management(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A set of request ids. Used to remember ids whose requests ended, so that late records
/// for them are ignored (as the spec says) while records for ids that were never begun are
/// reported.
///
/// Ids below 64 (every id a gateway that numbers from 1 uses under the in-flight limit)
/// are bits of one inline word, so ending a request allocates nothing; a higher id grows
/// a list of words up to its own, at most 8 KiB for the whole id space.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdSet {
    low: u64,
    /// Word `i` holds ids `64 * (i + 1)` to `64 * (i + 2) - 1`.
    high: Vec<u64>,
}

impl IdSet {
    /// The word holding `id`, if it exists.
    fn word_mut(&mut self, id: u16) -> Option<&mut u64> {
        match usize::from(id / 64) {
            0 => Some(&mut self.low),
            word => self.high.get_mut(word - 1),
        }
    }

    pub(crate) fn insert(&mut self, id: RequestId) {
        let id = id.get();
        let word = usize::from(id / 64);
        if word > self.high.len() {
            self.high.resize(word, 0);
        }
        if let Some(word) = self.word_mut(id) {
            *word |= 1 << (id % 64);
        }
    }

    pub(crate) fn remove(&mut self, id: RequestId) {
        let id = id.get();
        if let Some(word) = self.word_mut(id) {
            *word &= !(1 << (id % 64));
        }
    }

    pub(crate) fn contains(&self, id: RequestId) -> bool {
        let id = id.get();
        let word = match usize::from(id / 64) {
            0 => Some(&self.low),
            word => self.high.get(word - 1),
        };
        word.is_some_and(|word| word & (1 << (id % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::{IdSet, RequestId};

    #[test]
    fn insert_contains_remove() {
        let id = RequestId::new;
        let mut set = IdSet::default();
        assert!(!set.contains(id(5)));
        set.insert(id(5));
        set.insert(id(u16::MAX));
        assert!(set.contains(id(5)) && set.contains(id(u16::MAX)) && !set.contains(id(6)));
        set.remove(id(5));
        assert!(!set.contains(id(5)));
        assert_eq!(set.high.len(), 1023, "grown to the highest id's word");
        for n in [0, 63, 64, 127, 128, 4000] {
            assert!(!set.contains(id(n)));
            set.insert(id(n));
            assert!(set.contains(id(n)) && !set.contains(id(n + 1)));
            set.remove(id(n));
            assert!(!set.contains(id(n)));
        }
    }

    #[test]
    fn low_ids_allocate_nothing() {
        let mut set = IdSet::default();
        for n in 0..64 {
            set.insert(RequestId::new(n));
        }
        assert!(set.high.is_empty() && set.high.capacity() == 0);
        assert!((0..64).all(|n| set.contains(RequestId::new(n))));
        assert!(!set.contains(RequestId::new(64)));
    }
}
