//! `cargo bench`: check time against the parse-only baseline (the same bytes read into YAML trees
//! with the same parser), at 1k, 10k and 100k generated objects, on the real renders, and for a diff
//! of two 10k-object renders. `METERGUARD_BENCH_SIZES=1000,10000` narrows the sizes.

mod generate;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use meterguard::check::{self, Options};
use meterguard::input::Inputs;

// As the binary (src/main.rs), so that the numbers are the command's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn sizes() -> Vec<usize> {
    std::env::var("METERGUARD_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000])
}

/// The parse-only baseline: the text read into YAML trees, timed without freeing them.
fn parse_only(text: &str) -> Duration {
    let start = Instant::now();
    let parsed = meterguard::input::yaml::parse_stream(text);
    black_box(parsed.documents.len());
    let took = start.elapsed();
    drop(parsed);
    took
}

/// `meterguard check --format json` of `text` as the command runs it: bodies nothing reads are
/// dropped as they are parsed, and the text once parsed (no snippets to show); the JSON report is
/// written. The results are freed after the clock stops: the command leaves them to the system at
/// exit (`cli::leave`), and the baseline's trees are not freed on its clock either. The bytes are
/// handed over as the command hands over the file it read, copied before the clock starts: the
/// baseline reads the same text without a copy.
fn check_all(text: &str) -> Duration {
    let bytes = text.as_bytes().to_vec();
    let start = Instant::now();
    let mut inputs =
        Inputs { prune: Some(meterguard::model::prune::unread_bodies), release_text: true, ..Inputs::default() };
    inputs.add_owned("bench.yaml", bytes);
    let (report, analysis) = check::run_keeping(&mut inputs, &Options::default());
    // Into a sink, which cannot fail.
    let _ = meterguard::report::json::write(&report, &mut std::io::sink());
    let took = start.elapsed();
    drop((report, analysis));
    drop(inputs);
    took
}

/// Criterion's iterations of one of the two above.
fn timed(b: &mut criterion::Bencher<'_>, text: &str, run: fn(&str) -> Duration) {
    b.iter_custom(|iters| (0..iters).map(|_| run(text)).sum());
}

fn bench_generated(c: &mut Criterion) {
    let mut group = c.benchmark_group("generated");
    group.sample_size(10);
    for n in sizes() {
        let text = generate::manifests(n, 1);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::new("parse-only", n), &text, |b, t| timed(b, t, parse_only));
        group.bench_with_input(BenchmarkId::new("check", n), &text, |b, t| timed(b, t, check_all));
    }
    group.finish();
}

fn bench_corpus(c: &mut Criterion) {
    let mut group = c.benchmark_group("corpus");
    for name in ["kubecost-2.3.3-default.yaml", "kps-default.yaml", "prometheus-default.yaml"] {
        let path = format!("{}/tests/fixtures/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::new("parse-only", name), &text, |b, t| timed(b, t, parse_only));
        group.bench_with_input(BenchmarkId::new("check", name), &text, |b, t| timed(b, t, check_all));
    }
    group.finish();
}

fn bench_diff(c: &mut Criterion) {
    let mut group = c.benchmark_group("diff");
    group.sample_size(10);
    let old = generate::manifests(10_000, 1);
    // The new render changes memory everywhere, as an upgrade of resource defaults would.
    let new = old.replace("memory: 2Gi", "memory: 3Gi").replace("limits: {memory: 128Mi}", "limits: {memory: 96Mi}");
    group.throughput(Throughput::Bytes((old.len() + new.len()) as u64));
    group.bench_function("10k", |b| {
        b.iter(|| {
            let mut inputs = Inputs::default();
            inputs.add_bytes("old.yaml", old.as_bytes());
            inputs.add_bytes("new.yaml", new.as_bytes());
            black_box(meterguard::diff::run(&inputs, 1, &Options::default()).changes.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_generated, bench_corpus, bench_diff);
criterion_main!(benches);
