#![no_main]
//! libFuzzer entry of the `server_config` target; its body is reprise_fuzz_targets::server_config.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = reprise_fuzz_targets::server_config(data);
});
