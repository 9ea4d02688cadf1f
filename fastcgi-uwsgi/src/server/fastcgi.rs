//! The FastCGI connection driver: owns the socket and one sans-IO application connection,
//! moves bytes between them, and runs each request's service inside the connection's own
//! task: nothing of a request outlives its connection, and no request wakes another task.
//!
//! Requests multiplexed on the connection run at once, up to the codec's limit per
//! connection and the server's limit per process. Request bodies are read ahead of their
//! services into the connection's budget, and response bytes wait in it for the socket,
//! so the connection keeps reading while it cannot write and the other way round: a
//! service that answers before it has read its body does not hang behind a front server
//! that stops sending the body (nginx, once it has the head) nor behind one that sends the
//! whole body before reading (Apache), within that budget.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use fastcgi_codec::{
    ApplicationConfig, ApplicationConnection, ApplicationEvent, ErrorScope,
    FAILED_REQUEST_APP_STATUS, RecordEncoder, RecordType, RequestId, Violation,
};
use futures_util::StreamExt;
use futures_util::future::{AbortHandle, Abortable};
use futures_util::stream::FuturesUnordered;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::body::{Body, BodyError, BodySender};
use crate::budget::Reservation;
use crate::deadline::Deadline;
use crate::output::Output;
use crate::respond::{self, CgiService, Outbound, ResponseBody};
use crate::server::Shared;
use crate::server::halves::Halves;
use crate::server::receive::{Block, Receive};
use crate::server::shutdown_wait::ShutdownWait;

/// One request on the connection, as the driver tracks it.
#[derive(Debug, Default)]
struct Slot {
    /// Present until the body ends (or the service stops reading it).
    body: Option<BodySender>,
    /// Stops the request's future, once its params arrived.
    task: Option<AbortHandle>,
    /// Whether the peer has sent the end of the request's body.
    stdin_ended: bool,
    /// The receive buffer allocations the request's params may point into, held until
    /// its service is called.
    params: Vec<Block>,
    /// The params bytes received while they arrive (the codec copies a pair split
    /// across records).
    params_bytes: Option<Reservation>,
}

/// What the driver waits for next, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    Idle,
    Params,
    Body,
    Write,
}

pub(crate) async fn drive<IO, S, B>(
    io: IO,
    peer: Option<SocketAddr>,
    service: S,
    shared: Arc<Shared>,
) where
    IO: Halves,
    S: CgiService<B>,
    B: ResponseBody,
{
    let mut driver = Driver::new(service, shared);
    let outcome = driver.run(io).await;
    driver.close(outcome, peer);
}

/// A request's future (service call and response streaming), boxed to be held beside the
/// connection's other requests.
type RequestFuture = Abortable<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>;

struct Driver<S> {
    service: S,
    /// The requests' futures, polled by the connection's task.
    requests: FuturesUnordered<RequestFuture>,
    shared: Arc<Shared>,
    conn: ApplicationConnection,
    budgets: crate::budget::Budgets,
    slots: HashMap<RequestId, Slot>,
    output: Output,
    outbound: mpsc::UnboundedSender<(u16, Outbound)>,
    inbound: mpsc::UnboundedReceiver<(u16, Outbound)>,
    /// Request-level protocol errors seen, and the first, for the one log line at the end.
    request_errors: usize,
    first_request_error: Option<fastcgi_codec::ProtocolError>,
    /// This connection's [`crate::CgiFacts::connection`].
    connection: u64,
    /// Whether a request was forgotten before the peer sent all of it: the peer may still
    /// be sending, so closing must linger.
    unread_input: bool,
}

/// Why a connection ended.
#[derive(Debug)]
enum Outcome {
    /// Closed as the protocol says (no keep-conn, peer closed with nothing in flight,
    /// shutdown).
    Done,
    TimedOut(Wait),
    Protocol(fastcgi_codec::ProtocolError),
    Io(std::io::Error),
}

impl<S> Driver<S> {
    fn new(service: S, shared: Arc<Shared>) -> Self {
        let config = ApplicationConfig::default()
            .with_multiplex(shared.config.multiplex())
            .with_limits(shared.config.fastcgi_limits());
        let (outbound, inbound) = mpsc::unbounded_channel();
        Driver {
            service,
            requests: FuturesUnordered::new(),
            budgets: shared.budgets(),
            shared,
            conn: ApplicationConnection::new(config),
            slots: HashMap::new(),
            output: Output::default(),
            outbound,
            inbound,
            request_errors: 0,
            first_request_error: None,
            connection: crate::request::next_connection(),
            unread_input: false,
        }
    }

