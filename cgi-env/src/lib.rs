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

pub use environ::{Environ, Iter, SegmentId, fastcgi_pair_len};
pub use error::EnvironError;
