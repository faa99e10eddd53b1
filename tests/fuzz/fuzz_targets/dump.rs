//! netifd dump bytes -> members, routes and group plans, both families.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ecmp::fuzz::dump_and_select(data));
