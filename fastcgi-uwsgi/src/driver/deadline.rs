//! A connection's deadline: one timer per connection, set again only when it must fire
//! sooner or when it fired before the deadline moved on.
//!
//! A connection pushes its deadline on with every read and write. Setting a timer for each
//! would move an entry in the runtime's timer wheel each time, and waking the runtime to
//! re-arm its sleep when the new entry is the earliest. Instead the timer stays where it
//! is while the deadline moves later; when it fires, the deadline is checked and the
//! timer set once more if it has not passed.

use std::pin::Pin;

use tokio::time::{Instant, Sleep};

/// When a connection's current wait ends, and where its timer is set.
#[derive(Debug, Default)]
pub(crate) struct Deadline {
    /// When the wait ends, if the connection waits for anything with a limit.
    target: Option<Instant>,
    /// Where the timer is set: never later than `target`.
    armed: Option<Instant>,
}

impl Deadline {
    /// A timer for [`Deadline::expired`], set nowhere yet.
    pub(crate) fn timer() -> Sleep {
        // Far enough never to fire; no entry in the wheel until it is first set or polled.
        tokio::time::sleep_until(Instant::now() + std::time::Duration::from_secs(1 << 30))
    }

    /// Ends the wait at `target` (or never).
    pub(crate) fn set(&mut self, target: Option<Instant>) {
        self.target = target;
    }

    /// Completes once the deadline has passed; never while there is none.
    pub(crate) async fn expired(&mut self, mut timer: Pin<&mut Sleep>) {
        loop {
            let Some(target) = self.target else {
                return std::future::pending().await;
            };
            if self.armed.is_none_or(|armed| armed > target) {
                timer.as_mut().reset(target);
                self.armed = Some(target);
            }
            timer.as_mut().await;
            if Instant::now() >= target {
                return;
            }
            // Fired for a deadline that has moved on since.
            self.armed = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn fires_at_the_latest_deadline_set() {
        let start = Instant::now();
        let mut timer = std::pin::pin!(Deadline::timer());
        let mut deadline = Deadline::default();
        deadline.set(Some(start + Duration::from_secs(10)));
        // Armed at 10 s; the deadline then moves on to 25 s, as activity pushes it.
        let wait = tokio::time::timeout(Duration::from_secs(5), deadline.expired(timer.as_mut()));
        assert!(wait.await.is_err());
        deadline.set(Some(start + Duration::from_secs(25)));
        deadline.expired(timer.as_mut()).await;
        assert_eq!(Instant::now() - start, Duration::from_secs(25));
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_deadline_sets_the_timer_sooner() {
        let start = Instant::now();
        let mut timer = std::pin::pin!(Deadline::timer());
        let mut deadline = Deadline::default();
        deadline.set(Some(start + Duration::from_secs(60)));
        let wait = tokio::time::timeout(Duration::from_secs(1), deadline.expired(timer.as_mut()));
        assert!(wait.await.is_err());
        deadline.set(Some(start + Duration::from_secs(3)));
        deadline.expired(timer.as_mut()).await;
        assert_eq!(Instant::now() - start, Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn no_deadline_never_fires() {
        let mut timer = std::pin::pin!(Deadline::timer());
        let mut deadline = Deadline::default();
        let wait = tokio::time::timeout(
            Duration::from_secs(1 << 20),
            deadline.expired(timer.as_mut()),
        );
        assert!(wait.await.is_err());
    }
}
