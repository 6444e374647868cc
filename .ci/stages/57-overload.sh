#!/usr/bin/env bash
# Overload stage: the image pulled back in stage 50 under 2x and 4x its capacity of real uploads
# (bench/overload.sh): only 200 and 503 with Retry-After, no timeouts, RSS bounded, full recovery,
# no upload left behind. 30 s per load factor here; the figures in README.md are from 60 s runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
OXICAM_OVERLOAD_SECONDS="${OXICAM_OVERLOAD_SECONDS:-30}" bash bench/overload.sh
