//! The uwsgi connection driver: one request per connection, as uwsgi has it. The vars
//! block becomes the request, the body streams to the service as it arrives, the
//! response goes out as an HTTP/1.x head and raw body bytes, and the connection closes.
//! A ping is answered with a pong.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::sync::mpsc;
use tokio::time::Instant;
use uwsgi_codec::{RequestDecoder, RequestEvent, ResponseWriter, Violation};

use crate::body::{Body, BodyError, BodySender};
use crate::deadline::Deadline;
use crate::output::Output;
use crate::respond::{self, CgiService, Outbound, ResponseBody};
use crate::server::Shared;
use crate::server::halves::Halves;
use crate::server::receive::{Block, Receive};
use crate::server::shutdown_wait::ShutdownWait;

/// Where the one request of the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Nothing received yet.
    Idle,
    /// Part of the vars block received.
    Vars,
    /// The service runs; its body may still be arriving.
    Serving,
    /// The response is complete, or the connection must close: write what is queued.
    Closing,
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
    let mut driver = Driver {
        budgets: shared.budgets(),
        decoder: RequestDecoder::new(shared.config.uwsgi_limits()),
        stage: Stage::Idle,
        body: None,
        request: None,
        response: None,
        output: Output::default(),
        unread_input: false,
        service,
        shared,
    };
    let result = driver.run(io).await;
    if let Some(body) = driver.body.take() {
        body.fail(BodyError::ConnectionLost);
    }
    if let Err(problem) = result {
        tracing::debug!(?peer, %problem, "uwsgi connection closed early");
    }
}

/// A request's future, boxed to be held beside the connection's other work.
type RequestFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

struct Driver<S> {
    service: S,
    shared: Arc<Shared>,
    budgets: crate::budget::Budgets,
    decoder: RequestDecoder,
    stage: Stage,
    body: Option<BodySender>,
    /// The request's future (service call and response streaming), run inside this
    /// connection's task: one request per connection needs no task of its own. Taken by
    /// the run loop as soon as it is set.
    request: Option<RequestFuture>,
    /// The response writer, from the request's SERVER_PROTOCOL.
    response: Option<ResponseWriter>,
    output: Output,
    /// Whether the peer may still be sending: closing must then linger.
    unread_input: bool,
}

impl<S> Driver<S> {
    async fn run<IO, B>(&mut self, io: IO) -> Result<(), String>
    where
        IO: Halves,
        S: CgiService<B>,
        B: ResponseBody,
    {
        let mut io = io;
        let (mut reader, mut writer) = io.halves();
        let (outbound, mut inbound) = mpsc::unbounded_channel();
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
        let mut since = Instant::now();
        let mut current_wait = self.timeout();
        let mut request: Option<RequestFuture> = None;
        loop {
            if let Some(started) = self.request.take() {
                request = Some(started);
            }
            if self.stage == Stage::Closing && self.output.is_empty() {
                // A request that arrived whole leaves nothing unread: closing sends no
                // reset, and needs no lingering.
                let whole =
                    !self.unread_input && self.decoder.is_done() && receive.input.is_empty();
                if read_open && !whole {
                    receive.release();
                    crate::server::linger::close(&mut reader, &mut writer, &mut receive.input)
                        .await;
                }
                return Ok(());
            }
            if self.stage == Stage::Idle && self.shared.shutting_down() {
                return Ok(());
            }
            let timeout = self.timeout();
            if timeout != current_wait {
                current_wait = timeout;
                since = Instant::now();
            }
            deadline.set(current_wait.map(|(_, timeout)| since + timeout));
            let reading = read_open
                && (matches!(self.stage, Stage::Idle | Stage::Vars) || self.body.is_some());
            let purpose = crate::server::receive::purpose(&budgets, self.stage == Stage::Serving);
            tokio::select! {
                read = receive.read(&mut reader, &budgets, purpose), if reading => match read {
                    Ok(0) => {
                        read_open = false;
                        let block = receive.block();
                        self.receive(&mut receive.input, block.as_ref(), &outbound, true)?;
                    }
                    Ok(_) => {
                        since = Instant::now();
                        let block = receive.block();
                        self.receive(&mut receive.input, block.as_ref(), &outbound, false)?;
                        receive.settle(&budgets);
                    }
                    Err(error) => return Err(error.to_string()),
                },
                () = async {
                    match request.as_mut() {
                        Some(future) => future.await,
                        None => std::future::pending().await,
                    }
                }, if request.is_some() => request = None,
                message = inbound.recv() => {
                    if let Some((_, message)) = message {
                        self.apply(message)?;
                        // Take what else is ready, so that the head, the body and the end
                        // go out in one write.
                        while let Ok((_, message)) = inbound.try_recv() {
                            self.apply(message)?;
                        }
                    }
                }
                written = self.output.write_some(&mut writer), if !self.output.is_empty() => {
                    written.map_err(|error| error.to_string())?;
                    since = Instant::now();
                }
                () = deadline.expired(timer.as_mut()) => {
                    let what = current_wait.map_or("", |(what, _)| what);
                    return Err(format!("timed out waiting for {what}"));
                }
                // A shutdown began (checked above), or the server is gone without one.
                () = stopped.wait(), if stopped.is_pending() => {}
            }
        }
    }

