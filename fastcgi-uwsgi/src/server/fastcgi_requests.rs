//! The request futures of one FastCGI connection. The first runs in a place of its own,
//! polled with the connection's own waker and stopped by dropping it: a front server that
//! does not multiplex (nginx, Apache, HAProxy) never has another, and so costs no set, no
//! waker and no abort handle per request. Requests multiplexed beside it go to a set that
//! polls only those woken, each stoppable by its handle.

use std::task::{Context, Poll};

use fastcgi_codec::RequestId;
use futures_util::StreamExt;
use futures_util::future::{AbortHandle, Abortable};
use futures_util::stream::FuturesUnordered;

use crate::server::session::{RequestFuture, Requests};

/// How a started request is stopped.
#[derive(Debug)]
pub(crate) enum Started {
    /// It runs in the first place: dropping it stops it.
    First,
    /// It runs in the set.
    InSet(AbortHandle),
}

#[derive(Default)]
pub(crate) struct FastCgiRequests {
    first: Option<(RequestId, RequestFuture)>,
    more: FuturesUnordered<Abortable<RequestFuture>>,
}

impl FastCgiRequests {
    /// Runs `future` for request `request_id` from now on.
    pub(crate) fn start(&mut self, request_id: RequestId, future: RequestFuture) -> Started {
        if self.first.is_none() {
            self.first = Some((request_id, future));
            return Started::First;
        }
        let (abort, registration) = AbortHandle::new_pair();
        self.more.push(Abortable::new(future, registration));
        Started::InSet(abort)
    }

    /// Stops request `request_id`, started as `started`.
    pub(crate) fn stop(&mut self, request_id: RequestId, started: Started) {
        match started {
            Started::First => {
                if self.first.as_ref().is_some_and(|(id, _)| *id == request_id) {
                    self.first = None;
                }
            }
            Started::InSet(abort) => abort.abort(),
        }
    }
}

impl Requests for FastCgiRequests {
    fn is_empty(&self) -> bool {
        self.first.is_none() && self.more.is_empty()
    }

    fn poll_ended(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some((_, future)) = self.first.as_mut()
            && future.as_mut().poll(cx).is_ready()
        {
            self.first = None;
            return Poll::Ready(());
        }
        if !self.more.is_empty() && self.more.poll_next_unpin(cx).is_ready() {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A future that ends once `gate` is at least `at`, and counts itself dropped.
    fn request(gate: &Arc<AtomicUsize>, at: usize, dropped: &Arc<AtomicUsize>) -> RequestFuture {
        struct Dropped(Arc<AtomicUsize>);
        impl Drop for Dropped {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let (gate, dropped) = (gate.clone(), Dropped(dropped.clone()));
        Box::pin(std::future::poll_fn(move |cx| {
            let _keep = &dropped;
            if gate.load(Ordering::SeqCst) >= at {
                Poll::Ready(())
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }))
    }

    fn poll(requests: &mut FastCgiRequests) -> Poll<()> {
        requests.poll_ended(&mut Context::from_waker(std::task::Waker::noop()))
    }

    #[test]
    fn the_first_runs_apart_and_the_others_in_the_set_each_stopped_alone() {
        let (gate, dropped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut requests = FastCgiRequests::default();
        assert!(requests.is_empty());
        assert_eq!(poll(&mut requests), Poll::Pending);
        let one = RequestId::new(1);
        let first = requests.start(one, request(&gate, 1, &dropped));
        assert!(matches!(first, Started::First));
        let second = requests.start(RequestId::new(2), request(&gate, 1, &dropped));
        let third = requests.start(RequestId::new(3), request(&gate, 2, &dropped));
        assert!(matches!(second, Started::InSet(_)));
        assert_eq!(poll(&mut requests), Poll::Pending);
        // Stopping the second leaves the first and the third running.
        requests.stop(RequestId::new(2), second);
        assert_eq!(poll(&mut requests), Poll::Ready(()), "the aborted one ends");
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        assert_eq!(poll(&mut requests), Poll::Pending);
        // The first ends; its place takes the next request.
        gate.store(1, Ordering::SeqCst);
        assert_eq!(poll(&mut requests), Poll::Ready(()));
        assert_eq!(dropped.load(Ordering::SeqCst), 2);
        assert!(!requests.is_empty(), "the third runs on");
        let fourth = requests.start(RequestId::new(4), request(&gate, 9, &dropped));
        assert!(matches!(fourth, Started::First));
        // A stale stop of request 1 leaves request 4, which now runs first, alone.
        requests.stop(one, first);
        assert_eq!(dropped.load(Ordering::SeqCst), 2);
        requests.stop(RequestId::new(4), fourth);
        assert_eq!(dropped.load(Ordering::SeqCst), 3, "dropped at once");
        requests.stop(RequestId::new(3), third);
        assert_eq!(poll(&mut requests), Poll::Ready(()));
        assert_eq!(dropped.load(Ordering::SeqCst), 4);
        assert!(requests.is_empty());
    }
}
