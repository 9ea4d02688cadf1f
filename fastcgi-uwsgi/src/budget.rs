//! Byte budgets: how much a connection, and the whole process, hold in memory.
//!
//! A budget counts bytes held: request bodies read ahead of their services, response
//! bytes waiting for the socket, and the receive buffer a read may fill. Bytes are
//! reserved before they are taken in (a read reserves its whole buffer first), and a
//! reservation is granted only when it fits both the connection's budget and the
//! process's, so the totals never pass their limits. One exception keeps a connection
//! from stalling for good: a piece larger than a whole budget is granted when the budget
//! holds nothing else.
//!
//! Bytes read from a socket are counted as the allocation they were read into (a
//! [`crate::driver::receive::Block`]), not as the chunks cut from it: a chunk keeps its
//! whole allocation alive, so the allocation is what is held.
//!
//! The process budget keeps a part, its headroom, that bytes read ahead of services may
//! not take: reading a new request's head and writing responses (the work that frees the
//! budget) go on while request bodies hold the rest.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// What bytes are reserved for, which decides how much of a budget they may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    /// Bytes read ahead of services (request bodies): not the process's headroom.
    ReadAhead,
    /// Work that moves requests on (reading a head, response bytes): the whole budget.
    Progress,
}

/// One budget: a limit, the bytes held against it, and the tasks waiting for room.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: usize,
    /// The part of `limit` only [`Use::Progress`] may take.
    headroom: usize,
    held: AtomicUsize,
    freed: Notify,
    /// Tasks waiting for room: a release wakes them only when there are some, so that
    /// the common case touches no lock shared by every connection.
    waiters: AtomicUsize,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Arc<Budget> {
        Budget::with_headroom(limit, 0)
    }

    /// The process's budget: an eighth of it is headroom (64 MiB of the default 512 MiB,
    /// 8 KiB of the smallest), for heads and responses while bodies hold the rest.
    pub(crate) fn process(limit: usize) -> Arc<Budget> {
        Budget::with_headroom(limit, limit / 8)
    }

    fn with_headroom(limit: usize, headroom: usize) -> Arc<Budget> {
        Arc::new(Budget {
            limit,
            headroom: headroom.min(limit),
            held: AtomicUsize::new(0),
            freed: Notify::new(),
            waiters: AtomicUsize::new(0),
        })
    }

    /// Bytes held now.
    pub(crate) fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    /// Adds `bytes` if they fit what `purpose` may take (or nothing else is held).
    fn try_add(&self, bytes: usize, purpose: Use) -> bool {
        let limit = self.limit_for(purpose);
        let mut held = self.held();
        loop {
            if held != 0 && held.saturating_add(bytes) > limit {
                return false;
            }
            match self.held.compare_exchange_weak(
                held,
                held + bytes,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => held = actual,
            }
        }
    }

    /// Whether what is held is within what `purpose` may take, or is no more than `own`.
    fn within(&self, own: usize, purpose: Use) -> bool {
        let held = self.held();
        held <= own || held <= self.limit_for(purpose)
    }

    fn limit_for(&self, purpose: Use) -> usize {
        match purpose {
            Use::ReadAhead => self.limit - self.headroom,
            Use::Progress => self.limit,
        }
    }

    fn release(&self, bytes: usize) {
        if bytes > 0 {
            // SeqCst with `Waiting`: either the waiter's next check sees these bytes
            // freed, or this sees the waiter and wakes it.
            self.held.fetch_sub(bytes, Ordering::SeqCst);
            if self.waiters.load(Ordering::SeqCst) > 0 {
                self.freed.notify_waiters();
            }
        }
    }
}

/// The connection's budget and the process's, taken together.
#[derive(Debug, Clone)]
pub(crate) struct Budgets {
    connection: Arc<Budget>,
    process: Arc<Budget>,
}

impl Budgets {
    pub(crate) fn new(connection_limit: usize, process: Arc<Budget>) -> Budgets {
        Budgets {
            connection: Budget::new(connection_limit),
            process,
        }
    }

