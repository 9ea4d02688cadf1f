//! A pool's connections to one backend, found in constant time: by id, and the idle one a
//! request should take. A pool in front of many workers holds hundreds of connections,
//! and looking through all of them for each request cost more than the request's other
//! bookkeeping.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tokio::sync::mpsc;

use super::fastcgi_conn::Command;
use crate::id_map::IdHasher;

/// A connection's place in the pool.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) id: u64,
    pub(super) commands: mpsc::Sender<Command>,
    pub(super) in_flight: usize,
    /// Requests it may carry at once: 1 until the backend says it multiplexes.
    pub(super) capacity: usize,
    /// False once it must take no new request (closing, timed out, past the idle limit).
    pub(super) usable: bool,
    /// Requests it was given so far.
    pub(super) served: u64,
    /// GET_VALUES was asked and not answered yet: until it is, requests wait for its
    /// answer rather than open connections it may make needless.
    pub(super) probing: bool,
    /// Whether a worker took it.
    pub(super) taken: Taken,
    pub(super) opened_at: Instant,
    pub(super) idle_since: Instant,
    /// The thread whose runtime runs the connection's task.
    pub(super) home: Home,
}

/// A thread, as the pool tells them apart: a request handed to a connection whose task
/// runs on the caller's own thread (a runtime per thread, as thread-per-core serving has
/// it) reaches it, and its response comes back, without waking another thread: no
/// system call and no cache lines moving between cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Home(pub(super) u64);

impl Home {
    /// The calling thread's.
    pub(super) fn here() -> Home {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        thread_local! {
            static HOME: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        Home(HOME.with(|home| *home))
    }
}

/// Whether the backend took a connection off its listen queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Taken {
    /// Opened with a request, no byte back yet: it may be waiting in the listen queue.
    Unknown,
    /// Opened with GET_VALUES alone, not answered yet: it takes no request until it is.
    Pending,
    /// A byte came from the backend on it: a worker took it.
    Yes,
}

/// How long a connection may go without a byte from the backend before it is taken to be
/// waiting in the backend's listen queue (a free php-fpm worker accepts within
/// microseconds; closing connections any sooner would churn them under steady load).
pub(crate) const QUEUED_AFTER: std::time::Duration = std::time::Duration::from_millis(100);

impl Entry {
    pub(super) fn queued(&self) -> bool {
        self.unconfirmed() && self.opened_at.elapsed() >= QUEUED_AFTER
    }

    pub(super) fn has_room(&self) -> bool {
        self.usable && self.taken != Taken::Pending && self.in_flight < self.capacity
    }

    /// Opened with GET_VALUES alone and not answered yet: likely in the listen queue.
    pub(super) fn pending(&self) -> bool {
        self.usable && self.taken == Taken::Pending
    }

    /// Takes requests and carries none.
    fn idle(&self) -> bool {
        self.has_room() && self.in_flight == 0
    }

    /// Carries requests and has had no byte from the backend.
    fn unconfirmed(&self) -> bool {
        self.taken == Taken::Unknown && self.in_flight > 0
    }

    fn marks(&self) -> Marks {
        let mark = |on: bool, mark: Marks| if on { mark } else { 0 };
        mark(self.idle(), IDLE)
            | mark(self.pending(), PENDING)
            | mark(self.unconfirmed(), UNCONFIRMED)
            | mark(self.capacity > 1, MULTIPLEXED)
    }
}

#[cfg(test)]
impl Entry {
    /// An idle connection a worker took.
    pub(super) fn idle_for_test(id: u64, home: Home, idle_since: Instant) -> Entry {
        Entry {
            id,
            commands: mpsc::channel(1).0,
            in_flight: 0,
            capacity: 1,
            usable: true,
            served: 0,
            probing: false,
            taken: Taken::Yes,
            opened_at: idle_since,
            idle_since,
            home,
        }
    }
}

/// What the counts and the idle stacks keep of an entry: a set of these bits.
type Marks = u8;
const IDLE: Marks = 1;
const PENDING: Marks = 2;
const UNCONFIRMED: Marks = 4;
const MULTIPLEXED: Marks = 8;

/// The connections, with what the pool asks of them for every request kept up to date as
/// they change: their places by id, the idle ones per thread (most recently idle last),
/// and how many are pending or unconfirmed. Every change to an entry goes through
/// [`Connections::update`], which keeps these.
#[derive(Debug, Default)]
pub(super) struct Connections {
    entries: Vec<Entry>,
    places: HashMap<u64, usize, BuildHasherDefault<IdHasher>>,
    /// Per thread, the ids of its idle connections, in the order they became idle.
    idle: Vec<(Home, Vec<u64>)>,
    idle_count: usize,
    pending_count: usize,
    unconfirmed_count: usize,
    multiplexed_count: usize,
}

impl Connections {
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    pub(super) fn get(&self, id: u64) -> Option<&Entry> {
        self.entries.get(*self.places.get(&id)?)
    }

