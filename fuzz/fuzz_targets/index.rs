#![no_main]
//! libFuzzer entry of the `index` target; its body is reprise_fuzz_targets::index.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = reprise_fuzz_targets::index(data);
});
