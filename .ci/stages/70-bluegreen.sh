#!/usr/bin/env bash
# Local blue/green under load and under faults, for real: HAProxy on loopback in front of two
# builds of the production image (v1, v2: told apart by /version on the admin listener, asked
# through the balancer's loopback-only operations entry and of each colour directly), each
# colour a container in a network namespace of its own, driven by the same
# procedure as production (deploy/bluegreen/{release,rollback,retire}.sh haproxy). The load
# generator (deploy/bluegreen/loadgen.py) judges every phase itself (its --expect-* options).
#
# Switches go through the no-retry entry point (no retries, no redispatch, no backup: the
# balancer cannot turn a failure into a success; its counters must show 0), with uploads
# streamed over several seconds in flight across each switch:
#   1. v1 released as blue (first release)        2. v2 released as green under load
#   3. a broken build (OXICAM_FAULT=bad-run) released into blue under load: the smoke test
#      fails, the release exits non-zero, v1 is restored, traffic stays on green, blue gets none
# Faults on the live colour (green) go through the failover entry point (retries and
# redispatch to the other colour are its job); nothing may fail or exceed its timeout:
#   4. frozen (SIGSTOP), then thawed   5. network cut, then mended   6. SIGKILLed, then restarted
# And back through the no-retry entry:
#   7. rollback to blue (v1) under load, then green drained under load and stopped
# Overrides for development: BG_IMAGE, BG_IMAGE_V2, BG_BROKEN_IMAGE, BG_CLIP (video to upload).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$OXICAM_ROOT"
export BG_STATE_DIR="$CI_STATE/bluegreen" BG_COLOR_NET=netns
export BG_LB_PORT="${BG_LB_PORT:-18080}" BG_LB_NORETRY_PORT="${BG_LB_NORETRY_PORT:-18083}"
export BG_LB_ADMIN_PORT="${BG_LB_ADMIN_PORT:-21580}"
# Sized for the test load: 6 uploads streamed at all times plus whole ones, on 2 cores (the
# default queue, 2 x cores, would answer 503 busy to part of it: overload, not a switch).
export BG_COLOR_ENV="${BG_COLOR_ENV:-OXICAM_QUEUE=16}"
work="$CI_STATE/bluegreen-run"
rm -rf "$work"
mkdir -p "$work" "$CI_STATE/pids" "$CI_STATE/logs"

apt_install haproxy socat curl python3 iproute2 iptables
# shellcheck source=deploy/bluegreen/lib.sh
source deploy/bluegreen/lib.sh
# shellcheck source=deploy/bluegreen/drivers/haproxy.sh
source deploy/bluegreen/drivers/haproxy.sh
# shellcheck source=scripts/docker-lib.sh
source scripts/docker-lib.sh
drv_teardown
made_images=()
declare -A load_pids=()
cleanup_stage() {
  local pid
  for pid in "${load_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  drv_teardown
  [ "${#made_images[@]}" -eq 0 ] || docker rmi "${made_images[@]}" >/dev/null 2>&1 || true
}
trap cleanup_stage EXIT

