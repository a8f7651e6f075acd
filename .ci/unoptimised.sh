# Sourced by the CI steps that `cargo install` something: cargo-deny (.ci/deny.sh) and the
# pre-commit hook (.ci/pre-commit-test.sh). Each is a whole release build of a crate and its
# dependencies; on a slow 2-core machine the two took more than half of CI's 30 minutes. CI checks
# what they do, not their speed, so they are built unoptimised. Users' installs are unchanged.
export CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_CODEGEN_UNITS=256 \
  CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_DEBUG=false
