#!/usr/bin/env bash
# The balancer's own counters: deploy/bluegreen/counters.sh TARGET
# Prints `NAME VALUE` lines (retries, redispatches, errors per entry point, sessions per colour)
# from drivers that implement drv_counters; loadgen.py --counters-cmd diffs them over a phase.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/lib.sh
source "$here/../../scripts/lib.sh"
# shellcheck source=deploy/bluegreen/lib.sh
source "$here/lib.sh"

[ "$#" -eq 1 ] || die "usage: $0 TARGET"
bg_load_driver "$1"
declare -F drv_counters >/dev/null || die "driver $1 has no counters (no drv_counters)"
drv_counters
