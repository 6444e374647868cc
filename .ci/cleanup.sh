#!/usr/bin/env bash
# Stops everything CI stages started: processes whose PID files are in $CI_STATE/pids and
# containers labelled oxicam.ci=1. Called by .ci/run on exit, also after a failure.
set -uo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"

if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  mapfile -t containers < <(docker ps -aq --filter label=oxicam.ci=1)
  if [ "${#containers[@]}" -gt 0 ]; then
    docker rm -f "${containers[@]}" >/dev/null 2>&1 || true
  fi
fi

# Reverse order of start so that dockerd (started first) goes last.
if [ -d "$CI_STATE/pids" ]; then
  mapfile -t pidfiles < <(ls -t "$CI_STATE"/pids/*.pid 2>/dev/null)
  for pidfile in "${pidfiles[@]}"; do
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
fi
