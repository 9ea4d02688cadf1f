//! FastCGI 1.0 for gateways and applications, sans-IO and zero-copy.
//!
//! Layers, bottom up:
//!
//! - **Records** ([`RecordHeader`], [`Record`], [`RecordDecoder`], [`RecordEncoder`]): the
//!   8-byte header and every record type; unknown types are carried, not refused. The
//!   decoder splits each record's content off the received [`bytes::BytesMut`] without
//!   copying and skips padding; the encoder cuts streams of any length into records of at
//!   most 65535 bytes (65528 when padding to 8, as nginx and PHP-FPM do) and hands the
//!   payload [`bytes::Bytes`] back unchanged between the headers it wrote ([`Chunks`], a
//!   [`bytes::Buf`] for vectored writes). Content lengths are checked into `u16` at
//!   every entry point, so a length can never be truncated on the wire.
//! - **Name-value pairs** ([`ParamsDecoder`], [`encode_params`], [`Values`]): PARAMS
//!   decoded straight into a zero-copy [`cgi_env::Environ`], with 64-bit length
//!   arithmetic checked against [`Limits`] before anything is kept; encoding never splits a
//!   pair across records.
//! - **Connections** ([`ServerConnection`], [`ClientConnection`]): sans-IO state machines
//!   for the application side (what PHP-FPM is to nginx) and the gateway side (what nginx
//!   is to PHP-FPM). Bytes in, events out; calls in, bytes out. No sockets, clocks or
//!   runtimes.
//! - **tokio-util codecs** (feature `tokio`, on by default): `RecordCodec`, `ServerCodec`
//!   and `ClientCodec` for `tokio_util::codec::Framed`.
//!
//! Malformed input is a [`ProtocolError`] naming the record type, the request id and the
//! rule ([`Violation`]); its [`ErrorScope`] says whether only that request failed or the
//! connection must close. Nothing panics on any input.
//!
//! # Application side
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use fastcgi_codec::{ServerConfig, ServerConnection, ServerEvent};
//!
//! let mut conn = ServerConnection::new(ServerConfig::default());
//! # let mut gateway = fastcgi_codec::ClientConnection::new(Default::default());
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
//!         ServerEvent::Params { request_id, params } => {
//!             let answer = format!("Content-Type: text/plain\r\n\r\n{:?}", params.get("SCRIPT_NAME"));
//!             conn.send_stdout(request_id, Bytes::from(answer)).unwrap();
//!         }
//!         ServerEvent::Stdin { chunk, .. } => body.extend_from_slice(&chunk),
//!         ServerEvent::StdinEnd { request_id } => conn.end_request(request_id, 0).unwrap(),
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
//! use fastcgi_codec::{ClientConfig, ClientConnection, ClientEvent, Role};
//!
//! let mut conn = ClientConnection::new(ClientConfig::default());
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
//! # let mut app = fastcgi_codec::ServerConnection::new(Default::default());
//! # let mut wire = to_send.to_bytes_mut();
//! # while let Some(event) = app.receive(&mut wire).unwrap() {
//! #     if let fastcgi_codec::ServerEvent::StdinEnd { request_id } = event {
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
//!         ClientEvent::Stdout { chunk, .. } => response.extend_from_slice(&chunk),
//!         ClientEvent::End { app_status, .. } => assert_eq!(app_status, 0),
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

mod client;
#[cfg(feature = "tokio")]
mod codec;
mod decoder;
mod encoder;
mod error;
mod ids;
mod limits;
mod params;
mod record;
mod requests;
mod server;

pub use client::{ClientConfig, ClientConnection, ClientEvent};
#[cfg(feature = "tokio")]
pub use codec::{ClientCodec, ClientCommand, CodecError, RecordCodec, ServerCodec, ServerCommand};
pub use decoder::RecordDecoder;
pub use encoder::{Chunks, Padding, RecordEncoder};
pub use error::{EncodeError, ErrorScope, ProtocolError, SendError, Violation};
pub use limits::Limits;
pub use params::{
    FCGI_MAX_CONNS, FCGI_MAX_REQS, FCGI_MPXS_CONNS, MAX_PAIR_FIELD_LEN, ParamsDecoder, Values,
    decode_pairs, encode_params, encode_params_into, get_values_query, read_length,
    read_pair_header, write_length, write_pair,
};
pub use record::{
    BeginRequestBody, EndRequestBody, FIXED_BODY_LEN, FLAG_KEEP_CONN, HEADER_LEN, MANAGEMENT_ID,
    MAX_CONTENT_LEN, MAX_PADDED_CONTENT_LEN, ProtocolStatus, Record, RecordHeader, RecordType,
    Role, UnknownTypeBody, VERSION_1,
};
pub use server::{FAILED_REQUEST_APP_STATUS, ServerConfig, ServerConnection, ServerEvent};
