//! The receive buffer of a connection, counted as the allocations it reads into.
//!
//! The codecs cut request bodies and params out of the receive buffer as `Bytes` that
//! share its allocation (no copy). Such a chunk keeps the whole allocation alive however
//! small it is: counting chunk lengths under-counts what is held (the room a read did not
//! fill, and the start of a record that was copied to a new allocation to be completed).
//! So each allocation is a [`Block`], reserved at its full capacity before anything is
//! read into it, and shared by everything cut from it; its budget comes back when the
//! last holder lets go. A chunk handed to a service stops holding it: from then on the
//! bytes are the service's, as they are once it reads them.

use std::sync::Arc;

use bytes::BytesMut;

use crate::budget::{Budgets, Reservation, Use};

/// One allocation of a receive buffer, counted at its capacity while anything cut from it
/// (or the buffer itself) holds it.
pub(crate) type Block = Arc<Reservation>;

/// Bytes a connection's first read asks for: a whole request head, most of the time,
/// without allocating much for a short connection.
const FIRST_READ: usize = 8 << 10;
/// Bytes later reads ask for: the largest FastCGI record.
const READ: usize = 64 << 10;
/// A read into less room than this takes a new allocation first.
const MIN_ROOM: usize = 4 << 10;

/// A connection holding less than this, with no request body open, reads for a request
/// head: it may take the process budget's headroom.
const HEAD_READS: usize = 256 << 10;

/// What a connection's next read is for: a request head ([`Use::Progress`]) while no
/// request body is open on it and it holds little, else bytes read ahead of services.
/// A connection that piles up params or bodies reads from the budget bodies share, so the
/// headroom stays for new requests' heads.
pub(crate) fn purpose(budgets: &Budgets, body_open: bool) -> Use {
    if !body_open && budgets.connection_held() < HEAD_READS {
        Use::Progress
    } else {
        Use::ReadAhead
    }
}

/// A receive buffer and the block it reads into.
#[derive(Debug, Default)]
pub(crate) struct Receive {
    /// The bytes received and not yet taken by the codec.
    pub(crate) input: BytesMut,
    block: Option<Block>,
    /// Where the allocation `input` is in ends, to notice one the codec made itself.
    end: usize,
}

impl Receive {
    /// The block the last read went into.
    pub(crate) fn block(&self) -> Option<Block> {
        self.block.clone()
    }

    /// Lets go of the current block (the connection is closing).
    pub(crate) fn release(&mut self) {
        self.block = None;
    }

    /// Reads once. When the buffer has little room left, a new allocation is reserved
    /// first (for `purpose`, waiting for room in the budgets) and what the buffer holds
    /// moves into it. Cancel-safe: a cancelled wait takes nothing, a cancelled read reads
    /// nothing.
    pub(crate) async fn read<R>(
        &mut self,
        reader: &mut R,
        budgets: &Budgets,
        purpose: Use,
    ) -> std::io::Result<usize>
    where
        R: tokio::io::AsyncRead + Unpin,
    {
        use bytes::BufMut;
        use tokio::io::AsyncReadExt;
        let len = self.input.len();
        let read = if self.block.is_none() {
            FIRST_READ
        } else {
            READ
        };
        if self.room() < MIN_ROOM {
            // The same allocation again when nothing else holds it (its block counts it).
            let reclaimed = self.block.is_some()
                && self.input.try_reclaim(read)
                && allocation_end(&self.input) == self.end;
            if !reclaimed {
                let size = len + read;
                let reservation = budgets.reserve_for(size, purpose).await;
                let mut fresh = spare::take(size).unwrap_or_else(|| BytesMut::with_capacity(size));
                fresh.extend_from_slice(&self.input);
                self.input = fresh;
                self.adopt(reservation);
            }
        }
        // Whatever else the connection holds (params, bodies) may have grown past the
        // budgets since: no more is taken in until it is back within them.
        let own = self.block.as_ref().map_or(0, |block| block.bytes());
        budgets.within(own, purpose).await;
        let room = self.room();
        reader.read_buf(&mut (&mut self.input).limit(room)).await
    }

    /// Counts an allocation the codec made on its own (to complete a record larger than
    /// the room left): it is in memory already, so it is counted whether or not it fits.
    /// Call after each decoding pass.
    pub(crate) fn settle(&mut self, budgets: &Budgets) {
        if allocation_end(&self.input) != self.end && self.input.capacity() > 0 {
            let reservation = budgets.force(self.input.capacity());
            self.adopt(reservation);
        }
    }

    fn room(&self) -> usize {
        self.input.capacity() - self.input.len()
    }

    fn adopt(&mut self, reservation: Reservation) {
        self.block = Some(Arc::new(reservation));
        self.end = allocation_end(&self.input);
    }
}

