//! Arbitrary bytes as a manifest file: decoding, `---` splitting, the YAML tree, the model, every rule.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterguard::input::Inputs;

fuzz_target!(|data: &[u8]| {
    let mut inputs = Inputs::default();
    inputs.add_bytes("fuzz.yaml", data);
    meterguard_fuzz::check_all_formats(&inputs);
});
