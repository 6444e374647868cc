#!/usr/bin/env bash
# Release path, statically (no AWS account, no cluster): the CloudFormation stacks under cfn-lint
# with the oxicam rules (deploy/policy/cfn_rules), the pipeline's AWS identity under
# deploy/policy/check_iam.py, the CircleCI config under deploy/policy/check_pipeline.py,
# deploy.sh's plan (order, service role, operator stacks refused), the runner's boot script
# under shellcheck, and the kubectl blue/green driver against an API server that does not
# answer (an unreadable live colour must stop a release). Every checker is also shown known-bad
# input and must reject it, so a checker that passes everything fails the stage.
# (checkov runs on the same templates in stage 30; the manifests are stage 65's.)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$OXICAM_ROOT"
out="$CI_STATE/iac"
venv="$OXICAM_ROOT/target/venv-iac"
rm -rf "$out"
mkdir -p "$out"

step_start=$SECONDS
step() {
  log "[iac +$((SECONDS - step_start)) s] $*"
}

step "tools: python venv from .ci/requirements-iac.txt, shellcheck"
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then apt_install python3-venv; fi
apt_install shellcheck
python_venv "$venv" .ci/requirements-iac.txt
command -v kubectl >/dev/null || die "kubectl is required (stage 65 installs nothing either: it ships with this machine)"