    fn close(&mut self, outcome: Outcome, peer: Option<SocketAddr>) {
        for (_, slot) in self.slots.drain() {
            if let Some(task) = slot.task {
                task.abort();
            }
            if let Some(body) = slot.body {
                body.fail(BodyError::ConnectionLost);
            }
        }
        match outcome {
            Outcome::Done => {}
            Outcome::TimedOut(wait) => {
                tracing::debug!(?peer, ?wait, "FastCGI connection timed out");
            }
            Outcome::Protocol(error) => {
                tracing::warn!(?peer, %error, "FastCGI connection closed on a protocol error");
            }
            Outcome::Io(error) => tracing::debug!(?peer, %error, "FastCGI connection failed"),
        }
        if let Some(first) = &self.first_request_error {
            tracing::warn!(
                ?peer,
                requests = self.request_errors,
                %first,
                "FastCGI requests refused for protocol errors on this connection"
            );
        }
    }
}

impl<S> Driver<S> {
    /// What the connection waits for now.
    fn waiting_for(&self, partial_input: bool) -> Option<Wait> {
        if !self.output.is_empty() {
            return Some(Wait::Write);
        }
        if self.slots.is_empty() {
            return Some(if partial_input {
                Wait::Params
            } else {
                Wait::Idle
            });
        }
        if self.slots.values().any(|slot| slot.task.is_none()) {
            return Some(Wait::Params);
        }
        if self.slots.values().any(|slot| slot.body.is_some()) {
            return Some(Wait::Body);
        }
        // Services are working: how long they take is theirs to bound.
        None
    }

    fn timeout(&self, wait: Wait) -> std::time::Duration {
        let config = &self.shared.config;
        match wait {
            Wait::Idle => config.idle_timeout(),
            Wait::Params => config.params_timeout(),
            Wait::Body => config.body_timeout(),
            Wait::Write => config.write_timeout(),
        }
    }
}

impl<S> Driver<S> {
    async fn run<IO, B>(&mut self, io: IO) -> Outcome
    where
        IO: Halves,
        S: CgiService<B>,
        B: ResponseBody,
    {
        let mut io = io;
        let (mut reader, mut writer) = io.halves();
        let budgets = self.budgets.clone();
        // The receive buffer, counted as the allocations it reads into.
        let mut receive = Receive::default();
        let mut read_open = true;
        // Registered once for the connection, not once per turn of the loop.
        let mut shutdown = self.shared.shutdown.clone();
        let shared = self.shared.clone();
        let changed = std::pin::pin!(shutdown.changed());
        let mut stopped = ShutdownWait::new(&shared, changed);
        let mut timer = std::pin::pin!(Deadline::timer());
        let mut deadline = Deadline::default();
        let mut waiting = self.waiting_for(false);
        let mut since = Instant::now();
        loop {
            self.output.push_buf(self.conn.take_output());
            if self.output.is_empty()
                && (self.conn.should_close()
                    || (self.slots.is_empty() && (!read_open || self.shared.shutting_down())))
            {
                // Linger only where an answer went out that the peer may still be sending
                // toward; an idle connection closed for a shutdown has none, nor one whose
                // requests all arrived whole (closing it sends no reset: nothing is unread).
                if read_open
                    && self.conn.should_close()
                    && (self.unread_input || !receive.input.is_empty())
                {
                    receive.release();
                    crate::server::linger::close(&mut reader, &mut writer, &mut receive.input)
                        .await;
                }
                return match self.conn.failure() {
                    Some(error) => Outcome::Protocol(error.clone()),
                    None => Outcome::Done,
                };
            }
            let now_waiting = self.waiting_for(!receive.input.is_empty());
            if now_waiting != waiting {
                waiting = now_waiting;
                since = Instant::now();
            }
            deadline.set(waiting.map(|wait| since + self.timeout(wait)));
            let reading = read_open && self.conn.failure().is_none();
            let body_open = self.slots.values().any(|slot| slot.body.is_some());
            let purpose = crate::server::receive::purpose(&budgets, body_open);
            tokio::select! {
                read = receive.read(&mut reader, &budgets, purpose), if reading => match read {
                    Ok(0) => {
                        read_open = false;
                        self.peer_closed();
                    }
                    Ok(_) => {
                        if waiting != Some(Wait::Idle) {
                            since = Instant::now();
                        }
                        let block = receive.block();
                        self.receive(&mut receive.input, block.as_ref());
                        receive.settle(&budgets);
                    }
                    Err(error) => return Outcome::Io(error),
                },
                message = self.inbound.recv() => {
                    if let Some((key, message)) = message {
                        self.apply(key, message);
                        // Take what else is ready, so that a head, its body and its end
                        // go out in one write.
                        while let Ok((key, message)) = self.inbound.try_recv() {
                            self.apply(key, message);
                        }
                    }
                }
                written = self.output.write_some(&mut writer), if !self.output.is_empty() => {
                    match written {
                        Ok(_) => since = Instant::now(),
                        Err(error) => return Outcome::Io(error),
                    }
                }
                // A request's future ended (answered, or aborted); what it sent is applied
                // above.
                Some(_) = self.requests.next(), if !self.requests.is_empty() => {}
                () = deadline.expired(timer.as_mut()) => {
                    return Outcome::TimedOut(waiting.unwrap_or(Wait::Idle));
                }
                // A shutdown began (checked above), or the server is gone without one,
                // which leaves its connections serving.
                () = stopped.wait(), if stopped.is_pending() => {}
            }
        }
    }

