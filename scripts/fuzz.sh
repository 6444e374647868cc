#!/usr/bin/env bash
# Fuzzes every parser of outside input (fuzz/fuzz_targets: the multipart upload path, the trace
# CSV reader, the trace JSON of /v1/traces, the model JSON loader, the decoder on mutated clips)
# with cargo-fuzz/libFuzzer,
# coverage-guided, without a sanitizer (stable Rust; debug assertions and overflow checks on).
# Starts from the committed seeds (fuzz/seeds/<target>, which include every input that once
# crashed), runs the targets two at a time, and fails on any crash, hang (> 10 s for one input)
# or out-of-memory input, which it leaves in target/fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]    default: 30 s each, every target
#
# CI (stage 25) runs the default; the long run in the notes is `scripts/fuzz.sh 1800`.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$OXICAM_ROOT"

seconds="${1:-30}"
shift || true
[[ "$seconds" =~ ^[0-9]+$ ]] || die "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]"
HANG_S=10
RSS_LIMIT_MB=2048
out="$OXICAM_ROOT/target/fuzz"

install_build_deps
apt_install python3-venv
tools_venv="$OXICAM_ROOT/target/ci-venvs/cargo-tools"
python_venv "$tools_venv" .ci/requirements-cargo-tools.txt --require-hashes
export PATH="$tools_venv/bin:$PATH"

# The product's lock, so the harness builds the very versions that ship (cargo adds the
# fuzz-only crates, libfuzzer-sys pinned exactly in fuzz/Cargo.toml).
cp Cargo.lock fuzz/Cargo.lock
mapfile -t all_targets < <(cargo fuzz list --fuzz-dir fuzz)
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=("${all_targets[@]}")
log "cargo fuzz build (${#all_targets[@]} targets, no sanitizer, 16 codegen units)"
start=$SECONDS
cargo fuzz build --fuzz-dir fuzz --sanitizer none --codegen-units 16 --target-dir "$out" >&2
log "built in $((SECONDS - start)) s"
bin_dir="$out/x86_64-unknown-linux-gnu/release"

# Inputs are written to and spooled in TMPDIR: a tmpfs keeps a busy disk out of the figures.
scratch_root=/dev/shm
[ -w "$scratch_root" ] || scratch_root="${TMPDIR:-/tmp}"

# fuzz_one TARGET: runs it for $seconds; its log is $out/logs/TARGET.log.
fuzz_one() {
  local target="$1" scratch rc=0
  mkdir -p "$out/corpus/$target" "$out/artifacts/$target" "$out/logs"
  scratch="$(mktemp -d "$scratch_root/oxicam-fuzz-$target.XXXXXX")"
  TMPDIR="$scratch" "$bin_dir/$target" "$out/corpus/$target" "fuzz/seeds/$target" \
    -max_total_time="$seconds" -timeout="$HANG_S" -rss_limit_mb="$RSS_LIMIT_MB" \
    -print_final_stats=1 -artifact_prefix="$out/artifacts/$target/" \
    >"$out/logs/$target.log" 2>&1 || rc=$?
  rm -rf "$scratch"
  return "$rc"
}

rm -rf "$out/artifacts" "$out/logs"
log "fuzzing ${targets[*]}: $seconds s each, $(nproc) at a time (hang limit ${HANG_S} s)"
pids=()
names=()
failed=()
for target in "${targets[@]}"; do
  fuzz_one "$target" &
  pids+=($!)
  names+=("$target")
  if [ "${#pids[@]}" -ge "$(nproc)" ]; then
    wait "${pids[0]}" || failed+=("${names[0]}")
    pids=("${pids[@]:1}")
    names=("${names[@]:1}")
  fi
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || failed+=("${names[$i]}")
done

fuzz_stat() { sed -n "s/^stat::$2: *//p" "$out/logs/$1.log" | tail -n1; }
summary="$out/summary.txt"
{
  printf '%-18s %12s %10s %9s %9s %8s %s\n' target inputs exec/s new slowest_s rss_mb findings
  for target in "${targets[@]}"; do
    findings="$(find "$out/artifacts/$target" -type f | wc -l)"
    printf '%-18s %12s %10s %9s %9s %8s %s\n' "$target" "$(fuzz_stat "$target" number_of_executed_units)" \
      "$(fuzz_stat "$target" average_exec_per_sec)" "$(fuzz_stat "$target" new_units_added)" \
      "$(fuzz_stat "$target" slowest_unit_time_sec)" "$(fuzz_stat "$target" peak_rss_mb)" "$findings"
  done
} | tee "$summary" >&2
if [ "${#failed[@]}" -gt 0 ]; then
  for target in "${failed[@]}"; do
    log "--- $target: $(find "$out/artifacts/$target" -type f | paste -sd' ')"
    grep -m1 -B2 -A12 -E 'panicked|ERROR: libFuzzer' "$out/logs/$target.log" >&2 || tail -n 30 "$out/logs/$target.log" >&2
  done
  die "fuzzing found ${#failed[@]} failing target(s): ${failed[*]} (reproduce: $bin_dir/TARGET ARTIFACT)"
fi
log "fuzzing: no crash, hang or out-of-memory input in $seconds s per target"
