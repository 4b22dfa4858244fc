#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| arbor_fuzz::simfleet_protocol(data));
