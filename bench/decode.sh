#!/usr/bin/env bash
# Decode benchmark on phone-like video: oxicam's trace extraction next to the decode floor
# (`ffmpeg -threads 2 -i CLIP -f null -`, the same two decoder threads), OpenCV (VideoCapture +
# cv2.mean) and numpy means. Clips look like a torch-lit fingertip: red near 255 on every row
# with sensor noise, green and blue low, the real UW pulse; encoded at phone bitrates:
#   1080x1920 portrait and 1280x720 (rotated portrait), H.264 and HEVC, 30 fps
#   an iPhone's default HDR video: HEVC Main 10, HLG, BT.2020, 3840x2160 at 60 fps, MOV, rotated
# Runs are interleaved (oxicam, ffmpeg, cv2, numpy, then again), best of BENCH_REPS each
# (BENCH_REPS=0 only makes the clips).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"
cd "$OXICAM_ROOT"

REPS="${BENCH_REPS:-3}"
SECONDS_OF_VIDEO="${BENCH_SECONDS:-30}"
HDR_SECONDS="${BENCH_HDR_SECONDS:-10}"
CLIPS="${BENCH_CLIPS:-h264-1080x1920 hevc-1080x1920 h264-1280x720 hevc-1280x720 hevc10-hlg-3840x2160p60}"
OUT="$OXICAM_ROOT/bench/out/decode"
mkdir -p "$OUT"

install_build_deps
apt_install ffmpeg python3-venv bc time
log "building oxicam (release)"
cargo build --release --locked -p oxicam
OXICAM="$OXICAM_ROOT/target/release/oxicam"
python_venv "$OXICAM_ROOT/bench/out/venv" "$OXICAM_ROOT/bench/decode-requirements.txt"
PY="$OXICAM_ROOT/bench/out/venv/bin/python"

# The embedded real trace (UW subject 100002) scaled to a fingertip on the torch: red ~244,
# green ~26, blue ~16, each channel's relative pulse kept. The texture's bright centre and the
# noise put red at 250+ in part of every row.
phone_trace() {
  local path="$OUT/phone-trace.csv"
  [ -s "$path" ] && { echo "$path"; return; }
  python3 - "$OXICAM_ROOT/crates/oxicam-video/assets/embedded-trace-100002-right.csv" "$path" <<'PY'
import csv, sys
rows = [[float(v) for v in r[:3]] for r in list(csv.reader(open(sys.argv[1], encoding="utf-8-sig")))[1:]]
means = [sum(r[c] for r in rows) / len(rows) for c in range(3)]
target = [244.0, 26.0, 16.0]
with open(sys.argv[2], "w") as f:
    f.write("R,G,B\n")
    for r in rows:
        f.write(",".join(f"{target[c] * r[c] / means[c]:.4f}" for c in range(3)) + "\n")
PY
  echo "$path"
}

# master SIZE FPS SECONDS ROTATE: a near-lossless rendering the clips are encoded from.
master() {
  local size="$1" fps="$2" seconds="$3" rotate="$4"
  local path="$OUT/master-${size}-${fps}fps-${seconds}s-r${rotate}.mp4"
  if [ ! -s "$path" ]; then
    log "rendering $path"
    "$OXICAM" synth --trace "$(phone_trace)" --size "$size" --fps "$fps" --seconds "$seconds" \
      --noise 2.5 --rotate "$rotate" --crf 10 --out "$path.tmp.mp4" >&2
    mv "$path.tmp.mp4" "$path"
  fi
  echo "$path"
}

# The HLG curve (BT.2100) applied to each channel's light (BT.709 inverse OETF), at 16 bits.
HLG_CURVE='st(0,val/maxval);st(1,if(lt(ld(0),0.0812428582986),ld(0)/4.5,pow((ld(0)+0.09929682680944)/1.09929682680944,1/0.45)));if(lte(ld(1),1/12),sqrt(3*ld(1)),0.17883277*log(12*ld(1)-0.28466892)+0.55991073)*maxval'

