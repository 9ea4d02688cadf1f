//! [`RequestId`], and [`IdSet`]: a fixed-size set of request ids.

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

/// A set of request ids, 8 KiB once anything is in it. Used to remember ids whose requests
/// ended, so that late records for them are ignored (as the spec says) while records for
/// ids that were never begun are reported.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdSet {
    words: Vec<u64>,
}

const WORDS: usize = (u16::MAX as usize + 1) / 64;

impl IdSet {
    pub(crate) fn insert(&mut self, id: RequestId) {
        let id = id.get();
        if self.words.is_empty() {
            self.words = vec![0; WORDS];
        }
        if let Some(word) = self.words.get_mut(usize::from(id / 64)) {
            *word |= 1 << (id % 64);
        }
    }

    pub(crate) fn remove(&mut self, id: RequestId) {
        let id = id.get();
        if let Some(word) = self.words.get_mut(usize::from(id / 64)) {
            *word &= !(1 << (id % 64));
        }
    }

    pub(crate) fn contains(&self, id: RequestId) -> bool {
        let id = id.get();
        self.words
            .get(usize::from(id / 64))
            .is_some_and(|word| word & (1 << (id % 64)) != 0)
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
    }
}
