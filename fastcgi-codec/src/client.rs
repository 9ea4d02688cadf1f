//! [`ClientConnection`]: the gateway side of one connection (what nginx is to PHP-FPM), as
//! a sans-IO state machine.

use bytes::{Bytes, BytesMut};
use cgi_env::Environ;

use crate::decoder::RecordDecoder;
use crate::encoder::{Chunks, Padding, RecordEncoder};
use crate::error::{ErrorScope, ProtocolError, SendError, Violation};
use crate::ids::IdSet;
use crate::params::{Values, decode_pairs, encode_params, get_values_query};
use crate::record::{BeginRequestBody, MANAGEMENT_ID, ProtocolStatus, Record, RecordType, Role};
use crate::requests::RequestTable;

/// How a gateway connection behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientConfig {
    /// Padding of the records this side writes. Default: to 8 bytes, as nginx.
    pub padding: Padding,
    /// Most requests in flight at once when the peer multiplexes. Default 16.
    pub max_requests_in_flight: usize,
    /// Whether the peer is known to multiplex before any GET_VALUES_RESULT says so.
    /// Default off: one request at a time until the peer answers FCGI_MPXS_CONNS=1.
    pub assume_multiplexing: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            padding: Padding::Align8,
            max_requests_in_flight: 16,
            assume_multiplexing: false,
        }
    }
}

/// What the application answered, in order, per request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// Response bytes (a CGI header block, then the body), as they arrived.
    Stdout {
        /// The request id.
        request_id: u16,
        /// The bytes (a slice of the received buffer).
        chunk: Bytes,
    },
    /// Error output of the application.
    Stderr {
        /// The request id.
        request_id: u16,
        /// The bytes (a slice of the received buffer).
        chunk: Bytes,
    },
    /// The request ended (END_REQUEST). Its STDOUT and STDERR are over whether or not
    /// their empty end records came (PHP-FPM sends none). The id is free again.
    End {
        /// The request id.
        request_id: u16,
        /// The application's status (e.g. an exit code).
        app_status: u32,
        /// How the request ended at the protocol level.
        protocol_status: ProtocolStatus,
    },
    /// The answer to [`ClientConnection::get_values`].
    Values(Values),
    /// The application did not understand a management record of this type.
    UnknownType {
        /// The type byte it did not understand.
        record_type: u8,
    },
}

// Each flag is the state of a different stream, not a mode: an enum would not be simpler.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug)]
struct RequestState {
    params_sent: bool,
    stdin_ended: bool,
    data_ended: bool,
    stdout_ended: bool,
    stderr_ended: bool,
}

/// The gateway side of one FastCGI connection.
///
/// Begin a request with [`ClientConnection::begin_request`], send its params from an
/// [`Environ`] and its body as [`Bytes`] (passed through without copying), write what
/// [`ClientConnection::take_output`] hands back, and feed what the application answers to
/// [`ClientConnection::receive`].
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use cgi_env::Environ;
/// use fastcgi_codec::{ClientConfig, ClientConnection, ClientEvent, ProtocolStatus, Role};
///
/// let mut conn = ClientConnection::new(ClientConfig::default());
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
///     Some(ClientEvent::Stdout {
///         request_id: 1,
///         chunk: Bytes::from_static(b"Content-Type: text/plain\r\n\r\nhi"),
///     })
/// );
/// assert_eq!(
///     conn.receive(&mut answer).unwrap(),
///     Some(ClientEvent::End { request_id: 1, app_status: 0, protocol_status: ProtocolStatus::RequestComplete })
/// );
/// // keep-conn was not set, so the application closes the connection; that is fine now.
/// conn.receive_eof().unwrap();
/// ```
#[derive(Debug)]
pub struct ClientConnection {
    config: ClientConfig,
    decoder: RecordDecoder,
    encoder: RecordEncoder,
    requests: RequestTable<RequestState>,
    ended: IdSet,
    output: Chunks,
    peer_multiplexes: bool,
    peer_closes: bool,
    failed: Option<ProtocolError>,
    closed: bool,
}

