#!/usr/bin/env bash
# Bounded load test of `oxicam serve` on loopback with oha: throughput and p50/p99 of POST /run
# with a synthesized 30 s clip next to the CLI reference, and peak RSS under 8 x 100 MB uploads
# and under twice that (16 at once against a capacity of 8). BENCH_PORT picks the loopback port
# (default: any free one).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"
cd "$OXICAM_ROOT"

work="$OXICAM_ROOT/target/bench-load"
tools="$OXICAM_ROOT/target/tools"
cores="$(nproc)"
RUN_REQUESTS="${RUN_REQUESTS:-12}"
BIG_UPLOADS=8
RSS_TARGET_MB=150

install_build_deps
apt_install ffmpeg curl
if [ ! -x "$tools/bin/oha" ]; then
  log "cargo install oha (into $tools)"
  cargo install oha --locked --root "$tools"
fi
oha="$tools/bin/oha"
log "building oxicam (release)"
cargo build --release --locked --bin oxicam
bin="$OXICAM_ROOT/target/release/oxicam"
rm -rf "$work"
mkdir -p "$work/uploads"

log "fixtures: 30 s clip from the embedded trace, and a ~100 MB 720p upload"
"$bin" synth --out "$work/clip.mp4" --seconds 30 >/dev/null
ffmpeg -hide_banner -loglevel error -y -i "$work/clip.mp4" \
  -vf "scale=1280:720,noise=alls=12:allf=t" -c:v libx264 -preset ultrafast \
  -b:v 26M -maxrate 26M -bufsize 26M "$work/big.mp4"

server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
trap stop_server EXIT

# start_server ARGS...: runs oxicam serve on a free loopback port; sets $server_pid and $base.
start_server() {
  "$bin" serve --addr "127.0.0.1:${BENCH_PORT:-0}" --log-format json --tmp-dir "$work/uploads" \
    --drain-grace-secs 0 --rate-per-minute 0 --admin-addr off "$@" 2>"$work/server.log" &
  server_pid=$!
  local addr="" _
  for _ in $(seq 1 100); do
    addr="$(grep -oP '"addr":"\K[^"]+' "$work/server.log" | head -n1 || true)"
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || die "oxicam serve did not start"
  base="http://$addr"
}

rss_mb() { awk -v k="$2" '$1 == k":" { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# summarize LABEL FILE: one line from oha's JSON output.
summarize() {
  python3 - "$1" "$2" <<'PY'
import json, sys
label, path = sys.argv[1], sys.argv[2]
d = json.load(open(path))
s, p = d["summary"], d.get("latencyPercentiles", {})
codes = d.get("statusCodeDistribution", {})
ms = lambda v: "n/a" if v is None else f"{v * 1000:.0f} ms"
print(f"{label:<34} {s['requestsPerSec']:8.2f} req/s   p50 {ms(p.get('p50')):>9}   "
      f"p99 {ms(p.get('p99')):>9}   status {dict(sorted(codes.items()))}")
PY
}

p50_s() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["latencyPercentiles"]["p50"])' "$1"; }
rps() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["requestsPerSec"])' "$1"; }

log "reference: oxicam analyze on the same clip (no HTTP), 3 runs"
cli_s="$(python3 - "$bin" "$work/clip.mp4" <<'PY'
import subprocess, sys, time
times = []
for _ in range(3):
    start = time.perf_counter()
    subprocess.run([sys.argv[1], "analyze", "--json", sys.argv[2]], check=True, stdout=subprocess.DEVNULL)
    times.append(time.perf_counter() - start)
print(sorted(times)[1])
PY
)"

start_server
log "GET /healthz (HTTP baseline), 2000 requests"
"$oha" --no-tui --output-format json -n 2000 -c 8 "$base/healthz" >"$work/healthz.json"
log "POST /run, 30 s clip, one at a time (latency vs the CLI)"
"$oha" --no-tui --output-format json -n 6 -c 1 -m POST -F "file=@$work/clip.mp4" "$base/run" >"$work/run-c1.json"
log "POST /run, 30 s clip, $RUN_REQUESTS requests, $cores at a time (throughput)"
"$oha" --no-tui --output-format json -n "$RUN_REQUESTS" -c "$cores" -m POST -F "file=@$work/clip.mp4" "$base/run" >"$work/run-cN.json"
log "POST /run, 30 s clip, 16 requests, 16 at a time (over capacity: queue, then 503)"
"$oha" --no-tui --output-format json -n 16 -c 16 -m POST -F "file=@$work/clip.mp4" "$base/run" >"$work/run-c16.json"
steady_rss="$(rss_mb "$server_pid" VmHWM)"
stop_server

