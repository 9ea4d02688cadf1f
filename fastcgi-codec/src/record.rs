//! The record layer: the 8-byte header, record types, and the fixed-size bodies of
//! BEGIN_REQUEST, END_REQUEST and UNKNOWN_TYPE.

use std::fmt;

use bytes::Bytes;

use crate::error::{ProtocolError, Violation};
use crate::ids::RequestId;

/// The only FastCGI protocol version.
pub const VERSION_1: u8 = 1;
/// Length of a record header.
pub const HEADER_LEN: usize = 8;
/// The largest content a record can carry (the u16 `contentLength` field).
pub const MAX_CONTENT_LEN: u16 = u16::MAX;
/// The largest content a record can carry when it is padded to a multiple of 8 and content
/// plus padding must stay within 65535 bytes (PHP-FPM refuses more).
pub const MAX_PADDED_CONTENT_LEN: u16 = 0xFFF8;
/// Length of the BEGIN_REQUEST, END_REQUEST and UNKNOWN_TYPE bodies.
pub const FIXED_BODY_LEN: usize = 8;

/// A record type. Types the protocol does not define are carried as [`RecordType::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    /// FCGI_BEGIN_REQUEST (1).
    BeginRequest,
    /// FCGI_ABORT_REQUEST (2).
    AbortRequest,
    /// FCGI_END_REQUEST (3).
    EndRequest,
    /// FCGI_PARAMS (4).
    Params,
    /// FCGI_STDIN (5).
    Stdin,
    /// FCGI_STDOUT (6).
    Stdout,
    /// FCGI_STDERR (7).
    Stderr,
    /// FCGI_DATA (8).
    Data,
    /// FCGI_GET_VALUES (9).
    GetValues,
    /// FCGI_GET_VALUES_RESULT (10).
    GetValuesResult,
    /// FCGI_UNKNOWN_TYPE (11).
    UnknownType,
    /// Any other type byte.
    Other(u8),
}

impl RecordType {
    /// The type for a type byte.
    pub const fn from_u8(value: u8) -> Self {
        match value {
            1 => Self::BeginRequest,
            2 => Self::AbortRequest,
            3 => Self::EndRequest,
            4 => Self::Params,
            5 => Self::Stdin,
            6 => Self::Stdout,
            7 => Self::Stderr,
            8 => Self::Data,
            9 => Self::GetValues,
            10 => Self::GetValuesResult,
            11 => Self::UnknownType,
            other => Self::Other(other),
        }
    }

    /// The type byte.
    pub const fn as_u8(self) -> u8 {
        match self {
            Self::BeginRequest => 1,
            Self::AbortRequest => 2,
            Self::EndRequest => 3,
            Self::Params => 4,
            Self::Stdin => 5,
            Self::Stdout => 6,
            Self::Stderr => 7,
            Self::Data => 8,
            Self::GetValues => 9,
            Self::GetValuesResult => 10,
            Self::UnknownType => 11,
            Self::Other(other) => other,
        }
    }

    /// Whether this is one of the management types (GET_VALUES, GET_VALUES_RESULT,
    /// UNKNOWN_TYPE), which travel on request id 0.
    pub const fn is_management(self) -> bool {
        matches!(
            self,
            Self::GetValues | Self::GetValuesResult | Self::UnknownType
        )
    }

    /// Whether records of this type form a stream ended by an empty record.
    pub const fn is_stream(self) -> bool {
        matches!(
            self,
            Self::Params | Self::Stdin | Self::Stdout | Self::Stderr | Self::Data
        )
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::BeginRequest => "FCGI_BEGIN_REQUEST",
            Self::AbortRequest => "FCGI_ABORT_REQUEST",
            Self::EndRequest => "FCGI_END_REQUEST",
            Self::Params => "FCGI_PARAMS",
            Self::Stdin => "FCGI_STDIN",
            Self::Stdout => "FCGI_STDOUT",
            Self::Stderr => "FCGI_STDERR",
            Self::Data => "FCGI_DATA",
            Self::GetValues => "FCGI_GET_VALUES",
            Self::GetValuesResult => "FCGI_GET_VALUES_RESULT",
            Self::UnknownType => "FCGI_UNKNOWN_TYPE",
            Self::Other(other) => return write!(f, "record type {other}"),
        };
        f.write_str(name)
    }
}

