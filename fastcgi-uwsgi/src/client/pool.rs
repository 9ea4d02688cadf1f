//! The FastCGI connections to one backend: reused while they live, shared by several
//! requests once the backend said it multiplexes, bounded in number.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
#[cfg(test)]
use std::time::Duration;
use std::time::Instant;

use tokio::sync::{Notify, mpsc, oneshot};

use super::backend::Backend;
use super::config::ClientConfig;
pub(crate) use super::connections::QUEUED_AFTER;
use super::connections::{Connections, Entry, Home, Taken};
use super::error::{ClientError, TimeoutKind};
use super::fastcgi_conn::{self, Begin, Command};

/// Connections opened with GET_VALUES alone that may wait unanswered at once: a backend
/// whose workers are all taken leaves them in its listen queue, where they cost nothing
/// but a descriptor, and more would be no sooner taken.
const MAX_PENDING: usize = 4;

/// How much later than the oldest waiting request one may have queued and still take a
/// slot before it, for being on the thread that runs the slot's connection: a request
/// waits at most this much longer for its turn.
const SAME_THREAD_WINDOW: std::time::Duration = std::time::Duration::from_millis(1);

/// A connection's slot given to a waiting request: where its commands go, its id, and the
/// request back for its caller to send, or `None` when the connection that freed the slot
/// began the request itself.
#[derive(Debug)]
struct Grant {
    commands: mpsc::Sender<Command>,
    conn_id: u64,
    begin: Option<Box<Begin>>,
}

/// A request waiting for a connection, first come first served, with what the connection
/// needs to begin it.
#[derive(Debug)]
struct Waiter {
    id: u64,
    home: Home,
    /// When it queued.
    since: Instant,
    grant: oneshot::Sender<Grant>,
    begin: Box<Begin>,
}

#[derive(Debug, Default)]
struct State {
    entries: Connections,
    connecting: usize,
    next_id: u64,
    /// What the backend answered to GET_VALUES (FCGI_MPXS_CONNS), once it has: later
    /// connections neither ask again nor make requests wait for the answer.
    multiplexes: Option<bool>,
    /// The backend answered GET_VALUES: a new connection is opened with GET_VALUES alone
    /// and takes requests once answered, so that no request waits on a connection in the
    /// backend's listen queue while one a worker holds frees up.
    answers_probes: bool,
    /// Requests waiting for a slot, oldest first.
    waiters: VecDeque<Waiter>,
    next_waiter: u64,
}

impl State {
    /// The connection a request from `home` should take (see [`Connections::best`]).
    fn best(&self, home: Home) -> Option<u64> {
        self.entries.best(home)
    }

    /// Gives free slots to waiting requests, oldest first; a slot goes to a request from
    /// the thread that runs its connection when one queued soon after the oldest
    /// ([`SAME_THREAD_WINDOW`]).
    fn hand_off(&mut self) {
        while let Some(home) = self.waiters.front().map(|oldest| oldest.home) {
            let Some(id) = self.best(home) else {
                return;
            };
            self.give(id, false);
        }
    }

    /// Gives the slots the connection `id` just freed to waiting requests, as
    /// [`State::hand_off`] would, and returns the first of their requests for that
    /// connection to begin at once: the backend's worker gets its next request without
    /// the caller's task and the connection's passing it between them. Every other
    /// connection is as the last hand-off left it: with no room while requests wait. So
    /// no other needs looking at, where a pool in front of many workers holds hundreds.
    fn hand_off_freed(&mut self, id: u64) -> Option<Box<Begin>> {
        let mut next = None;
        while !self.waiters.is_empty() && self.entries.get(id).is_some_and(Entry::has_room) {
            let begin = self.give(id, next.is_none());
            next = next.or(begin);
        }
        next
    }

