#![no_main]
//! libFuzzer entry of the `pack_header` target; its body is reprise_fuzz_targets::pack_header.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = reprise_fuzz_targets::pack_header(data);
});
