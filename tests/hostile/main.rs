//! Hostile and broken input, through the real binary: every case asserts the exit status, the
//! rule, the message and the location, and that the rest of the input was still analyzed.

#[path = "../common/mod.rs"]
mod common;

mod documents;
mod files;
mod guarantees;
mod untrusted;
mod values;

use std::path::Path;
use std::process::Output;

pub use common::*;

/// A JSON check of one file written into `dir`.
pub fn check_text(dir: &Path, name: &str, text: &[u8]) -> (i32, serde_json::Value) {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("temp file written");
    check_json(&path.to_string_lossy())
}

/// The one finding of `rule`, asserted to be at `line:col` with `message` in its text.
pub fn assert_at(v: &serde_json::Value, rule: &str, line: u64, col: u64, message: &str) {
    let found = findings(v, rule);
    assert!(
        found.iter().any(|f| f["line"] == line
            && f["column"] == col
            && f["message"].as_str().unwrap_or_default().contains(message)),
        "no {rule} at {line}:{col} with {message:?}; findings: {:#}",
        v["findings"]
    );
}

pub fn objects(v: &serde_json::Value) -> u64 {
    v["summary"]["objects"].as_u64().expect("summary.objects")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A valid object appended after a hostile document: it must still be analyzed.
pub const GOOD: &str = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: still-checked}\n";
