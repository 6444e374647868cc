#!/usr/bin/env bash
# FFmpeg for the oxicam image, built from Debian's own source package (bookworm and
# bookworm-security, Debian's patches applied) with only what oxicam reads: the MP4/MOV and
# Matroska/WebM demuxers, the H.264, HEVC, VP8 and VP9 decoders and their parsers, the file
# protocol. Static, position-independent libraries under $PREFIX, linked into the binary.
#
#   ffmpeg.sh version         the newest ffmpeg source version apt can fetch, e.g. 7:5.1.9-0+deb12u1
#   ffmpeg.sh build VERSION   fetch that source, configure, build, install into $PREFIX and write
#                             $PREFIX/share/oxicam/{ffmpeg-build.txt,dpkg-status} (what the image
#                             labels and its SBOM record)
#
# Runs as root in a Debian bookworm container (deploy/docker/Dockerfile, scripts/docker-lib.sh).
set -euo pipefail

PREFIX="${PREFIX:-/opt/ffmpeg}"
# shellcheck disable=SC2054 # the commas are inside option values
CONFIGURE_FLAGS=(
  --disable-shared --enable-static --enable-pic
  --disable-programs --disable-doc --disable-debug
  --disable-autodetect --disable-network --disable-everything
  --disable-avdevice --disable-avfilter --disable-swresample --disable-swscale --disable-postproc
  --enable-demuxer=mov,matroska
  --enable-decoder=h264,hevc,vp8,vp9
  --enable-parser=h264,hevc,vp8,vp9
  --enable-protocol=file
)

# deb-src lines next to the deb ones, in either sources format (debootstrap's sources.list or
# the deb822 files of Docker's debian images).
enable_deb_src() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] && sed -i 's/^Types: deb$/Types: deb deb-src/' "$f"
  done
  if [ -s /etc/apt/sources.list ]; then
    sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >/etc/apt/sources.list.d/oxicam-deb-src.list
  fi
  apt-get update -qq
}

newest_version() {
  apt-cache showsrc --only-source ffmpeg | sed -n 's/^Version: //p' | sort -V | tail -n 1
}

case "${1:-}" in
version)
  enable_deb_src >&2
  newest_version
  ;;
build)
  version="${2:?usage: ffmpeg.sh build VERSION}"
  step() { echo "ffmpeg.sh: $1 ($SECONDS s)" >&2; }
  # quiet LOG CMD...: runs CMD with its output in LOG, shown only when it fails.
  quiet() {
    local log="$1"
    shift
    "$@" >"$log" 2>&1 || { tail -n 60 "$log" >&2; exit 1; }
  }
  enable_deb_src
  step "apt indexes updated"
  apt-get install -y -qq --no-install-recommends dpkg-dev nasm make >/dev/null
  work="$(mktemp -d)"
  cd "$work"
  # Fails when the archive no longer has VERSION (superseded by a security update): the
  # caller resolves the version with `ffmpeg.sh version` right before building.
  quiet "$work/source.log" apt-get source --only-source "ffmpeg=$version"
  step "source ffmpeg $version fetched and patched"
  cd ffmpeg-*/
  built="$(dpkg-parsechangelog -S Version)"
  [ "$built" = "$version" ] || { echo "asked for ffmpeg $version, got $built" >&2; exit 1; }
  upstream="${version#*:}"
  upstream="${upstream%-*}"
  revision="${version##*-}"
  quiet "$work/configure.log" ./configure --prefix="$PREFIX" --extra-version="$revision" "${CONFIGURE_FLAGS[@]}"
  quiet "$work/make.log" make -j"$(nproc)"
  quiet "$work/install.log" make install
  step "built and installed into $PREFIX"
  # configure lists -latomic for the static libraries; x86-64 and arm64 have the atomics in
  # hardware, and linking it would add libatomic.so.1 to the image for nothing (the binary's
  # link fails loudly should a platform need it).
  sed -i 's/ -latomic//g' "$PREFIX"/lib/pkgconfig/*.pc
  mkdir -p "$PREFIX/share/oxicam"
  dsc="$(ls "$work"/ffmpeg_*.dsc)"
  cat >"$PREFIX/share/oxicam/ffmpeg-build.txt" <<EOF
FFmpeg statically linked into /usr/local/bin/oxicam
source package: ffmpeg $version (Debian bookworm / bookworm-security, Debian patches applied)
upstream version: $upstream
debian revision: $revision
dsc sha256: $(sha256sum "$dsc" | cut -d' ' -f1)  $(basename "$dsc")
licence: LGPL-2.1-or-later (no GPL or non-free components enabled)
configure: ${CONFIGURE_FLAGS[*]}
libraries: libavformat libavcodec libavutil
EOF
  # A dpkg record for image scanners: the Source field maps it to Debian's advisories for ffmpeg.
  cat >"$PREFIX/share/oxicam/dpkg-status" <<EOF
Package: oxicam-ffmpeg-static
Status: install ok installed
Priority: optional
Section: libs
Maintainer: oxicam <oxicam@example.invalid>
Architecture: $(dpkg --print-architecture)
Source: ffmpeg ($version)
Version: $version
Description: FFmpeg libraries (libavformat, libavcodec, libavutil) from Debian's ffmpeg source
 package $version, configured with only the demuxers and decoders oxicam reads and linked
 statically into /usr/local/bin/oxicam.
EOF
  # `times` (in this shell, not a pipeline's subshell): its second line is the CPU time of
  # the children (apt, configure, the compilers).
  times >"$work/times"
  cpu="$(tail -n 1 "$work/times" | awk '{ for (i = 1; i <= 2; i++) { split($i, t, "m"); sub("s", "", t[2]); s += t[1] * 60 + t[2] } printf "%.0f", s }')"
  cd /
  rm -rf "$work"
  step "done; ${cpu} s of CPU in the tools it ran"
  ;;
*)
  echo "usage: ffmpeg.sh version | build VERSION" >&2
  exit 2
  ;;
esac