# clip NAME: the encoded clip (made once, kept in bench/out). Phone encoders' rates: about
# 17 Mbit/s H.264 and 10 Mbit/s HEVC at 1080p30, 8 and 5 at 720p, 50 for 4K60 HDR.
clip() {
  local name="$1" src path ext args=()
  case "$name" in
  h264-1080x1920) src="$(master 1080x1920 30 "$SECONDS_OF_VIDEO" 0)" ext=mp4
    args=(-c:v libx264 -preset veryfast -profile:v high -b:v 17M -maxrate 20M -bufsize 34M -g 30) ;;
  hevc-1080x1920) src="$(master 1080x1920 30 "$SECONDS_OF_VIDEO" 0)" ext=mp4
    args=(-c:v libx265 -preset superfast -b:v 10M -maxrate 12M -bufsize 20M -tag:v hvc1 -x265-params log-level=error:keyint=30) ;;
  h264-1280x720) src="$(master 1280x720 30 "$SECONDS_OF_VIDEO" 90)" ext=mp4
    args=(-c:v libx264 -preset veryfast -profile:v high -b:v 8M -maxrate 10M -bufsize 16M -g 30) ;;
  hevc-1280x720) src="$(master 1280x720 30 "$SECONDS_OF_VIDEO" 90)" ext=mp4
    args=(-c:v libx265 -preset superfast -b:v 5M -maxrate 6M -bufsize 10M -tag:v hvc1 -x265-params log-level=error:keyint=30) ;;
  hevc10-hlg-3840x2160p60) src="$(master 1920x1080 60 "$HDR_SECONDS" 90)" ext=mov
    # Upscaled, with fresh per-pixel noise at 4K (a sensor's, not the upscaler's smooth one).
    args=(-vf "scale=3840:2160:flags=bicubic,noise=c0s=6:c1s=3:c2s=3:allf=t,scale=in_color_matrix=bt709:in_range=tv:out_range=pc,format=gbrp16le,lutrgb=r='$HLG_CURVE':g='$HLG_CURVE':b='$HLG_CURVE',scale=out_color_matrix=bt2020:out_range=tv,format=yuv420p10le"
      -c:v libx265 -preset ultrafast -b:v 50M -maxrate 60M -bufsize 100M -tag:v hvc1
      -x265-params log-level=error:keyint=60:profile=main10:colorprim=bt2020:transfer=arib-std-b67:colormatrix=bt2020nc:range=limited
      -color_primaries bt2020 -color_trc arib-std-b67 -colorspace bt2020nc -color_range tv) ;;
  *) die "unknown clip $name" ;;
  esac
  path="$OUT/$name-$([ "$name" = hevc10-hlg-3840x2160p60 ] && echo "$HDR_SECONDS" || echo "$SECONDS_OF_VIDEO")s.$ext"
  if [ ! -s "$path" ]; then
    log "encoding $path"
    ffmpeg -hide_banner -loglevel error -y -noautorotate -i "$src" "${args[@]}" -an "$path.tmp.$ext"
    mv "$path.tmp.$ext" "$path"
  fi
  echo "$path"
}

# Each method prints "WALL CPU" seconds. CPU (user + sys, all threads) is the figure that
# other load on the machine distorts least. Native tools are measured as whole processes; the
# Python ones from inside the script, after interpreter start-up and imports (in their favour).
TIMEFORMAT='%R %U %S'
process_time() { # process_time CMD...: "WALL CPU" of the command, its output discarded
  local t
  t=$( { time "$@" >/dev/null; } 2>&1 | tail -1)
  awk '{printf "%.4f %.4f\n", $1, $2 + $3}' <<<"$t"
}
time_oxicam() { process_time "$OXICAM" synth --decode-only "$1"; }
time_ffmpeg() { process_time ffmpeg -hide_banner -loglevel error -threads 2 -i "$1" -f null -; }
python_time() {
  "$PY" "$OXICAM_ROOT/bench/decode_python.py" "$1" "$2" |
    sed -n 's/.*seconds=\([0-9.]*\) cpu=\([0-9.]*\).*/\1 \2/p'
}
time_cv2mean() { python_time cv2mean "$1"; }
time_numpy() { python_time numpy "$1"; }

