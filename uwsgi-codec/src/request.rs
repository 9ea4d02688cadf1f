//! Requests: the application side's decoder and the gateway side's encoder.
//!
//! On the wire a request is one packet (header and vars block) followed by exactly
//! CONTENT_LENGTH bytes of body, unframed. Without CONTENT_LENGTH (or with an empty one, as
//! nginx sends for a GET) there is no body. The connection carries one request.

use bytes::{Bytes, BytesMut};
use cgi_env::Environ;

use crate::body::{Counted, Sent};
use crate::error::{MisuseError, ProtocolError, Violation, escaped};
use crate::limits::Limits;
use crate::packet::{Header, Modifier1, Packet, Ping, Signal, check_header, split_packet};
use crate::stream::{Fused, Step};
use crate::vars::{DecodedVars, decode_request_vars, encode_vars, write_request_packet};

/// The body length an environ announces: its CONTENT_LENGTH, 0 when absent or empty (as
/// nginx sends it for requests without a body). `None` when CONTENT_LENGTH is not a plain
/// decimal number (ASCII digits only, no sign, no spaces) that fits in a u64.
///
/// ```
/// use cgi_env::Environ;
/// use uwsgi_codec::wire::environ_content_length;
///
/// let length = |value: &str| {
///     environ_content_length(&[("CONTENT_LENGTH", value)].into_iter().collect())
/// };
/// assert_eq!(length("100000"), Some(100000));
/// assert_eq!(length(""), Some(0));
/// assert_eq!(environ_content_length(&Environ::new()), Some(0));
/// assert_eq!(length("-1"), None);
/// assert_eq!(length("12 "), None);
/// assert_eq!(length("99999999999999999999"), None);
/// ```
pub fn environ_content_length(env: &Environ) -> Option<u64> {
    match env.get("CONTENT_LENGTH") {
        None | Some([]) => Some(0),
        Some(value) => cgi_env::grammar::parse_decimal(value),
    }
}

/// The escaped CONTENT_LENGTH of an environ whose [`environ_content_length`] is `None`.
fn invalid_content_length(env: &Environ) -> String {
    escaped(env.get("CONTENT_LENGTH").unwrap_or_default())
}

/// A decoded request packet: its modifiers and vars, and the body length they announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// modifier1 of the request (0 for WSGI).
    pub modifier1: Modifier1,
    /// modifier2 of the request.
    pub modifier2: u8,
    /// The vars, pointing into the received buffer.
    pub environ: Environ,
    /// CONTENT_LENGTH, 0 when absent or empty.
    pub content_length: u64,
}

impl RequestHead {
    /// Reads a request packet: its payload is the vars block, decoded without copying.
    /// A packet that did not come off a stream has its errors at offset 0 (its header).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use cgi_env::Environ;
    /// use uwsgi_codec::{Modifier1, RequestHead};
    ///
    /// let env: Environ = [("CONTENT_LENGTH", "12")].into_iter().collect();
    /// let head = RequestHead { modifier1: Modifier1::RACK, modifier2: 0, environ: env, content_length: 12 };
    /// let packet = head.to_packet().unwrap();
    /// assert_eq!(packet.modifier1(), Modifier1::RACK);
    /// assert_eq!(RequestHead::from_packet(packet, 128).unwrap(), head);
    /// ```
    ///
    /// # Errors
    /// [`Violation::EmptyVarsBlock`], [`Violation::Vars`],
    /// [`Violation::InvalidContentLength`].
    pub fn from_packet(packet: Packet, max_vars: usize) -> Result<RequestHead, ProtocolError> {
        RequestHead::from_packet_at(packet, max_vars, 0)
    }

    /// As [`RequestHead::from_packet`], for a packet at stream offset `at`.
    fn from_packet_at(
        packet: Packet,
        max_vars: usize,
        at: u64,
    ) -> Result<RequestHead, ProtocolError> {
        let modifier1 = packet.modifier1();
        let modifier2 = packet.modifier2();
        if packet.payload().is_empty() {
            return Err(ProtocolError::new(
                at,
                Violation::EmptyVarsBlock { modifier1 },
            ));
        }
        let DecodedVars {
            environ,
            content_length,
        } = decode_request_vars(packet.into_payload(), max_vars).map_err(|error| {
            let offset = at + (Header::LEN + error.offset()) as u64;
            ProtocolError::new(offset, Violation::Vars(error))
        })?;
        let Some(content_length) = content_length else {
            let value = invalid_content_length(&environ);
            return Err(ProtocolError::new(
                at,
                Violation::InvalidContentLength { value },
            ));
        };
        Ok(RequestHead {
            modifier1,
            modifier2,
            environ,
            content_length,
        })
    }

