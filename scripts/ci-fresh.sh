#!/usr/bin/env bash
# Proves CI on a fresh machine: runs `bash .ci/run` (CI=true) in a new clone of HEAD with an
# empty CARGO_HOME (only the rustup toolchain is kept), no pip/npm caches and no Docker images,
# containers or build cache from earlier runs. apt packages cannot be removed here; every stage
# installs them idempotently itself.
#
#   scripts/ci-fresh.sh [--keep-docker] [--dir DIR]
#
# Prints the per-stage timings of .ci/run; the whole log stays in DIR/ci.log.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

keep_docker=0
dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --keep-docker) keep_docker=1 ;;
    --dir) dir="$2"; shift ;;
    *) die "usage: scripts/ci-fresh.sh [--keep-docker] [--dir DIR]" ;;
  esac
  shift
done
dir="${dir:-$(mktemp -d "${TMPDIR:-/tmp}/oxicam-ci-fresh.XXXXXX")}"
mkdir -p "$dir"
[ -z "$(git -C "$OXICAM_ROOT" status --porcelain --untracked-files=no)" ] ||
  log "WARNING: uncommitted changes are not part of the run (it clones HEAD)"

# The stages read ../shared/data relative to the checkout, as on the CI machine.
rm -rf "$dir/main" "$dir/cargo-home" "$dir/cache"
ln -sfn "$(cd "$OXICAM_ROOT/.." && pwd)/shared" "$dir/shared"
git clone -q --no-hardlinks "$OXICAM_ROOT" "$dir/main"
git -C "$dir/main" checkout -q "$(git -C "$OXICAM_ROOT" rev-parse HEAD)"
mkdir -p "$dir/cargo-home" "$dir/cache"

if [ "$keep_docker" -eq 0 ] && command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  log "removing every Docker container, image and build cache (a fresh engine)"
  mapfile -t containers < <(docker ps -aq)
  [ "${#containers[@]}" -eq 0 ] || docker rm -f "${containers[@]}" >/dev/null
  docker system prune -af --volumes >/dev/null
  docker builder prune -af >/dev/null 2>&1 || true
fi

log "fresh CI run in $dir/main (log: $dir/ci.log)"
start=$SECONDS
set +e
(
  cd "$dir/main"
  env CI=true \
    CARGO_HOME="$dir/cargo-home" \
    RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" \
    PATH="$dir/cargo-home/bin:$PATH" \
    PIP_NO_CACHE_DIR=1 \
    XDG_CACHE_HOME="$dir/cache" \
    npm_config_cache="$dir/cache/npm" \
    bash .ci/run
) >"$dir/ci.log" 2>&1
rc=$?
set -e
log "fresh CI run finished with exit code $rc after $((SECONDS - start)) s"
sed -n '/=== all stages passed/,$p; /FAILED after/p' "$dir/ci.log" | sed 's/\x1b\[[0-9;]*m//g'
[ "$rc" -eq 0 ] || tail -n 40 "$dir/ci.log" >&2
exit "$rc"
