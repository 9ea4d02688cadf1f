//! tokio-util `Decoder`/`Encoder` adapters over the sans-IO state machines, for use with
//! [`tokio_util::codec::Framed`].
//!
//! They only move bytes: all protocol logic is in [`RequestDecoder`], [`ResponseWriter`],
//! [`RequestEncoder`] and [`ResponseDecoder`]. `Framed` writes through a `BytesMut`, so
//! body chunks are copied once into its write buffer here; write the head and the body
//! `Bytes` yourself (vectored) to avoid that copy.
//!
//! Both codecs serve one request per connection, as the plain uwsgi protocol does: after
//! the response, close the connection (drop the `Framed`).

use bytes::{Bytes, BytesMut};
use cgi_env::Environ;
use http::StatusCode;
use tokio_util::codec::{Decoder, Encoder};

use crate::error::{MisuseError, ProtocolError};
use crate::limits::Limits;
use crate::packet::{Modifier1, Packet};
use crate::request::{RequestDecoder, RequestEncoder, RequestEvent};
use crate::response::{ResponseDecoder, ResponseEvent, ResponseWriter};

/// What can go wrong on a connection driven by [`ApplicationCodec`] or [`GatewayCodec`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The peer broke the protocol; close the connection.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// A part sent out of order, or one that cannot be encoded.
    #[error(transparent)]
    Misuse(#[from] MisuseError),
    /// Reading or writing the transport failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// What the application side sends with [`ApplicationCodec`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponsePart {
    /// The status line and header fields (the protocol comes from the request's
    /// SERVER_PROTOCOL).
    Head {
        /// The status.
        status: StatusCode,
        /// The header fields, in order.
        headers: Vec<(Bytes, Bytes)>,
    },
    /// A piece of the body.
    Body(Bytes),
    /// The end of the response (checks a declared Content-Length); close after it.
    End,
    /// A whole packet instead of an HTTP response: a pong, a signal reply, ...
    Packet(Packet),
}

/// The application side (what uWSGI is to nginx) as a tokio-util codec: decodes
/// [`RequestEvent`]s, encodes [`ResponsePart`]s.
///
/// ```
/// use bytes::BytesMut;
/// use http::StatusCode;
/// use tokio_util::codec::{Decoder, Encoder};
/// use uwsgi_codec::{ApplicationCodec, RequestEvent, ResponsePart};
///
/// let mut codec = ApplicationCodec::default();
/// let mut wire = BytesMut::from(&b"\0\x1b\0\0\x0f\0SERVER_PROTOCOL\x08\0HTTP/1.1"[..]);
/// assert!(matches!(codec.decode(&mut wire), Ok(Some(RequestEvent::Head(_)))));
/// let mut out = BytesMut::new();
/// codec.encode(ResponsePart::Head { status: StatusCode::OK, headers: vec![] }, &mut out).unwrap();
/// assert_eq!(&out[..], b"HTTP/1.1 200 OK\r\n\r\n");
/// ```
#[derive(Debug, Clone)]
pub struct ApplicationCodec {
    decoder: RequestDecoder,
    writer: ResponseWriter,
}

impl Default for ApplicationCodec {
    fn default() -> Self {
        ApplicationCodec::new(Limits::default())
    }
}

impl ApplicationCodec {
    /// A codec for one connection under these limits.
    pub fn new(limits: Limits) -> Self {
        ApplicationCodec {
            decoder: RequestDecoder::new(limits),
            writer: ResponseWriter::new(&Environ::new()),
        }
    }
}

impl Decoder for ApplicationCodec {
    type Item = RequestEvent;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<RequestEvent>, CodecError> {
        self.read(src, false)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<RequestEvent>, CodecError> {
        self.read(src, true)
    }
}

impl ApplicationCodec {
    /// The next event; a request head sets the protocol of the answer.
    fn read(&mut self, src: &mut BytesMut, eof: bool) -> Result<Option<RequestEvent>, CodecError> {
        let event = if eof {
            self.decoder.decode_eof(src)?
        } else {
            self.decoder.decode(src)?
        };
        if let Some(RequestEvent::Head(head)) = &event {
            self.writer = ResponseWriter::new(&head.environ);
        }
        Ok(event)
    }
}

impl Encoder<ResponsePart> for ApplicationCodec {
    type Error = CodecError;

    fn encode(&mut self, item: ResponsePart, dst: &mut BytesMut) -> Result<(), CodecError> {
        match item {
            ResponsePart::Head { status, headers } => {
                self.writer.write_head(status, headers, dst)?;
            }
            ResponsePart::Body(chunk) => self.writer.write_body(&chunk, dst)?,
            ResponsePart::End => self.writer.finish()?,
            ResponsePart::Packet(packet) => packet.encode(dst),
        }
        Ok(())
    }
}

/// What the gateway side sends with [`GatewayCodec`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestPart {
    /// The request packet: header and vars. Its CONTENT_LENGTH sets the body length.
    Head(Environ),
    /// A piece of the body.
    Body(Bytes),
    /// The end of the body (checks that CONTENT_LENGTH bytes were sent).
    End,
}

