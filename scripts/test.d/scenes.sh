#!/usr/bin/env bash
# Real photographs for the no-finger gate tests (crates/oxicam-video/tests/gates.rs): sample
# images shipped inside the scikit-image wheel (licences in scikit-image's data docs), fetched
# from PyPI without dependencies and unpacked into target/scene-images; nothing is committed.
# `prepare` runs before the cargo tests; `run` has nothing more to do.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../lib.sh"
cd "$OXICAM_ROOT"

SKIMAGE_VERSION=0.26.0
IMAGES=(astronaut.png coffee.png chelsea.png page.png coins.png brick.png text.png rocket.jpg)
DEST="$OXICAM_ROOT/target/scene-images"

case "${1:-run}" in
  prepare)
    if [ -f "$DEST/.skimage-$SKIMAGE_VERSION" ]; then exit 0; fi
    apt_install python3 python3-venv
    venv="$OXICAM_ROOT/target/venv-scenes"
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
    wheels="$(mktemp -d)"
    trap 'rm -rf "$wheels"' EXIT
    log "fetching the scikit-image $SKIMAGE_VERSION wheel for its sample photographs"
    "$venv/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary :all: \
      "scikit-image==$SKIMAGE_VERSION" -d "$wheels"
    mkdir -p "$DEST"
    "$venv/bin/python" - "$wheels"/scikit_image-*.whl "$DEST" "${IMAGES[@]}" <<'PY'
import sys, zipfile
wheel, dest, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for name in names + ["README.txt"]:
        with open(f"{dest}/{name}", "wb") as out:
            out.write(z.read(f"skimage/data/{name}"))
PY
    touch "$DEST/.skimage-$SKIMAGE_VERSION"
    ;;
  run) ;;
  *) die "usage: $0 prepare|run" ;;
esac
