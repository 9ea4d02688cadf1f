//! FastCGI 1.0 for gateways and applications, sans-IO and zero-copy.
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
