//! One pooled FastCGI connection, as the driver runs it ([`driver::Side`]): a sans-IO
//! [`GatewayConnection`] that takes requests from their callers, queues their records,
//! and hands each caller its response as it arrives.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use cgi_env::Environ;
use fastcgi_codec::{
    ErrorScope, GatewayConfig, GatewayConnection, GatewayEvent, Limits, ProtocolStatus, RequestId,
    ResponseReader, Role,
};
use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::body::AppStatus;
use super::delivery::{Delivery, DeliverySender, Flow};
use super::error::{ClientError, TimeoutKind};
use super::pool::{Pool, QUEUED_AFTER};
use super::stderr::{LineSplitter, Source, StderrLog, escape};
use crate::budget::Budgets;
use crate::driver::receive::Block;
use crate::driver::{self, Closing, Outcome, Side, Turn};
use crate::id_map::IdMap;
use crate::listener::Stream;
use crate::output::Output;

/// Commands waiting for a busy connection before callers wait on it.
const COMMAND_QUEUE: usize = 64;
/// Queued output past which the connection takes no more commands until some is written.
const HIGH_WATER: u64 = 256 * 1024;
/// Window bytes per piece a request's channel holds: a response in tiny records fills
/// its window by pieces before bytes, so that what waits stays bounded either way.
const PIECE_BYTES: usize = 256;
/// Pieces a request's channel keeps free beyond its window's: one record's head and data,
/// its end or failure, and a request body's failure.
const SPARE_PIECES: usize = 4;
/// The most window pieces a request's channel holds, however large the window.
const MAX_PIECES: usize = 1 << 16;

/// How many pieces the channel of a request with a `window`-byte response window holds.
pub(crate) fn channel_capacity(window: usize) -> usize {
    (window / PIECE_BYTES).clamp(1, MAX_PIECES) + SPARE_PIECES
}

/// What a caller asks of the connection.
#[derive(Debug)]
pub(crate) enum Command {
    /// Start a request.
    Begin(Box<Begin>),
    /// Request body bytes of a streamed body; `end` after the last.
    Stdin {
        request_id: RequestId,
        chunk: Bytes,
        end: bool,
    },
    /// The caller gave up: ABORT_REQUEST, and with `close` the connection takes no more
    /// requests (and closes once the others are done).
    Abort { request_id: RequestId, close: bool },
    /// Close once the requests in flight (none, when the pool asks) are done.
    Close,
}

/// A request to start.
#[derive(Debug)]
pub(crate) struct Begin {
    pub(crate) env: Arc<Environ>,
    /// The whole body, sent with the params; `None` when it is streamed with
    /// [`Command::Stdin`].
    pub(crate) body: Option<Bytes>,
    /// Where its response goes (with what its caller has not taken yet).
    pub(crate) deliveries: DeliverySender,
    /// Told the request id once the request's records are queued, or dropped when the
    /// connection could not take it (nothing of it was sent).
    pub(crate) started: oneshot::Sender<RequestId>,
    /// Fired when the request ends, so a body pump stops.
    pub(crate) ended: Option<oneshot::Sender<()>>,
    pub(crate) app_status: AppStatus,
}

/// One request on the connection.
struct Active {
    deliveries: Option<DeliverySender>,
    flow: Arc<Flow>,
    reader: ResponseReader,
    app_status: AppStatus,
    ended: Option<oneshot::Sender<()>>,
    /// Some response byte of it arrived.
    answered: bool,
    /// Its environ, to say which request a STDERR line came from.
    env: Arc<Environ>,
    /// The STDERR line it has not ended yet.
    stderr: LineSplitter,
}