impl ClientConnection {
    /// A connection on which nothing was sent yet.
    pub fn new(config: ClientConfig) -> Self {
        ClientConnection {
            config,
            decoder: RecordDecoder::new(),
            encoder: RecordEncoder::new(config.padding),
            requests: RequestTable::default(),
            ended: IdSet::default(),
            output: Chunks::new(),
            peer_multiplexes: config.assume_multiplexing,
            peer_closes: false,
            failed: None,
            closed: false,
        }
    }

    /// Requests begun and not yet ended by the application.
    pub fn in_flight(&self) -> usize {
        self.requests.len()
    }

    /// Whether `request_id` is in flight.
    pub fn is_in_flight(&self, request_id: u16) -> bool {
        self.requests.contains_key(request_id)
    }

    /// Whether the peer said it multiplexes (FCGI_MPXS_CONNS=1), or the configuration
    /// assumes it.
    pub fn peer_multiplexes(&self) -> bool {
        self.peer_multiplexes
    }

    /// Whether another request may be begun on this connection: it has not failed or been
    /// closed, and no request without FCGI_KEEP_CONN has been begun (the application
    /// closes after answering such a request).
    pub fn is_reusable(&self) -> bool {
        self.failed.is_none() && !self.closed && !self.peer_closes
    }

    /// The connection-level error the connection failed with, if any.
    pub fn failure(&self) -> Option<&ProtocolError> {
        self.failed.as_ref()
    }

    /// Whether bytes are waiting in [`ClientConnection::take_output`].
    pub fn has_output(&self) -> bool {
        !self.output.is_empty()
    }

    /// Takes the bytes to send: record headers interleaved with the caller's own payload
    /// [`Bytes`], for vectored writes.
    pub fn take_output(&mut self) -> Chunks {
        std::mem::take(&mut self.output)
    }

    /// The copying path: appends the bytes to send to `dst`.
    pub fn write_output_into(&mut self, dst: &mut BytesMut) {
        self.output.copy_into(dst);
    }

    /// Begins a request and returns its id: the smallest id not in flight. A second
    /// request in flight needs a peer that multiplexes.
    ///
    /// # Errors
    /// [`SendError::Busy`] when the peer does not multiplex and a request is in flight, or
    /// the limit is reached; [`SendError::Closed`] when the connection is not reusable.
    pub fn begin_request(&mut self, role: Role, keep_conn: bool) -> Result<u16, SendError> {
        if !self.is_reusable() {
            return Err(SendError::Closed);
        }
        let in_flight = self.requests.len();
        let limit = if self.peer_multiplexes {
            self.config.max_requests_in_flight
        } else {
            1
        };
        if in_flight >= limit {
            return Err(SendError::Busy { in_flight });
        }
        let request_id = (1..=u16::MAX)
            .find(|id| !self.requests.contains_key(*id))
            .ok_or(SendError::Busy { in_flight })?;
        self.encoder.begin_request(
            request_id,
            BeginRequestBody::new(role, keep_conn),
            &mut self.output,
        );
        self.ended.remove(request_id);
        self.requests.insert(
            request_id,
            RequestState {
                params_sent: false,
                stdin_ended: false,
                data_ended: false,
                stdout_ended: false,
                stderr_ended: false,
            },
        );
        if !keep_conn {
            self.peer_closes = true;
        }
        Ok(request_id)
    }

    fn request(&mut self, request_id: u16) -> Result<&mut RequestState, SendError> {
        if self.failed.is_some() || self.closed {
            return Err(SendError::Closed);
        }
        self.requests
            .get_mut(request_id)
            .ok_or(SendError::UnknownRequest { request_id })
    }

    /// Sends the whole PARAMS stream of a request: `params` in records of whole pairs,
    /// then the empty PARAMS record.
    ///
    /// # Errors
    /// [`SendError::ParamsAlreadySent`], or [`SendError::Encode`] when one pair does not
    /// fit a record (nothing is sent then).
    pub fn send_params(&mut self, request_id: u16, params: &Environ) -> Result<(), SendError> {
        let request = self.request(request_id)?;
        if request.params_sent {
            return Err(SendError::ParamsAlreadySent { request_id });
        }
        encode_params(params, request_id, &mut self.encoder, &mut self.output)?;
        if let Some(request) = self.requests.get_mut(request_id) {
            request.params_sent = true;
        }
        Ok(())
    }

