#!/usr/bin/env bash
# Local blue/green target: a Debian HAProxy on loopback in front of two oxicam colours, each a
# Docker container (or, for development without Docker, a host process: image
# "process:/path/to/oxicam"). Traffic is switched through the HAProxy runtime API;
# deploy/bluegreen/haproxy.cfg explains its two entry points (failover and no-retry).
#
# Settings (environment):
#   BG_STATE_DIR        runtime socket, live map, per-colour state (default $CI_STATE/bluegreen)
#   BG_LB_PORT          failover entry point on 127.0.0.1 (default 18080)
#   BG_LB_NORETRY_PORT  no-retry entry point on 127.0.0.1 (default 18083)
#   BG_LB_ADMIN_PORT    the live colour's operations (/version, /metrics) on 127.0.0.1 (21580)
#   BG_COLOR_NET        where a colour's network lives:
#     netns     (default as root) its own network namespace, named oxbg-COLOR, joined to the
#               host by a veth pair (blue 10.182.1.2:8000, green 10.182.2.2:8000; the prefix is
#               BG_NETNS_PREFIX). HAProxy talks to the instance itself, as a real balancer does,
#               and the colour's network can be cut (drv_fault cut) while its process runs.
#     loopback  (default otherwise) 127.0.0.1:BG_BLUE_PORT / BG_GREEN_PORT (18081/18082); a
#               container is published there with -p, whose userland proxy keeps accepting
#               connections for a dead container, so a crash shows as empty responses.
#   Each colour's operations listener (/version, /metrics; OXICAM_ADMIN_ADDR) is reached
#   directly, never through the public entry points: in netns mode at the colour's address on
#   9090; in loopback mode on 127.0.0.1:BG_BLUE_ADMIN_PORT / BG_GREEN_ADMIN_PORT (21581/21582).
#   BG_COLOR_ENV        extra settings for both colours, NAME=VALUE words (e.g. OXICAM_QUEUE=16)
#   BG_RETRY_AFTER, BG_RETRY_AFTER_GET  failover entry: a request the live colour has not
#                       answered after this long (POST / GET) is retried on the other colour
#                       (default 8s / 1s)
# Sourced by deploy/bluegreen/lib.sh; implements the drv_* contract described there, and the
# optional drv_drain, drv_retire, drv_counters, drv_build, drv_health, drv_fault and drv_teardown.

: "${BG_STATE_DIR:=$CI_STATE/bluegreen}"
: "${BG_LB_PORT:=18080}"
: "${BG_LB_NORETRY_PORT:=18083}"
: "${BG_LB_ADMIN_PORT:=21580}"
: "${BG_BLUE_PORT:=18081}"
: "${BG_GREEN_PORT:=18082}"
: "${BG_BLUE_ADMIN_PORT:=21581}"
: "${BG_GREEN_ADMIN_PORT:=21582}"
: "${BG_NETNS_PREFIX:=10.182}"
: "${BG_RETRY_AFTER:=8s}"
: "${BG_RETRY_AFTER_GET:=1s}"
if [ -z "${BG_COLOR_NET:-}" ]; then
  if [ "$(id -u)" -eq 0 ]; then BG_COLOR_NET=netns; else BG_COLOR_NET=loopback; fi
fi
case "$BG_COLOR_NET" in
  netns | loopback) ;;
  *) die "BG_COLOR_NET must be netns or loopback, not '$BG_COLOR_NET'" ;;
esac

HAPROXY_CFG="$OXICAM_ROOT/deploy/bluegreen/haproxy.cfg"
HAPROXY_SOCK="$BG_STATE_DIR/haproxy.sock"
HAPROXY_MAP="$BG_STATE_DIR/live.map"

# --- where each colour is -------------------------------------------------------------------