    /// Feeds what arrived to the connection and acts on every event.
    fn receive<B>(&mut self, input: &mut BytesMut, block: Option<&Block>)
    where
        S: CgiService<B>,
        B: ResponseBody,
    {
        loop {
            // What the connection queued so far goes out first: a refused request's head
            // (below) must come before the records the connection ends it with.
            self.output.push_buf(self.conn.take_output());
            match self.conn.receive(input) {
                Ok(Some(event)) => self.event(event, block),
                Err(error) if error.scope() == ErrorScope::Request => {
                    // Counted and reported once when the connection ends, never per record.
                    self.request_errors += 1;
                    if let Some(request_id) = error.request_id {
                        self.refuse(request_id, &error.violation);
                        self.drop_request(request_id, BodyError::ConnectionLost);
                    }
                    self.first_request_error.get_or_insert(error);
                }
                // Nothing more yet, or a connection error, which the run loop closes on.
                Ok(None) | Err(_) => break,
            }
        }
        // Params still arriving hold their bytes, and may point into this read's
        // allocation.
        for (&request_id, slot) in &mut self.slots {
            if slot.task.is_some() {
                continue;
            }
            if let Some(block) = block
                && !slot
                    .params
                    .last()
                    .is_some_and(|last| Arc::ptr_eq(last, block))
            {
                slot.params.push(block.clone());
            }
            if let Some(received) = self.conn.params_received(request_id) {
                slot.params_bytes
                    .get_or_insert_with(|| self.budgets.none())
                    .grow_to(received);
            }
        }
    }

    fn event<B>(&mut self, event: ApplicationEvent, block: Option<&Block>)
    where
        S: CgiService<B>,
        B: ResponseBody,
    {
        match event {
            ApplicationEvent::RequestBegun { request_id, .. } => {
                let params = block.into_iter().cloned().collect();
                self.slots.insert(
                    request_id,
                    Slot {
                        params,
                        ..Slot::default()
                    },
                );
            }
            ApplicationEvent::Params { request_id, params } => self.start(request_id, params),
            ApplicationEvent::Stdin { request_id, chunk } => {
                let Some(slot) = self.slots.get_mut(&request_id) else {
                    return;
                };
                if let Some(body) = &slot.body {
                    // The chunk holds the allocation it was cut from.
                    let block = block
                        .cloned()
                        .unwrap_or_else(|| Arc::new(self.budgets.none()));
                    if !body.send(chunk, block) {
                        // The service dropped its body: the rest is read and dropped.
                        slot.body = None;
                    }
                }
            }
            ApplicationEvent::StdinEnd { request_id } => {
                if let Some(slot) = self.slots.get_mut(&request_id) {
                    slot.body = None;
                    slot.stdin_ended = true;
                }
            }
            ApplicationEvent::Abort { request_id } => {
                self.drop_request(request_id, BodyError::Aborted);
                let _ = self.conn.end_request(request_id, FAILED_REQUEST_APP_STATUS);
            }
            // The FILTER role's second stream: this server serves responders.
            _ => {}
        }
    }

