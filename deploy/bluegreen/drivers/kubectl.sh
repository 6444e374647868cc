#!/usr/bin/env bash
# Kubernetes blue/green target for the `plain` overlay (deploy/k8s/overlays/plain): two
# Deployments oxicam-blue / oxicam-green, each with a direct Service, and the public Service
# `oxicam` whose selector names the live colour. Switching traffic = patching that selector;
# kube-proxy keeps established connections to the old pods, which stay up for rollback.
#
# Settings (environment): BG_K8S_NAMESPACE (oxicam, as in the overlay), BG_K8S_CONTEXT
# (kubectl context; default: the current one), BG_K8S_OVERLAY (deploy/k8s/overlays/plain),
# BG_K8S_PUBLIC_HOST (the public host name: the Ingress's TLS host, whose ACM certificate the
# load balancer controller finds; required when the overlay has the placeholder host).
# Rights needed: edit in the namespace only (the EKS access entry of the pipeline role); the
# namespace itself is created once by an operator (deploy/k8s/base/namespace).
# Every read of the live colour fails loudly on an API error: "no public Service yet" (first
# release) is only ever concluded from a successful answer, never from a failed call.
# The smoke test runs in the cluster as a Job with the released image, like the Argo path's
# AnalysisTemplate, against http://oxicam-<colour>.<ns>.svc.cluster.local:8000.
# Sourced by deploy/bluegreen/lib.sh; implements the drv_* contract described there.

: "${BG_K8S_NAMESPACE:=oxicam}"
: "${BG_K8S_CONTEXT:=}"
: "${BG_K8S_OVERLAY:=$OXICAM_ROOT/deploy/k8s/overlays/plain}"
# The image and public host the overlay renders; the release replaces them.
K8S_PLACEHOLDER_IMAGE="registry.example.invalid/oxicam:latest"
K8S_PLACEHOLDER_HOST="oxicam.example.invalid"
K8S_HAD_PREVIOUS=""
# Set once drv_deploy has changed the colour: drv_abort undoes only what this release did.
K8S_DEPLOYED=""
# Rollouts pull images and each verify is a smoke Job (pod start + a real analysis); read by
# bg_timeouts in lib.sh.
# shellcheck disable=SC2034
DRV_DEFAULT_READY_TIMEOUT=300 DRV_DEFAULT_SMOKE_TIMEOUT=240 DRV_DEFAULT_VERIFY_TIMEOUT=240

kc() {
  if [ -n "$BG_K8S_CONTEXT" ]; then
    kubectl --context "$BG_K8S_CONTEXT" -n "$BG_K8S_NAMESPACE" "$@"
  else
    kubectl -n "$BG_K8S_NAMESPACE" "$@"
  fi
}

k8s_svc_url() { echo "http://$1.$BG_K8S_NAMESPACE.svc.cluster.local:8000"; }

# k8s_render IMAGE: the overlay with the release image in every pod template and the public
# host in the Ingress.
k8s_render() {
  local rendered
  rendered="$(kubectl kustomize "$BG_K8S_OVERLAY")" || return 1
  if grep -qF "$K8S_PLACEHOLDER_HOST" <<<"$rendered"; then
    [ -n "${BG_K8S_PUBLIC_HOST:-}" ] || {
      log "set BG_K8S_PUBLIC_HOST: the overlay's Ingress names the placeholder $K8S_PLACEHOLDER_HOST"
      return 1
    }
    rendered="${rendered//"$K8S_PLACEHOLDER_HOST"/$BG_K8S_PUBLIC_HOST}"
  fi
  printf '%s\n' "${rendered//"image: $K8S_PLACEHOLDER_IMAGE"/"image: $1"}"
}