# --- the builds: v1; v2, the same binary with another GIT_SHA build arg baked into the image
# (what /version reports), as deploy/docker/Dockerfile bakes it, in a second instead of a
# rebuild; a broken one --------------------------------------------------------------------
v1="${BG_IMAGE:-}" v2="${BG_IMAGE_V2:-}" broken="${BG_BROKEN_IMAGE:-}" clip="${BG_CLIP:-}"
# derived_image TAG BASE BUILD-ARG LINE...: a CI image, BASE plus Dockerfile LINEs.
derived_image() {
  local tag="$1" base="$2" arg="$3"
  shift 3
  printf '%s\n' "FROM $base" "$@" 'LABEL oxicam.ci=1' |
    docker build -q ${arg:+--build-arg "$arg"} -t "$tag" - >/dev/null 2>"$work/build.err" ||
    { cat "$work/build.err" >&2 && die "could not build $tag"; }
  made_images+=("$tag")
}
if [[ "$v1" != process:* ]]; then
  ensure_dockerd
  [ -n "$v1" ] || v1="$(ensure_app_image)"
  if [ -z "$v2" ]; then
    v2="oxicam-v2:$(git rev-parse --short HEAD)"
    # shellcheck disable=SC2016 # $GIT_SHA is the Dockerfile's
    derived_image "$v2" "$v1" "GIT_SHA=$(git_sha)-v2" 'ARG GIT_SHA' \
      'ENV OXICAM_GIT_SHA=$GIT_SHA' 'LABEL org.opencontainers.image.revision=$GIT_SHA'
  fi
  if [ -z "$broken" ]; then
    broken="oxicam-broken:$(git rev-parse --short HEAD)"
    derived_image "$broken" "$v1" "" 'ENV OXICAM_FAULT=bad-run'
  fi
  if [ -z "$clip" ]; then
    # A real clip with a known heart rate for the uploads: the one `oxicam smoke` uploads (the
    # image's FFmpeg decodes only).
    cp crates/oxicam/assets/smoke-clip.mp4 "$work/clip.mp4"
    clip="$work/clip.mp4"
  fi
fi
if [ -z "$v2" ] || [ -z "$broken" ] || [ ! -s "$clip" ]; then
  die "with BG_IMAGE=process:..., give BG_IMAGE_V2, BG_BROKEN_IMAGE and BG_CLIP too"
