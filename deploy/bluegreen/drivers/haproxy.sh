#!/usr/bin/env bash
# Local blue/green target: a Debian HAProxy on loopback in front of two oxicam colours,
# each a Docker container published on a 127.0.0.1 port (or, for development without
# Docker, a host process: image "process:/path/to/oxicam"). Traffic is switched through
# the HAProxy runtime API (deploy/bluegreen/haproxy.cfg explains the layout).
#
# Settings (environment): BG_STATE_DIR (runtime socket, live map, per-colour state; default
# $CI_STATE/bluegreen), BG_LB_PORT / BG_BLUE_PORT / BG_GREEN_PORT (18080/18081/18082),
# BG_DOCKER_NET: `publish` (-p 127.0.0.1:PORT:8000, default) or `host` (the container shares
# the host's network and oxicam binds 127.0.0.1:PORT itself). Either way only loopback
# listens. `host` is what the CI stage uses: Docker's userland proxy behind a published port
# keeps accepting connections for a container that has died and then closes them, so a
# crash looks like empty responses instead of refused connections and HAProxy takes longer
# to notice; a real load balancer talks to the instance directly, as with `host`.
# Sourced by deploy/bluegreen/lib.sh; implements the drv_* contract described there.

: "${CI_STATE:=$OXICAM_ROOT/target/ci-state}"
: "${BG_STATE_DIR:=$CI_STATE/bluegreen}"
: "${BG_LB_PORT:=18080}"
: "${BG_BLUE_PORT:=18081}"
: "${BG_GREEN_PORT:=18082}"
: "${BG_DOCKER_NET:=publish}"
export BG_STATE_DIR BG_LB_PORT BG_BLUE_PORT BG_GREEN_PORT

HAPROXY_CFG="$OXICAM_ROOT/deploy/bluegreen/haproxy.cfg"
HAPROXY_SOCK="$BG_STATE_DIR/haproxy.sock"
HAPROXY_MAP="$BG_STATE_DIR/live.map"

hap_port() {
  case "$1" in
    blue) echo "$BG_BLUE_PORT" ;;
    green) echo "$BG_GREEN_PORT" ;;
  esac
}
hap_url() { echo "http://127.0.0.1:$(hap_port "$1")"; }
hap_container() { echo "oxicam-bg-$1"; }
hap_public_url() { echo "http://127.0.0.1:$BG_LB_PORT"; }

# hap_cmd COMMAND: one HAProxy runtime API command; prints its answer.
hap_cmd() {
  echo "$1" | socat -t 5 - "UNIX-CONNECT:$HAPROXY_SOCK"
}

# hap_server_field BACKEND SERVER FIELD: a column of `show stat` (status, stot, ...).
hap_server_field() {
  hap_cmd "show stat" | awk -F, -v b="$1" -v s="$2" -v f="$3" '
    NR == 1 { for (i = 1; i <= NF; i++) if ($i == f || $i == "# " f) col = i; next }
    $1 == b && $2 == s { print $col }'
}

# hap_sessions COLOR: connections HAProxy ever sent to COLOR, primary and backup slots.
hap_sessions() {
  local total=0 n backend
  for backend in bk_blue bk_green; do
    n="$(hap_server_field "$backend" "$1" stot)"
    total=$((total + ${n:-0}))
  done
  echo "$total"
}

hap_running() { [ -S "$HAPROXY_SOCK" ] && hap_cmd "show info" 2>/dev/null | grep -q '^Pid:'; }

# hap_up: starts HAProxy with our config unless it is already answering.
hap_up() {
  hap_running && return 0
  command -v haproxy >/dev/null || apt_install haproxy
  command -v socat >/dev/null || apt_install socat
  mkdir -p "$BG_STATE_DIR" "$CI_STATE/pids" "$CI_STATE/logs"
  [ -f "$HAPROXY_MAP" ] || : >"$HAPROXY_MAP"
  haproxy -c -q -f "$HAPROXY_CFG" || die "invalid HAProxy config $HAPROXY_CFG"
  log "starting HAProxy on 127.0.0.1:$BG_LB_PORT (log: $CI_STATE/logs/haproxy-bluegreen.log)"
  haproxy -f "$HAPROXY_CFG" >>"$CI_STATE/logs/haproxy-bluegreen.log" 2>&1 </dev/null &
  echo $! >"$CI_STATE/pids/haproxy-bluegreen.pid"
  bg_retry_until 10 hap_running || die "HAProxy did not open its runtime socket $HAPROXY_SOCK"
  # Colours without a running build stay out of rotation until a release brings them up.
  local color
  for color in "${BG_COLORS[@]}"; do
    [ -f "$BG_STATE_DIR/$color.image" ] || hap_cmd "set server bk_$color/$color state maint" >/dev/null
  done
}