/// Starts the driver of a connection just made; returns where its commands go. With `ask`
/// it asks GET_VALUES first; with `multiplexes` the backend is known to multiplex.
pub(crate) fn spawn(
    stream: Stream,
    pool: Arc<Pool>,
    conn_id: u64,
    ask: bool,
    multiplexes: bool,
) -> mpsc::Sender<Command> {
    let (commands, mut receiver) = mpsc::channel(COMMAND_QUEUE);
    let config = GatewayConfig::default()
        .with_assume_multiplexing(multiplexes)
        .with_limits(
            Limits::default().with_max_requests_in_flight(pool.config.max_requests_in_flight()),
        );
    let mut conn = GatewayConnection::new(config);
    if ask {
        // Asked before the first request, in the same write: php-fpm answers and goes on
        // reading the connection.
        let _ = conn.get_values();
    }
    let now = Instant::now();
    let mut side = PooledConnection {
        probing: ask,
        accepted: false,
        conn,
        requests: IdMap::default(),
        delivery_check: None,
        pool,
        conn_id,
        retired: false,
        idle_since: now,
        queued_deadline: Some(now + QUEUED_AFTER),
        stderr: StderrLog::default(),
    };
    tokio::spawn(async move {
        // A response's bytes are bounded by its caller's window, not by a budget.
        let budgets = Budgets::unbounded();
        let outcome = driver::drive(stream, &mut side, &mut receiver, &budgets, None).await;
        side.end(outcome);
    });
    commands
}

/// One pooled connection, as the driver runs it.
struct PooledConnection {
    conn: GatewayConnection,
    requests: IdMap<Active>,
    /// When to look for callers that left data waiting past the delivery timeout: the
    /// earliest such deadline, or `None` while no data waits.
    delivery_check: Option<Instant>,
    pool: Arc<Pool>,
    conn_id: u64,
    /// Takes no new request: the driver ends once the requests in flight have.
    retired: bool,
    /// Since when no request has been in flight.
    idle_since: Instant,
    /// Past this with no byte from the backend, the connection is likely waiting in the
    /// backend's listen queue behind workers that hold idle pooled connections; `None`
    /// once the pool was told.
    queued_deadline: Option<Instant>,
    /// GET_VALUES was asked and neither answered nor given up on (a request ended first).
    probing: bool,
    /// A byte came from the backend.
    accepted: bool,
    /// The connection's STDERR log, rate-limited across its requests.
    stderr: StderrLog,
}

impl Side for PooledConnection {
    type Message = Command;
    type Error = ClientError;
    type Woke = ();

    fn queue(&mut self, output: &mut Output) {
        output.push_buf(self.conn.take_output());
    }

    fn closing(&self, writing: bool, _read_open: bool, _buffered: bool) -> Option<Closing> {
        (self.retired && self.requests.is_empty() && !writing).then_some(Closing::Now)
    }

    fn result(&mut self) -> Result<(), ClientError> {
        Ok(())
    }

    fn write_timeout(&self) -> Duration {
        self.pool.config.write_timeout()
    }

