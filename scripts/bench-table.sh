#!/usr/bin/env bash
# Prints size, time and peak memory of `meterguard check` on generated streams (docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --example gen-manifests
cargo build --release --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for n in ${SIZES:-1000 10000 100000}; do
  ./target/release/examples/gen-manifests --objects "$n" --seed 1 > "$work/$n.yaml"
  /usr/bin/time -f "$n objects, $(stat -c %s "$work/$n.yaml") bytes: %e s, %M KB peak" \
    ./target/release/meterguard check "$work/$n.yaml" --format json > /dev/null || true
done
