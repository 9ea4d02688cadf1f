//! The uwsgi protocol for gateways and applications, sans-IO and zero-copy.
//!
//! uwsgi is uWSGI's binary protocol: a 4-byte header ([`Header`]: modifier1, a
//! little-endian u16 datasize, modifier2), then a vars block of length-prefixed keys and
//! values ([`wire::decode_vars`], [`wire::encode_vars`]), then the request body, unframed, of exactly
//! CONTENT_LENGTH bytes. The application answers with a raw HTTP/1.x response and closes
//! the connection.
//!
//! - [`packet`](Packet): the header, [`Modifier1`] values, a generic [`PacketDecoder`], and
//!   the typed packets [`Ping`], [`Pong`], [`Signal`], [`SignalReply`].
//! - Application side (what uWSGI is to nginx): [`RequestDecoder`] and [`ResponseWriter`].
//! - Gateway side (what nginx is to uWSGI): [`RequestEncoder`] and [`ResponseDecoder`],
//!   which reads the head with the family's one parser ([`cgi_env::ResponseHeadParser`],
//!   yielding a [`cgi_env::ResponseHead`]) and frames the body that follows.
//! - With the `tokio` feature: [`ApplicationCodec`] and [`GatewayCodec`] for
//!   `tokio_util::codec::Framed`.
//!
//! Nothing here does I/O: bytes go in as a `BytesMut`, events come out, and every name,
//! value and body chunk is a `Bytes` split off the buffer it arrived in. Every length from
//! the wire is checked against [`Limits`] before anything is buffered for it. Bad input
//! is a [`ProtocolError`]: the [`Violation`] (what was broken) and the offset in the stream
//! (where); a call out of order or with data that cannot be encoded is a [`MisuseError`].
//! Byte-level helpers (raw vars, the pong bytes, ...) are in [`wire`].
//!
//! # Gateway side
//!
//! ```
//! use bytes::{Buf, Bytes, BytesMut};
//! use cgi_env::Environ;
//! use uwsgi_codec::{RequestEncoder, ResponseDecoder, ResponseEvent};
//!
//! let mut env = Environ::new();
//! env.insert("REQUEST_METHOD", "POST");
//! env.insert("PATH_INFO", "/upload");
//! env.insert("SERVER_PROTOCOL", "HTTP/1.1");
//! env.insert("CONTENT_LENGTH", "5");
//!
//! let mut encoder = RequestEncoder::new(); // modifier1 0 (WSGI), modifier2 0
//! let mut head = BytesMut::new();
//! encoder.encode_head(&env, &mut head)?;
//! let body = encoder.body_chunk(Bytes::from_static(b"hello"))?;
//! encoder.finish()?;
//! // One vectored write of the head and the untouched body:
//! let request = head.freeze().chain(body);
//! assert_eq!(request.remaining(), 4 + env.uwsgi_encoded_len() + 5);
//!
//! // What the application answered, then the connection closed:
//! let mut received = BytesMut::from(&b"HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\n\r\nok"[..]);
//! let mut decoder = ResponseDecoder::default();
//! let mut body = Vec::new();
//! while let Some(event) = decoder.decode_eof(&mut received)? {
//!     match event {
//!         ResponseEvent::Head(head) => assert_eq!(head.status, http::StatusCode::CREATED),
//!         ResponseEvent::Body(chunk) => body.extend_from_slice(&chunk),
//!         ResponseEvent::End => break,
//!         _ => {}
//!     }
//! }
//! assert_eq!(body, b"ok");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Application side
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use http::StatusCode;
//! use uwsgi_codec::wire::pong_bytes;
//! use uwsgi_codec::{Limits, RequestDecoder, RequestEvent, ResponseWriter};
//!
//! // A request as nginx sends it: header, vars, then the body.
//! let mut received = BytesMut::from(
//!     &b"\0\x29\0\0\x0e\0REQUEST_METHOD\x04\0POST\x0e\0CONTENT_LENGTH\x01\x003xyz"[..],
//! );
//! let mut decoder = RequestDecoder::new(Limits::default().with_max_vars_block(32768));
//! let mut writer = None;
//! let mut body_len = 0;
//! let mut out = BytesMut::new();
//! while let Some(event) = decoder.decode(&mut received)? {
//!     match event {
//!         RequestEvent::Head(head) => {
//!             assert_eq!(head.environ.get("REQUEST_METHOD"), Some(&b"POST"[..]));
//!             writer = Some(ResponseWriter::new(&head.environ));
//!         }
//!         RequestEvent::Body(chunk) => body_len += chunk.len(),
//!         RequestEvent::End => break,
//!         RequestEvent::Ping => out.extend_from_slice(&pong_bytes()),
//!         _ => {} // a signal or another packet
//!     }
//! }
//! let mut writer = writer.expect("a request");
//! let reply = Bytes::from(format!("{body_len} bytes"));
//! let length = reply.len().to_string();
//! writer.write_head(StatusCode::OK, [("Content-Length", length.as_str())], &mut out)?;
//! let body = writer.body_chunk(reply)?; // written after `out`, not copied
//! writer.finish()?; // then close the connection
//! // No SERVER_PROTOCOL in the request: HTTP/1.0, as uWSGI does.
//! assert!(out.starts_with(b"HTTP/1.0 200 OK\r\nContent-Length: 7\r\n\r\n"));
//! assert_eq!(&body[..], b"3 bytes");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod body;
mod chunked;
#[cfg(feature = "tokio")]
mod codec;
mod error;
mod limits;
mod packet;
mod request;
mod response;
mod stream;
mod vars;
pub mod wire;

#[cfg(feature = "tokio")]
pub use codec::{ApplicationCodec, CodecError, GatewayCodec, RequestPart, ResponsePart};
pub use error::{
    ChunkedError, MisuseError, ProtocolError, UnexpectedPacket, VarPart, VarsError, Violation,
};
pub use limits::{DEFAULT_MAX_CHUNK_LINE, DEFAULT_MAX_VARS, DEFAULT_MAX_VARS_BLOCK, Limits};
pub use packet::{Header, Modifier1, Packet, PacketDecoder, Ping, Pong, Signal, SignalReply};
pub use request::{RequestDecoder, RequestEncoder, RequestEvent, RequestHead};
pub use response::{BodyFraming, ResponseDecoder, ResponseEvent, ResponseWriter};
