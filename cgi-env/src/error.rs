//! Errors of the environ itself.

use thiserror::Error;

/// A variable could not be recorded in an [`Environ`](crate::Environ).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EnvironError {
    /// A range given to `push_segment_var` is reversed or runs past its segment.
    #[error("variable range {start}..{end} lies outside its segment of {segment_len} bytes")]
    RangeOutOfBounds {
        /// Start of the offending range.
        start: usize,
        /// End of the offending range.
        end: usize,
        /// Length of the segment.
        segment_len: usize,
    },
    /// The segment id does not belong to this environ.
    #[error("segment id does not belong to this environ")]
    UnknownSegment,
    /// A segment of 4 GiB or more, or more segments than an environ indexes.
    #[error("environ storage limit reached (a segment of 4 GiB or more, or too many segments)")]
    TooLarge,
}

/// The gateway side refused to build an environ for a request.
///
/// Each variant is a request the gateway must answer with an error (usually 400), never
/// one it may forward with a silently altered environ.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The request target has no absolute path (`*`, or an authority-form target).
    #[error("request path {path:?} does not start with '/'")]
    PathNotAbsolute {
        /// The path as the request gave it.
        path: String,
    },
    /// A `%` in the path is not followed by two hexadecimal digits.
    #[error("bad percent-encoding at byte {offset} of the request path")]
    BadPercentEncoding {
        /// Offset of the `%` in the raw path.
        offset: usize,
    },
    /// The path holds `%2F`, which would turn into a segment separator once decoded.
    #[error("encoded '/' (%2F) at byte {offset} of the request path")]
    EncodedSlash {
        /// Offset of the `%` in the raw path.
        offset: usize,
    },
    /// The decoded path holds NUL, CR or LF: the shape of CVE-2019-11043.
    #[error("decoded request path holds control byte {byte:#04x} at offset {offset}")]
    ControlByteInPath {
        /// The offending byte.
        byte: u8,
        /// Its offset in the decoded path.
        offset: usize,
    },
    /// A `..` segment climbs above the root of the path.
    #[error("request path climbs above the document root with '..'")]
    PathEscapesRoot,
    /// A mount-point mapping was given a path outside its mount.
    #[error("request path is not under the mount point {mount:?}")]
    OutsideMount {
        /// The mount point.
        mount: String,
    },
    /// A Content-Length header value is not a decimal number.
    #[error("Content-Length {value:?} is not a decimal number")]
    InvalidContentLength {
        /// The offending value, lossily decoded.
        value: String,
    },
    /// Several Content-Length values disagree.
    #[error("Content-Length values disagree: {first} and {other}")]
    ConflictingContentLength {
        /// The first value.
        first: u64,
        /// A later, different value.
        other: u64,
    },
    /// A header value holds CR, LF or NUL (only possible through unchecked `http` values).
    #[error("header {name} holds a CR, LF or NUL byte")]
    ControlByteInHeader {
        /// The header name.
        name: String,
    },
}

/// The application side could not turn an environ back into an HTTP request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RequestError {
    /// A variable the request needs is absent.
    #[error("required CGI variable {0} is missing")]
    Missing(&'static str),
    /// A variable is present but its value cannot be used.
    #[error("CGI variable {name} is malformed: {reason}")]
    Malformed {
        /// The variable's name.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An `HTTP_*` variable does not make a valid header name or value.
    #[error("variable {name} does not make a valid HTTP header")]
    InvalidHeader {
        /// The variable's name, lossily decoded.
        name: String,
    },
}

/// An environ does not hold what PEP 3333 requires of a WSGI environ.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WsgiError {
    /// A required key is absent.
    #[error("WSGI environ lacks {0}")]
    Missing(&'static str),
    /// A key that must not be empty is empty.
    #[error("WSGI environ has an empty {0}")]
    Empty(&'static str),
    /// A key's value breaks its PEP 3333 rule.
    #[error("WSGI environ key {name} is malformed: {reason}")]
    Malformed {
        /// The key.
        name: &'static str,
        /// The rule it breaks.
        reason: &'static str,
    },
}

/// A response head (the start of FastCGI STDOUT, of a CGI program's output, or of a
/// uwsgi response) is malformed or exceeds a limit. Offsets count from the start of the head.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ResponseHeadError {
    /// No blank line within the byte limit.
    #[error("response head exceeds {limit} bytes")]
    TooLarge {
        /// The byte limit.
        limit: usize,
    },
    /// More header lines than the limit allows.
    #[error("response head has more than {limit} header lines")]
    TooManyHeaders {
        /// The header-count limit.
        limit: usize,
    },
    /// A line starts with a space or tab (obs-fold), forbidden in CGI responses.
    #[error("folded header line at offset {offset}")]
    ObsFold {
        /// Offset of the line.
        offset: usize,
    },
    /// A line has no colon.
    #[error("header line without ':' at offset {offset}")]
    MissingColon {
        /// Offset of the line.
        offset: usize,
    },
    /// A header name is empty or holds a byte that is not a token character.
    #[error("invalid header name at offset {offset}")]
    InvalidName {
        /// Offset of the line.
        offset: usize,
    },
    /// A header value holds CR, NUL or another byte an HTTP header value cannot carry.
    #[error("invalid byte {byte:#04x} in a header value at offset {offset}")]
    InvalidValue {
        /// The offending byte.
        byte: u8,
        /// Offset of the byte.
        offset: usize,
    },
    /// Status, Content-Type or Location appears more than once.
    #[error("CGI field {field} appears more than once")]
    DuplicateField {
        /// The field name, as in RFC 3875.
        field: &'static str,
    },
    /// The status line or the Status field does not hold a status of three digits from
    /// 100 to 999 (optionally followed by a reason phrase), or the status line's version
    /// is not HTTP/1.0 or HTTP/1.1.
    #[error("invalid status at offset {offset}")]
    InvalidStatus {
        /// Offset of the line.
        offset: usize,
    },
    /// Content-Length values are not decimal numbers or disagree with each other.
    #[error("invalid or conflicting Content-Length at offset {offset} of the response head")]
    InvalidContentLength {
        /// Offset of the line.
        offset: usize,
    },
    /// The response ended before the head did.
    #[error("the response ended inside its head, after {received} bytes")]
    Incomplete {
        /// The bytes of head received.
        received: usize,
    },
    /// The backend's Content-Length disagrees with the body it sent.
    #[error("response Content-Length {declared} but the body has {actual} bytes")]
    ContentLengthMismatch {
        /// The length the head declared.
        declared: u64,
        /// The body's actual length.
        actual: u64,
    },
}
