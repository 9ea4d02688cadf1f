//! [`ServerConnection`]: the application side of one connection (what PHP-FPM is to
//! nginx), as a sans-IO state machine.

use bytes::{Bytes, BytesMut};
use cgi_env::Environ;

use crate::decoder::RecordDecoder;
use crate::encoder::{Chunks, Padding, RecordEncoder};
use crate::error::{ErrorScope, ProtocolError, SendError, Violation};
use crate::ids::IdSet;
use crate::limits::Limits;
use crate::params::{ParamsDecoder, Values, decode_pairs};
use crate::record::{
    EndRequestBody, MANAGEMENT_ID, ProtocolStatus, Record, RecordType, Role, UnknownTypeBody,
};
use crate::requests::RequestTable;

/// The app status sent in the END_REQUEST that closes a request the peer broke a rule in.
pub const FAILED_REQUEST_APP_STATUS: u32 = 1;

/// How an application connection behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConfig {
    /// Limits on what the peer may send.
    pub limits: Limits,
    /// Whether several requests may be in flight at once (up to
    /// [`Limits::max_requests_in_flight`]). Without it, a second BEGIN_REQUEST is answered
    /// with CANT_MPX_CONN. Default off, as PHP-FPM.
    pub multiplex: bool,
    /// The FCGI_MAX_CONNS value answered to GET_VALUES; `None` leaves it out.
    pub max_conns: Option<u32>,
    /// Padding of the records this side writes. Default: to 8 bytes, as PHP-FPM.
    pub padding: Padding,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            limits: Limits::default(),
            multiplex: false,
            max_conns: None,
            padding: Padding::Align8,
        }
    }
}

/// What the peer asked for, in order, per request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// A BEGIN_REQUEST was accepted.
    RequestBegun {
        /// The request id.
        request_id: u16,
        /// The role asked for (never an unknown role: those are refused).
        role: Role,
        /// Whether the peer keeps the connection open after this request.
        keep_conn: bool,
    },
    /// The PARAMS stream ended; the environ points into the received records.
    Params {
        /// The request id.
        request_id: u16,
        /// The variables, in the order sent.
        params: Environ,
    },
    /// Request body bytes, as they arrived.
    Stdin {
        /// The request id.
        request_id: u16,
        /// The bytes (a slice of the received buffer).
        chunk: Bytes,
    },
    /// The request body ended.
    StdinEnd {
        /// The request id.
        request_id: u16,
    },
    /// FILTER data bytes, as they arrived.
    Data {
        /// The request id.
        request_id: u16,
        /// The bytes (a slice of the received buffer).
        chunk: Bytes,
    },
    /// The FILTER data stream ended.
    DataEnd {
        /// The request id.
        request_id: u16,
    },
    /// The peer asked to abort the request. Answer with
    /// [`ServerConnection::end_request`] once the work stopped.
    Abort {
        /// The request id.
        request_id: u16,
    },
}

// Each flag is the state of a different stream, not a mode: an enum would not be simpler.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug)]
struct RequestState {
    keep_conn: bool,
    /// Present while the PARAMS stream is open.
    params: Option<ParamsDecoder>,
    records_before_params_end: usize,
    stdin_ended: bool,
    data_ended: bool,
    aborted: bool,
    stderr_written: bool,
}

/// The application side of one FastCGI connection.
///
/// Feed received bytes to [`ServerConnection::receive`] and act on the
/// [`ServerEvent`]s it returns; answer with [`ServerConnection::send_stdout`],
/// [`ServerConnection::send_stderr`] and [`ServerConnection::end_request`]; write what
/// [`ServerConnection::take_output`] hands back. GET_VALUES, unknown management types,
/// unknown roles and requests past the multiplexing limit are answered here without
/// involving the application.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use fastcgi_codec::{ServerConfig, ServerConnection, ServerEvent};
///
/// let mut conn = ServerConnection::new(ServerConfig::default());
/// // What nginx sends for a GET: BEGIN_REQUEST, one PARAMS record, the empty PARAMS and
/// // STDIN records.
/// let mut input = BytesMut::from(
///     &b"\x01\x01\x00\x01\x00\x08\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\
///        \x01\x04\x00\x01\x00\x13\x00\x00\x0e\x03REQUEST_METHODGET\
///        \x01\x04\x00\x01\x00\x00\x00\x00\x01\x05\x00\x01\x00\x00\x00\x00"[..],
/// );
/// let mut events = Vec::new();
/// while let Some(event) = conn.receive(&mut input).unwrap() {
///     events.push(event);
/// }
/// assert!(matches!(events[1], ServerEvent::Params { ref params, .. }
///     if params.get("REQUEST_METHOD") == Some(&b"GET"[..])));
/// assert_eq!(events[2], ServerEvent::StdinEnd { request_id: 1 });
///
/// conn.send_stdout(1, Bytes::from_static(b"Content-Type: text/plain\r\n\r\nhi")).unwrap();
/// conn.end_request(1, 0).unwrap();
/// let output = conn.take_output().to_bytes_mut();
/// assert_eq!(&output[..8], &[1, 6, 0, 1, 0, 30, 2, 0]);
/// // keep-conn was not set: the application closes the connection now.
/// assert!(conn.should_close());
/// ```
#[derive(Debug)]
pub struct ServerConnection {
    config: ServerConfig,
    decoder: RecordDecoder,
    encoder: RecordEncoder,
    requests: RequestTable<RequestState>,
    ended: IdSet,
    output: Chunks,
    close_requested: bool,
    failed: Option<ProtocolError>,
}