/// A record header as read from or written to the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// Protocol version; always [`VERSION_1`] for a header the decoder accepted.
    pub version: u8,
    /// Record type.
    pub record_type: RecordType,
    /// Request id ([`RequestId::MANAGEMENT`] for management records).
    pub request_id: RequestId,
    /// Length of the content that follows the header.
    pub content_length: u16,
    /// Length of the padding that follows the content.
    pub padding_length: u8,
}

impl RecordHeader {
    /// A version 1 header.
    pub const fn new(
        record_type: RecordType,
        request_id: RequestId,
        content_length: u16,
        padding_length: u8,
    ) -> Self {
        RecordHeader {
            version: VERSION_1,
            record_type,
            request_id,
            content_length,
            padding_length,
        }
    }

    /// Reads a header; the reserved byte is ignored.
    ///
    /// # Errors
    /// [`Violation::UnsupportedVersion`] when the version byte is not 1.
    pub fn parse(bytes: [u8; HEADER_LEN]) -> Result<Self, ProtocolError> {
        let [
            version,
            kind,
            id_hi,
            id_lo,
            len_hi,
            len_lo,
            padding_length,
            _reserved,
        ] = bytes;
        let header = RecordHeader {
            version,
            record_type: RecordType::from_u8(kind),
            request_id: RequestId::new(u16::from_be_bytes([id_hi, id_lo])),
            content_length: u16::from_be_bytes([len_hi, len_lo]),
            padding_length,
        };
        if version != VERSION_1 {
            return Err(ProtocolError::new(
                header.record_type,
                header.request_id,
                Violation::UnsupportedVersion { version },
            ));
        }
        Ok(header)
    }

    /// The 8 header bytes, reserved byte zero.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let [id_hi, id_lo] = self.request_id.get().to_be_bytes();
        let [len_hi, len_lo] = self.content_length.to_be_bytes();
        [
            self.version,
            self.record_type.as_u8(),
            id_hi,
            id_lo,
            len_hi,
            len_lo,
            self.padding_length,
            0,
        ]
    }

    /// Header, content and padding together.
    pub fn record_len(&self) -> usize {
        HEADER_LEN + usize::from(self.content_length) + usize::from(self.padding_length)
    }
}

/// A decoded record: its header and its content, which points into the received buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The header as received (padding length included, for diagnostics).
    pub header: RecordHeader,
    /// The content, without padding.
    pub content: Bytes,
}

impl Record {
    /// The record type.
    pub fn record_type(&self) -> RecordType {
        self.header.record_type
    }

    /// The request id.
    pub fn request_id(&self) -> RequestId {
        self.header.request_id
    }

    fn fixed_body(&self) -> Result<[u8; FIXED_BODY_LEN], ProtocolError> {
        <[u8; FIXED_BODY_LEN]>::try_from(&self.content[..]).map_err(|_| {
            ProtocolError::new(
                self.header.record_type,
                self.header.request_id,
                Violation::BadBodyLength {
                    expected: FIXED_BODY_LEN,
                    actual: self.content.len(),
                },
            )
        })
    }

    /// The BEGIN_REQUEST body of this record.
    ///
    /// # Errors
    /// [`Violation::BadBodyLength`] when the content is not 8 bytes.
    pub fn begin_request_body(&self) -> Result<BeginRequestBody, ProtocolError> {
        self.fixed_body().map(BeginRequestBody::from_bytes)
    }

    /// The END_REQUEST body of this record.
    ///
    /// # Errors
    /// [`Violation::BadBodyLength`] when the content is not 8 bytes.
    pub fn end_request_body(&self) -> Result<EndRequestBody, ProtocolError> {
        self.fixed_body().map(EndRequestBody::from_bytes)
    }