    /// The request packet for these modifiers and vars (the vars are copied into the
    /// payload; `content_length` is not consulted, CONTENT_LENGTH in the environ is what
    /// goes on the wire).
    ///
    /// # Errors
    /// [`MisuseError::VarsBlockTooLarge`], [`MisuseError::VarTooLarge`],
    /// [`MisuseError::EmptyKey`] when the environ does not fit in a vars block.
    pub fn to_packet(&self) -> Result<Packet, MisuseError> {
        let mut payload = BytesMut::new();
        encode_vars(&self.environ, &mut payload)?;
        Packet::new(self.modifier1, self.modifier2, payload.freeze())
    }
}

/// What the application side reads off a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestEvent {
    /// A request's vars. Followed by [`RequestEvent::Body`] chunks (if it has a body), then
    /// [`RequestEvent::End`].
    Head(RequestHead),
    /// A piece of the request body, split off the receive buffer without copying. How the
    /// body is cut into chunks depends on how it arrived.
    Body(Bytes),
    /// The request body is complete. Anything after it is an error.
    End,
    /// A ping (modifier1 100). Answer with a [`crate::Pong`] (e.g.
    /// [`crate::wire::pong_bytes`]) and close; nothing may follow it.
    Ping,
    /// A signal (modifier1 110). uWSGI answers with [`crate::SignalReply`].
    Signal(Signal),
    /// Any other packet that is not a request (echo, cache, RPC, ...), whole, payload
    /// unparsed. Nothing may follow it.
    Packet(Packet),
}

/// The bytes of the answer to a ping: modifier1 100, modifier2 1, no payload.
pub fn pong_bytes() -> Bytes {
    Bytes::from_static(&[100, 0, 0, 1])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecodeState {
    Packet,
    Body(Counted),
    End,
    Done,
}

/// The protocol logic of [`RequestDecoder`].
#[derive(Debug, Clone)]
struct RequestStep {
    limits: Limits,
    state: DecodeState,
}

/// The application side's sans-IO request decoder: header, vars, then the body as chunks.
///
/// Feed it the receive buffer; it splits events off the front. The body is never
/// gathered: each [`RequestEvent::Body`] is whatever part of it the buffer held. Bytes past
/// the end of the request are an error ([`Violation::TrailingBytes`]), as a plain uwsgi
/// connection carries one request. Call [`RequestDecoder::decode_eof`] when the peer has
/// closed: a request cut short is then an error.
///
/// Pings are handed to the caller as [`RequestEvent::Ping`]; the caller writes
/// [`pong_bytes`](crate::wire::pong_bytes) and closes.
///
/// The body length is CONTENT_LENGTH only. A raw chunked body announced by
/// `HTTP_TRANSFER_ENCODING: chunked` without CONTENT_LENGTH (which uWSGI can read through
/// its chunked-input API, and which nginx never sends) is not read: its bytes come after a
/// body-less request and are refused as [`Violation::TrailingBytes`].
///
/// ```
/// use bytes::BytesMut;
/// use uwsgi_codec::{Limits, RequestDecoder, RequestEvent};
///
/// let mut wire = BytesMut::from(&b"\0\x13\0\0\x0e\0CONTENT_LENGTH\x01\x003ok!"[..]);
/// let mut decoder = RequestDecoder::new(Limits::default());
/// let Some(RequestEvent::Head(head)) = decoder.decode(&mut wire).unwrap() else { panic!() };
/// assert_eq!(head.content_length, 3);
/// assert_eq!(decoder.decode(&mut wire).unwrap(), Some(RequestEvent::Body("ok!".into())));
/// assert_eq!(decoder.decode(&mut wire).unwrap(), Some(RequestEvent::End));
/// assert_eq!(decoder.decode_eof(&mut wire).unwrap(), None);
/// ```
#[derive(Debug, Clone)]
pub struct RequestDecoder {
    inner: Fused<RequestStep>,
}

impl Default for RequestDecoder {
    fn default() -> Self {
        RequestDecoder::new(Limits::default())
    }
}

impl RequestDecoder {
    /// A decoder for one request under these limits.
    pub fn new(limits: Limits) -> Self {
        RequestDecoder {
            inner: Fused::new(RequestStep {
                limits,
                state: DecodeState::Packet,
            }),
        }
    }

    /// Whether the request (or ping, signal, other packet) has been read to its end.
    pub fn is_done(&self) -> bool {
        self.inner.inner().state == DecodeState::Done
    }

    /// The next event from the front of `src`, `Ok(None)` when more input is needed (or,
    /// once done, when nothing more came).
    ///
    /// # Errors
    /// A [`ProtocolError`] for a malformed request; after an error the decoder answers
    /// every call with the same error and the connection should be closed.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<RequestEvent>, ProtocolError> {
        self.inner.decode(src)
    }

    /// As [`RequestDecoder::decode`], for when the peer has closed its side: returns the
    /// events still buffered, then `Ok(None)`. A connection closed before sending anything
    /// is not an error.
    ///
    /// # Errors
    /// [`Violation::TruncatedPacket`] or [`Violation::TruncatedBody`] when the request is
    /// cut short, and everything [`RequestDecoder::decode`] reports.
    pub fn decode_eof(
        &mut self,
        src: &mut BytesMut,
    ) -> Result<Option<RequestEvent>, ProtocolError> {
        self.inner.decode_eof(src)
    }
}