/// The gateway side (what nginx is to uWSGI) as a tokio-util codec: encodes
/// [`RequestPart`]s, decodes [`ResponseEvent`]s. The end of a close-delimited response
/// comes from `decode_eof`, which `Framed` calls when the backend closes.
///
/// ```
/// use bytes::BytesMut;
/// use cgi_env::Environ;
/// use tokio_util::codec::{Decoder, Encoder};
/// use uwsgi_codec::{GatewayCodec, RequestPart, ResponseEvent};
///
/// let mut codec = GatewayCodec::default();
/// let mut out = BytesMut::new();
/// let env: Environ = [("REQUEST_METHOD", "GET")].into_iter().collect();
/// codec.encode(RequestPart::Head(env), &mut out).unwrap();
/// codec.encode(RequestPart::End, &mut out).unwrap();
/// assert_eq!(&out[..4], &[0, 21, 0, 0]);
///
/// let mut wire = BytesMut::from(&b"HTTP/1.1 204 No Content\r\n\r\n"[..]);
/// assert!(matches!(codec.decode(&mut wire), Ok(Some(ResponseEvent::Head(_)))));
/// // The backend closed the connection:
/// assert_eq!(codec.decode_eof(&mut wire).unwrap(), Some(ResponseEvent::End));
/// ```
#[derive(Debug, Clone)]
pub struct GatewayCodec {
    encoder: RequestEncoder,
    decoder: ResponseDecoder,
}

impl Default for GatewayCodec {
    fn default() -> Self {
        GatewayCodec::new(Modifier1::WSGI, 0, Limits::default())
    }
}

impl GatewayCodec {
    /// A codec for one request with these modifiers, reading the response under these
    /// limits.
    pub fn new(modifier1: Modifier1, modifier2: u8, limits: Limits) -> Self {
        GatewayCodec {
            encoder: RequestEncoder::with_modifiers(modifier1, modifier2),
            decoder: ResponseDecoder::new(limits),
        }
    }

    /// Marks the request as a HEAD request: the response has no body.
    #[must_use]
    pub fn for_head_request(mut self) -> Self {
        self.decoder = self.decoder.for_head_request();
        self
    }
}

impl Encoder<RequestPart> for GatewayCodec {
    type Error = CodecError;

    fn encode(&mut self, item: RequestPart, dst: &mut BytesMut) -> Result<(), CodecError> {
        match item {
            RequestPart::Head(env) => drop(self.encoder.encode_head(&env, dst)?),
            RequestPart::Body(chunk) => self.encoder.encode_body(&chunk, dst)?,
            RequestPart::End => self.encoder.finish()?,
        }
        Ok(())
    }
}

impl Decoder for GatewayCodec {
    type Item = ResponseEvent;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<ResponseEvent>, CodecError> {
        Ok(self.decoder.decode(src)?)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<ResponseEvent>, CodecError> {
        Ok(self.decoder.decode_eof(src)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_codec_answers_with_the_request_protocol() {
        let env: Environ = [("SERVER_PROTOCOL", "HTTP/1.1"), ("CONTENT_LENGTH", "2")]
            .into_iter()
            .collect();
        let mut wire = BytesMut::new();
        GatewayCodec::default()
            .encode(RequestPart::Head(env), &mut wire)
            .unwrap();
        wire.extend_from_slice(b"hi");
        let mut codec = ApplicationCodec::default();
        let mut events = Vec::new();
        while let Some(event) = codec.decode_eof(&mut wire).unwrap() {
            events.push(event);
        }
        assert_eq!(events.len(), 3);
        let mut out = BytesMut::new();
        codec
            .encode(
                ResponsePart::Head {
                    status: StatusCode::CREATED,
                    headers: vec![(
                        Bytes::from_static(b"Content-Length"),
                        Bytes::from_static(b"1"),
                    )],
                },
                &mut out,
            )
            .unwrap();
        codec
            .encode(ResponsePart::Body(Bytes::from_static(b"x")), &mut out)
            .unwrap();
        codec.encode(ResponsePart::End, &mut out).unwrap();
        assert_eq!(
            &out[..],
            b"HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx"
        );
    }

    #[test]
    fn gateway_codec_checks_body_length() {
        let env: Environ = [("CONTENT_LENGTH", "3")].into_iter().collect();
        let mut codec = GatewayCodec::default();
        let mut out = BytesMut::new();
        codec.encode(RequestPart::Head(env), &mut out).unwrap();
        codec
            .encode(RequestPart::Body(Bytes::from_static(b"ab")), &mut out)
            .unwrap();
        assert!(matches!(
            codec.encode(RequestPart::End, &mut out),
            Err(CodecError::Misuse(MisuseError::BodyTooShort {
                expected: 3,
                sent: 2
            }))
        ));
        assert!(matches!(
            codec.encode(RequestPart::Body(Bytes::from_static(b"cd")), &mut out),
            Err(CodecError::Misuse(MisuseError::BodyTooLong {
                expected: 3,
                got: 4
            }))
        ));
    }
}
