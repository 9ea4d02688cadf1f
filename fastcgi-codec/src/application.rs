//! [`ApplicationConnection`]: the application side of one connection (what PHP-FPM is to
//! nginx), as a sans-IO state machine.

use bytes::{Bytes, BytesMut};
use cgi_env::Environ;

use crate::connection::{self, Core, Side, config_common, connection_accessors};
use crate::encoder::{OutputQueue, Padding};
use crate::error::{ProtocolError, SendError, Violation};
use crate::ids::RequestId;
use crate::limits::Limits;
use crate::params::{GetValuesAnswer, ParamsDecoder, decode_pairs};
use crate::record::{EndRequestBody, ProtocolStatus, Record, RecordType, Role, UnknownTypeBody};

/// The app status sent in the END_REQUEST that closes a request the peer broke a rule in.
pub const FAILED_REQUEST_APP_STATUS: u32 = 1;

/// How an application connection behaves.
///
/// ```
/// use fastcgi_codec::{ApplicationConfig, Limits};
///
/// let config = ApplicationConfig::default()
///     .with_multiplex(true)
///     .with_limits(Limits::default().with_max_requests_in_flight(8));
/// assert!(config.multiplex());
/// assert_eq!(config.max_conns(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApplicationConfig {
    limits: Limits,
    multiplex: bool,
    max_conns: Option<u32>,
    padding: Padding,
}

impl ApplicationConfig {
    config_common!();

    /// Whether several requests may be in flight at once (up to
    /// [`Limits::max_requests_in_flight`], which is also the FCGI_MAX_REQS answered to
    /// GET_VALUES). Without it, a second BEGIN_REQUEST is answered with CANT_MPX_CONN and
    /// FCGI_MAX_REQS is 1. Default off, as PHP-FPM.
    pub fn multiplex(&self) -> bool {
        self.multiplex
    }

    /// Sets [`ApplicationConfig::multiplex`].
    #[must_use]
    pub fn with_multiplex(mut self, multiplex: bool) -> Self {
        self.multiplex = multiplex;
        self
    }

    /// The FCGI_MAX_CONNS value answered to GET_VALUES; `None` (the default) leaves it
    /// out.
    pub fn max_conns(&self) -> Option<u32> {
        self.max_conns
    }

    /// Sets [`ApplicationConfig::max_conns`].
    #[must_use]
    pub fn with_max_conns(mut self, max_conns: Option<u32>) -> Self {
        self.max_conns = max_conns;
        self
    }

    /// What this side answers to GET_VALUES.
    fn get_values_answer(&self) -> GetValuesAnswer {
        let max_reqs = if self.multiplex {
            u32::try_from(self.limits.max_requests_in_flight()).unwrap_or(u32::MAX)
        } else {
            1
        };
        GetValuesAnswer {
            max_conns: self.max_conns,
            max_reqs: Some(max_reqs),
            mpxs_conns: Some(self.multiplex),
        }
    }
}

/// What the peer asked for, in order, per request id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApplicationEvent {
    /// A BEGIN_REQUEST was accepted.
    RequestBegun {
        /// The request id.
        request_id: RequestId,
        /// The role asked for (never an unknown role: those are refused).
        role: Role,
        /// Whether the peer keeps the connection open after this request.
        keep_conn: bool,
    },
    /// The PARAMS stream ended; the environ points into the received records.
    Params {
        /// The request id.
        request_id: RequestId,
        /// The variables, in the order sent.
        params: Environ,
    },
    /// Request body bytes, as they arrived.
    Stdin {
        /// The request id.
        request_id: RequestId,
        /// The bytes (a slice of the received buffer).
        chunk: Bytes,
    },
    /// The request body ended.
    StdinEnd {
        /// The request id.
        request_id: RequestId,
    },
    /// FILTER data bytes, as they arrived.
    Data {
        /// The request id.
        request_id: RequestId,
        /// The bytes (a slice of the received buffer).
        chunk: Bytes,
    },
    /// The FILTER data stream ended.
    DataEnd {
        /// The request id.
        request_id: RequestId,
    },
    /// The peer asked to abort the request. Answer with
    /// [`ApplicationConnection::end_request`] once the work stopped.
    Abort {
        /// The request id.
        request_id: RequestId,
    },
}

