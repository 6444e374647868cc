#!/usr/bin/env bash
# Kubernetes static checks, offline: render every kustomize overlay, validate it against the
# Kubernetes schemas (kubernetes-validate, bundled schemas, strict) and check the Argo
# Rollouts objects against the CRD schemas in ../shared plus the restricted-PSS, blue/green
# wiring and listener-contract rules (deploy/k8s/check_manifests.py); the plain overlay, which
# the pipeline applies with edit rights in one namespace, must hold namespaced objects of that
# namespace only. Each checker is also shown broken manifests and must reject each of them, so
# a checker that passes everything fails the stage.
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

log "Argo CRD schemas, restricted PSS, blue/green wiring, listener contract"
"$venv/bin/python" deploy/k8s/check_manifests.py --crds "$CRD_DIR" "${rendered[@]}"
# The namespace the pipeline's EKS access entry is scoped to (deploy/cloudformation/cluster.yaml).
pipeline_namespace="$(sed -n 's/^namespace: *//p' deploy/k8s/overlays/plain/kustomization.yaml)"
log "plain overlay: namespaced objects of '$pipeline_namespace' only (what the pipeline may apply)"
"$venv/bin/python" deploy/k8s/check_manifests.py --crds "$CRD_DIR" --namespaced-only "$pipeline_namespace" \
  "$out/plain.yaml"

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
# expect_rejected NAME FILE [ARGS...]: check_manifests.py must fail on FILE.
expect_rejected() {
  local what="$1" file="$2"
  shift 2
  if "$venv/bin/python" deploy/k8s/check_manifests.py --crds "$CRD_DIR" "$@" "$file" >/dev/null 2>&1; then
    die "check_manifests.py accepted $what: the check is not working"
  fi
}
"$venv/bin/python" - "$out/plain.yaml" "$out/base.yaml" "$out/broken-namespace.yaml" <<'PY'
import sys, yaml
# The pipeline's overlay plus the base's (cluster-scoped) Namespace.
plain = list(yaml.safe_load_all(open(sys.argv[1])))
namespace = [d for d in yaml.safe_load_all(open(sys.argv[2])) if d and d["kind"] == "Namespace"]
assert namespace, "the base renders no Namespace"
yaml.safe_dump_all(plain + namespace, open(sys.argv[3], "w"))
PY
expect_rejected "a cluster-scoped Namespace in the pipeline's overlay" "$out/broken-namespace.yaml" \
  --namespaced-only "$pipeline_namespace"
python3 - "$out/plain.yaml" "$out/broken-admin-port.yaml" <<'PY'
import sys
text = open(sys.argv[1]).read()
# The public Service also publishes the operations port.
marker = "    targetPort: http\n"
assert marker in text, "no Service port to extend"
text = text.replace(marker, marker + "  - name: admin\n    port: 9090\n    targetPort: admin\n", 1)
open(sys.argv[2], "w").write(text)
PY
expect_rejected "a Service exposing the operations port 9090" "$out/broken-admin-port.yaml"
sed 's/kubernetes.io\/metadata.name: monitoring/kubernetes.io\/metadata.name: default/' \
  "$out/plain.yaml" >"$out/broken-admin-policy.yaml"
expect_rejected "a NetworkPolicy opening port 9090 to another namespace" "$out/broken-admin-policy.yaml"
log "k8s static checks passed: ${#rendered[@]} renders valid, 5 broken controls rejected"