impl ServerConnection {
    /// A connection that has received nothing yet.
    pub fn new(config: ServerConfig) -> Self {
        ServerConnection {
            config,
            decoder: RecordDecoder::new(),
            encoder: RecordEncoder::new(config.padding),
            requests: RequestTable::default(),
            ended: IdSet::default(),
            // Empty until the first answer: reading a request allocates nothing here.
            output: Chunks::default(),
            close_requested: false,
            failed: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Requests begun and not yet ended by the application.
    pub fn in_flight(&self) -> usize {
        self.requests.len()
    }

    /// Whether `request_id` is in flight.
    pub fn is_in_flight(&self, request_id: u16) -> bool {
        self.requests.contains_key(request_id)
    }

    /// Whether the connection should be closed once the pending output is written: a
    /// request without FCGI_KEEP_CONN ended and no other request is in flight, or the
    /// connection failed.
    pub fn should_close(&self) -> bool {
        self.failed.is_some() || (self.close_requested && self.requests.is_empty())
    }

    /// The connection-level error the connection failed with, if any.
    pub fn failure(&self) -> Option<&ProtocolError> {
        self.failed.as_ref()
    }

    /// Whether bytes are waiting in [`ServerConnection::take_output`].
    pub fn has_output(&self) -> bool {
        !self.output.is_empty()
    }

    /// Takes the bytes to send: record headers interleaved with the application's own
    /// payload [`Bytes`], for vectored writes.
    pub fn take_output(&mut self) -> Chunks {
        std::mem::take(&mut self.output)
    }

    /// The copying path: appends the bytes to send to `dst`.
    pub fn write_output_into(&mut self, dst: &mut BytesMut) {
        self.output.copy_into(dst);
    }

    /// Reads records from `buf` until one gives an event (`Some`) or `buf` holds no
    /// complete record (`None`). Record content is split off `buf` without copying.
    ///
    /// # Errors
    /// A [`ProtocolError`] naming the record, request id and rule. With
    /// [`ErrorScope::Request`] only that request was dropped (it was answered with
    /// END_REQUEST and its later records are ignored): call `receive` again to go on.
    /// With [`ErrorScope::Connection`] the connection failed: send what
    /// [`ServerConnection::take_output`] holds, then close it.
    pub fn receive(&mut self, buf: &mut BytesMut) -> Result<Option<ServerEvent>, ProtocolError> {
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
                Err(error) => return Err(error),
            }
        }
    }

    fn fail_connection(&mut self, error: ProtocolError) -> ProtocolError {
        self.failed = Some(error.clone());
        error
    }

