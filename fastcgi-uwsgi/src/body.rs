//! The request body a service receives: the `Bytes` chunks the codec split off the
//! receive buffer, streamed as they arrive.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::mpsc;

use crate::driver::receive::Block;

/// Why a request body ended before the protocol said it was complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The front server aborted the request (FastCGI ABORT_REQUEST).
    #[error("the request was aborted by the front server")]
    Aborted,
    /// The connection closed or failed before the body ended.
    #[error("the connection ended before the request body did")]
    ConnectionLost,
    /// No byte of the body arrived within the body timeout.
    #[error("the request body stalled past the body timeout")]
    TimedOut,
}

/// One piece of a body as the connection driver hands it over.
#[derive(Debug)]
pub(crate) enum Piece {
    /// Body bytes, and the receive buffer allocation they hold (counted in the budgets)
    /// until the service takes them.
    Data(Bytes, Block),
    /// The body cannot end normally.
    Failed(BodyError),
}

/// A request body: a streaming [`http_body::Body`] of [`Bytes`].
///
/// Each chunk is the slice of the receive buffer the codec split off (FastCGI STDIN
/// record content, uwsgi body bytes), not a copy. The body ends where the protocol says it
/// does: the empty STDIN record for FastCGI (whatever CONTENT_LENGTH said), CONTENT_LENGTH
/// for uwsgi.
#[derive(Debug)]
pub struct Body {
    receiver: Option<mpsc::UnboundedReceiver<Piece>>,
    /// Known exact length, for [`http_body::Body::size_hint`].
    remaining: Option<u64>,
}

impl Body {
    /// An empty body.
    pub fn empty() -> Body {
        Body {
            receiver: None,
            remaining: Some(0),
        }
    }

    /// A body fed by a connection driver, with its length when the protocol knows it.
    pub(crate) fn channel(length: Option<u64>) -> (BodySender, Body) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (
            BodySender { sender },
            Body {
                receiver: Some(receiver),
                remaining: length,
            },
        )
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let Some(receiver) = self.receiver.as_mut() else {
            return Poll::Ready(None);
        };
        match receiver.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Piece::Data(data, reservation))) => {
                // The service has the bytes now; they count against its own memory.
                drop(reservation);
                if let Some(remaining) = self.remaining.as_mut() {
                    *remaining = remaining.saturating_sub(data.len() as u64);
                }
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Poll::Ready(Some(Piece::Failed(error))) => {
                self.receiver = None;
                Poll::Ready(Some(Err(error)))
            }
            Poll::Ready(None) => {
                self.receiver = None;
                self.remaining = Some(0);
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.receiver.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Some(remaining) => SizeHint::with_exact(remaining),
            None => SizeHint::default(),
        }
    }
}

/// The connection driver's end of a [`Body`]. Dropping it ends the body normally.
#[derive(Debug)]
pub(crate) struct BodySender {
    sender: mpsc::UnboundedSender<Piece>,
}

impl BodySender {
    /// Hands a chunk to the service; `false` when the service dropped its body (the chunk
    /// and its reservation are dropped with it).
    pub(crate) fn send(&self, data: Bytes, reservation: Block) -> bool {
        self.sender.send(Piece::Data(data, reservation)).is_ok()
    }

    /// Ends the body with an error.
    pub(crate) fn fail(self, error: BodyError) {
        let _ = self.sender.send(Piece::Failed(error));
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;
    use crate::budget::{Budget, Budgets};

    #[tokio::test]
    async fn chunks_arrive_in_order_and_release_their_budget() {
        let budgets = Budgets::new(1 << 20, Budget::new(1 << 20));
        let (sender, body) = Body::channel(Some(6));
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some(6));
        assert!(sender.send(
            Bytes::from_static(b"abc"),
            std::sync::Arc::new(budgets.try_reserve(3).unwrap())
        ));
        assert!(sender.send(
            Bytes::from_static(b"def"),
            std::sync::Arc::new(budgets.try_reserve(3).unwrap())
        ));
        assert!(budgets.try_reserve(1 << 20).is_none());
        drop(sender);
        let collected = body.collect().await.unwrap().to_bytes();
        assert_eq!(&collected[..], b"abcdef");
        assert!(budgets.try_reserve(1 << 20).is_some());
    }

    #[tokio::test]
    async fn a_failed_body_reports_why() {
        let (sender, body) = Body::channel(None);
        sender.fail(BodyError::Aborted);
        assert_eq!(body.collect().await.unwrap_err(), BodyError::Aborted);
    }

    #[tokio::test]
    async fn a_dropped_body_refuses_more() {
        let budgets = Budgets::new(1 << 20, Budget::new(1 << 20));
        let (sender, body) = Body::channel(None);
        drop(body);
        assert!(!sender.send(
            Bytes::from_static(b"x"),
            std::sync::Arc::new(budgets.try_reserve(1).unwrap())
        ));
        assert!(
            budgets.try_reserve(1 << 20).is_some(),
            "the reservation went with the chunk"
        );
    }
}
