#!/usr/bin/env bash
# cargo deny from Cargo.lock, offline: licenses, duplicate versions (bans) and sources.
# Advisories need the RustSec database from GitHub: scripts/deny-advisories.sh, where it is reachable.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS_DIR=${TOOLS_DIR:-$PWD/.tools}
export PATH="$TOOLS_DIR/bin:$PATH"
if ! command -v cargo-deny >/dev/null 2>&1; then
  source .ci/unoptimised.sh
  cargo install --quiet --locked cargo-deny --version 0.20.2 --root "$TOOLS_DIR"
fi
# Every target's dependencies must be in the local cache for --offline metadata.
cargo fetch --locked --quiet
cargo deny --offline check licenses bans sources
