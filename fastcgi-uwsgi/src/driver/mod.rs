//! The connection driver every connection runs on: the server's and the client's, of both
//! protocols. It reads into a budgeted receive buffer, writes vectored (a head, its body
//! and its end in one write), bounds every wait with one [`Deadline`], takes the messages
//! sent to the connection, and ends with a typed [`Outcome`].
//!
//! What the bytes mean, what the connection waits for and when it is done belong to its
//! [`Side`]: a server connection of either protocol ([`crate::server::session`]), a pooled
//! FastCGI client connection, a uwsgi call. A side never touches the socket.

pub(crate) mod deadline;
pub(crate) mod halves;
pub(crate) mod linger;
pub(crate) mod receive;
pub(crate) mod shutdown_wait;

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncWrite;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::budget::Budgets;
use crate::output::Output;
use deadline::Deadline;
use halves::Halves;
use receive::{Block, Receive};
use shutdown_wait::ShutdownWait;

/// What a connection waits for.
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

/// Why a connection ended.
#[derive(Debug)]
pub(crate) enum Outcome<E> {
    /// Closed as its side says: the answers are out, the peer closed with nothing in
    /// flight, or the server shut down.
    Done,
    TimedOut(Wait),
    /// The side could not go on.
    Protocol(E),
    Io(std::io::Error),
}

/// How a connection with nothing left to write closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closing {
    /// At once: everything the peer sent was read, or nothing was answered.
    Now,
    /// The peer may still be sending toward an answer it has not read: end the write
    /// side, then read and drop until it closes too ([`linger`]).
    Linger,
}

/// What the driver lends a side while it acts.
pub(crate) struct Turn<'a> {
    /// The bytes to write, in order.
    pub(crate) output: &'a mut Output,
    /// The bytes received and not decoded yet.
    pub(crate) input: &'a mut BytesMut,
}

/// Where the messages sent to a connection arrive.
pub(crate) trait Inbox: Send {
    type Message: Send;

    /// The next message; `None` once no sender is left.
    fn recv(&mut self) -> impl Future<Output = Option<Self::Message>> + Send + '_;

    /// A message that is ready, if any.
    fn try_recv(&mut self) -> Option<Self::Message>;
}

impl<T: Send> Inbox for mpsc::Receiver<T> {
    type Message = T;

    fn recv(&mut self) -> impl Future<Output = Option<T>> + Send + '_ {
        mpsc::Receiver::recv(self)
    }

    fn try_recv(&mut self) -> Option<T> {
        mpsc::Receiver::try_recv(self).ok()
    }
}

impl<T: Send> Inbox for mpsc::UnboundedReceiver<T> {
    type Message = T;

    fn recv(&mut self) -> impl Future<Output = Option<T>> + Send + '_ {
        mpsc::UnboundedReceiver::recv(self)
    }

    fn try_recv(&mut self) -> Option<T> {
        mpsc::UnboundedReceiver::try_recv(self).ok()
    }
}

/// The inbox of a connection nothing sends messages to.
pub(crate) struct NoMessages;

impl Inbox for NoMessages {
    type Message = Infallible;

    fn recv(&mut self) -> impl Future<Output = Option<Infallible>> + Send + '_ {
        std::future::pending()
    }

    fn try_recv(&mut self) -> Option<Infallible> {
        None
    }
}

/// One kind of connection, as the driver runs it. The driver calls [`Side::queue`] first
/// in every turn, then [`Side::closing`], [`Side::deadline`], and waits for whichever of
/// the socket, the inbox, the side's own work and the deadline is ready first; having
/// acted on it, it may poll the side's work once more and write what is queued (see
/// [`Side::answers_at_once`]).
pub(crate) trait Side: Send {
    type Message: Send;
    type Error: Send;
    /// What the side's own work completes with.
    type Woke: Send;

    /// Moves what the side queued by itself (a sans-IO connection's records) into
    /// `output`.
    fn queue(&mut self, output: &mut Output);

    /// Whether the connection ends now, and how. `writing`: bytes wait to be written;
    /// `read_open`: the peer's side is open; `buffered`: received bytes wait to be decoded.
    fn closing(&self, writing: bool, read_open: bool, buffered: bool) -> Option<Closing>;

    /// How the connection ended, once [`Side::closing`] said it ends.
    fn result(&mut self) -> Result<(), Self::Error>;

    /// How long the peer may take to accept what is written.
    fn write_timeout(&self) -> Duration;

    /// The side's own deadline; the driver keeps the write timeout beside it.
    fn deadline(&mut self, writing: bool, buffered: bool) -> Option<Instant>;

