//! Arbitrary text, with `@@` standing for a canary, through the check and the diff in every format,
//! each through the report guard as the command writes it: the masker (`input/secrets.rs`), the
//! structural snippet masks and the guard together. Two properties:
//! - a canary that is a Secret's data value, or the value of a credential-named key, is found
//!   secret (a reference reading of the tree, independent of the masker's);
//! - no text the input step found secret is in any output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterguard::input::Inputs;
use meterguard::input::node::Node;

const CANARY: &str = "cAnArY-f00d";

/// The reference: scalars under `data`/`stringData` of a mapping whose `kind` is Secret, at the top
/// of a document or among a List's items, and values of credential-named keys anywhere.
fn must_be_secret(n: &Node, found: &mut bool) {
    if let Some(entries) = n.as_map() {
        let secret = entries.iter().any(|e| e.key.text() == "kind" && e.value.as_str().is_some_and(|k| k == "Secret"));
        for e in entries {
            let under_data = secret && matches!(e.key.text(), "data" | "stringData");
            let credential = meterguard::input::redact::is_credential_key(e.key.text())
                && !e.key.text().ends_with("Secret");
            // A credential key's mapping is a reference (`password: {name: s, key: k}`), not a value.
            if (under_data && holds_canary(&e.value)) || (credential && e.value.as_str() == Some(CANARY)) {
                *found = true;
            }
            must_be_secret(&e.value, found);
        }
    } else if let Some(items) = n.as_seq() {
        items.iter().for_each(|i| must_be_secret(i, found));
    }
}

fn holds_canary(n: &Node) -> bool {
    match (n.as_str(), n.as_map(), n.as_seq()) {
        (Some(s), _, _) => s == CANARY,
        (_, Some(m), _) => m.iter().any(|e| holds_canary(&e.value)),
        (_, _, Some(s)) => s.iter().any(holds_canary),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).replace("@@", CANARY);
    let mut inputs = Inputs::default();
    inputs.add_bytes("fuzz.yaml", text.as_bytes());
    let mut required = false;
    inputs.documents.iter().for_each(|d| must_be_secret(&d.root, &mut required));
    if required {
        assert!(inputs.secret_values.iter().any(|v| v == CANARY), "the canary is a Secret's value: {text:?}");
    }
    let pieces: Vec<String> = inputs
        .secret_values
        .iter()
        .flat_map(|v| v.split(['\n', '\r']).map(str::trim).map(str::to_owned).collect::<Vec<_>>())
        .filter(|p| {
            p.chars().count() >= meterguard::report::guard::MIN_SECRET_CHARS && p.chars().any(char::is_alphanumeric)
        })
        .collect();
    let mut both = Inputs::default();
    both.add_bytes("old.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: old}\n");
    both.add_bytes("fuzz.yaml", text.as_bytes());
    for out in meterguard_fuzz::guarded_outputs(&mut inputs, &both) {
        for p in &pieces {
            assert!(!out.contains(p.as_str()), "secret {p:?} printed:\n{out}");
        }
    }
});
