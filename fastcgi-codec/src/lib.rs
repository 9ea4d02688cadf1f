//! FastCGI 1.0 for gateways and applications, sans-IO and zero-copy.
//!
//! Layers, bottom up:
//!
//! - **Records** ([`RecordHeader`], [`Record`], [`RecordDecoder`], [`RecordEncoder`]): the
//!   8-byte header and every record type; unknown types are carried, not refused. The
//!   decoder splits each record's content off the received [`bytes::BytesMut`] without
//!   copying and skips padding; the encoder cuts streams of any length into records of at
//!   most 65535 bytes (65528 when padding to 8, as nginx and PHP-FPM do) into an
//!   [`OutputQueue`] (a [`bytes::Buf`] for vectored writes): headers and payloads under
//!   256 bytes share one buffer, larger payload [`bytes::Bytes`] are chained unchanged.
//!   Content lengths are checked into `u16` at every entry point, so a length can never
//!   be truncated on the wire.
//! - **Name-value pairs** ([`ParamsDecoder`], [`wire::encode_params`],
//!   [`GetValuesAnswer`]): PARAMS decoded straight into a zero-copy
//!   [`cgi_env::Environ`], with 64-bit length arithmetic checked against [`Limits`] before
//!   anything is kept; encoding never splits a pair across records.
//! - **Connections** ([`ApplicationConnection`], [`GatewayConnection`]): sans-IO state
//!   machines for the application side (what PHP-FPM is to nginx) and the gateway side
//!   (what nginx is to PHP-FPM). Bytes in, events out; calls in, bytes out. No sockets,
//!   clocks or runtimes. Requests are named by a [`RequestId`].
//! - **tokio-util codecs** (feature `tokio`, on by default): `RecordCodec`,
//!   `ApplicationCodec` and `GatewayCodec` for `tokio_util::codec::Framed`.
//!
//! Wire-level helpers (pair lengths, raw pair writers and readers, record constants) are
//! in [`wire`].
//!
//! Malformed input is a [`ProtocolError`] naming the record type, the request id and the
//! rule ([`Violation`]); its [`ErrorScope`] says whether only that request failed or the
//! connection must close. Nothing panics on any input.
//!
//! # Application side
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use fastcgi_codec::{ApplicationConfig, ApplicationConnection, ApplicationEvent};
//!
//! let mut conn = ApplicationConnection::new(ApplicationConfig::default());
//! # let mut gateway = fastcgi_codec::GatewayConnection::new(Default::default());
//! # let id = gateway.begin_request(fastcgi_codec::Role::Responder, true).unwrap();
//! # let params: cgi_env::Environ = [("SCRIPT_NAME", "/ping")].into_iter().collect();
//! # gateway.send_params(id, &params).unwrap();
//! # gateway.send_stdin(id, Bytes::from_static(b"body")).unwrap();
//! # gateway.end_stdin(id).unwrap();
//! # let mut received = gateway.take_output().to_bytes_mut();
//! // `received` holds what was read from the socket so far.
//! let mut body = Vec::new();
//! while let Some(event) = conn.receive(&mut received).unwrap() {
//!     match event {
//!         ApplicationEvent::Params { request_id, params } => {
//!             let answer = format!("Content-Type: text/plain\r\n\r\n{:?}", params.get("SCRIPT_NAME"));
//!             conn.send_stdout(request_id, Bytes::from(answer)).unwrap();
//!         }
//!         ApplicationEvent::Stdin { chunk, .. } => body.extend_from_slice(&chunk),
//!         ApplicationEvent::StdinEnd { request_id } => conn.end_request(request_id, 0).unwrap(),
//!         _ => {}
//!     }
//! }
//! assert_eq!(body, b"body");
//! let to_send = conn.take_output(); // write with `write_all_buf` (vectored)
//! assert!(!to_send.is_empty());
//! assert!(!conn.should_close(), "the gateway asked for keep-conn");
//! ```
//!
//! # Gateway side
//!
//! ```
//! use bytes::Bytes;
//! use cgi_env::Environ;
//! use fastcgi_codec::{GatewayConfig, GatewayConnection, GatewayEvent, Role};
//!
//! let mut conn = GatewayConnection::new(GatewayConfig::default());
//! let id = conn.begin_request(Role::Responder, false).unwrap();
//! let mut params = Environ::new();
//! params.append("SCRIPT_FILENAME", "/srv/www/upload.php");
//! params.append("REQUEST_METHOD", "POST");
//! params.append("CONTENT_LENGTH", "1048576");
//! conn.send_params(id, &params).unwrap();
//! let body = Bytes::from(vec![0u8; 1 << 20]);
//! conn.send_stdin(id, body.clone()).unwrap(); // cut into records, not copied
//! conn.end_stdin(id).unwrap();
//! let to_send = conn.take_output();
//! assert!(to_send.iter().any(|chunk| chunk.as_ptr() == body.as_ptr()));
//! # let mut app = fastcgi_codec::ApplicationConnection::new(Default::default());
//! # let mut wire = to_send.to_bytes_mut();
//! # while let Some(event) = app.receive(&mut wire).unwrap() {
//! #     if let fastcgi_codec::ApplicationEvent::StdinEnd { request_id } = event {
//! #         app.send_stdout(request_id, Bytes::from_static(b"Status: 201 Created\r\n\r\n")).unwrap();
//! #         app.end_request(request_id, 0).unwrap();
//! #     }
//! # }
//! # let mut received = app.take_output().to_bytes_mut();
//!
//! // Then feed what the application answers:
//! let mut response = Vec::new();
//! while let Some(event) = conn.receive(&mut received).unwrap() {
//!     match event {
//!         GatewayEvent::Stdout { chunk, .. } => response.extend_from_slice(&chunk),
//!         GatewayEvent::End { app_status, .. } => assert_eq!(app_status, 0),
//!         _ => {}
//!     }
//! }
//! assert!(response.starts_with(b"Status: 201"));
//! // Keep-conn was not asked for: the application closes, which is not an error now.
//! conn.receive_eof().unwrap();
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod application;
#[cfg(feature = "tokio")]
mod codec;
mod connection;
mod decoder;
mod encoder;
mod error;
mod gateway;
mod ids;
mod limits;
mod params;
mod record;
mod requests;
mod response;
pub mod wire;

#[cfg(test)]
mod test_support;

pub use application::{
    ApplicationConfig, ApplicationConnection, ApplicationEvent, FAILED_REQUEST_APP_STATUS,
};
#[cfg(feature = "tokio")]
pub use codec::{
    ApplicationCodec, ApplicationCommand, CodecError, GatewayCodec, GatewayCommand, RecordCodec,
};
pub use decoder::RecordDecoder;
pub use encoder::{OutputQueue, Padding, RecordEncoder};
pub use error::{EncodeError, ErrorScope, ProtocolError, SendError, Violation};
pub use gateway::{GatewayConfig, GatewayConnection, GatewayEvent};
pub use ids::RequestId;
pub use limits::Limits;
pub use params::{GetValuesAnswer, ParamsDecoder};
pub use record::{
    BeginRequestBody, EndRequestBody, ProtocolStatus, Record, RecordHeader, RecordType, Role,
    UnknownTypeBody,
};
pub use response::{ResponseRead, ResponseReader};
