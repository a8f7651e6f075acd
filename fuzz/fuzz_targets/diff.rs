//! Two arbitrary renders, old and new: both pipelines, the object matching, the structural
//! comparison, the YAML emitter's line map and every diff output format.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterguard::input::Inputs;

fuzz_target!(|data: &[u8]| {
    // The first NUL byte, if any, separates the old render from the new one.
    let (old, new) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let mut inputs = Inputs::default();
    inputs.add_bytes("old.yaml", old);
    let split = inputs.sources.len();
    inputs.add_bytes("new.yaml", new);
    meterguard_fuzz::diff_all_formats(&inputs, split);
});
