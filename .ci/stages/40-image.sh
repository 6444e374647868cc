#!/usr/bin/env bash
# Image stage: Docker engine, locally built base and builder images (nothing is pulled), then the
# production image from deploy/docker/Dockerfile, tagged oxicam:<git sha>, and checks on it.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
source "$OXICAM_ROOT/scripts/docker-lib.sh"
cd "$OXICAM_ROOT"

start=$SECONDS
ref="$(ensure_app_image)"
log "image $ref ready after $((SECONDS - start)) s"

sha="${ref##*:}" # the commit the image was built from, even if HEAD has moved since
revision="$(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.revision"}}' "$ref")"
[ "$revision" = "$sha" ] || die "image label org.opencontainers.image.revision is '$revision', expected $sha"
user="$(docker image inspect -f '{{.Config.User}}' "$ref")"
case "$user" in "" | root | 0 | 0:*) die "image runs as root (User='$user')" ;; esac
docker image inspect -f '{{.Config.Healthcheck.Test}}' "$ref" | grep -q smoke || die "image has no HEALTHCHECK"
# The binary must load all its shared libraries in the runtime image.
docker run --rm --label oxicam.ci=1 --network none "$ref" --version >&2 ||
  die "the oxicam binary does not start in $ref (missing shared library?)"

bytes="$(docker image inspect -f '{{.Size}}' "$ref")"
echo "$bytes" >"$CI_STATE/image-size-bytes"
log "image size: $(numfmt --to=si "$bytes")B ($bytes bytes; target < 150 MB)"
if [ "$bytes" -gt 150000000 ]; then
  log "WARNING: image is above the 150 MB target"
fi
