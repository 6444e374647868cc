#!/usr/bin/env bash
# Lint stage: rustfmt, clippy with warnings as errors, shellcheck on every shell script, hadolint
# on every Dockerfile, yamllint on every YAML file, and the CircleCI config against its schema.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$OXICAM_ROOT"
install_build_deps
apt_install shellcheck python3-venv
venv="$OXICAM_ROOT/target/ci-venvs/lint"
python_venv "$venv" .ci/requirements-lint.txt

log "cargo fmt --check"
cargo fmt --all --check
cargo fmt --manifest-path fuzz/Cargo.toml --check # the fuzz targets: a workspace of their own
log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "shellcheck"
mapfile -t scripts < <(git ls-files -co --exclude-standard '*.sh' .ci/run | sort -u)
shellcheck -x "${scripts[@]}"

log "hadolint"
mapfile -t dockerfiles < <(git ls-files -co --exclude-standard '*Dockerfile*' | sort -u)
[ "${#dockerfiles[@]}" -gt 0 ] || die "no Dockerfile found to lint"
"$venv/bin/hadolint" --failure-threshold warning "${dockerfiles[@]}"

log "yamllint"
mapfile -t yamls < <(git ls-files -co --exclude-standard '*.yml' '*.yaml' '.yamllint' | sort -u)
"$venv/bin/yamllint" --strict -c .yamllint "${yamls[@]}"

log "check-jsonschema: .circleci/config.yml against the CircleCI schema"
"$venv/bin/check-jsonschema" --builtin-schema vendor.circle-ci .circleci/config.yml
# Negative control: a misspelt executor key (the runner's resource class) must be rejected.
broken_config="$(mktemp --suffix=.yml)"
sed 's/^    resource_class: oxicam\/eks-deploy$/    resource_klass: oxicam\/eks-deploy/' .circleci/config.yml >"$broken_config"
cmp -s "$broken_config" .circleci/config.yml && die "the schema control found no runner resource_class to misspell"
if "$venv/bin/check-jsonschema" --builtin-schema vendor.circle-ci "$broken_config" >/dev/null 2>&1; then
  rm -f "$broken_config"
  die "check-jsonschema accepted a misspelt executor key: the schema check is not working"
fi
rm -f "$broken_config"
