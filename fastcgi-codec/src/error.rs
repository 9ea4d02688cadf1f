//! Errors: what the peer sent wrong ([`ProtocolError`]), what cannot be encoded
//! ([`EncodeError`]), and what a local call asked for that the connection cannot do
//! ([`SendError`]).

use std::fmt;

use cgi_env::EnvironError;
use thiserror::Error;

use crate::ids::RequestId;
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

/// Malformed or unexpected input from the peer: which rule was broken, in which record
/// and for which request.
///
/// Most errors are about one record; the ones that are not (the peer closed the connection
/// with requests in flight) have no record type and no request id.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct ProtocolError {
    /// The type of the offending record, `None` when the error is about no record.
    pub record_type: Option<RecordType>,
    /// The request id of the offending record, `None` when the error is about no record.
    pub request_id: Option<RequestId>,
    /// The rule that was broken.
    pub violation: Violation,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(record_type) = self.record_type {
            write!(f, "{record_type} record")?;
            if let Some(request_id) = self.request_id {
                write!(f, " for request id {request_id}")?;
            }
            f.write_str(": ")?;
        }
        self.violation.fmt(f)
    }
}

impl ProtocolError {
    /// An error about a record of `record_type` on `request_id`.
    pub const fn new(record_type: RecordType, request_id: RequestId, violation: Violation) -> Self {
        ProtocolError {
            record_type: Some(record_type),
            request_id: Some(request_id),
            violation,
        }
    }

    /// An error about the connection as a whole, not about any record.
    pub const fn connection(violation: Violation) -> Self {
        ProtocolError {
            record_type: None,
            request_id: None,
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
    /// The peer closed the connection while requests were still in flight (about no
    /// record: the connection ended).
    #[error("the peer closed the connection with {in_flight} request(s) in flight")]
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
    /// The names a GET_VALUES query asks for need a longer answer than one record holds
    /// (a query that repeats names).
    #[error("the answer to this GET_VALUES query needs {len} bytes, more than one record's {max}")]
    GetValuesAnswerTooLarge {
        /// The size the answer would have.
        len: usize,
        /// The most one record carries.
        max: usize,
    },
    /// The environ could not hold the params (its own storage limits, far above
    /// [`crate::Limits::max_params_bytes`]).
    #[error("the params do not fit an environ: {0}")]
    Environ(EnvironError),
    /// The peer broke request-level rules more often on this connection than
    /// [`crate::Limits::max_request_errors`] allows: the connection is closed instead
    /// of answering each one (the error names the record that went past the limit).
    #[error("more than {limit} request-level errors on one connection")]
    TooManyRequestErrors {
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
            | Self::ClosedWithRequestsInFlight { .. }
            | Self::TooManyRequestErrors { .. } => ErrorScope::Connection,
            Self::RequestNotBegun
            | Self::PairOverrun { .. }
            | Self::PairTooLarge { .. }
            | Self::ParamsTooLarge { .. }
            | Self::TooManyRecordsBeforeParamsEnd { .. }
            | Self::StreamAfterEnd
            | Self::StreamBeforeParamsEnd
            | Self::TruncatedPair { .. }
            | Self::GetValuesAnswerTooLarge { .. }
            | Self::Environ(_) => ErrorScope::Request,
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
        request_id: RequestId,
    },
    /// The stream was already ended for this request.
    #[error("{record_type} stream of request id {request_id} already ended")]
    StreamEnded {
        /// The stream type.
        record_type: RecordType,
        /// The request id.
        request_id: RequestId,
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
        request_id: RequestId,
    },
    /// The connection failed or was closed.
    #[error("the connection is closed")]
    Closed,
    /// The data cannot be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}
