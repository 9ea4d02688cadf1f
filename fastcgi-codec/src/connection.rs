//! What the gateway and application sides of a connection share: the record decoder and
//! encoder, the requests in flight, the ids that ended, the output queue, the receive
//! loop, request-id checks and connection failure. Each side is a [`Side`] around a
//! [`Core`], as h2's `Peer` is a side around one protocol core.

use bytes::BytesMut;

use crate::decoder::RecordDecoder;
use crate::encoder::{OutputQueue, Padding, RecordEncoder};
use crate::error::{ErrorScope, ProtocolError, SendError, Violation};
use crate::ids::{IdSet, RequestId};
use crate::limits::Limits;
use crate::record::Record;
use crate::requests::RequestTable;

/// The state of one connection that does not depend on its side; `R` is what a side
/// keeps per request.
#[derive(Debug)]
pub(crate) struct Core<R> {
    pub(crate) limits: Limits,
    pub(crate) decoder: RecordDecoder,
    pub(crate) encoder: RecordEncoder,
    pub(crate) requests: RequestTable<R>,
    /// Ids whose requests ended: their late records are ignored, as the spec says.
    pub(crate) ended: IdSet,
    pub(crate) output: OutputQueue,
    pub(crate) failed: Option<ProtocolError>,
    /// The peer closed the connection.
    pub(crate) closed: bool,
    /// Request-level errors the peer caused so far.
    request_errors: usize,
}

impl<R> Core<R> {
    pub(crate) fn new(limits: Limits, padding: Padding) -> Self {
        Core {
            limits,
            decoder: RecordDecoder::new(),
            encoder: RecordEncoder::new(padding),
            requests: RequestTable::default(),
            ended: IdSet::default(),
            // Empty until the first write: reading a request allocates nothing here.
            output: OutputQueue::new(),
            failed: None,
            closed: false,
            request_errors: 0,
        }
    }

    /// The state of the request `record` is for. `Ok(None)` when the request already
    /// ended (the record is ignored).
    pub(crate) fn request_of(&mut self, record: &Record) -> Result<Option<&mut R>, ProtocolError> {
        let request_id = record.request_id();
        let error = |violation| ProtocolError::new(record.record_type(), request_id, violation);
        if request_id.is_management() {
            return Err(error(Violation::ZeroRequestId));
        }
        if self.requests.contains_key(request_id) {
            return Ok(self.requests.get_mut(request_id));
        }
        if self.ended.contains(request_id) {
            return Ok(None);
        }
        Err(error(Violation::RequestNotBegun))
    }

    /// The state of a request a local call is about.
    pub(crate) fn writable(&mut self, request_id: RequestId) -> Result<&mut R, SendError> {
        if self.failed.is_some() || self.closed {
            return Err(SendError::Closed);
        }
        self.requests
            .get_mut(request_id)
            .ok_or(SendError::UnknownRequest { request_id })
    }

    /// Forgets a request; its late records are ignored from now on.
    pub(crate) fn end(&mut self, request_id: RequestId) -> Option<R> {
        let request = self.requests.remove(request_id)?;
        self.ended.insert(request_id);
        Some(request)
    }

    /// Records a connection-level error: every later `receive` returns it.
    pub(crate) fn fail(&mut self, error: ProtocolError) -> ProtocolError {
        self.failed = Some(error.clone());
        error
    }

    /// The peer closed the connection: an error when requests were still in flight
    /// (they are dropped).
    pub(crate) fn eof(&mut self) -> Result<(), ProtocolError> {
        self.closed = true;
        let in_flight = self.requests.len();
        if in_flight == 0 {
            return Ok(());
        }
        self.requests.clear();
        Err(self.fail(ProtocolError::connection(
            Violation::ClosedWithRequestsInFlight { in_flight },
        )))
    }

