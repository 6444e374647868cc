#!/usr/bin/env bash
# Blue/green retire: deploy/bluegreen/retire.sh TARGET COLOR
#   TARGET  haproxy (drivers that implement drv_drain and drv_retire)
#   COLOR   the idle colour to scale down: it gets no new requests, the ones in flight finish,
#           then it is stopped. Afterwards a rollback to it needs a release again.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/lib.sh
source "$here/../../scripts/lib.sh"
# shellcheck source=deploy/bluegreen/lib.sh
source "$here/lib.sh"

[ "$#" -eq 2 ] || die "usage: $0 TARGET COLOR"
bg_retire "$1" "$2"
