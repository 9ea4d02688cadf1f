//! The connection driver both protocols share. It reads into the connection's budgeted
//! receive buffer, hands what arrived to the protocol's [`Session`], runs the requests'
//! futures inside the connection's own task, writes what they answer (vectored: a head,
//! its body and its end in one write), bounds every wait with one [`Deadline`], and ends
//! with a typed [`Outcome`]. A protocol says what the bytes mean, what the connection
//! waits for, and when it is done; it never touches the socket.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::budget::Budgets;
use crate::config::ServeConfig;
use crate::deadline::Deadline;
use crate::output::Output;
use crate::respond::{Outbound, OutboundSender};
use crate::server::Shared;
use crate::server::halves::Halves;
use crate::server::receive::{Block, Receive};
use crate::server::shutdown_wait::ShutdownWait;

/// What a connection waits for, each with its own timeout in [`ServeConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// A request, with nothing of one received.
    Idle,
    /// The rest of a request's head (FastCGI params, the uwsgi vars block).
    Head,
    /// The rest of a request body a service reads.
    Body,
    /// The peer to take what is written.
    Write,
}

impl Wait {
    fn timeout(self, config: &ServeConfig) -> Duration {
        match self {
            Wait::Idle => config.idle_timeout(),
            Wait::Head => config.params_timeout(),
            Wait::Body => config.body_timeout(),
            Wait::Write => config.write_timeout(),
        }
    }
}

/// Why a connection ended.
#[derive(Debug)]
pub(crate) enum Outcome<E> {
    /// Closed as the protocol says: the answers are out, the peer closed with nothing in
    /// flight, or the server shut down.
    Done,
    TimedOut(Wait),
    /// The protocol could not go on.
    Protocol(E),
    Io(std::io::Error),
}

/// How a connection with nothing left to write closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closing {
    /// At once: everything the peer sent was read, or nothing was answered.
    Now,
    /// The peer may still be sending toward an answer it has not read: end the write
    /// side, then read and drop until it closes too ([`crate::server::linger`]).
    Linger,
}

/// A request's future (service call and response streaming), boxed to be held beside the
/// connection's other work.
pub(crate) type RequestFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The request futures of one connection, polled by its task.
pub(crate) trait Requests: Default + Send {
    fn is_empty(&self) -> bool;
    /// Completes when one of the futures has ended.
    fn next(&mut self) -> impl Future<Output = ()> + Send + '_;
}

/// At most one request at a time (uwsgi): no set to allocate.
#[derive(Default)]
pub(crate) struct OneRequest(Option<RequestFuture>);

impl OneRequest {
    pub(crate) fn start(&mut self, request: RequestFuture) {
        self.0 = Some(request);
    }
}

impl Requests for OneRequest {
    fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    async fn next(&mut self) {
        if let Some(request) = self.0.as_mut() {
            request.await;
        }
        self.0 = None;
    }
}

impl<F> Requests for FuturesUnordered<F>
where
    F: Future + Send,
{
    fn is_empty(&self) -> bool {
        FuturesUnordered::is_empty(self)
    }

    async fn next(&mut self) {
        StreamExt::next(self).await;
    }
}

/// What the driver holds for the session to act on: the bytes to write, the requests'
/// futures, where the requests' answers come from, the budgets and what the server shares.
pub(crate) struct Parts<R> {
    pub(crate) output: Output,
    pub(crate) requests: R,
    /// Given to each request's future: its head, body and end come back through it.
    pub(crate) outbound: OutboundSender,
    pub(crate) budgets: Budgets,
    pub(crate) shared: Arc<Shared>,
}

/// One protocol's side of a connection.
pub(crate) trait Session: Send {
    type Requests: Requests;
    type Error: std::fmt::Display + Send;

    /// The protocol's name, for logs.
    const NAME: &'static str;

    /// Moves what the session queued by itself (FastCGI's connection queues records)
    /// into `output`. Called before every other call of a turn.
    fn queue(&mut self, output: &mut Output);

    /// With nothing left to write: whether the connection closes now, and how.
    /// `buffered`: received bytes not yet decoded; `shutting_down`: the server shuts down.
    fn closing(&self, read_open: bool, buffered: bool, shutting_down: bool) -> Option<Closing>;

    /// How the connection ended, once [`Session::closing`] said it closes.
    fn result(&self) -> Result<(), Self::Error>;

    /// What the connection waits for while nothing is left to write; `None` while only
    /// services are working (how long they take is theirs to bound).
    fn waiting_for(&self, buffered: bool) -> Option<Wait>;

    /// Whether the connection reads now (the peer's side still open).
    fn reading(&self) -> bool;

    /// Whether a request body is open: reads then feed a service, not only new requests.
    fn body_open(&self) -> bool;

    /// Decodes what arrived and acts on it; `eof` when the peer closed its side.
    fn receive(
        &mut self,
        parts: &mut Parts<Self::Requests>,
        input: &mut BytesMut,
        block: Option<&Block>,
        eof: bool,
    ) -> Result<(), Self::Error>;