    /// What the connection waits for, and for how long.
    fn timeout(&self) -> Option<(&'static str, std::time::Duration)> {
        let config = &self.shared.config;
        if !self.output.is_empty() {
            return Some(("the peer to read", config.write_timeout()));
        }
        match self.stage {
            Stage::Idle => Some(("a request", config.idle_timeout())),
            Stage::Vars => Some(("the vars block", config.params_timeout())),
            Stage::Serving if self.body.is_some() => {
                Some(("the request body", config.body_timeout()))
            }
            Stage::Serving | Stage::Closing => None,
        }
    }

    /// Feeds what arrived to the decoder and acts on every event; `eof` when the peer has
    /// closed its side (a body cut short is then an error).
    fn receive<B>(
        &mut self,
        input: &mut BytesMut,
        block: Option<&Block>,
        outbound: &respond::OutboundSender,
        eof: bool,
    ) -> Result<(), String>
    where
        S: CgiService<B>,
        B: ResponseBody,
    {
        if self.stage == Stage::Idle {
            // Closed before a request: nothing to answer.
            self.stage = if eof { Stage::Closing } else { Stage::Vars };
        }
        while self.stage != Stage::Closing || eof {
            if self.decoder.is_done() {
                // Whatever follows the request (a pipelined second request, garbage) is
                // not this connection's to serve: uWSGI answers the first request and
                // drops the rest, and so does this driver.
                self.unread_input |= !input.is_empty();
                input.clear();
                return Ok(());
            }
            let event = if eof {
                self.decoder.decode_eof(input)
            } else {
                self.decoder.decode(input)
            };
            match event {
                Ok(Some(event)) => self.event(event, block, outbound),
                Ok(None) => return Ok(()),
                Err(error) if self.stage == Stage::Vars && !eof => {
                    // The request packet itself is refused: answered, then closed.
                    tracing::debug!(%error, "uwsgi request refused");
                    self.refuse(refusal_status(&error.violation));
                    input.clear();
                    return Ok(());
                }
                Err(error) => return Err(self.fail(&error.to_string())),
            }
        }
        Ok(())
    }

    /// Answers a request whose packet was refused with `status` and a one-line body, and
    /// closes the connection once that is written.
    fn refuse(&mut self, status: http::StatusCode) {
        let text = format!("{}\n", status.canonical_reason().unwrap_or("refused"));
        let length = text.len().to_string();
        let mut head = BytesMut::new();
        // No SERVER_PROTOCOL could be read: the status line says HTTP/1.0.
        let written = ResponseWriter::with_protocol("HTTP/1.0").write_head(
            status,
            [
                ("Content-Type", "text/plain"),
                ("Content-Length", length.as_str()),
            ],
            &mut head,
        );
        if written.is_ok() {
            head.extend_from_slice(text.as_bytes());
            self.output.push(head.freeze());
        }
        self.stage = Stage::Closing;
    }

