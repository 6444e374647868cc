#!/usr/bin/env bash
# The serve command named in README.md: installs the build dependencies if missing, then runs
# the service on 0.0.0.0:8000 (override with OXICAM_ADDR) with the embedded model.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$OXICAM_ROOT"
install_build_deps
exec cargo run --release --locked --bin oxicam -- serve "$@"
