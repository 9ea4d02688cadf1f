//! Byte budgets: how much a connection, and the whole process, hold in memory.
//!
//! A budget counts bytes held: request bodies read ahead of their services, response
//! bytes waiting for the socket, and the receive buffer a read may fill. Bytes are
//! reserved before they are taken in (a read reserves its whole buffer first), and a
//! reservation is granted only when it fits both the connection's budget and the
//! process's, so the totals never pass their limits. One exception keeps a connection
//! from stalling for good: a piece larger than a whole budget is granted when the budget
//! holds nothing else.

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

    /// Adds `bytes` if they fit (or nothing else is held).
    fn try_add(&self, bytes: usize) -> bool {
        let mut held = self.held();
        loop {
            if held != 0 && held.saturating_add(bytes) > self.limit {
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

    fn release(&self, bytes: usize) {
        if bytes > 0 {
            self.held.fetch_sub(bytes, Ordering::AcqRel);
            self.freed.notify_waiters();
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

    /// An empty reservation, to grow later.
    pub(crate) fn none(&self) -> Reservation {
        Reservation {
            budgets: self.clone(),
            bytes: 0,
        }
    }

    /// Reserves `bytes` if they fit both budgets now.
    pub(crate) fn try_reserve(&self, bytes: usize) -> Option<Reservation> {
        if !self.connection.try_add(bytes) {
            return None;
        }
        if !self.process.try_add(bytes) {
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

    /// Reserves `bytes`, waiting until they fit both budgets.
    pub(crate) async fn reserve(&self, bytes: usize) -> Reservation {
        loop {
            let connection = self.connection.freed.notified();
            let process = self.process.freed.notified();
            tokio::pin!(connection, process);
            connection.as_mut().enable();
            process.as_mut().enable();
            if let Some(reservation) = self.try_reserve(bytes) {
                return reservation;
            }
            tokio::select! {
                () = connection => {}
                () = process => {}
            }
        }
    }

    /// Counts `bytes` as held whether or not they fit: for bytes already in memory.
    fn force(&self, bytes: usize) -> Reservation {
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

impl Reservation {
    /// The bytes reserved.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Moves `bytes` of this reservation into a new one (for a chunk cut from a buffer
    /// this reservation covers); what this one lacks is counted on top.
    pub(crate) fn split(&mut self, bytes: usize) -> Reservation {
        let moved = bytes.min(self.bytes);
        self.bytes -= moved;
        let mut split = self.budgets.force(bytes - moved);
        split.bytes += moved;
        split
    }

    /// Releases what this reservation holds past `bytes`.
    pub(crate) fn shrink_to(&mut self, bytes: usize) {
        if bytes < self.bytes {
            let released = self.bytes - bytes;
            self.bytes = bytes;
            self.budgets.connection.release(released);
            self.budgets.process.release(released);
        }
    }

    /// Takes in `other`.
    pub(crate) fn merge(&mut self, mut other: Reservation) {
        self.bytes += std::mem::take(&mut other.bytes);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budgets.connection.release(self.bytes);
        self.budgets.process.release(self.bytes);
    }
}

/// Bytes asked of the socket per read: a connection's first read asks for 8 KiB (a whole
/// request, most of the time), later ones for 64 KiB (the largest FastCGI record), so a
/// short connection does not allocate a large buffer.
fn read_size(input: &bytes::BytesMut) -> usize {
    if input.capacity() == 0 {
        8 << 10
    } else {
        64 << 10
    }
}

/// Reads once into `input`, at most [`read_size`] bytes, after reserving room for them: `held`
/// covers the bytes in `input` and the room of the next read. Cancel-safe: a reservation
/// already taken stays in `held`, and the read itself takes nothing when cancelled.
pub(crate) async fn read_reserved<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut R,
    input: &mut bytes::BytesMut,
    held: &mut Reservation,
    budgets: &Budgets,
) -> std::io::Result<usize> {
    use bytes::BufMut;
    use tokio::io::AsyncReadExt;
    let max = read_size(input);
    let wanted = input.len() + max;
    if held.bytes() < wanted {
        let more = budgets.reserve(wanted - held.bytes()).await;
        held.merge(more);
    }
    input.reserve(max);
    reader.read_buf(&mut input.limit(max)).await
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
    fn split_and_shrink_keep_the_count() {
        let process = Budget::new(100);
        let budgets = Budgets::new(100, process.clone());
        let mut read = budgets.try_reserve(64).unwrap();
        let chunk = read.split(40);
        assert_eq!((read.bytes(), chunk.bytes(), process.held()), (24, 40, 64));
        let over = read.split(30);
        assert_eq!((read.bytes(), over.bytes(), process.held()), (0, 30, 70));
        let mut rest = budgets.try_reserve(10).unwrap();
        rest.shrink_to(4);
        read.merge(rest);
        assert_eq!((read.bytes(), process.held()), (4, 74));
        drop((read, chunk, over));
        assert_eq!(process.held(), 0);
    }
}
