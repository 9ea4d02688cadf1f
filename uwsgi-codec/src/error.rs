//! Typed errors: each names what was wrong and where.

use crate::packet::Modifier1;

/// Which half of a var an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarPart {
    /// The key (variable name).
    Key,
    /// The value.
    Value,
}

impl std::fmt::Display for VarPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VarPart::Key => "key",
            VarPart::Value => "value",
        })
    }
}

/// A malformed vars block or an environ that cannot be encoded as one.
///
/// Offsets count from the first byte of the vars block (the byte after the 4-byte header).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VarsError {
    /// A key of length 0; uWSGI drops such a request ("uwsgi key cannot be null").
    #[error("empty key at offset {offset} of the vars block")]
    EmptyKey {
        /// Offset of the key's length field.
        offset: usize,
    },
    /// A key or value length that runs past the end of the block.
    #[error(
        "{part} of {len} bytes at offset {offset} runs past the vars block ({remaining} bytes left)"
    )]
    PastEnd {
        /// Key or value.
        part: VarPart,
        /// Offset of the length field.
        offset: usize,
        /// The length read from the wire.
        len: u16,
        /// Bytes left in the block after the length field.
        remaining: usize,
    },
    /// A key that is not followed by the two bytes of its value length.
    #[error("key ending at offset {offset} has no value length")]
    MissingValueLength {
        /// Offset where the value length should start.
        offset: usize,
    },
    /// A single byte left over at the end of the block, too short for a key length.
    #[error("{count} trailing byte(s) at offset {offset} of the vars block")]
    TrailingBytes {
        /// Offset of the first trailing byte.
        offset: usize,
        /// How many bytes are left over.
        count: usize,
    },
    /// More vars than the configured limit.
    #[error("more than {limit} vars in the block (at offset {offset})")]
    TooManyVars {
        /// The configured maximum number of vars.
        limit: usize,
        /// Offset of the first var over the limit.
        offset: usize,
    },
    /// The encoded block would be larger than the 16-bit datasize can say.
    #[error("vars block of {len} bytes exceeds 65535")]
    BlockTooLarge {
        /// The exact encoded size.
        len: usize,
    },
    /// A key or value longer than its 16-bit length field can say.
    #[error("{part} of var #{index} is {len} bytes, over 65535")]
    VarTooLarge {
        /// Key or value.
        part: VarPart,
        /// Position of the var in the environ.
        index: usize,
        /// Its length.
        len: usize,
    },
    /// An empty key in an environ being encoded; uWSGI would drop the request.
    #[error("var #{index} has an empty key")]
    EncodeEmptyKey {
        /// Position of the var in the environ.
        index: usize,
    },
    /// The environ refused a segment or range (only for blocks of 4 GiB or more, which a
    /// 16-bit datasize cannot produce).
    #[error("environ refused the vars block: {0}")]
    Environ(#[from] cgi_env::EnvironError),
}