best() { sort -g | head -n1; }
peak_rss_mb() { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -n1 | awk '{printf "%.0f", $1 / 1024}'; }
ratio() { echo "scale=4; $1 / $2" | bc -l; }

# BENCH_METHODS: a subset (oxicam and ffmpeg always run; numpy is by far the slowest).
read -r -a METHODS <<<"${BENCH_METHODS:-oxicam ffmpeg cv2mean numpy}"
for method in ffmpeg oxicam; do
  [[ " ${METHODS[*]} " == *" $method "* ]] || METHODS=("$method" "${METHODS[@]}")
done
if [ "$REPS" -eq 0 ]; then # BENCH_REPS=0: make the clips (kept in bench/out) and stop
  for name in $CLIPS; do log "$name: $(clip "$name")"; done
  exit 0
fi
summary=()
for name in $CLIPS; do
  file="$(clip "$name")"
  frames="$("$OXICAM" synth --decode-only "$file" | sed -n 's/frames=\([0-9]*\).*/\1/p')"
  mbps="$(ffprobe -v error -show_entries format=bit_rate -of csv=p=0 "$file" | awk '{printf "%.1f", $1 / 1e6}')"
  log "$name: $file, $frames frames, $mbps Mbit/s"
  rss_oxicam="$(peak_rss_mb "$OXICAM" synth --decode-only "$file")"
  rss_ffmpeg="$(peak_rss_mb ffmpeg -hide_banner -loglevel error -threads 2 -i "$file" -f null -)"
  declare -A wall=() cpu=()
  for rep in $(seq 1 "$REPS"); do
    for method in "${METHODS[@]}"; do
      read -r w c < <("time_$method" "$file")
      wall[$method]+="$w "
      cpu[$method]+="$c "
      printf '%-24s rep %d  %-8s wall %8.3f s  cpu %8.3f s\n' "$name" "$rep" "$method" "$w" "$c" >&2
    done
  done
  declare -A bw=() bc=()
  for method in "${METHODS[@]}"; do
    bw[$method]="$(tr ' ' '\n' <<<"${wall[$method]}" | grep -v '^$' | best)"
    bc[$method]="$(tr ' ' '\n' <<<"${cpu[$method]}" | grep -v '^$' | best)"
  done
  summary+=("$(printf '%-24s %5d frames %5s Mbit/s | oxicam wall %6.2f s cpu %6.2f s | floor wall %5.2fx cpu %5.2fx | cv2.mean %5.2fx | numpy %5.2fx | peak RSS %4d MB (floor %4d MB)' \
    "$name" "$frames" "$mbps" "${bw[oxicam]}" "${bc[oxicam]}" \
    "$(ratio "${bw[ffmpeg]}" "${bw[oxicam]}")" "$(ratio "${bc[oxicam]}" "${bc[ffmpeg]}")" \
    "$(ratio "${bw[cv2mean]:-0}" "${bw[oxicam]}")" "$(ratio "${bw[numpy]:-0}" "${bw[oxicam]}")" \
    "$rss_oxicam" "$rss_ffmpeg")")
  unset wall cpu bw bc
done

echo
echo "Decode benchmark ($(date -u +%FT%TZ), $(nproc) cores): phone-like clips, best of $REPS interleaved runs"
echo "floor wall = ffmpeg -threads 2 -f null wall / oxicam wall (target >= 0.97x)"
echo "floor cpu  = oxicam CPU / ffmpeg CPU (target <= 1.05x)"
echo "cv2.mean, numpy = their wall / oxicam wall (target cv2.mean >= 1.1x; 0.00x = not run)"
printf '%s\n' "${summary[@]}"
