#![no_main]
//! libFuzzer entry of the `mark` target; its body is reprise_fuzz_targets::mark.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = reprise_fuzz_targets::mark(data);
});