# --- colour runtime: Docker containers, or host processes for "process:BINARY" ---------------

hap_is_process() { [[ "$1" == process:* ]]; }

hap_start() {
  local color="$1" image="$2" port
  port="$(hap_port "$color")"
  if hap_is_process "$image"; then
    OXICAM_COLOR="$color" OXICAM_ADDR="127.0.0.1:$port" "${image#process:}" serve \
      >>"$CI_STATE/logs/oxicam-bg-$color.log" 2>&1 </dev/null &
    echo $! >"$CI_STATE/pids/oxicam-bg-$color.pid"
  else
    local network=(-p "127.0.0.1:$port:8000")
    if [ "$BG_DOCKER_NET" = host ]; then
      network=(--network host -e "OXICAM_ADDR=127.0.0.1:$port")
    fi
    docker run -d --name "$(hap_container "$color")" --label oxicam.ci=1 \
      --label "oxicam.bluegreen.color=$color" -e "OXICAM_COLOR=$color" "${network[@]}" \
      --read-only --tmpfs /tmp:rw,size=512m --cap-drop ALL --security-opt no-new-privileges \
      "$image" serve >/dev/null
  fi
}

hap_alive() {
  local color="$1" pid
  if [ -f "$CI_STATE/pids/oxicam-bg-$color.pid" ]; then
    pid="$(cat "$CI_STATE/pids/oxicam-bg-$color.pid")"
    kill -0 "$pid" 2>/dev/null
  else
    [ "$(docker inspect -f '{{.State.Running}}' "$(hap_container "$color")" 2>/dev/null)" = true ]
  fi
}

# hap_stop COLOR: graceful stop (SIGTERM, the server drains), then removal.
hap_stop() {
  local color="$1" pidfile="$CI_STATE/pids/oxicam-bg-$1.pid" pid
  if [ -f "$pidfile" ]; then
    pid="$(cat "$pidfile")"
    kill "$pid" 2>/dev/null || true
    bg_retry_until 60 bash -c "! kill -0 $pid 2>/dev/null" || kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  fi
  if command -v docker >/dev/null && docker inspect "$(hap_container "$color")" >/dev/null 2>&1; then
    docker stop -t 60 "$(hap_container "$color")" >/dev/null 2>&1 || true
    docker rm -f "$(hap_container "$color")" >/dev/null 2>&1 || true
  fi
}

hap_logs() {
  local color="$1"
  if [ -f "$CI_STATE/logs/oxicam-bg-$color.log" ] && ! docker inspect "$(hap_container "$color")" >/dev/null 2>&1; then
    tail -n 20 "$CI_STATE/logs/oxicam-bg-$color.log"
  else
    docker logs --tail 20 "$(hap_container "$color")" 2>&1 || true
  fi
}

# --- the drv_* contract -----------------------------------------------------------------

drv_init() {
  command -v curl >/dev/null || apt_install curl
  hap_up
}

drv_live_color() {
  hap_cmd "show map $HAPROXY_MAP" | awk '$2 == "live" { print $3 }'
}

drv_deploy() {
  local color="$1" image="$2"
  # Out of rotation first (also as the live colour's backup), then replace the build.
  hap_cmd "set server bk_$color/$color state maint" >/dev/null
  if [ -f "$BG_STATE_DIR/$color.image" ]; then
    mv "$BG_STATE_DIR/$color.image" "$BG_STATE_DIR/$color.previous-image"
  fi
  hap_stop "$color"
  echo "$image" >"$BG_STATE_DIR/$color.image"
  hap_start "$color" "$image"
}

hap_ready() { curl -fs -o /dev/null --max-time 2 "$(hap_url "$1")/readyz"; }

