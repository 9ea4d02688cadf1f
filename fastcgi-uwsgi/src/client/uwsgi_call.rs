//! One call to a uwsgi backend: one connection per request (the protocol has no
//! keep-alive), the body written while the response is read.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::Response;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use tokio::sync::mpsc;
use tokio::time::Instant;
use uwsgi_codec::{Limits, RequestEncoder, ResponseDecoder, ResponseEvent};

use super::backend::Backend;
use super::body::{AbortOnDrop, BackendBody};
use super::call::{CallError, await_head};
use super::config::ClientConfig;
use super::delivery::{self, Delivery, DeliverySender, WINDOW};
use super::error::{ClientError, TimeoutKind};
use super::prepare::{Outgoing, Prepared};
use crate::BoxError;
use crate::budget::Budgets;
use crate::driver::receive::Block;
use crate::driver::{self, Closing, NoMessages, Outcome, Side, Turn};
use crate::listener::Stream;
use crate::output::Output;

/// The largest request (vars and whole body) written without `TCP_NODELAY`: well within
/// one write and one segment.
const ONE_WRITE: usize = 16 * 1024;

/// Queued request body past which no more is read from the caller's body.
const HIGH_WATER: u64 = 256 * 1024;

/// A uwsgi backend.
#[derive(Debug)]
pub(crate) struct UwsgiTarget {
    pub(crate) backend: Backend,
    pub(crate) name: Arc<str>,
    pub(crate) config: Arc<ClientConfig>,
}

/// Sends `prepared` to `target` on a new connection.
pub(crate) async fn call(
    target: &Arc<UwsgiTarget>,
    prepared: Prepared,
) -> Result<Response<BackendBody>, CallError> {
    let config = &target.config;
    let mut encoder = RequestEncoder::new();
    let mut head = BytesMut::new();
    encoder
        .encode_head(&prepared.env, &mut head)
        .map_err(|error| CallError::Fatal(invalid_input(&target.name, error)))?;
    // A request written whole in one write has no later piece for Nagle's algorithm to
    // hold back.
    let one_write =
        matches!(&prepared.body, Outgoing::Whole(body) if head.len() + body.len() <= ONE_WRITE);
    // A request held whole can be sent again elsewhere should its connection fail: the
    // exchange's own task connects, and the caller's wakes once, for the head. A streamed
    // body cannot be held back: its connection is made here first.
    let (connection, unsent) = match &prepared.body {
        Outgoing::Whole(body) => {
            let unsent = Prepared {
                env: prepared.env.clone(),
                body: Outgoing::Whole(body.clone()),
                replayable: prepared.replayable,
                head_request: prepared.head_request,
            };
            (
                Connection::Make {
                    target: target.clone(),
                    nodelay: !one_write,
                },
                Some(unsent),
            )
        }
        Outgoing::Stream { .. } => {
            match target.backend.connect(config.connect_timeout(), true).await {
                Ok(stream) => (Connection::Made(stream), None),
                Err(error) if error.is_connect() => {
                    return Err(CallError::Unreached(error, prepared));
                }
                Err(error) => return Err(CallError::Fatal(error)),
            }
        }
    };
    let (whole_body, body) = match prepared.body {
        Outgoing::Whole(bytes) => {
            let chunk = encoder
                .body_chunk(bytes)
                .map_err(|error| CallError::Fatal(invalid_input(&target.name, error)))?;
            (Some(chunk), None)
        }
        Outgoing::Stream { body, .. } => (None, Some(body)),
    };
    let (deliveries, receiver) = delivery::channel(WINDOW);
    let limits = Limits::default().with_response_head(config.response_head());
    let mut decoder = ResponseDecoder::new(limits);
    if prepared.head_request {
        decoder = decoder.for_head_request();
    }
    let exchange = Exchange {
        encoder,
        head: Some(head.freeze()),
        whole_body,
        body,
        deliveries,
        name: target.name.clone(),
        config: config.clone(),
        decoder,
        pending: None,
        answered: false,
        eof: false,
        delivery_deadline: None,
        first_byte_deadline: None,
        done: false,
    };
    // Boxed: the task then holds a pointer, not the exchange's state (some kilobytes),
    // which the runtime would otherwise copy on spawning and again at its end.
    tokio::spawn(Box::pin(exchange.run(connection)));
    // A caller that gives up drops its end of the channel: the exchange sees it gone.
    let guard = AbortOnDrop::none();
    // The exchange keeps the first-byte timeout, from when its connection is made.
    await_head(
        receiver,
        guard,
        &target.name,
        config,
        None,
        prepared.head_request,
    )
    .await
    .map_err(|delivery| match (delivery, unsent) {
        (Delivery::Unanswered(error), Some(unsent)) if error.is_connect() => {
            CallError::Unreached(error, unsent)
        }
        (Delivery::Failed(error) | Delivery::Unanswered(error), _) => CallError::Fatal(error),
        _ => CallError::Fatal(ClientError::Closed {
            backend: target.name.to_string(),
        }),
    })
}