    /// Connections that take requests and carry none.
    pub(super) fn idle(&self) -> usize {
        self.idle_count
    }

    /// Connections opened with GET_VALUES alone and not answered yet.
    pub(super) fn pending(&self) -> usize {
        self.pending_count
    }

    /// Whether a connection other than `id` seems to wait in the backend's listen queue.
    pub(super) fn queued_other_than(&self, id: u64) -> bool {
        let own = self.get(id).is_some_and(Entry::unconfirmed);
        // Only unconfirmed connections can be queued: most of the time there is none.
        self.unconfirmed_count > usize::from(own)
            && self.entries.iter().any(|e| e.id != id && e.queued())
    }

    pub(super) fn push(&mut self, entry: Entry) {
        let (id, home, marks) = (entry.id, entry.home, entry.marks());
        self.places.insert(id, self.entries.len());
        self.entries.push(entry);
        self.account(id, home, 0, marks);
    }

    pub(super) fn remove(&mut self, id: u64) -> Option<Entry> {
        let at = self.places.remove(&id)?;
        let entry = self.entries.swap_remove(at);
        if let Some(moved) = self.entries.get(at) {
            self.places.insert(moved.id, at);
        }
        self.account(id, entry.home, entry.marks(), 0);
        Some(entry)
    }

    /// Changes the entry `id` with `change`, keeping the counts and idle stacks.
    pub(super) fn update<R>(&mut self, id: u64, change: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        let entry = self.entries.get_mut(*self.places.get(&id)?)?;
        let (home, before) = (entry.home, entry.marks());
        let result = change(entry);
        let after = entry.marks();
        self.account(id, home, before, after);
        Some(result)
    }

    /// The connection a request from `home` should take: the least loaded, one run by
    /// `home` first, the most recently idle first (its worker's caches are warm, and the
    /// others may reach the idle limit and close). Only multiplexed connections carry
    /// more than one request: without one, only an idle connection has room.
    pub(super) fn best(&self, home: Home) -> Option<u64> {
        let own = self
            .idle
            .iter()
            .find(|(h, _)| *h == home)
            .and_then(|(_, ids)| ids.last());
        let idle = own.or_else(|| {
            self.idle
                .iter()
                .filter_map(|(_, ids)| ids.last())
                .max_by_key(|id| self.get(**id).map(|e| e.idle_since))
        });
        if let Some(id) = idle {
            return Some(*id);
        }
        if self.multiplexed_count == 0 {
            return None;
        }
        self.entries
            .iter()
            .filter(|e| e.has_room())
            .min_by_key(|e| (e.in_flight, e.home != home, std::cmp::Reverse(e.idle_since)))
            .map(|e| e.id)
    }