impl Step for RequestStep {
    type Event = RequestEvent;

    fn step(&mut self, src: &mut BytesMut, at: u64) -> Result<Option<RequestEvent>, ProtocolError> {
        match &mut self.state {
            DecodeState::Packet => self.packet(src, at),
            DecodeState::Body(body) => {
                let Some(chunk) = body.split(src) else {
                    return Ok(None);
                };
                if body.is_complete() {
                    self.state = DecodeState::End;
                }
                Ok(Some(RequestEvent::Body(chunk)))
            }
            DecodeState::End => {
                self.state = DecodeState::Done;
                Ok(Some(RequestEvent::End))
            }
            DecodeState::Done if src.is_empty() => Ok(None),
            DecodeState::Done => Err(ProtocolError::new(
                at,
                Violation::TrailingBytes { count: src.len() },
            )),
        }
    }

    fn end(&mut self, src: &BytesMut, at: u64) -> Result<Option<RequestEvent>, ProtocolError> {
        let violation = match self.state {
            DecodeState::Packet if src.is_empty() => return Ok(None),
            DecodeState::Packet => Violation::TruncatedPacket {
                received: src.len(),
                expected: Header::parse(src)
                    .map_or(Header::LEN, |h| Header::LEN + usize::from(h.datasize)),
            },
            DecodeState::Body(body) => body.truncated(),
            DecodeState::End | DecodeState::Done => return Ok(None),
        };
        Err(ProtocolError::new(at, violation))
    }
}

impl RequestStep {
    fn packet(
        &mut self,
        src: &mut BytesMut,
        at: u64,
    ) -> Result<Option<RequestEvent>, ProtocolError> {
        // The header is judged on its own, before anything of the payload is waited for.
        let Some(header) = check_header(src, self.limits.max_vars_block(), at)? else {
            return Ok(None);
        };
        if header.modifier1.is_request() && header.datasize == 0 {
            return Err(ProtocolError::new(
                at,
                Violation::EmptyVarsBlock {
                    modifier1: header.modifier1,
                },
            ));
        }
        let Some(packet) = split_packet(src, header) else {
            return Ok(None);
        };
        if !packet.modifier1().is_request() {
            self.state = DecodeState::Done;
            return Ok(Some(match packet.modifier1() {
                Modifier1::PING if Ping::try_from(&packet).is_ok() => RequestEvent::Ping,
                Modifier1::SIGNAL => RequestEvent::Signal(
                    Signal::try_from(&packet).map_err(|e| ProtocolError::new(at, e.into()))?,
                ),
                _ => RequestEvent::Packet(packet),
            }));
        }
        let head = RequestHead::from_packet_at(packet, self.limits.max_vars(), at)?;
        let content_length = head.content_length;
        if let Some(limit) = self
            .limits
            .max_body()
            .filter(|&limit| content_length > limit)
        {
            return Err(ProtocolError::new(
                at,
                Violation::BodyTooLarge {
                    content_length,
                    limit,
                },
            ));
        }
        self.state = if content_length == 0 {
            DecodeState::End
        } else {
            DecodeState::Body(Counted::new(content_length))
        };
        Ok(Some(RequestEvent::Head(head)))
    }
}

