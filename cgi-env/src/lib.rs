//! The CGI/1.1 (RFC 3875) and WSGI (PEP 3333) environ, both directions, and the CGI
//! response head.
//!
//! [`Environ`] is the variable set that FastCGI PARAMS and uwsgi vars both carry: ordered,
//! byte-exact, and zero-copy when a codec decodes it from a received buffer. Around it:
//!
//! - **Gateway side** ([`Gateway`], [`Preset`], [`ScriptMapping`], [`HeaderRules`]): the
//!   environ a web server sends for an HTTP request. The nginx presets give the same
//!   variables, in the same order, with the same values as nginx with its stock
//!   `fastcgi_params`, `fastcgi.conf` and `uwsgi_params` (checked against real captures);
//!   [`Preset::rfc3875`] is strict CGI/1.1. Paths are decoded and normalised before they
//!   are split, and a path holding NUL, CR or LF, or climbing above the root, is a
//!   [`GatewayError`].
//! - **Application side** ([`CgiRequest`], [`check_pep3333`], [`wsgi_url_scheme`],
//!   [`native_string`]): the HTTP request back from an environ, and what a WSGI host needs.
//! - **Response head** ([`ResponseHeadParser`], [`write_response_head`]): the one parser
//!   of what a backend answers, a CGI head (php-fpm, php-cgi) or an HTTP/1.x head
//!   (uWSGI), used by the FastCGI and uwsgi gateway sides alike: incremental, bounded,
//!   zero-copy, with the backend treated as untrusted. Its rules are in one place, on
//!   [`ResponseHeadParser`]. Written from an HTTP status and headers.
//!
//! # Gateway: an HTTP request to the environ nginx would send
//!
//! ```
//! use cgi_env::{ConnectionInfo, Gateway, Preset, ScriptMapping};
//!
//! let gateway = Gateway::new(Preset::nginx_fastcgi_conf())
//!     .with_mapping(ScriptMapping::SplitAtExtension(".php".into()))
//!     .with_document_root("/srv/www");
//! let (request, ()) = http::Request::get("/index.php/a?x=1")
//!     .header("host", "example.org")
//!     .header("cookie", "a=1")
//!     .header("cookie", "b=2")
//!     .body(())?
//!     .into_parts();
//! let conn = ConnectionInfo::new("192.0.2.7:50123".parse()?, "192.0.2.1:80".parse()?, "example.org");
//! let env = gateway.build(&request, &conn)?;
//! assert_eq!(env.get_index(0), Some((&b"SCRIPT_FILENAME"[..], &b"/srv/www/index.php"[..])));
//! assert_eq!(env.get_str("SCRIPT_NAME"), Some("/index.php"));
//! assert_eq!(env.get_str("HTTP_COOKIE"), Some("a=1; b=2"));
//! assert!(env.fastcgi_encoded_len() < env.uwsgi_encoded_len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Application: the environ back to an HTTP request
//!
//! ```
//! use cgi_env::{CgiRequest, Environ, ProxyTrust, check_pep3333, wsgi_url_scheme};
//!
//! let env: Environ = [
//!     ("REQUEST_METHOD", "GET"),
//!     ("REQUEST_URI", "/app/x?y=1"),
//!     ("PATH_INFO", "/app/x"),
//!     ("SERVER_PROTOCOL", "HTTP/1.1"),
//!     ("SERVER_NAME", "localhost"),
//!     ("SERVER_PORT", "8080"),
//!     ("HTTP_X_FORWARDED_PROTO", "https"),
//! ]
//! .into_iter()
//! .collect();
//! let request = CgiRequest::from_environ(&env)?;
//! assert_eq!(request.parts.uri, "http://localhost:8080/app/x?y=1");
//! assert_eq!(check_pep3333(&env), Ok(()));
//! // A client-sent X-Forwarded-Proto counts only behind a trusted proxy.
//! assert_eq!(wsgi_url_scheme(&env, ProxyTrust::Untrusted), "http");
//! assert_eq!(wsgi_url_scheme(&env, ProxyTrust::Trusted), "https");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The response head, both ways
//!
//! ```
//! use bytes::BytesMut;
//! use cgi_env::{ResponseHeadParser, ResponseKind, write_response_head};
//! use http::StatusCode;
//!
//! let mut parser = ResponseHeadParser::default();
//! let mut output = BytesMut::from(&b"Location: https://example.org/\nTransfer-Encoding: chunked\n\n"[..]);
//! let head = parser.decode(&mut output)?.expect("a complete head");
//! assert_eq!((head.status, head.kind), (StatusCode::FOUND, ResponseKind::ClientRedirect));
//! // Hop-by-hop fields are the HTTP layer's to write: they are not in the head's headers.
//! assert!(!head.headers.contains_key("transfer-encoding"));
//!
//! let mut out = Vec::new();
//! write_response_head(head.status, &head.headers, &mut out);
//! assert_eq!(out, b"Status: 302 Found\r\nLocation: https://example.org/\r\n\r\n");
//! # Ok::<(), cgi_env::ResponseHeadError>(())
//! ```
//!
//! # Parsing
//!
//! The text grammar ([`grammar`]) and the response head are byte-class loops written by
//! hand: measured against `nom` on the same inputs, they were as fast or faster, and the
//! binary framing around them (fixed-width record headers, length-prefixed pairs) needs
//! no combinators.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod environ;
mod error;
mod gateway;
pub mod grammar;
mod headers;
mod preset;
mod request;
mod response_head;
mod script;
pub mod wire;
mod wsgi;

pub use environ::{Environ, Iter, PairBytes, Pairs, SegmentId, fastcgi_pair_len};
pub use error::{EnvironError, GatewayError, RequestError, ResponseHeadError, WsgiError};
pub use gateway::{AuthUser, ConnectionInfo, Gateway};
pub use headers::{HOP_BY_HOP, HeaderRules, http_var_name, is_reserved_name};
pub use preset::{Param, Preset, Var};
pub use request::{CgiRequest, percent_encode_path};
pub use response_head::{
    ResponseHead, ResponseHeadLimits, ResponseHeadParser, ResponseKind, TransferCoding,
    parse_response_head, response_head_len, write_response_head,
};
pub use script::{EncodedSlash, ScriptMapping, ScriptPath, decode_path, normalise};
pub use wsgi::{ProxyTrust, check_pep3333, native_environ, native_string, wsgi_url_scheme};