    /// Writes what a request's future sent: a head, body bytes, the end.
    fn apply(
        &mut self,
        parts: &mut Parts<Self::Requests>,
        key: u16,
        message: Outbound,
    ) -> Result<(), Self::Error>;

    /// The connection ended: fail what is still open, and log what only the protocol
    /// knows (the driver logs timeouts and I/O errors).
    fn end(
        &mut self,
        parts: &mut Parts<Self::Requests>,
        outcome: &Outcome<Self::Error>,
        peer: Option<SocketAddr>,
    );
}

/// Drives `session` on `io` until the connection ends.
pub(crate) async fn drive<IO, P>(
    io: IO,
    peer: Option<SocketAddr>,
    mut session: P,
    shared: Arc<Shared>,
) where
    IO: Halves,
    P: Session,
{
    let (outbound, mut inbound) = mpsc::unbounded_channel();
    let mut parts = Parts {
        output: Output::default(),
        requests: P::Requests::default(),
        outbound,
        budgets: shared.budgets(),
        shared,
    };
    let outcome = run(io, &mut session, &mut parts, &mut inbound).await;
    session.end(&mut parts, &outcome, peer);
    match outcome {
        Outcome::TimedOut(wait) => {
            tracing::debug!(?peer, ?wait, "{} connection timed out", P::NAME);
        }
        Outcome::Io(error) => tracing::debug!(?peer, %error, "{} connection failed", P::NAME),
        Outcome::Done | Outcome::Protocol(_) => {}
    }
}

async fn run<IO, P>(
    mut io: IO,
    session: &mut P,
    parts: &mut Parts<P::Requests>,
    inbound: &mut mpsc::UnboundedReceiver<(u16, Outbound)>,
) -> Outcome<P::Error>
where
    IO: Halves,
    P: Session,
{
    let (mut reader, mut writer) = io.halves();
    let budgets = parts.budgets.clone();
    // The receive buffer, counted as the allocations it reads into.
    let mut receive = Receive::default();
    let mut read_open = true;
    // Registered once for the connection, not once per turn of the loop.
    let shared = parts.shared.clone();
    let mut shutdown = shared.shutdown.clone();
    let changed = std::pin::pin!(shutdown.changed());
    let mut stopped = ShutdownWait::new(&shared, changed);
    let mut timer = std::pin::pin!(Deadline::timer());
    let mut deadline = Deadline::default();
    let mut waiting = None;
    let mut since = Instant::now();
    loop {
        session.queue(&mut parts.output);
        if parts.output.is_empty()
            && let Some(closing) =
                session.closing(read_open, !receive.input.is_empty(), shared.shutting_down())
        {
            if read_open && closing == Closing::Linger {
                receive.release();
                crate::server::linger::close(&mut reader, &mut writer, &mut receive.input).await;
            }
            return match session.result() {
                Ok(()) => Outcome::Done,
                Err(error) => Outcome::Protocol(error),
            };
        }
        let now_waiting = if parts.output.is_empty() {
            session.waiting_for(!receive.input.is_empty())
        } else {
            Some(Wait::Write)
        };
        if now_waiting != waiting {
            waiting = now_waiting;
            since = Instant::now();
        }
        deadline.set(waiting.map(|wait| since + wait.timeout(&shared.config)));
        let reading = read_open && session.reading();
        let purpose = crate::server::receive::purpose(&budgets, session.body_open());
        tokio::select! {
            read = receive.read(&mut reader, &budgets, purpose), if reading => {
                let eof = match read {
                    Ok(0) => {
                        read_open = false;
                        true
                    }
                    Ok(_) => {
                        // Bytes of a request push its deadline on; an idle connection's
                        // first bytes start a new wait.
                        if waiting != Some(Wait::Idle) {
                            since = Instant::now();
                        }
                        false
                    }
                    Err(error) => return Outcome::Io(error),
                };
                let block = receive.block();
                if let Err(error) = session.receive(parts, &mut receive.input, block.as_ref(), eof) {
                    return Outcome::Protocol(error);
                }
                receive.settle(&budgets);
            }
            // A request's future ended (answered, or aborted); what it sent is applied
            // below.
            () = parts.requests.next(), if !parts.requests.is_empty() => {}
            message = inbound.recv() => {
                if let Some((key, message)) = message {
                    if let Err(error) = session.apply(parts, key, message) {
                        return Outcome::Protocol(error);
                    }
                    // Take what else is ready, so that a head, its body and its end go
                    // out in one write.
                    while let Ok((key, message)) = inbound.try_recv() {
                        if let Err(error) = session.apply(parts, key, message) {
                            return Outcome::Protocol(error);
                        }
                    }
                }
            }
            written = parts.output.write_some(&mut writer), if !parts.output.is_empty() => {
                match written {
                    Ok(_) => since = Instant::now(),
                    Err(error) => return Outcome::Io(error),
                }
            }
            () = deadline.expired(timer.as_mut()) => {
                return Outcome::TimedOut(waiting.unwrap_or(Wait::Idle));
            }
            // A shutdown began (checked above), or the server is gone without one, which
            // leaves its connections serving.
            () = stopped.wait(), if stopped.is_pending() => {}
        }
    }
}