# k8s_public_selector: the colour the public Service selects, "" when the Service does not
# exist yet; non-zero (and nothing printed) when the API cannot be asked.
k8s_public_selector() {
  local out
  out="$(kc get service oxicam --ignore-not-found -o jsonpath='{.metadata.name}/{.spec.selector.color}')" || {
    log "cannot read Service oxicam in namespace $BG_K8S_NAMESPACE (API unreachable or forbidden)"
    return 1
  }
  case "$out" in
    "") echo "" ;;
    oxicam/*) echo "${out#oxicam/}" ;;
    *) log "unexpected answer reading Service oxicam: $out"; return 1 ;;
  esac
}

# k8s_smoke_job NAME IMAGE URL COLOR TIMEOUT: `oxicam smoke` in the cluster; 0 if it passed.
k8s_smoke_job() {
  local name="$1" image="$2" url="$3" color="$4" timeout="$5" deadline status
  kc apply -f - >/dev/null <<EOF
apiVersion: batch/v1
kind: Job
metadata:
  name: $name
  labels: {app.kubernetes.io/name: oxicam-smoke, app.kubernetes.io/part-of: oxicam}
spec:
  backoffLimit: 0
  activeDeadlineSeconds: $timeout
  ttlSecondsAfterFinished: 600
  template:
    metadata:
      labels: {app.kubernetes.io/name: oxicam-smoke, app.kubernetes.io/part-of: oxicam}
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: smoke
          image: $image
          args: [smoke, --url, "$url", --expect-color, "$color"]
          env: [{name: TMPDIR, value: /tmp}]
          resources:
            requests: {cpu: 200m, memory: 128Mi}
            limits: {cpu: "1", memory: 512Mi}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
          volumeMounts: [{name: tmp, mountPath: /tmp}]
      volumes: [{name: tmp, emptyDir: {sizeLimit: 256Mi}}]
EOF
  deadline=$((SECONDS + timeout + 30))
  status=""
  while [ "$SECONDS" -lt "$deadline" ]; do
    status="$(kc get job "$name" -o jsonpath='{.status.succeeded}/{.status.failed}' 2>/dev/null || true)"
    case "$status" in
      1/*) break ;;
      */[1-9]*) break ;;
    esac
    sleep 2
  done
  kc logs "job/$name" --tail=50 2>/dev/null >&2 || true
  kc delete job "$name" --wait=false >/dev/null 2>&1 || true
  [[ "$status" == 1/* ]]
}

drv_init() {
  local rendered
  command -v kubectl >/dev/null || die "the kubectl target needs kubectl"
  # Reachable, and allowed to do what a release does (edit rights in the namespace).
  [ "$(kc auth can-i patch services)" = yes ] ||
    die "kubectl cannot patch Services in namespace $BG_K8S_NAMESPACE (API unreachable or no edit rights)"
  rendered="$(k8s_render "$K8S_PLACEHOLDER_IMAGE")" || die "cannot render $BG_K8S_OVERLAY"
  # Shared namespaced objects (service account, config, Ingress, network policies); never the
  # public Service, whose selector belongs to the release procedure. The namespace exists
  # already (an operator's, cluster-scoped).
  kc apply -l '!color,!traffic' -f - >/dev/null <<<"$rendered"
}

drv_live_color() {
  k8s_public_selector
}

drv_deploy() {
  local color="$1" image="$2" live rendered
  # Re-read now, not from the caller's earlier answer: never roll out over the live colour.
  live="$(k8s_public_selector)" || return 1
  if [ "$live" = "$color" ]; then
    log "refusing to deploy into $color: it is the live colour"
    return 1
  fi
  K8S_HAD_PREVIOUS="" K8S_DEPLOYED=""
  if [ -n "$(kc get deployment "oxicam-$color" --ignore-not-found -o name)" ]; then
    K8S_HAD_PREVIOUS=1
  fi
  rendered="$(k8s_render "$image")" || return 1
  # The colour's Deployment, HPA, PDB and direct Service, with the new image.
  K8S_DEPLOYED=1
  kc apply -l "color=$color" -f - >/dev/null <<<"$rendered"
}

drv_wait_ready() {
  local ready
  kc rollout status "deployment/oxicam-$1" --timeout="${2}s" || return 1
  # A colour scaled to zero "has rolled out" too, but it cannot take traffic.
  ready="$(kc get deployment "oxicam-$1" -o jsonpath='{.status.readyReplicas}')"
  [ "${ready:-0}" -gt 0 ] || {
    log "oxicam-$1 has no ready pod (scaled to zero?)"
    return 1
  }
}

drv_smoke() {
  local color="$1" image="$2" timeout="$3"
  k8s_smoke_job "oxicam-smoke-$color-$(date +%s)" "$image" "$(k8s_svc_url "oxicam-$color")" \
    "$color" "$timeout"
}

drv_switch() {
  local color="$1" exists rendered
  exists="$(kc get service oxicam --ignore-not-found -o name)" || return 1
  if [ -z "$exists" ]; then
    # First release: create the public Service, then point it at this colour.
    rendered="$(k8s_render "$K8S_PLACEHOLDER_IMAGE")" || return 1
    kc apply -l traffic=public -f - >/dev/null <<<"$rendered"
  fi
  kc patch service oxicam --type merge -p "{\"spec\":{\"selector\":{\"color\":\"$color\"}}}" >/dev/null
  [ "$(k8s_public_selector)" = "$color" ]
}

# k8s_endpoints_only COLOR: every endpoint of the public Service is a pod of COLOR.
k8s_endpoints_only() {
  local pods
  pods="$(kc get endpointslices -l kubernetes.io/service-name=oxicam \
    -o jsonpath='{range .items[*].endpoints[*]}{.targetRef.name}{"\n"}{end}')"
  [ -n "$pods" ] && ! grep -qv "^oxicam-$1-" <<<"$pods"
}

drv_verify() {
  local color="$1" image
  # The selector change reaches the endpoints asynchronously; smoke once it has.
  bg_retry_until 60 k8s_endpoints_only "$color" || {
    log "the oxicam Service still has endpoints that are not $color"
    return 1
  }
  image="$(kc get deployment "oxicam-$color" -o jsonpath='{.spec.template.spec.containers[0].image}')"
  # Through the public Service, as a client would see it.
  k8s_smoke_job "oxicam-verify-$color-$(date +%s)" "$image" "$(k8s_svc_url oxicam)" "$color" 60
}

drv_abort() {
  local color="$1" live
  if [ -z "$K8S_DEPLOYED" ]; then
    log "oxicam-$color was not changed by this release: nothing to undo"
    return 0
  fi
  live="$(k8s_public_selector)" || return 1
  if [ "$live" = "$color" ]; then
    log "not touching oxicam-$color: it is the live colour"
    return 1
  fi
  if [ -n "$K8S_HAD_PREVIOUS" ]; then
    log "rolling oxicam-$color back to its previous ReplicaSet"
    kc rollout undo "deployment/oxicam-$color" >/dev/null &&
      kc rollout status "deployment/oxicam-$color" --timeout="${BG_READY_TIMEOUT}s"
  else
    kc delete deployment,hpa,pdb,service -l "color=$color" --wait=false >/dev/null
  fi
}

drv_commit() {
  K8S_HAD_PREVIOUS="" K8S_DEPLOYED=""
}