drv_wait_ready() {
  local color="$1" timeout="$2" deadline=$((SECONDS + $2))
  until hap_ready "$color"; do
    if ! hap_alive "$color"; then
      log "$color is not running any more; its last log lines:"
      hap_logs "$color" >&2
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "$color: /readyz not 200 after ${timeout} s; its last log lines:"
      hap_logs "$color" >&2
      return 1
    fi
    sleep 0.3
  done
}

drv_smoke() {
  local color="$1" image="$2" timeout="$3"
  if hap_is_process "$image"; then
    timeout "$timeout" "${image#process:}" smoke --url "$(hap_url "$color")" --expect-color "$color"
  else
    # The smoke client of the release being tested, on the host network to reach loopback.
    timeout "$timeout" docker run --rm --label oxicam.ci=1 --network host --read-only \
      --tmpfs /tmp:rw,size=256m --cap-drop ALL "$image" \
      smoke --url "$(hap_url "$color")" --expect-color "$color"
  fi
}

hap_server_is_up() { [ "$(hap_server_field "bk_$1" "$1" status)" = UP ]; }

drv_switch() {
  local color="$1" timeout="$2"
  hap_cmd "set server bk_$color/$color state ready" >/dev/null
  # Only switch to a colour HAProxy itself sees healthy, or the switch would be a 503 burst.
  bg_retry_until "$timeout" hap_server_is_up "$color" || {
    log "HAProxy does not see $color UP within ${timeout} s"
    return 1
  }
  # One atomic map update: requests in flight finish where they are, new ones go to $color.
  if [ -n "$(drv_live_color)" ]; then
    hap_cmd "set map $HAPROXY_MAP live $color" >/dev/null
  else
    hap_cmd "add map $HAPROXY_MAP live $color" >/dev/null
  fi
  [ "$(drv_live_color)" = "$color" ] || return 1
  # Persisted for a restarted HAProxy.
  echo "live $color" >"$HAPROXY_MAP.tmp" && mv "$HAPROXY_MAP.tmp" "$HAPROXY_MAP"
}

drv_verify() {
  curl -fsS --max-time 5 "$(hap_public_url)/version" 2>/dev/null |
    grep -Eq "\"color\"[[:space:]]*:[[:space:]]*\"$1\""
}

drv_abort() {
  local color="$1" previous
  hap_cmd "set server bk_$color/$color state maint" >/dev/null
  # Kept for the post-mortem (and the CI stage's proof that only the smoke test reached it).
  curl -fs --max-time 2 "$(hap_url "$color")/metrics" >"$BG_STATE_DIR/$color.failed-build-metrics" || true
  hap_stop "$color"
  rm -f "$BG_STATE_DIR/$color.image"
  [ -f "$BG_STATE_DIR/$color.previous-image" ] || return 0
  previous="$(cat "$BG_STATE_DIR/$color.previous-image")"
  mv "$BG_STATE_DIR/$color.previous-image" "$BG_STATE_DIR/$color.image"
  log "restoring $color's previous build $previous"
  hap_start "$color" "$previous" && drv_wait_ready "$color" "$BG_READY_TIMEOUT" || return 1
  # Back as the live colour's backup.
  hap_cmd "set server bk_$color/$color state ready" >/dev/null
}

drv_commit() {
  rm -f "$BG_STATE_DIR/$1.previous-image"
}

# hap_kill COLOR: SIGKILL, no drain: the crash case the health checks must absorb.
hap_kill() {
  local pidfile="$CI_STATE/pids/oxicam-bg-$1.pid"
  if [ -f "$pidfile" ]; then
    kill -9 "$(cat "$pidfile")"
  else
    docker kill "$(hap_container "$1")" >/dev/null
  fi
}

# hap_down: stops both colours and HAProxy (what this target started, by pid/name).
hap_down() {
  local color pidfile="$CI_STATE/pids/haproxy-bluegreen.pid"
  for color in "${BG_COLORS[@]}"; do
    if [ -f "$CI_STATE/pids/oxicam-bg-$color.pid" ]; then
      kill -9 "$(cat "$CI_STATE/pids/oxicam-bg-$color.pid")" 2>/dev/null || true
      rm -f "$CI_STATE/pids/oxicam-bg-$color.pid"
    fi
    if command -v docker >/dev/null; then
      docker rm -f "$(hap_container "$color")" >/dev/null 2>&1 || true
    fi
  done
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  fi
  rm -rf "$BG_STATE_DIR"
}
