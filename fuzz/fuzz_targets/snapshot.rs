#![no_main]
//! libFuzzer entry of the `snapshot` target; its body is reprise_fuzz_targets::snapshot.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = reprise_fuzz_targets::snapshot(data);
});