// Each flag is the state of a different stream, not a mode: an enum would not be simpler.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug)]
pub(crate) struct RequestState {
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
/// Feed received bytes to [`ApplicationConnection::receive`] and act on the
/// [`ApplicationEvent`]s it returns; answer with [`ApplicationConnection::send_stdout`],
/// [`ApplicationConnection::send_stderr`] and [`ApplicationConnection::end_request`]; write
/// what [`ApplicationConnection::take_output`] hands back. GET_VALUES, unknown management
/// types, unknown roles and requests past the multiplexing limit are answered here without
/// involving the application.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use fastcgi_codec::{ApplicationConfig, ApplicationConnection, ApplicationEvent, RequestId};
///
/// let mut conn = ApplicationConnection::new(ApplicationConfig::default());
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
/// assert!(matches!(events[1], ApplicationEvent::Params { ref params, .. }
///     if params.get("REQUEST_METHOD") == Some(&b"GET"[..])));
/// let id = RequestId::new(1);
/// assert_eq!(events[2], ApplicationEvent::StdinEnd { request_id: id });
///
/// conn.send_stdout(id, Bytes::from_static(b"Content-Type: text/plain\r\n\r\nhi")).unwrap();
/// conn.end_request(id, 0).unwrap();
/// let output = conn.take_output();
/// // Small answers go out as one slice: STDOUT, the empty STDOUT and END_REQUEST.
/// assert_eq!(output.iter().count(), 1);
/// assert_eq!(&output.to_bytes_mut()[..8], &[1, 6, 0, 1, 0, 30, 2, 0]);
/// // keep-conn was not set: the application closes the connection now.
/// assert!(conn.should_close());
/// ```
#[derive(Debug)]
pub struct ApplicationConnection {
    config: ApplicationConfig,
    core: Core<RequestState>,
    close_requested: bool,
}

impl ApplicationConnection {
    /// A connection that has received nothing yet.
    pub fn new(config: ApplicationConfig) -> Self {
        ApplicationConnection {
            config,
            core: Core::new(config.limits, config.padding),
            close_requested: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ApplicationConfig {
        &self.config
    }

    connection_accessors!();

    /// Whether the connection should be closed once the pending output is written: a
    /// request without FCGI_KEEP_CONN ended and no other request is in flight, or the
    /// connection failed.
    pub fn should_close(&self) -> bool {
        self.core.failed.is_some() || (self.close_requested && self.core.requests.is_empty())
    }

    /// The PARAMS bytes received so far for a request whose PARAMS stream is still open;
    /// `None` once the stream ended (or for a request not in flight). What a request's
    /// params hold in memory before [`ApplicationEvent::Params`] hands them over, for a
    /// caller that counts its memory.
    pub fn params_received(&self, request_id: RequestId) -> Option<usize> {
        self.core
            .requests
            .get(request_id)?
            .params
            .as_ref()
            .map(ParamsDecoder::received)
    }

    /// Reads records from `buf` until one gives an event (`Some`) or `buf` holds no
    /// complete record (`None`). Record content is split off `buf` without copying.
    ///
    /// # Errors
    /// A [`ProtocolError`] naming the record, request id and rule. With
    /// [`crate::ErrorScope::Request`] only that request was dropped (it was answered with
    /// END_REQUEST and its later records are ignored): call `receive` again to go on.
    /// With [`crate::ErrorScope::Connection`] the connection failed: send what
    /// [`ApplicationConnection::take_output`] holds, then close it. Past
    /// [`Limits::max_request_errors`] request-level errors on one connection (records for
    /// ids never begun, broken streams), the next one fails the connection
    /// ([`Violation::TooManyRequestErrors`]).
    pub fn receive(
        &mut self,
        buf: &mut BytesMut,
    ) -> Result<Option<ApplicationEvent>, ProtocolError> {
        connection::receive(self, buf)
    }

    fn begin(&mut self, record: &Record) -> Result<Option<ApplicationEvent>, ProtocolError> {
        let request_id = record.request_id();
        let error = |violation| ProtocolError::new(RecordType::BeginRequest, request_id, violation);
        if request_id.is_management() {
            return Err(error(Violation::ZeroRequestId));
        }
        let body = record.begin_request_body()?;
        let requests = &self.core.requests;
        if requests.contains_key(request_id) {
            return Err(error(Violation::RequestIdInUse));
        }
        self.core.ended.remove(request_id);
        let refusal = if matches!(body.role, Role::Other(_)) {
            Some(ProtocolStatus::UnknownRole)
        } else if !self.config.multiplex && !requests.is_empty() {
            Some(ProtocolStatus::CantMpxConn)
        } else if requests.len() >= self.config.limits.max_requests_in_flight() {
            Some(ProtocolStatus::Overloaded)
        } else {
            None
        };
        if let Some(protocol_status) = refusal {
            self.core.encoder.end_request(
                request_id,
                EndRequestBody {
                    app_status: 0,
                    protocol_status,
                },
                &mut self.core.output,
            );
            self.core.ended.insert(request_id);
            if !body.keep_conn() {
                self.close_requested = true;
            }
            return Ok(None);
        }
        self.core.requests.insert(
            request_id,
            RequestState {
                keep_conn: body.keep_conn(),
                params: Some(ParamsDecoder::new(self.config.limits.max_params_bytes())),
                records_before_params_end: 0,
                stdin_ended: false,
                data_ended: false,
                aborted: false,
                stderr_written: false,
            },
        );
        Ok(Some(ApplicationEvent::RequestBegun {
            request_id,
            role: body.role,
            keep_conn: body.keep_conn(),
        }))
    }

    fn request_record(
        request: &mut RequestState,
        limits: Limits,
        record: Record,
    ) -> Result<Option<ApplicationEvent>, Violation> {
        let request_id = record.request_id();
        let record_type = record.record_type();
        let content = record.content;
        if record_type == RecordType::AbortRequest {
            if request.aborted {
                return Ok(None);
            }
            request.aborted = true;
            return Ok(Some(ApplicationEvent::Abort { request_id }));
        }
        if record_type == RecordType::Params {
            let Some(params) = request.params.as_mut() else {
                return Err(Violation::StreamAfterEnd);
            };
            request.records_before_params_end += 1;
            if request.records_before_params_end > limits.max_records_before_params_end() {
                return Err(Violation::TooManyRecordsBeforeParamsEnd {
                    limit: limits.max_records_before_params_end(),
                });
            }
            if !content.is_empty() {
                params.feed(content)?;
                return Ok(None);
            }
            let Some(params) = request.params.take() else {
                return Err(Violation::StreamAfterEnd);
            };
            return Ok(Some(ApplicationEvent::Params {
                request_id,
                params: params.finish()?,
            }));
        }
        if request.params.is_some() {
            return Err(Violation::StreamBeforeParamsEnd);
        }
        let (ended, chunk_event, end_event): (_, fn(RequestId, Bytes) -> ApplicationEvent, _) =
            if record_type == RecordType::Stdin {
                (
                    &mut request.stdin_ended,
                    |request_id, chunk| ApplicationEvent::Stdin { request_id, chunk },
                    ApplicationEvent::StdinEnd { request_id },
                )
            } else {
                (
                    &mut request.data_ended,
                    |request_id, chunk| ApplicationEvent::Data { request_id, chunk },
                    ApplicationEvent::DataEnd { request_id },
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

    fn finish(&mut self, request_id: RequestId, app_status: u32) {
        let Some(request) = self.core.end(request_id) else {
            return;
        };
        let core = &mut self.core;
        core.encoder
            .stream_end(RecordType::Stdout, request_id, &mut core.output);
        if request.stderr_written {
            core.encoder
                .stream_end(RecordType::Stderr, request_id, &mut core.output);
        }
        core.encoder.end_request(
            request_id,
            EndRequestBody {
                app_status,
                protocol_status: ProtocolStatus::RequestComplete,
            },
            &mut core.output,
        );
        if !request.keep_conn {
            self.close_requested = true;
        }
    }

    /// Queues response bytes on STDOUT, cut into records as needed; a large `chunk` goes
    /// out unchanged (no copy). An empty chunk writes nothing.
    ///
    /// # Errors
    /// [`SendError::UnknownRequest`] when the request is not in flight.
    pub fn send_stdout(&mut self, request_id: RequestId, chunk: Bytes) -> Result<(), SendError> {
        self.core.writable(request_id)?;
        self.core
            .encoder
            .stream(RecordType::Stdout, request_id, chunk, &mut self.core.output);
        Ok(())
    }

    /// Queues bytes on STDERR (error log output for the web server).
    ///
    /// # Errors
    /// [`SendError::UnknownRequest`] when the request is not in flight.
    pub fn send_stderr(&mut self, request_id: RequestId, chunk: Bytes) -> Result<(), SendError> {
        let request = self.core.writable(request_id)?;
        if !chunk.is_empty() {
            request.stderr_written = true;
        }
        self.core
            .encoder
            .stream(RecordType::Stderr, request_id, chunk, &mut self.core.output);
        Ok(())
    }

    /// Ends the request: the empty STDOUT record (and STDERR's, if it was used), then
    /// END_REQUEST with `app_status` and REQUEST_COMPLETE. The id can be reused by the peer
    /// afterwards, and records still arriving for it are ignored, so this also serves to
    /// end a request early and go on serving the connection (PHP's
    /// `fastcgi_finish_request`), and to answer an [`ApplicationEvent::Abort`].
    ///
    /// # Errors
    /// [`SendError::UnknownRequest`] when the request is not in flight.
    pub fn end_request(&mut self, request_id: RequestId, app_status: u32) -> Result<(), SendError> {
        self.core.writable(request_id)?;
        self.finish(request_id, app_status);
        Ok(())
    }
}

impl Side for ApplicationConnection {
    type Request = RequestState;
    type Event = ApplicationEvent;

    fn core(&mut self) -> &mut Core<RequestState> {
        &mut self.core
    }

    /// Answers the request with END_REQUEST (app status [`FAILED_REQUEST_APP_STATUS`]).
    fn drop_request(&mut self, request_id: RequestId) {
        self.finish(request_id, FAILED_REQUEST_APP_STATUS);
    }

    fn handle(&mut self, record: Record) -> Result<Option<ApplicationEvent>, ProtocolError> {
        let record_type = record.record_type();
        let request_id = record.request_id();
        let error = |violation| ProtocolError::new(record_type, request_id, violation);
        match record_type {
            RecordType::BeginRequest => self.begin(&record),
            RecordType::AbortRequest
            | RecordType::Params
            | RecordType::Stdin
            | RecordType::Data => {
                let limits = self.core.limits;
                // The spec: records for an inactive id are ignored.
                let Some(request) = self.core.request_of(&record)? else {
                    return Ok(None);
                };
                Self::request_record(request, limits, record).map_err(error)
            }
            RecordType::GetValues => {
                let names = decode_pairs(&record.content).map_err(error)?;
                let max = self.core.encoder.max_content();
                let answer = self
                    .config
                    .get_values_answer()
                    .answer(names.iter().map(|(name, _)| &name[..]), max)
                    .map_err(error)?;
                // `answer` is at most `max` bytes: one record holds it.
                let sent = self.core.encoder.record(
                    RecordType::GetValuesResult,
                    RequestId::MANAGEMENT,
                    answer.freeze(),
                    &mut self.core.output,
                );
                debug_assert!(
                    sent.is_ok(),
                    "a GET_VALUES answer checked to fit one record"
                );
                Ok(None)
            }
            RecordType::GetValuesResult | RecordType::UnknownType | RecordType::Other(_) => {
                self.core.encoder.unknown_type(
                    UnknownTypeBody {
                        record_type: record_type.as_u8(),
                    },
                    &mut self.core.output,
                );
                Ok(None)
            }
            RecordType::EndRequest | RecordType::Stdout | RecordType::Stderr => {
                Err(error(Violation::UnexpectedRecordType))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorScope;
    use crate::record::BeginRequestBody;
    use crate::test_support::{decode_all, wire};

    fn begin(role: Role, keep_conn: bool) -> [u8; 8] {
        BeginRequestBody::new(role, keep_conn).to_bytes()
    }

    fn drain(conn: &mut ApplicationConnection, buf: &mut BytesMut) -> Vec<ApplicationEvent> {
        crate::test_support::drain(|buf| conn.receive(buf), buf)
    }

    fn output_records(conn: &mut ApplicationConnection) -> Vec<Record> {
        decode_all(conn.take_output().to_bytes_mut())
    }

    fn multiplexing() -> ApplicationConfig {
        ApplicationConfig::default()
            .with_multiplex(true)
            .with_limits(Limits::default().with_max_requests_in_flight(2))
    }

    #[test]
    fn get_values_is_answered_by_the_connection() {
        let mut conn = ApplicationConnection::new(multiplexing());
        let query = crate::params::get_values_query();
        let mut input = wire(&[(RecordType::GetValues, 0, &query)]);
        assert!(drain(&mut conn, &mut input).is_empty());
        let records = output_records(&mut conn);
        assert_eq!(records[0].record_type(), RecordType::GetValuesResult);
        let pairs = decode_pairs(&records[0].content).unwrap();
        let values = GetValuesAnswer::from_pairs(pairs.iter().map(|(n, v)| (&n[..], &v[..])));
        assert_eq!(values.mpxs_conns, Some(true));
        assert_eq!(values.max_reqs, Some(2));
        assert_eq!(values.max_conns, None);
    }

    #[test]
    fn unknown_management_type_gets_unknown_type() {
        let mut conn = ApplicationConnection::new(ApplicationConfig::default());
        let mut input = wire(&[(RecordType::Other(42), 0, b"xyz")]);
        assert!(drain(&mut conn, &mut input).is_empty());
        let records = output_records(&mut conn);
        assert_eq!(records[0].unknown_type_body().unwrap().record_type, 42);
    }

    #[test]
    fn unknown_role_is_refused() {
        let mut conn = ApplicationConnection::new(ApplicationConfig::default());
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
        let mut conn = ApplicationConnection::new(multiplexing());
        let mut input = wire(&[
            (RecordType::BeginRequest, 1, &begin(Role::Responder, true)),
            (RecordType::BeginRequest, 2, &begin(Role::Responder, true)),
            (RecordType::BeginRequest, 3, &begin(Role::Responder, true)),
        ]);
        assert_eq!(drain(&mut conn, &mut input).len(), 2);
        let records = output_records(&mut conn);
        assert_eq!(records[0].request_id(), RequestId::new(3));
        assert_eq!(
            records[0].end_request_body().unwrap().protocol_status,
            ProtocolStatus::Overloaded
        );

        let mut single = ApplicationConnection::new(ApplicationConfig::default());
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
        let mut conn = ApplicationConnection::new(ApplicationConfig::default());
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
                ApplicationEvent::Params { params, .. } => {
                    assert_eq!(params.get("A"), Some(&[b'0' + round][..]));
                }
                other => panic!("unexpected {other:?}"),
            }
            conn.end_request(RequestId::new(1), 0).unwrap();
            assert!(!conn.should_close());
        }
    }

    #[test]
    fn abort_is_an_event_and_end_request_answers_it() {
        let mut conn = ApplicationConnection::new(ApplicationConfig::default());
        let mut input = wire(&[
            (RecordType::BeginRequest, 1, &begin(Role::Responder, false)),
            (RecordType::AbortRequest, 1, b""),
        ]);
        let events = drain(&mut conn, &mut input);
        assert_eq!(
            events[1],
            ApplicationEvent::Abort {
                request_id: RequestId::new(1)
            }
        );
        assert!(!conn.has_output());
        conn.end_request(RequestId::new(1), 7).unwrap();
        let records = output_records(&mut conn);
        let end = records.last().unwrap().end_request_body().unwrap();
        assert_eq!(end.app_status, 7);
        assert!(conn.should_close());
    }

    #[test]
    fn early_end_ignores_the_rest_of_stdin_and_keeps_serving() {
        let mut conn = ApplicationConnection::new(ApplicationConfig::default());
        let mut input = wire(&[
            (RecordType::BeginRequest, 1, &begin(Role::Responder, true)),
            (RecordType::Params, 1, b""),
            (RecordType::Stdin, 1, b"part one"),
        ]);
        assert_eq!(drain(&mut conn, &mut input).len(), 3);
        conn.send_stdout(
            RequestId::new(1),
            Bytes::from_static(b"Status: 200\r\n\r\n"),
        )
        .unwrap();
        conn.end_request(RequestId::new(1), 0).unwrap();
        let mut input = wire(&[
            (RecordType::Stdin, 1, b"part two"),
            (RecordType::Stdin, 1, b""),
            (RecordType::BeginRequest, 1, &begin(Role::Responder, true)),
        ]);
        let events = drain(&mut conn, &mut input);
        assert_eq!(
            events,
            vec![ApplicationEvent::RequestBegun {
                request_id: RequestId::new(1),
                role: Role::Responder,
                keep_conn: true
            }]
        );
        assert!(!conn.should_close());
    }

    #[test]
    fn stderr_and_stdout_terminators() {
        let mut conn = ApplicationConnection::new(ApplicationConfig::default());
        let mut input = wire(&[(RecordType::BeginRequest, 1, &begin(Role::Responder, false))]);
        drain(&mut conn, &mut input);
        conn.send_stderr(RequestId::new(1), Bytes::from_static(b"oops"))
            .unwrap();
        conn.end_request(RequestId::new(1), 0).unwrap();
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
            conn.send_stdout(RequestId::new(1), Bytes::from_static(b"x")),
            Err(SendError::UnknownRequest {
                request_id: RequestId::new(1)
            })
        );
    }

    fn error_of(
        config: ApplicationConfig,
        records: &[(RecordType, u16, &[u8])],
    ) -> (ProtocolError, ApplicationConnection) {
        let mut conn = ApplicationConnection::new(config);
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
        let mut conn = ApplicationConnection::new(ApplicationConfig::default());
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
            ProtocolError::new(
                RecordType::BeginRequest,
                RequestId::new(4),
                Violation::RequestIdInUse
            )
        );
        assert_eq!(error.scope(), ErrorScope::Connection);
        assert!(conn.should_close());
    }

    #[test]
    fn records_for_an_id_never_begun() {
        let (error, mut conn) = error_of(
            ApplicationConfig::default(),
            &[(RecordType::Stdin, 3, b"x")],
        );
        assert_eq!(
            error,
            ProtocolError::new(
                RecordType::Stdin,
                RequestId::new(3),
                Violation::RequestNotBegun
            )
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
            let (error, _) = error_of(ApplicationConfig::default(), &[(record_type, 0, content)]);
            assert_eq!(
                error,
                ProtocolError::new(record_type, RequestId::new(0), Violation::ZeroRequestId)
            );
            assert_eq!(error.scope(), ErrorScope::Connection);
        }
    }

    #[test]
    fn fixed_size_body_with_the_wrong_length() {
        let (error, _) = error_of(
            ApplicationConfig::default(),
            &[(RecordType::BeginRequest, 1, &[0, 1, 0])],
        );
        assert_eq!(
            error,
            ProtocolError::new(
                RecordType::BeginRequest,
                RequestId::new(1),
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
            ApplicationConfig::default(),
            &[
                (RecordType::BeginRequest, 1, &body),
                (RecordType::Params, 1, b"\xff\xff\xff\xf0\xff\xff\xff\xf0AB"),
            ],
        );
        assert_eq!(error.record_type, Some(RecordType::Params));
        assert_eq!(error.request_id, Some(RequestId::new(1)));
        assert!(
            matches!(error.violation, Violation::PairTooLarge { len, .. } if len == 8 + 2 * 0x7FFF_FFF0)
        );
        assert_eq!(error.scope(), ErrorScope::Request);
        let records = output_records(&mut conn);
        let end = records.last().unwrap().end_request_body().unwrap();
        assert_eq!(end.app_status, FAILED_REQUEST_APP_STATUS);
        assert!(!conn.is_in_flight(RequestId::new(1)));
    }

    #[test]
    fn pair_lengths_running_past_the_end_of_params() {
        let body = begin(Role::Responder, true);
        let (error, conn) = error_of(
            ApplicationConfig::default(),
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
                RequestId::new(1),
                Violation::TruncatedPair { pending: 5 }
            )
        );
        assert!(!conn.is_in_flight(RequestId::new(1)));
        // In a management record, which must hold whole pairs, the same shape is an overrun.
        let (error, conn) = error_of(
            ApplicationConfig::default(),
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
        let config =
            ApplicationConfig::default().with_limits(Limits::default().with_max_params_bytes(16));
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
                RequestId::new(1),
                Violation::ParamsTooLarge { limit: 16 }
            )
        );
    }

    #[test]
    fn records_before_params_end_past_the_limit() {
        let config = ApplicationConfig::default()
            .with_limits(Limits::default().with_max_records_before_params_end(3));
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
                RequestId::new(1),
                Violation::TooManyRecordsBeforeParamsEnd { limit: 3 }
            )
        );
    }

    #[test]
    fn stdin_after_stdin_ended() {
        let body = begin(Role::Responder, true);
        let (error, conn) = error_of(
            ApplicationConfig::default(),
            &[
                (RecordType::BeginRequest, 1, &body),
                (RecordType::Params, 1, b""),
                (RecordType::Stdin, 1, b""),
                (RecordType::Stdin, 1, b"late"),
            ],
        );
        assert_eq!(
            error,
            ProtocolError::new(
                RecordType::Stdin,
                RequestId::new(1),
                Violation::StreamAfterEnd
            )
        );
        assert_eq!(error.scope(), ErrorScope::Request);
        assert!(!conn.is_in_flight(RequestId::new(1)));
    }

    #[test]
    fn a_request_error_loses_nothing_of_other_requests() {
        let mut conn = ApplicationConnection::new(multiplexing());
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
                RequestId::new(1),
                Violation::StreamBeforeParamsEnd
            )]
        );
        let stdin: Vec<u8> = events
            .iter()
            .filter_map(|e| match e {
                ApplicationEvent::Stdin { request_id, chunk }
                    if *request_id == RequestId::new(2) =>
                {
                    Some(chunk.to_vec())
                }
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(stdin, b"abcdef");
        assert_eq!(
            events.last(),
            Some(&ApplicationEvent::StdinEnd {
                request_id: RequestId::new(2)
            })
        );
        assert!(conn.is_in_flight(RequestId::new(2)));
    }

    #[test]
    fn params_and_stdin_point_into_the_received_buffer() {
        let mut conn = ApplicationConnection::new(ApplicationConfig::default());
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
        let ApplicationEvent::Params { params, .. } = &events[1] else {
            panic!("{events:?}");
        };
        assert!(inside(params.get("REQUEST_METHOD").unwrap().as_ptr()));
        let ApplicationEvent::Stdin { chunk, .. } = &events[2] else {
            panic!("{events:?}");
        };
        assert!(inside(chunk.as_ptr()));
    }

    #[test]
    fn filter_role_gets_data_events() {
        let mut client = crate::GatewayConnection::new(crate::GatewayConfig::default());
        let id = client.begin_request(Role::Filter, true).unwrap();
        client.send_params(id, &Environ::new()).unwrap();
        client.send_stdin(id, Bytes::from_static(b"in")).unwrap();
        client.end_stdin(id).unwrap();
        client.send_data(id, Bytes::from_static(b"file")).unwrap();
        client.end_data(id).unwrap();
        let mut input = client.take_output().to_bytes_mut();
        let mut conn = ApplicationConnection::new(ApplicationConfig::default());
        let events = drain(&mut conn, &mut input);
        assert_eq!(
            events,
            vec![
                ApplicationEvent::RequestBegun {
                    request_id: id,
                    role: Role::Filter,
                    keep_conn: true
                },
                ApplicationEvent::Params {
                    request_id: id,
                    params: Environ::new()
                },
                ApplicationEvent::Stdin {
                    request_id: id,
                    chunk: Bytes::from_static(b"in")
                },
                ApplicationEvent::StdinEnd { request_id: id },
                ApplicationEvent::Data {
                    request_id: id,
                    chunk: Bytes::from_static(b"file")
                },
                ApplicationEvent::DataEnd { request_id: id },
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
        let mut conn = ApplicationConnection::new(ApplicationConfig::default());
        let mut input = wire(&[
            (RecordType::BeginRequest, 1, &begin(Role::Responder, true)),
            (RecordType::Params, 1, b"\x0e\x03REQUEST_"),
            (RecordType::Params, 1, b"METHODGET"),
            (RecordType::Params, 1, b""),
        ]);
        let events = drain(&mut conn, &mut input);
        assert!(
            matches!(&events[1], ApplicationEvent::Params { params, .. } if params.get("REQUEST_METHOD") == Some(&b"GET"[..]))
        );
    }

    #[test]
    fn gateway_records_sent_to_the_application_are_refused() {
        let (error, _) = error_of(
            ApplicationConfig::default(),
            &[(RecordType::Stdout, 1, b"x")],
        );
        assert_eq!(error.violation, Violation::UnexpectedRecordType);
        assert_eq!(error.scope(), ErrorScope::Connection);
    }

    #[test]
    fn records_for_ids_never_begun_become_a_connection_error() {
        // 800 KB of empty STDIN records (8 bytes each) for an id that was never begun.
        let record = wire(&[(RecordType::Stdin, 3, b"")]);
        let mut input = BytesMut::new();
        for _ in 0..100_000 {
            input.extend_from_slice(&record);
        }
        let mut conn = ApplicationConnection::new(ApplicationConfig::default());
        let limit = Limits::default().max_request_errors();
        assert_eq!(limit, 16);
        let mut errors = Vec::new();
        loop {
            match conn.receive(&mut input) {
                Ok(Some(event)) => panic!("{event:?}"),
                Ok(None) => break,
                Err(error) => {
                    let scope = error.scope();
                    errors.push(error);
                    if scope == ErrorScope::Connection {
                        break;
                    }
                }
            }
        }
        assert_eq!(errors.len(), limit + 1);
        assert!(
            errors[..limit]
                .iter()
                .all(|e| e.violation == Violation::RequestNotBegun
                    && e.scope() == ErrorScope::Request)
        );
        let last = errors.last().unwrap();
        assert_eq!(
            *last,
            ProtocolError::new(
                RecordType::Stdin,
                RequestId::new(3),
                Violation::TooManyRequestErrors { limit }
            )
        );
        assert!(conn.should_close());
        assert_eq!(conn.failure(), Some(last));
        assert_eq!(conn.receive(&mut input).unwrap_err(), *last);
        // The same budget with a stricter limit.
        let mut strict = ApplicationConnection::new(
            ApplicationConfig::default().with_limits(Limits::default().with_max_request_errors(0)),
        );
        let mut input = record.clone();
        assert_eq!(
            strict.receive(&mut input).unwrap_err().violation,
            Violation::TooManyRequestErrors { limit: 0 }
        );
    }

    #[test]
    fn a_get_values_query_whose_answer_does_not_fit_one_record() {
        let mut query = BytesMut::new();
        // 4100 names in 61,500 bytes; their answer would be 4100 × 16 bytes.
        for _ in 0..4100 {
            crate::wire::write_pair(b"FCGI_MAX_REQS", b"", &mut query).unwrap();
        }
        let (error, mut conn) = error_of(
            ApplicationConfig::default(),
            &[(RecordType::GetValues, 0, &query)],
        );
        assert_eq!(
            error,
            ProtocolError::new(
                RecordType::GetValues,
                RequestId::MANAGEMENT,
                Violation::GetValuesAnswerTooLarge {
                    len: 65536,
                    max: 65528
                }
            )
        );
        assert_eq!(error.scope(), ErrorScope::Request);
        assert!(!conn.has_output(), "nothing answered");
        assert!(!conn.should_close());
        let mut more = wire(&[(RecordType::BeginRequest, 1, &begin(Role::Responder, true))]);
        assert_eq!(drain(&mut conn, &mut more).len(), 1);
    }
}