    fn send_stream(
        &mut self,
        record_type: RecordType,
        request_id: u16,
        chunk: Bytes,
        end: bool,
    ) -> Result<(), SendError> {
        let request = self.request(request_id)?;
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
        self.encoder
            .stream(record_type, request_id, chunk, &mut self.output);
        if end {
            self.encoder
                .stream_end(record_type, request_id, &mut self.output);
        }
        Ok(())
    }

    /// Sends request body bytes on STDIN, cut into records as needed; `chunk` itself goes
    /// out unchanged (no copy). An empty chunk sends nothing.
    ///
    /// # Errors
    /// [`SendError::StreamEnded`] after [`ClientConnection::end_stdin`].
    pub fn send_stdin(&mut self, request_id: u16, chunk: Bytes) -> Result<(), SendError> {
        self.send_stream(RecordType::Stdin, request_id, chunk, false)
    }

    /// Ends the request body: the empty STDIN record.
    ///
    /// # Errors
    /// [`SendError::StreamEnded`] when it was already ended.
    pub fn end_stdin(&mut self, request_id: u16) -> Result<(), SendError> {
        self.send_stream(RecordType::Stdin, request_id, Bytes::new(), true)
    }

    /// Sends FILTER data bytes on DATA.
    ///
    /// # Errors
    /// [`SendError::StreamEnded`] after [`ClientConnection::end_data`].
    pub fn send_data(&mut self, request_id: u16, chunk: Bytes) -> Result<(), SendError> {
        self.send_stream(RecordType::Data, request_id, chunk, false)
    }

    /// Ends the FILTER data stream: the empty DATA record.
    ///
    /// # Errors
    /// [`SendError::StreamEnded`] when it was already ended.
    pub fn end_data(&mut self, request_id: u16) -> Result<(), SendError> {
        self.send_stream(RecordType::Data, request_id, Bytes::new(), true)
    }

    /// Asks the application to abort a request. It stays in flight until the application
    /// answers with END_REQUEST.
    ///
    /// # Errors
    /// [`SendError::UnknownRequest`] when the request is not in flight.
    pub fn abort(&mut self, request_id: u16) -> Result<(), SendError> {
        self.request(request_id)?;
        self.encoder.abort_request(request_id, &mut self.output);
        Ok(())
    }

    /// Asks the application for FCGI_MAX_CONNS, FCGI_MAX_REQS and FCGI_MPXS_CONNS; the
    /// answer comes as [`ClientEvent::Values`]. PHP-FPM closes the connection after
    /// answering.
    ///
    /// # Errors
    /// [`SendError::Closed`] when the connection failed or was closed.
    pub fn get_values(&mut self) -> Result<(), SendError> {
        if self.failed.is_some() || self.closed {
            return Err(SendError::Closed);
        }
        self.encoder.record(
            RecordType::GetValues,
            MANAGEMENT_ID,
            get_values_query().freeze(),
            &mut self.output,
        )?;
        Ok(())
    }

    /// Reads records from `buf` until one gives an event (`Some`) or `buf` holds no
    /// complete record (`None`). Record content is split off `buf` without copying.
    ///
    /// # Errors
    /// A [`ProtocolError`] naming the record, request id and rule. With
    /// [`ErrorScope::Request`] only that request failed (it is no longer in flight and its
    /// later records are ignored): call `receive` again to go on. With
    /// [`ErrorScope::Connection`] the connection must be closed.
    pub fn receive(&mut self, buf: &mut BytesMut) -> Result<Option<ClientEvent>, ProtocolError> {
        if let Some(failed) = &self.failed {
            return Err(failed.clone());
        }
        loop {
            let record = match self.decoder.decode(buf) {
                Ok(Some(record)) => record,
                Ok(None) => return Ok(None),
                Err(error) => return Err(self.fail_connection(error)),
            };
            match self.handle(record) {
                Ok(Some(event)) => return Ok(Some(event)),
                Ok(None) => {}
                Err(error) if error.scope() == ErrorScope::Connection => {
                    return Err(self.fail_connection(error));
                }
                Err(error) => {
                    if self.requests.remove(error.request_id).is_some() {
                        self.ended.insert(error.request_id);
                    }
                    return Err(error);
                }
            }
        }
    }

