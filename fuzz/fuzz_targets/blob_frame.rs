#![no_main]
//! libFuzzer entry of the `blob_frame` target; its body is reprise_fuzz_targets::blob_frame.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = reprise_fuzz_targets::blob_frame(data);
});
