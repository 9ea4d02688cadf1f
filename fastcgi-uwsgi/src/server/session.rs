//! A server connection as the driver runs it: each protocol is a [`Session`] (what the
//! bytes mean, what the connection waits for, when it is done), and [`ServerSide`] adds
//! what every server connection has (its requests' futures, run inside the connection's
//! own task; its timeouts; the server's shutdown) to make it a [`Side`].

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use tokio::time::Instant;

use crate::budget::Budgets;
use crate::config::ServeConfig;
use crate::driver::halves::Halves;
use crate::driver::receive::Block;
use crate::driver::{self, Closing, NoMessages, Outcome, Side, Turn, Wait};
use crate::output::Output;
use crate::respond::Outbound;
use crate::server::Shared;
use crate::server::answers::{Answers, Queue};

/// How long a server connection may wait for each thing, from [`ServeConfig`].
fn timeout(wait: Wait, config: &ServeConfig) -> Duration {
    match wait {
        Wait::Idle => config.idle_timeout(),
        Wait::Head => config.params_timeout(),
        Wait::Body => config.body_timeout(),
        Wait::Write => config.write_timeout(),
    }
}

/// A request's future (service call and response streaming), boxed to be held beside the
/// connection's other work.
pub(crate) type RequestFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The request futures of one connection, polled by its task.
pub(crate) trait Requests: Default + Send {
    fn is_empty(&self) -> bool;
    /// Polls the futures that were woken; ready once one of them has ended.
    fn poll_ended(&mut self, cx: &mut Context<'_>) -> Poll<()>;
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

    fn poll_ended(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(request) = self.0.as_mut() {
            std::task::ready!(request.as_mut().poll(cx));
        }
        self.0 = None;
        Poll::Ready(())
    }
}

/// What a session acts with besides its own state: the requests' futures, where the
/// requests' answers come from, the budgets and what the server shares.
pub(crate) struct Parts<R> {
    pub(crate) requests: R,
    /// Where each request's future leaves its head, body and end.
    pub(crate) answers: Answers,
    pub(crate) budgets: Budgets,
    pub(crate) shared: Arc<Shared>,
}

/// One protocol's side of a server connection.
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
        output: &mut Output,
        input: &mut BytesMut,
        block: Option<&Block>,
        eof: bool,
    ) -> Result<(), Self::Error>;

    /// Writes what a request's future sent: a head, body bytes, the end.
    fn apply(
        &mut self,
        parts: &mut Parts<Self::Requests>,
        output: &mut Output,
        key: u16,
        message: Outbound,
    ) -> Result<(), Self::Error>;

    /// The connection ended: fail what is still open, and log what only the protocol
    /// knows (timeouts and I/O errors are logged for every protocol).
    fn end(
        &mut self,
        parts: &mut Parts<Self::Requests>,
        outcome: &Outcome<Self::Error>,
        peer: Option<SocketAddr>,
    );
}

/// A [`Session`] with what every server connection has: the [`Side`] the driver runs.
pub(crate) struct ServerSide<P: Session> {
    session: P,
    parts: Parts<P::Requests>,
    /// What the connection waits for now, and since when.
    waiting: Option<Wait>,
    since: Instant,
    /// The answers being applied: kept between turns for its room.
    taken: Queue,
}

impl<P: Session> Side for ServerSide<P> {
    type Message = std::convert::Infallible;
    type Error = P::Error;
    type Woke = ();

    fn queue(&mut self, output: &mut Output) {
        self.session.queue(output);
    }

    fn closing(&self, writing: bool, read_open: bool, buffered: bool) -> Option<Closing> {
        if writing {
            return None;
        }
        let shutting_down = self.parts.shared.shutting_down();
        self.session.closing(read_open, buffered, shutting_down)
    }

    fn result(&mut self) -> Result<(), P::Error> {
        self.session.result()
    }

    fn write_timeout(&self) -> Duration {
        self.parts.shared.config.write_timeout()
    }

    fn deadline(&mut self, writing: bool, buffered: bool) -> Option<Instant> {
        let now_waiting = if writing {
            Some(Wait::Write)
        } else {
            self.session.waiting_for(buffered)
        };
        if now_waiting != self.waiting {
            self.waiting = now_waiting;
            self.since = Instant::now();
        }
        if writing {
            // The driver's own.
            return None;
        }
        now_waiting.map(|wait| self.since + timeout(wait, &self.parts.shared.config))
    }

    fn expired(&mut self, _now: Instant) -> Option<Outcome<P::Error>> {
        Some(Outcome::TimedOut(self.waiting.unwrap_or(Wait::Idle)))
    }

    fn reading(&self) -> bool {
        self.session.reading()
    }

    fn body_open(&self) -> bool {
        self.session.body_open()
    }

    fn receive(
        &mut self,
        turn: &mut Turn<'_>,
        block: Option<&Block>,
        eof: bool,
    ) -> Result<(), P::Error> {
        // Bytes of a request push its deadline on; an idle connection's first bytes start
        // a new wait.
        if !eof && self.waiting != Some(Wait::Idle) {
            self.since = Instant::now();
        }
        self.session
            .receive(&mut self.parts, turn.output, turn.input, block, eof)
    }

    fn message(&mut self, _turn: &mut Turn<'_>, message: Self::Message) -> Result<(), P::Error> {
        match message {}
    }

    fn answers_at_once(&self) -> bool {
        // A request's service mostly answers in the poll that starts it.
        true
    }

    fn working(&self, _queued: u64) -> bool {
        !self.parts.requests.is_empty() || self.parts.answers.any()
    }

    fn work(&mut self, _queued: u64) -> impl Future<Output = ()> + Send + '_ {
        // The futures send only while polled here: the answers are looked at each time.
        std::future::poll_fn(|cx| {
            let ended = self.parts.requests.poll_ended(cx).is_ready();
            if ended || self.parts.answers.any() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }

    fn woke(&mut self, turn: &mut Turn<'_>, (): ()) -> Result<(), P::Error> {
        // A head, its body and its end, taken together: one write.
        self.parts.answers.take_all(&mut self.taken);
        while let Some((key, message)) = self.taken.pop_front() {
            self.session
                .apply(&mut self.parts, turn.output, key, message)?;
        }
        Ok(())
    }
}

/// Serves one connection with `session` on `io` until it ends.
pub(crate) async fn run<IO, P>(io: IO, peer: Option<SocketAddr>, session: P, shared: Arc<Shared>)
where
    IO: Halves,
    P: Session,
{
    let budgets = shared.budgets();
    let mut side = ServerSide {
        session,
        parts: Parts {
            requests: P::Requests::default(),
            answers: Answers::default(),
            budgets: budgets.clone(),
            shared: shared.clone(),
        },
        waiting: None,
        since: Instant::now(),
        taken: Queue::new(),
    };
    let outcome = driver::drive(
        io,
        &mut side,
        &mut NoMessages,
        &budgets,
        Some(&shared.shutdown),
    )
    .await;
    side.session.end(&mut side.parts, &outcome, peer);
    match outcome {
        Outcome::TimedOut(wait) => {
            tracing::debug!(?peer, ?wait, "{} connection timed out", P::NAME);
        }
        Outcome::Io(error) => tracing::debug!(?peer, %error, "{} connection failed", P::NAME),
        Outcome::Done | Outcome::Protocol(_) => {}
    }
}
