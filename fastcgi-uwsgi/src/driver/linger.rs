//! Closing a connection without losing the answer.
//!
//! A peer still sending (the rest of a request body the service never read) when the
//! connection is closed gets a reset, and a reset can discard the answer it has not read
//! yet. So the driver first ends its side (`shutdown`), then reads and drops what still
//! arrives until the peer closes too, for a bounded time, as nginx's lingering close does.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How long the peer may go silent while the connection lingers.
const LINGER_IDLE: Duration = Duration::from_secs(2);
/// How long a connection lingers at most.
const LINGER_TOTAL: Duration = Duration::from_secs(10);

/// Ends the write side, then drains the read side until the peer closes, goes silent for
/// [`LINGER_IDLE`], or [`LINGER_TOTAL`] has passed.
pub(crate) async fn close<R, W>(reader: &mut R, writer: &mut W, buffer: &mut bytes::BytesMut)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    if writer.shutdown().await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(LINGER_TOTAL, async {
        // The receive buffer, its contents no longer needed, takes what still arrives.
        loop {
            buffer.clear();
            buffer.reserve(16 << 10);
            match tokio::time::timeout(LINGER_IDLE, reader.read_buf(buffer)).await {
                Ok(Ok(read)) if read > 0 => {}
                _ => return,
            }
        }
    })
    .await;
}
