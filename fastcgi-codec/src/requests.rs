//! [`RequestTable`]: the requests in flight on one connection, by id.

use crate::ids::RequestId;

/// Requests in flight, by request id. The first one is stored inline: a connection that
/// does not multiplex (nginx, PHP-FPM) never allocates for its request state; further
/// ones go to a list searched linearly, which stays short under the in-flight limit.
#[derive(Debug)]
pub(crate) struct RequestTable<T> {
    first: Option<(RequestId, T)>,
    rest: Vec<(RequestId, T)>,
}

impl<T> Default for RequestTable<T> {
    fn default() -> Self {
        RequestTable {
            first: None,
            rest: Vec::new(),
        }
    }
}

impl<T> RequestTable<T> {
    pub(crate) fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none() && self.rest.is_empty()
    }

    pub(crate) fn contains_key(&self, id: RequestId) -> bool {
        self.get(id).is_some()
    }

    pub(crate) fn get(&self, id: RequestId) -> Option<&T> {
        match &self.first {
            Some((first, value)) if *first == id => Some(value),
            _ => self.rest.iter().find(|(k, _)| *k == id).map(|(_, v)| v),
        }
    }

    pub(crate) fn get_mut(&mut self, id: RequestId) -> Option<&mut T> {
        match &mut self.first {
            Some((first, value)) if *first == id => Some(value),
            _ => self.rest.iter_mut().find(|(k, _)| *k == id).map(|(_, v)| v),
        }
    }

    /// Inserts or replaces; returns the value that was there.
    pub(crate) fn insert(&mut self, id: RequestId, value: T) -> Option<T> {
        if let Some(slot) = self.get_mut(id) {
            return Some(std::mem::replace(slot, value));
        }
        if self.first.is_none() {
            self.first = Some((id, value));
        } else {
            self.rest.push((id, value));
        }
        None
    }

    pub(crate) fn remove(&mut self, id: RequestId) -> Option<T> {
        if self.first.as_ref().is_some_and(|(first, _)| *first == id) {
            let (_, value) = self.first.take()?;
            // Keep the inline slot filled, so that lookups check it first.
            if !self.rest.is_empty() {
                self.first = Some(self.rest.swap_remove(0));
            }
            return Some(value);
        }
        let index = self.rest.iter().position(|(k, _)| *k == id)?;
        Some(self.rest.swap_remove(index).1)
    }

    pub(crate) fn clear(&mut self) {
        self.first = None;
        self.rest.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::RequestTable;
    use crate::ids::RequestId;

    #[test]
    fn behaves_as_a_map() {
        let mut table = RequestTable::default();
        assert!(table.is_empty());
        assert_eq!(table.insert(RequestId::new(3), "c"), None);
        assert_eq!(table.insert(RequestId::new(1), "a"), None);
        assert_eq!(table.insert(RequestId::new(2), "b"), None);
        assert_eq!(table.insert(RequestId::new(1), "A"), Some("a"));
        assert_eq!(table.len(), 3);
        assert_eq!(table.get(RequestId::new(1)), Some(&"A"));
        assert!(table.contains_key(RequestId::new(2)) && !table.contains_key(RequestId::new(4)));
        assert_eq!(table.remove(RequestId::new(3)), Some("c"));
        assert_eq!(table.remove(RequestId::new(3)), None);
        assert_eq!(table.get(RequestId::new(2)), Some(&"b"));
        assert_eq!(table.get(RequestId::new(1)), Some(&"A"));
        *table.get_mut(RequestId::new(2)).unwrap() = "B";
        assert_eq!(table.remove(RequestId::new(2)), Some("B"));
        assert_eq!(table.len(), 1);
        table.clear();
        assert!(table.is_empty());
    }
}
