#!/usr/bin/env bash
# Blue/green release: deploy/bluegreen/release.sh TARGET IMAGE COLOR
#   TARGET  haproxy (local: HAProxy + Docker on loopback) | kubectl (the k8s `plain` overlay)
#   IMAGE   the image to release, e.g. registry.example/oxicam:<sha>
#   COLOR   blue | green: the idle colour the release goes into
# Runs the procedure of lib.sh (deploy, ready, smoke, switch, verify, keep the old colour);
# exits non-zero with the failed gate named when the new build must not get traffic.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/lib.sh
source "$here/../../scripts/lib.sh"
# shellcheck source=deploy/bluegreen/lib.sh
source "$here/lib.sh"

[ "$#" -eq 3 ] || die "usage: $0 TARGET IMAGE COLOR   (TARGET: haproxy|kubectl, COLOR: blue|green)"
bg_release "$1" "$2" "$3"
