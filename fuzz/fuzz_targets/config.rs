#![no_main]
//! libFuzzer entry of the `config` target; its body is reprise_fuzz_targets::config.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = reprise_fuzz_targets::config(data);
});
