//! One response's way from its connection to its caller: the pieces waiting for the
//! caller (at most a window of them), and what the two share besides (how much the
//! caller has not taken, and why the connection ended the response early).
//!
//! One allocation per request holds all of it; a general channel would take a second
//! for its state and a third, larger and aligned, for its first block of slots.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use cgi_env::ResponseHead;
use tokio::sync::Notify;
use tokio::sync::mpsc::error::TrySendError;
use tokio::time::Instant;

use bytes::Bytes;

use super::error::ClientError;

/// How many pieces of one response wait between a connection and its reader before the
/// connection stops reading: the back-pressure window.
pub(crate) const WINDOW: usize = 16;

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

/// A new way for one response holding up to `capacity` pieces: the connection's end and
/// the caller's.
pub(crate) fn channel(capacity: usize) -> (DeliverySender, Deliveries) {
    let flow = Arc::new(Flow {
        state: Mutex::new(FlowState {
            capacity,
            senders: 1,
            receiving: true,
            ..FlowState::default()
        }),
        taken: Notify::new(),
    });
    (DeliverySender(flow.clone()), Deliveries(flow))
}

/// What a connection and one request's caller share.
#[derive(Debug, Default)]
pub(crate) struct Flow {
    state: Mutex<FlowState>,
    /// Woken when the caller takes a piece (or is gone), for a connection waiting for
    /// room.
    taken: Notify,
}

#[derive(Debug, Default)]
struct FlowState {
    /// The pieces handed over and not taken, oldest first.
    queue: VecDeque<Delivery>,
    capacity: usize,
    /// Handles the connection side holds: the caller sees the end once none is left.
    senders: usize,
    /// The caller still takes pieces.
    receiving: bool,
    /// The caller's waker, while it waits for a piece.
    waker: Option<Waker>,
    /// Body bytes handed over and not taken by the caller.
    unread: usize,
    /// Since when data has waited for the caller with none taken.
    waiting_since: Option<Instant>,
    /// Why the connection ended the response early: told here rather than in the queue,
    /// which may be full of what the caller never took.
    verdict: Option<ClientError>,
}

impl Flow {
    fn lock(&self) -> MutexGuard<'_, FlowState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The connection handed `len` body bytes over; returns the bytes now unread and
    /// whether the caller has had data waiting only from now on.
    pub(crate) fn handed(&self, len: usize) -> (usize, bool) {
        let mut state = self.lock();
        state.unread = state.unread.saturating_add(len);
        let began = state.waiting_since.is_none();
        if began {
            state.waiting_since = Some(Instant::now());
        }
        (state.unread, began)
    }

    /// Whether the caller has `window` body bytes or more not taken, or room for fewer
    /// than `spare` pieces: both read under one lock, as a connection asks after each
    /// turn.
    pub(crate) fn full(&self, window: usize, spare: usize) -> bool {
        let state = self.lock();
        state.unread >= window || state.capacity.saturating_sub(state.queue.len()) < spare
    }

    /// Body bytes handed over and not taken.
    #[cfg(test)]
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
    /// connection drops its sender, so a body that sees the end finds it.
    pub(crate) fn end(&self, error: ClientError) {
        self.lock().verdict.get_or_insert(error);
    }

    /// Why the connection ended the response early, once.
    pub(crate) fn verdict(&self) -> Option<ClientError> {
        self.lock().verdict.take()
    }
}

/// The connection's end: hands pieces over without waiting.
#[derive(Debug)]
pub(crate) struct DeliverySender(Arc<Flow>);

impl DeliverySender {
    /// What the two ends share.
    pub(crate) fn flow(&self) -> &Arc<Flow> {
        &self.0
    }