impl Drop for Receive {
    fn drop(&mut self) {
        // A connection's first buffer goes to the next connection when nothing cut from
        // it is still alive: most connections read one request into it and end.
        if let Some(block) = self.block.take()
            && block.bytes() == FIRST_READ
            && Arc::strong_count(&block) == 1
        {
            let mut buffer = std::mem::take(&mut self.input);
            buffer.clear();
            // Room for the whole allocation again only when no other handle shares it.
            if buffer.try_reclaim(FIRST_READ) && buffer.capacity() == FIRST_READ {
                spare::put(buffer);
            }
        }
    }
}

/// First-read buffers of ended connections, kept per thread for the next ones, so that a
/// short connection allocates nothing for its reads.
mod spare {
    use std::cell::RefCell;

    use bytes::BytesMut;

    use super::FIRST_READ;

    /// Buffers kept per thread: 256 KiB.
    const KEPT: usize = 32;

    thread_local! {
        static SPARE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
    }

    /// A spare empty buffer of exactly `size` bytes, if one is kept.
    pub(super) fn take(size: usize) -> Option<BytesMut> {
        if size != FIRST_READ {
            return None;
        }
        SPARE
            .try_with(|spare| spare.borrow_mut().pop())
            .ok()
            .flatten()
    }

    /// Keeps an empty `FIRST_READ`-byte buffer, unless enough are kept.
    pub(super) fn put(buffer: BytesMut) {
        debug_assert!(buffer.is_empty() && buffer.capacity() == FIRST_READ);
        let _ = SPARE.try_with(|spare| {
            let mut spare = spare.borrow_mut();
            if spare.len() < KEPT {
                spare.push(buffer);
            }
        });
    }
}

/// The address just past `buffer`'s allocation: it stays the same while bytes are split
/// off the front, and changes when the buffer moves to another allocation.
fn allocation_end(buffer: &BytesMut) -> usize {
    (buffer.as_ptr() as usize).wrapping_add(buffer.capacity())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Budget;

    /// What the codec does with bytes it took: advance past them.
    fn consume(input: &mut BytesMut) {
        let len = input.len();
        bytes::Buf::advance(input, len);
    }

    #[tokio::test]
    async fn chunks_hold_their_whole_allocation() {
        let process = Budget::new(1 << 20);
        let budgets = Budgets::new(1 << 20, process.clone());
        let mut receive = Receive::default();
        let (mut near, mut far) = tokio::io::duplex(256 << 10);
        tokio::io::AsyncWriteExt::write_all(&mut near, &vec![7; 100_000])
            .await
            .unwrap();
        // The first read: an 8 KiB allocation, counted whole.
        receive
            .read(&mut far, &budgets, Use::Progress)
            .await
            .unwrap();
        let first = receive.input.capacity();
        assert!(first >= FIRST_READ);
        assert_eq!(process.held(), first);
        // A 10-byte chunk cut from it, with its block, as a body chunk travels; the
        // rest taken by the codec.
        let chunk = (
            receive.input.split_to(10).freeze(),
            receive.block().unwrap(),
        );
        consume(&mut receive.input);
        // The allocation is full and the chunk holds it: a new one, counted on top.
        receive
            .read(&mut far, &budgets, Use::Progress)
            .await
            .unwrap();
        let second = receive.input.capacity();
        assert!(second >= READ);
        assert_eq!(process.held(), first + second);
        drop(chunk);
        assert_eq!(process.held(), second);
        // Nothing else holds this one: the next read reuses it.
        consume(&mut receive.input);
        receive
            .read(&mut far, &budgets, Use::Progress)
            .await
            .unwrap();
        assert_eq!(process.held(), second);
        // An allocation the codec makes on its own is counted once noticed.
        receive.input.reserve(1 << 19);
        receive.settle(&budgets);
        assert_eq!(process.held(), receive.input.capacity());
        drop(receive);
        assert_eq!(process.held(), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_connection_reads_into_the_first_buffer_of_one_that_ended() {
        let budgets = Budgets::new(1 << 20, Budget::new(1 << 20));
        let (mut near, mut far) = tokio::io::duplex(1024);
        let mut first_read = async |receive: &mut Receive| {
            tokio::io::AsyncWriteExt::write_all(&mut near, b"request")
                .await
                .unwrap();
            receive
                .read(&mut far, &budgets, Use::Progress)
                .await
                .unwrap();
            receive.input.as_ptr() as usize
        };
        let mut ended = Receive::default();
        let address = first_read(&mut ended).await;
        drop(ended);
        let mut next = Receive::default();
        assert_eq!(
            first_read(&mut next).await,
            address,
            "the buffer was reused"
        );
        // One whose bytes are still held elsewhere is not.
        let held = next.input.split_to(3).freeze();
        drop(next);
        let mut third = Receive::default();
        assert_ne!(first_read(&mut third).await, address);
        drop(held);
    }
}
