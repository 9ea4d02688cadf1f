//! [`GatewayConnection`]: the gateway side of one connection (what nginx is to PHP-FPM),
//! as a sans-IO state machine.

use bytes::{Bytes, BytesMut};
use cgi_env::Environ;

use crate::connection::{self, Core, Side, config_common, connection_accessors};
use crate::encoder::{OutputQueue, Padding};
use crate::error::{ProtocolError, SendError, Violation};
use crate::ids::RequestId;
use crate::limits::Limits;
use crate::params::{GetValuesAnswer, decode_pairs, encode_params, get_values_query};
use crate::record::{BeginRequestBody, ProtocolStatus, Record, RecordType, Role};

/// Room made in the output for a request's head when it is begun.
const REQUEST_HEAD_ROOM: usize = 4096;
/// How a gateway connection behaves.
///
/// ```
/// use fastcgi_codec::{GatewayConfig, Limits};
///
/// let config = GatewayConfig::default()
///     .with_assume_multiplexing(true)
///     .with_limits(Limits::default().with_max_requests_in_flight(8));
/// assert_eq!(config.limits().max_requests_in_flight(), 8);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GatewayConfig {
    padding: Padding,
    limits: Limits,
    assume_multiplexing: bool,
}

impl GatewayConfig {
    config_common!();

    /// Whether the peer is known to multiplex before any GET_VALUES_RESULT says so.
    /// Default off: one request at a time until the peer answers FCGI_MPXS_CONNS=1.
    pub fn assume_multiplexing(&self) -> bool {
        self.assume_multiplexing
    }

    /// Sets [`GatewayConfig::assume_multiplexing`].
    #[must_use]
    pub fn with_assume_multiplexing(mut self, assume: bool) -> Self {
        self.assume_multiplexing = assume;
        self
    }
}

/// What the application answered, in order, per request id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GatewayEvent {
    /// Response bytes (a CGI header block, then the body), as they arrived.
    Stdout {
        /// The request id.
        request_id: RequestId,
        /// The bytes (a slice of the received buffer).
        chunk: Bytes,
    },
    /// Error output of the application.
    Stderr {
        /// The request id.
        request_id: RequestId,
        /// The bytes (a slice of the received buffer).
        chunk: Bytes,
    },
    /// The request ended (END_REQUEST). Its STDOUT and STDERR are over whether or not
    /// their empty end records came (PHP-FPM sends none). The id is free again.
    End {
        /// The request id.
        request_id: RequestId,
        /// The application's status (e.g. an exit code).
        app_status: u32,
        /// How the request ended at the protocol level.
        protocol_status: ProtocolStatus,
    },
    /// The answer to [`GatewayConnection::get_values`].
    GetValuesAnswer(GetValuesAnswer),
    /// The application did not understand a management record of this type.
    UnknownType {
        /// The type byte it did not understand.
        record_type: u8,
    },
}

// Each flag is the state of a different stream, not a mode: an enum would not be simpler.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Default)]
pub(crate) struct RequestState {
    params_sent: bool,
    stdin_ended: bool,
    data_ended: bool,
    stdout_ended: bool,
    stderr_ended: bool,
}

/// The gateway side of one FastCGI connection.
///
/// Begin a request with [`GatewayConnection::begin_request`], send its params from an
/// [`Environ`] and its body as [`Bytes`] (large ones passed through without copying),
/// write what [`GatewayConnection::take_output`] hands back, and feed what the application
/// answers to [`GatewayConnection::receive`].
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use cgi_env::Environ;
/// use fastcgi_codec::{GatewayConfig, GatewayConnection, GatewayEvent, ProtocolStatus, RequestId, Role};
///
/// let mut conn = GatewayConnection::new(GatewayConfig::default());
/// let id = conn.begin_request(Role::Responder, false).unwrap();
/// let mut params = Environ::new();
/// params.insert("SCRIPT_FILENAME", "/srv/www/index.php");
/// params.insert("REQUEST_METHOD", "GET");
/// conn.send_params(id, &params).unwrap();
/// conn.end_stdin(id).unwrap();
/// let request = conn.take_output(); // write these bytes to the socket
/// // BEGIN_REQUEST, one PARAMS record (54 bytes of pairs padded to 56), the empty PARAMS
/// // and STDIN records.
/// assert_eq!(request.len(), 16 + (8 + 56) + 8 + 8);
///
/// // What php-fpm answers: STDOUT, then END_REQUEST with no empty STDOUT before it.
/// let mut answer = BytesMut::from(
///     &b"\x01\x06\x00\x01\x00\x1e\x02\x00Content-Type: text/plain\r\n\r\nhi\x00\x00\
///        \x01\x03\x00\x01\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"[..],
/// );
/// assert_eq!(
///     conn.receive(&mut answer).unwrap(),
///     Some(GatewayEvent::Stdout {
///         request_id: RequestId::new(1),
///         chunk: Bytes::from_static(b"Content-Type: text/plain\r\n\r\nhi"),
///     })
/// );
/// assert_eq!(
///     conn.receive(&mut answer).unwrap(),
///     Some(GatewayEvent::End {
///         request_id: RequestId::new(1),
///         app_status: 0,
///         protocol_status: ProtocolStatus::RequestComplete,
///     })
/// );
/// // keep-conn was not set, so the application closes the connection; that is fine now.
/// conn.receive_eof().unwrap();
/// ```
#[derive(Debug)]
pub struct GatewayConnection {
    config: GatewayConfig,
    core: Core<RequestState>,
    peer_multiplexes: bool,
    peer_closes: bool,
}

