#!/usr/bin/env bash
# Fuzz stage: every parser of outside input (multipart upload path, /v1/traces JSON, trace CSV reader, model JSON
# loader, decoder on mutated rendered clips) under cargo-fuzz/libFuzzer for 30 s per target, two
# targets at a time, from the seeds committed in fuzz/seeds. Any crash, hang over 10 s or
# out-of-memory input fails the stage (the input is kept in target/fuzz/artifacts/).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/fuzz.sh "${OXICAM_FUZZ_SECONDS:-30}"