    /// Budgets that never refuse, for reads bounded otherwise (a client's response
    /// windows). Shared by every such connection: nothing is allocated for one.
    pub(crate) fn unbounded() -> Budgets {
        static UNBOUNDED: std::sync::LazyLock<Arc<Budget>> =
            std::sync::LazyLock::new(|| Budget::new(usize::MAX));
        Budgets {
            connection: UNBOUNDED.clone(),
            process: UNBOUNDED.clone(),
        }
    }

    /// An empty reservation, to grow later.
    pub(crate) fn none(&self) -> Reservation {
        Reservation {
            budgets: self.clone(),
            bytes: 0,
        }
    }

    /// Bytes this connection holds now.
    pub(crate) fn connection_held(&self) -> usize {
        self.connection.held()
    }

    /// Reserves `bytes` for work that moves requests on, if they fit both budgets now.
    #[cfg(test)]
    pub(crate) fn try_reserve(&self, bytes: usize) -> Option<Reservation> {
        self.try_reserve_for(bytes, Use::Progress)
    }

    /// Reserves `bytes` for `purpose` if they fit both budgets now.
    pub(crate) fn try_reserve_for(&self, bytes: usize, purpose: Use) -> Option<Reservation> {
        if !self.connection.try_add(bytes, Use::Progress) {
            return None;
        }
        if !self.process.try_add(bytes, purpose) {
            // Taking back what was just added frees nothing anyone waits for: no wake-up
            // (waking would make waiters, this one included, retry in a loop).
            self.connection.held.fetch_sub(bytes, Ordering::AcqRel);
            return None;
        }
        Some(Reservation {
            budgets: self.clone(),
            bytes,
        })
    }

    /// Reserves `bytes` for work that moves requests on (response bytes), waiting until
    /// they fit both budgets.
    pub(crate) async fn reserve(&self, bytes: usize) -> Reservation {
        self.reserve_for(bytes, Use::Progress).await
    }

    /// Reserves `bytes` for `purpose`, waiting until they fit both budgets.
    pub(crate) async fn reserve_for(&self, bytes: usize, purpose: Use) -> Reservation {
        if let Some(reservation) = self.try_reserve_for(bytes, purpose) {
            return reservation;
        }
        // Boxed: the wait's state (two `Notified`) is allocated only when the budgets are
        // full, not held inside every future that reserves.
        Box::pin(self.wait_to_reserve(bytes, purpose)).await
    }

    async fn wait_to_reserve(&self, bytes: usize, purpose: Use) -> Reservation {
        let _waiting = Waiting::new(self);
        loop {
            let connection = self.connection.freed.notified();
            let process = self.process.freed.notified();
            tokio::pin!(connection, process);
            connection.as_mut().enable();
            process.as_mut().enable();
            if let Some(reservation) = self.try_reserve_for(bytes, purpose) {
                return reservation;
            }
            tokio::select! {
                () = connection => {}
                () = process => {}
            }
        }
    }

    /// Waits until both budgets are within what `purpose` may take, not counting `own`
    /// bytes (the allocation the caller reads into, which alone may be larger): for a
    /// reader that reads into memory it already holds, while other holdings (params,
    /// bodies) may have grown past the limits.
    pub(crate) async fn within(&self, own: usize, purpose: Use) {
        if self.is_within(own, purpose) {
            return;
        }
        // Boxed, as in `reserve_for`.
        Box::pin(self.wait_within(own, purpose)).await;
    }

    async fn wait_within(&self, own: usize, purpose: Use) {
        let _waiting = Waiting::new(self);
        loop {
            let connection = self.connection.freed.notified();
            let process = self.process.freed.notified();
            tokio::pin!(connection, process);
            connection.as_mut().enable();
            process.as_mut().enable();
            if self.is_within(own, purpose) {
                return;
            }
            tokio::select! {
                () = connection => {}
                () = process => {}
            }
        }
    }