/// The gateway side's request encoder: the packet from an [`Environ`], then the body.
///
/// The body length is the environ's CONTENT_LENGTH (parsed strictly; absent or empty means
/// no body). Body chunks are passed through unchanged ([`RequestEncoder::body_chunk`]) for a
/// vectored write, or copied into a buffer ([`RequestEncoder::encode_body`]); the encoder
/// only counts them, refusing more than announced, and [`RequestEncoder::finish`] refuses
/// less.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use cgi_env::Environ;
/// use uwsgi_codec::RequestEncoder;
///
/// let env: Environ = [("REQUEST_METHOD", "POST"), ("CONTENT_LENGTH", "5")].into_iter().collect();
/// let mut encoder = RequestEncoder::new();
/// let mut head = BytesMut::new();
/// encoder.encode_head(&env, &mut head).unwrap();
/// let body = encoder.body_chunk(Bytes::from_static(b"hello")).unwrap();
/// encoder.finish().unwrap();
/// assert_eq!(head.len(), 4 + env.uwsgi_encoded_len());
/// assert_eq!(&body[..], b"hello");
/// ```
#[derive(Debug, Clone)]
pub struct RequestEncoder {
    modifier1: Modifier1,
    modifier2: u8,
    /// `None` until the head is encoded.
    body: Option<Sent>,
}

impl Default for RequestEncoder {
    fn default() -> Self {
        RequestEncoder::new()
    }
}

impl RequestEncoder {
    /// An encoder for a WSGI request (modifier1 0, modifier2 0), as nginx sends by default.
    pub fn new() -> Self {
        RequestEncoder::with_modifiers(Modifier1::WSGI, 0)
    }

    /// An encoder for a request with these modifiers.
    pub fn with_modifiers(modifier1: Modifier1, modifier2: u8) -> Self {
        RequestEncoder {
            modifier1,
            modifier2,
            body: None,
        }
    }

    /// Appends the request packet (header and vars) to `dst` and returns the body length
    /// to follow. The size is checked first; nothing is written on error.
    ///
    /// # Errors
    /// [`MisuseError::VarsBlockTooLarge`], [`MisuseError::VarTooLarge`] or
    /// [`MisuseError::EmptyKey`] when the environ does not fit in a vars block,
    /// [`MisuseError::InvalidContentLength`], [`MisuseError::HeadAlreadyWritten`].
    pub fn encode_head(&mut self, env: &Environ, dst: &mut BytesMut) -> Result<u64, MisuseError> {
        if self.body.is_some() {
            return Err(MisuseError::HeadAlreadyWritten);
        }
        // One pass writes the packet and finds CONTENT_LENGTH; an invalid one is cut back
        // off, and is the error reported first, as if it had been checked before.
        let start = dst.len();
        let content_length = match write_request_packet(env, self.modifier1, self.modifier2, dst) {
            Ok(value) => value,
            Err(error) if environ_content_length(env).is_some() => return Err(error),
            Err(_) => {
                return Err(MisuseError::InvalidContentLength {
                    value: invalid_content_length(env),
                });
            }
        };
        let expected = match content_length {
            None | Some([]) => Some(0),
            Some(value) => cgi_env::grammar::parse_decimal(value),
        };
        let Some(expected) = expected else {
            dst.truncate(start);
            return Err(MisuseError::InvalidContentLength {
                value: invalid_content_length(env),
            });
        };
        self.body = Some(Sent::new(Some(expected)));
        Ok(expected)
    }