hap_host() {
  if [ "$BG_COLOR_NET" = netns ]; then
    case "$1" in
      blue) echo "$BG_NETNS_PREFIX.1.2" ;;
      green) echo "$BG_NETNS_PREFIX.2.2" ;;
    esac
  else
    echo 127.0.0.1
  fi
}
# hap_port COLOR [admin]: where COLOR serves (admin: its operations listener, the container's
# 9090), as HAProxy and the driver reach it.
hap_port() {
  local listener="${2:-public}"
  if [ "$BG_COLOR_NET" = netns ]; then
    if [ "$listener" = admin ]; then echo 9090; else echo 8000; fi
    return
  fi
  case "$1/$listener" in
    blue/public) echo "$BG_BLUE_PORT" ;;
    green/public) echo "$BG_GREEN_PORT" ;;
    blue/admin) echo "$BG_BLUE_ADMIN_PORT" ;;
    green/admin) echo "$BG_GREEN_ADMIN_PORT" ;;
  esac
}
hap_addr() { echo "$(hap_host "$1"):$(hap_port "$1")"; }
hap_url() { echo "http://$(hap_addr "$1")"; }
hap_admin_addr() { echo "$(hap_host "$1"):$(hap_port "$1" admin)"; }
hap_admin_url() { echo "http://$(hap_admin_addr "$1")"; }
hap_public_url() { echo "http://127.0.0.1:$BG_LB_PORT"; }
hap_noretry_url() { echo "http://127.0.0.1:$BG_LB_NORETRY_PORT"; }
hap_ops_url() { echo "http://127.0.0.1:$BG_LB_ADMIN_PORT"; }
hap_container() { echo "oxicam-bg-$1"; }
hap_netns() { echo "oxbg-$1"; }

BG_BLUE_ADDR="$(hap_addr blue)"
BG_GREEN_ADDR="$(hap_addr green)"
BG_BLUE_ADMIN_ADDR="$(hap_admin_addr blue)"
BG_GREEN_ADMIN_ADDR="$(hap_admin_addr green)"
export BG_STATE_DIR BG_LB_PORT BG_LB_NORETRY_PORT BG_LB_ADMIN_PORT BG_BLUE_ADDR BG_GREEN_ADDR \
  BG_BLUE_ADMIN_ADDR BG_GREEN_ADMIN_ADDR BG_RETRY_AFTER BG_RETRY_AFTER_GET BG_COLOR_NET

# --- HAProxy --------------------------------------------------------------------------------

# hap_cmd COMMAND: one HAProxy runtime API command; prints its answer.
hap_cmd() {
  echo "$1" | socat -t 5 - "UNIX-CONNECT:$HAPROXY_SOCK"
}

# hap_stat FIELD BACKEND SERVER...: the sum of a `show stat` column (scur, stot, wretr...) over
# the given rows, each named BACKEND/SERVER (SERVER may be BACKEND for the backend's own row).
hap_stat() {
  local field="$1"
  shift
  hap_cmd "show stat" | awk -F, -v f="$field" -v rows="$*" '
    NR == 1 { for (i = 1; i <= NF; i++) if ($i == f || $i == "# " f) col = i
              n = split(rows, want, " "); for (i = 1; i <= n; i++) wanted[want[i]] = 1; next }
    ($1 "/" $2) in wanted { total += $col }
    END { print total + 0 }'
}

# hap_slots COLOR: every place HAProxy may send COLOR traffic (primary, backup, no-retry entry).
hap_slots() {
  local other
  other="$(bg_other_color "$1")"
  echo "bk_$1/$1 bk_$other/$1 nr_$1/$1"
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
  log "starting HAProxy: failover entry 127.0.0.1:$BG_LB_PORT, no-retry entry" \
    "127.0.0.1:$BG_LB_NORETRY_PORT, operations 127.0.0.1:$BG_LB_ADMIN_PORT" \
    "(log: $CI_STATE/logs/haproxy-bluegreen.log)"
  haproxy -f "$HAPROXY_CFG" >>"$CI_STATE/logs/haproxy-bluegreen.log" 2>&1 </dev/null &
  echo $! >"$CI_STATE/pids/haproxy-bluegreen.pid"
  bg_retry_until 10 hap_running || die "HAProxy did not open its runtime socket $HAPROXY_SOCK"
  # Colours without a running build stay out of rotation until a release brings them up.
  local color
  for color in "${BG_COLORS[@]}"; do
    [ -f "$BG_STATE_DIR/$color.image" ] || hap_cmd "set server bk_$color/$color state maint" >/dev/null
  done
}

# hap_state COLOR: HAProxy's view of COLOR as the primary of its backend: UP, DOWN, MAINT, DRAIN...
hap_state() {
  hap_cmd "show stat" | awk -F, -v c="$1" '$1 == "bk_" c && $2 == c { print $18 }'
}

# --- colour network namespaces ------------------------------------------------------------

