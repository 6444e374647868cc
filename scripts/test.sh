#!/usr/bin/env bash
# The test command named in README.md: installs what is missing, then runs every test suite.
# Used as is by .ci/run; safe to run again (installs are idempotent).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$OXICAM_ROOT"

install_test_deps
for extra in "$OXICAM_ROOT"/scripts/test.d/*.sh; do
  [ -e "$extra" ] || continue
  log "pre-test hook $(basename "$extra")"
  bash "$extra" prepare
done

log "cargo tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  cargo test --workspace --locked --doc
else
  cargo test --workspace --locked
fi

for extra in "$OXICAM_ROOT"/scripts/test.d/*.sh; do
  [ -e "$extra" ] || continue
  log "test suite $(basename "$extra")"
  bash "$extra" run
done
