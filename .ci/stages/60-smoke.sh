#!/usr/bin/env bash
# Smoke stage: runs the image pulled back from the registry on a loopback port and checks it
# with `oxicam smoke` (health, readiness, version and colour, a real POST /run); then checks that
# the smoke test does fail against a service started with OXICAM_FAULT=bad-run. Containers are
# removed by id on every exit path.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
source "$OXICAM_ROOT/scripts/docker-lib.sh"
cd "$OXICAM_ROOT"
ensure_dockerd

[ -s "$CI_STATE/pulled-image-ref" ] || die "no pulled image: run .ci/stages/50-registry.sh first"
image="$(cat "$CI_STATE/pulled-image-ref")"
image_exists "$image" || die "$image is not present locally: run .ci/stages/50-registry.sh again"
# The commit the image was built and pushed for (stage 50 tagged it oxicam:<sha>).
built_ref="$(cat "$CI_STATE/image-ref")"
sha="${built_ref##*:}"
version="$(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.version"}}' "$image")"

containers=()
remove_containers() {
  if [ "${#containers[@]}" -gt 0 ]; then docker rm -f "${containers[@]}" >/dev/null 2>&1 || true; fi
}
trap remove_containers EXIT

# start_service NAME COLOR [ENV...]: runs the image on ephemeral 127.0.0.1 ports (public 8000,
# operations 9090); sets service_cid, service_url and admin_url (globals, so the EXIT trap sees
# every container).
start_service() {
  local name="$1" color="$2"
  shift 2
  local env_args=() kv cid port admin_port
  for kv in "$@"; do env_args+=(-e "$kv"); done
  cid="$(docker run -d --label oxicam.ci=1 --name "oxicam-ci-$name-$$" \
    -e OXICAM_COLOR="$color" "${env_args[@]}" --read-only --tmpfs /tmp \
    -p 127.0.0.1::8000 -p 127.0.0.1::9090 "$image")"
  containers+=("$cid")
  port="$(docker port "$cid" 8000/tcp | grep -oE '127\.0\.0\.1:[0-9]+' | head -n1 | cut -d: -f2)"
  admin_port="$(docker port "$cid" 9090/tcp | grep -oE '127\.0\.0\.1:[0-9]+' | head -n1 | cut -d: -f2)"
  if [ -z "$port" ] || [ -z "$admin_port" ]; then die "container $name has no published ports"; fi
  service_cid="$cid"
  service_url="http://127.0.0.1:$port"
  admin_url="http://127.0.0.1:$admin_port"
}

# smoke URL ADMIN_URL ARGS...: the image's own oxicam binary in a throwaway container on the
# host network, so the check goes through the published loopback ports like an outside client.
smoke() {
  local url="$1" admin="$2"
  shift 2
  docker run --rm --label oxicam.ci=1 --network host --read-only --tmpfs /tmp \
    --entrypoint /usr/local/bin/oxicam "$image" smoke --url "$url" --admin-url "$admin" \
    --wait 30 --timeout 60 "$@"
}

start_service blue blue
cid="$service_cid" url="$service_url" admin="$admin_url"
log "smoke test $image at $url (container ${cid:0:12})"
# Operations endpoints stay off the public port.
for path in /version /metrics /openapi.json; do
  code="$(curl -s -o /dev/null -w '%{http_code}' "$url$path")"
  [ "$code" = 404 ] || die "GET $path on the public port answered $code, expected 404"
done
if ! smoke "$url" "$admin" --expect-color blue --expect-version "$version" --expect-git-sha "$sha"; then
  docker logs --tail 50 "$cid" >&2 || true
  die "smoke test failed against $image"
fi

log "waiting for the image's HEALTHCHECK to report healthy"
health=""
for _ in $(seq 1 60); do
  health="$(docker inspect -f '{{.State.Health.Status}}' "$cid")"
  [ "$health" = healthy ] && break
  [ "$health" = unhealthy ] && break
  sleep 0.5
done
[ "$health" = healthy ] || die "container HEALTHCHECK status is '$health', expected healthy"

start_service faulty green OXICAM_FAULT=bad-run
bad_cid="$service_cid" bad_url="$service_url" bad_admin="$admin_url"
log "negative control: smoke must fail against OXICAM_FAULT=bad-run at $bad_url (container ${bad_cid:0:12})"
if bad_out="$(smoke "$bad_url" "$bad_admin" --expect-color green)"; then
  echo "$bad_out" >&2
  die "smoke test passed against a service answering /run wrongly: it would not catch a bad release"
fi
echo "$bad_out" >&2
# It must fail for the right reason: the service is up and identifies itself, only /run is wrong.
grep -q '^ok    version' <<<"$bad_out" || die "negative control: the faulty service did not even answer /version"
grep -q '^FAIL  run' <<<"$bad_out" || die "negative control: smoke failed, but not on POST /run"
log "smoke test caught the faulty service on POST /run, as it must"

docker stop -t 10 "${containers[@]}" >/dev/null
log "image size: $(numfmt --to=si "$(docker image inspect -f '{{.Size}}' "$image")")B"
