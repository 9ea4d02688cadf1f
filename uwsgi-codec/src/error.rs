//! Errors: what the peer sent wrong ([`ProtocolError`]: which rule, at which byte of the
//! stream) and what a local call asked for that an encoder or writer cannot do
//! ([`MisuseError`]).
//!
//! A plain uwsgi connection carries one request, so every [`ProtocolError`] ends the
//! connection: there is no request scope to keep going in.

use crate::packet::Modifier1;

/// Malformed or unexpected input from the peer: the rule that was broken and where.
///
/// ```
/// use bytes::BytesMut;
/// use uwsgi_codec::{RequestDecoder, Violation};
///
/// let mut wire = BytesMut::from(&[0u8, 0xff, 0xff, 0][..]); // a 65535-byte vars block
/// let error = RequestDecoder::default().decode(&mut wire).unwrap_err();
/// assert_eq!(error.offset, 0);
/// assert!(matches!(error.violation, Violation::DatasizeTooLarge { datasize: 65535, .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset} of the stream: {violation}")]
pub struct ProtocolError {
    /// Where the offending input starts, counted in bytes from the start of what the
    /// decoder read (for a decoder made per connection: the connection's stream).
    pub offset: u64,
    /// The rule that was broken.
    pub violation: Violation,
}

impl ProtocolError {
    /// An error at `offset` of the stream.
    pub const fn new(offset: u64, violation: Violation) -> Self {
        ProtocolError { offset, violation }
    }
}

