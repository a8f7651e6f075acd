#!/usr/bin/env bash
# Installs meterguard for the Action: a published version from crates.io, or this action's source.
set -euo pipefail
root=${MG_ROOT:?}
if [ -n "${MG_VERSION:-}" ]; then
  cargo install --locked --root "$root" meterguard --version "$MG_VERSION"
elif [ ! -x "$root/bin/meterguard" ]; then
  # Built once and cached, then run on every pull request: the `dist` profile (Cargo.toml).
  cargo install --locked --profile dist --root "$root" --path "${MG_SOURCE:?}"
fi
echo "$root/bin" >> "${GITHUB_PATH:?}"
"$root/bin/meterguard" --version
