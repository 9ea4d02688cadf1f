//! A limit on things held at once (connections, requests), shared by every thread of a
//! server: taking and giving back touch one atomic word; a lock only when someone waits.
//!
//! A `tokio::sync::Semaphore` takes its waiters' lock on every release, which every
//! connection of every thread then contends for once per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// At most `limit` permits out at once.
#[derive(Debug)]
pub(crate) struct Limit {
    most: usize,
    taken: AtomicUsize,
    freed: Notify,
    /// Tasks waiting for a permit: a release wakes them only when there are some.
    waiters: AtomicUsize,
}

/// One of a [`Limit`]'s permits, given back on drop.
#[derive(Debug)]
pub(crate) struct Permit(Arc<Limit>);

/// A permit taken at once, or the wait for one: what a request's future starts with. The
/// wait is boxed, so that a future that did not wait holds two words, not the wait.
pub(crate) enum Admission {
    Granted(Permit),
    Waiting(std::pin::Pin<Box<dyn Future<Output = Permit> + Send>>),
}

impl Admission {
    /// The permit, once there is one.
    pub(crate) async fn permit(self) -> Permit {
        match self {
            Admission::Granted(permit) => permit,
            Admission::Waiting(wait) => wait.await,
        }
    }
}

impl Limit {
    pub(crate) fn new(limit: usize) -> Arc<Limit> {
        Arc::new(Limit {
            most: limit,
            taken: AtomicUsize::new(0),
            freed: Notify::new(),
            waiters: AtomicUsize::new(0),
        })
    }

    /// A permit, if one is free now.
    pub(crate) fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        let mut taken = self.taken.load(Ordering::SeqCst);
        loop {
            if taken >= self.most {
                return None;
            }
            match self.taken.compare_exchange_weak(
                taken,
                taken + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return Some(Permit(self.clone())),
                Err(actual) => taken = actual,
            }
        }
    }

    /// A permit now if one is free, else the wait for one, which holds `hold` until it
    /// ends (what must be kept until the permit's holder can use it). The wait's state (a
    /// `Notified`) is boxed: allocated only by a task that waits.
    pub(crate) fn admit(self: &Arc<Self>, hold: impl Send + 'static) -> Admission {
        if let Some(permit) = self.try_acquire() {
            drop(hold);
            return Admission::Granted(permit);
        }
        let limit = self.clone();
        Admission::Waiting(Box::pin(async move {
            let permit = limit.wait().await;
            drop(hold);
            permit
        }))
    }

    /// A permit, once one is free.
    pub(crate) async fn acquire(self: Arc<Self>) -> Permit {
        self.admit(()).permit().await
    }

    async fn wait(self: Arc<Self>) -> Permit {
        // SeqCst with `Permit::drop`: either the retry below sees the permit given back,
        // or the giver sees this waiter and wakes it.
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self);
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(permit) = self.try_acquire() {
                return permit;
            }
            freed.await;
        }
    }

    /// Permits out now.
    #[cfg(test)]
    pub(crate) fn taken(&self) -> usize {
        self.taken.load(Ordering::SeqCst)
    }
}

/// Counts a waiting task while it lives.
struct Waiting<'a>(&'a Limit);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.taken.fetch_sub(1, Ordering::SeqCst);
        if self.0.waiters.load(Ordering::SeqCst) > 0 {
            self.0.freed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiter_gets_the_permit_given_back() {
        let limit = Limit::new(2);
        let first = limit.try_acquire().unwrap();
        let _second = limit.clone().acquire().await;
        assert!(limit.try_acquire().is_none());
        let waiter = tokio::spawn(limit.clone().acquire());
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(first);
        let third = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
        assert_eq!(limit.taken(), 2);
        drop(third);
        assert_eq!(limit.taken(), 1);
    }

    #[test]
    fn many_threads_never_hold_more_than_the_limit() {
        let limit = Limit::new(3);
        let most = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (limit, most) = (limit.clone(), most.clone());
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    runtime.block_on(async {
                        for _ in 0..2000 {
                            let permit = limit.clone().acquire().await;
                            most.fetch_max(limit.taken(), Ordering::SeqCst);
                            tokio::task::yield_now().await;
                            drop(permit);
                        }
                    });
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert!(most.load(Ordering::SeqCst) <= 3);
        assert_eq!(limit.taken(), 0);
    }
}
