#![no_main]
//! libFuzzer entry of the `key_file` target; its body is reprise_fuzz_targets::key_file.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = reprise_fuzz_targets::key_file(data);
});
