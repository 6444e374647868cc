#!/usr/bin/env bash
# Server cost of one analysis: the same 30 s recording sent as a video (`POST /v1/analyses`) and
# as the colour trace the web page sends instead (`POST /v1/traces`, delta encoding). Measures the
# bytes sent and the CPU time (user + sys, all threads) the `oxicam serve` process spends per
# request, over a phone recording (640x480 VP8, what the page's MediaRecorder sends) and a
# camera-app clip (1080p H.264). Prints medians and the video/trace ratio.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"
cd "$OXICAM_ROOT"

REPS="${BENCH_REPS:-5}"
PORT="${BENCH_PORT:-18620}"
OUT="$OXICAM_ROOT/bench/out/traces"
mkdir -p "$OUT/uploads"

install_build_deps
apt_install ffmpeg curl
log "building oxicam (release)"
cargo build --release --locked -p oxicam
OXICAM="$OXICAM_ROOT/target/release/oxicam"

clip() { # clip NAME SYNTH-ARGS... -> path of a 30 s clip (made once, kept in bench/out)
  local name="$1" path
  shift
  path="$OUT/$name"
  if [ ! -s "$path" ]; then
    log "synthesizing $path"
    "$OXICAM" synth --seconds 30 "$@" --out "$path.tmp.${name##*.}"
    mv "$path.tmp.${name##*.}" "$path"
  fi
  echo "$path"
}

"$OXICAM" serve --addr "127.0.0.1:$PORT" --admin-addr off --rate-per-minute 0 --concurrency 1 --tmp-dir "$OUT/uploads" \
  --drain-grace-secs 0 2>"$OUT/server.log" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null || die "oxicam serve did not start"

TICKS=$(getconf CLK_TCK)
server_cpu() { awk -v t="$TICKS" '{printf "%.4f\n", ($14 + $15) / t}' "/proc/$server/stat"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# send ROUTE FILE COUNT -> CPU seconds per request the server spent answering COUNT requests
# (each answer must be a report). Traces go in batches: one costs about a clock tick.
send() {
  local route="$1" file="$2" count="$3" before after status
  before=$(server_cpu)
  for _ in $(seq 1 "$count"); do
    if [ "$route" = traces ]; then
      status=$(curl -sS -o "$OUT/answer.json" -w '%{http_code}' -H 'content-type: application/json' \
        --data-binary "@$file" "http://127.0.0.1:$PORT/v1/traces")
    else
      status=$(curl -sS -o "$OUT/answer.json" -w '%{http_code}' -F "file=@$file" \
        "http://127.0.0.1:$PORT/v1/analyses")
    fi
    [ "$status" = 200 ] || die "$route answered $status: $(head -c 300 "$OUT/answer.json")"
  done
  after=$(server_cpu)
  awk -v a="$after" -v b="$before" -v n="$count" 'BEGIN {printf "%.4f\n", (a - b) / n}'
}

summary=()
for spec in "phone-640x480-vp8.webm --codec vp8 --size 640x480 --crf 10" \
  "camera-1080p-h264.mp4 --codec h264 --size 1920x1080 --crf 18 --noise 1"; do
  read -r name args <<<"$spec"
  # shellcheck disable=SC2086 # the synth arguments are words
  video=$(clip "$name" $args)
  trace="$video.trace.json"
  [ -s "$trace" ] || "$OXICAM" trace --delta "$video" --out "$trace" 2>/dev/null
  video_cpu=() trace_cpu=()
  for rep in $(seq 1 "$REPS"); do
    video_cpu+=("$(send analyses "$video" 1)")
    trace_cpu+=("$(send traces "$trace" 10)")
    printf '%s rep %d: video %s s, trace %s s CPU\n' "$name" "$rep" "${video_cpu[-1]}" "${trace_cpu[-1]}" >&2
  done
  v=$(printf '%s\n' "${video_cpu[@]}" | median)
  t=$(printf '%s\n' "${trace_cpu[@]}" | median)
  summary+=("$(awk -v n="$name" -v vb="$(stat -c %s "$video")" -v tb="$(stat -c %s "$trace")" -v v="$v" -v t="$t" \
    'BEGIN {printf "%-24s video %9.0f KB %7.3f s CPU | trace %5.1f KB %7.4f s CPU | ratio bytes %6.0fx  CPU %6.1fx", n, vb/1024, v, tb/1024, t, vb/tb, (t > 0 ? v/t : 0)}')")
done

kill -TERM "$server"
wait "$server" || true
trap - EXIT
log "median of $REPS requests each (CPU of the oxicam serve process per request):"
printf '%s\n' "${summary[@]}"
