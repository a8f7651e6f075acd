#!/usr/bin/env bash
# Runs the pre-commit hook the way users do: pre-commit (from PyPI) in a virtual environment,
# `pre-commit try-repo` against this repository, in a throwaway git repository holding a bad and a
# good manifest. The bad one must fail with meterguard's message; the good one must pass.
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
cp "$repo/tests/fixtures/rules/sizing-bad.yaml" bad.yaml
cat > good.yaml <<'YAML'
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
printf 'name: not a manifest\non: push\n' > workflow.yaml
git add . && git commit -qm fixtures
export PRE_COMMIT_HOME="$tools/pre-commit-cache"
# pre-commit builds the hook with `cargo install`.
source "$repo/.ci/unoptimised.sh"
set +e
"$tools/venv/bin/pre-commit" try-repo "$repo" meterguard --files bad.yaml > bad.log 2>&1
bad=$?
"$tools/venv/bin/pre-commit" try-repo "$repo" meterguard --files good.yaml workflow.yaml > good.log 2>&1
good=$?
set -e
if [ "$bad" -eq 0 ] || ! grep -q "sizing/memory-below-floor" bad.log; then
  echo "pre-commit: the bad manifest should fail with meterguard's finding"; cat bad.log; exit 1
fi
if [ "$good" -ne 0 ]; then
  echo "pre-commit: the good manifest should pass"; cat good.log; exit 1
fi
echo "pre-commit: bad manifest failed with meterguard's message, good manifest passed"
