#![no_main]
//! Fuzz target: see `fuzz_checks::fastcgi_exchange` for the properties it checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::fastcgi_exchange(data));
