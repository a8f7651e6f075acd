#!/usr/bin/env bash
# Compares meterguard's reading of every input a fuzzer kept (its corpus, default yaml_roundtrip's,
# and its crashes) with Kubernetes' reader (tests/oracle/k8syaml), and lists the differences. Add
# an input that shows a new difference to fuzz/regressions/yaml_roundtrip once it is fixed, or to
# the classes of docs/yaml.md if it stays. Needs golang-go and golang-k8s-sigs-yaml-dev.
set -euo pipefail
cd "$(dirname "$0")"
target=${1:-yaml_roundtrip}
kept=$(mktemp -d)
trap 'rm -rf "$kept"' EXIT
cp corpus/"$target"/* "$kept"/ 2>/dev/null || true
cp artifacts/"$target"/* "$kept"/ 2>/dev/null || true
echo "$(ls "$kept" | wc -l) inputs kept for $target"
cd ..
MG_ORACLE_INPUTS="$kept" cargo test --quiet --test yaml_oracle inputs_kept_for_the_fuzzer -- --nocapture