    /// The UNKNOWN_TYPE body of this record.
    ///
    /// # Errors
    /// [`Violation::BadBodyLength`] when the content is not 8 bytes.
    pub fn unknown_type_body(&self) -> Result<UnknownTypeBody, ProtocolError> {
        self.fixed_body().map(UnknownTypeBody::from_bytes)
    }
}

/// The role a BEGIN_REQUEST asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// FCGI_RESPONDER (1): produce a response.
    Responder,
    /// FCGI_AUTHORIZER (2): decide on access.
    Authorizer,
    /// FCGI_FILTER (3): produce a response from STDIN plus a DATA stream.
    Filter,
    /// A role number the protocol does not define.
    Other(u16),
}

impl Role {
    /// The role for a role number.
    pub const fn from_u16(value: u16) -> Self {
        match value {
            1 => Self::Responder,
            2 => Self::Authorizer,
            3 => Self::Filter,
            other => Self::Other(other),
        }
    }

    /// The role number.
    pub const fn as_u16(self) -> u16 {
        match self {
            Self::Responder => 1,
            Self::Authorizer => 2,
            Self::Filter => 3,
            Self::Other(other) => other,
        }
    }
}

/// The FCGI_KEEP_CONN bit of the BEGIN_REQUEST flags.
pub const FLAG_KEEP_CONN: u8 = 1;

/// The BEGIN_REQUEST body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeginRequestBody {
    /// The requested role.
    pub role: Role,
    /// The flags byte; bit 0 is FCGI_KEEP_CONN.
    pub flags: u8,
}

impl BeginRequestBody {
    /// A body for `role`, with FCGI_KEEP_CONN set when `keep_conn`.
    pub const fn new(role: Role, keep_conn: bool) -> Self {
        BeginRequestBody {
            role,
            flags: if keep_conn { FLAG_KEEP_CONN } else { 0 },
        }
    }

    /// Whether FCGI_KEEP_CONN is set.
    pub const fn keep_conn(&self) -> bool {
        self.flags & FLAG_KEEP_CONN != 0
    }

    /// Reads the body; the reserved bytes are ignored.
    pub const fn from_bytes(bytes: [u8; FIXED_BODY_LEN]) -> Self {
        let [role_hi, role_lo, flags, ..] = bytes;
        BeginRequestBody {
            role: Role::from_u16(u16::from_be_bytes([role_hi, role_lo])),
            flags,
        }
    }

    /// The body bytes, reserved bytes zero.
    pub const fn to_bytes(&self) -> [u8; FIXED_BODY_LEN] {
        let [role_hi, role_lo] = self.role.as_u16().to_be_bytes();
        [role_hi, role_lo, self.flags, 0, 0, 0, 0, 0]
    }
}

/// The protocol status of an END_REQUEST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolStatus {
    /// FCGI_REQUEST_COMPLETE (0): normal end.
    RequestComplete,
    /// FCGI_CANT_MPX_CONN (1): the application does not multiplex.
    CantMpxConn,
    /// FCGI_OVERLOADED (2): the application is out of resources.
    Overloaded,
    /// FCGI_UNKNOWN_ROLE (3): the role is not implemented.
    UnknownRole,
    /// A status value the protocol does not define.
    Other(u8),
}

impl ProtocolStatus {
    /// The status for a status byte.
    pub const fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::RequestComplete,
            1 => Self::CantMpxConn,
            2 => Self::Overloaded,
            3 => Self::UnknownRole,
            other => Self::Other(other),
        }
    }

    /// The status byte.
    pub const fn as_u8(self) -> u8 {
        match self {
            Self::RequestComplete => 0,
            Self::CantMpxConn => 1,
            Self::Overloaded => 2,
            Self::UnknownRole => 3,
            Self::Other(other) => other,
        }
    }
}

/// The END_REQUEST body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndRequestBody {
    /// The application status (e.g. an exit code).
    pub app_status: u32,
    /// How the request ended at the protocol level.
    pub protocol_status: ProtocolStatus,
}

