#!/usr/bin/env bash
# Registry stage: push the image tagged with the git sha, delete it locally, pull it back by
# digest and check it is the same image; leaves the pulled reference in
# $CI_STATE/pulled-image-ref for the smoke stage. Default registry: Debian's docker-registry
# started here on 127.0.0.1:5000 (config .ci/registry.yml). CircleCI sets OXICAM_REGISTRY to
# its ECR registry (already logged in) and runs the same script.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
source "$OXICAM_ROOT/scripts/docker-lib.sh"
cd "$OXICAM_ROOT"

local_registry=127.0.0.1:5000
registry="${OXICAM_REGISTRY:-$local_registry}"
ensure_dockerd
apt_install curl

registry_up() { curl -fsS -o /dev/null "http://$local_registry/v2/"; }
if [ "$registry" = "$local_registry" ] && ! registry_up; then
  apt_install docker-registry
  mkdir -p "$CI_STATE/pids" "$CI_STATE/logs" "$CI_STATE/registry"
  log "starting docker-registry on $registry (storage $CI_STATE/registry)"
  REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY="$CI_STATE/registry" \
    docker-registry serve "$OXICAM_ROOT/.ci/registry.yml" >"$CI_STATE/logs/registry.log" 2>&1 </dev/null &
  echo $! >"$CI_STATE/pids/registry.pid"
  for _ in $(seq 1 50); do registry_up && break; sleep 0.2; done
  registry_up || { tail -n 20 "$CI_STATE/logs/registry.log" >&2; die "docker-registry did not come up on $local_registry"; }
fi

# The image stage 40 built (HEAD may have moved since in a shared work tree), else build it.
if [ -s "$CI_STATE/image-ref" ] && image_exists "$(cat "$CI_STATE/image-ref")"; then
  ref="$(cat "$CI_STATE/image-ref")"
else
  ref="$(ensure_app_image)"
fi
sha="${ref##*:}"
remote="$registry/oxicam:$sha"
image_id="$(docker image inspect -f '{{.Id}}' "$ref")"

log "docker push $remote"
docker tag "$ref" "$remote"
docker push "$remote" >&2
digest="$(docker image inspect -f '{{range .RepoDigests}}{{println .}}{{end}}' "$remote" |
  grep -F "$registry/oxicam@" | head -n 1 | cut -d@ -f2)"
[[ "$digest" == sha256:* ]] || die "the registry returned no digest for $remote"
if [ "$registry" = "$local_registry" ]; then
  # Ask the registry itself, not just the engine's record of the push.
  served="$(curl -fsS -o /dev/null -D - -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$registry/v2/oxicam/manifests/$sha" | tr -d '\r' |
    awk -F': ' 'tolower($1) == "docker-content-digest" {print $2}')"
  [ "$served" = "$digest" ] || die "registry serves oxicam:$sha as '$served', the push reported $digest"
fi
log "pushed $remote as $digest"

log "removing the image locally, pulling it back by digest"
docker rmi "$remote" "$ref" >/dev/null
image_exists "$image_id" && die "image $image_id is still present locally after docker rmi"
pulled="$registry/oxicam@$digest"
docker pull "$pulled" >&2
pulled_id="$(docker image inspect -f '{{.Id}}' "$pulled")"
[ "$pulled_id" = "$image_id" ] || die "pulled image $pulled_id differs from the pushed one $image_id"
# Later stages (blue/green) look for oxicam:<sha>: it is the very same image.
docker tag "$pulled" "$ref"
echo "$pulled" >"$CI_STATE/pulled-image-ref"
log "pulled $pulled (image $pulled_id), identical to the pushed image"