    /// Counts an error of the peer: connection errors fail the connection, and so does
    /// the request-level error that goes past [`Limits::max_request_errors`].
    fn count(&mut self, error: ProtocolError) -> ProtocolError {
        if error.scope() == ErrorScope::Connection {
            return self.fail(error);
        }
        self.request_errors += 1;
        if self.request_errors > self.limits.max_request_errors() {
            return self.fail(ProtocolError {
                violation: Violation::TooManyRequestErrors {
                    limit: self.limits.max_request_errors(),
                },
                ..error
            });
        }
        error
    }
}

/// One side of a connection: what it keeps per request, what it reports, and how it
/// handles a record.
pub(crate) trait Side {
    type Request;
    type Event;

    fn core(&mut self) -> &mut Core<Self::Request>;

    /// Handles one record: an event, nothing, or what the peer did wrong.
    fn handle(&mut self, record: Record) -> Result<Option<Self::Event>, ProtocolError>;

    /// Drops the request a request-level error was about (if it is in flight).
    fn drop_request(&mut self, request_id: RequestId);
}

/// Reads records from `buf` until one gives an event or `buf` holds no complete record.
pub(crate) fn receive<S: Side>(
    side: &mut S,
    buf: &mut BytesMut,
) -> Result<Option<S::Event>, ProtocolError> {
    if let Some(failed) = &side.core().failed {
        return Err(failed.clone());
    }
    loop {
        let record = match side.core().decoder.decode(buf) {
            Ok(Some(record)) => record,
            Ok(None) => return Ok(None),
            Err(error) => return Err(side.core().fail(error)),
        };
        match side.handle(record) {
            Ok(Some(event)) => return Ok(Some(event)),
            Ok(None) => {}
            Err(error) => {
                if let (ErrorScope::Request, Some(request_id)) = (error.scope(), error.request_id) {
                    side.drop_request(request_id);
                }
                return Err(side.core().count(error));
            }
        }
    }
}

/// The accessors both connection types have, written once, for a type with a
/// `core: Core<_>` field.
macro_rules! connection_accessors {
    () => {
        /// Requests begun and not yet ended.
        pub fn in_flight(&self) -> usize {
            self.core.requests.len()
        }

        /// Whether `request_id` is in flight.
        pub fn is_in_flight(&self, request_id: RequestId) -> bool {
            self.core.requests.contains_key(request_id)
        }

        /// The connection-level error the connection failed with, if any.
        pub fn failure(&self) -> Option<&ProtocolError> {
            self.core.failed.as_ref()
        }

        /// Whether bytes are waiting in [`Self::take_output`].
        pub fn has_output(&self) -> bool {
            !self.core.output.is_empty()
        }

        /// Takes the bytes to send: record headers and small payloads in one buffer, large
        /// payload [`Bytes`] chained in between unchanged, for vectored writes.
        pub fn take_output(&mut self) -> OutputQueue {
            self.core.output.take_queued()
        }

        /// The copying path: appends the bytes to send to `dst`.
        pub fn write_output_into(&mut self, dst: &mut BytesMut) {
            self.core.output.copy_into(dst);
        }
    };
}
pub(crate) use connection_accessors;

/// The settings both configuration types have, written once, for a type with `padding`
/// and `limits` fields.
macro_rules! config_common {
    () => {
        /// Padding of the records this side writes. Default: to 8 bytes, as nginx and
        /// PHP-FPM.
        pub fn padding(&self) -> Padding {
            self.padding
        }

        /// Sets [`Self::padding`].
        #[must_use]
        pub fn with_padding(mut self, padding: Padding) -> Self {
            self.padding = padding;
            self
        }

        /// Limits on what the peer may send, and [`Limits::max_requests_in_flight`] for
        /// this side. Default [`Limits::default`].
        pub fn limits(&self) -> Limits {
            self.limits
        }

        /// Sets [`Self::limits`].
        #[must_use]
        pub fn with_limits(mut self, limits: Limits) -> Self {
            self.limits = limits;
            self
        }
    };
}
pub(crate) use config_common;
