#!/usr/bin/env bash
# Local blue/green release, for real: HAProxy on loopback in front of the production image
# running as two Docker containers (blue, green), driven by the same procedure as production
# (deploy/bluegreen/release.sh|rollback.sh haproxy ...), under a bounded load through the
# balancer (deploy/bluegreen/loadgen.py: GET /readyz, GET /version, real POST /run).
#   1. blue (v1) is released and live          2. green is released under load: 0 failures
#   3. a broken build (OXICAM_FAULT=bad-run) is released: smoke fails, release exits non-zero,
#      traffic stays on green, the broken container is gone, it never got a request
#   4. rollback to blue under load: 0 failures  5. the live colour is SIGKILLed under load:
#      the health checks take it out; the failure count is printed (goal 0, not asserted)
# Overrides for development: BG_IMAGE (an image ref, or process:/path/to/oxicam to run host
# processes without Docker), BG_BROKEN_IMAGE, BG_CLIP (video for the load's POST /run).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$OXICAM_ROOT"
export CI_STATE="${CI_STATE:-$OXICAM_ROOT/target/ci-state}"
export BG_STATE_DIR="$CI_STATE/bluegreen"
# Colours bind 127.0.0.1:PORT in the host network (see drivers/haproxy.sh for why not -p).
export BG_DOCKER_NET="${BG_DOCKER_NET:-host}"
work="$CI_STATE/bluegreen-run"
rm -rf "$work"
mkdir -p "$work" "$CI_STATE/pids" "$CI_STATE/logs"

apt_install haproxy socat curl python3
# shellcheck source=deploy/bluegreen/lib.sh
source deploy/bluegreen/lib.sh
# shellcheck source=deploy/bluegreen/drivers/haproxy.sh
source deploy/bluegreen/drivers/haproxy.sh
hap_down

broken_image=""
cleanup_stage() {
  hap_down
  if [[ -n "$broken_image" && "$broken_image" != process:* ]]; then
    docker rmi "$broken_image" >/dev/null 2>&1 || true
  fi
}
trap cleanup_stage EXIT

image="${BG_IMAGE:-}"
broken_image="${BG_BROKEN_IMAGE:-}"
clip="${BG_CLIP:-}"
if [[ "$image" != process:* ]]; then
  # shellcheck source=scripts/docker-lib.sh
  source scripts/docker-lib.sh
  ensure_dockerd
  [ -n "$image" ] || image="$(ensure_app_image)"
  if [ -z "$broken_image" ]; then
    # The broken build: the same image with the fault switched on, as an image of its own.
    broken_image="oxicam-broken:$(git rev-parse --short HEAD)"
    printf 'FROM %s\nENV OXICAM_FAULT=bad-run\nLABEL oxicam.ci=1\n' "$image" |
      docker build -q -t "$broken_image" - >/dev/null
  fi
  if [ -z "$clip" ]; then
    # A real clip with a known heart rate for the POST /run part of the load.
    chmod 0777 "$work"
    docker run --rm --label oxicam.ci=1 -v "$work:/out" "$image" \
      synth --out /out/clip.mp4 --seconds 20 --size 160x120 >/dev/null
    clip="$work/clip.mp4"
  fi
fi
[ -n "$broken_image" ] || die "BG_BROKEN_IMAGE is needed with a process: BG_IMAGE"
[ -s "$clip" ] || die "no clip for the load generator at $clip"
log "image $image; broken build $broken_image; clip $(stat -c %s "$clip") bytes"