    /// Gives a slot of the connection `id` (which has room) to the oldest waiting
    /// request, or to a request of the connection's thread that queued within
    /// [`SAME_THREAD_WINDOW`] of it. With `begin_here` the request is returned for the
    /// connection to begin; else its caller gets it back with the slot. A request that
    /// left meanwhile gives the slot back.
    fn give(&mut self, id: u64, begin_here: bool) -> Option<Box<Begin>> {
        let since = self.waiters.front().map(|oldest| oldest.since)?;
        let (commands, entry_home) = self.entries.update(id, |entry| {
            entry.in_flight += 1;
            entry.served += 1;
            (entry.commands.clone(), entry.home)
        })?;
        let conn_id = id;
        let index = self
            .waiters
            .iter()
            .take_while(|w| w.since.duration_since(since) < SAME_THREAD_WINDOW)
            .position(|w| w.home == entry_home)
            .unwrap_or(0);
        let waiter = self.waiters.remove(index)?;
        let (here, back) = if begin_here {
            (Some(waiter.begin), None)
        } else {
            (None, Some(waiter.begin))
        };
        let grant = Grant {
            commands,
            conn_id,
            begin: back,
        };
        if waiter.grant.send(grant).is_err() {
            // It left meanwhile: the slot goes to the next.
            self.entries.update(id, |entry| {
                entry.in_flight -= 1;
                entry.served -= 1;
            });
            return None;
        }
        here
    }

    fn pending(&self) -> usize {
        self.entries.pending() + self.connecting
    }
}

/// Counters of one backend's pool, for health pages and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Connections open now.
    pub open: usize,
    /// Open connections carrying no request.
    pub idle: usize,
    /// Requests in flight.
    pub in_flight: usize,
    /// Open connections the backend multiplexes on.
    pub multiplexed: usize,
    /// Connections opened since the pool was made.
    pub opened: u64,
}

/// The pool of one backend.
#[derive(Debug)]
pub(crate) struct Pool {
    pub(crate) backend: Backend,
    pub(crate) name: Arc<str>,
    pub(crate) config: Arc<ClientConfig>,
    state: Mutex<State>,
    changed: Notify,
    opened: AtomicU64,
}

/// A request's claim on a connection: given back on drop unless the connection took the
/// request (a caller dropped between the two would otherwise hold the slot for ever).
#[derive(Debug)]
pub(crate) struct Lease {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) conn_id: u64,
    pool: Option<Arc<Pool>>,
}

impl Lease {
    /// The connection has the request: it gives the slot back when the request ends.
    pub(crate) fn handed_over(mut self) {
        self.pool = None;
    }
}

/// What [`Pool::acquire`] got a request.
#[derive(Debug)]
pub(crate) struct Acquired {
    pub(crate) lease: Lease,
    /// The request, for the caller to send on the lease's connection; `None` when the
    /// connection began it already (its caller hears of it through `Begin::started`).
    pub(crate) begin: Option<Box<Begin>>,
}

/// The pool's answer when a request on a connection ended.
#[derive(Debug)]
pub(crate) struct Released {
    /// False when the connection should close now (idle past the pool's idle limit, or
    /// no longer usable and empty).
    pub(crate) keep: bool,
    /// A waiting request the connection is to begin at once.
    pub(crate) next: Option<Box<Begin>>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.unlease(self.conn_id);
        }
    }
}

/// What a request does next in [`Pool::acquire`].
enum Step {
    /// Open a connection carrying it.
    Open,
    /// Wait for a slot, having opened a connection that asks GET_VALUES first with `open`.
    Wait { open: bool },
}

/// A request's place in the pool's queue of waiters; leaves it on drop, giving back a slot
/// granted and not taken. The request to begin is here while it is not queued, and in its
/// [`Waiter`] while it is.
struct Queued<'a> {
    pool: &'a Pool,
    begin: Option<Box<Begin>>,
    waiter: Option<(u64, oneshot::Receiver<Grant>)>,
}