# ---- CloudFormation -------------------------------------------------------------------------
mapfile -t templates < <(ls deploy/cloudformation/*.yaml)
step "cfn-lint ${#templates[@]} templates with the oxicam rules, and the known-bad fixtures"
# One run (cfn-lint's start-up is most of its time): the templates must yield nothing, the
# fixtures (negative control) must make every oxicam rule fire.
"$venv/bin/cfn-lint" --append-rules deploy/policy/cfn_rules --format parseable -- \
  "${templates[@]}" deploy/policy/fixtures/*.yaml >"$out/cfn-lint.txt" 2>&1 || true
if grep -v '^deploy/policy/fixtures/' "$out/cfn-lint.txt" | grep -q .; then
  grep -v '^deploy/policy/fixtures/' "$out/cfn-lint.txt" >&2
  die "cfn-lint: the templates have findings (above)"
fi
fired="$(grep -oE '^deploy/policy/fixtures/[^:]+:[0-9:]+:E91[0-9]{2}:' "$out/cfn-lint.txt" |
  grep -oE 'E91[0-9]{2}' | sort -u | paste -sd' ')"
wanted="$(grep -oE '^    id = "E91[0-9]{2}"' deploy/policy/cfn_rules/*.py | grep -oE 'E91[0-9]{2}' | sort -u | paste -sd' ')"
[ -n "$wanted" ] || die "no oxicam cfn-lint rule found in deploy/policy/cfn_rules"
[ "$fired" = "$wanted" ] || {
  cat "$out/cfn-lint.txt" >&2
  die "the fixtures triggered [$fired], the rules are [$wanted]: a rule is not working"
}
log "rules $wanted each rejected a fixture"

step "IAM: OIDC subject, service role, permissions boundary, pipeline role (with known-bad mutants)"
"$venv/bin/python" deploy/policy/check_iam.py --mutants deploy

step "CircleCI release-path rules (with known-bad mutants)"
"$venv/bin/python" deploy/policy/check_pipeline.py --mutants .circleci/config.yml

# ---- deploy.sh ------------------------------------------------------------------------------
step "deploy.sh --dry-run: order, service role, operator stacks refused"
role=arn:aws:iam::123456789012:role/deploy
plan="$(env -u OXICAM_STACKS AWS_REGION=eu-west-1 OXICAM_CFN_ROLE_ARN="$role" \
  OXICAM_CLUSTER_ADMIN_ROLE_ARN=arn:aws:iam::123456789012:role/ops \
  deploy/cloudformation/deploy.sh --dry-run ci 2>/dev/null)"
[ "$(grep -oE -- '--stack-name oxicam-ci-[a-z-]+' <<<"$plan" | cut -d' ' -f2 | paste -sd' ')" = \
  "oxicam-ci-network oxicam-ci-registry oxicam-ci-cluster" ] || die "deploy.sh's pipeline stacks changed: $plan"
[ "$(grep -c -- "--role-arn $role" <<<"$plan")" -eq 3 ] ||
  die "deploy.sh does not pass the CloudFormation service role to every stack"
operator_env=(AWS_REGION=eu-west-1 OXICAM_CIRCLECI_ORG_ID=x OXICAM_CIRCLECI_PROJECT_ID=y
  OXICAM_VCS_ORIGIN=github.com/acme/oxicam OXICAM_CLUSTER_ADMIN_ROLE_ARN=arn:aws:iam::123456789012:role/ops
  OXICAM_RUNNER_AMI=ami-0123456789abcdef0)
full="$(env -u CI -u OXICAM_CFN_ROLE_ARN "${operator_env[@]}" \
  deploy/cloudformation/deploy.sh --dry-run ci runner cluster registry network ci-access 2>/dev/null)"
[ "$(grep -oE -- '--stack-name oxicam-ci-[a-z-]+' <<<"$full" | cut -d' ' -f2 | paste -sd' ')" = \
  "oxicam-ci-ci-access oxicam-ci-network oxicam-ci-registry oxicam-ci-cluster oxicam-ci-runner" ] ||
  die "deploy.sh does not put the stacks in dependency order: $full"
for template in "${templates[@]}"; do
  grep -q -- "--template-file [^ ]*/$(basename "$template")" <<<"$full" || die "deploy.sh does not deploy $template"
done
for stack in ci-access runner; do
  if env "${operator_env[@]}" CI=true deploy/cloudformation/deploy.sh --dry-run ci "$stack" >/dev/null 2>&1; then
    die "deploy.sh deploys the operator stack $stack inside CI"
  fi
  if env -u CI "${operator_env[@]}" OXICAM_CFN_ROLE_ARN="$role" \
    deploy/cloudformation/deploy.sh --dry-run ci "$stack" >/dev/null 2>&1; then
    die "deploy.sh deploys the operator stack $stack through the service role"
  fi
done

# ---- the runner's boot script ---------------------------------------------------------------
step "shellcheck the runner's user data (extracted from runner.yaml)"
"$venv/bin/python" - deploy/cloudformation/runner.yaml "$out/runner-user-data.sh" <<'PY'
import re, sys
sys.path.insert(0, "deploy/policy")
from cfn_yaml import load
template = load(sys.argv[1])
data = template["Resources"]["RunnerLaunchTemplate"]["Properties"]["LaunchTemplateData"]
script = data["UserData"]["Fn::Base64"]["Fn::Sub"]
# CloudFormation's ${Name} substitutions become sample words, its ${!x} escapes the literal
# ${x}; bash's own $name stay as they are.
names = set(template["Parameters"]) | {"AWS::Region", "AWS::AccountId", "AWS::Partition"}
used = set(re.findall(r"\$\{([^}!]+)\}", script))
unknown = used - names
assert not unknown, f"unknown substitutions in the user data: {sorted(unknown)}"
script = re.sub(r"\$\{([^}!]+)\}", "sample", script).replace("${!", "${")
open(sys.argv[2], "w").write(script)
PY
shellcheck -s bash "$out/runner-user-data.sh"
# shellcheck disable=SC2016 # the control script must contain the literal, unexpanded $name
printf 'echo $undefined_quoting_control\n' >>"$out/runner-user-data.sh"
if shellcheck -s bash "$out/runner-user-data.sh" >/dev/null 2>&1; then
  die "shellcheck accepted an unquoted expansion in the extracted user data: the check is not working"
fi

# ---- the kubectl driver against an API server that does not answer ---------------------------
step "kubectl driver: an unreachable API stops the release (never read as 'no live colour')"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export KUBECONFIG="$out/unreachable.kubeconfig"
cat >"$KUBECONFIG" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: unreachable
    cluster: {server: "https://127.0.0.1:$port", insecure-skip-tls-verify: true}
users:
  - name: nobody
    user: {token: not-a-token}
contexts:
  - name: unreachable
    context: {cluster: unreachable, user: nobody, namespace: oxicam}
current-context: unreachable
EOF
# live_color DRIVER: "rc=N out=TEXT" of drv_live_color from DRIVER, against the dead API.
live_color() {
  bash -c 'source scripts/lib.sh; source "$1"; out="$(drv_live_color 2>/dev/null)"; echo "rc=$? out=$out"' _ "$1"
}
result="$(live_color deploy/bluegreen/drivers/kubectl.sh)"
[ "$result" = "rc=1 out=" ] || die "drv_live_color against a dead API server: '$result', expected a failure"
# The pre-issue-20 reading hid the error and answered "" (no live colour: a first release).
sed 's/^  k8s_public_selector$/  kc get service oxicam -o jsonpath="{.spec.selector.color}" 2>\/dev\/null || true/' \
  deploy/bluegreen/drivers/kubectl.sh >"$out/kubectl-hiding-errors.sh"
cmp -s "$out/kubectl-hiding-errors.sh" deploy/bluegreen/drivers/kubectl.sh && die "the control found no drv_live_color to alter"
result="$(live_color "$out/kubectl-hiding-errors.sh")"
[ "$result" = "rc=0 out=" ] || die "the error-hiding control answered '$result': the probe cannot tell them apart"
result="$(bash -c 'source scripts/lib.sh; source "$1"; drv_abort blue; echo "rc=$?"' _ deploy/bluegreen/drivers/kubectl.sh 2>&1)"
[[ "$result" == *"nothing to undo"*"rc=0" ]] || die "drv_abort without a deploy touched the cluster: $result"
if BG_K8S_PUBLIC_HOST=oxicam.test deploy/bluegreen/release.sh kubectl registry.invalid/oxicam:x green \
  >"$out/release-dead-api.log" 2>&1; then
  die "release.sh succeeded against a dead API server"
fi
grep -q "cannot patch Services" "$out/release-dead-api.log" || {
  cat "$out/release-dead-api.log" >&2
  die "release.sh against a dead API server failed without naming the cause"
}
unset KUBECONFIG

step "release path checks passed"