impl EndRequestBody {
    /// Reads the body; the reserved bytes are ignored (php-fpm leaves garbage in them).
    pub const fn from_bytes(bytes: [u8; FIXED_BODY_LEN]) -> Self {
        let [a, b, c, d, status, ..] = bytes;
        EndRequestBody {
            app_status: u32::from_be_bytes([a, b, c, d]),
            protocol_status: ProtocolStatus::from_u8(status),
        }
    }

    /// The body bytes, reserved bytes zero.
    pub const fn to_bytes(&self) -> [u8; FIXED_BODY_LEN] {
        let [a, b, c, d] = self.app_status.to_be_bytes();
        [a, b, c, d, self.protocol_status.as_u8(), 0, 0, 0]
    }
}

/// The UNKNOWN_TYPE body: the management type the application did not understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownTypeBody {
    /// The type byte that was not understood.
    pub record_type: u8,
}

impl UnknownTypeBody {
    /// Reads the body; the reserved bytes are ignored.
    pub const fn from_bytes(bytes: [u8; FIXED_BODY_LEN]) -> Self {
        let [record_type, ..] = bytes;
        UnknownTypeBody { record_type }
    }

    /// The body bytes, reserved bytes zero.
    pub const fn to_bytes(&self) -> [u8; FIXED_BODY_LEN] {
        [self.record_type, 0, 0, 0, 0, 0, 0, 0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_begin_request_header_test_vector() {
        let header = RecordHeader::parse([1, 1, 0, 1, 0, 8, 0, 0]).unwrap();
        assert_eq!(
            header,
            RecordHeader::new(RecordType::BeginRequest, RequestId::new(1), 8, 0)
        );
        assert_eq!(header.to_bytes(), [1, 1, 0, 1, 0, 8, 0, 0]);
        let body = BeginRequestBody::from_bytes([0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(body.role, Role::Responder);
        assert!(!body.keep_conn());
    }

    #[test]
    fn reserved_bytes_are_ignored_and_written_as_zero() {
        let header = RecordHeader::parse([1, 6, 0, 2, 1, 0, 7, 0xAA]).unwrap();
        assert_eq!(header.to_bytes(), [1, 6, 0, 2, 1, 0, 7, 0]);
        let end = EndRequestBody::from_bytes([0, 0, 0, 5, 0, 0x41, 0x42, 0x43]);
        assert_eq!(end.app_status, 5);
        assert_eq!(end.protocol_status, ProtocolStatus::RequestComplete);
        assert_eq!(end.to_bytes(), [0, 0, 0, 5, 0, 0, 0, 0]);
        let begin = BeginRequestBody::from_bytes([0, 3, 1, 9, 9, 9, 9, 9]);
        assert_eq!(begin, BeginRequestBody::new(Role::Filter, true));
        assert_eq!(begin.to_bytes(), [0, 3, 1, 0, 0, 0, 0, 0]);
        let unknown = UnknownTypeBody::from_bytes([42, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(unknown.to_bytes(), [42, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn version_other_than_one_is_refused() {
        let err = RecordHeader::parse([2, 1, 0, 1, 0, 8, 0, 0]).unwrap_err();
        assert_eq!(err.violation, Violation::UnsupportedVersion { version: 2 });
        assert_eq!(err.record_type, Some(RecordType::BeginRequest));
        assert_eq!(err.request_id, Some(RequestId::new(1)));
    }

    #[test]
    fn every_type_byte_roundtrips() {
        for byte in 0..=u8::MAX {
            assert_eq!(RecordType::from_u8(byte).as_u8(), byte);
        }
        assert!(RecordType::GetValues.is_management());
        assert!(!RecordType::Params.is_management());
        assert!(matches!(RecordType::from_u8(12), RecordType::Other(12)));
    }

    #[test]
    fn fixed_bodies_must_be_eight_bytes() {
        let record = Record {
            header: RecordHeader::new(RecordType::EndRequest, RequestId::new(3), 7, 0),
            content: Bytes::from_static(&[0; 7]),
        };
        let err = record.end_request_body().unwrap_err();
        assert_eq!(
            err.violation,
            Violation::BadBodyLength {
                expected: 8,
                actual: 7
            }
        );
        assert_eq!(err.request_id, Some(RequestId::new(3)));
    }
}