    fn account(&mut self, id: u64, home: Home, before: Marks, after: Marks) {
        let count = |total: &mut usize, mark: Marks| match (before & mark != 0, after & mark != 0) {
            (false, true) => *total += 1,
            (true, false) => *total -= 1,
            _ => {}
        };
        count(&mut self.pending_count, PENDING);
        count(&mut self.unconfirmed_count, UNCONFIRMED);
        count(&mut self.idle_count, IDLE);
        count(&mut self.multiplexed_count, MULTIPLEXED);
        if (before ^ after) & IDLE == 0 {
            return;
        }
        if !self.idle.iter().any(|(h, _)| *h == home) {
            self.idle.push((home, Vec::new()));
        }
        let Some((_, stack)) = self.idle.iter_mut().find(|(h, _)| *h == home) else {
            return;
        };
        if after & IDLE != 0 {
            stack.push(id);
        } else if let Some(at) = stack.iter().rposition(|&i| i == id) {
            // Taken for a request, it is on top: the search ends at once.
            stack.remove(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_most_recently_idle_of_the_callers_thread_is_best() {
        let (here, there) = (Home(1), Home(2));
        let start = Instant::now();
        let mut connections = Connections::default();
        for id in 1..=3 {
            connections.push(Entry::idle_for_test(id, here, start));
        }
        connections.push(Entry::idle_for_test(4, there, start));
        assert_eq!(connections.best(here), Some(3));
        connections.update(3, |e| e.in_flight = 1);
        assert_eq!(connections.best(here), Some(2));
        connections.update(3, |e| e.in_flight = 0);
        assert_eq!(connections.best(here), Some(3));
        // A removal moves the last entry into the removed one's place.
        assert!(connections.remove(1).is_some());
        assert_eq!(connections.get(4).map(|e| e.id), Some(4));
        assert_eq!(connections.idle(), 3);
        for id in [2, 3] {
            connections.update(id, |e| e.usable = false);
        }
        assert_eq!(connections.best(here), Some(4), "another thread's");
        connections.update(4, |e| e.in_flight = 1);
        assert_eq!(connections.best(here), None);
        assert_eq!(connections.idle(), 0);
    }

    /// A change to one entry of the pool.
    #[derive(Debug, Clone)]
    enum Change {
        Push { home: u64 },
        Load { pick: usize, in_flight: usize },
        Unusable { pick: usize },
        Taken { pick: usize, taken: u8 },
        Multiplex { pick: usize },
        Remove { pick: usize },
    }

    fn change() -> impl Strategy<Value = Change> {
        prop_oneof![
            (0..3u64).prop_map(|home| Change::Push { home }),
            (any::<usize>(), 0..3usize)
                .prop_map(|(pick, in_flight)| Change::Load { pick, in_flight }),
            any::<usize>().prop_map(|pick| Change::Unusable { pick }),
            (any::<usize>(), 0..3u8).prop_map(|(pick, taken)| Change::Taken { pick, taken }),
            any::<usize>().prop_map(|pick| Change::Multiplex { pick }),
            any::<usize>().prop_map(|pick| Change::Remove { pick }),
        ]
    }

    proptest! {
        /// Whatever the changes, the counts are those of a look at every entry, and the
        /// best connection is one a look at every entry would rank first (the least
        /// loaded, of the caller's thread first); among idle connections of one thread,
        /// the one idle last.
        #[test]
        fn counts_and_best_match_a_look_at_every_entry(
            changes in proptest::collection::vec(change(), 1..80),
            caller in 0..3u64,
        ) {
            let start = Instant::now();
            let mut connections = Connections::default();
            let mut next_id = 0;
            for (step, change) in changes.into_iter().enumerate() {
                let ids: Vec<u64> = connections.iter().map(|e| e.id).collect();
                let pick = |n: usize| (!ids.is_empty()).then(|| ids[n % ids.len()]);
                let now = start + std::time::Duration::from_micros(step as u64);
                // What becomes idle now is the most recently idle.
                let touch = |connections: &mut Connections, id: u64, change: &dyn Fn(&mut Entry)| {
                    connections.update(id, |e| {
                        let was_idle = e.idle();
                        change(e);
                        if !was_idle && e.idle() {
                            e.idle_since = now;
                        }
                    });
                };
                match change {
                    Change::Push { home } => {
                        let mut pushed = Entry::idle_for_test(next_id, Home(home), now);
                        // Every other one opened long enough ago to count as queued once
                        // it carries a request no byte has come for.
                        if next_id % 2 == 0 {
                            pushed.opened_at = now.checked_sub(QUEUED_AFTER * 2).unwrap_or(now);
                        }
                        connections.push(pushed);
                        next_id += 1;
                    }
                    Change::Load { pick: n, in_flight } => if let Some(id) = pick(n) {
                        touch(&mut connections, id, &|e| e.in_flight = in_flight.min(e.capacity));
                    },
                    Change::Unusable { pick: n } => if let Some(id) = pick(n) {
                        touch(&mut connections, id, &|e| e.usable = false);
                    },
                    Change::Taken { pick: n, taken } => if let Some(id) = pick(n) {
                        let taken = [Taken::Unknown, Taken::Pending, Taken::Yes][usize::from(taken)];
                        touch(&mut connections, id, &|e| e.taken = taken);
                    },
                    Change::Multiplex { pick: n } => if let Some(id) = pick(n) {
                        touch(&mut connections, id, &|e| e.capacity = 4);
                    },
                    Change::Remove { pick: n } => if let Some(id) = pick(n) {
                        prop_assert!(connections.remove(id).is_some());
                    },
                }
                let all: Vec<&Entry> = connections.iter().collect();
                prop_assert_eq!(connections.len(), all.len());
                prop_assert_eq!(connections.idle(), all.iter().filter(|e| e.idle()).count());
                prop_assert_eq!(connections.pending(), all.iter().filter(|e| e.pending()).count());
                for e in &all {
                    prop_assert_eq!(connections.get(e.id).map(|g| g.id), Some(e.id));
                    prop_assert_eq!(
                        connections.queued_other_than(e.id),
                        all.iter().any(|o| o.id != e.id && o.queued())
                    );
                }
                let home = Home(caller);
                let rank = |e: &Entry| (e.in_flight, e.home != home);
                let first = all.iter().filter(|e| e.has_room()).map(|e| rank(e)).min();
                let best = connections.best(home).and_then(|id| connections.get(id));
                prop_assert_eq!(best.map(rank), first);
                if let Some(best) = best.filter(|e| e.idle()) {
                    let latest = all
                        .iter()
                        .filter(|e| e.idle() && e.home == best.home)
                        .map(|e| e.idle_since)
                        .max();
                    prop_assert_eq!(Some(best.idle_since), latest);
                }
                // Without multiplexing only an idle connection is offered.
                if all.iter().all(|e| e.capacity == 1) {
                    prop_assert!(best.is_none_or(Entry::idle));
                }
            }
        }
    }
}
