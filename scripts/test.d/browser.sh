#!/usr/bin/env bash
# Browser test of the web page: `oxicam serve` on loopback, headless Debian chromium with a fake
# camera fed from a clip rendered from the embedded real trace. `prepare`: npm ci; `run`: test.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../lib.sh"
cd "$OXICAM_ROOT"

tests_dir="$OXICAM_ROOT/crates/oxicam-server/browser-tests"
work="$OXICAM_ROOT/target/browser-test"

prepare() {
  apt_install chromium ffmpeg ca-certificates
  command -v node >/dev/null || apt_install nodejs
  command -v npm >/dev/null || apt_install npm
  log "npm ci (playwright-core; the browser is Debian's chromium, nothing is downloaded)"
  (cd "$tests_dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
}

run() {
  [ -d "$tests_dir/node_modules/playwright-core" ] || prepare
  cargo build --locked --bin oxicam
  local bin="$OXICAM_ROOT/target/debug/oxicam"
  rm -rf "$work"
  mkdir -p "$work/uploads" "$CI_STATE/pids"

  log "rendering the fake camera feed from the embedded trace"
  "$bin" synth --out "$work/clip.mp4" --size 320x240
  ffmpeg -hide_banner -loglevel error -y -i "$work/clip.mp4" -pix_fmt yuv420p "$work/clip.y4m"
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc=s=320x240:r=30 -t 25 \
    -c:v libx264 -pix_fmt yuv420p "$work/uncovered.mp4"
  local truth
  truth="$(grep -oP 'EMBEDDED_TRACE_HEART_RATE_BPM: f64 = \K[0-9.]+' crates/oxicam-video/src/synth.rs)"

  "$bin" serve --addr 127.0.0.1:0 --log-format json --tmp-dir "$work/uploads" \
    --drain-grace-secs 0 --admin-addr off 2>"$work/server.log" &
  local pid=$!
  echo "$pid" >"$CI_STATE/pids/browser-oxicam.pid"
  # shellcheck disable=SC2064 # expand now: the pid is known
  trap "kill $pid 2>/dev/null || true" EXIT
  local addr="" _
  for _ in $(seq 1 300); do
    addr="$(grep -oP '"message":"oxicam listening".*?"addr":"\K[^"]+|"addr":"\K[^"]+(?=".*"message":"oxicam listening")' \
      "$work/server.log" | head -n1 || true)"
    [ -n "$addr" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/server.log" >&2; die "oxicam serve exited"; }
    sleep 0.1
  done
  [ -n "$addr" ] || die "oxicam serve did not report its address"
  log "browser test against http://$addr"

  local status=0
  (cd "$tests_dir" && OXICAM_URL="http://$addr" OXICAM_FAKE_CAMERA_Y4M="$work/clip.y4m" \
    OXICAM_CLIP="$work/clip.mp4" OXICAM_UNCOVERED_CLIP="$work/uncovered.mp4" \
    OXICAM_TRUE_HEART_RATE_BPM="$truth" \
    OXICAM_SCREENSHOT_DIR="$work/screenshots" \
    node --test --test-reporter=spec browser.test.mjs) || status=$?

  kill -TERM "$pid"
  wait "$pid" || die "oxicam serve did not exit cleanly on SIGTERM"
  trap - EXIT
  rm -f "$CI_STATE/pids/browser-oxicam.pid"
  [ "$status" -eq 0 ] || { tail -n 30 "$work/server.log" >&2; die "browser test failed"; }
  if [ -n "$(ls -A "$work/uploads")" ]; then
    die "uploads left behind: $(ls "$work/uploads")"
  fi
  rm -f "$work/clip.y4m"
  log "browser test passed (screenshots in $work/screenshots)"
}

case "${1:-run}" in
  prepare) prepare ;;
  run) run ;;
  *) die "usage: $0 prepare|run" ;;
esac
