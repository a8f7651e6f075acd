#!/usr/bin/env bash
# Prints the table of docs/performance.md: for generated streams of N objects, the input size, the
# parse-only baseline (the same bytes into YAML trees with the same parser), `meterguard check`, their
# ratio and peak memory; then a diff of two 10k renders and start-up. Release builds; each figure is
# the median of RUNS runs (default 5) of `/usr/bin/time` (time and peak memory each), the parse-only
# and check runs interleaved so that a busy moment of the machine hits both; `cargo bench` gives
# criterion's view.
# SIZES="1000 10000" narrows the sizes; BIN=path/to/meterguard measures another build.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --examples
cargo build --release --quiet
bin=${BIN:-./target/release/meterguard}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
runs=${RUNS:-5}
once() { # appends "seconds peak-KiB" of one run of a command to file $1, output discarded
  local out=$1
  shift
  /usr/bin/time -f "%e %M" -o "$work/t" "$@" >/dev/null 2>&1 || true
  tail -n 1 "$work/t" >>"$out" # after "Command exited with non-zero status", when there is one
}
median() { # "seconds peak-KiB": the median time and, apart, the median peak (a run's peak depends
  # on when the allocator gives freed pages back, so the run of median time may have an outlying peak)
  echo "$(cut -d' ' -f1 "$1" | sort -n | sed -n "$(((runs + 1) / 2))p") $(cut -d' ' -f2 "$1" | sort -n | sed -n "$(((runs + 1) / 2))p")"
}
measure() { # median of RUNS runs of one command
  : >"$work/m"
  for _ in $(seq "$runs"); do once "$work/m" "$@"; done
  median "$work/m"
}
echo "| objects | bytes | parse-only | check | check / parse | peak memory | memory / input |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
for n in ${SIZES:-1000 10000 30000 100000}; do
  f="$work/$n.yaml"
  ./target/release/examples/gen-manifests --objects "$n" --seed 1 >"$f"
  bytes=$(stat -c %s "$f")
  : >"$work/p"
  : >"$work/c"
  for _ in $(seq "$runs"); do
    once "$work/p" ./target/release/examples/parse-only "$f"
    once "$work/c" "$bin" check --format json "$f"
  done
  read -r pt _ < <(median "$work/p")
  read -r ct cm < <(median "$work/c")
  awk -v n="$n" -v b="$bytes" -v pt="$pt" -v ct="$ct" -v cm="$cm" 'BEGIN {
    printf "| %d | %d | %.2f s | %.2f s | %.1fx | %d MiB | %.1fx |\n", n, b, pt, ct, ct / pt, cm / 1024, cm * 1024 / b }'
done
f="$work/old.yaml"
./target/release/examples/gen-manifests --objects 10000 --seed 1 >"$f"
sed -e 's/memory: 2Gi/memory: 3Gi/g' -e 's/limits: {memory: 128Mi}/limits: {memory: 96Mi}/g' "$f" >"$work/new.yaml"
bytes=$(( $(stat -c %s "$f") + $(stat -c %s "$work/new.yaml") ))
read -r dt dm < <(measure "$bin" diff --format json "$f" "$work/new.yaml")
awk -v b="$bytes" -v dt="$dt" -v dm="$dm" 'BEGIN {
  printf "\ndiff of two 10k renders (%d bytes): %.2f s, %d MiB peak (%.1fx the inputs)\n", b, dt, dm / 1024, dm * 1024 / b }'
read -r st sm < <(measure "$bin" check tests/fixtures/rules/sizing-good.yaml)
echo "one-file check: ${st} s, $((sm / 1024)) MiB"
