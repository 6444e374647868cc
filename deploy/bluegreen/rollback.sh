#!/usr/bin/env bash
# Blue/green rollback: deploy/bluegreen/rollback.sh TARGET [COLOR]
#   TARGET  haproxy | kubectl (see release.sh)
#   COLOR   the colour to make live again; default: the idle one (the previous release)
# Instant: the old colour is still running; the gate is that it is ready, then switch + verify.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/lib.sh
source "$here/../../scripts/lib.sh"
# shellcheck source=deploy/bluegreen/lib.sh
source "$here/lib.sh"

[ "$#" -eq 1 ] || [ "$#" -eq 2 ] || die "usage: $0 TARGET [COLOR]"
bg_rollback "$1" "${2:-}"