    fn handle(&mut self, record: Record) -> Result<Option<ServerEvent>, ProtocolError> {
        let record_type = record.record_type();
        let request_id = record.request_id();
        let error = |violation| ProtocolError::new(record_type, request_id, violation);
        match record_type {
            RecordType::BeginRequest => self.begin(&record),
            RecordType::AbortRequest
            | RecordType::Params
            | RecordType::Stdin
            | RecordType::Data => {
                if request_id == MANAGEMENT_ID {
                    return Err(error(Violation::ZeroRequestId));
                }
                let Some(request) = self.requests.get_mut(request_id) else {
                    if self.ended.contains(request_id) {
                        // The spec: records for an inactive id are ignored.
                        return Ok(None);
                    }
                    return Err(error(Violation::RequestNotBegun));
                };
                match Self::request_record(request, self.config.limits, record) {
                    Ok(event) => Ok(event),
                    Err(violation) => Err(self.fail_request(record_type, request_id, violation)),
                }
            }
            RecordType::GetValues => {
                let names = decode_pairs(&record.content).map_err(error)?;
                let values = Values {
                    max_conns: self.config.max_conns,
                    max_reqs: Some(if self.config.multiplex {
                        u32::try_from(self.config.limits.max_requests_in_flight).unwrap_or(u32::MAX)
                    } else {
                        1
                    }),
                    mpxs_conns: Some(self.config.multiplex),
                };
                let answer = values.answer(names.iter().map(|(name, _)| &name[..]));
                // The answer holds only known names (short), far below one record.
                self.encoder
                    .record(
                        RecordType::GetValuesResult,
                        MANAGEMENT_ID,
                        answer.freeze(),
                        &mut self.output,
                    )
                    .map_err(|_| error(Violation::ParamsTooLarge { limit: 65528 }))?;
                Ok(None)
            }
            RecordType::GetValuesResult | RecordType::UnknownType | RecordType::Other(_) => {
                self.encoder.unknown_type(
                    UnknownTypeBody {
                        record_type: record_type.as_u8(),
                    },
                    &mut self.output,
                );
                Ok(None)
            }
            RecordType::EndRequest | RecordType::Stdout | RecordType::Stderr => {
                Err(error(Violation::UnexpectedRecordType))
            }
        }
    }

    fn begin(&mut self, record: &Record) -> Result<Option<ServerEvent>, ProtocolError> {
        let request_id = record.request_id();
        if request_id == MANAGEMENT_ID {
            return Err(ProtocolError::new(
                RecordType::BeginRequest,
                request_id,
                Violation::ZeroRequestId,
            ));
        }
        let body = record.begin_request_body()?;
        if self.requests.contains_key(request_id) {
            return Err(ProtocolError::new(
                RecordType::BeginRequest,
                request_id,
                Violation::RequestIdInUse,
            ));
        }
        self.ended.remove(request_id);
        let refusal = if matches!(body.role, Role::Other(_)) {
            Some(ProtocolStatus::UnknownRole)
        } else if !self.config.multiplex && !self.requests.is_empty() {
            Some(ProtocolStatus::CantMpxConn)
        } else if self.requests.len() >= self.config.limits.max_requests_in_flight {
            Some(ProtocolStatus::Overloaded)
        } else {
            None
        };
        if let Some(protocol_status) = refusal {
            self.encoder.end_request(
                request_id,
                EndRequestBody {
                    app_status: 0,
                    protocol_status,
                },
                &mut self.output,
            );
            self.ended.insert(request_id);
            if !body.keep_conn() {
                self.close_requested = true;
            }
            return Ok(None);
        }
        self.requests.insert(
            request_id,
            RequestState {
                keep_conn: body.keep_conn(),
                params: Some(ParamsDecoder::new(self.config.limits.max_params_bytes)),
                records_before_params_end: 0,
                stdin_ended: false,
                data_ended: false,
                aborted: false,
                stderr_written: false,
            },
        );
        Ok(Some(ServerEvent::RequestBegun {
            request_id,
            role: body.role,
            keep_conn: body.keep_conn(),
        }))
    }

    fn request_record(
        request: &mut RequestState,
        limits: Limits,
        record: Record,
    ) -> Result<Option<ServerEvent>, Violation> {
        let request_id = record.request_id();
        let record_type = record.record_type();
        let content = record.content;
        if record_type == RecordType::AbortRequest {
            if request.aborted {
                return Ok(None);
            }
            request.aborted = true;
            return Ok(Some(ServerEvent::Abort { request_id }));
        }
        if record_type == RecordType::Params {
            let Some(params) = request.params.as_mut() else {
                return Err(Violation::StreamAfterEnd);
            };
            request.records_before_params_end += 1;
            if request.records_before_params_end > limits.max_records_before_params_end {
                return Err(Violation::TooManyRecordsBeforeParamsEnd {
                    limit: limits.max_records_before_params_end,
                });
            }
            if !content.is_empty() {
                params.feed(content)?;
                return Ok(None);
            }
            let Some(params) = request.params.take() else {
                return Err(Violation::StreamAfterEnd);
            };
            return Ok(Some(ServerEvent::Params {
                request_id,
                params: params.finish()?,
            }));
        }
        if request.params.is_some() {
            return Err(Violation::StreamBeforeParamsEnd);
        }
        let (ended, chunk_event, end_event): (_, fn(u16, Bytes) -> ServerEvent, _) =
            if record_type == RecordType::Stdin {
                (
                    &mut request.stdin_ended,
                    |request_id, chunk| ServerEvent::Stdin { request_id, chunk },
                    ServerEvent::StdinEnd { request_id },
                )
            } else {
                (
                    &mut request.data_ended,
                    |request_id, chunk| ServerEvent::Data { request_id, chunk },
                    ServerEvent::DataEnd { request_id },
                )
            };
        if *ended {
            return Err(Violation::StreamAfterEnd);
        }
        if content.is_empty() {
            *ended = true;
            Ok(Some(end_event))
        } else {
            Ok(Some(chunk_event(request_id, content)))
        }
    }

