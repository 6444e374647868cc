#!/usr/bin/env bash
# Overload check of the image (bench/overload.py): the container runs as the pod does (read-only,
# non-root, /tmp a tmpfs, 1 GiB memory) with 2 analyses in flight and 4 queued; 2x and 4x that
# many clients upload the shipped 25 s smoke clip to POST /run for OXICAM_OVERLOAD_SECONDS (60) each.
#   bench/overload.sh [IMAGE]     default: the image stage 50 pulled back ($CI_STATE/pulled-image-ref)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"
source "$OXICAM_ROOT/scripts/docker-lib.sh"
cd "$OXICAM_ROOT"
ensure_dockerd
apt_install curl python3
image="${1:-$(cat "$CI_STATE/pulled-image-ref" 2>/dev/null || true)}"
if [ -z "$image" ] || ! image_exists "$image"; then die "usage: bench/overload.sh IMAGE (no image given or found)"; fi
seconds="${OXICAM_OVERLOAD_SECONDS:-60}"
concurrency=2
queue=4
work="$CI_STATE/overload"
rm -rf "$work"
mkdir -p "$work"
# The clip `oxicam smoke` uploads (the embedded real trace, 160x120, 25 s): the image's FFmpeg
# decodes only, so it cannot render one.
cp "$OXICAM_ROOT/crates/oxicam/assets/smoke-clip.mp4" "$work/clip.mp4"

cid="$(docker run -d --label oxicam.ci=1 --read-only --cap-drop ALL --security-opt no-new-privileges \
  --tmpfs /tmp:rw,nosuid,nodev,size=1073741824 --memory 1073741824 -p 127.0.0.1::8000 \
  -e OXICAM_CONCURRENCY=$concurrency -e OXICAM_QUEUE=$queue -e OXICAM_RATE_PER_MINUTE=0 \
  -e OXICAM_LOG_FORMAT=json -e RUST_LOG=warn "$image" serve)"
trap 'docker rm -f "$cid" >/dev/null 2>&1 || true' EXIT
port="$(docker port "$cid" 8000/tcp | grep -oE '127\.0\.0\.1:[0-9]+' | head -n1 | cut -d: -f2)"
url="http://127.0.0.1:$port"
for _ in $(seq 1 50); do curl -fs -o /dev/null "$url/readyz" && break; sleep 0.2; done
pid="$(docker inspect -f '{{.State.Pid}}' "$cid")"
# The clients run in the container's network namespace and reach it on its own loopback: through
# Docker's published port (docker-proxy relaying) early 503s can arrive as resets.
url=http://127.0.0.1:8000
nsenter -t "$pid" -n python3 bench/overload.py --url "$url" --pid "$pid" --tmp-dir "/proc/$pid/root/tmp" \
  --clip "$work/clip.mp4" --capacity $((concurrency + queue)) --seconds "$seconds" | tee "$work/overload.txt"
