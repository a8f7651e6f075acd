#!/usr/bin/env bash
# RustSec advisories for Cargo.lock. Needs network access to github.com (the advisory database is a
# git repository), which the CI of this project does not have; run it where GitHub is reachable,
# e.g. as a scheduled GitHub Actions job. Fails on any advisory or yanked crate (deny.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-deny >/dev/null 2>&1 || cargo install --locked cargo-deny --version 0.20.2
cargo deny check advisories
