//! Errors: what the peer sent wrong ([`ProtocolError`]), what cannot be encoded
//! ([`EncodeError`]), and what a local call asked for that the connection cannot do
//! ([`SendError`]).

use thiserror::Error;

use crate::record::RecordType;

/// Whether a connection can go on after a [`ProtocolError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorScope {
    /// Only one request failed; the records around it were framed correctly and the
    /// connection can keep serving other requests.
    Request,
    /// The byte stream can no longer be trusted (bad framing or a broken protocol rule at
    /// the connection level): close the connection.
    Connection,
}

/// Malformed or unexpected input from the peer: which record, which request, which rule.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{record_type} record for request id {request_id}: {violation}")]
pub struct ProtocolError {
    /// The type of the offending record.
    pub record_type: RecordType,
    /// The request id of the offending record.
    pub request_id: u16,
    /// The rule that was broken.
    pub violation: Violation,
}

impl ProtocolError {
    /// An error for a record of `record_type` on `request_id`.
    pub const fn new(record_type: RecordType, request_id: u16, violation: Violation) -> Self {
        ProtocolError {
            record_type,
            request_id,
            violation,
        }
    }

    /// Whether the connection can go on after this error.
    pub const fn scope(&self) -> ErrorScope {
        self.violation.scope()
    }
}

/// The rule a peer broke.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Violation {
    /// The header's version byte is not 1.
    #[error("protocol version {version}, only version 1 exists")]
    UnsupportedVersion {
        /// The version byte received.
        version: u8,
    },
    /// A BEGIN_REQUEST, END_REQUEST or UNKNOWN_TYPE body that is not 8 bytes.
    #[error("body is {actual} bytes, this record type has exactly {expected}")]
    BadBodyLength {
        /// The fixed body length of the type.
        expected: usize,
        /// The content length received.
        actual: usize,
    },
    /// BEGIN_REQUEST for a request id that is still in use.
    #[error("BEGIN_REQUEST for a request id that is still in use")]
    RequestIdInUse,
    /// An application record on request id 0, which only management records use.
    #[error("request id 0 is reserved for management records")]
    ZeroRequestId,
    /// A record type this side of the connection never receives (e.g. STDOUT sent to the
    /// application).
    #[error("this record type is never sent in this direction")]
    UnexpectedRecordType,
    /// The connection already failed with a connection-level error.
    #[error("the connection already failed and must be closed")]
    ConnectionFailed,
    /// The peer closed the connection while requests were still in flight.
    #[error("connection closed with {in_flight} request(s) in flight")]
    ClosedWithRequestsInFlight {
        /// How many requests had not ended.
        in_flight: usize,
    },
    /// A record for a request id that was never begun.
    #[error("request id was never begun")]
    RequestNotBegun,
    /// A name-value pair whose lengths run past the end of the data.
    #[error(
        "name-value pair at offset {offset} declares a {name_len}-byte name and a \
         {value_len}-byte value, past the {available} bytes available"
    )]
    PairOverrun {
        /// Offset of the pair in the record content.
        offset: usize,
        /// Declared name length.
        name_len: u32,
        /// Declared value length.
        value_len: u32,
        /// Bytes that are left in the content.
        available: usize,
    },
    /// A name-value pair larger than the configured limit.
    #[error("name-value pair of {len} bytes, more than the limit of {limit}")]
    PairTooLarge {
        /// Declared size of the pair, lengths included (saturated at `u64::MAX`).
        len: u64,
        /// The configured limit.
        limit: usize,
    },
    /// More params bytes for one request than the configured limit.
    #[error("params exceed the limit of {limit} bytes per request")]
    ParamsTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// More records before the end of PARAMS than the configured limit.
    #[error("more than {limit} records before the end of PARAMS")]
    TooManyRecordsBeforeParamsEnd {
        /// The configured limit.
        limit: usize,
    },
    /// A stream record after that stream's empty end record.
    #[error("stream record after the stream ended")]
    StreamAfterEnd,
    /// STDIN or DATA before the PARAMS stream ended.
    #[error("stream record before the PARAMS stream ended")]
    StreamBeforeParamsEnd,
    /// The PARAMS stream ended in the middle of a name-value pair.
    #[error("params ended in the middle of a name-value pair ({pending} bytes pending)")]
    TruncatedPair {
        /// Bytes of the unfinished pair.
        pending: usize,
    },
    /// More requests in flight than the configured limit (on the gateway side: the peer
    /// answered for more than were begun).
    #[error("more than {limit} requests in flight")]
    TooManyRequests {
        /// The configured limit.
        limit: usize,
    },
}

impl Violation {
    /// Whether the connection can go on after this violation.
    pub const fn scope(&self) -> ErrorScope {
        match self {
            Self::UnsupportedVersion { .. }
            | Self::BadBodyLength { .. }
            | Self::RequestIdInUse
            | Self::ZeroRequestId
            | Self::UnexpectedRecordType
            | Self::ConnectionFailed
            | Self::ClosedWithRequestsInFlight { .. }
            | Self::TooManyRequests { .. } => ErrorScope::Connection,
            Self::RequestNotBegun
            | Self::PairOverrun { .. }
            | Self::PairTooLarge { .. }
            | Self::ParamsTooLarge { .. }
            | Self::TooManyRecordsBeforeParamsEnd { .. }
            | Self::StreamAfterEnd
            | Self::StreamBeforeParamsEnd
            | Self::TruncatedPair { .. } => ErrorScope::Request,
        }
    }
}

/// Something that cannot be put on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// Record content longer than one record can carry.
    #[error("{record_type} content of {len} bytes does not fit one record (at most {max})")]
    ContentTooLong {
        /// The record type.
        record_type: RecordType,
        /// The content length asked for.
        len: usize,
        /// The most one record can carry with the configured padding.
        max: usize,
    },
    /// A name or value longer than the 31-bit length field.
    #[error("name or value of {len} bytes is longer than 2^31 - 1")]
    LengthTooLong {
        /// The length asked for.
        len: usize,
    },
    /// One name-value pair that does not fit a single record (pairs are never split).
    #[error("name-value pair of {len} bytes does not fit one record (at most {max})")]
    PairTooLarge {
        /// The encoded pair size.
        len: usize,
        /// The most one record can carry with the configured padding.
        max: usize,
    },
}

/// A local call the connection cannot carry out.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SendError {
    /// The request id is not in flight on this connection.
    #[error("request id {request_id} is not in flight")]
    UnknownRequest {
        /// The request id.
        request_id: u16,
    },
    /// The stream was already ended for this request.
    #[error("{record_type} stream of request id {request_id} already ended")]
    StreamEnded {
        /// The stream type.
        record_type: RecordType,
        /// The request id.
        request_id: u16,
    },
    /// The peer does not multiplex (or the limit was reached): wait for the request in
    /// flight to end.
    #[error("{in_flight} request(s) in flight and the peer accepts no more on this connection")]
    Busy {
        /// Requests in flight.
        in_flight: usize,
    },
    /// The params of this request were already sent, or it is past that stage.
    #[error("params of request id {request_id} were already sent")]
    ParamsAlreadySent {
        /// The request id.
        request_id: u16,
    },
    /// The connection failed or was closed.
    #[error("the connection is closed")]
    Closed,
    /// The data cannot be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}
