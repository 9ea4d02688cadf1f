//! Responses: the application side's writer and the gateway side's decoder.
//!
//! A uwsgi response has no uwsgi framing: it is a raw HTTP/1.x response (status line,
//! header fields, blank line, body), and the application closes the connection after it.

use bytes::{BufMut, Bytes, BytesMut};
use cgi_env::grammar::{invalid_field_value_byte, is_token};
use cgi_env::{Environ, ResponseHead, ResponseHeadParser, TransferCoding};
use http::StatusCode;

use crate::body::{Counted, Sent};
use crate::chunked::{Chunk, ChunkedDecoder};
use crate::error::{MisuseError, ProtocolError, Violation, escaped};
use crate::limits::Limits;
use crate::stream::{Fused, Step};

/// The status-line protocol for a request: its SERVER_PROTOCOL when that has the form
/// `HTTP/<digits>.<digits>`, otherwise `HTTP/1.0`, as uWSGI does when the var is missing.
///
/// ```
/// use cgi_env::Environ;
/// use uwsgi_codec::wire::response_protocol;
///
/// let env: Environ = [("SERVER_PROTOCOL", "HTTP/1.1")].into_iter().collect();
/// assert_eq!(response_protocol(&env), "HTTP/1.1");
/// assert_eq!(response_protocol(&Environ::new()), "HTTP/1.0");
/// ```
pub fn response_protocol(env: &Environ) -> &str {
    env.get_str("SERVER_PROTOCOL")
        .filter(|p| is_http_version(p.as_bytes()))
        .unwrap_or("HTTP/1.0")
}