# hap_netns_up COLOR [PID]: names PID's network namespace (a container's) oxbg-COLOR, or
# creates that namespace, and joins it to the host with a veth pair: oxbg-COLOR on the host
# (.1), eth0 inside (.2), a /30 of its own.
hap_netns_up() {
  local color="$1" pid="${2:-}" ns net
  ns="$(hap_netns "$color")"
  net="$BG_NETNS_PREFIX.$([ "$color" = blue ] && echo 1 || echo 2)"
  command -v ip >/dev/null || apt_install iproute2
  hap_netns_down "$color"
  # Whatever happens to a colour's link (its container died, it is being replaced), packets
  # for the colours' addresses must not leave the host by the default route: refused here.
  as_root ip route replace unreachable "$BG_NETNS_PREFIX.0.0/16"
  as_root mkdir -p /var/run/netns
  if [ -n "$pid" ]; then
    as_root ln -sfn "/proc/$pid/ns/net" "/var/run/netns/$ns"
  else
    as_root ip netns add "$ns"
  fi
  as_root ip link add "$ns" type veth peer name "$ns-c" &&
    as_root ip link set "$ns-c" netns "$ns" &&
    as_root ip -n "$ns" link set "$ns-c" name eth0 &&
    as_root ip -n "$ns" addr add "$net.2/30" dev eth0 &&
    as_root ip -n "$ns" link set eth0 up &&
    as_root ip -n "$ns" link set lo up &&
    as_root ip addr add "$net.1/30" dev "$ns" &&
    as_root ip link set "$ns" up
}

# hap_netns_down COLOR: removes the veth pair and the namespace (or its name, for a container's).
hap_netns_down() {
  local ns
  ns="$(hap_netns "$1")"
  as_root ip link del "$ns" 2>/dev/null || true
  if [ -L "/var/run/netns/$ns" ]; then
    as_root rm -f "/var/run/netns/$ns"
  elif [ -e "/var/run/netns/$ns" ]; then
    as_root ip netns del "$ns" 2>/dev/null || true
  fi
}

# --- colour runtime: Docker containers, or host processes for "process:BINARY" ---------------

hap_is_process() { [[ "$1" == process:* ]]; }

hap_start() {
  local color="$1" image="$2" addr
  addr="$(hap_addr "$color")"
  # HAProxy drains a colour before it is stopped, so the server's own grace period (accepting
  # while /readyz says no, for balancers that only learn from /readyz) would only add time.
  local grace=0.5
  # Behind exactly one balancer, which appends the client's address to X-Forwarded-For.
  local settings=(OXICAM_COLOR="$color" OXICAM_ADDR="$addr" OXICAM_ADMIN_ADDR="$(hap_admin_addr "$color")"
    OXICAM_DRAIN_GRACE_S="$grace" OXICAM_TRUSTED_PROXY_HOPS=1)
  # shellcheck disable=SC2206 # NAME=VALUE words
  settings+=(${BG_COLOR_ENV:-})
  if hap_is_process "$image"; then
    local netns=()
    if [ "$BG_COLOR_NET" = netns ]; then
      hap_netns_up "$color" || return 1
      netns=(ip netns exec "$(hap_netns "$color")")
    fi
    env "${settings[@]}" "${netns[@]}" "${image#process:}" serve >>"$CI_STATE/logs/oxicam-bg-$color.log" 2>&1 </dev/null &
    echo $! >"$CI_STATE/pids/oxicam-bg-$color.pid"
    return 0
  fi
  local name setting env_args=()
  for setting in "${settings[@]}"; do env_args+=(-e "$setting"); done
  # Published: the container listens on its own ports, the image's defaults.
  local network=(-p "127.0.0.1:$(hap_port "$color"):8000" -p "127.0.0.1:$(hap_port "$color" admin):9090"
    -e OXICAM_ADDR=0.0.0.0:8000 -e OXICAM_ADMIN_ADDR=0.0.0.0:9090)
  name="$(hap_container "$color")"
  if [ "$BG_COLOR_NET" = netns ]; then
    # No network but loopback until the veth is plugged in; the address is bound before it
    # exists (nonlocal bind), so nothing listens on any other interface. Docker's HEALTHCHECK
    # probes 127.0.0.1 and would only call it unhealthy: HAProxy does the health checks.
    network=(--network none --sysctl net.ipv4.ip_nonlocal_bind=1 --no-healthcheck)
  fi
  docker run -d --name "$name" --label oxicam.ci=1 --label "oxicam.bluegreen.color=$color" \
    "${env_args[@]}" "${network[@]}" --read-only --tmpfs /tmp:rw,size=512m --cap-drop ALL \
    --security-opt no-new-privileges "$image" serve >/dev/null || return 1
  if [ "$BG_COLOR_NET" = netns ]; then
    hap_netns_up "$color" "$(docker inspect -f '{{.State.Pid}}' "$name")"
  fi
}

