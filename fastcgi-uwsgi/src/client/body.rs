//! The response body a client hands back: the backend's bytes as they arrive, with
//! back-pressure, a between-bytes timeout, and an abort when it is dropped early.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::delivery::{Deliveries, Delivery};
use super::error::{ClientError, TimeoutKind};

/// Ends a request that its caller gave up on (FastCGI: ABORT_REQUEST; uwsgi: close). Fired
/// at most once, on drop unless disarmed.
pub(crate) struct AbortOnDrop {
    abort: Option<Box<dyn FnOnce(bool) + Send + Sync>>,
}

impl AbortOnDrop {
    /// `abort(close)`: `close` when the connection must not be reused.
    pub(crate) fn new(abort: impl FnOnce(bool) + Send + Sync + 'static) -> Self {
        AbortOnDrop {
            abort: Some(Box::new(abort)),
        }
    }

    /// A guard with nothing to do: the connection learns that its caller is gone from
    /// their channel ([`super::delivery::DeliverySender::gone`]).
    pub(crate) fn none() -> Self {
        AbortOnDrop { abort: None }
    }

    pub(crate) fn fire(&mut self, close: bool) {
        if let Some(abort) = self.abort.take() {
            abort(close);
        }
    }

    pub(crate) fn disarm(&mut self) {
        self.abort = None;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.fire(false);
    }
}

impl std::fmt::Debug for AbortOnDrop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.abort.is_some() {
            "armed"
        } else {
            "disarmed"
        })
    }
}

/// The application status a FastCGI backend ended the request with (END_REQUEST's
/// appStatus, e.g. an exit code), in the response's extensions. It is known once the body
/// has been read to its end; uwsgi has none.
#[derive(Debug, Clone, Default)]
pub struct AppStatus(Arc<OnceLock<u32>>);

impl AppStatus {
    /// The status, once the request has ended.
    pub fn get(&self) -> Option<u32> {
        self.0.get().copied()
    }

    pub(crate) fn set(&self, status: u32) {
        let _ = self.0.set(status);
    }
}

/// A response body streamed from a backend: an [`http_body::Body`] of the [`Bytes`] the
/// codec split off the socket's buffer (no copy).
///
/// The connection reads ahead a bounded window of it, so a reader that stops reading
/// stops the backend; on a multiplexed FastCGI connection, where stopping would stop
/// every request on it, a reader past its window is cut off instead
/// ([`ClientConfig::response_window`](super::ClientConfig::response_window)). A reader
/// that takes nothing for
/// [`ClientConfig::delivery_timeout`](super::ClientConfig::delivery_timeout) while data
/// waits is cut off too. Dropping it before its end aborts the request.
#[derive(Debug)]
pub struct BackendBody {
    receiver: Option<Deliveries>,
    backend: Arc<str>,
    timeout: Duration,
    /// When the last bytes came (or the body was made).
    last: Instant,
    /// The between-bytes timer, made the first time the body waits: a body that never
    /// waits (the whole response came with its head) needs none.
    sleep: Option<Pin<Box<Sleep>>>,
    guard: AbortOnDrop,
    remaining: Option<u64>,
}

impl BackendBody {
    pub(crate) fn new(
        receiver: Deliveries,
        backend: Arc<str>,
        timeout: Duration,
        guard: AbortOnDrop,
        length: Option<u64>,
    ) -> Self {
        BackendBody {
            receiver: Some(receiver),
            backend,
            timeout,
            last: Instant::now(),
            sleep: None,
            guard,
            remaining: length,
        }
    }

    fn finish(&mut self) {
        self.receiver = None;
        self.guard.disarm();
    }
}