fn is_http_version(protocol: &[u8]) -> bool {
    let Some(rest) = protocol.strip_prefix(b"HTTP/") else {
        return false;
    };
    let mut parts = rest.splitn(2, |&b| b == b'.');
    let all_digits = |part: &[u8]| !part.is_empty() && part.iter().all(u8::is_ascii_digit);
    matches!((parts.next(), parts.next()), (Some(major), Some(minor)) if all_digits(major) && all_digits(minor))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteState {
    Head,
    Body(Sent),
    Done,
}

/// The application side's response writer: a raw HTTP/1.x head, then the body.
///
/// The head is written into a buffer; body chunks are handed back unchanged so that the
/// caller can write head and body with one vectored write, without copying the body. When
/// the head declares a Content-Length, the writer holds the body to it. After
/// [`ResponseWriter::finish`] the caller closes the connection: that is how a uwsgi
/// response ends.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use cgi_env::Environ;
/// use http::StatusCode;
/// use uwsgi_codec::ResponseWriter;
///
/// let env: Environ = [("SERVER_PROTOCOL", "HTTP/1.1")].into_iter().collect();
/// let mut writer = ResponseWriter::new(&env);
/// let mut head = BytesMut::new();
/// writer
///     .write_head(StatusCode::OK, [("Content-Type", "text/plain"), ("Content-Length", "2")], &mut head)
///     .unwrap();
/// assert_eq!(&head[..], b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n");
/// let body = writer.body_chunk(Bytes::from_static(b"hi")).unwrap();
/// writer.finish().unwrap();
/// # assert_eq!(&body[..], b"hi");
/// ```
#[derive(Debug, Clone)]
pub struct ResponseWriter {
    protocol: String,
    state: WriteState,
}

impl ResponseWriter {
    /// A writer answering the request with this environ (its SERVER_PROTOCOL).
    pub fn new(env: &Environ) -> Self {
        ResponseWriter::with_protocol(response_protocol(env))
    }

    /// A writer using this status-line protocol if it has the form `HTTP/x.y`, `HTTP/1.0`
    /// otherwise.
    pub fn with_protocol(protocol: &str) -> Self {
        let protocol = if is_http_version(protocol.as_bytes()) {
            protocol
        } else {
            "HTTP/1.0"
        };
        ResponseWriter {
            protocol: protocol.to_owned(),
            state: WriteState::Head,
        }
    }

    /// The protocol of the status line.
    pub fn protocol(&self) -> &str {
        &self.protocol
    }

    /// Appends the status line and header fields, and the blank line, to `dst`. Names
    /// must be tokens and values free of control bytes (CR, LF, NUL, ...); the head is
    /// checked before anything is written.
    ///
    /// # Errors
    /// [`MisuseError::InvalidHeaderName`], [`MisuseError::InvalidHeaderValue`],
    /// [`MisuseError::InvalidContentLength`] for a Content-Length that is not a number
    /// (or several that disagree), [`MisuseError::HeadAlreadyWritten`].
    pub fn write_head<I, N, V>(
        &mut self,
        status: StatusCode,
        headers: I,
        dst: &mut BytesMut,
    ) -> Result<(), MisuseError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        if self.state != WriteState::Head {
            return Err(MisuseError::HeadAlreadyWritten);
        }
        // Written straight into `dst`, and cut back off if a header turns out invalid, so
        // that nothing is written on error and the head is not copied twice.
        let start = dst.len();
        dst.put_slice(self.protocol.as_bytes());
        dst.put_u8(b' ');
        dst.put_slice(status.as_str().as_bytes());
        dst.put_u8(b' ');
        dst.put_slice(status.canonical_reason().unwrap_or("").as_bytes());
        dst.put_slice(b"\r\n");
        let mut declared = None;
        for (name, value) in headers {
            let (name, value) = (name.as_ref(), value.as_ref());
            let checked = if !is_token(name) {
                Err(MisuseError::InvalidHeaderName {
                    name: escaped(name),
                })
            } else if invalid_field_value_byte(value).is_some() {
                Err(MisuseError::InvalidHeaderValue {
                    name: escaped(name),
                })
            } else if name.eq_ignore_ascii_case(b"content-length") {
                parse_header_length(value, declared)
                    .map(|len| declared = Some(len))
                    .ok_or_else(|| MisuseError::InvalidContentLength {
                        value: escaped(value),
                    })
            } else {
                Ok(())
            };
            if let Err(error) = checked {
                dst.truncate(start);
                return Err(error);
            }
            dst.put_slice(name);
            dst.put_slice(b": ");
            dst.put_slice(value);
            dst.put_slice(b"\r\n");
        }
        dst.put_slice(b"\r\n");
        self.state = WriteState::Body(Sent::new(declared));
        Ok(())
    }

    /// Accounts for a body chunk and hands it back unchanged for the caller to write.
    ///
    /// # Errors
    /// [`MisuseError::BodyTooLong`] past a declared Content-Length,
    /// [`MisuseError::HeadNotWritten`] before the head, [`MisuseError::AfterFinish`] after
    /// [`ResponseWriter::finish`].
    pub fn body_chunk(&mut self, chunk: Bytes) -> Result<Bytes, MisuseError> {
        self.count(chunk.len())?;
        Ok(chunk)
    }

    /// Appends a body chunk to `dst` (the copying path).
    ///
    /// # Errors
    /// As [`ResponseWriter::body_chunk`].
    pub fn write_body(&mut self, chunk: &[u8], dst: &mut BytesMut) -> Result<(), MisuseError> {
        self.count(chunk.len())?;
        dst.extend_from_slice(chunk);
        Ok(())
    }

    /// Ends the response; the caller then closes the connection.
    ///
    /// # Errors
    /// [`MisuseError::BodyTooShort`] short of a declared Content-Length,
    /// [`MisuseError::HeadNotWritten`] before the head.
    pub fn finish(&mut self) -> Result<(), MisuseError> {
        match self.state {
            WriteState::Head => Err(MisuseError::HeadNotWritten),
            WriteState::Body(body) => {
                body.finish()?;
                self.state = WriteState::Done;
                Ok(())
            }
            WriteState::Done => Ok(()),
        }
    }

    fn count(&mut self, len: usize) -> Result<(), MisuseError> {
        match &mut self.state {
            WriteState::Head => Err(MisuseError::HeadNotWritten),
            WriteState::Body(body) => body.count(len),
            WriteState::Done => Err(MisuseError::AfterFinish),
        }
    }
}

/// Parses one Content-Length value; several must agree. `None` when it is not a decimal
/// number or disagrees with an earlier one.
fn parse_header_length(value: &[u8], earlier: Option<u64>) -> Option<u64> {
    let length = cgi_env::grammar::parse_decimal(value)?;
    match earlier {
        Some(earlier) if earlier != length => None,
        _ => Some(length),
    }
}

