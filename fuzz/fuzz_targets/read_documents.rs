//! Arbitrary bytes as a manifest file: decoding, `---` splitting, the YAML tree, pruning, the model,
//! every rule; and the typed model's deserializer against the JSON path (`input/de.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterguard::input::Inputs;

fuzz_target!(|data: &[u8]| {
    // Half the inputs as a plain check reads them, pruned while parsing (`model::prune`).
    let prune = (data.len() % 2 == 1).then_some(meterguard::model::prune::unread_bodies as fn(&mut _));
    let mut inputs = Inputs { prune, ..Inputs::default() };
    inputs.add_bytes("fuzz.yaml", data);
    inputs.documents.iter().for_each(|d| meterguard_fuzz::typed_reading_agrees(&d.root));
    meterguard_fuzz::check_all_formats(&mut inputs);
});