    /// Drops a request the peer broke a rule in, answering it with END_REQUEST.
    fn fail_request(
        &mut self,
        record_type: RecordType,
        request_id: u16,
        violation: Violation,
    ) -> ProtocolError {
        self.finish(request_id, FAILED_REQUEST_APP_STATUS);
        ProtocolError::new(record_type, request_id, violation)
    }

    fn finish(&mut self, request_id: u16, app_status: u32) {
        let Some(request) = self.requests.remove(request_id) else {
            return;
        };
        self.encoder
            .stream_end(RecordType::Stdout, request_id, &mut self.output);
        if request.stderr_written {
            self.encoder
                .stream_end(RecordType::Stderr, request_id, &mut self.output);
        }
        self.encoder.end_request(
            request_id,
            EndRequestBody {
                app_status,
                protocol_status: ProtocolStatus::RequestComplete,
            },
            &mut self.output,
        );
        self.ended.insert(request_id);
        if !request.keep_conn {
            self.close_requested = true;
        }
    }

    fn writable(&mut self, request_id: u16) -> Result<&mut RequestState, SendError> {
        if self.failed.is_some() {
            return Err(SendError::Closed);
        }
        self.requests
            .get_mut(request_id)
            .ok_or(SendError::UnknownRequest { request_id })
    }

    /// Queues response bytes on STDOUT, cut into records as needed; `chunk` itself goes
    /// out unchanged (no copy). An empty chunk writes nothing.
    ///
    /// # Errors
    /// [`SendError::UnknownRequest`] when the request is not in flight.
    pub fn send_stdout(&mut self, request_id: u16, chunk: Bytes) -> Result<(), SendError> {
        self.writable(request_id)?;
        self.encoder
            .stream(RecordType::Stdout, request_id, chunk, &mut self.output);
        Ok(())
    }

    /// Queues bytes on STDERR (error log output for the web server).
    ///
    /// # Errors
    /// [`SendError::UnknownRequest`] when the request is not in flight.
    pub fn send_stderr(&mut self, request_id: u16, chunk: Bytes) -> Result<(), SendError> {
        let request = self.writable(request_id)?;
        if !chunk.is_empty() {
            request.stderr_written = true;
        }
        self.encoder
            .stream(RecordType::Stderr, request_id, chunk, &mut self.output);
        Ok(())
    }