/// The rule a peer broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
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
    /// A request modifier with an empty vars block: there is no request in it.
    #[error("empty vars block on request modifier1 {modifier1}")]
    EmptyVarsBlock {
        /// modifier1 of the packet.
        modifier1: Modifier1,
    },
    /// A malformed vars block.
    #[error(transparent)]
    Vars(#[from] VarsError),
    /// A packet whose body does not match its typed meaning (e.g. a signal with a payload).
    #[error(transparent)]
    UnexpectedPacket(#[from] UnexpectedPacket),
    /// CONTENT_LENGTH that is not a plain decimal number (digits only, no sign) that fits
    /// in a u64.
    #[error("invalid CONTENT_LENGTH {value:?}")]
    InvalidContentLength {
        /// The offending value, escaped and cut to 64 bytes.
        value: String,
    },
    /// A request body longer than the configured maximum.
    #[error("body of {content_length} bytes exceeds the limit of {limit}")]
    BodyTooLarge {
        /// The announced length.
        content_length: u64,
        /// The configured maximum.
        limit: u64,
    },
    /// Bytes after the end of the request or response (past CONTENT_LENGTH, past the end of
    /// a ping, past Content-Length or the last chunk).
    #[error("{count} byte(s) after the end of the message")]
    TrailingBytes {
        /// How many bytes were seen in the buffer past the end.
        count: usize,
    },
    /// The connection closed before the body was complete.
    #[error("body cut short: {received} of {expected} bytes")]
    TruncatedBody {
        /// The announced length.
        expected: u64,
        /// Bytes received.
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
    /// A response head that [`cgi_env::ResponseHeadParser`] refuses (over its limits, or
    /// breaking one of its [rules](cgi_env::ResponseHeadParser#rules)). The
    /// [`ProtocolError`]'s offset is the head's first byte; the offsets inside count from
    /// there.
    #[error("response head: {0}")]
    Head(#[from] cgi_env::ResponseHeadError),
    /// A malformed chunked body.
    #[error("malformed chunked body: {0}")]
    Chunked(ChunkedError),
}

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

/// A malformed vars block.
///
/// Offsets count from the first byte of the vars block (the byte after the 4-byte header);
/// the [`ProtocolError`] around it says where the block is in the stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
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
    /// The environ refused the block as a segment (only for blocks of 4 GiB or more, which
    /// a 16-bit datasize cannot announce).
    #[error("the environ refused the vars block: {0}")]
    Environ(#[from] cgi_env::EnvironError),
}

impl VarsError {
    /// Where the error is, from the first byte of the vars block.
    pub const fn offset(&self) -> usize {
        match self {
            VarsError::EmptyKey { offset }
            | VarsError::PastEnd { offset, .. }
            | VarsError::MissingValueLength { offset }
            | VarsError::TrailingBytes { offset, .. }
            | VarsError::TooManyVars { offset, .. } => *offset,
            VarsError::Environ(_) => 0,
        }
    }
}

/// A packet that is not the typed packet it was read as (e.g. a pong read as a ping, a
/// signal with a payload).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("packet with modifier1 {modifier1} modifier2 {modifier2} is not {expected}")]
pub struct UnexpectedPacket {
    /// modifier1 of the packet.
    pub modifier1: Modifier1,
    /// modifier2 of the packet.
    pub modifier2: u8,
    /// What was expected.
    pub expected: &'static str,
}

/// The rule of the chunked transfer coding (RFC 9112 §7.1) a body broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkedError {
    /// A chunk-size line that does not start with a hex digit.
    #[error("missing chunk size")]
    MissingSize,
    /// A byte that is neither a hex digit, an extension start nor CR in a chunk size.
    #[error("invalid byte in chunk size")]
    InvalidSizeByte,
    /// A chunk size that does not fit in a u64.
    #[error("chunk size overflows")]
    SizeOverflow,
    /// LF or NUL inside a chunk extension.
    #[error("invalid byte in chunk extension")]
    InvalidExtensionByte,
    /// A chunk-size line longer than the limit.
    #[error("chunk size line too long")]
    SizeLineTooLong,
    /// A CR after the chunk size not followed by LF.
    #[error("expected LF after chunk size")]
    ExpectedLfAfterSize,
    /// Chunk data not followed by CRLF.
    #[error("expected CRLF after chunk data")]
    ExpectedCrlfAfterData,
    /// LF or NUL inside a trailer field.
    #[error("invalid byte in trailer field")]
    InvalidTrailerByte,
    /// A trailer section longer than the limit.
    #[error("trailer section too long")]
    TrailerTooLong,
    /// A CR after a trailer field not followed by LF.
    #[error("expected LF after trailer field")]
    ExpectedLfAfterTrailer,
    /// The final CR not followed by LF.
    #[error("expected LF after the last chunk")]
    ExpectedLfAfterLastChunk,
}

/// A local call that an encoder or writer cannot carry out: out of order, or with data
/// that cannot go on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MisuseError {
    /// The head (request packet or response status line and fields) was already written.
    #[error("the head was already written")]
    HeadAlreadyWritten,
    /// A body chunk, or the end, before the head.
    #[error("the head has not been written yet")]
    HeadNotWritten,
    /// A body chunk after the end of the response.
    #[error("the response was already finished")]
    AfterFinish,
    /// More body bytes than the announced length.
    #[error("body exceeds its announced length of {expected} bytes (got {got})")]
    BodyTooLong {
        /// The announced length.
        expected: u64,
        /// Bytes offered so far, including the offending chunk.
        got: u64,
    },
    /// Finished before the announced length was sent.
    #[error("body ends after {sent} of its announced {expected} bytes")]
    BodyTooShort {
        /// The announced length.
        expected: u64,
        /// Bytes sent.
        sent: u64,
    },
    /// A payload longer than 65535 bytes given to a packet encoder.
    #[error("packet payload of {len} bytes exceeds 65535")]
    PayloadTooLarge {
        /// The payload length.
        len: usize,
    },
    /// An environ whose vars block would be larger than the 16-bit datasize can say.
    #[error("vars block of {len} bytes exceeds 65535")]
    VarsBlockTooLarge {
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
    EmptyKey {
        /// Position of the var in the environ.
        index: usize,
    },
    /// A CONTENT_LENGTH (request) or Content-Length (response) that is not a decimal
    /// number, or several Content-Length fields that disagree.
    #[error("invalid content length {value:?}")]
    InvalidContentLength {
        /// The offending value, escaped and cut to 64 bytes.
        value: String,
    },
    /// A response header name that is not an RFC 9110 token.
    #[error("invalid response header name {name:?}")]
    InvalidHeaderName {
        /// The offending name, escaped.
        name: String,
    },
    /// A response header value holding CR, LF, NUL or another control byte.
    #[error("invalid value for response header {name:?}")]
    InvalidHeaderValue {
        /// The header's name, escaped.
        name: String,
    },
}

/// An escaped, length-capped rendering of wire bytes for error messages.
pub(crate) fn escaped(bytes: &[u8]) -> String {
    let cut = bytes.get(..64).unwrap_or(bytes);
    cut.escape_ascii().to_string()
}
