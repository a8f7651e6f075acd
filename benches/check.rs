//! `cargo bench`: check time against the parse-only baseline (the same bytes read into YAML trees
//! with the same parser), at 1k, 10k and 100k generated objects, on the real renders, and for a diff
//! of two 10k-object renders. `METERGUARD_BENCH_SIZES=1000,10000` narrows the sizes.

mod generate;

use std::hint::black_box;

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

fn parse_only(text: &str) -> usize {
    meterguard::input::yaml::parse_stream(text).documents.len()
}

fn check_all(text: &str) -> usize {
    // As `meterguard check --format json` reads its inputs: bodies nothing reads are dropped as
    // they are parsed, and the text once parsed (no snippets to show).
    let mut inputs =
        Inputs { prune: Some(meterguard::model::prune::unread_bodies), release_text: true, ..Inputs::default() };
    inputs.add_bytes("bench.yaml", text.as_bytes());
    check::run(&inputs, &Options::default()).findings.len()
}

fn bench_generated(c: &mut Criterion) {
    let mut group = c.benchmark_group("generated");
    group.sample_size(10);
    for n in sizes() {
        let text = generate::manifests(n, 1);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::new("parse-only", n), &text, |b, t| b.iter(|| black_box(parse_only(t))));
        group.bench_with_input(BenchmarkId::new("check", n), &text, |b, t| b.iter(|| black_box(check_all(t))));
    }
    group.finish();
}

fn bench_corpus(c: &mut Criterion) {
    let mut group = c.benchmark_group("corpus");
    for name in ["kubecost-2.3.3-default.yaml", "kps-default.yaml", "prometheus-default.yaml"] {
        let path = format!("{}/tests/fixtures/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::new("parse-only", name), &text, |b, t| b.iter(|| black_box(parse_only(t))));
        group.bench_with_input(BenchmarkId::new("check", name), &text, |b, t| b.iter(|| black_box(check_all(t))));
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
