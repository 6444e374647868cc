#!/usr/bin/env bash
# Lint stage: rustfmt, clippy with warnings as errors, shellcheck on every shell script.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$OXICAM_ROOT"
install_build_deps
apt_install shellcheck

log "cargo fmt --check"
cargo fmt --all --check
log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
log "shellcheck"
mapfile -t scripts < <(git ls-files -co --exclude-standard '*.sh' .ci/run | sort -u)
shellcheck -x "${scripts[@]}"
