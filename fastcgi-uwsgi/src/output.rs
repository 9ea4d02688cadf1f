//! The bytes a connection driver has yet to write, and the budget they hold.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::budget::Reservation;

/// Slices handed to one vectored write.
const MAX_SLICES: usize = 64;

/// A queue of `Bytes` to write in order, with vectored writes; each service chunk's
/// budget reservation is released once the chunk's last byte is written.
#[derive(Debug, Default)]
pub(crate) struct Output {
    chunks: VecDeque<Bytes>,
    /// Bytes queued since the connection started.
    queued: u64,
    /// Bytes written since the connection started.
    written: u64,
    /// Reservations, with the `queued` position their bytes end at.
    held: VecDeque<(u64, Reservation)>,
}

impl Output {
    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Bytes queued and not yet written.
    pub(crate) fn queued_len(&self) -> u64 {
        self.queued - self.written
    }

    /// Queues `buf`'s chunks (no copy).
    pub(crate) fn push_buf(&mut self, mut buf: impl Buf) {
        while buf.has_remaining() {
            let len = buf.chunk().len();
            self.push(buf.copy_to_bytes(len));
        }
    }

    /// Queues one chunk.
    pub(crate) fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.queued += chunk.len() as u64;
            self.chunks.push_back(chunk);
        }
    }

    /// Keeps `reservation` until everything queued so far is written.
    pub(crate) fn hold(&mut self, reservation: Reservation) {
        self.held.push_back((self.queued, reservation));
    }

    /// Writes as much as one vectored write takes; returns the bytes written.
    pub(crate) async fn write_some<W: AsyncWrite + Unpin>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<usize> {
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let mut count = 0;
        for (slice, chunk) in slices.iter_mut().zip(&self.chunks) {
            *slice = IoSlice::new(chunk);
            count += 1;
        }
        let written = writer
            .write_vectored(slices.get(..count).unwrap_or_default())
            .await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        self.advance(written);
        Ok(written)
    }

    fn advance(&mut self, mut written: usize) {
        self.written += written as u64;
        while written > 0 {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            if written >= front.len() {
                written -= front.len();
                self.chunks.pop_front();
            } else {
                front.advance(written);
                written = 0;
            }
        }
        while self
            .held
            .front()
            .is_some_and(|(end, _)| *end <= self.written)
        {
            self.held.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::{Budget, Budgets};

    #[tokio::test]
    async fn reservations_are_released_as_their_bytes_are_written() {
        let budgets = Budgets::new(100, Budget::new(100));
        let mut output = Output::default();
        output.push(Bytes::from_static(b"head"));
        output.push(Bytes::from_static(b"0123456789"));
        output.hold(budgets.try_reserve(10).unwrap());
        assert!(budgets.try_reserve(95).is_none());
        let (mut near, mut far) = tokio::io::duplex(8);
        let written = output.write_some(&mut near).await.unwrap();
        assert_eq!(written, 8);
        assert!(
            budgets.try_reserve(95).is_none(),
            "the chunk is not written yet"
        );
        let mut sink = [0u8; 8];
        tokio::io::AsyncReadExt::read_exact(&mut far, &mut sink)
            .await
            .unwrap();
        output.write_some(&mut near).await.unwrap();
        assert!(output.is_empty());
        assert!(budgets.try_reserve(95).is_some());
    }
}
