//! The parse-only baseline on the command line: reads a file into YAML trees with meterguard's
//! parser and nothing else, so `/usr/bin/time` can compare it with `meterguard check` (docs/performance.md).

// The allocator meterguard's binary uses, so that the baseline differs from `check` by the analysis only.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: parse-only FILE");
        std::process::exit(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(2);
        }
    };
    let parsed = meterguard::input::yaml::parse_stream(&text);
    println!("{} documents", parsed.documents.len());
    // Left to the system at exit, as `meterguard check` leaves its trees: freeing them node by
    // node is no part of reading, and timing it here only in the baseline would flatter the ratio.
    std::mem::forget((parsed, text));
}