# big_uploads N TAG: N concurrent uploads of big.mp4 to a fresh server that decodes up to
# $BIG_UPLOADS at once (--queue); peak RSS (VmHWM) and its split into the phase while bodies
# arrive and the phase while they decode, in $work/rss-TAG.txt, oha's report in big-TAG.json.
big_uploads() {
  local n="$1" tag="$2" sampler
  start_server --queue "$BIG_UPLOADS"
  idle_rss="$(rss_mb "$server_pid" VmRSS)"
  log "$n concurrent uploads of $(du -m "$work/big.mp4" | cut -f1) MB ($tag)"
  # Samples RSS and the spooled bytes, to tell the upload phase (all bodies arriving at once)
  # from the decode phase (at most --concurrency decodes at a time).
  python3 - "$server_pid" "$work/uploads" "$((BIG_UPLOADS * $(stat -c %s "$work/big.mp4")))" \
    >"$work/rss-$tag.txt" <<'PY' &
import os, sys, time
pid, folder, total = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
upload_peak = decode_peak = 0
uploading = True
while os.path.exists(f"/proc/{pid}"):
    try:
        status = open(f"/proc/{pid}/status").read()
        spooled = sum(e.stat().st_size for e in os.scandir(folder))
    except (FileNotFoundError, ProcessLookupError):
        break
    rss = int(next(l.split()[1] for l in status.splitlines() if l.startswith("VmRSS:"))) / 1024
    uploading = uploading and spooled < total * 0.98
    if uploading:
        upload_peak = max(upload_peak, rss)
    else:
        decode_peak = max(decode_peak, rss)
    print(f"{upload_peak:.1f} {decode_peak:.1f}", flush=True)
    time.sleep(0.2)
PY
  sampler=$!
  "$oha" --no-tui --output-format json -n "$n" -c "$n" -m POST -t 300s \
    -F "file=@$work/big.mp4" "$base/run" >"$work/big-$tag.json"
  echo "$(rss_mb "$server_pid" VmHWM) $(tail -n1 "$work/rss-$tag.txt")" >"$work/peak-$tag.txt"
  stop_server
  wait "$sampler" || true
}

big_uploads "$BIG_UPLOADS" fit
read -r peak_rss upload_peak decode_peak <"$work/peak-fit.txt"
# Twice as many as the server takes: the excess must be refused without holding memory.
big_uploads "$((2 * BIG_UPLOADS))" overload
read -r over_rss over_upload_peak over_decode_peak <"$work/peak-overload.txt"
leftovers="$(find "$work/uploads" -type f | wc -l)"

big_mb="$(du -m "$work/big.mp4" | cut -f1)"
echo
echo "== oxicam load test ($(date -u +%FT%TZ), $cores cores, loopback) =="
summarize "GET /healthz (c=8)" "$work/healthz.json"
summarize "POST /run 30 s clip (c=1)" "$work/run-c1.json"
summarize "POST /run 30 s clip (c=$cores)" "$work/run-cN.json"
summarize "POST /run 30 s clip (c=16)" "$work/run-c16.json"
summarize "POST /run ${big_mb} MB 720p (c=$BIG_UPLOADS)" "$work/big-fit.json"
summarize "POST /run ${big_mb} MB 720p (c=$((2 * BIG_UPLOADS)), 2x)" "$work/big-overload.json"
python3 - "$cli_s" "$(p50_s "$work/run-c1.json")" "$(rps "$work/run-cN.json")" "$cores" <<'PY'
import sys
cli, p50, rps, cores = map(float, sys.argv[1:])
print(f"reference: oxicam analyze (CLI, same clip)   {cli * 1000:.0f} ms")
print(f"ratio  /run p50 (c=1) / CLI analyze          {p50 / cli:.2f}x   (HTTP + upload overhead)")
print(f"ratio  /run throughput / ({cores:.0f} cores / CLI time)  {rps / (cores / cli):.2f}x   (1.0 = every core busy analysing)")
PY
echo "RSS: idle ${idle_rss} MB; peak after the clip runs ${steady_rss} MB; peak with $BIG_UPLOADS x ${big_mb} MB uploads ${peak_rss} MB (target < ${RSS_TARGET_MB} MB)"
echo "     of which: while the $BIG_UPLOADS bodies were arriving ${upload_peak} MB; while decoding ${decode_peak} MB"
echo "RSS under a 2x overload ($((2 * BIG_UPLOADS)) x ${big_mb} MB at once, capacity $BIG_UPLOADS): peak ${over_rss} MB (arriving ${over_upload_peak} MB, decoding ${over_decode_peak} MB)"
python3 -c "import sys; print(f'ratio  peak RSS / bytes in flight              {float(sys.argv[1]) / (int(sys.argv[2]) * int(sys.argv[3])):.3f}x   (uploads are streamed to disk)')" "$peak_rss" "$BIG_UPLOADS" "$big_mb"
echo "temporary files left: $leftovers"
[ "$leftovers" -eq 0 ] || die "uploads were left behind"
for rss in "$peak_rss" "$over_rss"; do
  python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)" "$rss" "$RSS_TARGET_MB" \
    || log "WARNING: peak RSS ${rss} MB is over the ${RSS_TARGET_MB} MB target"
done