    /// The peer closed the connection. That is expected after END_REQUEST for a request
    /// without FCGI_KEEP_CONN (and after GET_VALUES with PHP-FPM).
    ///
    /// # Errors
    /// [`Violation::ClosedWithRequestsInFlight`] when requests had not ended; they are
    /// dropped.
    pub fn receive_eof(&mut self) -> Result<(), ProtocolError> {
        self.closed = true;
        let in_flight = self.requests.len();
        let Some(request_id) = self.requests.lowest_id() else {
            return Ok(());
        };
        self.requests.clear();
        Err(self.fail_connection(ProtocolError::new(
            RecordType::EndRequest,
            request_id,
            Violation::ClosedWithRequestsInFlight { in_flight },
        )))
    }

    fn fail_connection(&mut self, error: ProtocolError) -> ProtocolError {
        self.failed = Some(error.clone());
        error
    }

    fn handle(&mut self, record: Record) -> Result<Option<ClientEvent>, ProtocolError> {
        let record_type = record.record_type();
        let request_id = record.request_id();
        let error = |violation| ProtocolError::new(record_type, request_id, violation);
        match record_type {
            RecordType::Stdout | RecordType::Stderr | RecordType::EndRequest => {
                if request_id == MANAGEMENT_ID {
                    return Err(error(Violation::ZeroRequestId));
                }
                let Some(request) = self.requests.get_mut(request_id) else {
                    if self.ended.contains(request_id) {
                        // Output after END_REQUEST (e.g. after fastcgi_finish_request) is
                        // dropped, as the spec says for inactive ids.
                        return Ok(None);
                    }
                    return Err(error(Violation::RequestNotBegun));
                };
                if record_type == RecordType::EndRequest {
                    let body = record.end_request_body()?;
                    self.requests.remove(request_id);
                    self.ended.insert(request_id);
                    return Ok(Some(ClientEvent::End {
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
                    ClientEvent::Stdout { request_id, chunk }
                } else {
                    ClientEvent::Stderr { request_id, chunk }
                }))
            }
            RecordType::GetValuesResult => {
                let pairs = decode_pairs(&record.content).map_err(error)?;
                let values = Values::from_pairs(pairs.iter().map(|(n, v)| (&n[..], &v[..])));
                if let Some(multiplexes) = values.mpxs_conns {
                    self.peer_multiplexes = multiplexes || self.config.assume_multiplexing;
                }
                Ok(Some(ClientEvent::Values(values)))
            }
            RecordType::UnknownType => {
                let body = record.unknown_type_body()?;
                Ok(Some(ClientEvent::UnknownType {
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
    use crate::record::EndRequestBody;

    fn wire(records: &[(RecordType, u16, &[u8])]) -> BytesMut {
        let encoder = RecordEncoder::new(Padding::Align8);
        let mut dst = BytesMut::new();
        for (record_type, id, content) in records {
            encoder
                .record_into(*record_type, *id, content, &mut dst)
                .unwrap();
        }
        dst
    }

    fn end(app_status: u32) -> [u8; 8] {
        EndRequestBody {
            app_status,
            protocol_status: ProtocolStatus::RequestComplete,
        }
        .to_bytes()
    }

    fn drain(conn: &mut ClientConnection, buf: &mut BytesMut) -> Vec<ClientEvent> {
        let mut events = Vec::new();
        while let Some(event) = conn.receive(buf).unwrap() {
            events.push(event);
        }
        events
    }

    #[test]
    fn one_request_at_a_time_unless_the_peer_multiplexes() {
        let mut conn = ClientConnection::new(ClientConfig::default());
        assert_eq!(conn.begin_request(Role::Responder, true), Ok(1));
        assert_eq!(
            conn.begin_request(Role::Responder, true),
            Err(SendError::Busy { in_flight: 1 })
        );
        conn.get_values().unwrap();
        let mut answer = wire(&[(RecordType::GetValuesResult, 0, b"\x0f\x01FCGI_MPXS_CONNS1")]);
        let events = drain(&mut conn, &mut answer);
        assert_eq!(
            events,
            vec![ClientEvent::Values(Values {
                mpxs_conns: Some(true),
                ..Values::default()
            })]
        );
        assert_eq!(conn.begin_request(Role::Responder, true), Ok(2));
        let mut answer = wire(&[(RecordType::EndRequest, 1, &end(0))]);
        drain(&mut conn, &mut answer);
        assert_eq!(
            conn.begin_request(Role::Responder, true),
            Ok(1),
            "id 1 reused"
        );
    }

    #[test]
    fn stdin_goes_out_without_copy() {
        let mut conn = ClientConnection::new(ClientConfig::default());
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
        let mut conn = ClientConnection::new(ClientConfig::default());
        let id = conn.begin_request(Role::Responder, false).unwrap();
        assert!(!conn.is_reusable());
        let mut answer = wire(&[
            (RecordType::Stderr, id, b"PHP message: x"),
            (RecordType::Stdout, id, b"Status: 404\r\n\r\n"),
            (RecordType::EndRequest, id, &end(0)),
            (RecordType::Stdout, id, b"after finish"),
        ]);
        let events = drain(&mut conn, &mut answer);
        assert_eq!(events.len(), 3);
        assert!(matches!(events[2], ClientEvent::End { request_id: 1, .. }));
        conn.receive_eof().unwrap();
    }

    #[test]
    fn eof_with_a_request_in_flight_is_an_error() {
        let mut conn = ClientConnection::new(ClientConfig::default());
        conn.begin_request(Role::Responder, false).unwrap();
        let error = conn.receive_eof().unwrap_err();
        assert_eq!(
            error.violation,
            Violation::ClosedWithRequestsInFlight { in_flight: 1 }
        );
    }

    #[test]
    fn peer_errors() {
        let mut conn = ClientConnection::new(ClientConfig::default());
        let mut answer = wire(&[(RecordType::Stdout, 3, b"x")]);
        let error = conn.receive(&mut answer).unwrap_err();
        assert_eq!(
            error,
            ProtocolError::new(RecordType::Stdout, 3, Violation::RequestNotBegun)
        );
        assert_eq!(error.scope(), ErrorScope::Request);

        let id = conn.begin_request(Role::Responder, true).unwrap();
        let mut answer = wire(&[(RecordType::EndRequest, id, b"\x00\x00\x00")]);
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

        let mut conn = ClientConnection::new(ClientConfig::default());
        let mut answer = wire(&[(RecordType::UnknownType, 0, b"\x2a")]);
        let error = conn.receive(&mut answer).unwrap_err();
        assert_eq!(
            error,
            ProtocolError::new(
                RecordType::UnknownType,
                0,
                Violation::BadBodyLength {
                    expected: 8,
                    actual: 1
                }
            )
        );

        let mut conn = ClientConnection::new(ClientConfig::default());
        let mut answer = wire(&[(RecordType::UnknownType, 0, &[42, 9, 9, 9, 9, 9, 9, 9])]);
        assert_eq!(
            conn.receive(&mut answer).unwrap(),
            Some(ClientEvent::UnknownType { record_type: 42 })
        );

        let mut conn = ClientConnection::new(ClientConfig::default());
        let mut answer = wire(&[(RecordType::Params, 1, b"")]);
        assert_eq!(
            conn.receive(&mut answer).unwrap_err().violation,
            Violation::UnexpectedRecordType
        );

        let mut conn = ClientConnection::new(ClientConfig::default());
        let id = conn.begin_request(Role::Responder, true).unwrap();
        let mut answer = wire(&[
            (RecordType::Stdout, id, b""),
            (RecordType::Stdout, id, b"late"),
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
