#!/usr/bin/env bash
# `oxicam smoke` inside the cluster as a Job that meets the namespace's restricted Pod
# Security Standard (a bare `kubectl create job` pod would be rejected there):
#   deploy/bluegreen/k8s-smoke.sh IMAGE URL COLOR [TIMEOUT_S]
# e.g. after a release: k8s-smoke.sh REGISTRY/oxicam:SHA http://oxicam.oxicam.svc.cluster.local:8000 green
# Namespace/context from BG_K8S_NAMESPACE / BG_K8S_CONTEXT as for the kubectl target.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/lib.sh
source "$here/../../scripts/lib.sh"
# shellcheck source=deploy/bluegreen/drivers/kubectl.sh
source "$here/drivers/kubectl.sh"

[ "$#" -eq 3 ] || [ "$#" -eq 4 ] || die "usage: $0 IMAGE URL COLOR [TIMEOUT_S]"
k8s_smoke_job "oxicam-smoke-$(date +%s)" "$1" "$2" "$3" "${4:-180}" ||
  die "oxicam smoke against $2 (expecting $3) failed"
log "oxicam smoke passed against $2 ($3)"