    /// Starts a request's task once its params are complete.
    fn start<B>(&mut self, request_id: RequestId, params: cgi_env::Environ)
    where
        S: CgiService<B>,
        B: ResponseBody,
    {
        let (sender, body) = Body::channel(None);
        let request = match crate::request::build(
            params,
            body,
            true,
            self.connection,
            self.shared.config.route_path(),
        ) {
            Ok(request) => request,
            Err(error) => {
                tracing::debug!(%error, "FastCGI request with an unusable environ; answering 400");
                let head =
                    b"Status: 400 Bad Request\r\nContent-Type: text/plain\r\n\r\nbad request\n";
                let _ = self.conn.send_stdout(request_id, Bytes::from_static(head));
                let _ = self.conn.end_request(request_id, FAILED_REQUEST_APP_STATUS);
                self.forget(request_id);
                return;
            }
        };
        let Some(slot) = self.slots.get_mut(&request_id) else {
            return;
        };
        slot.body = Some(sender);
        let params = (std::mem::take(&mut slot.params), slot.params_bytes.take());
        let permit = self.shared.requests.clone().acquire();
        let future = Box::pin(respond::run(
            self.service.clone(),
            request,
            request_id.get(),
            self.outbound.clone(),
            self.budgets.clone(),
            async move {
                let permit = permit.await;
                // The service has its environ now: its memory is the service's.
                drop(params);
                permit
            },
        ));
        let (abort, registration) = AbortHandle::new_pair();
        self.requests.push(Abortable::new(future, registration));
        slot.task = Some(abort);
    }

    /// Applies what a request's task sent.
    fn apply(&mut self, key: u16, message: Outbound) {
        let request_id = RequestId::new(key);
        if !self.slots.contains_key(&request_id) {
            // Aborted or refused meanwhile.
            return;
        }
        match message {
            Outbound::Head(parts) => {
                let mut head = BytesMut::with_capacity(cgi_env::response_head_len(
                    parts.status,
                    &parts.headers,
                ));
                cgi_env::write_response_head(parts.status, &parts.headers, &mut head);
                let _ = self.conn.send_stdout(request_id, head.freeze());
            }
            Outbound::Data(data, reservation) => {
                let _ = self.conn.send_stdout(request_id, data);
                self.output.push_buf(self.conn.take_output());
                self.output.hold(reservation);
            }
            Outbound::End { complete } => {
                let status = if complete {
                    0
                } else {
                    FAILED_REQUEST_APP_STATUS
                };
                let _ = self.conn.end_request(request_id, status);
                // The body, if the service left some unread, is dropped as it arrives.
                self.forget(request_id);
            }
        }
    }

    /// Answers a request whose params the connection refused with a CGI head (431 for
    /// params over the limit, 400 for malformed ones) ahead of the END_REQUEST the
    /// connection already queued. A request whose service runs already has its own head
    /// on the way: it only ends.
    fn refuse(&mut self, request_id: RequestId, violation: &Violation) {
        let started = self
            .slots
            .get(&request_id)
            .is_none_or(|slot| slot.task.is_some());
        if started {
            return;
        }
        let head: &'static [u8] = match violation {
            Violation::ParamsTooLarge { .. }
            | Violation::PairTooLarge { .. }
            | Violation::TooManyRecordsBeforeParamsEnd { .. } => {
                b"Status: 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\n\r\nrequest header fields too large\n"
            }
            _ => b"Status: 400 Bad Request\r\nContent-Type: text/plain\r\n\r\nbad request\n",
        };
        let mut records = fastcgi_codec::OutputQueue::new();
        RecordEncoder::new(self.conn.config().padding()).stream(
            RecordType::Stdout,
            request_id,
            Bytes::from_static(head),
            &mut records,
        );
        self.output.push_buf(records);
    }

    /// Removes a request's slot, noting whether its body may still be on the way.
    fn forget(&mut self, request_id: RequestId) -> Option<Slot> {
        let slot = self.slots.remove(&request_id)?;
        self.unread_input |= !slot.stdin_ended;
        Some(slot)
    }

    /// Forgets a request: its task is dropped and its body, if still open, fails.
    fn drop_request(&mut self, request_id: RequestId, why: BodyError) {
        if let Some(slot) = self.forget(request_id) {
            if let Some(task) = slot.task {
                task.abort();
            }
            if let Some(body) = slot.body {
                body.fail(why);
            }
        }
    }

    /// The peer closed its side: bodies still open cannot end; answers may still go out.
    fn peer_closed(&mut self) {
        let unbegun: Vec<RequestId> = self
            .slots
            .iter()
            .filter(|(_, slot)| slot.task.is_none())
            .map(|(&id, _)| id)
            .collect();
        for id in unbegun {
            self.slots.remove(&id);
        }
        for slot in self.slots.values_mut() {
            if let Some(body) = slot.body.take() {
                body.fail(BodyError::ConnectionLost);
            }
        }
    }
}
