#!/usr/bin/env bash
# Test stage: exactly the test command documented in README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/test.sh
