//! [`IdSet`]: a fixed-size set of request ids.

/// A set of request ids, 8 KiB once anything is in it. Used to remember ids whose requests
/// ended, so that late records for them are ignored (as the spec says) while records for
/// ids that were never begun are reported.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdSet {
    words: Vec<u64>,
}

const WORDS: usize = (u16::MAX as usize + 1) / 64;

impl IdSet {
    pub(crate) fn insert(&mut self, id: u16) {
        if self.words.is_empty() {
            self.words = vec![0; WORDS];
        }
        if let Some(word) = self.words.get_mut(usize::from(id / 64)) {
            *word |= 1 << (id % 64);
        }
    }

    pub(crate) fn remove(&mut self, id: u16) {
        if let Some(word) = self.words.get_mut(usize::from(id / 64)) {
            *word &= !(1 << (id % 64));
        }
    }

    pub(crate) fn contains(&self, id: u16) -> bool {
        self.words
            .get(usize::from(id / 64))
            .is_some_and(|word| word & (1 << (id % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::IdSet;

    #[test]
    fn insert_contains_remove() {
        let mut set = IdSet::default();
        assert!(!set.contains(5));
        set.insert(5);
        set.insert(u16::MAX);
        assert!(set.contains(5) && set.contains(u16::MAX) && !set.contains(6));
        set.remove(5);
        assert!(!set.contains(5));
    }
}