# hap_pid COLOR: the host pid of COLOR's server process.
hap_pid() {
  local pidfile="$CI_STATE/pids/oxicam-bg-$1.pid"
  if [ -f "$pidfile" ]; then
    cat "$pidfile"
  else
    docker inspect -f '{{.State.Pid}}' "$(hap_container "$1")" 2>/dev/null
  fi
}

hap_alive() {
  local pid
  pid="$(hap_pid "$1")"
  [ -n "$pid" ] && [ "$pid" != 0 ] && kill -0 "$pid" 2>/dev/null
}

# hap_stop COLOR: graceful stop (SIGTERM, the server drains), then removal.
hap_stop() {
  local color="$1" pidfile="$CI_STATE/pids/oxicam-bg-$1.pid" pid
  if [ -f "$pidfile" ]; then
    pid="$(cat "$pidfile")"
    kill -CONT "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
    bg_retry_until 60 bash -c "! kill -0 $pid 2>/dev/null" || kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  fi
  if command -v docker >/dev/null && docker inspect "$(hap_container "$color")" >/dev/null 2>&1; then
    # A frozen colour must run again to handle SIGTERM.
    kill -CONT "$(hap_pid "$color")" 2>/dev/null || true
    docker stop -t 60 "$(hap_container "$color")" >/dev/null 2>&1 || true
    docker rm -f "$(hap_container "$color")" >/dev/null 2>&1 || true
  fi
  hap_netns_down "$color"
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
    timeout "$timeout" "${image#process:}" smoke --url "$(hap_url "$color")" \
      --admin-url "$(hap_admin_url "$color")" --expect-color "$color"
  else
    # The smoke client of the release being tested, on the host network to reach the colour.
    timeout "$timeout" docker run --rm --label oxicam.ci=1 --network host --read-only \
      --tmpfs /tmp:rw,size=256m --cap-drop ALL "$image" \
      smoke --url "$(hap_url "$color")" --admin-url "$(hap_admin_url "$color")" --expect-color "$color"
  fi
}

hap_server_is_up() { [ "$(hap_state "$1")" = UP ]; }

drv_switch() {
  local color="$1" timeout="$2"
  hap_cmd "set server bk_$color/$color state ready" >/dev/null
  # Only switch to a colour HAProxy itself sees healthy, or the switch would be a 503 burst.
  bg_retry_until "$timeout" hap_server_is_up "$color" || {
    log "HAProxy does not see $color UP within ${timeout} s"
    return 1
  }
  # One atomic map update for both entry points: requests in flight finish where they are,
  # new ones go to $color.
  if [ -n "$(drv_live_color)" ]; then
    hap_cmd "set map $HAPROXY_MAP live $color" >/dev/null
  else
    hap_cmd "add map $HAPROXY_MAP live $color" >/dev/null
  fi
  [ "$(drv_live_color)" = "$color" ] || return 1
  # Persisted for a restarted HAProxy.
  echo "live $color" >"$HAPROXY_MAP.tmp" && mv "$HAPROXY_MAP.tmp" "$HAPROXY_MAP"
}

# Every entry point answers from COLOR (the balancer names the server that answered): both
# public ones, and the operations one.
drv_verify() {
  local url
  for url in "$(hap_public_url)/readyz" "$(hap_noretry_url)/readyz" "$(hap_ops_url)/version"; do
    [ "$(curl -fsS --max-time 5 -o /dev/null -w '%header{x-oxicam-server}' "$url" 2>/dev/null)" = "$1" ] ||
      return 1
  done
}

