//! Driving async crates in memory: a duplex stream and a `block_on` without a runtime.
//!
//! Crates with no standalone codec (fastcgi-client, tokio-fastcgi) only work on streams.
//! Over this stream every read and write completes at once, so a future built on it never
//! waits, and [`block_on`] needs no reactor: it polls with a no-op waker.

use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

use fastcgi_client::io::{AsyncRead, AsyncWrite};

/// A connection whose peer already answered: reads replay `reply`, writes append to
/// `written`.
///
/// ```
/// use benches::memory_stream::{block_on, MemoryDuplex};
/// use fastcgi_client::io::{AsyncReadExt, AsyncWriteExt};
///
/// let mut written = Vec::new();
/// let mut stream = MemoryDuplex::new(b"pong", &mut written);
/// let mut reply = Vec::new();
/// block_on(async {
///     stream.write_all(b"ping").await.unwrap();
///     stream.read_to_end(&mut reply).await.unwrap();
/// });
/// assert_eq!(reply, b"pong");
/// assert_eq!(written, b"ping");
/// ```
#[derive(Debug)]
pub struct MemoryDuplex<'a> {
    reply: &'a [u8],
    written: &'a mut Vec<u8>,
}

impl<'a> MemoryDuplex<'a> {
    /// A stream that answers `reply` and records what is written into `written`.
    pub fn new(reply: &'a [u8], written: &'a mut Vec<u8>) -> Self {
        MemoryDuplex { reply, written }
    }
}

impl AsyncRead for MemoryDuplex<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let len = buf.len().min(self.reply.len());
        let (now, later) = self.reply.split_at(len);
        if let Some(dst) = buf.get_mut(..len) {
            dst.copy_from_slice(now);
        }
        self.reply = later;
        Poll::Ready(Ok(len))
    }
}

impl AsyncWrite for MemoryDuplex<'_> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.written.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Runs a future that never waits (one over in-memory streams) to completion.
///
/// # Panics
/// When the future returns `Pending`: nothing would wake it, so that is a bug in the
/// bench, not a slow peer.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("an in-memory future waited; nothing can wake it"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fastcgi_client::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn reads_replay_in_pieces_then_eof() {
        let mut written = Vec::new();
        let mut stream = MemoryDuplex::new(b"abcdef", &mut written);
        let mut first = [0u8; 4];
        let mut rest = Vec::new();
        block_on(async {
            stream.read_exact(&mut first).await.unwrap();
            stream.read_to_end(&mut rest).await.unwrap();
        });
        assert_eq!(&first, b"abcd");
        assert_eq!(rest, b"ef");
    }

    #[test]
    fn writes_accumulate() {
        let mut written = Vec::new();
        let mut stream = MemoryDuplex::new(b"", &mut written);
        block_on(async {
            stream.write_all(b"one ").await.unwrap();
            stream.write_all(b"two").await.unwrap();
            stream.flush().await.unwrap();
        });
        assert_eq!(written, b"one two");
    }

    #[test]
    #[should_panic(expected = "in-memory future waited")]
    fn pending_is_reported() {
        block_on(std::future::pending::<()>());
    }
}
