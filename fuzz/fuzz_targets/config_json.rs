#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| arbor_fuzz::config_json(data));
