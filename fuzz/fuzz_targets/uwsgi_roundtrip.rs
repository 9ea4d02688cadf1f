#![no_main]
//! Fuzz target: see `fuzz_checks::uwsgi_roundtrip` for the properties it checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::uwsgi_roundtrip(data));