/// How the body of a decoded response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyFraming {
    /// No body (1xx, 204, 304, or a response to HEAD). Whatever the backend sends after
    /// the head is read and dropped until the connection closes: uWSGI sends the
    /// application's body even for HEAD, and nginx drops it the same way.
    None,
    /// Exactly this many bytes (Content-Length).
    Length(u64),
    /// Chunked transfer coding, decoded by the response decoder.
    Chunked,
    /// Until the connection closes (the usual uwsgi case).
    UntilClose,
}

impl BodyFraming {
    /// How the body after `head` is delimited, for a request that was HEAD or not
    /// (RFC 9112 §6.3): none for HEAD, 1xx, 204 and 304; then the final transfer coding
    /// (chunked, or until the close for any other); then Content-Length; else until the
    /// close.
    pub fn of(head: &ResponseHead, head_request: bool) -> BodyFraming {
        let status = head.status.as_u16();
        if head_request || head.status.is_informational() || status == 204 || status == 304 {
            BodyFraming::None
        } else if let Some(coding) = head.transfer_coding {
            match coding {
                TransferCoding::Chunked => BodyFraming::Chunked,
                _ => BodyFraming::UntilClose,
            }
        } else if let Some(length) = head.content_length {
            BodyFraming::Length(length)
        } else {
            BodyFraming::UntilClose
        }
    }
}

/// What the gateway side reads off a connection to a uwsgi application.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseEvent {
    /// The response head, parsed by [`cgi_env::ResponseHeadParser`] under its
    /// [rules](cgi_env::ResponseHeadParser#rules). A 1xx head is followed by another head.
    Head(ResponseHead),
    /// A piece of the body (chunked coding removed), split off the receive buffer without
    /// copying.
    Body(Bytes),
    /// The response is complete.
    End,
}

#[derive(Debug, Clone)]
enum DecodeState {
    Head(ResponseHeadParser),
    Length(Counted),
    Chunked(ChunkedDecoder),
    UntilClose,
    Discard,
    End,
    Done,
}

/// The protocol logic of [`ResponseDecoder`].
#[derive(Debug, Clone)]
struct ResponseStep {
    limits: Limits,
    state: DecodeState,
    framing: Option<BodyFraming>,
    head_request: bool,
}

/// The gateway side's sans-IO response decoder.
///
/// Reads the head with the family's one response-head parser,
/// [`cgi_env::ResponseHeadParser`] (a status-line head as uWSGI writes it, or a CGI head;
/// bounded by [`Limits::response_head`]), then the body as chunks until Content-Length,
/// the last chunk of a chunked body, or the connection's end ([`BodyFraming`]). The
/// connection's end must be reported by calling [`ResponseDecoder::decode_eof`]: it ends a
/// close-delimited body and turns a head or body cut short into an error.
///
/// ```
/// use bytes::BytesMut;
/// use http::StatusCode;
/// use uwsgi_codec::{Limits, ResponseDecoder, ResponseEvent};
///
/// let mut wire = BytesMut::from(&b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello"[..]);
/// let mut decoder = ResponseDecoder::new(Limits::default());
/// let Some(ResponseEvent::Head(head)) = decoder.decode(&mut wire).unwrap() else { panic!() };
/// assert_eq!(head.status, StatusCode::OK);
/// assert_eq!(decoder.decode(&mut wire).unwrap(), Some(ResponseEvent::Body("hello".into())));
/// assert_eq!(decoder.decode(&mut wire).unwrap(), None); // more may come until the close
/// assert_eq!(decoder.decode_eof(&mut wire).unwrap(), Some(ResponseEvent::End));
/// ```
#[derive(Debug, Clone)]
pub struct ResponseDecoder {
    inner: Fused<ResponseStep>,
}

impl Default for ResponseDecoder {
    fn default() -> Self {
        ResponseDecoder::new(Limits::default())
    }
}

impl ResponseDecoder {
    /// A decoder for one response under these limits.
    pub fn new(limits: Limits) -> Self {
        ResponseDecoder {
            inner: Fused::new(ResponseStep {
                limits,
                state: DecodeState::Head(ResponseHeadParser::new(limits.response_head())),
                framing: None,
                head_request: false,
            }),
        }
    }

