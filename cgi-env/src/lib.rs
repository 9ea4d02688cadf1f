//! The CGI/1.1 (RFC 3875) and WSGI (PEP 3333) environ.
//!
//! [`Environ`] is the variable set that FastCGI PARAMS and uwsgi vars both carry: ordered,
//! byte-exact, and zero-copy when a codec decodes it from a received buffer.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod environ;
mod error;
mod gateway;
mod headers;
mod preset;
mod request;
mod response_head;
mod script;
mod wsgi;

pub use environ::{Environ, Iter, SegmentId, fastcgi_pair_len};
pub use error::{EnvironError, GatewayError, RequestError, ResponseHeadError, WsgiError};
pub use gateway::{AuthUser, Connection, Gateway};
pub use headers::{HOP_BY_HOP, HeaderRules, http_var_name, is_reserved_name};
pub use preset::{Param, Preset, Var};
pub use request::{CgiRequest, percent_encode_path};
pub use response_head::{
    Parsed, ResponseHead, ResponseHeadLimits, ResponseHeadParser, ResponseKind,
    parse_response_head, response_head_len, write_response_head,
};
pub use script::{EncodedSlash, ScriptMapping, ScriptPath, decode_path, normalise};
pub use wsgi::{ProxyTrust, check_pep3333, native_environ, native_string, wsgi_url_scheme};