    /// Hands `delivery` over, unless the window is full or the caller is gone.
    pub(crate) fn try_send(&self, delivery: Delivery) -> Result<(), TrySendError<Delivery>> {
        let waker = {
            let mut state = self.0.lock();
            if !state.receiving {
                return Err(TrySendError::Closed(delivery));
            }
            if state.queue.len() >= state.capacity {
                return Err(TrySendError::Full(delivery));
            }
            state.queue.push_back(delivery);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Resolves once the caller is gone (its end dropped). While a delivery waits for
    /// room, wait with [`DeliverySender::room`] alone: both are woken through the same
    /// notification, which only one of them would get.
    pub(crate) async fn gone(&self) {
        loop {
            let taken = self.0.taken.notified();
            let mut taken = std::pin::pin!(taken);
            taken.as_mut().enable();
            if !self.0.lock().receiving {
                return;
            }
            taken.await;
        }
    }

    /// Waits until the window has room (true) or the caller is gone (false).
    pub(crate) async fn room(&self) -> bool {
        loop {
            let taken = self.0.taken.notified();
            let mut taken = std::pin::pin!(taken);
            taken.as_mut().enable();
            {
                let state = self.0.lock();
                if !state.receiving {
                    return false;
                }
                if state.queue.len() < state.capacity {
                    return true;
                }
            }
            taken.await;
        }
    }
}

impl Clone for DeliverySender {
    fn clone(&self) -> Self {
        self.0.lock().senders += 1;
        DeliverySender(self.0.clone())
    }
}

impl Drop for DeliverySender {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.0.lock();
            state.senders -= 1;
            if state.senders == 0 {
                state.waker.take()
            } else {
                None
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The caller's end: takes the pieces in order.
#[derive(Debug)]
pub(crate) struct Deliveries(Arc<Flow>);

impl Deliveries {
    /// What the two ends share.
    pub(crate) fn flow(&self) -> &Arc<Flow> {
        &self.0
    }

    /// The next piece; `None` once the connection side is gone and nothing waits.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        let mut state = self.0.lock();
        if let Some(delivery) = state.queue.pop_front() {
            if let Delivery::Data(chunk) = &delivery {
                state.unread = state.unread.saturating_sub(chunk.len());
                state.waiting_since = (state.unread > 0).then(Instant::now);
            }
            drop(state);
            self.0.taken.notify_one();
            return Poll::Ready(Some(delivery));
        }
        if state.senders == 0 {
            return Poll::Ready(None);
        }
        if !state
            .waker
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            state.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// The next piece; `None` once the connection side is gone and nothing waits.
    pub(crate) fn recv(&mut self) -> impl Future<Output = Option<Delivery>> + '_ {
        std::future::poll_fn(|cx| self.poll_recv(cx))
    }
}

impl Drop for Deliveries {
    fn drop(&mut self) {
        {
            let mut state = self.0.lock();
            state.receiving = false;
            state.waker = None;
            state.queue.clear();
        }
        // A connection waiting for room learns the caller is gone.
        self.0.taken.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(bytes: &'static [u8]) -> Delivery {
        Delivery::Data(Bytes::from_static(bytes))
    }

    #[tokio::test]
    async fn pieces_arrive_in_order_and_the_end_after_the_last_sender() {
        let (sender, mut receiver) = channel(4);
        let second = sender.clone();
        sender.try_send(data(b"a")).unwrap();
        second.try_send(Delivery::End).unwrap();
        drop(sender);
        assert!(matches!(receiver.recv().await, Some(Delivery::Data(d)) if d == "a"));
        assert!(matches!(receiver.recv().await, Some(Delivery::End)));
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(20), receiver.recv());
        assert!(waiting.await.is_err(), "a sender is left: nothing ends yet");
        drop(second);
        assert!(receiver.recv().await.is_none());
    }

    #[tokio::test]
    async fn a_full_window_refuses_until_the_caller_takes_and_a_gone_caller_closes() {
        let (sender, mut receiver) = channel(2);
        sender.flow().handed(2);
        sender.try_send(data(b"ab")).unwrap();
        sender.try_send(Delivery::End).unwrap();
        assert!(sender.flow().full(usize::MAX, 1), "no room for a piece");
        assert!(!sender.flow().full(usize::MAX, 0));
        assert!(
            sender.flow().full(2, 0),
            "two bytes unread fill a window of two"
        );
        assert!(matches!(
            sender.try_send(Delivery::End),
            Err(TrySendError::Full(_))
        ));
        let room = tokio::spawn(async move {
            let room = sender.room().await;
            (room, sender)
        });
        tokio::task::yield_now().await;
        assert!(receiver.recv().await.is_some());
        assert_eq!(receiver.flow().unread(), 0, "taking data counts it taken");
        let (room, sender) = room.await.unwrap();
        assert!(room);
        drop(receiver);
        assert!(!sender.room().await, "the caller is gone");
        assert!(matches!(
            sender.try_send(Delivery::End),
            Err(TrySendError::Closed(_))
        ));
    }
}
