//! ubusd's answer (a blobmsg table) -> value -> typed dump -> members.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ecmp::fuzz::blobmsg(data));
