#!/usr/bin/env bash
# Seeds each fuzz target's corpus from the test fixtures, so fuzzing starts from real manifests.
set -euo pipefail
cd "$(dirname "$0")"
root=..
mkdir -p corpus/read_documents corpus/diff corpus/quantity corpus/promql_coverage
# Manifests up to 64 KiB (the -max_len run.sh uses).
find "$root/tests/fixtures" "$root/examples" -name '*.yaml' -size -64k -print0 |
  while IFS= read -r -d '' f; do
    cp "$f" "corpus/read_documents/$(sha1sum <"$f" | cut -c1-16)"
  done
# Diff seeds: an old and a new fixture joined by a NUL byte.
for old in "$root"/tests/fixtures/diff/*.yaml; do
  for new in "$root"/tests/fixtures/diff/*.yaml; do
    out="corpus/diff/$(basename "$old" .yaml)--$(basename "$new" .yaml)"
    { cat "$old"; printf '\0'; cat "$new"; } >"$out"
  done
done
for q in 2Gi 1.5Gi 500m 0.1m 129e6 1E-2 +1k -1 .5Ki 9223372036854775807 1e3 100n 12u 3Ei 0; do
  printf '%s' "$q" >"corpus/quantity/$q"
done
# Alert expressions from the fixtures' rule files.
grep -rhoE 'expr: .+' "$root/tests/fixtures" | sed 's/^expr: //' | sort -u | head -400 |
  while IFS= read -r e; do
    printf '%s' "$e" >"corpus/promql_coverage/$(printf '%s' "$e" | sha1sum | cut -c1-16)"
  done
# Inputs that once crashed a target stay in its corpus.
for d in regressions/*/; do
  t=$(basename "$d")
  cp "$d"* "corpus/$t/" 2>/dev/null || true
done
for d in corpus/*; do echo "$d: $(ls "$d" | wc -l) seeds"; done