    /// Accounts for a body chunk and hands it back unchanged, to be written after the
    /// head (e.g. chained with it for a vectored write).
    ///
    /// # Errors
    /// [`MisuseError::BodyTooLong`] when the chunk goes past CONTENT_LENGTH,
    /// [`MisuseError::HeadNotWritten`] before the head.
    pub fn body_chunk(&mut self, chunk: Bytes) -> Result<Bytes, MisuseError> {
        self.count(chunk.len())?;
        Ok(chunk)
    }

    /// Appends a body chunk to `dst` (the copying path).
    ///
    /// # Errors
    /// As [`RequestEncoder::body_chunk`].
    pub fn encode_body(&mut self, chunk: &[u8], dst: &mut BytesMut) -> Result<(), MisuseError> {
        self.count(chunk.len())?;
        dst.extend_from_slice(chunk);
        Ok(())
    }

    /// Body bytes still to send.
    pub fn remaining(&self) -> u64 {
        self.body.map_or(0, |body| body.remaining())
    }

    /// Checks that the whole body was sent.
    ///
    /// # Errors
    /// [`MisuseError::BodyTooShort`] when fewer than CONTENT_LENGTH bytes were sent,
    /// [`MisuseError::HeadNotWritten`] before the head.
    pub fn finish(&self) -> Result<(), MisuseError> {
        self.body.ok_or(MisuseError::HeadNotWritten)?.finish()
    }

