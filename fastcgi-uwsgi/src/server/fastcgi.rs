//! The FastCGI side of a server connection ([`crate::server::session::Session`]): one
//! sans-IO application connection, fed what the driver reads; each request's service runs
//! inside the connection's own task, so nothing of a request outlives its connection.
//!
//! Requests multiplexed on the connection run at once, up to the codec's limit per
//! connection and the server's limit per process. Request bodies are read ahead of their
//! services into the connection's budget, and response bytes wait in it for the socket,
//! so the connection keeps reading while it cannot write and the other way round: a
//! service that answers before it has read its body does not hang behind a front server
//! that stops sending the body (nginx, once it has the head) nor behind one that sends the
//! whole body before reading (Apache), within that budget.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use fastcgi_codec::{
    ApplicationConfig, ApplicationConnection, ApplicationEvent, ErrorScope,
    FAILED_REQUEST_APP_STATUS, RecordEncoder, RecordType, RequestId, Violation,
};

use crate::body::{Body, BodyError, BodySender};
use crate::budget::Reservation;
use crate::config::ServeConfig;
use crate::driver::receive::Block;
use crate::driver::{Closing, Outcome, Wait};
use crate::id_map::IdMap;
use crate::output::Output;
use crate::respond::{self, CgiService, Outbound, ResponseBody};
use crate::server::fastcgi_requests::{FastCgiRequests, Started};
use crate::server::session::{self, Parts, Session};

/// One request on the connection, as the driver tracks it.
#[derive(Debug, Default)]
struct Slot {
    /// Present until the body ends (or the service stops reading it).
    body: Option<BodySender>,
    /// How to stop the request's future, once it started.
    task: Option<Started>,
    /// Whether the peer has sent the end of the request's body.
    stdin_ended: bool,
    /// The receive buffer allocations the request's params may point into, held until
    /// its service is called.
    params: Vec<Block>,
    /// The params bytes received while they arrive (the codec copies a pair split
    /// across records).
    params_bytes: Option<Reservation>,
    /// The complete params, until the request starts: at its first body bytes, at the end
    /// of its body, or at the end of the read they came in, whichever is first. A request
    /// whose body ended in the same read (every GET from nginx) starts with an empty body
    /// and no channel to feed it.
    environ: Option<cgi_env::Environ>,
}

pub(crate) struct FastCgiSession<S, B> {
    service: S,
    conn: ApplicationConnection,
    slots: IdMap<Slot>,
    /// Request-level protocol errors seen, and the first, for the one log line at the end.
    request_errors: usize,
    first_request_error: Option<fastcgi_codec::ProtocolError>,
    /// This connection's [`crate::CgiFacts::connection`].
    connection: u64,
    /// Whether a request was forgotten before the peer sent all of it: the peer may still
    /// be sending, so closing must linger.
    unread_input: bool,
    _body: PhantomData<fn() -> B>,
}