drv_abort() {
  local color="$1" previous
  hap_cmd "set server bk_$color/$color state maint" >/dev/null
  # Kept for the post-mortem.
  curl -fs --max-time 2 "$(hap_admin_url "$color")/metrics" >"$BG_STATE_DIR/$color.failed-build-metrics" || true
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

# --- optional contract functions ---------------------------------------------------------

# drv_drain COLOR SECONDS: no new requests anywhere (tracking servers inherit the drain: the
# backup slot and the no-retry entry), then wait for the ones in flight to finish.
drv_drain() {
  local color="$1" timeout="$2"
  hap_cmd "set server bk_$color/$color state drain" >/dev/null
  bg_retry_until "$timeout" hap_idle "$color" || {
    log "$color still has $(hap_in_flight "$color") requests in flight after ${timeout} s"
    return 1
  }
}

# shellcheck disable=SC2046 # hap_slots prints one row name per word
hap_in_flight() { hap_stat scur $(hap_slots "$1"); }
hap_idle() { [ "$(hap_in_flight "$1")" = 0 ]; }

# drv_retire COLOR: out of rotation and stopped (after drv_drain, nothing is in flight).
drv_retire() {
  hap_cmd "set server bk_$1/$1 state maint" >/dev/null
  hap_stop "$1"
  rm -f "$BG_STATE_DIR/$1.image" "$BG_STATE_DIR/$1.previous-image"
}

# drv_counters: the balancer's own counters, `NAME VALUE` lines: per entry point (failover,
# noretry) retries, redispatches, conn_errors, resp_errors, http_5xx; per colour, sessions
# (requests HAProxy sent it, all slots).
drv_counters() {
  hap_cmd "show stat" | awk -F, '
    NR == 1 { for (i = 1; i <= NF; i++) { sub(/^# /, "", $i); col[$i] = i }; next }
    $2 == "BACKEND" && ($1 ~ /^bk_(blue|green)$/ || $1 ~ /^nr_/) {
      e = ($1 ~ /^nr_/) ? "noretry" : "failover"
      retries[e] += $col["wretr"]; redisp[e] += $col["wredis"]; econ[e] += $col["econ"]
      eresp[e] += $col["eresp"]; h5[e] += $col["hrsp_5xx"] }
    $1 ~ /^(bk|nr)_/ && ($2 == "blue" || $2 == "green") { sessions[$2] += $col["stot"] }
    END {
      split("failover noretry", es, " ")
      for (i = 1; i <= 2; i++) { e = es[i]
        printf "%s.retries %d\n%s.redispatches %d\n%s.conn_errors %d\n%s.resp_errors %d\n%s.http_5xx %d\n",
          e, retries[e], e, redisp[e], e, econ[e], e, eresp[e], e, h5[e] }
      printf "blue.sessions %d\ngreen.sessions %d\n", sessions["blue"], sessions["green"] }'
}

# drv_build COLOR: the git sha COLOR reports on /version, asked directly.
drv_build() {
  curl -fsS --max-time 5 "$(hap_admin_url "$1")/version" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["git_sha"])'
}

# drv_health COLOR: up | down | maint | drain: whether the balancer would send COLOR traffic.
drv_health() {
  local state
  state="$(hap_state "$1")"
  state="${state%% *}"
  echo "${state,,}"
}

# drv_fault COLOR ACTION: chaos on a colour.
#   kill    SIGKILL, no drain (a crash)
#   freeze  SIGSTOP: alive but silent; the kernel still accepts its connections
#   thaw    SIGCONT
#   restart a new instance of COLOR's build, as a supervisor restarts a crashed one
#   cut     every packet on COLOR's network link dropped, both ways (netns only); process untouched
#   mend    undoes cut
drv_fault() {
  local color="$1" action="$2" ns pid
  ns="$(hap_netns "$color")"
  pid="$(hap_pid "$color")"
  case "$action" in
    kill) kill -KILL "$pid" ;;
    freeze) kill -STOP "$pid" ;;
    thaw) kill -CONT "$pid" ;;
    restart)
      hap_stop "$color"
      hap_start "$color" "$(cat "$BG_STATE_DIR/$color.image")"
      ;;
    cut | mend)
      [ "$BG_COLOR_NET" = netns ] || die "drv_fault $action needs BG_COLOR_NET=netns"
      command -v iptables >/dev/null || apt_install iptables
      local op=-I
      [ "$action" = cut ] || op=-D
      as_root ip netns exec "$ns" iptables -w "$op" INPUT -i eth0 -j DROP &&
        as_root ip netns exec "$ns" iptables -w "$op" OUTPUT -o eth0 -j DROP
      ;;
    *) die "unknown fault '$action' (kill, freeze, thaw, restart, cut, mend)" ;;
  esac
}

# drv_teardown: stops both colours and HAProxy (what this target started, by pid/name).
drv_teardown() {
  local color pidfile="$CI_STATE/pids/haproxy-bluegreen.pid"
  for color in "${BG_COLORS[@]}"; do
    if [ -f "$CI_STATE/pids/oxicam-bg-$color.pid" ]; then
      kill -9 "$(cat "$CI_STATE/pids/oxicam-bg-$color.pid")" 2>/dev/null || true
      rm -f "$CI_STATE/pids/oxicam-bg-$color.pid"
    fi
    if command -v docker >/dev/null; then
      docker rm -f "$(hap_container "$color")" >/dev/null 2>&1 || true
    fi
    hap_netns_down "$color"
  done
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  fi
  if [ "$BG_COLOR_NET" = netns ]; then
    as_root ip route del unreachable "$BG_NETNS_PREFIX.0.0/16" 2>/dev/null || true
  fi
  rm -rf "$BG_STATE_DIR"
}
