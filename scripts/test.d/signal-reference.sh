#!/usr/bin/env bash
# Regenerates the numpy/scipy reference outputs the oxicam-signal tests compare against, in a
# throwaway venv, and fails if they differ from the committed fixture beyond tolerance.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../lib.sh"
cd "$OXICAM_ROOT"

FIXTURE=crates/oxicam-signal/tests/fixtures/scipy_reference.json
VENV="$OXICAM_ROOT/target/venv-signal-reference"

case "${1:-run}" in
  prepare) ;;
  run)
    apt_install python3 python3-venv
    python_venv "$VENV" scripts/reference/requirements.txt
    fresh="$(mktemp --suffix=.json)"
    trap 'rm -f "$fresh"' EXIT
    "$VENV/bin/python" scripts/reference/signal_reference.py "$fresh"
    "$VENV/bin/python" scripts/reference/signal_reference.py --check "$fresh" "$FIXTURE" \
      || die "scipy reference outputs changed: regenerate $FIXTURE and re-run the oxicam-signal tests"
    log "scipy reference outputs match $FIXTURE"
    ;;
  *) die "usage: $0 prepare|run" ;;
esac
