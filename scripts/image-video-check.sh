#!/usr/bin/env bash
# The image links its own FFmpeg (Debian's source, only our demuxers and decoders), not the
# host's libraries the tests ran against: decode the same fixtures with both and require the
# same answers. Fixtures are rendered here (oxicam synth and the ffmpeg CLI on the host):
# H.264 MP4, HEVC MKV, VP8 and VP9 WebM, an iPhone-like HEVC Main 10 HLG MOV (60 fps, rotated),
# a 4:4:4 and a full-range clip, and inputs that must be refused (photo, AVI, cut MP4, noise,
# a playlist, a transport stream, huge pictures), and the WebM fuzz seed with a colour tag
# outside FFmpeg's enums.
#
#   scripts/image-video-check.sh IMAGE_REF
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$OXICAM_ROOT"

image="${1:?usage: image-video-check.sh IMAGE_REF}"
apt_install ffmpeg
host_bin="$OXICAM_ROOT/target/debug/oxicam"
if [ ! -x "$host_bin" ]; then
  log "building the host oxicam (debug) for the comparison"
  cargo build --locked --bin oxicam >&2
fi
# Under target/ rather than /tmp: the same absolute path is mounted into the container, so
# the error messages (which name the file) can be compared as they are.
mkdir -p "$OXICAM_ROOT/target"
dir="$(mktemp -d "$OXICAM_ROOT/target/image-video.XXXXXX")"
trap 'rm -rf "$dir"' EXIT
chmod 755 "$dir" # the image runs as uid 10001

synth() { "$host_bin" synth --size 320x240 --seconds 22 "$@" 2>/dev/null; }
reencode() { # reencode SRC DST FFMPEG_ARGS...
  local src="$1" dst="$2"
  shift 2
  ffmpeg -hide_banner -loglevel error -y -noautorotate -i "$src" "$@" "$dst"
}
log "rendering fixtures in $dir"
synth --codec h264 --out "$dir/h264.mp4"
synth --codec hevc --out "$dir/hevc.mkv"
synth --codec vp8 --out "$dir/vp8.webm"
synth --codec vp9 --vfr --out "$dir/vp9.webm"
synth --codec h264 --fps 60 --rotate 90 --out "$dir/sdr60.mov"
# The HLG curve of BT.2100 applied to each channel's light (BT.709 inverse OETF) at 16 bits.
curve='st(0,val/maxval);st(1,if(lt(ld(0),0.0812428582986),ld(0)/4.5,pow((ld(0)+0.09929682680944)/1.09929682680944,1/0.45)));if(lte(ld(1),1/12),sqrt(3*ld(1)),0.17883277*log(12*ld(1)-0.28466892)+0.55991073)*maxval'
reencode "$dir/sdr60.mov" "$dir/iphone-hlg.mov" \
  -vf "scale=in_color_matrix=bt709:in_range=tv:out_range=pc,format=gbrp16le,lutrgb=r='$curve':g='$curve':b='$curve',scale=out_color_matrix=bt2020:out_range=tv,format=yuv420p10le" \
  -c:v libx265 -preset ultrafast -crf 8 \
  -x265-params log-level=error:profile=main10:colorprim=bt2020:transfer=arib-std-b67:colormatrix=bt2020nc:range=limited \
  -color_primaries bt2020 -color_trc arib-std-b67 -colorspace bt2020nc -color_range tv -tag:v hvc1
reencode "$dir/h264.mp4" "$dir/yuv444.mp4" -pix_fmt yuv444p -c:v libx264 -preset veryfast -crf 8
reencode "$dir/h264.mp4" "$dir/full-range.mp4" -vf scale=out_range=full -pix_fmt yuvj420p \
  -color_range pc -c:v libx264 -preset veryfast -crf 8
ffmpeg -hide_banner -loglevel error -y -i "$dir/h264.mp4" -frames:v 1 "$dir/photo.png"
reencode "$dir/h264.mp4" "$dir/foreign.avi" -c:v mpeg4 -t 2
head -c 40000 "$dir/h264.mp4" >"$dir/cut.mp4"
head -c 100000 /dev/urandom >"$dir/noise.mp4"
# The security limits (crates/oxicam-video/src/open.rs; tests hostile_input.rs, huge_picture.rs)
# must hold with the image's FFmpeg too: a playlist and a transport stream dressed as MP4, and a
# small file declaring 8192x8192 pictures, honestly or only in the H.264 bitstream.
printf '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n%s\n#EXT-X-ENDLIST\n' \
  "$dir/seg0.ts" >"$dir/playlist.mp4"