    fn count(&mut self, len: usize) -> Result<(), MisuseError> {
        self.body
            .as_mut()
            .ok_or(MisuseError::HeadNotWritten)?
            .count(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::VarsError;
    use crate::vars::encode_request_packet;

    /// The violation of an error, checked to be at `offset`.
    fn at<T: std::fmt::Debug>(result: Result<T, ProtocolError>, offset: u64) -> Violation {
        match result {
            Err(error) if error.offset == offset => error.violation,
            other => panic!("expected an error at offset {offset}, got {other:?}"),
        }
    }

    fn request(env: &[(&str, &str)], body: &[u8]) -> BytesMut {
        let env: Environ = env.iter().copied().collect();
        let mut wire = BytesMut::new();
        encode_request_packet(&env, Modifier1::WSGI, 0, &mut wire).unwrap();
        wire.extend_from_slice(body);
        wire
    }

    fn drain(decoder: &mut RequestDecoder, wire: &mut BytesMut) -> Vec<RequestEvent> {
        let mut events = Vec::new();
        while let Some(event) = decoder.decode(wire).unwrap() {
            events.push(event);
        }
        events
    }

    #[test]
    fn vars_and_body_point_into_the_receive_buffer() {
        let mut wire = request(&[("CONTENT_LENGTH", "3"), ("K", "value")], b"abc");
        let base = wire.as_ptr() as usize;
        let len = wire.len();
        let mut decoder = RequestDecoder::default();
        let Some(RequestEvent::Head(head)) = decoder.decode(&mut wire).unwrap() else {
            panic!("no head")
        };
        let value = head.environ.get("K").unwrap();
        assert_eq!(value.as_ptr() as usize, base + len - 3 - 5);
        let Some(RequestEvent::Body(body)) = decoder.decode(&mut wire).unwrap() else {
            panic!("no body")
        };
        assert_eq!(body.as_ptr() as usize, base + len - 3);
    }

    #[test]
    fn request_without_content_length_has_no_body() {
        let mut wire = request(&[("REQUEST_METHOD", "GET"), ("CONTENT_LENGTH", "")], b"");
        let mut decoder = RequestDecoder::default();
        let events = drain(&mut decoder, &mut wire);
        assert_eq!(events.len(), 2);
        assert!(matches!(&events[0], RequestEvent::Head(h) if h.content_length == 0));
        assert_eq!(events[1], RequestEvent::End);
        assert!(decoder.is_done());
    }

    #[test]
    fn body_chunks_follow_arrival() {
        let mut wire = request(&[("CONTENT_LENGTH", "6")], b"abc");
        let mut decoder = RequestDecoder::default();
        let events = drain(&mut decoder, &mut wire);
        assert_eq!(events.len(), 2);
        assert_eq!(events[1], RequestEvent::Body(Bytes::from_static(b"abc")));
        assert_eq!(
            at(decoder.clone().decode_eof(&mut wire), 26),
            Violation::TruncatedBody {
                expected: 6,
                received: 3,
            }
        );
        wire.extend_from_slice(b"def");
        assert_eq!(
            drain(&mut decoder, &mut wire),
            vec![
                RequestEvent::Body(Bytes::from_static(b"def")),
                RequestEvent::End
            ]
        );
    }

    #[test]
    fn bytes_past_the_body_are_an_error() {
        let mut wire = request(&[("CONTENT_LENGTH", "2")], b"abX");
        let mut decoder = RequestDecoder::default();
        assert!(matches!(
            decoder.decode(&mut wire),
            Ok(Some(RequestEvent::Head(_)))
        ));
        assert_eq!(
            decoder.decode(&mut wire).unwrap(),
            Some(RequestEvent::Body(Bytes::from_static(b"ab")))
        );
        assert_eq!(decoder.decode(&mut wire).unwrap(), Some(RequestEvent::End));
        let trailing = decoder.decode(&mut wire);
        assert_eq!(
            at(trailing.clone(), 25),
            Violation::TrailingBytes { count: 1 }
        );
        // The decoder stays failed: the same error again.
        assert_eq!(decoder.decode(&mut wire), trailing);
        assert_eq!(decoder.decode_eof(&mut wire), trailing);
    }

    #[test]
    fn invalid_content_lengths() {
        for bad in ["-1", "abc", "1e3", " 1", "+5", "18446744073709551616"] {
            let mut wire = request(&[("CONTENT_LENGTH", bad)], b"");
            match at(RequestDecoder::default().decode(&mut wire), 0) {
                Violation::InvalidContentLength { value } => assert_eq!(value, bad),
                other => panic!("{bad}: {other:?}"),
            }
        }
        let mut wire = request(&[("CONTENT_LENGTH", "18446744073709551615")], b"");
        assert!(RequestDecoder::default().decode(&mut wire).is_ok());
    }

    #[test]
    fn body_limit() {
        let mut wire = request(&[("CONTENT_LENGTH", "11")], b"");
        let limits = Limits::default().with_max_body(Some(10));
        assert_eq!(
            at(RequestDecoder::new(limits).decode(&mut wire), 0),
            Violation::BodyTooLarge {
                content_length: 11,
                limit: 10
            }
        );
    }

    #[test]
    fn empty_vars_block_on_request_modifier() {
        let mut wire = BytesMut::from(&b"\0\0\0\0"[..]);
        assert_eq!(
            at(RequestDecoder::default().decode(&mut wire), 0),
            Violation::EmptyVarsBlock {
                modifier1: Modifier1::WSGI
            }
        );
    }

    #[test]
    fn datasize_over_max_vars_block_refused_at_header() {
        let mut wire = BytesMut::from(&b"\0\x01\x10\0"[..]);
        assert!(matches!(
            at(RequestDecoder::default().decode(&mut wire), 0),
            Violation::DatasizeTooLarge {
                datasize: 4097,
                limit: 4096,
                ..
            }
        ));
        let mut wire = BytesMut::from(&b"\0\x01\x10\0"[..]);
        let limits = Limits::default().with_max_vars_block(u16::MAX);
        assert_eq!(RequestDecoder::new(limits).decode(&mut wire).unwrap(), None);
    }

    #[test]
    fn malformed_vars_are_reported() {
        let mut wire = BytesMut::from(&b"\0\x03\0\0\x05\0A"[..]);
        // The vars block starts after the 4-byte header; the key's length field is there.
        assert!(matches!(
            at(RequestDecoder::default().decode(&mut wire), 4),
            Violation::Vars(VarsError::PastEnd { offset: 0, .. })
        ));
    }

    #[test]
    fn ping_signal_and_other_packets() {
        let mut wire = BytesMut::from(&b"\x64\0\0\0"[..]);
        let mut decoder = RequestDecoder::default();
        assert_eq!(decoder.decode(&mut wire).unwrap(), Some(RequestEvent::Ping));
        assert!(decoder.is_done());
        assert_eq!(
            &pong_bytes()[..],
            &crate::Pong::default().to_packet().unwrap().to_bytes()[..]
        );

        let mut wire = BytesMut::from(&b"\x6e\0\0\x1e"[..]);
        assert_eq!(
            RequestDecoder::default().decode(&mut wire).unwrap(),
            Some(RequestEvent::Signal(Signal { number: 30 }))
        );

        let mut wire = BytesMut::from(&b"\x65\x02\0\0hi"[..]);
        match RequestDecoder::default().decode(&mut wire).unwrap() {
            Some(RequestEvent::Packet(p)) => assert_eq!(&p.payload()[..], b"hi"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn eof_cases() {
        let mut empty = BytesMut::new();
        assert_eq!(
            RequestDecoder::default().decode_eof(&mut empty).unwrap(),
            None
        );
        let mut partial = BytesMut::from(&b"\0\x10"[..]);
        assert_eq!(
            at(RequestDecoder::default().decode_eof(&mut partial), 0),
            Violation::TruncatedPacket {
                received: 2,
                expected: 4
            }
        );
        let mut partial = BytesMut::from(&b"\0\x10\0\0abc"[..]);
        assert_eq!(
            at(RequestDecoder::default().decode_eof(&mut partial), 0),
            Violation::TruncatedPacket {
                received: 7,
                expected: 20
            }
        );
    }

    #[test]
    fn encoder_counts_the_body() {
        let env: Environ = [("CONTENT_LENGTH", "4")].into_iter().collect();
        let mut encoder = RequestEncoder::with_modifiers(Modifier1::PSGI, 3);
        assert_eq!(
            encoder.body_chunk(Bytes::new()),
            Err(MisuseError::HeadNotWritten)
        );
        let mut dst = BytesMut::new();
        assert_eq!(encoder.encode_head(&env, &mut dst).unwrap(), 4);
        assert_eq!(&dst[..4], &[5, 19, 0, 3]);
        assert_eq!(
            encoder.encode_head(&env, &mut dst),
            Err(MisuseError::HeadAlreadyWritten)
        );
        encoder.encode_body(b"ab", &mut dst).unwrap();
        assert_eq!(encoder.remaining(), 2);
        assert_eq!(
            encoder.finish(),
            Err(MisuseError::BodyTooShort {
                expected: 4,
                sent: 2,
            })
        );
        assert_eq!(
            encoder.body_chunk(Bytes::from_static(b"cde")),
            Err(MisuseError::BodyTooLong {
                expected: 4,
                got: 5
            })
        );
        encoder.body_chunk(Bytes::from_static(b"cd")).unwrap();
        encoder.finish().unwrap();
    }

    #[test]
    fn encoder_refuses_bad_environs_before_writing() {
        let env: Environ = [("CONTENT_LENGTH", "x")].into_iter().collect();
        let mut dst = BytesMut::new();
        assert!(matches!(
            RequestEncoder::new().encode_head(&env, &mut dst),
            Err(MisuseError::InvalidContentLength { .. })
        ));
        // A bad CONTENT_LENGTH is reported before a var too large, and nothing is left.
        let mut env: Environ = [("A", "1")].into_iter().collect();
        env.append("HTTP_COOKIE", vec![b'c'; 70000]);
        env.append("CONTENT_LENGTH", "-1");
        assert!(matches!(
            RequestEncoder::new().encode_head(&env, &mut dst),
            Err(MisuseError::InvalidContentLength { .. })
        ));
        let env: Environ = [("A", "1"), ("CONTENT_LENGTH", "1"), ("CONTENT_LENGTH", "z")]
            .into_iter()
            .collect();
        assert!(matches!(
            RequestEncoder::new().encode_head(&env, &mut dst),
            Err(MisuseError::InvalidContentLength { .. })
        ));
        assert!(dst.is_empty());
        let mut env = Environ::new();
        env.append("HTTP_COOKIE", vec![b'c'; 70000]);
        assert!(matches!(
            RequestEncoder::new().encode_head(&env, &mut dst),
            Err(MisuseError::VarTooLarge { .. })
        ));
        assert!(dst.is_empty());
    }
}
