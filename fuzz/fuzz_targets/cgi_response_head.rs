#![no_main]
//! Fuzz target: see `fuzz_checks::cgi_response_head` for the properties it checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::cgi_response_head(data));
