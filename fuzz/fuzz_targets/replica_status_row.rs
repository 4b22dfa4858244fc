#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| arbor_fuzz::replica_status_row(data));
