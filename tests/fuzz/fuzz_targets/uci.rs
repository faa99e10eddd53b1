//! `uci -q show` text -> config for both families; quoting round trip.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ecmp::fuzz::uci_show(data));