impl Queued<'_> {
    fn enqueue(&mut self, state: &mut State) {
        if self.waiter.is_none()
            && let Some(begin) = self.begin.take()
        {
            let (grant, receiver) = oneshot::channel();
            let id = state.next_waiter;
            state.next_waiter += 1;
            state.waiters.push_back(Waiter {
                id,
                home: Home::here(),
                since: Instant::now(),
                grant,
                begin,
            });
            self.waiter = Some((id, receiver));
        }
    }

    /// Leaves the queue, taking the request back; returns the slot granted meanwhile, if
    /// one was.
    fn leave(&mut self, state: &mut State) -> Option<Grant> {
        let (id, mut receiver) = self.waiter.take()?;
        if let Some(at) = state.waiters.iter().position(|w| w.id == id) {
            self.begin = state.waiters.remove(at).map(|waiter| waiter.begin);
            return None;
        }
        receiver.try_recv().ok()
    }

    /// The request, when it is not queued.
    fn take_begin(&mut self, pool: &Pool) -> Result<Box<Begin>, ClientError> {
        // Only a granted request leaves the queue without it, and a grant is taken.
        self.begin.take().ok_or_else(|| ClientError::Closed {
            backend: pool.name.to_string(),
        })
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        if self.waiter.is_some() {
            let mut state = self.pool.lock();
            // A request its connection began is the connection's to end.
            if let Some(grant) = self.leave(&mut state)
                && grant.begin.is_some()
            {
                state.entries.update(grant.conn_id, |entry| {
                    entry.in_flight = entry.in_flight.saturating_sub(1);
                });
                state.hand_off();
            }
        }
    }
}

/// Counts a connection being opened; uncounted on drop, also when the caller is dropped
/// while it connects, or with [`Connecting::made`] once the connection is in the pool.
struct Connecting<'a> {
    pool: &'a Pool,
    counted: bool,
}

impl<'a> Connecting<'a> {
    fn new(pool: &'a Pool) -> Self {
        Connecting {
            pool,
            counted: true,
        }
    }

    /// The connection is made and entered in `state`: it stops being counted as opening
    /// in the same lock, so that no request sees it as neither (and opens one more than
    /// the limit).
    fn made(mut self, state: &mut State) {
        state.connecting -= 1;
        self.counted = false;
    }
}

impl Drop for Connecting<'_> {
    fn drop(&mut self) {
        if self.counted {
            self.pool.lock().connecting -= 1;
        }
        self.pool.changed.notify_waiters();
    }
}