/// What went wrong while decoding or encoding uwsgi traffic.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A packet header announcing more payload than the receiver accepts. Refused from the
    /// header alone, before anything of the payload is buffered.
    #[error(
        "datasize {datasize} of packet with modifier1 {modifier1} exceeds the limit of {limit}"
    )]
    DatasizeTooLarge {
        /// modifier1 of the packet.
        modifier1: Modifier1,
        /// datasize from the header.
        datasize: u16,
        /// The configured maximum.
        limit: u16,
    },
    /// A payload longer than 65535 bytes given to a packet encoder.
    #[error("packet payload of {len} bytes exceeds 65535")]
    PayloadTooLarge {
        /// The payload length.
        len: usize,
    },
    /// A request modifier with an empty vars block: there is no request in it.
    #[error("empty vars block on request modifier1 {modifier1}")]
    EmptyVarsBlock {
        /// modifier1 of the packet.
        modifier1: Modifier1,
    },
    /// A malformed vars block, or an environ that does not fit in one.
    #[error(transparent)]
    Vars(#[from] VarsError),
    /// A packet whose body does not match its typed meaning (e.g. a ping with a payload).
    #[error("packet with modifier1 {modifier1} modifier2 {modifier2}: {reason}")]
    UnexpectedPacket {
        /// modifier1 of the packet.
        modifier1: Modifier1,
        /// modifier2 of the packet.
        modifier2: u8,
        /// What was expected.
        reason: &'static str,
    },
    /// CONTENT_LENGTH that is not a plain decimal number (digits only, no sign) that fits
    /// in a u64.
    #[error("invalid CONTENT_LENGTH {value:?}")]
    InvalidContentLength {
        /// The offending value, escaped and cut to 64 bytes.
        value: String,
    },
    /// A body longer than the configured maximum.
    #[error("body of {content_length} bytes exceeds the limit of {limit}")]
    BodyTooLarge {
        /// The announced length.
        content_length: u64,
        /// The configured maximum.
        limit: u64,
    },
    /// Bytes after the end of the request or response (past CONTENT_LENGTH, past the end of
    /// a ping, past Content-Length or the last chunk).
    #[error("{count} byte(s) after the end of the {what}")]
    TrailingBytes {
        /// "request" or "response".
        what: &'static str,
        /// How many bytes were seen in the buffer past the end.
        count: usize,
    },
    /// More body bytes offered to an encoder than the announced length.
    #[error("body exceeds its announced length of {expected} bytes (got {got})")]
    BodyTooLong {
        /// The announced length.
        expected: u64,
        /// Bytes offered so far, including the offending chunk.
        got: u64,
    },
    /// The stream ended (or the encoder was finished) before the body was complete.
    #[error("{what} body cut short: {received} of {expected} bytes")]
    TruncatedBody {
        /// "request" or "response".
        what: &'static str,
        /// The announced length.
        expected: u64,
        /// Bytes received or written.
        received: u64,
    },
    /// The connection closed inside a packet header or vars block.
    #[error("connection closed inside the request packet ({received} of {expected} bytes)")]
    TruncatedPacket {
        /// Bytes of header and vars received.
        received: usize,
        /// Bytes of header and vars the packet needs (4 while the header is incomplete).
        expected: usize,
    },
    /// The connection closed before the end of the response head.
    #[error("connection closed inside the response head after {received} bytes")]
    TruncatedHead {
        /// Bytes of the head received.
        received: usize,
    },
    /// The connection closed inside a chunked body.
    #[error("connection closed inside the chunked response body")]
    TruncatedChunked,
    /// A response head larger than the limit.
    #[error("response head exceeds {limit} bytes")]
    HeadTooLarge {
        /// The configured maximum.
        limit: usize,
    },
    /// A response head with more header fields than the limit.
    #[error("response head has more than {limit} header fields")]
    TooManyHeaders {
        /// The configured maximum.
        limit: usize,
    },
    /// A response head `httparse` refuses (bad status line, header name or value, obs-fold).
    #[error("malformed response head: {0}")]
    MalformedHead(httparse::Error),
    /// A `Status:` header (CGI style head) that is not a 3-digit code.
    #[error("invalid Status header {value:?}")]
    InvalidStatus {
        /// The offending value, escaped.
        value: String,
    },
    /// A Content-Length response header that is not a number, or several that disagree.
    #[error("invalid Content-Length {value:?}")]
    InvalidResponseContentLength {
        /// The offending value, escaped.
        value: String,
    },
    /// A malformed chunked body.
    #[error("malformed chunked body at offset {offset}: {reason}")]
    Chunked {
        /// Offset from the start of the body.
        offset: u64,
        /// What was wrong.
        reason: &'static str,
    },
    /// A response header name that is not an RFC 9110 token, given to the response writer.
    #[error("invalid response header name {name:?}")]
    InvalidHeaderName {
        /// The offending name, escaped.
        name: String,
    },
    /// A response header value holding CR, LF, NUL or another control byte, given to the
    /// response writer.
    #[error("invalid value for response header {name:?}")]
    InvalidHeaderValue {
        /// The header's name, escaped.
        name: String,
    },
    /// A response writer or request encoder used out of order.
    #[error("{0}")]
    Misuse(&'static str),
    /// An I/O error from the transport (only produced by the tokio adapters).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// An escaped, length-capped rendering of wire bytes for error messages.
pub(crate) fn escaped(bytes: &[u8]) -> String {
    let cut = bytes.get(..64).unwrap_or(bytes);
    cut.escape_ascii().to_string()
}
