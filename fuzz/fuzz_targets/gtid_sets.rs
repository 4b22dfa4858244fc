#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| arbor_fuzz::gtid_sets(data));
