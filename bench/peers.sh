#!/usr/bin/env bash
# Heart rate side by side on both shared sets: oxicam vs HeartPy, NeuroKit2 and a plain FFT on
# exactly the windows `oxicam eval` scores (UW: 10 s, hop 5 s, oximeter pulse +7 s; Welltory:
# 10 s, hop 2 s, ECG RR). The peers' channel and polarity are chosen on training folds.
# Prints one table (--markdown: as in README). Usage: bench/peers.sh [--markdown]
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"
cd "$OXICAM_ROOT"

DATA="${OXICAM_SHARED_DATA:-$OXICAM_ROOT/../shared/data}"
UW="$DATA/uw-phone-oximetry"
WELLTORY="$DATA/welltory-ppg"
if [ ! -d "$UW/ppg" ] || [ ! -d "$WELLTORY/data" ]; then
  die "shared data missing under $DATA (set OXICAM_SHARED_DATA)"
fi
OUT="$OXICAM_ROOT/bench/out/peers"
mkdir -p "$OUT"

install_build_deps
apt_install python3 python3-venv
log "building oxicam (release)"
cargo build --release --locked -p oxicam
python_venv "$OXICAM_ROOT/bench/out/venv-peers" "$OXICAM_ROOT/bench/peers-requirements.txt"

log "oxicam eval on both sets (windows -> $OUT/windows.csv)"
"$OXICAM_ROOT/target/release/oxicam" eval --data "$UW" --welltory "$WELLTORY" \
  --windows-csv "$OUT/windows.csv" >"$OUT/eval.txt"
log "HeartPy, NeuroKit2, plain FFT on the same windows"
"$OXICAM_ROOT/bench/out/venv-peers/bin/python" "$OXICAM_ROOT/bench/peers.py" \
  --windows "$OUT/windows.csv" --uw "$UW" --welltory "$WELLTORY" "$@"
