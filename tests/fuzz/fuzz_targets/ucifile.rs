//! A UCI file -> sections (libuci's algorithm) -> config.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ecmp::fuzz::ucifile(data));