impl Pool {
    pub(crate) fn new(backend: Backend, config: Arc<ClientConfig>) -> Arc<Pool> {
        Arc::new(Pool {
            name: backend.to_string().into(),
            backend,
            config,
            state: Mutex::new(State::default()),
            changed: Notify::new(),
            opened: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A connection with room for one more request: a pooled one (the most recently used
    /// idle one, or the least loaded multiplexed one) when no request waits before this
    /// one, else the first slot to free up within the connect timeout, oldest waiter
    /// first. Meanwhile, while under the connection limit, a new connection is opened:
    /// with this request on it while the backend is not known to answer GET_VALUES; with
    /// GET_VALUES alone once it is, the connection taking requests when the answer comes
    /// (a worker took it), so that no request waits in the backend's listen queue while
    /// a connection a worker holds frees up (php-fpm's workers each serve one connection
    /// until it closes). A request that waits may be begun by the connection whose slot
    /// it gets.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        begin: Box<Begin>,
    ) -> Result<Acquired, ClientError> {
        let deadline = tokio::time::Instant::now() + self.config.connect_timeout();
        let mut queued = Queued {
            pool: self,
            begin: Some(begin),
            waiter: None,
        };
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let step = {
                let mut state = self.lock();
                if queued.waiter.is_none()
                    && state.waiters.is_empty()
                    && let Some(id) = state.best(Home::here())
                    && let Some(commands) = state.entries.update(id, |entry| {
                        entry.in_flight += 1;
                        entry.served += 1;
                        entry.commands.clone()
                    })
                {
                    let lease = Lease {
                        commands,
                        conn_id: id,
                        pool: Some(self.clone()),
                    };
                    return Ok(Acquired {
                        lease,
                        begin: Some(queued.take_begin(self)?),
                    });
                }
                // A connection on its way will soon say whether it multiplexes.
                let probing = state.multiplexes.is_none()
                    && (state.entries.iter().any(|e| e.usable && e.probing)
                        || (self.config.multiplexing() && state.connecting > 0));
                let room = !probing
                    && state.entries.len() + state.connecting < self.config.max_connections();
                if state.answers_probes {
                    let waiting = state.waiters.len() + usize::from(queued.waiter.is_none());
                    let open = room && state.pending() < MAX_PENDING.min(waiting);
                    if open {
                        state.connecting += 1;
                    }
                    queued.enqueue(&mut state);
                    Step::Wait { open }
                } else if room {
                    state.connecting += 1;
                    if let Some(grant) = queued.leave(&mut state) {
                        // A slot came meanwhile: take it, open nothing.
                        state.connecting -= 1;
                        return Ok(self.granted(grant));
                    }
                    Step::Open
                } else {
                    queued.enqueue(&mut state);
                    Step::Wait { open: false }
                }
            };
            match step {
                Step::Open => {
                    let begin = queued.take_begin(self)?;
                    let lease = self.open().await?;
                    return Ok(Acquired {
                        lease,
                        begin: Some(begin),
                    });
                }
                Step::Wait { open: true } => self.open_pending().await?,
                Step::Wait { open: false } => {}
            }
            let granted = async {
                match queued.waiter.as_mut() {
                    Some((_, receiver)) => receiver.await.ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                grant = granted => {
                    queued.waiter = None;
                    // A waiter leaves the queue with a grant or with its caller: there is
                    // always one.
                    let grant = grant.ok_or_else(|| ClientError::Closed {
                        backend: self.name.to_string(),
                    })?;
                    return Ok(self.granted(grant));
                }
                () = &mut changed => {}
                () = tokio::time::sleep_until(deadline) => {
                    // A slot granted at the last moment (the request perhaps begun) is
                    // taken, not timed out.
                    if let Some(grant) = queued.leave(&mut self.lock()) {
                        return Ok(self.granted(grant));
                    }
                    return Err(ClientError::Timeout {
                        backend: self.name.to_string(),
                        kind: TimeoutKind::Connect,
                    });
                }
            }
        }
    }

    fn granted(self: &Arc<Self>, grant: Grant) -> Acquired {
        // A request its connection began holds its slot until the connection ends it.
        let pool = grant.begin.is_some().then(|| self.clone());
        Acquired {
            lease: Lease {
                commands: grant.commands,
                conn_id: grant.conn_id,
                pool,
            },
            begin: grant.begin,
        }
    }

    async fn open(self: &Arc<Self>) -> Result<Lease, ClientError> {
        let connecting = Connecting::new(self);
        let stream = self
            .backend
            .connect(self.config.connect_timeout(), true)
            .await?;
        let mut state = self.lock();
        self.opened.fetch_add(1, Ordering::Relaxed);
        let id = state.next_id;
        state.next_id += 1;
        let multiplexes = state.multiplexes;
        let ask = self.config.multiplexing() && multiplexes.is_none();
        let capacity = if multiplexes == Some(true) {
            self.config.max_requests_in_flight()
        } else {
            1
        };
        let commands = fastcgi_conn::spawn(stream, self.clone(), id, ask, capacity > 1);
        state.entries.push(Entry {
            id,
            commands: commands.clone(),
            in_flight: 1,
            capacity,
            usable: true,
            served: 1,
            probing: ask,
            taken: Taken::Unknown,
            opened_at: Instant::now(),
            idle_since: Instant::now(),
            home: Home::here(),
        });
        connecting.made(&mut state);
        state.hand_off();
        Ok(Lease {
            commands,
            conn_id: id,
            pool: Some(self.clone()),
        })
    }

    /// Opens a connection that asks GET_VALUES and takes requests once answered.
    async fn open_pending(self: &Arc<Self>) -> Result<(), ClientError> {
        let connecting = Connecting::new(self);
        let stream = self
            .backend
            .connect(self.config.connect_timeout(), true)
            .await?;
        let mut state = self.lock();
        self.opened.fetch_add(1, Ordering::Relaxed);
        let id = state.next_id;
        state.next_id += 1;
        let multiplexes = state.multiplexes == Some(true);
        let capacity = if multiplexes {
            self.config.max_requests_in_flight()
        } else {
            1
        };
        let commands = fastcgi_conn::spawn(stream, self.clone(), id, true, multiplexes);
        state.entries.push(Entry {
            id,
            commands,
            in_flight: 0,
            capacity,
            usable: true,
            served: 0,
            probing: true,
            taken: Taken::Pending,
            opened_at: Instant::now(),
            idle_since: Instant::now(),
            home: Home::here(),
        });
        connecting.made(&mut state);
        Ok(())
    }

    /// A request on `conn_id` ended: whether the connection stays, and a waiting request
    /// for it to begin.
    pub(crate) fn release(&self, conn_id: u64) -> Released {
        let mut state = self.lock();
        let idle = state.entries.idle();
        let queued_elsewhere = state.entries.queued_other_than(conn_id);
        let max_idle = self.config.max_idle();
        let keep = state.entries.update(conn_id, |entry| {
            entry.in_flight = entry.in_flight.saturating_sub(1);
            entry.idle_since = Instant::now();
            let keep = if entry.in_flight > 0 {
                true
            } else {
                // Closing frees this connection's worker for a connection the backend
                // has not taken yet.
                entry.usable && idle < max_idle && !(queued_elsewhere && entry.capacity == 1)
            };
            if !keep {
                entry.usable = false;
            }
            keep
        });
        let Some(keep) = keep else {
            return Released {
                keep: false,
                next: None,
            };
        };
        let next = if keep {
            state.hand_off_freed(conn_id)
        } else {
            None
        };
        Released { keep, next }
    }

    /// A request that was leased never reached the connection.
    pub(crate) fn unlease(&self, conn_id: u64) {
        let mut state = self.lock();
        state.entries.update(conn_id, |entry| {
            entry.in_flight = entry.in_flight.saturating_sub(1);
        });
        state.hand_off();
        drop(state);
        self.changed.notify_waiters();
    }

    /// The backend multiplexes on `conn_id`: it may carry this many requests at once.
    pub(crate) fn learnt(&self, conn_id: u64, multiplexes: bool) {
        let mut state = self.lock();
        state.multiplexes = Some(multiplexes);
        state.answers_probes = true;
        let capacity = if multiplexes {
            self.config.max_requests_in_flight()
        } else {
            1
        };
        state
            .entries
            .update(conn_id, |entry| entry.capacity = capacity);
        state.hand_off();
        drop(state);
        self.changed.notify_waiters();
    }

    /// What `conn_id`'s backend multiplexes is known, or will not be learnt from it.
    pub(crate) fn probed(&self, conn_id: u64) {
        self.lock()
            .entries
            .update(conn_id, |entry| entry.probing = false);
        self.changed.notify_waiters();
    }

    /// A first byte came on `conn_id`: the backend took the connection, which takes
    /// requests from now on.
    pub(crate) fn accepted(&self, conn_id: u64) {
        let mut state = self.lock();
        let was = state.entries.update(conn_id, |entry| {
            std::mem::replace(&mut entry.taken, Taken::Yes)
        });
        if was == Some(Taken::Pending) {
            state.hand_off();
            drop(state);
            // One fewer connection waits to be taken: another may be opened.
            self.changed.notify_waiters();
        }
    }

    /// `conn_id` has waited [`QUEUED_AFTER`] for the backend to take it: close one idle
    /// connection that a worker holds, so that the worker takes the waiting one. (Were none
    /// idle, the next connection to be released is closed instead: see `release`.)
    pub(crate) fn relieve(&self, conn_id: u64) {
        let idle = {
            let mut state = self.lock();
            let idle = state.entries.iter().find(|e| {
                e.id != conn_id
                    && e.usable
                    && e.taken == Taken::Yes
                    && e.in_flight == 0
                    && e.capacity == 1
            });
            let idle = idle.map(|entry| entry.id);
            idle.and_then(|id| {
                state.entries.update(id, |entry| {
                    entry.usable = false;
                    entry.commands.clone()
                })
            })
        };
        if let Some(commands) = idle {
            let _ = commands.try_send(Command::Close);
        }
    }

    /// `conn_id` takes no new request.
    pub(crate) fn retire(&self, conn_id: u64) {
        self.lock()
            .entries
            .update(conn_id, |entry| entry.usable = false);
    }

    /// Removes an idle connection after the idle timeout: false when a request was leased
    /// on it meanwhile (it stays).
    pub(crate) fn remove_if_idle(&self, conn_id: u64) -> bool {
        let mut state = self.lock();
        let idle = state.entries.get(conn_id).is_some_and(|e| e.in_flight == 0);
        if idle {
            state.entries.remove(conn_id);
        }
        idle
    }

    /// The connection closed.
    pub(crate) fn remove(&self, conn_id: u64) {
        self.lock().entries.remove(conn_id);
        self.changed.notify_waiters();
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let state = self.lock();
        PoolStats {
            open: state.entries.len(),
            idle: state.entries.iter().filter(|e| e.in_flight == 0).count(),
            in_flight: state.entries.iter().map(|e| e.in_flight).sum(),
            multiplexed: state.entries.iter().filter(|e| e.capacity > 1).count(),
            opened: self.opened.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request to begin, and where its request id is told.
    fn begin() -> (Box<Begin>, oneshot::Receiver<fastcgi_codec::RequestId>) {
        let (started, told) = oneshot::channel();
        let begin = Begin {
            env: Arc::new(cgi_env::Environ::new()),
            body: None,
            deliveries: super::super::delivery::channel(4).0,
            started,
            ended: None,
            app_status: super::super::body::AppStatus::default(),
        };
        (Box::new(begin), told)
    }

    fn waiter(state: &mut State, home: Home, since: Instant) -> oneshot::Receiver<Grant> {
        let (grant, receiver) = oneshot::channel();
        let id = state.next_waiter;
        state.next_waiter += 1;
        state.waiters.push_back(Waiter {
            id,
            home,
            since,
            grant,
            begin: begin().0,
        });
        receiver
    }

    #[test]
    fn an_idle_connection_of_the_callers_thread_is_taken_first() {
        let (here, there) = (Home(1), Home(2));
        let start = Instant::now();
        let mut state = State::default();
        state.entries.push(Entry::idle_for_test(1, here, start));
        // More recently used, but run by another thread.
        state.entries.push(Entry::idle_for_test(
            2,
            there,
            start + Duration::from_millis(5),
        ));
        assert_eq!(state.best(here), Some(1));
        assert_eq!(state.best(there), Some(2));
        // Busy connections of the caller's thread are passed over for an idle one.
        state.entries.update(1, |e| e.in_flight = 1);
        assert_eq!(state.best(here), Some(2));
    }

    #[test]
    fn a_freed_slot_goes_to_a_request_of_its_thread_only_within_the_window() {
        let (near, far) = (Home(1), Home(2));
        let start = Instant::now();
        let mut state = State::default();
        state.entries.push(Entry::idle_for_test(7, near, start));
        state.entries.update(7, |e| e.in_flight = 1);
        let mut oldest = waiter(&mut state, far, start);
        let mut soon_after = waiter(&mut state, near, start + SAME_THREAD_WINDOW / 2);
        state.entries.update(7, |e| e.in_flight = 0);
        state.hand_off();
        assert_eq!(soon_after.try_recv().map(|g| g.conn_id).ok(), Some(7));
        assert!(
            oldest.try_recv().is_err(),
            "the oldest waits for the next slot"
        );

        // One from the connection's thread that queued well after the oldest does not
        // go first.
        state.entries.update(7, |e| e.in_flight = 0);
        let mut late = waiter(&mut state, near, start + SAME_THREAD_WINDOW * 3);
        state.hand_off();
        assert_eq!(oldest.try_recv().map(|g| g.conn_id).ok(), Some(7));
        assert!(late.try_recv().is_err());
    }

    /// A pool of at most one connection, not multiplexed, to a backend that accepts
    /// connections and never answers.
    async fn one_connection_pool(connect_timeout: Duration) -> Arc<Pool> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let _accepting = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        let config = ClientConfig::fastcgi()
            .with_multiplexing(false)
            .with_max_connections(1)
            .with_connect_timeout(connect_timeout);
        Pool::new(Backend::new(&address), Arc::new(config))
    }

    #[tokio::test]
    async fn a_lease_dropped_before_its_request_was_handed_over_gives_its_slot_back() {
        let pool = one_connection_pool(Duration::from_millis(500)).await;
        let acquired = pool.acquire(begin().0).await.unwrap();
        assert!(
            acquired.begin.is_some(),
            "a new connection's request is sent by its caller"
        );
        assert_eq!(pool.stats().in_flight, 1);
        // The caller went away between the lease and handing the request over.
        drop(acquired);
        assert_eq!(pool.stats().in_flight, 0);
        let acquired = pool.acquire(begin().0).await.expect("the slot came back");
        acquired.lease.handed_over();
        assert_eq!(
            pool.stats().in_flight,
            1,
            "a handed-over slot is the connection's"
        );
        assert!(
            pool.acquire(begin().0).await.is_err(),
            "one connection, one request"
        );
    }

    #[tokio::test]
    async fn a_caller_gone_after_the_connection_began_its_request_leaves_the_slot_to_it() {
        let pool = one_connection_pool(Duration::from_secs(5)).await;
        let first = pool.acquire(begin().0).await.unwrap();
        let conn_id = first.lease.conn_id;
        first.lease.handed_over();
        let waiting = tokio::spawn({
            let pool = pool.clone();
            async move { pool.acquire(begin().0).await.map(|a| a.begin.is_none()) }
        });
        while pool.lock().waiters.is_empty() {
            tokio::task::yield_now().await;
        }
        // The first request ends: the connection is handed the waiting one to begin.
        let released = pool.release(conn_id);
        assert!(released.keep);
        assert!(
            released.next.is_some(),
            "the waiting request comes to the connection"
        );
        // Its caller goes away before it ran again: the slot stays the connection's,
        // which ends the request it began.
        waiting.abort();
        let _ = waiting.await;
        assert_eq!(pool.stats().in_flight, 1);
        let released = pool.release(conn_id);
        assert!(released.keep && released.next.is_none());
        assert_eq!(pool.stats().in_flight, 0);
    }

    #[test]
    fn the_connection_that_frees_a_slot_begins_the_next_request_itself() {
        let home = Home(1);
        let start = Instant::now();
        let mut state = State::default();
        state.entries.push(Entry::idle_for_test(3, home, start));
        state.entries.update(3, |e| e.in_flight = 1);
        let (first, mut first_started) = begin();
        let mut first_grant = {
            let (grant, receiver) = oneshot::channel();
            state.waiters.push_back(Waiter {
                id: 0,
                home,
                since: start,
                grant,
                begin: first,
            });
            receiver
        };
        let mut second_grant = waiter(&mut state, home, start);

        // The request ends: the oldest waiter's request comes back to the connection,
        // and its caller hears that it was begun (no request to send).
        state.entries.update(3, |e| e.in_flight = 0);
        let next = state.hand_off_freed(3).expect("a request to begin");
        let grant = first_grant.try_recv().expect("the caller is told");
        assert_eq!(grant.conn_id, 3);
        assert!(grant.begin.is_none(), "the connection has it");
        assert_eq!(state.entries.get(3).map(|e| e.in_flight), Some(1));
        let _ = next.started.send(fastcgi_codec::RequestId::new(1));
        assert!(first_started.try_recv().is_ok());
        assert!(second_grant.try_recv().is_err(), "no room for the second");

        // A slot freed elsewhere than by its connection goes back to the caller with its
        // request, for the caller to send.
        state.entries.update(3, |e| e.in_flight = 0);
        state.hand_off();
        let grant = second_grant.try_recv().expect("the second gets the slot");
        assert!(grant.begin.is_some());
    }
}
