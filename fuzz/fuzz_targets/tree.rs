#![no_main]
//! libFuzzer entry of the `tree` target; its body is reprise_fuzz_targets::tree.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = reprise_fuzz_targets::tree(data);
});
