//! The response body a client hands back: the backend's bytes as they arrive, with
//! back-pressure, a between-bytes timeout, and an abort when it is dropped early.

use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use cgi_env::ResponseHead;
use http_body::{Frame, SizeHint};
use tokio::sync::{Notify, mpsc};
use tokio::time::{Instant, Sleep};

use super::error::{ClientError, TimeoutKind};

/// How many pieces of one response wait between a connection and its reader before the
/// connection stops reading: the back-pressure window.
pub(crate) const WINDOW: usize = 16;

/// What a connection and one request's body share: how much of the response the caller
/// has not taken yet and since when, and why the connection ended the response early
/// (told here rather than in the channel, which may be full of what the caller never
/// took).
#[derive(Debug, Default)]
pub(crate) struct Flow {
    state: Mutex<FlowState>,
    /// Woken when the caller takes a piece, for a connection that stopped reading until it
    /// does.
    taken: Notify,
}

#[derive(Debug, Default)]
struct FlowState {
    /// Body bytes handed to the channel and not taken by the caller.
    unread: usize,
    /// Since when data has waited for the caller with none taken.
    waiting_since: Option<Instant>,
    verdict: Option<ClientError>,
}

impl Flow {
    fn lock(&self) -> std::sync::MutexGuard<'_, FlowState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The connection handed `len` body bytes to the channel; returns the bytes now unread
    /// and whether the caller has had data waiting only from now on.
    pub(crate) fn handed(&self, len: usize) -> (usize, bool) {
        let mut state = self.lock();
        state.unread = state.unread.saturating_add(len);
        let began = state.waiting_since.is_none();
        if began {
            state.waiting_since = Some(Instant::now());
        }
        (state.unread, began)
    }

    /// The caller took `len` body bytes.
    fn took(&self, len: usize) {
        {
            let mut state = self.lock();
            state.unread = state.unread.saturating_sub(len);
            state.waiting_since = (state.unread > 0).then(Instant::now);
        }
        self.taken.notify_one();
    }

    /// Body bytes handed over and not taken.
    pub(crate) fn unread(&self) -> usize {
        self.lock().unread
    }

    /// Since when data has waited for the caller with none taken.
    pub(crate) fn waiting_since(&self) -> Option<Instant> {
        self.lock().waiting_since
    }

    /// Resolves once the caller takes a piece (at once if it did since the last call).
    pub(crate) async fn until_taken(&self) {
        self.taken.notified().await;
    }

    /// The connection gave up on the response: the body ends with `error`. Set before the
    /// connection drops its sender, so a body that sees the channel closed finds it.
    pub(crate) fn end(&self, error: ClientError) {
        self.lock().verdict.get_or_insert(error);
    }

    /// Why the connection ended the response early, once.
    pub(crate) fn verdict(&self) -> Option<ClientError> {
        self.lock().verdict.take()
    }
}

/// What a connection hands one request's caller, in order: a head, data, then the end or a
/// failure.
#[derive(Debug)]
pub(crate) enum Delivery {
    Head(Box<ResponseHead>),
    Data(Bytes),
    End,
    Failed(ClientError),
    /// The connection closed or failed before any byte of this request's response came.
    Unanswered(ClientError),
}

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
    receiver: Option<mpsc::Receiver<Delivery>>,
    flow: Arc<Flow>,
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
        receiver: mpsc::Receiver<Delivery>,
        flow: Arc<Flow>,
        backend: Arc<str>,
        timeout: Duration,
        guard: AbortOnDrop,
        length: Option<u64>,
    ) -> Self {
        BackendBody {
            receiver: Some(receiver),
            flow,
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
        if let Some(error) = this.flow.verdict() {
            this.finish();
            return Poll::Ready(Some(Err(error)));
        }
        match receiver.poll_recv(cx) {
            Poll::Ready(Some(Delivery::Data(chunk))) => {
                this.flow.took(chunk.len());
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
                this.finish();
                let error = this.flow.verdict().unwrap_or_else(|| ClientError::Closed {
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
    use http_body_util::BodyExt;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[tokio::test]
    async fn data_then_end() {
        let (sender, receiver) = mpsc::channel(WINDOW);
        let aborted = Arc::new(AtomicBool::new(false));
        let flag = aborted.clone();
        let guard = AbortOnDrop::new(move |_| flag.store(true, Ordering::SeqCst));
        let body = BackendBody::new(
            receiver,
            Arc::default(),
            "b".into(),
            Duration::from_secs(5),
            guard,
            Some(5),
        );
        sender
            .send(Delivery::Data(Bytes::from_static(b"hel")))
            .await
            .unwrap();
        sender
            .send(Delivery::Data(Bytes::from_static(b"lo")))
            .await
            .unwrap();
        sender.send(Delivery::End).await.unwrap();
        assert_eq!(body.collect().await.unwrap().to_bytes(), "hello");
        assert!(
            !aborted.load(Ordering::SeqCst),
            "a body read to its end aborts nothing"
        );
    }

    #[tokio::test]
    async fn a_verdict_cuts_the_body_short_ahead_of_what_is_queued() {
        let (sender, receiver) = mpsc::channel(WINDOW);
        let flow = Arc::new(Flow::default());
        let guard = AbortOnDrop::new(|_| {});
        let mut body = BackendBody::new(
            receiver,
            flow.clone(),
            "b".into(),
            Duration::from_secs(5),
            guard,
            None,
        );
        sender
            .send(Delivery::Data(Bytes::from_static(b"abc")))
            .await
            .unwrap();
        assert_eq!(flow.handed(3), (3, true));
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "abc");
        assert_eq!((flow.unread(), flow.waiting_since()), (0, None));
        sender
            .send(Delivery::Data(Bytes::from_static(b"def")))
            .await
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
        let (_sender, receiver) = mpsc::channel(WINDOW);
        let aborted = Arc::new(AtomicBool::new(false));
        let flag = aborted.clone();
        let guard = AbortOnDrop::new(move |close| flag.store(close, Ordering::SeqCst));
        let mut body = BackendBody::new(
            receiver,
            Arc::default(),
            "b".into(),
            Duration::from_millis(20),
            guard,
            None,
        );
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

        let (_sender, receiver) = mpsc::channel(WINDOW);
        let aborted = Arc::new(AtomicBool::new(false));
        let flag = aborted.clone();
        let guard = AbortOnDrop::new(move |_| flag.store(true, Ordering::SeqCst));
        drop(BackendBody::new(
            receiver,
            Arc::default(),
            "b".into(),
            Duration::from_secs(5),
            guard,
            None,
        ));
        assert!(aborted.load(Ordering::SeqCst));
    }
}
