//! The properties every fuzz target checks, as plain functions of the input bytes.
//!
//! `fuzz/fuzz_targets/*.rs` call these under libFuzzer (nightly); `tests/corpus_replay.rs`
//! replays every committed corpus file through them on stable, so the checks run in every
//! test run. A check panics when a property breaks: a decoder panicking on its own, two
//! splits of the same input giving different results, a roundtrip losing data, or memory
//! held past the configured limits.
#![forbid(unsafe_code)]
// Every check panics by design when a property breaks; that is its whole contract.
#![allow(clippy::missing_panics_doc)]

mod cgi;
mod fastcgi;
mod split;
mod uwsgi;

pub use cgi::{cgi_response_head, environ_to_request, same_head_on_both_gateway_sides};
pub use fastcgi::{
    fastcgi_client, fastcgi_exchange, fastcgi_params, fastcgi_params_roundtrip, fastcgi_records,
    fastcgi_server,
};
pub use uwsgi::{uwsgi_packet, uwsgi_request, uwsgi_response, uwsgi_roundtrip, uwsgi_vars};

/// A check: takes the fuzzer's bytes, panics when a property breaks.
pub type Check = fn(&[u8]);

/// Every target, by the name of its `fuzz/fuzz_targets/<name>.rs` and corpus folder.
pub const TARGETS: &[(&str, Check)] = &[
    ("fastcgi_records", fastcgi_records),
    ("fastcgi_params", fastcgi_params),
    ("fastcgi_params_roundtrip", fastcgi_params_roundtrip),
    ("fastcgi_server", fastcgi_server),
    ("fastcgi_client", fastcgi_client),
    ("fastcgi_exchange", fastcgi_exchange),
    ("uwsgi_packet", uwsgi_packet),
    ("uwsgi_vars", uwsgi_vars),
    ("uwsgi_request", uwsgi_request),
    ("uwsgi_response", uwsgi_response),
    ("uwsgi_roundtrip", uwsgi_roundtrip),
    ("cgi_response_head", cgi_response_head),
    ("environ_to_request", environ_to_request),
];