    /// The side's deadline has passed: the connection ends with the outcome given, or
    /// goes on with `None`.
    fn expired(&mut self, now: Instant) -> Option<Outcome<Self::Error>>;

    /// Whether the connection reads now.
    fn reading(&self) -> bool;

    /// Whether reads now feed a request body (bytes read ahead of a service) rather than
    /// a head: such reads may not take the process budget's headroom.
    fn body_open(&self) -> bool {
        false
    }

    /// Decodes what arrived, read into the allocation `block`; `eof` once the peer
    /// closed its side.
    fn receive(
        &mut self,
        turn: &mut Turn<'_>,
        block: Option<&Block>,
        eof: bool,
    ) -> Result<(), Self::Error>;

    /// Whether the side takes messages now; `queued`: bytes waiting to be written.
    fn taking_messages(&self, _queued: u64) -> bool {
        true
    }

    /// Acts on a message sent to the connection.
    fn message(&mut self, turn: &mut Turn<'_>, message: Self::Message) -> Result<(), Self::Error>;

    /// Every sender of messages is gone.
    fn inbox_closed(&mut self) {}

    /// Whether the side waits on work of its own now (request futures, a caller making
    /// room for a response).
    fn working(&self, queued: u64) -> bool;

    /// Whether the driver, having acted on what was ready, polls the side's work once
    /// more and writes what is queued in the same turn: for a side whose work mostly
    /// completes without waiting (a server's request futures). Client sides keep to one
    /// step per turn: their work mostly waits on a caller, and polling it again only
    /// registered a waker again (the uwsgi exchange spent 3 to 8 microseconds more per
    /// call when it did).
    fn answers_at_once(&self) -> bool {
        false
    }

    /// The side's own work, polled beside the socket.
    fn work(&mut self, queued: u64) -> impl Future<Output = Self::Woke> + Send + '_;

    /// Acts on what the side's work completed with.
    fn woke(&mut self, turn: &mut Turn<'_>, woke: Self::Woke) -> Result<(), Self::Error>;

    /// A write failed: the connection ends, unless the side can go on without writing
    /// (having dropped what `output` held).
    fn write_failed(
        &mut self,
        _output: &mut Output,
        error: std::io::Error,
    ) -> Result<(), Outcome<Self::Error>> {
        Err(Outcome::Io(error))
    }
}

/// Runs `side` on `io` until the connection ends. Messages come from `inbox`; reads are
/// counted in `budgets`; with `shutdown`, a graceful shutdown wakes the connection so that
/// its side can close it.
pub(crate) async fn drive<IO, S, I>(
    mut io: IO,
    side: &mut S,
    inbox: &mut I,
    budgets: &Budgets,
    shutdown: Option<&watch::Receiver<bool>>,
) -> Outcome<S::Error>
where
    IO: Halves,
    S: Side,
    I: Inbox<Message = S::Message>,
{
    let (mut reader, mut writer) = io.halves();
    // The receive buffer, counted as the allocations it reads into.
    let mut receive = Receive::default();
    let mut output = Output::default();
    let mut read_open = true;
    let mut inbox_open = true;
    // Registered once for the connection, not once per turn of the loop.
    let mut watch = shutdown.cloned();
    let changed = std::pin::pin!(async move {
        if let Some(watch) = watch.as_mut() {
            let _ = watch.changed().await;
        }
    });
    let mut stopped = ShutdownWait::new(shutdown, changed);
    let mut timer = std::pin::pin!(Deadline::timer());
    let mut deadline = Deadline::default();
    // Since when the bytes waiting to be written have made no progress.
    let mut write_since: Option<Instant> = None;
    loop {
        side.queue(&mut output);
        let writing = !output.is_empty();
        let buffered = !receive.input.is_empty();
        if let Some(closing) = side.closing(writing, read_open, buffered) {
            if read_open && closing == Closing::Linger {
                receive.release();
                linger::close(&mut reader, &mut writer, &mut receive.input).await;
            }
            return side
                .result()
                .map_or_else(Outcome::Protocol, |()| Outcome::Done);
        }
        if !writing {
            write_since = None;
        }
        let write_deadline =
            writing.then(|| *write_since.get_or_insert_with(Instant::now) + side.write_timeout());
        let own = side.deadline(writing, buffered);
        deadline.set(write_deadline.into_iter().chain(own).min());
        let queued = output.queued_len();
        let reading = read_open && side.reading();
        let taking = inbox_open && side.taking_messages(queued);
        let working = side.working(queued);
        let purpose = receive::purpose(budgets, side.body_open());
        tokio::select! {
            read = receive.read(&mut reader, budgets, purpose), if reading => {
                let eof = match read {
                    Ok(0) => {
                        read_open = false;
                        true
                    }
                    Ok(_) => false,
                    Err(error) => return Outcome::Io(error),
                };
                if let Err(error) = received(side, &mut receive, &mut output, budgets, eof) {
                    return Outcome::Protocol(error);
                }
            }
            woke = side.work(queued), if working => {
                let mut turn = Turn { output: &mut output, input: &mut receive.input };
                if let Err(error) = side.woke(&mut turn, woke) {
                    return Outcome::Protocol(error);
                }
            }
            message = inbox.recv(), if taking => {
                let Some(message) = message else {
                    inbox_open = false;
                    side.inbox_closed();
                    continue;
                };
                let mut turn = Turn { output: &mut output, input: &mut receive.input };
                if let Err(error) = messages(side, &mut turn, inbox, message) {
                    return Outcome::Protocol(error);
                }
            }
            written = output.write_some(&mut writer), if writing => {
                if let Err(outcome) = wrote(side, &mut output, &mut write_since, written) {
                    return outcome;
                }
            }
            () = deadline.expired(timer.as_mut()) => {
                let now = Instant::now();
                if write_deadline.is_some_and(|deadline| deadline <= now) {
                    return Outcome::TimedOut(Wait::Write);
                }
                if let Some(outcome) = side.expired(now) {
                    return outcome;
                }
            }
            // A shutdown began (the side sees it in `closing`), or the server is gone
            // without one, which leaves its connections serving.
            () = stopped.wait(), if stopped.is_pending() => {}
        }
        let mut turn = Turn {
            output: &mut output,
            input: &mut receive.input,
        };
        if side.answers_at_once() {
            let now = answer_now(side, &mut turn, &mut writer, &mut write_since, read_open);
            if let Err(outcome) = now.await {
                return outcome;
            }
        }
    }
}

/// What a read or a wake-up made ready is most often answered at once (see
/// [`Side::answers_at_once`]): the side's work is polled and what is queued written in the
/// same turn of the driver, not in one more turn each. Nothing is written for a side that
/// closes without writing what it queued: the next turn closes it.
async fn answer_now<S: Side, W: AsyncWrite + Unpin>(
    side: &mut S,
    turn: &mut Turn<'_>,
    writer: &mut W,
    write_since: &mut Option<Instant>,
    read_open: bool,
) -> Result<(), Outcome<S::Error>> {
    if side.working(turn.output.queued_len())
        && let Some(woke) = poll_once(side.work(turn.output.queued_len())).await
    {
        side.woke(turn, woke).map_err(Outcome::Protocol)?;
    }
    side.queue(turn.output);
    if !turn.output.is_empty()
        && side
            .closing(true, read_open, !turn.input.is_empty())
            .is_none()
        && let Some(written) = poll_once(turn.output.write_some(writer)).await
    {
        wrote(side, turn.output, write_since, written)?;
    }
    Ok(())
}

/// Polls `future` once: its output if it is ready.
async fn poll_once<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| match future.as_mut().poll(cx) {
        std::task::Poll::Ready(output) => std::task::Poll::Ready(Some(output)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await
}

/// Acts on a write's result: progress restarts the write timeout; a failure ends the
/// connection unless its side goes on without writing.
fn wrote<S: Side>(
    side: &mut S,
    output: &mut Output,
    write_since: &mut Option<Instant>,
    written: std::io::Result<usize>,
) -> Result<(), Outcome<S::Error>> {
    match written {
        Ok(_) => {
            *write_since = Some(Instant::now());
            Ok(())
        }
        Err(error) => side.write_failed(output, error),
    }
}

/// Acts on `first`, then on what else is ready, so that a head, its body and its end go
/// out in one write.
fn messages<S, I>(
    side: &mut S,
    turn: &mut Turn<'_>,
    inbox: &mut I,
    first: S::Message,
) -> Result<(), S::Error>
where
    S: Side,
    I: Inbox<Message = S::Message>,
{
    side.message(turn, first)?;
    while side.taking_messages(turn.output.queued_len())
        && let Some(message) = inbox.try_recv()
    {
        side.message(turn, message)?;
    }
    Ok(())
}

/// Hands what a read brought (or its end) to the side.
fn received<S: Side>(
    side: &mut S,
    receive: &mut Receive,
    output: &mut Output,
    budgets: &Budgets,
    eof: bool,
) -> Result<(), S::Error> {
    let block = receive.block();
    let mut turn = Turn {
        output,
        input: &mut receive.input,
    };
    side.receive(&mut turn, block.as_ref(), eof)?;
    // An allocation the side's decoder made on its own is counted too.
    receive.settle(budgets);
    Ok(())
}
