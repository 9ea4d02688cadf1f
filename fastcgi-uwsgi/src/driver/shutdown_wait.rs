//! A connection's wait for the server's shutdown, polled on every turn of its loop at the
//! cost of a comparison.
//!
//! Polling a registered `watch` change (a `Notify` waiter) takes the lock every
//! connection of the server shares, on every thread, to compare wakers; a connection
//! polls it each time anything else happens on it. The task's waker rarely changes, so
//! the wait is polled again only when it did, or once the shutdown has begun.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::sync::watch;

/// The shutdown wait of one connection.
pub(crate) struct ShutdownWait<'a, F> {
    /// The server's shutdown value: it changes once, when the shutdown begins. `None`
    /// for a connection no shutdown reaches (a client's): the wait never completes.
    shutdown: Option<&'a watch::Receiver<bool>>,
    /// The change of the shutdown value (`watch::Receiver::changed`).
    changed: Pin<&'a mut F>,
    /// The waker `changed` was last polled with; `None` once it completed.
    waker: Option<Waker>,
    /// Whether `changed` was ever polled.
    polled: bool,
}

impl<'a, F: Future> ShutdownWait<'a, F> {
    pub(crate) fn new(
        shutdown: Option<&'a watch::Receiver<bool>>,
        changed: Pin<&'a mut F>,
    ) -> Self {
        ShutdownWait {
            shutdown,
            changed,
            waker: None,
            polled: false,
        }
    }

    /// Whether the wait can still complete: it completes once.
    pub(crate) fn is_pending(&self) -> bool {
        self.shutdown.is_some() && (!self.polled || self.waker.is_some())
    }

    /// Ready once the shutdown has begun. A server gone without one leaves the wait
    /// pending for good: its connections serve on.
    pub(crate) fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(waker) = &self.waker
            && waker.will_wake(cx.waker())
            && !self
                .shutdown
                .is_some_and(|shutdown| matches!(shutdown.has_changed(), Ok(true)))
        {
            // Still registered with this task's waker: a shutdown or the server's end
            // wakes it, and nothing has happened that polling would find.
            return Poll::Pending;
        }
        self.polled = true;
        match self.changed.as_mut().poll(cx) {
            Poll::Ready(_) => {
                self.waker = None;
                Poll::Ready(())
            }
            Poll::Pending => {
                self.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    /// [`ShutdownWait::poll_wait`] as a future.
    pub(crate) fn wait(&mut self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(|cx| self.poll_wait(cx))
    }
}
