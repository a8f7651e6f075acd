//! `cargo run --example gen-manifests -- --objects N --seed S > stream.yaml`
//! Writes a realistic, deterministic manifest stream (see benches/generate.rs).

#[path = "../benches/generate.rs"]
mod generate;

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let text = generate::manifests(value("--objects", 1000) as usize, value("--seed", 1));
    // A closed pipe is not worth a panic.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
