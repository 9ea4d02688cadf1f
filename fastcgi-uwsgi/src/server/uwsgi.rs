//! The uwsgi side of a server connection ([`crate::server::session::Session`]): one
//! request per connection, as uwsgi has it. The vars block becomes the request, the body
//! streams to the service as it arrives, the response goes out as an HTTP/1.x head and
//! raw body bytes, and the connection closes. A ping is answered with a pong.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use uwsgi_codec::{RequestDecoder, RequestEvent, ResponseWriter, Violation};

use crate::body::{Body, BodyError, BodySender};
use crate::config::ServeConfig;
use crate::driver::receive::Block;
use crate::driver::{Closing, Outcome, Wait};
use crate::output::Output;
use crate::respond::{self, CgiService, Outbound, ResponseBody};
use crate::server::session::{OneRequest, Parts, Session};

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

/// Why a uwsgi connection could not go on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UwsgiError {
    /// The request (past its vars block) broke the protocol.
    #[error(transparent)]
    Protocol(#[from] uwsgi_codec::ProtocolError),
    /// The service's answer could not be written as a response (a second head).
    #[error(transparent)]
    Response(#[from] uwsgi_codec::MisuseError),
    /// The service's response body failed part way: the response ends cut short.
    #[error("the response body failed part way")]
    BodyFailed,
}

pub(crate) struct UwsgiSession<S, B> {
    service: S,
    decoder: RequestDecoder,
    stage: Stage,
    body: Option<BodySender>,
    /// The response writer, from the request's SERVER_PROTOCOL.
    response: Option<ResponseWriter>,
    /// Whether the peer may still be sending: closing must then linger.
    unread_input: bool,
    _body: PhantomData<fn() -> B>,
}

impl<S, B> Session for UwsgiSession<S, B>
where
    S: CgiService<B>,
    B: ResponseBody,
{
    type Requests = OneRequest;
    type Error = UwsgiError;

    const NAME: &'static str = "uwsgi";

    fn queue(&mut self, _output: &mut Output) {}

    fn closing(&self, _read_open: bool, buffered: bool, shutting_down: bool) -> Option<Closing> {
        match self.stage {
            // A request that arrived whole leaves nothing unread: closing sends no reset,
            // and needs no lingering.
            Stage::Closing => Some(
                if !self.unread_input && self.decoder.is_done() && !buffered {
                    Closing::Now
                } else {
                    Closing::Linger
                },
            ),
            Stage::Idle if shutting_down => Some(Closing::Now),
            _ => None,
        }
    }

    fn result(&self) -> Result<(), UwsgiError> {
        Ok(())
    }

    fn waiting_for(&self, _buffered: bool) -> Option<Wait> {
        match self.stage {
            Stage::Idle => Some(Wait::Idle),
            Stage::Vars => Some(Wait::Head),
            Stage::Serving if self.body.is_some() => Some(Wait::Body),
            Stage::Serving | Stage::Closing => None,
        }
    }

    fn reading(&self) -> bool {
        matches!(self.stage, Stage::Idle | Stage::Vars) || self.body.is_some()
    }

    fn body_open(&self) -> bool {
        self.stage == Stage::Serving
    }

    fn receive(
        &mut self,
        parts: &mut Parts<OneRequest>,
        output: &mut Output,
        input: &mut BytesMut,
        block: Option<&Block>,
        eof: bool,
    ) -> Result<(), UwsgiError> {
        let received = self.decode(parts, output, input, block, eof);
        if received.is_err()
            && let Some(body) = self.body.take()
        {
            body.fail(BodyError::ConnectionLost);
        }
        received
    }

    fn apply(
        &mut self,
        _parts: &mut Parts<OneRequest>,
        output: &mut Output,
        _key: u16,
        message: Outbound,
    ) -> Result<(), UwsgiError> {
        let Some(writer) = self.response.as_mut() else {
            return Ok(());
        };
        match message {
            Outbound::Head(head) => {
                // Room for the whole head at once: a status line as long as a CGI one,
                // give or take the protocol's name.
                let mut bytes = BytesMut::with_capacity(
                    cgi_env::response_head_len(head.status, &head.headers) + 16,
                );
                let headers = head
                    .headers
                    .iter()
                    .map(|(name, value)| (name.as_str(), value.as_bytes()));
                writer.write_head(head.status, headers, &mut bytes)?;
                output.push(bytes.freeze());
            }
            Outbound::Data(data, reservation) => {
                let data = writer.body_chunk(data)?;
                output.push(data);
                output.hold(reservation);
            }
            Outbound::End { complete } => {
                self.stage = Stage::Closing;
                if !complete {
                    return Err(UwsgiError::BodyFailed);
                }
                writer.finish()?;
            }
        }
        Ok(())
    }

    fn end(
        &mut self,
        _parts: &mut Parts<OneRequest>,
        outcome: &Outcome<UwsgiError>,
        peer: Option<SocketAddr>,
    ) {
        if let Some(body) = self.body.take() {
            body.fail(BodyError::ConnectionLost);
        }
        if let Outcome::Protocol(error) = outcome {
            tracing::debug!(?peer, %error, "uwsgi connection closed early");
        }
    }
}

impl<S, B> UwsgiSession<S, B>
where
    S: CgiService<B>,
    B: ResponseBody,
{
    /// A new connection's session, serving `service`.
    pub(crate) fn new(service: S, config: &ServeConfig) -> Self {
        UwsgiSession {
            decoder: RequestDecoder::new(config.uwsgi_limits()),
            stage: Stage::Idle,
            body: None,
            response: None,
            unread_input: false,
            service,
            _body: PhantomData,
        }
    }

    /// Feeds what arrived to the decoder and acts on every event; `eof` when the peer has
    /// closed its side (a body cut short is then an error).
    fn decode(
        &mut self,
        parts: &mut Parts<OneRequest>,
        output: &mut Output,
        input: &mut BytesMut,
        block: Option<&Block>,
        eof: bool,
    ) -> Result<(), UwsgiError> {
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
                Ok(Some(event)) => self.event(parts, output, event, block),
                Ok(None) => return Ok(()),
                Err(error) if self.stage == Stage::Vars && !eof => {
                    // The request packet itself is refused: answered, then closed.
                    tracing::debug!(%error, "uwsgi request refused");
                    self.refuse(output, refusal_status(&error.violation));
                    input.clear();
                    return Ok(());
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    /// Answers a request whose packet was refused with `status` and a one-line body, and
    /// closes the connection once that is written.
    fn refuse(&mut self, output: &mut Output, status: http::StatusCode) {
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
            output.push(head.freeze());
        }
        self.stage = Stage::Closing;
    }

    fn event(
        &mut self,
        parts: &mut Parts<OneRequest>,
        output: &mut Output,
        event: RequestEvent,
        block: Option<&Block>,
    ) {
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
                    parts.shared.config.route_path(),
                ) {
                    Ok(request) => {
                        self.body = sender;
                        self.stage = Stage::Serving;
                        let admission = parts.shared.requests.admit(());
                        parts.requests.start(Box::pin(respond::run(
                            self.service.clone(),
                            request,
                            0,
                            parts.answers.sender(),
                            parts.budgets.clone(),
                            admission,
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
                        output.push(head.freeze());
                        self.stage = Stage::Closing;
                    }
                }
            }
            RequestEvent::Body(chunk) => {
                if let Some(body) = &self.body {
                    // The chunk holds the allocation it was cut from.
                    let block = block
                        .cloned()
                        .unwrap_or_else(|| Arc::new(parts.budgets.none()));
                    if !body.send(chunk, block) {
                        // The service dropped its body; the rest is read and dropped.
                        self.body = None;
                    }
                }
            }
            RequestEvent::End => self.body = None,
            RequestEvent::Ping => {
                output.push(uwsgi_codec::wire::pong_bytes());
                self.stage = Stage::Closing;
            }
            // Signals, and packets that are not requests, are not this server's to answer.
            _ => self.stage = Stage::Closing,
        }
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
