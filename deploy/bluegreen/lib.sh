#!/usr/bin/env bash
# The blue/green release procedure, defined once: steps, gates and timeouts shared by every
# target. A target is a driver in drivers/<name>.sh that only knows how to run a colour,
# probe it and move traffic; release.sh / rollback.sh (and CI) call bg_release / bg_rollback.
#
# Release of IMAGE into COLOR (which must be the idle colour):
#   1. deploy    driver starts COLOR with IMAGE, receiving no traffic; the previous idle
#                build is kept aside so a failed release can put it back
#   2. ready     COLOR answers /readyz within BG_READY_TIMEOUT
#   3. smoke     `oxicam smoke --expect-color COLOR` directly against COLOR (BG_SMOKE_TIMEOUT)
#   4. switch    traffic moves to COLOR without dropping connections
#   5. verify    the public entry point is served by COLOR (drv_verify) within BG_VERIFY_TIMEOUT;
#                otherwise traffic is switched straight back
#   6. keep      the old colour stays up as the instant rollback target
# A failure in 1-3 removes the new build, restores the previous idle one, leaves traffic
# where it was and exits non-zero naming the failed gate. Rollback: gate (the other colour is
# ready), switch, verify.
#
# Driver contract (each returns non-zero on failure; COLOR is blue|green):
#   drv_init                        reach the target, create what every release needs
#   drv_live_color                  print the colour that has the traffic ("" before the first)
#   drv_deploy COLOR IMAGE          run IMAGE as COLOR without traffic, remember the old build
#   drv_wait_ready COLOR SECONDS    COLOR is ready to serve
#   drv_smoke COLOR IMAGE SECONDS   `oxicam smoke --expect-color COLOR` against COLOR directly
#   drv_switch COLOR SECONDS        new requests go to COLOR, requests in flight finish
#   drv_verify COLOR                the public entry point is served by COLOR (retried here)
#   drv_abort COLOR                 remove the new build of COLOR, restore the remembered one
#   drv_commit COLOR                forget the remembered build
#
# Optional, for drivers that can (bg_retire, counters.sh and the CI stage's chaos phases use them):
#   drv_drain COLOR SECONDS         COLOR gets no new requests; returns once none is in flight
#   drv_retire COLOR                stop COLOR (after drv_drain) and forget its build
#   drv_counters                    the balancer's own counters, `NAME VALUE` lines
#   drv_build COLOR                 the git sha COLOR reports on /version, asked directly
#   drv_health COLOR                up | down | maint | drain, as the balancer sees COLOR
#   drv_fault COLOR ACTION          chaos: kill | restart | freeze | thaw | cut | mend
#   drv_teardown                    remove everything the driver started
#
# Sourced by release.sh/rollback.sh/retire.sh after scripts/lib.sh. If BG_REPORT names a file,
# timings are appended to it as key=value lines (switch_ms, release_s, and the epoch-ms
# moments *_at_ms that loadgen.py checks its requests against).

BG_COLORS=(blue green)

# Gate timeouts in seconds: the environment wins, then the driver's DRV_DEFAULT_*, then these.
bg_timeouts() {
  BG_READY_TIMEOUT="${BG_READY_TIMEOUT:-${DRV_DEFAULT_READY_TIMEOUT:-90}}"
  BG_SMOKE_TIMEOUT="${BG_SMOKE_TIMEOUT:-${DRV_DEFAULT_SMOKE_TIMEOUT:-120}}"
  BG_SWITCH_TIMEOUT="${BG_SWITCH_TIMEOUT:-${DRV_DEFAULT_SWITCH_TIMEOUT:-30}}"
  BG_VERIFY_TIMEOUT="${BG_VERIFY_TIMEOUT:-${DRV_DEFAULT_VERIFY_TIMEOUT:-30}}"
  BG_DRAIN_TIMEOUT="${BG_DRAIN_TIMEOUT:-${DRV_DEFAULT_DRAIN_TIMEOUT:-180}}"
}

bg_other_color() {
  case "$1" in
    blue) echo green ;;
    green) echo blue ;;
    *) die "unknown colour '$1' (expected blue or green)" ;;
  esac
}

# bg_load_driver TARGET: sources drivers/TARGET.sh and checks that it implements the contract.
bg_load_driver() {
  local target="$1" dir fn
  dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  [ -f "$dir/drivers/$target.sh" ] ||
    die "unknown target '$target' (drivers: $(basename -s .sh "$dir"/drivers/*.sh | tr '\n' ' '))"
  # shellcheck source=deploy/bluegreen/drivers/haproxy.sh
  source "$dir/drivers/$target.sh"
  for fn in drv_init drv_live_color drv_deploy drv_wait_ready drv_smoke drv_switch drv_verify \
    drv_abort drv_commit; do
    declare -F "$fn" >/dev/null || die "driver $target does not define $fn"
  done
  bg_timeouts
  drv_init
}

bg_now_ms() { date +%s%3N; }

bg_report() {
  [ -n "${BG_REPORT:-}" ] && echo "$1=$2" >>"$BG_REPORT"
  return 0
}

