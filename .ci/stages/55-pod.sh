#!/usr/bin/env bash
# Pod stage: the plain overlay's pod on a real container runtime. There is no cluster here, so
# deploy/k8s/run_pod.py derives the `docker run` flags from the rendered manifests (user, groups,
# read-only root, capabilities, no-new-privileges, seccomp, emptyDir volumes, env from the
# ConfigMap, limits, ports) and runs the pod's container from the image pulled back from the
# registry in stage 50; it then checks the running process in /proc, the probes, a real
# POST /run with a rendered clip, the upload volume left empty and a clean stop. Negative
# controls: a pod spec asking for uid 0 under runAsNonRoot is refused, and one with a writable
# root filesystem fails the read-only check.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../../scripts/lib.sh"
source "$OXICAM_ROOT/scripts/docker-lib.sh"
cd "$OXICAM_ROOT"
ensure_dockerd
apt_install python3-yaml curl

[ -s "$CI_STATE/pulled-image-ref" ] || die "no pulled image: run .ci/stages/50-registry.sh first"
image="$(cat "$CI_STATE/pulled-image-ref")"
image_exists "$image" || die "$image is not present locally: run .ci/stages/50-registry.sh again"
command -v kubectl >/dev/null || die "kubectl is needed to render deploy/k8s/overlays/plain"
out="$CI_STATE/pod"
rm -rf "$out"
mkdir -p "$out/clip"
kubectl kustomize deploy/k8s/overlays/plain >"$out/plain.yaml"
deployment=oxicam-blue

# The clip: the embedded real trace (64.9 bpm) as `oxicam smoke` uploads it (the image's FFmpeg
# decodes only, so the clip is the one shipped in the repository).
cp crates/oxicam/assets/smoke-clip.mp4 "$out/clip/clip.mp4"

log "pod $deployment of the plain overlay on Docker, image $image"
python3 deploy/k8s/run_pod.py "$out/plain.yaml" --deployment "$deployment" --image "$image" \
  --name "oxicam-ci-pod-$$" --clip "$out/clip/clip.mp4" --expect-bpm 64.9 | tee "$out/checks.txt"

log "negative controls"
sed 's/runAsUser: 10001/runAsUser: 0/' "$out/plain.yaml" >"$out/root.yaml"
if python3 deploy/k8s/run_pod.py "$out/root.yaml" --deployment "$deployment" --image "$image" --print-args >/dev/null 2>&1; then
  die "run_pod.py translated a runAsNonRoot pod running as uid 0: the kubelet would refuse it"
fi
sed 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/' "$out/plain.yaml" >"$out/writable.yaml"
if python3 deploy/k8s/run_pod.py "$out/writable.yaml" --deployment "$deployment" --image "$image" \
  --name "oxicam-ci-pod-writable-$$" >"$out/writable.txt" 2>&1; then
  cat "$out/writable.txt" >&2
  die "the pod checks passed a pod with a writable root filesystem"
fi
grep -q '^FAIL  read-only root' "$out/writable.txt" || {
  cat "$out/writable.txt" >&2
  die "the writable-root control failed, but not on the read-only check"
}
log "pod checks passed: $(grep -c '^ok' "$out/checks.txt") checks; both controls rejected"