# --- load generator --------------------------------------------------------------------
load_pid=""
load_start() {
  local name="$1"
  rm -f "$work/$name.stop" "$work/$name.running"
  python3 deploy/bluegreen/loadgen.py --url "http://127.0.0.1:$BG_LB_PORT" --clip "$clip" \
    --duration 90 --max-requests 9000 --rate 100 --concurrency 4 --run-every 80 \
    --stop-file "$work/$name.stop" --ready-file "$work/$name.running" \
    --json-out "$work/$name.json" >/dev/null &
  load_pid=$!
  bg_retry_until 10 test -f "$work/$name.running" || die "load generator did not start"
}
load_stop() {
  touch "$work/$1.stop"
  wait "$load_pid" || die "load generator failed"
}
# load_field NAME EXPR: a value from the summary, EXPR in Python over `s`.
load_field() {
  python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print($2)" "$work/$1.json"
}
load_assert_clean() {
  local name="$1" failed
  # The load must have covered the whole phase, not run out before the switch.
  [ "$(load_field "$name" 's["stopped_by"]')" = stop-file ] ||
    die "$name: the load generator stopped early ($(load_field "$name" 's["stopped_by"]'))"
  failed="$(load_field "$name" 's["failed"]')"
  if [ "$failed" != 0 ]; then
    load_field "$name" '"\n".join(s["errors"])' >&2
    die "$name: $failed of $(load_field "$name" 's["sent"]') requests failed through the balancer"
  fi
}
report_value() { sed -n "s/^$2=//p" "$work/$1.report" | tail -n 1; }

release() { BG_REPORT="$work/$1.report" deploy/bluegreen/release.sh haproxy "$2" "$3"; }

# --- 1. blue (v1) live ---------------------------------------------------------------
log "=== 1. release v1 as blue (first release) ==="
release first "$image" blue
[ "$(drv_live_color)" = blue ] || die "blue is not live after its release"

# --- 2. release green under load ------------------------------------------------------
log "=== 2. release v2 as green under load ==="
load_start switch
sleep 3
release switch "$image" green
sleep 3
load_stop switch
load_assert_clean switch
[ "$(drv_live_color)" = green ] || die "green is not live after its release"
[ "$(load_field switch 's["colors_seen"].get("blue", 0) > 0 and s["colors_seen"].get("green", 0) > 0')" = True ] ||
  die "the load did not see blue then green: $(load_field switch 's["colors_seen"]')"
hap_alive blue || die "blue was not kept for rollback"

# --- 3. broken build -----------------------------------------------------------------
log "=== 3. release a broken build (OXICAM_FAULT=bad-run) into blue under load ==="
blue_sessions_before="$(hap_sessions blue)"
load_start broken
sleep 2
if release broken "$broken_image" blue >"$work/broken.out" 2>&1; then
  cat "$work/broken.out" >&2
  die "the release of a broken build succeeded"
fi
sleep 2
load_stop broken
blue_sessions_after="$(hap_sessions blue)"
sed 's/^/    | /' "$work/broken.out" >&2
grep -q "aborted: the smoke test failed" "$work/broken.out" ||
  die "the failed release did not say that the smoke test failed"
load_assert_clean broken
[ "$(drv_live_color)" = green ] || die "traffic left green during the broken release"
[ "$(load_field broken 'sorted(s["colors_seen"])')" = "['green']" ] ||
  die "traffic went elsewhere than green: $(load_field broken 's["colors_seen"]')"
[ "$blue_sessions_after" = "$blue_sessions_before" ] ||
  die "HAProxy sent $((blue_sessions_after - blue_sessions_before)) connections to the blue slot during the broken release"
if [[ "$broken_image" != process:* ]]; then
  [ -z "$(docker ps -aq --filter "ancestor=$broken_image")" ] || die "the broken container was not removed"
  [ "$(docker inspect -f '{{.Config.Image}}' "$(hap_container blue)")" = "$image" ] ||
    die "blue's previous build was not restored"
fi
hap_ready blue || die "blue's previous build is not ready again after the failed release"
# Its own counters, read just before it was removed: only the smoke test's uploads reached it.
broken_runs="$(awk '/^oxicam_http_requests_total\{/ && /method="POST"/ && /route="\/run"/ { n += $NF }
  END { print n + 0 }' "$BG_STATE_DIR/blue.failed-build-metrics")"
smoke_runs="$(grep -cE '^(ok|FAIL) +run ' "$work/broken.out" || true)"
[ -s "$BG_STATE_DIR/blue.failed-build-metrics" ] || die "no /metrics captured from the broken build"
[ "$broken_runs" = "$smoke_runs" ] ||
  die "the broken build served $broken_runs POST /run, the smoke test sent $smoke_runs"

