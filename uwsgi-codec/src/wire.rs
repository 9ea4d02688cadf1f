//! Wire-level helpers below the decoders and encoders: the raw vars block, the request
//! packet in one piece, the CONTENT_LENGTH rule, the pong bytes, the status-line protocol.
//!
//! The decoders and encoders at the crate root use these; reach for them to build or read
//! uwsgi bytes by hand.

pub use crate::request::{environ_content_length, pong_bytes};
pub use crate::response::response_protocol;
pub use crate::vars::{decode_vars, encode_request_packet, encode_vars, encoded_vars_len};
