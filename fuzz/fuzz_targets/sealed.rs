#![no_main]
//! libFuzzer entry of the `sealed` target; its body is reprise_fuzz_targets::sealed.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = reprise_fuzz_targets::sealed(data);
});
