#!/usr/bin/env bash
# Kubernetes static checks, offline: render every kustomize overlay, validate it against the
# Kubernetes schemas (kubernetes-validate, bundled schemas, strict) and check the Argo
# Rollouts objects against the CRD schemas in ../shared plus the restricted-PSS and
# blue/green wiring rules (deploy/k8s/check_manifests.py). Each checker is also shown a
# broken manifest and must reject it, so a checker that passes everything fails the stage.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$OXICAM_ROOT"

K8S_VERSION=1.32.0
CRD_DIR="$OXICAM_ROOT/../shared/data/argo-rollouts-crds"
out="$CI_STATE/k8s"
venv="$CI_STATE/venv-k8s"
mkdir -p "$out"

[ -f "$CRD_DIR/rollout-crd.yaml" ] || die "Argo Rollouts CRDs not found in $CRD_DIR"
# kubectl ships with this machine kind; Debian's kubernetes-client (1.20) embeds a kustomize
# too old for these kustomizations (labels, patch options), so it is no substitute.
command -v kubectl >/dev/null || die "kubectl (with kustomize v5) is required and missing"
kubectl version --client 2>/dev/null | grep -q 'Kustomize Version: v5' \
  || die "kubectl's embedded kustomize is not v5: $(kubectl version --client 2>&1 | tr '\n' ' ')"
apt_install python3-venv
python_venv "$venv" .ci/requirements-k8s.txt

yamllint_config=()
[ -f .yamllint ] && yamllint_config=(-c .yamllint)
log "yamllint deploy/k8s"
"$venv/bin/yamllint" -s "${yamllint_config[@]}" deploy/k8s

rendered=()
for overlay in base overlays/argo-rollouts overlays/plain; do
  name="$(basename "$overlay")"
  log "kubectl kustomize deploy/k8s/$overlay"
  kubectl kustomize "deploy/k8s/$overlay" >"$out/$name.yaml"
  log "kubernetes-validate --strict ($K8S_VERSION) $name"
  # Custom resources have no bundled schema (a warning); check_manifests.py covers them.
  "$venv/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "$out/$name.yaml"
  rendered+=("$out/$name.yaml")
done

log "Argo CRD schemas, restricted PSS, blue/green wiring"
"$venv/bin/python" deploy/k8s/check_manifests.py --crds "$CRD_DIR" "${rendered[@]}"

# Negative controls: the same checkers must reject a manifest with a known defect.
sed 's/^\(  *\)readOnlyRootFilesystem: true/\1readOnlyRootFilesystem: true\n\1notAField: 1/' \
  "$out/plain.yaml" >"$out/broken-core.yaml"
if "$venv/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "$out/broken-core.yaml" >/dev/null 2>&1; then
  die "kubernetes-validate accepted an unknown container field: the check is not working"
fi
sed -e 's/autoPromotionEnabled: true/autoPromotionEnabled: "yes"/' \
  -e 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/' \
  "$out/argo-rollouts.yaml" >"$out/broken-argo.yaml"
if "$venv/bin/python" deploy/k8s/check_manifests.py --crds "$CRD_DIR" "$out/broken-argo.yaml" >/dev/null 2>&1; then
  die "check_manifests.py accepted a wrong Rollout field type and a writable root: not working"
fi
log "k8s static checks passed: ${#rendered[@]} renders valid, broken controls rejected"