# bg_retry_until SECONDS CMD...: runs CMD every 0.2 s until it succeeds or time runs out.
bg_retry_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# bg_switch_and_verify FROM TO: the shared switch gate; on a failed verify, back to FROM.
bg_switch_and_verify() {
  local from="$1" to="$2" t0 t1
  log "switch: traffic -> $to"
  t0="$(bg_now_ms)"
  bg_report switch_begin_at_ms "$t0"
  if ! drv_switch "$to" "$BG_SWITCH_TIMEOUT"; then
    if [ -n "$from" ]; then drv_switch "$from" "$BG_SWITCH_TIMEOUT" || true; fi
    return 1
  fi
  bg_report switch_end_at_ms "$(bg_now_ms)"
  if ! bg_retry_until "$BG_VERIFY_TIMEOUT" drv_verify "$to"; then
    log "verify: the public entry point does not report $to within ${BG_VERIFY_TIMEOUT} s"
    if [ -n "$from" ]; then
      log "switching back to $from"
      drv_switch "$from" "$BG_SWITCH_TIMEOUT" || log "switching back to $from FAILED too"
    fi
    return 1
  fi
  t1="$(bg_now_ms)"
  log "switch: $to is live; switch + verify took $((t1 - t0)) ms"
  bg_report switch_ms "$((t1 - t0))"
}

# bg_release TARGET IMAGE COLOR
bg_release() {
  local target="$1" image="$2" color="$3" live start=$SECONDS
  bg_other_color "$color" >/dev/null
  bg_load_driver "$target"
  live="$(drv_live_color)" || die "release refused: the live colour on $target cannot be read"
  [ "$color" != "$live" ] ||
    die "release refused: $color is the live colour; release into $(bg_other_color "$color")"
  log "release $image as $color on $target (live: ${live:-none})"

  bg_fail() {
    log "release FAILED at gate '$1': removing $color's new build, restoring the previous one"
    drv_abort "$color" || log "WARNING: could not restore the previous $color build"
    die "release of $image as $color aborted: $2; traffic stays on ${live:-nothing}"
  }

  log "deploy: $color <- $image (no traffic yet)"
  drv_deploy "$color" "$image" || bg_fail deploy "could not start it"
  log "ready: waiting up to ${BG_READY_TIMEOUT} s for $color /readyz"
  drv_wait_ready "$color" "$BG_READY_TIMEOUT" ||
    bg_fail ready "$color never became ready within ${BG_READY_TIMEOUT} s"
  log "smoke: oxicam smoke against $color directly (timeout ${BG_SMOKE_TIMEOUT} s)"
  drv_smoke "$color" "$image" "$BG_SMOKE_TIMEOUT" ||
    bg_fail smoke "the smoke test failed against $color (see its output above)"
  bg_switch_and_verify "$live" "$color" ||
    bg_fail switch "traffic could not be moved to $color and verified"
  drv_commit "$color"
  bg_report release_s "$((SECONDS - start))"
  if [ -n "$live" ]; then
    log "released $image as $color in $((SECONDS - start)) s; $live kept for rollback" \
      "(deploy/bluegreen/rollback.sh $target $live)"
  else
    log "released $image as $color in $((SECONDS - start)) s (first release)"
  fi
}

# bg_rollback TARGET [COLOR]: traffic back to COLOR (default: the idle colour).
bg_rollback() {
  local target="$1" color="${2:-}" live
  bg_load_driver "$target"
  live="$(drv_live_color)" || die "rollback refused: the live colour on $target cannot be read"
  [ -n "$live" ] || die "rollback refused: nothing is live on $target"
  [ -n "$color" ] || color="$(bg_other_color "$live")"
  bg_other_color "$color" >/dev/null
  [ "$color" != "$live" ] || die "rollback refused: $color is already live"
  log "rollback on $target: $live -> $color"
  drv_wait_ready "$color" 10 ||
    die "rollback refused: $color is not ready (was it removed?); traffic stays on $live"
  bg_switch_and_verify "$live" "$color" ||
    die "rollback to $color failed; traffic is on $(drv_live_color)"
  log "rolled back: $color is live, $live kept"
}

# --- retire: the old colour drained and stopped (drivers that define drv_drain/drv_retire) ----

# bg_retire TARGET COLOR: the idle COLOR gets no new requests, the ones in flight finish (up to
# BG_DRAIN_TIMEOUT), then it is stopped; a rollback to it is no longer instant.
bg_retire() {
  local target="$1" color="$2" t0 t1
  bg_other_color "$color" >/dev/null
  bg_load_driver "$target"
  if ! declare -F drv_drain >/dev/null || ! declare -F drv_retire >/dev/null; then
    die "driver $target cannot retire a colour (no drv_drain/drv_retire)"
  fi
  [ "$color" != "$(drv_live_color)" ] || die "retire refused: $color is the live colour"
  log "retire: draining $color (up to ${BG_DRAIN_TIMEOUT} s), then stopping it"
  t0="$(bg_now_ms)"
  bg_report drain_begin_at_ms "$t0"
  drv_drain "$color" "$BG_DRAIN_TIMEOUT" || die "$color did not drain; it was not stopped"
  t1="$(bg_now_ms)"
  bg_report drained_at_ms "$t1"
  drv_retire "$color" || die "could not stop $color"
  bg_report retired_at_ms "$(bg_now_ms)"
  log "retired $color: drained in $((t1 - t0)) ms, stopped $(($(bg_now_ms) - t1)) ms later"
}
