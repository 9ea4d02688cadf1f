//! Byte budgets: how much a connection, and the whole process, hold in memory.
//!
//! A budget counts bytes held (request bodies read ahead of their services, response bytes
//! waiting for the socket). Reserving never fails: the reader asks first whether there is
//! room ([`Budgets::wait_room`]) and stops reading while there is none, so a budget is
//! exceeded by at most what one read or one response chunk brings.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// One budget: a limit, the bytes held against it, and the tasks waiting for room.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: usize,
    held: AtomicUsize,
    freed: Notify,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Arc<Budget> {
        Arc::new(Budget {
            limit,
            held: AtomicUsize::new(0),
            freed: Notify::new(),
        })
    }

    /// Bytes held now.
    pub(crate) fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    fn has_room(&self, bytes: usize) -> bool {
        // A single piece larger than the whole budget is let through when nothing else is
        // held, or it could never be taken.
        let held = self.held();
        held == 0 || held.saturating_add(bytes) <= self.limit
    }

    fn release(&self, bytes: usize) {
        self.held.fetch_sub(bytes, Ordering::AcqRel);
        self.freed.notify_waiters();
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

    /// Whether `bytes` more fit in both budgets.
    pub(crate) fn has_room(&self, bytes: usize) -> bool {
        self.connection.has_room(bytes) && self.process.has_room(bytes)
    }

    /// Waits until `bytes` more fit in both budgets.
    pub(crate) async fn wait_room(&self, bytes: usize) {
        loop {
            let connection = self.connection.freed.notified();
            let process = self.process.freed.notified();
            tokio::pin!(connection, process);
            connection.as_mut().enable();
            process.as_mut().enable();
            if self.has_room(bytes) {
                return;
            }
            tokio::select! {
                () = connection => {}
                () = process => {}
            }
        }
    }

    /// Counts `bytes` as held until the returned reservation is dropped.
    pub(crate) fn reserve(&self, bytes: usize) -> Reservation {
        self.connection.held.fetch_add(bytes, Ordering::AcqRel);
        self.process.held.fetch_add(bytes, Ordering::AcqRel);
        Reservation {
            budgets: self.clone(),
            bytes,
        }
    }
}

/// Bytes held against a connection's and the process's budgets; released on drop.
#[derive(Debug)]
pub(crate) struct Reservation {
    budgets: Budgets,
    bytes: usize,
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
        let first = budgets.reserve(50);
        assert!(!budgets.has_room(20), "connection budget");
        let other = Budgets::new(60, process.clone());
        let second = other.reserve(40);
        assert!(!other.has_room(20), "process budget");
        assert_eq!(process.held(), 90);
        let waiter = tokio::spawn({
            let budgets = budgets.clone();
            async move { budgets.wait_room(20).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(first);
        drop(second);
        waiter.await.unwrap();
        assert_eq!(process.held(), 0);
    }

    #[test]
    fn one_piece_larger_than_the_budget_fits_alone() {
        let budgets = Budgets::new(10, Budget::new(10));
        assert!(budgets.has_room(1000));
        let _held = budgets.reserve(1);
        assert!(!budgets.has_room(1000));
    }
}
