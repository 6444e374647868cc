#!/usr/bin/env bash
# Shared shell helpers for scripts/ and .ci/: idempotent installers and logging.
# Source it; it defines OXICAM_ROOT, CI_STATE and functions, and changes no shell options.

OXICAM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export OXICAM_ROOT
# Where CI stages keep state between stages (PIDs, logs, image refs, venvs): defined here only.
: "${CI_STATE:=$OXICAM_ROOT/target/ci-state}"
export CI_STATE

log() { printf '\033[1m[oxicam]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[oxicam] ERROR:\033[0m %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=0
# apt_install PKG...: installs the Debian packages that are missing, nothing else.
apt_install() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get: install them by hand"
  log "apt-get install ${missing[*]}"
  if [ "$apt_updated" -eq 0 ]; then
    as_root apt-get update -qq
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Packages needed to build oxicam (FFmpeg 5.1 -dev libraries, bindgen's clang).
BUILD_PACKAGES=(pkg-config clang libclang-dev libavcodec-dev libavformat-dev libavutil-dev libswscale-dev)
# Packages the tests and benchmarks use on top (the ffmpeg CLI for odd fixtures, a browser).
TEST_PACKAGES=(ffmpeg chromium ca-certificates)

install_build_deps() { apt_install "${BUILD_PACKAGES[@]}"; }
install_test_deps() { apt_install "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"; }

# python_venv DIR REQUIREMENTS_FILE [PIP_ARGS...]: a throwaway venv with pinned tools, created once.
python_venv() {
  local dir="$1" req="$2"
  shift 2
  local stamp
  stamp="$dir/.req-$(sha256sum "$req" | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    log "creating python venv $dir from $req"
    python3 -m venv "$dir"
    "$dir/bin/pip" install -q --disable-pip-version-check "$@" -r "$req"
    touch "$stamp"
  fi
}