    /// A request that cannot go on: its body fails, and the connection closes once what
    /// is queued is written.
    fn fail(&mut self, problem: &str) -> String {
        if let Some(body) = self.body.take() {
            body.fail(BodyError::ConnectionLost);
        }
        problem.to_owned()
    }

    fn event<B>(
        &mut self,
        event: RequestEvent,
        block: Option<&Block>,
        outbound: &respond::OutboundSender,
    ) where
        S: CgiService<B>,
        B: ResponseBody,
    {
        match event {
            RequestEvent::Head(head) => {
                self.response = Some(ResponseWriter::new(&head.environ));
                // A request without a body (most are) needs no channel.
                let (sender, body) = if head.content_length > 0 {
                    let (sender, body) = Body::channel(Some(head.content_length));
                    (Some(sender), body)
                } else {
                    (None, Body::empty())
                };
                match crate::request::build(
                    head.environ,
                    body,
                    false,
                    crate::request::next_connection(),
                    self.shared.config.route_path(),
                ) {
                    Ok(request) => {
                        self.body = sender;
                        self.stage = Stage::Serving;
                        let permit = self.shared.requests.clone().acquire();
                        self.request = Some(Box::pin(respond::run(
                            self.service.clone(),
                            request,
                            0,
                            outbound.clone(),
                            self.budgets.clone(),
                            permit,
                        )));
                    }
                    Err(error) => {
                        tracing::debug!(%error, "uwsgi request with unusable vars; answering 400");
                        let mut head = BytesMut::new();
                        if let Some(writer) = self.response.as_mut() {
                            let _ = writer.write_head(
                                http::StatusCode::BAD_REQUEST,
                                [("Content-Type", "text/plain")],
                                &mut head,
                            );
                        }
                        head.extend_from_slice(b"bad request\n");
                        self.output.push(head.freeze());
                        self.stage = Stage::Closing;
                    }
                }
            }
            RequestEvent::Body(chunk) => {
                if let Some(body) = &self.body {
                    // The chunk holds the allocation it was cut from.
                    let block = block
                        .cloned()
                        .unwrap_or_else(|| std::sync::Arc::new(self.budgets.none()));
                    if !body.send(chunk, block) {
                        // The service dropped its body; the rest is read and dropped.
                        self.body = None;
                    }
                }
            }
            RequestEvent::End => self.body = None,
            RequestEvent::Ping => {
                self.output.push(uwsgi_codec::wire::pong_bytes());
                self.stage = Stage::Closing;
            }
            // Signals, and packets that are not requests, are not this server's to answer.
            _ => self.stage = Stage::Closing,
        }
    }

    fn apply(&mut self, message: Outbound) -> Result<(), String> {
        let Some(writer) = self.response.as_mut() else {
            return Ok(());
        };
        match message {
            Outbound::Head(parts) => {
                let mut head = BytesMut::new();
                let headers = parts
                    .headers
                    .iter()
                    .map(|(name, value)| (name.as_str(), value.as_bytes()));
                writer
                    .write_head(parts.status, headers, &mut head)
                    .map_err(|error| error.to_string())?;
                self.output.push(head.freeze());
            }
            Outbound::Data(data, reservation) => {
                let data = writer.body_chunk(data).map_err(|error| error.to_string())?;
                self.output.push(data);
                self.output.hold(reservation);
            }
            Outbound::End { complete } => {
                self.stage = Stage::Closing;
                if !complete {
                    return Err("the response body failed part way".to_owned());
                }
                writer.finish().map_err(|error| error.to_string())?;
            }
        }
        Ok(())
    }
}

/// The status a refused request packet is answered with: 431 for a vars block larger
/// than the limit, 413 for a body larger than the limit, 400 for the rest (a malformed
/// vars block, too many vars, an empty var name, a CONTENT_LENGTH that is no number).
fn refusal_status(violation: &Violation) -> http::StatusCode {
    match violation {
        Violation::DatasizeTooLarge { .. } => http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        Violation::BodyTooLarge { .. } => http::StatusCode::PAYLOAD_TOO_LARGE,
        _ => http::StatusCode::BAD_REQUEST,
    }
}
