#!/usr/bin/env bash
# Browser test of the web page: `oxicam serve` on loopback, headless Debian chromium with a fake
# camera fed from a clip rendered from the embedded real trace, and the page's Node unit tests.
# `prepare`: npm ci; `run`: test.
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
  # The camera file: the clip's frames in BT.601, which is what Chromium (like FFmpeg) assumes
  # for frames that declare no colour matrix, so the page sees the clip's colours (converted
  # with dither: see bt601-camera.mjs). The same frames losslessly in H.264 give the server's
  # FFmpeg trace of exactly what the page reads.
  ffmpeg -hide_banner -loglevel error -i "$work/clip.mp4" -pix_fmt yuv420p -f yuv4mpegpipe - |
    node "$tests_dir/bt601-camera.mjs" /dev/stdin "$work/camera.y4m"
  ffmpeg -hide_banner -loglevel error -y -i "$work/camera.y4m" -c:v libx264 -qp 0 -preset ultrafast \
    "$work/camera-lossless.mkv"
  "$bin" trace "$work/clip.mp4" --out "$work/clip.trace.json"
  "$bin" trace "$work/camera-lossless.mkv" --out "$work/camera.trace.json"
  rm -f "$work/camera-lossless.mkv"
  # A finger that slips off: 6 s covered, 3 s of a scene, then covered again.
  ffmpeg -hide_banner -loglevel error -y -i "$work/camera.y4m" -f lavfi -i testsrc=s=320x240:r=30:d=3 \
    -filter_complex "[0:v]trim=end_frame=180,setpts=PTS-STARTPTS[a];[1:v]format=yuv420p,setpts=PTS-STARTPTS[b];[0:v]trim=start_frame=180:end_frame=750,setpts=PTS-STARTPTS[c];[a][b][c]concat=n=3:v=1[out]" \
    -map "[out]" -pix_fmt yuv420p "$work/slip.y4m"
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

  local status=0 started=$SECONDS
  (cd "$tests_dir" && node --test --test-reporter=spec unit.test.mjs) || status=$?
  (cd "$tests_dir" && OXICAM_URL="http://$addr" OXICAM_FAKE_CAMERA_Y4M="$work/camera.y4m" \
    OXICAM_SLIP_CAMERA_Y4M="$work/slip.y4m" OXICAM_CLIP="$work/clip.mp4" \
    OXICAM_CLIP_TRACE="$work/clip.trace.json" OXICAM_CAMERA_TRACE="$work/camera.trace.json" \
    OXICAM_UNCOVERED_CLIP="$work/uncovered.mp4" OXICAM_TRUE_HEART_RATE_BPM="$truth" \
    OXICAM_SCREENSHOT_DIR="$work/screenshots" OXICAM_MEASUREMENTS="$work/measurements.json" \
    node --test --test-reporter=spec browser.test.mjs) || status=$?
  log "browser tests took $((SECONDS - started)) s"

  kill -TERM "$pid"
  wait "$pid" || die "oxicam serve did not exit cleanly on SIGTERM"
  trap - EXIT
  rm -f "$CI_STATE/pids/browser-oxicam.pid"
  [ "$status" -eq 0 ] || { tail -n 30 "$work/server.log" >&2; die "browser test failed"; }
  if [ -n "$(ls -A "$work/uploads")" ]; then
    die "uploads left behind: $(ls "$work/uploads")"
  fi
  rm -f "$work/camera.y4m" "$work/slip.y4m"
  log "browser test passed (screenshots and measurements.json in $work)"
}

case "${1:-run}" in
  prepare) prepare ;;
  run) run ;;
  *) die "usage: $0 prepare|run" ;;
esac
