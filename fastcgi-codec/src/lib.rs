//! FastCGI 1.0 for gateways and applications, sans-IO and zero-copy.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