    fn is_within(&self, own: usize, purpose: Use) -> bool {
        self.connection.within(own, Use::Progress) && self.process.within(own, purpose)
    }

    /// Counts `bytes` as held whether or not they fit: for bytes already in memory.
    pub(crate) fn force(&self, bytes: usize) -> Reservation {
        self.connection.held.fetch_add(bytes, Ordering::AcqRel);
        self.process.held.fetch_add(bytes, Ordering::AcqRel);
        Reservation {
            budgets: self.clone(),
            bytes,
        }
    }
}

/// Counts a task as waiting for room in both budgets while it lives.
struct Waiting<'a>(&'a Budgets);

impl<'a> Waiting<'a> {
    fn new(budgets: &'a Budgets) -> Waiting<'a> {
        budgets.connection.waiters.fetch_add(1, Ordering::SeqCst);
        budgets.process.waiters.fetch_add(1, Ordering::SeqCst);
        Waiting(budgets)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.connection.waiters.fetch_sub(1, Ordering::SeqCst);
        self.0.process.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Bytes held against a connection's and the process's budgets; released on drop.
#[derive(Debug)]
pub(crate) struct Reservation {
    budgets: Budgets,
    bytes: usize,
}

impl Reservation {
    /// The bytes reserved.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Counts `bytes` in all, whether or not they fit (for bytes already in memory): grows
    /// only.
    pub(crate) fn grow_to(&mut self, bytes: usize) {
        if bytes > self.bytes {
            let more = bytes - self.bytes;
            self.budgets
                .connection
                .held
                .fetch_add(more, Ordering::AcqRel);
            self.budgets.process.held.fetch_add(more, Ordering::AcqRel);
            self.bytes = bytes;
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budgets.connection.release(self.bytes);
        self.budgets.process.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn room_comes_back_when_a_reservation_is_dropped() {
        let process = Budget::new(100);
        let budgets = Budgets::new(60, process.clone());
        let first = budgets.try_reserve(50).unwrap();
        assert!(budgets.try_reserve(20).is_none(), "connection budget");
        let other = Budgets::new(60, process.clone());
        let second = other.try_reserve(40).unwrap();
        assert!(other.try_reserve(20).is_none(), "process budget");
        assert_eq!(process.held(), 90);
        let waiter = tokio::spawn({
            let budgets = budgets.clone();
            async move { budgets.reserve(20).await.bytes() }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(first);
        drop(second);
        assert_eq!(waiter.await.unwrap(), 20);
        assert_eq!(process.held(), 0);
    }

    #[test]
    fn one_piece_larger_than_the_budget_fits_alone() {
        let budgets = Budgets::new(10, Budget::new(10));
        let big = budgets.try_reserve(1000).unwrap();
        assert!(budgets.try_reserve(1).is_none());
        drop(big);
        let _small = budgets.try_reserve(1).unwrap();
        assert!(budgets.try_reserve(1000).is_none());
    }

    #[test]
    fn force_counts_past_the_limit() {
        let process = Budget::new(100);
        let budgets = Budgets::new(100, process.clone());
        let read = budgets.try_reserve(40).unwrap();
        let over = budgets.force(70);
        assert_eq!((read.bytes(), over.bytes(), process.held()), (40, 70, 110));
        drop((read, over));
        assert_eq!(process.held(), 0);
    }

    #[test]
    fn bytes_read_ahead_leave_the_headroom_to_heads_and_responses() {
        let process = Budget::process(800);
        let budgets = Budgets::new(1000, process.clone());
        let _bodies = budgets.try_reserve_for(700, Use::ReadAhead).unwrap();
        assert!(budgets.try_reserve_for(1, Use::ReadAhead).is_none());
        let _head = budgets.try_reserve_for(100, Use::Progress).unwrap();
        assert!(budgets.try_reserve_for(1, Use::Progress).is_none());
        assert_eq!(process.held(), 800);
    }
}