impl GatewayConnection {
    /// A connection on which nothing was sent yet.
    pub fn new(config: GatewayConfig) -> Self {
        GatewayConnection {
            config,
            core: Core::new(config.limits, config.padding),
            peer_multiplexes: config.assume_multiplexing,
            peer_closes: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    connection_accessors!();

    /// Whether the peer said it multiplexes (FCGI_MPXS_CONNS=1), or the configuration
    /// assumes it.
    pub fn peer_multiplexes(&self) -> bool {
        self.peer_multiplexes
    }

    /// Whether another request may be begun on this connection: it has not failed or been
    /// closed, and no request without FCGI_KEEP_CONN has been begun (the application
    /// closes after answering such a request).
    pub fn is_reusable(&self) -> bool {
        self.core.failed.is_none() && !self.core.closed && !self.peer_closes
    }

    /// Begins a request and returns its id: the smallest id not in flight. A second
    /// request in flight needs a peer that multiplexes, and at most
    /// [`Limits::max_requests_in_flight`] are in flight.
    ///
    /// # Errors
    /// [`SendError::Busy`] when the peer does not multiplex and a request is in flight, or
    /// the limit is reached; [`SendError::Closed`] when the connection is not reusable.
    pub fn begin_request(&mut self, role: Role, keep_conn: bool) -> Result<RequestId, SendError> {
        if !self.is_reusable() {
            return Err(SendError::Closed);
        }
        let in_flight = self.core.requests.len();
        let limit = if self.peer_multiplexes {
            self.config.limits.max_requests_in_flight()
        } else {
            1
        };
        if in_flight >= limit {
            return Err(SendError::Busy { in_flight });
        }
        let request_id = (1..=u16::MAX)
            .map(RequestId::new)
            .find(|id| !self.core.requests.contains_key(*id))
            .ok_or(SendError::Busy { in_flight })?;
        // The PARAMS come next: with room for a typical request's (1–2 KB from nginx) and
        // its end records, the whole request head is written with one allocation.
        self.core.output.reserve(REQUEST_HEAD_ROOM);
        self.core.encoder.begin_request(
            request_id,
            BeginRequestBody::new(role, keep_conn),
            &mut self.core.output,
        );
        self.core.ended.remove(request_id);
        self.core
            .requests
            .insert(request_id, RequestState::default());
        if !keep_conn {
            self.peer_closes = true;
        }
        Ok(request_id)
    }

    /// Sends the whole PARAMS stream of a request: `params` in records of whole pairs,
    /// then the empty PARAMS record.
    ///
    /// # Errors
    /// [`SendError::ParamsAlreadySent`], or [`SendError::Encode`] when one pair does not
    /// fit a record (nothing is sent then).
    pub fn send_params(
        &mut self,
        request_id: RequestId,
        params: &Environ,
    ) -> Result<(), SendError> {
        if self.core.writable(request_id)?.params_sent {
            return Err(SendError::ParamsAlreadySent { request_id });
        }
        let core = &mut self.core;
        encode_params(params, request_id, &mut core.encoder, &mut core.output)?;
        if let Some(request) = core.requests.get_mut(request_id) {
            request.params_sent = true;
        }
        Ok(())
    }

    fn send_stream(
        &mut self,
        record_type: RecordType,
        request_id: RequestId,
        chunk: Bytes,
        end: bool,
    ) -> Result<(), SendError> {
        let core = &mut self.core;
        let request = core.writable(request_id)?;
        let ended = if record_type == RecordType::Stdin {
            &mut request.stdin_ended
        } else {
            &mut request.data_ended
        };
        if *ended {
            return Err(SendError::StreamEnded {
                record_type,
                request_id,
            });
        }
        *ended = end;
        core.encoder
            .stream(record_type, request_id, chunk, &mut core.output);
        if end {
            core.encoder
                .stream_end(record_type, request_id, &mut core.output);
        }
        Ok(())
    }

    /// Sends request body bytes on STDIN, cut into records as needed; a large `chunk`
    /// goes out unchanged (no copy). An empty chunk sends nothing.
    ///
    /// # Errors
    /// [`SendError::StreamEnded`] after [`GatewayConnection::end_stdin`].
    pub fn send_stdin(&mut self, request_id: RequestId, chunk: Bytes) -> Result<(), SendError> {
        self.send_stream(RecordType::Stdin, request_id, chunk, false)
    }

    /// Ends the request body: the empty STDIN record.
    ///
    /// # Errors
    /// [`SendError::StreamEnded`] when it was already ended.
    pub fn end_stdin(&mut self, request_id: RequestId) -> Result<(), SendError> {
        self.send_stream(RecordType::Stdin, request_id, Bytes::new(), true)
    }

    /// Sends FILTER data bytes on DATA.
    ///
    /// # Errors
    /// [`SendError::StreamEnded`] after [`GatewayConnection::end_data`].
    pub fn send_data(&mut self, request_id: RequestId, chunk: Bytes) -> Result<(), SendError> {
        self.send_stream(RecordType::Data, request_id, chunk, false)
    }

    /// Ends the FILTER data stream: the empty DATA record.
    ///
    /// # Errors
    /// [`SendError::StreamEnded`] when it was already ended.
    pub fn end_data(&mut self, request_id: RequestId) -> Result<(), SendError> {
        self.send_stream(RecordType::Data, request_id, Bytes::new(), true)
    }

    /// Asks the application to abort a request. It stays in flight until the application
    /// answers with END_REQUEST.
    ///
    /// # Errors
    /// [`SendError::UnknownRequest`] when the request is not in flight.
    pub fn abort(&mut self, request_id: RequestId) -> Result<(), SendError> {
        self.core.writable(request_id)?;
        self.core
            .encoder
            .abort_request(request_id, &mut self.core.output);
        Ok(())
    }

    /// Asks the application for FCGI_MAX_CONNS, FCGI_MAX_REQS and FCGI_MPXS_CONNS; the
    /// answer comes as [`GatewayEvent::GetValuesAnswer`]. PHP-FPM answers (only
    /// FCGI_MPXS_CONNS, as 0) and keeps reading the connection: a request sent after the
    /// question, in the same write or later, is served on it (the interop test
    /// `ping_status_and_get_values` checks it against a real php-fpm).
    ///
    /// # Errors
    /// [`SendError::Closed`] when the connection failed or was closed.
    pub fn get_values(&mut self) -> Result<(), SendError> {
        if self.core.failed.is_some() || self.core.closed {
            return Err(SendError::Closed);
        }
        self.core.encoder.record(
            RecordType::GetValues,
            RequestId::MANAGEMENT,
            get_values_query(),
            &mut self.core.output,
        )?;
        Ok(())
    }

    /// Reads records from `buf` until one gives an event (`Some`) or `buf` holds no
    /// complete record (`None`). Record content is split off `buf` without copying.
    ///
    /// # Errors
    /// A [`ProtocolError`] naming the record, request id and rule. With
    /// [`crate::ErrorScope::Request`] only that request failed (it is no longer in flight
    /// and its later records are ignored): call `receive` again to go on. With
    /// [`crate::ErrorScope::Connection`] the connection must be closed; past
    /// [`Limits::max_request_errors`] request-level errors, the next one is a connection
    /// error too.
    pub fn receive(&mut self, buf: &mut BytesMut) -> Result<Option<GatewayEvent>, ProtocolError> {
        connection::receive(self, buf)
    }

    /// The peer closed the connection. That is expected after END_REQUEST for a request
    /// without FCGI_KEEP_CONN (and after GET_VALUES with PHP-FPM).
    ///
    /// # Errors
    /// [`Violation::ClosedWithRequestsInFlight`] (about no record) when requests had not
    /// ended; they are dropped.
    pub fn receive_eof(&mut self) -> Result<(), ProtocolError> {
        self.core.eof()
    }
}

impl Side for GatewayConnection {
    type Request = RequestState;
    type Event = GatewayEvent;

    fn core(&mut self) -> &mut Core<RequestState> {
        &mut self.core
    }

    fn drop_request(&mut self, request_id: RequestId) {
        self.core.end(request_id);
    }

    fn handle(&mut self, record: Record) -> Result<Option<GatewayEvent>, ProtocolError> {
        let record_type = record.record_type();
        let request_id = record.request_id();
        let error = |violation| ProtocolError::new(record_type, request_id, violation);
        match record_type {
            RecordType::Stdout | RecordType::Stderr | RecordType::EndRequest => {
                // Output after END_REQUEST (e.g. after fastcgi_finish_request) is dropped,
                // as the spec says for inactive ids.
                let Some(request) = self.core.request_of(&record)? else {
                    return Ok(None);
                };
                if record_type == RecordType::EndRequest {
                    let body = record.end_request_body()?;
                    self.core.end(request_id);
                    return Ok(Some(GatewayEvent::End {
                        request_id,
                        app_status: body.app_status,
                        protocol_status: body.protocol_status,
                    }));
                }
                let ended = if record_type == RecordType::Stdout {
                    &mut request.stdout_ended
                } else {
                    &mut request.stderr_ended
                };
                if *ended {
                    return Err(error(Violation::StreamAfterEnd));
                }
                let chunk = record.content;
                if chunk.is_empty() {
                    *ended = true;
                    return Ok(None);
                }
                Ok(Some(if record_type == RecordType::Stdout {
                    GatewayEvent::Stdout { request_id, chunk }
                } else {
                    GatewayEvent::Stderr { request_id, chunk }
                }))
            }
            RecordType::GetValuesResult => {
                let pairs = decode_pairs(&record.content).map_err(error)?;
                let answer =
                    GetValuesAnswer::from_pairs(pairs.iter().map(|(n, v)| (&n[..], &v[..])));
                if let Some(multiplexes) = answer.mpxs_conns {
                    self.peer_multiplexes = multiplexes || self.config.assume_multiplexing;
                }
                Ok(Some(GatewayEvent::GetValuesAnswer(answer)))
            }
            RecordType::UnknownType => {
                let body = record.unknown_type_body()?;
                Ok(Some(GatewayEvent::UnknownType {
                    record_type: body.record_type,
                }))
            }
            RecordType::BeginRequest
            | RecordType::AbortRequest
            | RecordType::Params
            | RecordType::Stdin
            | RecordType::Data
            | RecordType::GetValues
            | RecordType::Other(_) => Err(error(Violation::UnexpectedRecordType)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorScope;
    use crate::record::EndRequestBody;
    use crate::test_support::wire;

    fn end(app_status: u32) -> [u8; 8] {
        EndRequestBody {
            app_status,
            protocol_status: ProtocolStatus::RequestComplete,
        }
        .to_bytes()
    }

    fn drain(conn: &mut GatewayConnection, buf: &mut BytesMut) -> Vec<GatewayEvent> {
        crate::test_support::drain(|buf| conn.receive(buf), buf)
    }

    #[test]
    fn one_request_at_a_time_unless_the_peer_multiplexes() {
        let mut conn = GatewayConnection::new(GatewayConfig::default());
        assert_eq!(
            conn.begin_request(Role::Responder, true),
            Ok(RequestId::new(1))
        );
        assert_eq!(
            conn.begin_request(Role::Responder, true),
            Err(SendError::Busy { in_flight: 1 })
        );
        conn.get_values().unwrap();
        let mut answer = wire(&[(RecordType::GetValuesResult, 0, b"\x0f\x01FCGI_MPXS_CONNS1")]);
        let events = drain(&mut conn, &mut answer);
        assert_eq!(
            events,
            vec![GatewayEvent::GetValuesAnswer(GetValuesAnswer {
                mpxs_conns: Some(true),
                ..GetValuesAnswer::default()
            })]
        );
        assert_eq!(
            conn.begin_request(Role::Responder, true),
            Ok(RequestId::new(2))
        );
        let mut answer = wire(&[(RecordType::EndRequest, 1, &end(0))]);
        drain(&mut conn, &mut answer);
        assert_eq!(
            conn.begin_request(Role::Responder, true),
            Ok(RequestId::new(1)),
            "id 1 reused"
        );
    }

    #[test]
    fn stdin_goes_out_without_copy() {
        let mut conn = GatewayConnection::new(GatewayConfig::default());
        let id = conn.begin_request(Role::Responder, true).unwrap();
        conn.send_params(id, &Environ::new()).unwrap();
        let body = Bytes::from(vec![5u8; 70_000]);
        conn.send_stdin(id, body.clone()).unwrap();
        conn.end_stdin(id).unwrap();
        let out = conn.take_output();
        assert!(out.iter().any(|chunk| chunk.as_ptr() == body.as_ptr()));
        assert_eq!(
            conn.send_stdin(id, Bytes::from_static(b"x")),
            Err(SendError::StreamEnded {
                record_type: RecordType::Stdin,
                request_id: id
            })
        );
    }

    #[test]
    fn end_request_without_empty_stdout_and_close_after() {
        let mut conn = GatewayConnection::new(GatewayConfig::default());
        let id = conn.begin_request(Role::Responder, false).unwrap();
        assert!(!conn.is_reusable());
        let mut answer = wire(&[
            (RecordType::Stderr, id.get(), b"PHP message: x"),
            (RecordType::Stdout, id.get(), b"Status: 404\r\n\r\n"),
            (RecordType::EndRequest, id.get(), &end(0)),
            (RecordType::Stdout, id.get(), b"after finish"),
        ]);
        let events = drain(&mut conn, &mut answer);
        assert_eq!(events.len(), 3);
        assert!(
            matches!(events[2], GatewayEvent::End { request_id, .. } if request_id == RequestId::new(1))
        );
        conn.receive_eof().unwrap();
    }

    #[test]
    fn eof_with_a_request_in_flight_is_an_error() {
        let mut conn = GatewayConnection::new(GatewayConfig::default());
        conn.begin_request(Role::Responder, false).unwrap();
        let error = conn.receive_eof().unwrap_err();
        assert_eq!(
            error,
            ProtocolError::connection(Violation::ClosedWithRequestsInFlight { in_flight: 1 })
        );
        assert_eq!((error.record_type, error.request_id), (None, None));
        assert_eq!(
            error.to_string(),
            "the peer closed the connection with 1 request(s) in flight"
        );
        assert_eq!(conn.failure(), Some(&error));
    }

    #[test]
    fn peer_errors() {
        let mut conn = GatewayConnection::new(GatewayConfig::default());
        let mut answer = wire(&[(RecordType::Stdout, 3, b"x")]);
        let error = conn.receive(&mut answer).unwrap_err();
        assert_eq!(
            error,
            ProtocolError::new(
                RecordType::Stdout,
                RequestId::new(3),
                Violation::RequestNotBegun
            )
        );
        assert_eq!(error.scope(), ErrorScope::Request);

        let id = conn.begin_request(Role::Responder, true).unwrap();
        let mut answer = wire(&[(RecordType::EndRequest, id.get(), b"\x00\x00\x00")]);
        let error = conn.receive(&mut answer).unwrap_err();
        assert_eq!(
            error.violation,
            Violation::BadBodyLength {
                expected: 8,
                actual: 3
            }
        );
        assert_eq!(error.scope(), ErrorScope::Connection);
        assert_eq!(
            conn.begin_request(Role::Responder, true),
            Err(SendError::Closed)
        );

        let mut conn = GatewayConnection::new(GatewayConfig::default());
        let mut answer = wire(&[(RecordType::UnknownType, 0, b"\x2a")]);
        let error = conn.receive(&mut answer).unwrap_err();
        assert_eq!(
            error,
            ProtocolError::new(
                RecordType::UnknownType,
                RequestId::new(0),
                Violation::BadBodyLength {
                    expected: 8,
                    actual: 1
                }
            )
        );

        let mut conn = GatewayConnection::new(GatewayConfig::default());
        let mut answer = wire(&[(RecordType::UnknownType, 0, &[42, 9, 9, 9, 9, 9, 9, 9])]);
        assert_eq!(
            conn.receive(&mut answer).unwrap(),
            Some(GatewayEvent::UnknownType { record_type: 42 })
        );

        let mut conn = GatewayConnection::new(GatewayConfig::default());
        let mut answer = wire(&[(RecordType::Params, 1, b"")]);
        assert_eq!(
            conn.receive(&mut answer).unwrap_err().violation,
            Violation::UnexpectedRecordType
        );

        let mut conn = GatewayConnection::new(GatewayConfig::default());
        let id = conn.begin_request(Role::Responder, true).unwrap();
        let mut answer = wire(&[
            (RecordType::Stdout, id.get(), b""),
            (RecordType::Stdout, id.get(), b"late"),
        ]);
        let error = conn.receive(&mut answer).unwrap_err();
        assert_eq!(
            error,
            ProtocolError::new(RecordType::Stdout, id, Violation::StreamAfterEnd)
        );
        assert!(!conn.is_in_flight(id));
        assert!(conn.is_reusable());
    }
}
