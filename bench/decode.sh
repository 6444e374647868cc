#!/usr/bin/env bash
# Decode benchmark: oxicam trace extraction vs the ffmpeg CLI decode (`-threads 2 -f null`),
# OpenCV (VideoCapture + cv2.mean) and numpy means, on synthesized 30 s 1080p H.264 and HEVC clips.
# Prints per-run times and speed ratios (reference time / oxicam time: > 1 means oxicam is faster).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"
cd "$OXICAM_ROOT"

REPS="${BENCH_REPS:-3}"
SECONDS_OF_VIDEO="${BENCH_SECONDS:-30}"
OUT="$OXICAM_ROOT/bench/out/decode"
mkdir -p "$OUT"

install_build_deps
apt_install ffmpeg python3-venv
log "building oxicam (release)"
cargo build --release --locked -p oxicam
OXICAM="$OXICAM_ROOT/target/release/oxicam"
python_venv "$OXICAM_ROOT/bench/out/venv" "$OXICAM_ROOT/bench/decode-requirements.txt"
PY="$OXICAM_ROOT/bench/out/venv/bin/python"

# Phone-like bitrates (~10-15 Mbit/s at 1080p30): the test fixtures' near-lossless settings
# would make this a benchmark of entropy decoding at 100+ Mbit/s instead.
CLIP_ARGS=(--size 1920x1080 --crf 18 --noise 1)
clip() { # clip CODEC -> path of a synthesized 1080p clip (made once, kept in bench/out)
  local codec="$1" path="$OUT/${1}-1080p-${SECONDS_OF_VIDEO}s-crf18.mp4"
  if [ ! -s "$path" ]; then
    log "synthesizing $path"
    "$OXICAM" synth --codec "$codec" "${CLIP_ARGS[@]}" --seconds "$SECONDS_OF_VIDEO" --out "$path.tmp.mp4"
    mv "$path.tmp.mp4" "$path"
  fi
  echo "$path"
}

now() { date +%s.%N; }

# Each method prints one time in seconds. Native tools are timed as whole processes; the
# Python ones from inside the script, after interpreter start-up and imports (in their favour).
time_oxicam() { "$OXICAM" synth --decode-only "$1" | sed -n 's/.*seconds=\([0-9.]*\).*/\1/p'; }
time_ffmpeg() {
  local t0 t1
  t0=$(now)
  ffmpeg -hide_banner -loglevel error -threads 2 -i "$1" -f null -
  t1=$(now)
  echo "$t1 - $t0" | bc -l
}
time_cv2mean() { "$PY" "$OXICAM_ROOT/bench/decode_python.py" cv2mean "$1" | sed -n 's/.*seconds=\([0-9.]*\).*/\1/p'; }
time_numpy() { "$PY" "$OXICAM_ROOT/bench/decode_python.py" numpy "$1" | sed -n 's/.*seconds=\([0-9.]*\).*/\1/p'; }

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

apt_install bc
METHODS=(oxicam ffmpeg cv2mean numpy)
summary=()
for codec in h264 hevc; do
  file=$(clip "$codec")
  frames=$("$OXICAM" synth --decode-only "$file" | sed -n 's/frames=\([0-9]*\).*/\1/p')
  log "$codec: $file, $frames frames, $(du -m "$file" | cut -f1) MB"
  declare -A runs=()
  for rep in $(seq 1 "$REPS"); do
    # Interleave the methods so drift in machine load hits them all alike.
    for method in "${METHODS[@]}"; do
      t=$("time_$method" "$file")
      runs[$method]+="$t "
      printf '%-5s rep %d  %-8s %8.3f s\n' "$codec" "$rep" "$method" "$t" >&2
    done
  done
  declare -A med=()
  for method in "${METHODS[@]}"; do
    med[$method]=$(tr ' ' '\n' <<<"${runs[$method]}" | grep -v '^$' | median)
  done
  for method in "${METHODS[@]}"; do
    summary+=("$(printf '%-5s %-8s median %7.3f s  %6.1f frames/s  ratio vs oxicam %5.2fx' \
      "$codec" "$method" "${med[$method]}" "$(echo "$frames / ${med[$method]}" | bc -l)" \
      "$(echo "${med[$method]} / ${med[oxicam]}" | bc -l)")")
  done
  unset runs med
done

echo
echo "Decode benchmark: ${SECONDS_OF_VIDEO} s 1920x1080 clips, $REPS reps, median; ratio = method time / oxicam time"
echo "(targets: ffmpeg >= 0.97x, cv2mean >= 1.1x, numpy >= 2x)"
printf '%s\n' "${summary[@]}"
