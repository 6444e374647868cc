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

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

apt_install bc
METHODS=(oxicam ffmpeg cv2mean numpy)
summary=()
for codec in h264 hevc; do
  file=$(clip "$codec")
  frames=$("$OXICAM" synth --decode-only "$file" | sed -n 's/frames=\([0-9]*\).*/\1/p')
  log "$codec: $file, $frames frames, $(du -m "$file" | cut -f1) MB"
  declare -A wall=() cpu=()
  for rep in $(seq 1 "$REPS"); do
    # Interleave the methods so drift in machine load hits them all alike.
    for method in "${METHODS[@]}"; do
      read -r w c < <("time_$method" "$file")
      wall[$method]+="$w "
      cpu[$method]+="$c "
      printf '%-5s rep %d  %-8s wall %8.3f s  cpu %8.3f s\n' "$codec" "$rep" "$method" "$w" "$c" >&2
    done
  done
  declare -A mw=() mc=()
  for method in "${METHODS[@]}"; do
    mw[$method]=$(tr ' ' '\n' <<<"${wall[$method]}" | grep -v '^$' | median)
    mc[$method]=$(tr ' ' '\n' <<<"${cpu[$method]}" | grep -v '^$' | median)
  done
  for method in "${METHODS[@]}"; do
    summary+=("$(printf '%-5s %-8s wall %7.2f s  cpu %7.2f s  %6.1f frames/cpu-s  ratio wall %5.2fx  cpu %5.2fx' \
      "$codec" "$method" "${mw[$method]}" "${mc[$method]}" "$(echo "$frames / ${mc[$method]}" | bc -l)" \
      "$(echo "${mw[$method]} / ${mw[oxicam]}" | bc -l)" "$(echo "${mc[$method]} / ${mc[oxicam]}" | bc -l)")")
  done
  unset wall cpu mw mc
done

echo
echo "Decode benchmark: ${SECONDS_OF_VIDEO} s 1920x1080 clips, $REPS reps, medians."
echo "ratio = method time / oxicam time (oxicam's speed relative to the method; > 1: oxicam faster)"
echo "(targets: ffmpeg >= 0.97x, cv2mean >= 1.1x, numpy >= 2x)"
printf '%s\n' "${summary[@]}"
