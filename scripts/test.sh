#!/usr/bin/env bash
# The whole test suite. CI runs exactly this (through .ci/run); run it
# yourself before you push. It installs what it needs first (scripts/setup.sh).
#
#   scripts/test.sh
#
# Steps: formatting, clippy, cfn-lint and checkov on both templates, then
# every cargo test (unit tests, and the integration tests that run the real
# binary against moto's server), then the local demo.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "setup"
scripts/setup.sh

# One target directory for every clone on this machine, so a fresh clone
# (as in CI) reuses the compiled dependencies.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/git2s3/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# CI builds each commit once: incremental caches would only fill the disk.
[ "${CI:-}" != true ] || export CARGO_INCREMENTAL=0

# Every change leaves new artifacts in the shared target directory. Past
# 20 GiB, or with less than 10 GiB free, drop the incremental caches and
# whatever no build touched for two days (cargo rebuilds what it needs).
prune_target() {
  local dir=$CARGO_TARGET_DIR used_kb free_kb
  [ -d "$dir" ] || return 0
  used_kb=$(du -sk "$dir" | cut -f1)
  free_kb=$(df -Pk "$dir" | awk 'NR == 2 { print $4 }')
  if [ "$used_kb" -gt $((20 * 1024 * 1024)) ] || [ "$free_kb" -lt $((10 * 1024 * 1024)) ]; then
    echo "pruning $dir: $((used_kb / 1024 / 1024)) GiB, $((free_kb / 1024 / 1024)) GiB free"
    rm -rf "$dir/debug/incremental" "$dir/release/incremental"
    find "$dir" -type f -mtime +2 -delete
  fi
}
step "prune stale build artifacts"
prune_target

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cfn-lint (0 errors, 0 warnings)"
.venv/bin/cfn-lint templates/git2s3.yaml templates/pipeline.yaml

step "checkov (0 failed checks; skips are named in the templates)"
.venv/bin/checkov --skip-download --quiet --compact --framework cloudformation \
  -f templates/git2s3.yaml -f templates/pipeline.yaml

step "cargo test"
cargo test --workspace --locked

# The README's first command, with the binaries cargo test just built.
step "scripts/demo.sh (the README's first command)"
GIT2S3_BIN="$CARGO_TARGET_DIR/debug/git2s3" scripts/demo.sh