    /// Ends the request: the empty STDOUT record (and STDERR's, if it was used), then
    /// END_REQUEST with `app_status` and REQUEST_COMPLETE. The id can be reused by the peer
    /// afterwards, and records still arriving for it are ignored, so this also serves to
    /// end a request early and go on serving the connection (PHP's
    /// `fastcgi_finish_request`), and to answer an [`ServerEvent::Abort`].
    ///
    /// # Errors
    /// [`SendError::UnknownRequest`] when the request is not in flight.
    pub fn end_request(&mut self, request_id: u16, app_status: u32) -> Result<(), SendError> {
        self.writable(request_id)?;
        self.finish(request_id, app_status);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::BeginRequestBody;

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

    fn begin(role: Role, keep_conn: bool) -> [u8; 8] {
        BeginRequestBody::new(role, keep_conn).to_bytes()
    }

    fn drain(conn: &mut ServerConnection, buf: &mut BytesMut) -> Vec<ServerEvent> {
        let mut events = Vec::new();
        while let Some(event) = conn.receive(buf).unwrap() {
            events.push(event);
        }
        events
    }

    fn output_records(conn: &mut ServerConnection) -> Vec<Record> {
        let mut bytes = conn.take_output().to_bytes_mut();
        let mut decoder = RecordDecoder::new();
        let mut records = Vec::new();
        while let Some(record) = decoder.decode(&mut bytes).unwrap() {
            records.push(record);
        }
        records
    }

    fn multiplexing() -> ServerConfig {
        ServerConfig {
            multiplex: true,
            limits: Limits {
                max_requests_in_flight: 2,
                ..Limits::default()
            },
            ..ServerConfig::default()
        }
    }

    #[test]
    fn get_values_is_answered_by_the_connection() {
        let mut conn = ServerConnection::new(multiplexing());
        let query = crate::params::get_values_query();
        let mut input = wire(&[(RecordType::GetValues, 0, &query)]);
        assert!(drain(&mut conn, &mut input).is_empty());
        let records = output_records(&mut conn);
        assert_eq!(records[0].record_type(), RecordType::GetValuesResult);
        let pairs = decode_pairs(&records[0].content).unwrap();
        let values = Values::from_pairs(pairs.iter().map(|(n, v)| (&n[..], &v[..])));
        assert_eq!(values.mpxs_conns, Some(true));
        assert_eq!(values.max_reqs, Some(2));
        assert_eq!(values.max_conns, None);
    }

    #[test]
    fn unknown_management_type_gets_unknown_type() {
        let mut conn = ServerConnection::new(ServerConfig::default());
        let mut input = wire(&[(RecordType::Other(42), 0, b"xyz")]);
        assert!(drain(&mut conn, &mut input).is_empty());
        let records = output_records(&mut conn);
        assert_eq!(records[0].unknown_type_body().unwrap().record_type, 42);
    }

    #[test]
    fn unknown_role_is_refused() {
        let mut conn = ServerConnection::new(ServerConfig::default());
        let mut input = wire(&[
            (RecordType::BeginRequest, 1, &begin(Role::Other(9), true)),
            (RecordType::Params, 1, b""),
        ]);
        assert!(
            drain(&mut conn, &mut input).is_empty(),
            "its params are ignored"
        );
        let records = output_records(&mut conn);
        let end = records[0].end_request_body().unwrap();
        assert_eq!(end.protocol_status, ProtocolStatus::UnknownRole);
        assert!(!conn.should_close());
    }

    #[test]
    fn multiplexing_limit_and_cant_mpx() {
        let mut conn = ServerConnection::new(multiplexing());
        let mut input = wire(&[
            (RecordType::BeginRequest, 1, &begin(Role::Responder, true)),
            (RecordType::BeginRequest, 2, &begin(Role::Responder, true)),
            (RecordType::BeginRequest, 3, &begin(Role::Responder, true)),
        ]);
        assert_eq!(drain(&mut conn, &mut input).len(), 2);
        let records = output_records(&mut conn);
        assert_eq!(records[0].request_id(), 3);
        assert_eq!(
            records[0].end_request_body().unwrap().protocol_status,
            ProtocolStatus::Overloaded
        );

        let mut single = ServerConnection::new(ServerConfig::default());
        let mut input = wire(&[
            (RecordType::BeginRequest, 1, &begin(Role::Responder, true)),
            (RecordType::BeginRequest, 2, &begin(Role::Responder, true)),
        ]);
        assert_eq!(drain(&mut single, &mut input).len(), 1);
        let records = output_records(&mut single);
        assert_eq!(
            records[0].end_request_body().unwrap().protocol_status,
            ProtocolStatus::CantMpxConn
        );
    }

    #[test]
    fn ids_are_reusable_after_end_request() {
        let mut conn = ServerConnection::new(ServerConfig::default());
        for round in 0..3u8 {
            let mut input = wire(&[
                (RecordType::BeginRequest, 1, &begin(Role::Responder, true)),
                (RecordType::Params, 1, b"\x01\x01A"),
                (RecordType::Params, 1, &[b'0' + round]),
                (RecordType::Params, 1, b""),
                (RecordType::Stdin, 1, b""),
            ]);
            let events = drain(&mut conn, &mut input);
            assert_eq!(events.len(), 3);
            match &events[1] {
                ServerEvent::Params { params, .. } => {
                    assert_eq!(params.get("A"), Some(&[b'0' + round][..]));
                }
                other => panic!("unexpected {other:?}"),
            }
            conn.end_request(1, 0).unwrap();
            assert!(!conn.should_close());
        }
    }

    #[test]
    fn abort_is_an_event_and_end_request_answers_it() {
        let mut conn = ServerConnection::new(ServerConfig::default());
        let mut input = wire(&[
            (RecordType::BeginRequest, 1, &begin(Role::Responder, false)),
            (RecordType::AbortRequest, 1, b""),
        ]);
        let events = drain(&mut conn, &mut input);
        assert_eq!(events[1], ServerEvent::Abort { request_id: 1 });
        assert!(!conn.has_output());
        conn.end_request(1, 7).unwrap();
        let records = output_records(&mut conn);
        let end = records.last().unwrap().end_request_body().unwrap();
        assert_eq!(end.app_status, 7);
        assert!(conn.should_close());
    }

    #[test]
    fn early_end_ignores_the_rest_of_stdin_and_keeps_serving() {
        let mut conn = ServerConnection::new(ServerConfig::default());
        let mut input = wire(&[
            (RecordType::BeginRequest, 1, &begin(Role::Responder, true)),
            (RecordType::Params, 1, b""),
            (RecordType::Stdin, 1, b"part one"),
        ]);
        assert_eq!(drain(&mut conn, &mut input).len(), 3);
        conn.send_stdout(1, Bytes::from_static(b"Status: 200\r\n\r\n"))
            .unwrap();
        conn.end_request(1, 0).unwrap();
        let mut input = wire(&[
            (RecordType::Stdin, 1, b"part two"),
            (RecordType::Stdin, 1, b""),
            (RecordType::BeginRequest, 1, &begin(Role::Responder, true)),
        ]);
        let events = drain(&mut conn, &mut input);
        assert_eq!(
            events,
            vec![ServerEvent::RequestBegun {
                request_id: 1,
                role: Role::Responder,
                keep_conn: true
            }]
        );
        assert!(!conn.should_close());
    }

    #[test]
    fn stderr_and_stdout_terminators() {
        let mut conn = ServerConnection::new(ServerConfig::default());
        let mut input = wire(&[(RecordType::BeginRequest, 1, &begin(Role::Responder, false))]);
        drain(&mut conn, &mut input);
        conn.send_stderr(1, Bytes::from_static(b"oops")).unwrap();
        conn.end_request(1, 0).unwrap();
        let kinds: Vec<_> = output_records(&mut conn)
            .iter()
            .map(|r| (r.record_type(), r.content.len()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (RecordType::Stderr, 4),
                (RecordType::Stdout, 0),
                (RecordType::Stderr, 0),
                (RecordType::EndRequest, 8)
            ]
        );
        assert_eq!(
            conn.send_stdout(1, Bytes::from_static(b"x")),
            Err(SendError::UnknownRequest { request_id: 1 })
        );
    }

    fn error_of(
        config: ServerConfig,
        records: &[(RecordType, u16, &[u8])],
    ) -> (ProtocolError, ServerConnection) {
        let mut conn = ServerConnection::new(config);
        let mut input = wire(records);
        loop {
            match conn.receive(&mut input) {
                Ok(Some(_)) => {}
                Ok(None) => panic!("no error"),
                Err(error) => return (error, conn),
            }
        }
    }

    #[test]
    fn bad_version_is_a_connection_error() {
        let mut conn = ServerConnection::new(ServerConfig::default());
        let mut input = BytesMut::from(&[2, 1, 0, 1, 0, 8, 0, 0][..]);
        let error = conn.receive(&mut input).unwrap_err();
        assert_eq!(
            error.violation,
            Violation::UnsupportedVersion { version: 2 }
        );
        assert_eq!(error.scope(), ErrorScope::Connection);
        assert!(conn.should_close());
    }

    #[test]
    fn begin_request_for_an_id_in_use() {
        let body = begin(Role::Responder, true);
        let (error, conn) = error_of(
            multiplexing(),
            &[
                (RecordType::BeginRequest, 4, &body),
                (RecordType::BeginRequest, 4, &body),
            ],
        );
        assert_eq!(
            error,
            ProtocolError::new(RecordType::BeginRequest, 4, Violation::RequestIdInUse)
        );
        assert_eq!(error.scope(), ErrorScope::Connection);
        assert!(conn.should_close());
    }

    #[test]
    fn records_for_an_id_never_begun() {
        let (error, mut conn) = error_of(ServerConfig::default(), &[(RecordType::Stdin, 3, b"x")]);
        assert_eq!(
            error,
            ProtocolError::new(RecordType::Stdin, 3, Violation::RequestNotBegun)
        );
        assert_eq!(error.scope(), ErrorScope::Request);
        assert!(!conn.should_close());
        let mut more = wire(&[(RecordType::BeginRequest, 3, &begin(Role::Responder, true))]);
        assert_eq!(drain(&mut conn, &mut more).len(), 1);
    }

    #[test]
    fn request_id_zero_on_an_application_record() {
        for record_type in [
            RecordType::BeginRequest,
            RecordType::Params,
            RecordType::Stdin,
            RecordType::AbortRequest,
        ] {
            let content: &[u8] = if record_type == RecordType::BeginRequest {
                &[0, 1, 0, 0, 0, 0, 0, 0]
            } else {
                b""
            };
            let (error, _) = error_of(ServerConfig::default(), &[(record_type, 0, content)]);
            assert_eq!(
                error,
                ProtocolError::new(record_type, 0, Violation::ZeroRequestId)
            );
            assert_eq!(error.scope(), ErrorScope::Connection);
        }
    }

    #[test]
    fn fixed_size_body_with_the_wrong_length() {
        let (error, _) = error_of(
            ServerConfig::default(),
            &[(RecordType::BeginRequest, 1, &[0, 1, 0])],
        );
        assert_eq!(
            error,
            ProtocolError::new(
                RecordType::BeginRequest,
                1,
                Violation::BadBodyLength {
                    expected: 8,
                    actual: 3
                }
            )
        );
    }

    #[test]
    fn pair_lengths_near_2_pow_31() {
        let body = begin(Role::Responder, true);
        let (error, mut conn) = error_of(
            ServerConfig::default(),
            &[
                (RecordType::BeginRequest, 1, &body),
                (RecordType::Params, 1, b"\xff\xff\xff\xf0\xff\xff\xff\xf0AB"),
            ],
        );
        assert_eq!(error.record_type, RecordType::Params);
        assert_eq!(error.request_id, 1);
        assert!(
            matches!(error.violation, Violation::PairTooLarge { len, .. } if len == 8 + 2 * 0x7FFF_FFF0)
        );
        assert_eq!(error.scope(), ErrorScope::Request);
        let records = output_records(&mut conn);
        let end = records.last().unwrap().end_request_body().unwrap();
        assert_eq!(end.app_status, FAILED_REQUEST_APP_STATUS);
        assert!(!conn.is_in_flight(1));
    }

    #[test]
    fn pair_lengths_running_past_the_end_of_params() {
        let body = begin(Role::Responder, true);
        let (error, conn) = error_of(
            ServerConfig::default(),
            &[
                (RecordType::BeginRequest, 1, &body),
                (RecordType::Params, 1, b"\x05\x05ABC"),
                (RecordType::Params, 1, b""),
            ],
        );
        assert_eq!(
            error,
            ProtocolError::new(
                RecordType::Params,
                1,
                Violation::TruncatedPair { pending: 5 }
            )
        );
        assert!(!conn.is_in_flight(1));
        // In a management record, which must hold whole pairs, the same shape is an overrun.
        let (error, conn) = error_of(
            ServerConfig::default(),
            &[(RecordType::GetValues, 0, b"\x80\x00\x10\x00\x00AB")],
        );
        assert_eq!(
            error.violation,
            Violation::PairOverrun {
                offset: 0,
                name_len: 0x1000,
                value_len: 0,
                available: 7
            }
        );
        assert_eq!(error.scope(), ErrorScope::Request);
        assert!(!conn.should_close());
    }

    #[test]
    fn params_past_the_limit() {
        let config = ServerConfig {
            limits: Limits {
                max_params_bytes: 16,
                ..Limits::default()
            },
            ..ServerConfig::default()
        };
        let (error, _) = error_of(
            config,
            &[
                (RecordType::BeginRequest, 1, &begin(Role::Responder, true)),
                (RecordType::Params, 1, b"\x04\x04NAMEVALU"),
                (RecordType::Params, 1, b"\x04\x04NAMEVALU"),
            ],
        );
        assert_eq!(
            error,
            ProtocolError::new(
                RecordType::Params,
                1,
                Violation::ParamsTooLarge { limit: 16 }
            )
        );
    }

    #[test]
    fn records_before_params_end_past_the_limit() {
        let config = ServerConfig {
            limits: Limits {
                max_records_before_params_end: 3,
                ..Limits::default()
            },
            ..ServerConfig::default()
        };
        let body = begin(Role::Responder, true);
        let mut records: Vec<(RecordType, u16, &[u8])> = vec![(RecordType::BeginRequest, 1, &body)];
        records.extend(std::iter::repeat_n(
            (RecordType::Params, 1, &b"\x01"[..]),
            4,
        ));
        let (error, _) = error_of(config, &records);
        assert_eq!(
            error,
            ProtocolError::new(
                RecordType::Params,
                1,
                Violation::TooManyRecordsBeforeParamsEnd { limit: 3 }
            )
        );
    }

    #[test]
    fn stdin_after_stdin_ended() {
        let body = begin(Role::Responder, true);
        let (error, conn) = error_of(
            ServerConfig::default(),
            &[
                (RecordType::BeginRequest, 1, &body),
                (RecordType::Params, 1, b""),
                (RecordType::Stdin, 1, b""),
                (RecordType::Stdin, 1, b"late"),
            ],
        );
        assert_eq!(
            error,
            ProtocolError::new(RecordType::Stdin, 1, Violation::StreamAfterEnd)
        );
        assert_eq!(error.scope(), ErrorScope::Request);
        assert!(!conn.is_in_flight(1));
    }

    #[test]
    fn a_request_error_loses_nothing_of_other_requests() {
        let mut conn = ServerConnection::new(multiplexing());
        let body = begin(Role::Responder, true);
        let mut input = wire(&[
            (RecordType::BeginRequest, 1, &body),
            (RecordType::BeginRequest, 2, &body),
            (RecordType::Params, 2, b""),
            (RecordType::Stdin, 2, b"abc"),
            (RecordType::Stdin, 1, b"too early"),
            (RecordType::Stdin, 2, b"def"),
            (RecordType::Stdin, 2, b""),
        ]);
        let mut events = Vec::new();
        let mut errors = Vec::new();
        loop {
            match conn.receive(&mut input) {
                Ok(Some(event)) => events.push(event),
                Ok(None) => break,
                Err(error) => errors.push(error),
            }
        }
        assert_eq!(
            errors,
            vec![ProtocolError::new(
                RecordType::Stdin,
                1,
                Violation::StreamBeforeParamsEnd
            )]
        );
        let stdin: Vec<u8> = events
            .iter()
            .filter_map(|e| match e {
                ServerEvent::Stdin {
                    request_id: 2,
                    chunk,
                } => Some(chunk.to_vec()),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(stdin, b"abcdef");
        assert_eq!(
            events.last(),
            Some(&ServerEvent::StdinEnd { request_id: 2 })
        );
        assert!(conn.is_in_flight(2));
    }

    #[test]
    fn params_and_stdin_point_into_the_received_buffer() {
        let mut conn = ServerConnection::new(ServerConfig::default());
        let mut input = wire(&[
            (RecordType::BeginRequest, 1, &begin(Role::Responder, true)),
            (RecordType::Params, 1, b"\x0e\x04REQUEST_METHODPOST"),
            (RecordType::Params, 1, b""),
            (RecordType::Stdin, 1, b"body bytes"),
        ]);
        let start = input.as_ptr() as usize;
        let end = start + input.len();
        let inside = |ptr: *const u8| (start..end).contains(&(ptr as usize));
        let events = drain(&mut conn, &mut input);
        let ServerEvent::Params { params, .. } = &events[1] else {
            panic!("{events:?}");
        };
        assert!(inside(params.get("REQUEST_METHOD").unwrap().as_ptr()));
        let ServerEvent::Stdin { chunk, .. } = &events[2] else {
            panic!("{events:?}");
        };
        assert!(inside(chunk.as_ptr()));
    }

    #[test]
    fn filter_role_gets_data_events() {
        let mut client = crate::ClientConnection::new(crate::ClientConfig::default());
        let id = client.begin_request(Role::Filter, true).unwrap();
        client.send_params(id, &Environ::new()).unwrap();
        client.send_stdin(id, Bytes::from_static(b"in")).unwrap();
        client.end_stdin(id).unwrap();
        client.send_data(id, Bytes::from_static(b"file")).unwrap();
        client.end_data(id).unwrap();
        let mut input = client.take_output().to_bytes_mut();
        let mut conn = ServerConnection::new(ServerConfig::default());
        let events = drain(&mut conn, &mut input);
        assert_eq!(
            events,
            vec![
                ServerEvent::RequestBegun {
                    request_id: id,
                    role: Role::Filter,
                    keep_conn: true
                },
                ServerEvent::Params {
                    request_id: id,
                    params: Environ::new()
                },
                ServerEvent::Stdin {
                    request_id: id,
                    chunk: Bytes::from_static(b"in")
                },
                ServerEvent::StdinEnd { request_id: id },
                ServerEvent::Data {
                    request_id: id,
                    chunk: Bytes::from_static(b"file")
                },
                ServerEvent::DataEnd { request_id: id },
            ]
        );
        assert_eq!(
            client.end_data(id),
            Err(SendError::StreamEnded {
                record_type: RecordType::Data,
                request_id: id
            })
        );
    }

    #[test]
    fn a_split_pair_is_accepted() {
        let mut conn = ServerConnection::new(ServerConfig::default());
        let mut input = wire(&[
            (RecordType::BeginRequest, 1, &begin(Role::Responder, true)),
            (RecordType::Params, 1, b"\x0e\x03REQUEST_"),
            (RecordType::Params, 1, b"METHODGET"),
            (RecordType::Params, 1, b""),
        ]);
        let events = drain(&mut conn, &mut input);
        assert!(
            matches!(&events[1], ServerEvent::Params { params, .. } if params.get("REQUEST_METHOD") == Some(&b"GET"[..]))
        );
    }

    #[test]
    fn gateway_records_sent_to_the_application_are_refused() {
        let (error, _) = error_of(ServerConfig::default(), &[(RecordType::Stdout, 1, b"x")]);
        assert_eq!(error.violation, Violation::UnexpectedRecordType);
        assert_eq!(error.scope(), ErrorScope::Connection);
    }
}
