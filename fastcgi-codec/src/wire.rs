//! Wire-level pieces, for code that reads or writes FastCGI bytes itself (fuzzers,
//! benchmarks, proxies): record layout constants, name-value pair lengths, the raw pair
//! writers and readers, and the PARAMS encoders the connections use.
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use fastcgi_codec::wire::{decode_pairs, read_pair_header, write_pair};
//!
//! let mut pair = BytesMut::new();
//! write_pair(b"REQUEST_METHOD", b"GET", &mut pair).unwrap();
//! assert_eq!(read_pair_header(&pair), Some((14, 3, 2)));
//! let pairs = decode_pairs(&pair.freeze()).unwrap();
//! assert_eq!(pairs, vec![(Bytes::from_static(b"REQUEST_METHOD"), Bytes::from_static(b"GET"))]);
//! ```

pub use crate::encoder::CHAIN_THRESHOLD;
pub use crate::params::{
    FCGI_MAX_CONNS, FCGI_MAX_REQS, FCGI_MPXS_CONNS, MAX_PAIR_FIELD_LEN, decode_pairs,
    encode_params, encode_params_into, get_values_query, read_length, read_pair_header,
    write_length, write_pair,
};
pub use crate::record::{
    FIXED_BODY_LEN, FLAG_KEEP_CONN, HEADER_LEN, MAX_CONTENT_LEN, MAX_PADDED_CONTENT_LEN, VERSION_1,
};