impl<S, B> Session for FastCgiSession<S, B>
where
    S: CgiService<B>,
    B: ResponseBody,
{
    type Requests = FastCgiRequests;
    type Error = fastcgi_codec::ProtocolError;

    const NAME: &'static str = "FastCGI";

    fn queue(&mut self, output: &mut Output) {
        output.push_buf(self.conn.take_output());
    }

    fn closing(&self, read_open: bool, buffered: bool, shutting_down: bool) -> Option<Closing> {
        let should_close = self.conn.should_close();
        if !should_close && !(self.slots.is_empty() && (!read_open || shutting_down)) {
            return None;
        }
        // Linger only where an answer went out that the peer may still be sending toward;
        // an idle connection closed for a shutdown has none, nor one whose requests all
        // arrived whole (closing it sends no reset: nothing is unread).
        Some(if should_close && (self.unread_input || buffered) {
            Closing::Linger
        } else {
            Closing::Now
        })
    }

    fn result(&self) -> Result<(), fastcgi_codec::ProtocolError> {
        match self.conn.failure() {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }

    fn waiting_for(&self, buffered: bool) -> Option<Wait> {
        if self.slots.is_empty() {
            return Some(if buffered { Wait::Head } else { Wait::Idle });
        }
        if self.slots.values().any(|slot| slot.task.is_none()) {
            return Some(Wait::Head);
        }
        if self.slots.values().any(|slot| slot.body.is_some()) {
            return Some(Wait::Body);
        }
        // Services are working: how long they take is theirs to bound.
        None
    }

    fn reading(&self) -> bool {
        self.conn.failure().is_none()
    }

    fn body_open(&self) -> bool {
        self.slots.values().any(|slot| slot.body.is_some())
    }

    fn receive(
        &mut self,
        parts: &mut Parts<Self::Requests>,
        output: &mut Output,
        input: &mut BytesMut,
        block: Option<&Block>,
        eof: bool,
    ) -> Result<(), fastcgi_codec::ProtocolError> {
        if eof {
            self.peer_closed();
        } else {
            self.records(parts, output, input, block);
        }
        // A connection error is the connection's failure, which closes it.
        Ok(())
    }

    fn apply(
        &mut self,
        _parts: &mut Parts<Self::Requests>,
        output: &mut Output,
        key: u16,
        message: Outbound,
    ) -> Result<(), fastcgi_codec::ProtocolError> {
        self.answer(output, RequestId::new(key), message);
        Ok(())
    }

    fn end(
        &mut self,
        parts: &mut Parts<Self::Requests>,
        outcome: &Outcome<fastcgi_codec::ProtocolError>,
        peer: Option<SocketAddr>,
    ) {
        for (request_id, slot) in self.slots.drain() {
            if let Some(task) = slot.task {
                parts.requests.stop(request_id, task);
            }
            if let Some(body) = slot.body {
                body.fail(BodyError::ConnectionLost);
            }
        }
        if let Outcome::Protocol(error) = outcome {
            tracing::warn!(?peer, %error, "FastCGI connection closed on a protocol error");
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

impl<S, B> FastCgiSession<S, B>
where
    S: CgiService<B>,
    B: ResponseBody,
{
    /// A new connection's session, serving `service`.
    pub(crate) fn new(service: S, config: &ServeConfig) -> Self {
        let application = ApplicationConfig::default()
            .with_multiplex(config.multiplex())
            .with_limits(config.fastcgi_limits());
        FastCgiSession {
            service,
            conn: ApplicationConnection::new(application),
            slots: IdMap::default(),
            request_errors: 0,
            first_request_error: None,
            connection: crate::request::next_connection(),
            unread_input: false,
            _body: PhantomData,
        }
    }

    /// Feeds what arrived to the connection and acts on every event.
    fn records(
        &mut self,
        parts: &mut Parts<FastCgiRequests>,
        output: &mut Output,
        input: &mut BytesMut,
        block: Option<&Block>,
    ) {
        loop {
            // What the connection queued so far goes out first: a refused request's head
            // (below) must come before the records the connection ends it with.
            output.push_buf(self.conn.take_output());
            match self.conn.receive(input) {
                Ok(Some(event)) => self.event(parts, event, block),
                Err(error) if error.scope() == ErrorScope::Request => {
                    // Counted and reported once when the connection ends, never per record.
                    self.request_errors += 1;
                    if let Some(request_id) = error.request_id {
                        self.refuse(output, request_id, &error.violation);
                        self.drop_request(
                            &mut parts.requests,
                            request_id,
                            BodyError::ConnectionLost,
                        );
                    }
                    self.first_request_error.get_or_insert(error);
                }
                // Nothing more yet, or a connection error, which the run loop closes on.
                Ok(None) | Err(_) => break,
            }
        }
        // Requests whose body goes on past this read start now, with a body to stream.
        let waiting: Vec<RequestId> = self
            .slots
            .iter()
            .filter(|(_, slot)| slot.environ.is_some())
            .map(|(&id, _)| id)
            .collect();
        for request_id in waiting {
            self.start(parts, request_id, true);
        }
        output.push_buf(self.conn.take_output());
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
                    .get_or_insert_with(|| parts.budgets.none())
                    .grow_to(received);
            }
        }
    }

    fn event(
        &mut self,
        parts: &mut Parts<FastCgiRequests>,
        event: ApplicationEvent,
        block: Option<&Block>,
    ) {
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
            ApplicationEvent::Params { request_id, params } => {
                if let Some(slot) = self.slots.get_mut(&request_id) {
                    slot.environ = Some(params);
                }
            }
            ApplicationEvent::Stdin { request_id, chunk } => {
                self.start(parts, request_id, true);
                let Some(slot) = self.slots.get_mut(&request_id) else {
                    return;
                };
                if let Some(body) = &slot.body {
                    // The chunk holds the allocation it was cut from.
                    let block = block
                        .cloned()
                        .unwrap_or_else(|| Arc::new(parts.budgets.none()));
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
                self.start(parts, request_id, false);
            }
            ApplicationEvent::Abort { request_id } => {
                self.drop_request(&mut parts.requests, request_id, BodyError::Aborted);
                let _ = self.conn.end_request(request_id, FAILED_REQUEST_APP_STATUS);
            }
            // The FILTER role's second stream: this server serves responders.
            _ => {}
        }
    }

    /// Starts the request's task if its params are complete and it has not started; with
    /// `body_open` its body streams from a channel the connection feeds, else it is empty.
    fn start(
        &mut self,
        parts: &mut Parts<FastCgiRequests>,
        request_id: RequestId,
        body_open: bool,
    ) {
        let Some(params) = self
            .slots
            .get_mut(&request_id)
            .and_then(|slot| slot.environ.take())
        else {
            return;
        };
        let (sender, body) = if body_open {
            let (sender, body) = Body::channel(None);
            (Some(sender), body)
        } else {
            (None, Body::empty())
        };
        let request = match crate::request::build(
            params,
            body,
            true,
            self.connection,
            parts.shared.config.route_path(),
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
        slot.body = sender;
        // The params' memory counts as the connection's until the service has them, at
        // its permit; from then on it is the service's.
        let params = (std::mem::take(&mut slot.params), slot.params_bytes.take());
        let admission = parts.shared.requests.admit(params);
        let future: session::RequestFuture = Box::pin(respond::run(
            self.service.clone(),
            request,
            request_id.get(),
            parts.answers.sender(),
            parts.budgets.clone(),
            admission,
        ));
        slot.task = Some(parts.requests.start(request_id, future));
    }

    /// Applies what a request's future sent.
    fn answer(&mut self, output: &mut Output, request_id: RequestId, message: Outbound) {
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
                output.push_buf(self.conn.take_output());
                output.hold(reservation);
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
    fn refuse(&mut self, output: &mut Output, request_id: RequestId, violation: &Violation) {
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
        output.push_buf(records);
    }

    /// Removes a request's slot, noting whether its body may still be on the way.
    fn forget(&mut self, request_id: RequestId) -> Option<Slot> {
        let slot = self.slots.remove(&request_id)?;
        self.unread_input |= !slot.stdin_ended;
        Some(slot)
    }

    /// Forgets a request: its task is dropped and its body, if still open, fails.
    fn drop_request(
        &mut self,
        requests: &mut FastCgiRequests,
        request_id: RequestId,
        why: BodyError,
    ) {
        if let Some(slot) = self.forget(request_id) {
            if let Some(task) = slot.task {
                requests.stop(request_id, task);
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
