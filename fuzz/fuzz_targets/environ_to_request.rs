#![no_main]
//! Fuzz target: see `fuzz_checks::environ_to_request` for the properties it checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::environ_to_request(data));