# --- 4. rollback to blue under load ---------------------------------------------------
log "=== 4. rollback to blue under load ==="
load_start rollback
sleep 3
BG_REPORT="$work/rollback.report" deploy/bluegreen/rollback.sh haproxy blue
sleep 3
load_stop rollback
load_assert_clean rollback
[ "$(drv_live_color)" = blue ] || die "blue is not live after the rollback"

# --- 5. kill the live colour under load -----------------------------------------------
log "=== 5. SIGKILL the live colour (blue) under load ==="
# retries and redispatches HAProxy did, both backends together
hap_retries() {
  local field backend total=0 n
  for field in wretr wredis; do
    for backend in bk_blue bk_green; do
      n="$(hap_server_field "$backend" BACKEND "$field")"
      total=$((total + ${n:-0}))
    done
  done
  echo "$total"
}
retries_before="$(hap_retries)"
load_start kill
sleep 3
# One upload is certainly in flight on blue when it dies: it must still get its answer.
curl -s -o "$work/inflight.json" -w '%{http_code}' --max-time 120 -F "file=@$clip" \
  "http://127.0.0.1:$BG_LB_PORT/run" >"$work/inflight.status" &
inflight_pid=$!
sleep 0.15
killed_at="$(bg_now_ms)"
hap_kill blue
blue_is_down() { [[ "$(hap_server_field bk_blue blue status)" == DOWN* ]]; }
bg_retry_until 10 blue_is_down ||
  die "HAProxy did not take the dead blue out of rotation within 10 s"
taken_out_ms=$(($(bg_now_ms) - killed_at))
sleep 4
load_stop kill
wait "$inflight_pid" || true
inflight_status="$(cat "$work/inflight.status")"
if [ "$inflight_status" != 200 ] || ! grep -q '"heart_rate_bpm":[0-9]' "$work/inflight.json"; then
  log "the upload in flight at SIGKILL failed: HTTP $inflight_status $(head -c 300 "$work/inflight.json")"
fi
retries=$(($(hap_retries) - retries_before))
[ "$(load_field kill 's["colors_seen"].get("green", 0) > 0')" = True ] ||
  die "nothing answered after blue died: $(load_field kill 's["colors_seen"]')"
kill_failed="$(load_field kill 's["failed"]')"
[ "$kill_failed" = 0 ] || load_field kill '"\n".join(s["errors"])' >&2

summary() {
  printf '%-34s %s\n' \
    "switch blue->green: sent/failed" "$(load_field switch 's["sent"]') / $(load_field switch 's["failed"]') ($(load_field switch 's["sent_by_kind"]'))" \
    "switch blue->green: switch time" "$(report_value switch switch_ms) ms switch + verify (release total $(report_value switch release_s) s)" \
    "switch blue->green: seen by load" "last blue at $(load_field switch 's["last_seen_s"]["blue"]') s, first green at $(load_field switch 's["first_seen_s"]["green"]') s" \
    "broken build: release" "exit non-zero, smoke failed, traffic stayed on green" \
    "broken build: sent/failed" "$(load_field broken 's["sent"]') / $(load_field broken 's["failed"]')" \
    "broken build: connections to it" "$((blue_sessions_after - blue_sessions_before)) (HAProxy stot of the blue slot)" \
    "broken build: its own /metrics" "$broken_runs POST /run, all from the smoke test ($smoke_runs)" \
    "rollback green->blue: sent/failed" "$(load_field rollback 's["sent"]') / $(load_field rollback 's["failed"]')" \
    "rollback green->blue: switch time" "$(report_value rollback switch_ms) ms" \
    "kill live blue: sent/failed" "$(load_field kill 's["sent"]') / $kill_failed (goal 0, not asserted; docker network: $BG_DOCKER_NET)" \
    "kill live blue: out of rotation" "${taken_out_ms} ms after SIGKILL; answered by $(load_field kill 's["colors_seen"]')" \
    "kill live blue: in-flight POST /run" "HTTP $inflight_status (sent 0.15 s before SIGKILL)" \
    "kill live blue: HAProxy retries" "$retries (retried or redispatched to green instead of failing)"
}
log "=== blue/green summary ==="
summary | tee "$work/summary.txt"
