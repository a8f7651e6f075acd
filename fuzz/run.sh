#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 1800), one after another, on one core, with
# overflow checks on (-a) and no sanitizer (-s none: the crate has no unsafe code; 3x the runs).
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Logs go to logs/.
set -uo pipefail
cd "$(dirname "$0")"
seconds=${1:-1800}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(read_documents quantity promql_coverage diff scrape_discovery masking yaml_roundtrip)
./seed.sh
mkdir -p logs
for t in "${targets[@]}"; do
  cargo +nightly fuzz run -O -a -s none "$t" "corpus/$t" -- -max_total_time="$seconds" -max_len=65536 \
    -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 >"logs/$t.log" 2>&1
  echo "$t: exit $? ($(grep -E '^stat::number_of_executed_units' "logs/$t.log" | awk '{print $2}') runs)"
done