/// The connection an exchange runs on.
enum Connection {
    /// Made by the caller.
    Made(Stream),
    /// To be made by the exchange: `nodelay` as [`super::backend::Backend::connect`] takes it.
    Make {
        target: Arc<UwsgiTarget>,
        nodelay: bool,
    },
}

fn invalid_input(backend: &str, error: impl std::fmt::Display) -> ClientError {
    ClientError::Io {
        backend: backend.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, error.to_string()),
    }
}

/// One uwsgi call's connection, as the driver runs it: the request written (its body
/// streamed from the caller's) while the response is decoded and handed to the caller.
struct Exchange {
    encoder: RequestEncoder,
    /// The request's head, and its body when it is whole, until queued.
    head: Option<Bytes>,
    whole_body: Option<Bytes>,
    /// The caller's body, while it streams.
    body: Option<UnsyncBoxBody<Bytes, BoxError>>,
    /// Where the response goes, and a delivery timeout is told.
    deliveries: DeliverySender,
    name: Arc<str>,
    config: Arc<ClientConfig>,
    decoder: ResponseDecoder,
    /// Decoded and waiting for room in the caller's channel: nothing more is read or
    /// decoded meanwhile.
    pending: Option<Delivery>,
    /// Set when a delivery starts to wait for room: a caller that takes nothing for the
    /// delivery timeout gives the connection up.
    delivery_deadline: Option<Instant>,
    /// When the head must have come by: the first-byte timeout from the connection's
    /// making on.
    first_byte_deadline: Option<Instant>,
    /// Some of the response arrived.
    answered: bool,
    /// The backend closed its side.
    eof: bool,
    /// The caller has all of it, gave up, or is gone.
    done: bool,
}

/// What an exchange's own work completes with.
enum Woke {
    /// The caller gave up, or its channel is gone.
    Gone,
    /// The caller's channel has room for the pending delivery.
    Room,
    /// The next frame of the caller's body; `None` at its end.
    Frame(Option<Result<http_body::Frame<Bytes>, BoxError>>),
}

impl Side for Exchange {
    type Message = Infallible;
    type Error = Delivery;
    type Woke = Woke;

    fn queue(&mut self, output: &mut Output) {
        if let Some(head) = self.head.take() {
            output.push(head);
        }
        if let Some(body) = self.whole_body.take() {
            output.push(body);
        }
    }

    fn closing(&self, _writing: bool, _read_open: bool, _buffered: bool) -> Option<Closing> {
        self.done.then_some(Closing::Now)
    }

    fn result(&mut self) -> Result<(), Delivery> {
        Ok(())
    }

    fn write_timeout(&self) -> Duration {
        self.config.write_timeout()
    }

    fn deadline(&mut self, _writing: bool, _buffered: bool) -> Option<Instant> {
        let first_byte = if self.answered {
            None
        } else {
            self.first_byte_deadline
        };
        first_byte
            .into_iter()
            .chain(self.pending.as_ref().and(self.delivery_deadline))
            .min()
    }

    fn expired(&mut self, now: Instant) -> Option<Outcome<Delivery>> {
        let backend = self.name.to_string();
        if !self.answered
            && self
                .first_byte_deadline
                .is_some_and(|deadline| deadline <= now)
        {
            return Some(Outcome::Protocol(Delivery::Failed(ClientError::Timeout {
                backend,
                kind: TimeoutKind::FirstByte,
            })));
        }
        if self.pending.is_none() || self.delivery_deadline.is_none_or(|deadline| deadline > now) {
            return None;
        }
        self.deliveries.flow().end(ClientError::Timeout {
            backend,
            kind: TimeoutKind::Delivery,
        });
        Some(Outcome::Done)
    }

    fn reading(&self) -> bool {
        // Events wait in the buffer until their caller has room for them.
        self.pending.is_none()
    }

    fn receive(
        &mut self,
        turn: &mut Turn<'_>,
        _block: Option<&Block>,
        eof: bool,
    ) -> Result<(), Delivery> {
        self.eof |= eof;
        self.decode_next(turn.input)
    }

    fn message(&mut self, _turn: &mut Turn<'_>, message: Infallible) -> Result<(), Delivery> {
        match message {}
    }

    fn working(&self, _queued: u64) -> bool {
        true
    }