    fn deadline(&mut self, _writing: bool, _buffered: bool) -> Option<Instant> {
        let idle = self.requests.is_empty();
        [
            self.delivery_check,
            self.queue_watch().then_some(self.queued_deadline).flatten(),
            idle.then(|| self.idle_since + self.pool.config.idle_timeout()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn expired(&mut self, now: Instant) -> Option<Outcome<ClientError>> {
        if self.delivery_check.is_some_and(|check| check <= now) && self.check_deliveries() {
            return Some(Outcome::Done);
        }
        if self.queue_watch() && self.queued_deadline.is_some_and(|queued| queued <= now) {
            self.queued_deadline = None;
            self.pool.relieve(self.conn_id);
        }
        if self.requests.is_empty() && self.idle_since + self.pool.config.idle_timeout() <= now {
            if self.pool.remove_if_idle(self.conn_id) {
                return Some(Outcome::Done);
            }
            self.idle_since = now;
        }
        None
    }

    fn reading(&self) -> bool {
        self.stalled().is_none()
    }

    fn receive(
        &mut self,
        turn: &mut Turn<'_>,
        _block: Option<&Block>,
        eof: bool,
    ) -> Result<(), ClientError> {
        if eof {
            if self.requests.is_empty() {
                // Closed with nothing in flight: done, with nothing to fail.
                self.retired = true;
                return Ok(());
            }
            let _ = self.conn.receive_eof();
            return Err(ClientError::Closed {
                backend: self.backend(),
            });
        }
        if !std::mem::replace(&mut self.accepted, true) {
            self.pool.accepted(self.conn_id);
        }
        self.process(turn.input)
    }

    fn taking_messages(&self, queued: u64) -> bool {
        !self.retired && queued < HIGH_WATER
    }

    fn message(&mut self, _turn: &mut Turn<'_>, command: Command) -> Result<(), ClientError> {
        self.command(command);
        Ok(())
    }

    fn inbox_closed(&mut self) {
        // Every handle is gone: the client was dropped.
        self.retired = true;
    }

    fn working(&self, _queued: u64) -> bool {
        self.stalled().is_some()
    }

    fn work(&mut self, _queued: u64) -> impl Future<Output = ()> + Send + '_ {
        let flow = self.stalled().cloned();
        async move {
            if let Some(flow) = flow {
                flow.until_taken().await;
            }
        }
    }

    fn woke(&mut self, turn: &mut Turn<'_>, (): ()) -> Result<(), ClientError> {
        // The caller took some: what the buffer holds may fit now.
        self.process(turn.input)
    }
}

impl PooledConnection {
    fn backend(&self) -> String {
        self.pool.name.to_string()
    }

    /// Whether the connection watches for the backend leaving it queued: nothing came
    /// from it yet while a request waits.
    fn queue_watch(&self) -> bool {
        !self.accepted && !self.requests.is_empty()
    }

    /// The connection ended: the pool forgets it, and every request still in flight
    /// fails.
    fn end(mut self, outcome: Outcome<ClientError>) {
        self.pool.remove(self.conn_id);
        let error = match outcome {
            Outcome::Done => ClientError::Closed {
                backend: self.backend(),
            },
            Outcome::TimedOut(_) => ClientError::Timeout {
                backend: self.backend(),
                kind: TimeoutKind::Write,
            },
            Outcome::Protocol(error) => error,
            Outcome::Io(source) => self.io_error(source),
        };
        let requests: Vec<_> = self.requests.drain().collect();
        for (request_id, mut active) in requests {
            self.stderr_ended(request_id, &mut active);
            if let Some(deliveries) = active.deliveries {
                let delivery = if active.answered {
                    Delivery::Failed(copy_error(&error))
                } else {
                    Delivery::Unanswered(copy_error(&error))
                };
                if let Err(mpsc::error::TrySendError::Full(
                    Delivery::Failed(error) | Delivery::Unanswered(error),
                )) = deliveries.try_send(delivery)
                {
                    // Behind what the caller has not read: told through the flow.
                    active.flow.end(error);
                }
            }
        }
        self.stderr.end_connection(&self.pool.name);
    }

    fn io_error(&self, source: std::io::Error) -> ClientError {
        if matches!(
            source.kind(),
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
        ) {
            ClientError::Closed {
                backend: self.backend(),
            }
        } else {
            ClientError::Io {
                backend: self.backend(),
                source,
            }
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Begin(begin) => self.begin(*begin),
            Command::Stdin {
                request_id,
                chunk,
                end,
            } => {
                if self.requests.contains_key(&request_id) {
                    // A request that ended meanwhile refuses more: nothing to do.
                    let _ = self.conn.send_stdin(request_id, chunk);
                    if end {
                        let _ = self.conn.end_stdin(request_id);
                    }
                }
            }
            Command::Close => self.retire(),
            Command::Abort { request_id, close } => {
                if close {
                    self.retire();
                }
                self.caller_gone(request_id);
            }
        }
    }

    fn begin(&mut self, begin: Begin) {
        let keep_conn = self.pool.config.max_idle() > 0;
        let Ok(request_id) = self.conn.begin_request(Role::Responder, keep_conn) else {
            // Dropping `started` tells the caller nothing was sent.
            self.pool.unlease(self.conn_id);
            return;
        };
        if let Err(error) = self.conn.send_params(request_id, &begin.env) {
            let _ = self.conn.abort(request_id);
            let _ = begin.deliveries.try_send(Delivery::Failed(ClientError::Io {
                backend: self.backend(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, error),
            }));
            self.requests.insert(
                request_id,
                Active {
                    deliveries: None,
                    flow: begin.deliveries.flow().clone(),
                    reader: ResponseReader::default(),
                    app_status: begin.app_status,
                    ended: begin.ended,
                    answered: false,
                    env: begin.env.clone(),
                    stderr: LineSplitter::default(),
                },
            );
            return;
        }
        if let Some(body) = begin.body {
            let _ = self.conn.send_stdin(request_id, body);
            let _ = self.conn.end_stdin(request_id);
        }
        let _ = begin.started.send(request_id);
        self.requests.insert(
            request_id,
            Active {
                flow: begin.deliveries.flow().clone(),
                deliveries: Some(begin.deliveries),
                reader: ResponseReader::new(self.pool.config.response_head()),
                app_status: begin.app_status,
                ended: begin.ended,
                answered: false,
                env: begin.env.clone(),
                stderr: LineSplitter::default(),
            },
        );
    }

    /// The caller of `request_id` will read nothing more: ask the backend to abort it. It
    /// stays in flight (its id taken) until the backend ends it; its output is dropped.
    fn caller_gone(&mut self, request_id: RequestId) {
        if let Some(active) = self.requests.get_mut(&request_id) {
            if active.deliveries.take().is_some() {
                let _ = self.conn.abort(request_id);
            }
            active.ended.take();
        }
        if self.retired && self.requests.values().all(|a| a.deliveries.is_none()) {
            // Nothing anyone waits for: no reason to wait for the backend's END_REQUEST.
            let requests: Vec<_> = self.requests.drain().collect();
            for (request_id, mut active) in requests {
                self.stderr_ended(request_id, &mut active);
            }
            self.idle_since = Instant::now();
        }
    }

    fn probe_over(&mut self) {
        if std::mem::take(&mut self.probing) {
            self.pool.probed(self.conn_id);
        }
    }

    fn retire(&mut self) {
        if !self.retired {
            self.retired = true;
            self.pool.retire(self.conn_id);
        }
    }

    /// The response window, in bytes.
    fn window(&self) -> usize {
        self.pool.config.response_window()
    }

    /// The flow of the request whose caller's window is full while it is alone on the
    /// connection: nothing more is read until its caller takes some, which holds up no
    /// other request. With several requests in flight nothing stalls the connection: a
    /// request past its window is cut off instead (see `deliver`).
    fn stalled(&self) -> Option<&Arc<Flow>> {
        if self.requests.len() != 1 {
            return None;
        }
        let active = self.requests.values().next()?;
        active.deliveries.as_ref()?;
        let full = active.flow.full(self.window(), SPARE_PIECES);
        full.then_some(&active.flow)
    }

    /// Hands `delivery` to its caller's channel. A request that goes past its window while
    /// it shares the connection is aborted, so the connection goes on reading for the
    /// others.
    fn deliver(&mut self, request_id: RequestId, delivery: Delivery) {
        let Some(active) = self.requests.get(&request_id) else {
            return;
        };
        let Some(deliveries) = active.deliveries.as_ref() else {
            return;
        };
        // Counted before it is sent: a caller on another thread may take it at once.
        let counted = match &delivery {
            Delivery::Data(chunk) => Some(active.flow.handed(chunk.len())),
            _ => None,
        };
        match deliveries.try_send(delivery) {
            Ok(()) => {
                let Some((unread, began_waiting)) = counted else {
                    return;
                };
                if began_waiting && self.delivery_check.is_none() {
                    // Later than every deadline already waiting: theirs began earlier.
                    self.delivery_check =
                        Instant::now().checked_add(self.pool.config.delivery_timeout());
                }
                if unread > self.window() && self.requests.len() > 1 {
                    self.window_full(request_id);
                }
            }
            // Out of pieces: the window is full by count (never while alone: `stalled`).
            Err(mpsc::error::TrySendError::Full(_)) => self.window_full(request_id),
            Err(mpsc::error::TrySendError::Closed(_)) => self.caller_gone(request_id),
        }
    }

    /// `request_id` went past its response window while sharing the connection.
    fn window_full(&mut self, request_id: RequestId) {
        let error = ClientError::ResponseWindowFull {
            backend: self.backend(),
            window: self.window(),
        };
        self.fail_request(request_id, error);
    }

    /// Ends `request_id`'s response with `error` and aborts the request.
    fn fail_request(&mut self, request_id: RequestId, error: ClientError) {
        if let Some(active) = self.requests.get(&request_id)
            && active.deliveries.is_some()
        {
            active.flow.end(error);
        }
        self.caller_gone(request_id);
    }

    /// Fails the requests whose callers left data waiting past the delivery timeout, and
    /// sets when to look again. Returns true when the connection should close: a request
    /// alone on it timed out (closing frees it whether or not the backend heeds an abort).
    fn check_deliveries(&mut self) -> bool {
        let now = Instant::now();
        let timeout = self.pool.config.delivery_timeout();
        let mut next: Option<Instant> = None;
        let mut expired = Vec::new();
        for (request_id, active) in &self.requests {
            if active.deliveries.is_none() {
                continue;
            }
            let Some(since) = active.flow.waiting_since() else {
                continue;
            };
            match since.checked_add(timeout) {
                Some(deadline) if deadline <= now => expired.push(*request_id),
                Some(deadline) => next = Some(next.map_or(deadline, |n| n.min(deadline))),
                None => {}
            }
        }
        self.delivery_check = next;
        if expired.is_empty() {
            return false;
        }
        let alone = self.requests.len() == 1;
        for request_id in expired {
            let error = ClientError::Timeout {
                backend: self.backend(),
                kind: TimeoutKind::Delivery,
            };
            self.fail_request(request_id, error);
        }
        if alone {
            self.retire();
        }
        alone
    }

    /// Handles what the buffer holds, until it holds no whole record or the connection
    /// stalls on a caller's full window.
    fn process(&mut self, input: &mut BytesMut) -> Result<(), ClientError> {
        while self.stalled().is_none() {
            let event = match self.conn.receive(input) {
                Ok(Some(event)) => event,
                Ok(None) => return Ok(()),
                Err(error) if error.scope() == ErrorScope::Request => {
                    if let Some(request_id) = error.request_id {
                        let backend = self.backend();
                        self.deliver(
                            request_id,
                            Delivery::Failed(ClientError::FastCgi {
                                backend,
                                source: error,
                            }),
                        );
                        self.end_request(request_id);
                    }
                    continue;
                }
                Err(error) => {
                    return Err(ClientError::FastCgi {
                        backend: self.backend(),
                        source: error,
                    });
                }
            };
            self.event(event);
        }
        Ok(())
    }

    fn event(&mut self, event: GatewayEvent) {
        match event {
            GatewayEvent::Stdout { request_id, chunk } => {
                let Some(active) = self.requests.get_mut(&request_id) else {
                    return;
                };
                active.answered = true;
                if active.deliveries.is_none() {
                    return;
                }
                match active.reader.read(chunk) {
                    Ok(read) => {
                        if let Some(head) = read.head {
                            self.deliver(request_id, Delivery::Head(Box::new(head)));
                        }
                        if !read.body.is_empty() {
                            self.deliver(request_id, Delivery::Data(read.body));
                        }
                    }
                    Err(source) => {
                        let backend = self.backend();
                        self.deliver(
                            request_id,
                            Delivery::Failed(ClientError::ResponseHead { backend, source }),
                        );
                        self.caller_gone(request_id);
                    }
                }
            }
            GatewayEvent::Stderr { request_id, chunk } => {
                // Logged line by line, escaped and rate-limited; the hook gets the raw
                // bytes.
                let backend = &self.pool.name;
                if let Some(active) = self.requests.get_mut(&request_id) {
                    active.answered = true;
                    let request = describe(&active.env);
                    let source = Source {
                        backend,
                        request_id: request_id.get(),
                        request: &request,
                    };
                    self.stderr.chunk(source, &mut active.stderr, &chunk);
                } else {
                    // A request the connection no longer tracks: its lines end here.
                    let source = Source {
                        backend,
                        request_id: request_id.get(),
                        request: "-",
                    };
                    let mut lines = LineSplitter::default();
                    self.stderr.chunk(source, &mut lines, &chunk);
                    self.stderr.end_request(source, &mut lines);
                }
                if let Some(hook) = self.pool.config.stderr_hook() {
                    hook(&self.pool.name, &chunk);
                }
            }
            GatewayEvent::End {
                request_id,
                app_status,
                protocol_status,
            } => {
                if let Some(active) = self.requests.get(&request_id) {
                    let delivery = if protocol_status != ProtocolStatus::RequestComplete {
                        Delivery::Unanswered(ClientError::Refused {
                            backend: self.backend(),
                            status: protocol_status,
                        })
                    } else if let Err(source) = active.reader.finish() {
                        Delivery::Failed(ClientError::ResponseHead {
                            backend: self.backend(),
                            source,
                        })
                    } else {
                        active.app_status.set(app_status);
                        Delivery::End
                    };
                    self.deliver(request_id, delivery);
                }
                self.end_request(request_id);
            }
            GatewayEvent::GetValuesAnswer(_) => {
                self.pool.learnt(self.conn_id, self.conn.peer_multiplexes());
                self.probe_over();
            }
            _ => {}
        }
    }

    /// `request_id` is over: its id is free, its caller's pump stops, the pool gets its
    /// slot back.
    fn end_request(&mut self, request_id: RequestId) {
        // A backend that ends a request before answering GET_VALUES is not waited for.
        self.probe_over();
        if let Some(mut active) = self.requests.remove(&request_id) {
            if self.requests.is_empty() {
                self.idle_since = Instant::now();
            }
            self.stderr_ended(request_id, &mut active);
            let released = self.pool.release(self.conn_id);
            if !released.keep {
                self.retire();
            }
            if let Some(next) = released.next {
                self.begin(*next);
            }
        }
    }

    /// Logs the STDERR line `active` did not end.
    fn stderr_ended(&mut self, request_id: RequestId, active: &mut Active) {
        if active.stderr.is_empty() {
            return;
        }
        let request = describe(&active.env);
        let source = Source {
            backend: &self.pool.name,
            request_id: request_id.get(),
            request: &request,
        };
        self.stderr.end_request(source, &mut active.stderr);
    }
}

/// `METHOD URI` of a request, escaped for the log.
fn describe(env: &Environ) -> String {
    let method = env.get("REQUEST_METHOD").unwrap_or_default();
    let uri = env.get("REQUEST_URI").unwrap_or_default();
    format!("{} {}", escape(method), escape(uri))
}

/// The same error again, for each request a failed connection carried.
fn copy_error(error: &ClientError) -> ClientError {
    match error {
        ClientError::Io { backend, source } => ClientError::Io {
            backend: backend.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        ClientError::Timeout { backend, kind } => ClientError::Timeout {
            backend: backend.clone(),
            kind: *kind,
        },
        ClientError::FastCgi { backend, source } => ClientError::FastCgi {
            backend: backend.clone(),
            source: source.clone(),
        },
        other => ClientError::Closed {
            backend: match other {
                ClientError::Closed { backend } => backend.clone(),
                _ => String::new(),
            },
        },
    }
}