    /// Marks the response as the answer to a HEAD request: it has no body, whatever its
    /// Content-Length says; bytes after the head are dropped until the connection closes.
    #[must_use]
    pub fn for_head_request(mut self) -> Self {
        self.inner.inner_mut().head_request = true;
        self
    }

    /// Whether the response has been read to its end.
    pub fn is_done(&self) -> bool {
        matches!(self.inner.inner().state, DecodeState::Done)
    }

    /// How the body after the last head decoded is delimited; `None` before a head.
    pub fn body_framing(&self) -> Option<BodyFraming> {
        self.inner.inner().framing
    }

    /// The next event from the front of `src`; `Ok(None)` when more input is needed.
    ///
    /// # Errors
    /// A [`ProtocolError`] for a malformed response ([`Violation::Head`] at the head's
    /// first byte, [`Violation::Chunked`], [`Violation::TrailingBytes`]); after an error
    /// the decoder answers every call with the same error.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<ResponseEvent>, ProtocolError> {
        self.inner.decode(src)
    }

    /// As [`ResponseDecoder::decode`], for when the backend has closed the connection:
    /// returns what is still buffered, then [`ResponseEvent::End`] for a close-delimited
    /// body, then `Ok(None)`.
    ///
    /// # Errors
    /// [`Violation::TruncatedHead`], [`Violation::TruncatedBody`],
    /// [`Violation::TruncatedChunked`] for a response cut short, and everything
    /// [`ResponseDecoder::decode`] reports.
    pub fn decode_eof(
        &mut self,
        src: &mut BytesMut,
    ) -> Result<Option<ResponseEvent>, ProtocolError> {
        self.inner.decode_eof(src)
    }
}

impl Step for ResponseStep {
    type Event = ResponseEvent;

    fn step(
        &mut self,
        src: &mut BytesMut,
        at: u64,
    ) -> Result<Option<ResponseEvent>, ProtocolError> {
        match &mut self.state {
            DecodeState::Head(parser) => match parser.decode(src) {
                Ok(Some(head)) => Ok(Some(self.head(head))),
                Ok(None) => Ok(None),
                Err(error) => Err(ProtocolError::new(at, Violation::Head(error))),
            },
            DecodeState::Length(body) => {
                let Some(chunk) = body.split(src) else {
                    return Ok(None);
                };
                if body.is_complete() {
                    self.state = DecodeState::End;
                }
                Ok(Some(ResponseEvent::Body(chunk)))
            }
            DecodeState::Chunked(chunked) => {
                let before = src.len();
                match chunked.decode(src) {
                    Ok(Some(Chunk::Data(data))) => Ok(Some(ResponseEvent::Body(data))),
                    Ok(Some(Chunk::End)) => {
                        self.state = DecodeState::Done;
                        Ok(Some(ResponseEvent::End))
                    }
                    Ok(None) => Ok(None),
                    // The offending byte is the first one left in `src`.
                    Err(error) => Err(ProtocolError::new(
                        at + (before - src.len()) as u64,
                        Violation::Chunked(error),
                    )),
                }
            }
            DecodeState::UntilClose => {
                if src.is_empty() {
                    return Ok(None);
                }
                Ok(Some(ResponseEvent::Body(src.split().freeze())))
            }
            DecodeState::Discard => {
                src.clear();
                Ok(None)
            }
            DecodeState::End => {
                self.state = DecodeState::Done;
                Ok(Some(ResponseEvent::End))
            }
            DecodeState::Done if src.is_empty() => Ok(None),
            DecodeState::Done => Err(ProtocolError::new(
                at,
                Violation::TrailingBytes { count: src.len() },
            )),
        }
    }

    fn end(&mut self, src: &BytesMut, at: u64) -> Result<Option<ResponseEvent>, ProtocolError> {
        let violation = match &self.state {
            DecodeState::Head { .. } => Violation::TruncatedHead {
                received: src.len(),
            },
            DecodeState::Length(body) => body.truncated(),
            DecodeState::Chunked(_) => Violation::TruncatedChunked,
            DecodeState::UntilClose | DecodeState::Discard | DecodeState::End => {
                self.state = DecodeState::Done;
                return Ok(Some(ResponseEvent::End));
            }
            DecodeState::Done => return Ok(None),
        };
        Err(ProtocolError::new(at, violation))
    }
}

