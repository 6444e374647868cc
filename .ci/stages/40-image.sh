#!/usr/bin/env bash
# Image stage: Docker engine, locally built base and builder images (nothing is pulled), then the
# production image from deploy/docker/Dockerfile, tagged oxicam:<git sha>, and checks on it: labels
# (revision, the FFmpeg source it links), non-root, health check, size, start-up time, and the same
# decoded answers as the host build on rendered video fixtures (the image has its own FFmpeg).
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
source "$OXICAM_ROOT/scripts/docker-lib.sh"
cd "$OXICAM_ROOT"

SIZE_TARGET_BYTES=100000000

start=$SECONDS
ref="$(ensure_app_image)"
log "image $ref ready after $((SECONDS - start)) s"

label() { docker image inspect -f "{{index .Config.Labels \"$1\"}}" "$ref"; }
sha="${ref##*:}" # the commit the image was built from, even if HEAD has moved since
revision="$(label org.opencontainers.image.revision)"
[ "$revision" = "$sha" ] || die "image label org.opencontainers.image.revision is '$revision', expected $sha"
user="$(docker image inspect -f '{{.Config.User}}' "$ref")"
case "$user" in "" | root | 0 | 0:*) die "image runs as root (User='$user')" ;; esac
docker image inspect -f '{{.Config.Healthcheck.Test}}' "$ref" | grep -q smoke || die "image has no HEALTHCHECK"
# The binary must load all its shared libraries in the runtime image.
docker run --rm --label oxicam.ci=1 --network none "$ref" --version >&2 ||
  die "the oxicam binary does not start in $ref (missing shared library?)"

# The FFmpeg inside: the Debian source version in the label, its build record in the image.
ffmpeg_label="$(label io.oxicam.ffmpeg.debian-version)"
[[ "$ffmpeg_label" =~ ^[0-9]+:[0-9.]+-.+$ ]] || die "label io.oxicam.ffmpeg.debian-version is '$ffmpeg_label'"
cid="$(docker create --label oxicam.ci=1 "$ref")"
record="$(docker cp "$cid:/usr/share/oxicam/ffmpeg-build.txt" - | tar -xO)"
status="$(docker cp "$cid:/var/lib/dpkg/status.d/oxicam-ffmpeg-static" - | tar -xO)"
libc_status="$(docker cp "$cid:/var/lib/dpkg/status.d/libc6" - 2>/dev/null | tar -xO 2>/dev/null || true)"
docker rm "$cid" >/dev/null
grep -qF "source package: ffmpeg $ffmpeg_label " <<<"$record" ||
  die "the image's FFmpeg build record does not name ffmpeg $ffmpeg_label: $record"
grep -qF "Source: ffmpeg ($ffmpeg_label)" <<<"$status" || die "no dpkg record of the static FFmpeg"
# glibc's record too (bookworm's dpkg lists /lib paths, ldd names the merged /usr ones):
# scanners match the libraries the image carries by these records.
grep -q '^Package: libc6$' <<<"$libc_status" || die "the image has no dpkg record of the glibc it carries"
log "FFmpeg in the image: Debian source ffmpeg $ffmpeg_label (static; record in /usr/share/oxicam/ffmpeg-build.txt)"

bytes="$(docker image inspect -f '{{.Size}}' "$ref")"
echo "$bytes" >"$CI_STATE/image-size-bytes"
log "image size: $(numfmt --to=si "$bytes")B ($bytes bytes; target < 100 MB)"
[ "$bytes" -lt "$SIZE_TARGET_BYTES" ] || die "image is $bytes bytes, over the $SIZE_TARGET_BYTES target"

# Start-up: `docker run` of the image to the first 200 from /readyz (container start included).
apt_install curl
t0="$(date +%s%N)"
cid="$(docker run -d --label oxicam.ci=1 --read-only --tmpfs /tmp -p 127.0.0.1::8000 "$ref")"
port="$(docker port "$cid" 8000/tcp | grep -oE '127\.0\.0\.1:[0-9]+' | head -n1 | cut -d: -f2)"
ready_ms=""
for _ in $(seq 1 1000); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; then
    ready_ms=$((($(date +%s%N) - t0) / 1000000))
    break
  fi
  sleep 0.01
done
docker rm -f "$cid" >/dev/null
[ -n "$ready_ms" ] || die "the image's server did not answer /readyz within 10 s"
echo "$ready_ms" >"$CI_STATE/image-ready-ms"
log "start-up: docker run to /readyz 200 in $ready_ms ms"

bash "$OXICAM_ROOT/scripts/image-video-check.sh" "$ref"