impl http_body::Body for BackendBody {
    type Data = Bytes;
    type Error = ClientError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ClientError>>> {
        let this = &mut *self;
        let Some(receiver) = this.receiver.as_mut() else {
            return Poll::Ready(None);
        };
        // The connection gave up on this response; what is still queued is cut short.
        if let Some(error) = receiver.flow().verdict() {
            this.finish();
            return Poll::Ready(Some(Err(error)));
        }
        match receiver.poll_recv(cx) {
            Poll::Ready(Some(Delivery::Data(chunk))) => {
                this.last = Instant::now();
                if let Some(sleep) = this.sleep.as_mut() {
                    sleep.as_mut().reset(this.last + this.timeout);
                }
                if let Some(remaining) = this.remaining.as_mut() {
                    *remaining = remaining.saturating_sub(chunk.len() as u64);
                }
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Poll::Ready(Some(Delivery::End)) => {
                this.finish();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Delivery::Failed(error) | Delivery::Unanswered(error))) => {
                this.finish();
                Poll::Ready(Some(Err(error)))
            }
            Poll::Ready(Some(Delivery::Head(_)) | None) => {
                let verdict = receiver.flow().verdict();
                this.finish();
                let error = verdict.unwrap_or_else(|| ClientError::Closed {
                    backend: this.backend.to_string(),
                });
                Poll::Ready(Some(Err(error)))
            }
            Poll::Pending => match this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(this.last + this.timeout)))
                .as_mut()
                .poll(cx)
            {
                Poll::Ready(()) => {
                    this.guard.fire(true);
                    this.finish();
                    Poll::Ready(Some(Err(ClientError::Timeout {
                        backend: this.backend.to_string(),
                        kind: TimeoutKind::BetweenBytes,
                    })))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.receiver.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Some(remaining) if self.receiver.is_some() || remaining == 0 => {
                SizeHint::with_exact(remaining)
            }
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::delivery::{WINDOW, channel};
    use http_body_util::BodyExt;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[tokio::test]
    async fn data_then_end() {
        let (sender, receiver) = channel(WINDOW);
        let aborted = Arc::new(AtomicBool::new(false));
        let flag = aborted.clone();
        let guard = AbortOnDrop::new(move |_| flag.store(true, Ordering::SeqCst));
        let body = BackendBody::new(receiver, "b".into(), Duration::from_secs(5), guard, Some(5));
        sender
            .try_send(Delivery::Data(Bytes::from_static(b"hel")))
            .unwrap();
        sender
            .try_send(Delivery::Data(Bytes::from_static(b"lo")))
            .unwrap();
        sender.try_send(Delivery::End).unwrap();
        assert_eq!(body.collect().await.unwrap().to_bytes(), "hello");
        assert!(
            !aborted.load(Ordering::SeqCst),
            "a body read to its end aborts nothing"
        );
    }

    #[tokio::test]
    async fn a_verdict_cuts_the_body_short_ahead_of_what_is_queued() {
        let (sender, receiver) = channel(WINDOW);
        let flow = sender.flow().clone();
        let guard = AbortOnDrop::new(|_| {});
        let mut body = BackendBody::new(receiver, "b".into(), Duration::from_secs(5), guard, None);
        sender
            .try_send(Delivery::Data(Bytes::from_static(b"abc")))
            .unwrap();
        assert_eq!(flow.handed(3), (3, true));
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "abc");
        assert_eq!((flow.unread(), flow.waiting_since()), (0, None));
        sender
            .try_send(Delivery::Data(Bytes::from_static(b"def")))
            .unwrap();
        flow.end(ClientError::Timeout {
            backend: "b".into(),
            kind: TimeoutKind::Delivery,
        });
        drop(sender);
        let error = body.frame().await.unwrap().unwrap_err();
        assert!(matches!(
            error,
            ClientError::Timeout {
                kind: TimeoutKind::Delivery,
                ..
            }
        ));
        assert!(body.frame().await.is_none(), "the body ended");
    }

    #[tokio::test]
    async fn dropped_early_aborts_and_silence_times_out() {
        let (_sender, receiver) = channel(WINDOW);
        let aborted = Arc::new(AtomicBool::new(false));
        let flag = aborted.clone();
        let guard = AbortOnDrop::new(move |close| flag.store(close, Ordering::SeqCst));
        let mut body =
            BackendBody::new(receiver, "b".into(), Duration::from_millis(20), guard, None);
        let error = body.frame().await.unwrap().unwrap_err();
        assert!(matches!(
            error,
            ClientError::Timeout {
                kind: TimeoutKind::BetweenBytes,
                ..
            }
        ));
        assert!(
            aborted.load(Ordering::SeqCst),
            "a timed-out connection is closed"
        );

        let (_sender, receiver) = channel(WINDOW);
        let aborted = Arc::new(AtomicBool::new(false));
        let flag = aborted.clone();
        let guard = AbortOnDrop::new(move |_| flag.store(true, Ordering::SeqCst));
        drop(BackendBody::new(
            receiver,
            "b".into(),
            Duration::from_secs(5),
            guard,
            None,
        ));
        assert!(aborted.load(Ordering::SeqCst));
    }
}