impl ResponseStep {
    /// Reads the body framing off a complete head.
    fn head(&mut self, head: ResponseHead) -> ResponseEvent {
        let framing = BodyFraming::of(&head, self.head_request);
        self.framing = Some(framing);
        self.state = match framing {
            _ if head.status.is_informational() => {
                DecodeState::Head(ResponseHeadParser::new(self.limits.response_head()))
            }
            BodyFraming::None => DecodeState::Discard,
            BodyFraming::Length(0) => DecodeState::End,
            BodyFraming::Length(length) => DecodeState::Length(Counted::new(length)),
            BodyFraming::Chunked => {
                DecodeState::Chunked(ChunkedDecoder::new(self.limits.max_chunk_line()))
            }
            BodyFraming::UntilClose => DecodeState::UntilClose,
        };
        ResponseEvent::Head(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cgi_env::{ResponseHeadError, ResponseHeadLimits};
    use http::Version;

    fn decode_all(
        input: &[u8],
        decoder: &mut ResponseDecoder,
    ) -> Result<Vec<ResponseEvent>, ProtocolError> {
        let mut src = BytesMut::from(input);
        let mut events = Vec::new();
        while let Some(event) = decoder.decode_eof(&mut src)? {
            events.push(event);
        }
        Ok(events)
    }

    /// The violation of an error, checked to be at `offset`.
    fn at<T: std::fmt::Debug>(result: Result<T, ProtocolError>, offset: u64) -> Violation {
        match result {
            Err(error) if error.offset == offset => error.violation,
            other => panic!("expected an error at offset {offset}, got {other:?}"),
        }
    }

    fn body_of(events: &[ResponseEvent]) -> Vec<u8> {
        events
            .iter()
            .filter_map(|e| match e {
                ResponseEvent::Body(b) => Some(&b[..]),
                _ => None,
            })
            .flatten()
            .copied()
            .collect()
    }

    #[test]
    fn protocol_from_server_protocol() {
        let env: Environ = [("SERVER_PROTOCOL", "HTTP/2.0")].into_iter().collect();
        assert_eq!(ResponseWriter::new(&env).protocol(), "HTTP/2.0");
        let env: Environ = [("SERVER_PROTOCOL", "HTTP/1.1\r\nX: y")]
            .into_iter()
            .collect();
        assert_eq!(ResponseWriter::new(&env).protocol(), "HTTP/1.0");
        assert_eq!(
            ResponseWriter::with_protocol("HTTP/1").protocol(),
            "HTTP/1.0"
        );
        assert_eq!(ResponseWriter::new(&Environ::new()).protocol(), "HTTP/1.0");
    }

    #[test]
    fn writer_refuses_bad_fields_before_writing() {
        let mut dst = BytesMut::new();
        let mut writer = ResponseWriter::with_protocol("HTTP/1.1");
        assert!(matches!(
            writer.write_head(StatusCode::OK, [("Bad Name", "x")], &mut dst),
            Err(MisuseError::InvalidHeaderName { .. })
        ));
        assert!(matches!(
            writer.write_head(StatusCode::OK, [("X", "a\r\nSet-Cookie: y")], &mut dst),
            Err(MisuseError::InvalidHeaderValue { .. })
        ));
        assert!(matches!(
            writer.write_head(StatusCode::OK, [("X", "a\0")], &mut dst),
            Err(MisuseError::InvalidHeaderValue { .. })
        ));
        assert!(matches!(
            writer.write_head(StatusCode::OK, [("Content-Length", "-3")], &mut dst),
            Err(MisuseError::InvalidContentLength { .. })
        ));
        assert!(dst.is_empty());
        writer
            .write_head(StatusCode::NOT_FOUND, [("X", "a\tb")], &mut dst)
            .unwrap();
        assert_eq!(&dst[..], b"HTTP/1.1 404 Not Found\r\nX: a\tb\r\n\r\n");
    }

    #[test]
    fn writer_holds_body_to_content_length() {
        let mut writer = ResponseWriter::with_protocol("HTTP/1.1");
        let mut dst = BytesMut::new();
        assert_eq!(
            writer.body_chunk(Bytes::new()),
            Err(MisuseError::HeadNotWritten)
        );
        writer
            .write_head(StatusCode::OK, [("Content-Length", "3")], &mut dst)
            .unwrap();
        writer.write_body(b"ab", &mut dst).unwrap();
        assert_eq!(
            writer.clone().finish(),
            Err(MisuseError::BodyTooShort {
                expected: 3,
                sent: 2,
            })
        );
        assert_eq!(
            writer.body_chunk(Bytes::from_static(b"cd")),
            Err(MisuseError::BodyTooLong {
                expected: 3,
                got: 4
            })
        );
        writer.body_chunk(Bytes::from_static(b"c")).unwrap();
        writer.finish().unwrap();
        assert_eq!(
            writer.body_chunk(Bytes::new()),
            Err(MisuseError::AfterFinish)
        );
    }

    #[test]
    fn until_close_body() {
        let events = decode_all(
            b"HTTP/1.1 200 OK\r\nX: 1\r\n\r\nabc",
            &mut ResponseDecoder::default(),
        )
        .unwrap();
        let ResponseEvent::Head(head) = &events[0] else {
            panic!()
        };
        assert_eq!(head.version, Some(Version::HTTP_11));
        assert_eq!(head.reason.as_deref(), Some(&b"OK"[..]));
        assert_eq!(
            head.headers.get("x").map(http::HeaderValue::as_bytes),
            Some(&b"1"[..])
        );
        assert_eq!(body_of(&events), b"abc");
        assert_eq!(events.last(), Some(&ResponseEvent::End));
        let mut decoder = ResponseDecoder::default();
        assert_eq!(decoder.body_framing(), None);
        decode_all(b"HTTP/1.1 200 OK\r\nX: 1\r\n\r\nabc", &mut decoder).unwrap();
        assert_eq!(decoder.body_framing(), Some(BodyFraming::UntilClose));
    }

    #[test]
    fn content_length_body_and_trailing_bytes() {
        let events = decode_all(
            b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc",
            &mut ResponseDecoder::default(),
        )
        .unwrap();
        assert_eq!(body_of(&events), b"abc");
        assert_eq!(events.len(), 3);
        assert_eq!(
            at(
                decode_all(
                    b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabcd",
                    &mut ResponseDecoder::default()
                ),
                41
            ),
            Violation::TrailingBytes { count: 1 }
        );
    }

    #[test]
    fn cut_short_is_an_error() {
        assert_eq!(
            at(
                decode_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc",
                    &mut ResponseDecoder::default()
                ),
                41
            ),
            Violation::TruncatedBody {
                expected: 5,
                received: 3,
            }
        );
        assert_eq!(
            at(
                decode_all(
                    b"HTTP/1.1 200 OK\r\nX: y\r\n",
                    &mut ResponseDecoder::default()
                ),
                0
            ),
            Violation::TruncatedHead { received: 23 }
        );
        assert_eq!(
            at(decode_all(b"", &mut ResponseDecoder::default()), 0),
            Violation::TruncatedHead { received: 0 }
        );
        assert_eq!(
            at(
                decode_all(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab",
                    &mut ResponseDecoder::default()
                ),
                52
            ),
            Violation::TruncatedChunked
        );
    }

    #[test]
    fn chunked_body_is_decoded() {
        let events = decode_all(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 99\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            &mut ResponseDecoder::default(),
        )
        .unwrap();
        assert_eq!(body_of(&events), b"abcde");
        assert_eq!(events.last(), Some(&ResponseEvent::End));
    }

    #[test]
    fn no_body_statuses_and_head() {
        for input in [
            &b"HTTP/1.1 204 No Content\r\n\r\n"[..],
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
        ] {
            let events = decode_all(input, &mut ResponseDecoder::default()).unwrap();
            assert_eq!(events.len(), 2);
        }
        // uWSGI sends the body even for HEAD; it is dropped.
        let mut decoder = ResponseDecoder::default().for_head_request();
        let events = decode_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
            &mut decoder,
        )
        .unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1], ResponseEvent::End);
    }

    #[test]
    fn interim_head_then_final() {
        let events = decode_all(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
            &mut ResponseDecoder::default(),
        )
        .unwrap();
        assert_eq!(events.len(), 4);
        assert!(matches!(&events[1], ResponseEvent::Head(h) if h.status == StatusCode::OK));
    }

    #[test]
    fn cgi_style_heads() {
        let events = decode_all(
            b"Status: 404 Nope\r\nContent-Type: text/plain\r\n\r\nx",
            &mut ResponseDecoder::default(),
        )
        .unwrap();
        let ResponseEvent::Head(head) = &events[0] else {
            panic!()
        };
        assert_eq!(
            (head.status, head.reason.as_deref(), head.version),
            (StatusCode::NOT_FOUND, Some(&b"Nope"[..]), None)
        );
        let events = decode_all(b"Location: /x\r\n\r\n", &mut ResponseDecoder::default()).unwrap();
        assert!(matches!(&events[0], ResponseEvent::Head(h) if h.status == StatusCode::FOUND));
        let events = decode_all(
            b"Content-Type: text/plain\n\n",
            &mut ResponseDecoder::default(),
        )
        .unwrap();
        assert!(matches!(&events[0], ResponseEvent::Head(h) if h.status == StatusCode::OK));
        assert!(matches!(
            at(
                decode_all(b"Status: abc\r\n\r\n", &mut ResponseDecoder::default()),
                0
            ),
            Violation::Head(ResponseHeadError::InvalidStatus { .. })
        ));
    }

    #[test]
    fn malformed_heads() {
        for input in [
            &b"HTTP/1.1 2000 OK\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n",
        ] {
            assert!(
                matches!(
                    at(decode_all(input, &mut ResponseDecoder::default()), 0),
                    Violation::Head(
                        ResponseHeadError::InvalidStatus { .. }
                            | ResponseHeadError::InvalidName { .. }
                            | ResponseHeadError::ObsFold { .. }
                            | ResponseHeadError::InvalidValue { byte: 0, .. }
                    )
                ),
                "{input:?}"
            );
        }
        assert!(matches!(
            at(
                decode_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                    &mut ResponseDecoder::default()
                ),
                0
            ),
            Violation::Head(ResponseHeadError::InvalidContentLength { .. })
        ));
        assert!(matches!(
            at(
                decode_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                    &mut ResponseDecoder::default()
                ),
                0
            ),
            Violation::Head(ResponseHeadError::InvalidContentLength { .. })
        ));
    }

    #[test]
    fn oversized_heads() {
        let head_limits = ResponseHeadLimits::default()
            .with_max_bytes(32)
            .with_max_headers(2);
        let limits = Limits::default().with_response_head(head_limits);
        let mut decoder = ResponseDecoder::new(limits);
        let mut src = BytesMut::from(&b"HTTP/1.1 200 OK\r\nX-Long: aaaaaaaaaaaaaaaaaaaa"[..]);
        assert_eq!(
            at(decoder.decode(&mut src), 0),
            Violation::Head(ResponseHeadError::TooLarge { limit: 32 })
        );
        assert_eq!(
            at(
                decode_all(
                    b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
                    &mut ResponseDecoder::new(
                        limits.with_response_head(head_limits.with_max_bytes(100))
                    )
                ),
                0
            ),
            Violation::Head(ResponseHeadError::TooManyHeaders { limit: 2 })
        );
        assert!(
            decode_all(
                b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n",
                &mut ResponseDecoder::new(limits)
            )
            .is_ok()
        );
    }

    #[test]
    fn head_and_body_point_into_the_buffer() {
        let mut src = BytesMut::from(&b"HTTP/1.1 200 OK\r\nX: 1\r\n\r\nabc"[..]);
        let base = src.as_ptr() as usize;
        let mut decoder = ResponseDecoder::default();
        let Some(ResponseEvent::Head(head)) = decoder.decode(&mut src).unwrap() else {
            panic!()
        };
        let value = head.headers.get("x").unwrap();
        assert_eq!(value.as_bytes().as_ptr() as usize, base + 20);
        let Some(ResponseEvent::Body(body)) = decoder.decode(&mut src).unwrap() else {
            panic!()
        };
        assert_eq!(body.as_ptr() as usize, base + 25);
    }
}