fi
log "v1 $v1, v2 $v2, broken $broken; clip $(stat -c %s "$clip") bytes"
# The builds the images say they are (their revision label), which the colours' /version must
# report through the balancer's operations entry (loadgen --expect-builds).
builds=()
if [[ "$v1" != process:* ]]; then
  revision() { docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.revision"}}' "$1"; }
  builds=(--admin-url "http://127.0.0.1:$BG_LB_ADMIN_PORT"
    --expect-builds "blue=$(revision "$v1"),green=$(revision "$v2")")
fi

# --- helpers -------------------------------------------------------------------------------

# load_start PHASE ENTRY [loadgen options...]: loadgen.py sends traffic through ENTRY
# (noretry | failover) until load_verdict PHASE, which fails unless its verdict passes.
load_start() {
  local phase="$1" entry="$2" port="$BG_LB_NORETRY_PORT"
  shift 2
  [ "$entry" = noretry ] || port="$BG_LB_PORT"
  python3 deploy/bluegreen/loadgen.py --phase "$phase" --entry "$entry" \
    --url "http://127.0.0.1:$port" --clip "$clip" --concurrency 4 --rate 80 --run-every 40 \
    --streamers 6 --stream-seconds 6 --timeout 20 --events "$work/$phase.events" \
    --counters-cmd "deploy/bluegreen/counters.sh haproxy" --stop-file "$work/$phase.stop" \
    --ready-file "$work/$phase.running" --json-out "$work/$phase.json" "$@" &
  load_pids[$phase]=$!
  bg_retry_until 10 test -f "$work/$phase.running" || die "$phase: the load generator did not start"
}
load_verdict() {
  touch "$work/$1.stop"
  wait "${load_pids[$1]}" || die "$1: the load generator's verdict is FAIL (see above)"
}

# under_load PHASE ENTRY [loadgen options...] -- COMMAND...: COMMAND runs under load through
# ENTRY, after 2 s of it and followed by 2 s more; what COMMAND reports (BG_REPORT) is the
# phase's events file for the verdict. The phase fails if COMMAND does or the verdict does.
under_load() {
  local phase="$1" entry="$2" options=()
  shift 2
  while [ "$1" != -- ]; do options+=("$1") && shift; done
  shift
  log "=== $phase: $* (load through the $entry entry) ==="
  load_start "$phase" "$entry" "${options[@]}"
  sleep 2
  BG_REPORT="$work/$phase.events" "$@" || { load_verdict "$phase" || true; die "$phase: $* failed"; }
  sleep 2
  load_verdict "$phase"
}

# The no-retry entry's counters must not move: nothing retried, redispatched or failed there.
no_retries=(--expect-counter noretry.retries=0 --expect-counter noretry.redispatches=0
  --expect-counter noretry.conn_errors=0 --expect-counter noretry.resp_errors=0
  --expect-counter noretry.http_5xx=0)

release() { deploy/bluegreen/release.sh haproxy "$@"; }

release_must_fail() {
  if release "$@" >"$work/broken.out" 2>&1; then
    cat "$work/broken.out" >&2
    die "the release of a broken build succeeded"
  fi
  sed 's/^/    | /' "$work/broken.out" >&2
  grep -q "aborted: the smoke test failed" "$work/broken.out" ||
    die "the failed release did not say that the smoke test failed"
}

rollback_and_retire() {
  deploy/bluegreen/rollback.sh haproxy "$1" && deploy/bluegreen/retire.sh haproxy "$2"
}

# build_of COLOR: the build COLOR reports on /version, asked directly (not through the balancer).
build_of() { drv_build "$1" || die "$1 does not answer /version"; }
expect_build() {
  [ "$(build_of "$1")" = "$2" ] || die "$1 runs build $(build_of "$1"), expected $2"
}

health_is() { [ "$(drv_health "$1")" = "$2" ]; }

# fault COLOR ACTION [REPAIR]: ACTION on COLOR, then the time until the balancer has taken it
# out and, after 3 s on the other colour and REPAIR, until it is back; recorded as events.
fault() {
  local color="$1" action="$2" repair="${3:-}"
  drv_fault "$color" "$action"
  bg_report fault_at_ms "$(bg_now_ms)"
  bg_retry_until 10 health_is "$color" down || die "$color is still in rotation 10 s after $action"
  bg_report out_at_ms "$(bg_now_ms)"
  sleep 3
  [ -n "$repair" ] || return 0
  bg_report recover_at_ms "$(bg_now_ms)"
  drv_fault "$color" "$repair"
  bg_retry_until 60 health_is "$color" up || die "$color is not back 60 s after $repair"
  bg_report back_at_ms "$(bg_now_ms)"
}

# --- the phases ------------------------------------------------------------------------------
start=$SECONDS
log "=== 1-first: v1 released as blue ==="
release "$v1" blue
v1_build="$(build_of blue)"

under_load 2-switch noretry --expect-switch blue:green --expect-spanning 3 "${no_retries[@]}" \
  "${builds[@]}" -- release "$v2" green
v2_build="$(build_of green)"
[ "$v2_build" != "$v1_build" ] || die "v1 and v2 both report build $v1_build: not two builds"
expect_build blue "$v1_build"
log "v1 (blue) reports build $v1_build, v2 (green) $v2_build"

under_load 3-broken noretry --expect-only green --expect-counter blue.sessions=0 "${no_retries[@]}" \
  "${builds[@]}" -- release_must_fail "$broken" blue
[ "$(drv_live_color)" = green ] || die "traffic left green during the broken release"
[[ "$broken" == process:* ]] || [ -z "$(docker ps -aq --filter "ancestor=$broken")" ] ||
  die "the broken container was not removed"
expect_build blue "$v1_build"

chaos=(--streamers 2 --stream-seconds 3 --expect-failover green:blue)
under_load 4-freeze failover "${chaos[@]}" -- fault green freeze thaw
under_load 5-netcut failover "${chaos[@]}" -- fault green cut mend
# The negative control: the same crash through the no-retry entry must fail requests, or the
# 0 failures of the switches would prove nothing about retries.
load_start 6-kill-control noretry --streamers 0 --expect-failures \
  --expect-counter noretry.retries=0 --expect-counter noretry.redispatches=0
under_load 6-kill failover "${chaos[@]}" -- fault green kill restart
load_verdict 6-kill-control
expect_build green "$v2_build"

under_load 7-rollback noretry --expect-switch green:blue --expect-spanning 3 \
  --expect-drained green "${no_retries[@]}" "${builds[@]}" -- rollback_and_retire blue green
expect_build blue "$v1_build"

log "=== blue/green: all phases passed in $((SECONDS - start)) s ==="
python3 deploy/bluegreen/loadgen.py report "$work"/[0-9]-*.json | tee "$work/summary.txt"