reencode "$dir/h264.mp4" "$dir/transport.mp4" -c:v libx264 -preset ultrafast -t 2 -f mpegts
ffmpeg -hide_banner -loglevel error -y -f lavfi -i color=c=red:s=8192x8192:r=10 -frames:v 3 \
  -c:v libx264 -preset ultrafast -pix_fmt yuv420p "$dir/huge.mp4"
python3 - "$dir/huge.mp4" "$dir/huge-understated.mp4" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
entry = data.index(b"avc1\0\0\0\0\0\0")  # the sample entry, not the brand in ftyp
width_at = entry + 4 + 6 + 2 + 16
assert data[width_at:width_at + 4] == b"\x20\x00\x20\x00", "8192x8192"
data[width_at:width_at + 4] = b"\x00\x40\x00\x40"  # the container now says 64x64
open(sys.argv[2], "wb").write(data)
PY
# The fuzz seed that segfaulted the in-place frame path: a 32x32 VP9 WebM whose colour element
# codes transfer characteristic 33, outside FFmpeg's enum (tests/fuzz_regressions.rs).
python3 - fuzz/seeds/multipart_upload/vp9-32x32-segfaulted-perf-branch "$dir/vp9-trc33.webm" <<'PY'
import sys
body = open(sys.argv[1], "rb").read()
start = body.index(b"\x1a\x45\xdf\xa3")
open(sys.argv[2], "wb").write(body[start:body.rindex(b"\r\n--oxfuzzB0und4ry--")])
PY

# analyze FILE: exit code, stdout (the JSON report) and stderr (the refusal or the unusable
# verdict), each stream whole: merged, their interleaving would depend on buffering.
host_analyze() {
  local rc=0 out
  out="$("$host_bin" analyze --json "$1" 2>"$1.err")" || rc=$?
  printf 'exit %s\n%s\nstderr:\n%s\n' "$rc" "$out" "$(cat "$1.err")"
}
image_analyze() {
  local rc=0 out
  out="$(docker run --rm --label oxicam.ci=1 --network none --read-only --user 10001:10001 \
    -v "$dir:$dir:ro" "$image" analyze --json "$1" 2>"$1.err")" || rc=$?
  printf 'exit %s\n%s\nstderr:\n%s\n' "$rc" "$out" "$(cat "$1.err")"
}

failed=0
checked=0
for fixture in "$dir"/*; do
  case "$fixture" in *.host | *.image | *.err) continue ;; esac
  name="$(basename "$fixture")"
  [ "$name" = sdr60.mov ] && continue
  host_analyze "$fixture" >"$fixture.host"
  image_analyze "$fixture" >"$fixture.image"
  checked=$((checked + 1))
  if cmp -s "$fixture.host" "$fixture.image"; then
    log "same answer from the host and the image: $name ($(head -n1 "$fixture.host"))"
  else
    log "DIFFERENT answers for $name:"
    diff "$fixture.host" "$fixture.image" | head -n 20 >&2 || true
    failed=$((failed + 1))
  fi
done
# The fixtures must exercise what they claim: the iPhone clip decodes as 10-bit HLG HEVC.
for want in '"codec": "hevc"' '"rotation_deg": 90' '"color_matrix": "bt2020"' '"frame_interval_mean_s": 0.01666'; do
  grep -qF "$want" "$dir/iphone-hlg.mov.image" ||
    die "the image's report on the HLG fixture lacks $want: $(head -c 600 "$dir/iphone-hlg.mov.image")"
done
grep -qF '"too_short"' "$dir/vp9-trc33.webm.image" ||
  die "the image does not answer the transfer-33 WebM with a too_short report: $(head -c 600 "$dir/vp9-trc33.webm.image")"
# ... and be refused for the right reason, not merely the same one on both sides.
# shellcheck disable=SC2016 # the backquotes are the message's own
for refusal in 'playlist.mp4:unsupported container `hls`' 'transport.mp4:unsupported container `mpegts`' \
  "huge.mp4:pictures are 8192x8192" "huge-understated.mp4:pictures are 8192x8192"; do
  grep -qF "${refusal#*:}" "$dir/${refusal%%:*}.image" ||
    die "the image does not refuse ${refusal%%:*} with '${refusal#*:}': $(head -c 600 "$dir/${refusal%%:*}.image")"
done
[ "$failed" -eq 0 ] || die "$failed of $checked fixtures decode differently in $image"
log "all $checked fixtures give identical reports (or refusals) from the host build and $image"
