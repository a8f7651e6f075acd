#!/usr/bin/env bash
# Runs the pre-commit hook the way users do: pre-commit (from PyPI) in a virtual environment,
# `pre-commit try-repo` against this repository, in a throwaway git repository holding a bad and a
# good manifest in directories of their own (the hook judges a changed file's whole directory),
# and the incident render kept one object per file. The bad one must fail with meterguard's
# message, the good one must pass, and the incident's Prometheus Deployment, the only file passed,
# must fail with the sizing error.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
tools=${TOOLS_DIR:-$repo/.tools}
if [ ! -x "$tools/venv/bin/pre-commit" ]; then
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install -q pre-commit
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
git init -q
git config user.email ci@example.com
git config user.name ci
mkdir bad good incident
cp "$repo/tests/fixtures/rules/sizing-bad.yaml" bad/bad.yaml
cat > good/good.yaml <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    spec:
      containers:
        - name: web
          image: nginx:1.27
YAML
printf 'name: not a manifest\non: push\n' > good/workflow.yaml
awk -v dir=incident 'BEGIN { n = 0; f = sprintf("%s/object-%03d.yaml", dir, n) }
  /^---$/ { n++; f = sprintf("%s/object-%03d.yaml", dir, n); next } { print > f }' \
  "$repo/examples/incident/incident.yaml"
prometheus=$(grep -l '^  name: kubecost-prometheus-server$' incident/*.yaml | xargs grep -l '^kind: Deployment' | head -1)
git add . && git commit -qm fixtures
export PRE_COMMIT_HOME="$tools/pre-commit-cache"
# pre-commit builds the hook with `cargo install`.
source "$repo/.ci/unoptimised.sh"
set +e
"$tools/venv/bin/pre-commit" try-repo "$repo" meterguard --files bad/bad.yaml > bad.log 2>&1
bad=$?
"$tools/venv/bin/pre-commit" try-repo "$repo" meterguard --files good/good.yaml good/workflow.yaml > good.log 2>&1
good=$?
"$tools/venv/bin/pre-commit" try-repo "$repo" meterguard --files "$prometheus" > incident.log 2>&1
incident=$?
set -e
if [ "$bad" -eq 0 ] || ! grep -q "sizing/memory-below-floor" bad.log; then
  echo "pre-commit: the bad manifest should fail with meterguard's finding"; cat bad.log; exit 1
fi
if [ "$good" -ne 0 ]; then
  echo "pre-commit: the good manifest should pass"; cat good.log; exit 1
fi
if [ "$incident" -eq 0 ] || ! grep -q "sizing/memory-below-floor" incident.log; then
  echo "pre-commit: the incident's Prometheus, changed alone, should fail with the sizing error"; cat incident.log; exit 1
fi
echo "pre-commit: bad manifest failed with meterguard's message, good manifest passed, the incident's Prometheus failed"