    fn work(&mut self, queued: u64) -> impl Future<Output = Woke> + Send + '_ {
        let waiting = self.pending.is_some();
        let reading_body = self.body.is_some() && queued < HIGH_WATER;
        async move {
            tokio::select! {
                () = self.deliveries.gone(), if !waiting => Woke::Gone,
                room = self.deliveries.room(), if waiting => if room {
                    // Nothing else sends on the channel: the room stays.
                    Woke::Room
                } else {
                    Woke::Gone
                },
                frame = async { self.body.as_mut()?.frame().await }, if reading_body => Woke::Frame(frame),
            }
        }
    }

    fn woke(&mut self, turn: &mut Turn<'_>, woke: Woke) -> Result<(), Delivery> {
        match woke {
            Woke::Gone => self.done = true,
            Woke::Room => {
                if let Some(delivery) = self.pending.take() {
                    let end = matches!(delivery, Delivery::End);
                    match self.deliveries.try_send(delivery) {
                        Ok(()) => self.done = end,
                        Err(mpsc::error::TrySendError::Full(delivery)) => {
                            self.pending = Some(delivery);
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => self.done = true,
                    }
                }
                if !self.done {
                    return self.decode_next(turn.input);
                }
            }
            Woke::Frame(None) => self.body = None,
            Woke::Frame(Some(Ok(frame))) => {
                if let Ok(chunk) = frame.into_data() {
                    let chunk = self
                        .encoder
                        .body_chunk(chunk)
                        .map_err(|e| Delivery::Failed(invalid_input(&self.name, e)))?;
                    turn.output.push(chunk);
                }
            }
            Woke::Frame(Some(Err(error))) => {
                return Err(Delivery::Failed(ClientError::RequestBody(error)));
            }
        }
        Ok(())
    }

    fn write_failed(
        &mut self,
        output: &mut Output,
        error: std::io::Error,
    ) -> Result<(), Outcome<Delivery>> {
        // A backend that answered without reading the whole body may close its side:
        // what it answered still counts.
        if !self.answered {
            return Err(Outcome::Io(error));
        }
        self.body = None;
        *output = Output::default();
        Ok(())
    }
}

impl Exchange {
    async fn run(mut self, connection: Connection) {
        let stream = match connection {
            Connection::Made(stream) => stream,
            Connection::Make { target, nodelay } => {
                let connect = target
                    .backend
                    .connect(target.config.connect_timeout(), nodelay);
                tokio::select! {
                    connected = connect => match connected {
                        Ok(stream) => stream,
                        Err(error) => {
                            let _ = self.deliveries.try_send(Delivery::Unanswered(error));
                            return;
                        }
                    },
                    // The caller gave up: nothing is sent.
                    () = self.deliveries.gone() => return,
                }
            }
        };
        self.first_byte_deadline = Instant::now().checked_add(self.config.first_byte_timeout());
        // A response's bytes are bounded by its caller's window, not by a budget.
        let budgets = Budgets::unbounded();
        let outcome = driver::drive(stream, &mut self, &mut NoMessages, &budgets, None).await;
        let failure = match outcome {
            Outcome::Done => return,
            Outcome::TimedOut(_) => Delivery::Failed(ClientError::Timeout {
                backend: self.name.to_string(),
                kind: TimeoutKind::Write,
            }),
            Outcome::Protocol(delivery) => delivery,
            Outcome::Io(source) => Delivery::Failed(ClientError::Io {
                backend: self.name.to_string(),
                source,
            }),
        };
        let _ = self.deliveries.try_send(failure);
    }

    /// Decodes the next delivery, unless one waits already.
    fn decode_next(&mut self, input: &mut BytesMut) -> Result<(), Delivery> {
        if self.pending.is_none() {
            self.pending = next_delivery(
                &mut self.decoder,
                input,
                self.eof,
                &self.name,
                &mut self.answered,
            )?;
            if self.pending.is_some() {
                self.delivery_deadline = Instant::now().checked_add(self.config.delivery_timeout());
            }
        }
        Ok(())
    }
}

/// The next delivery decoded from `buf`, if one is whole; a backend that closed before
/// the end fails the call.
fn next_delivery(
    decoder: &mut ResponseDecoder,
    buf: &mut BytesMut,
    eof: bool,
    backend: &str,
    answered: &mut bool,
) -> Result<Option<Delivery>, Delivery> {
    loop {
        let event = if eof {
            decoder.decode_eof(buf)
        } else {
            decoder.decode(buf)
        };
        // A 1xx head gives nothing: decode on.
        let informational =
            matches!(&event, Ok(Some(ResponseEvent::Head(head))) if head.status.is_informational());
        match decoded(event, backend, answered)? {
            Some(delivery) => return Ok(Some(delivery)),
            None if informational => {}
            None if eof => {
                let error = ClientError::Closed {
                    backend: backend.to_owned(),
                };
                return Err(if *answered {
                    Delivery::Failed(error)
                } else {
                    Delivery::Unanswered(error)
                });
            }
            None => return Ok(None),
        }
    }
}

/// What a decoded event gives the caller: the final head (a 1xx head gives nothing), body
/// bytes, the end; a protocol error fails the call.
fn decoded(
    event: Result<Option<ResponseEvent>, uwsgi_codec::ProtocolError>,
    backend: &str,
    answered: &mut bool,
) -> Result<Option<Delivery>, Delivery> {
    match event {
        Ok(Some(ResponseEvent::Head(head))) => {
            *answered = true;
            Ok((!head.status.is_informational()).then(|| Delivery::Head(Box::new(head))))
        }
        Ok(Some(ResponseEvent::Body(chunk))) => Ok(Some(Delivery::Data(chunk))),
        Ok(Some(ResponseEvent::End)) => Ok(Some(Delivery::End)),
        Ok(_) => Ok(None),
        Err(source) => Err(Delivery::Failed(ClientError::Uwsgi {
            backend: backend.to_owned(),
            source,
        })),
    }
}
