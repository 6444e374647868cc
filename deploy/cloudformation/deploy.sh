#!/usr/bin/env bash
# Creates or updates the oxicam CloudFormation stacks of one environment, as stacks named
# oxicam-ENV-STACK, always in dependency order whatever order they are named in (deploy/README.md):
#   deploy/cloudformation/deploy.sh [--dry-run] ENV [STACK...]
#   STACK: ci-access network registry cluster runner
#          default: $OXICAM_STACKS or the pipeline's stacks: network registry cluster
# ci-access (the roles and the permissions boundary) and runner (the CircleCI runner the pipeline
# runs on) are operator stacks: refused with the service role or inside CI, so the pipeline can
# never widen its own rights or replace the machine it runs on.
# Environment: AWS_REGION (required); OXICAM_CFN_ROLE_ARN (the ci-access stack's
# StackDeployRoleArn; the pipeline must set it); cluster: OXICAM_CLUSTER_ADMIN_ROLE_ARN
# (required), OXICAM_OPERATOR_API_CIDR (public API access for an operator network; set it empty
# to close it again, leave it unset to keep the stack's value);
# ci-access: OXICAM_CIRCLECI_ORG_ID, OXICAM_CIRCLECI_PROJECT_ID, OXICAM_VCS_ORIGIN
# (e.g. github.com/acme/oxicam); runner: OXICAM_RUNNER_AMI (an Ubuntu 24.04 AMI id, pinned).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

ORDER=(ci-access network registry cluster runner)
OPERATOR_STACKS=" ci-access runner "

dry_run=0
if [ "${1:-}" = "--dry-run" ]; then dry_run=1; shift; fi
[ "$#" -ge 1 ] || { echo "usage: $0 [--dry-run] ENV [STACK...]" >&2; exit 2; }
env_name="$1"
shift
[[ "$env_name" =~ ^[a-z][a-z0-9-]{1,15}$ ]] || { echo "bad environment name: $env_name" >&2; exit 2; }
if [ "$#" -gt 0 ]; then
  requested=" $* "
else
  requested=" ${OXICAM_STACKS:-network registry cluster} "
fi
for stack in $requested; do
  case " ${ORDER[*]} " in
    *" $stack "*) ;;
    *) echo "unknown stack: $stack (stacks: ${ORDER[*]})" >&2; exit 2 ;;
  esac
done
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
[ -n "$region" ] || { echo "set AWS_REGION" >&2; exit 2; }

name() { echo "oxicam-$env_name-$1"; }

for stack in "${ORDER[@]}"; do
  [[ "$requested" == *" $stack "* ]] || continue
  if [[ "$OPERATOR_STACKS" == *" $stack "* ]] && { [ -n "${OXICAM_CFN_ROLE_ARN:-}" ] || [ -n "${CI:-}" ]; }; then
    echo "refusing $stack: an operator stack, deployed with an operator's own credentials, never by CI" \
      "or through the service role (unset OXICAM_CFN_ROLE_ARN and CI)" >&2
    exit 2
  fi
  params=("Environment=$env_name")
  capabilities=CAPABILITY_IAM
  case "$stack" in
    ci-access)
      : "${OXICAM_CIRCLECI_ORG_ID:?set OXICAM_CIRCLECI_ORG_ID}" "${OXICAM_CIRCLECI_PROJECT_ID:?set OXICAM_CIRCLECI_PROJECT_ID}"
      : "${OXICAM_VCS_ORIGIN:?set OXICAM_VCS_ORIGIN, e.g. github.com/acme/oxicam}"
      params+=("CircleCiOrgId=$OXICAM_CIRCLECI_ORG_ID" "CircleCiProjectId=$OXICAM_CIRCLECI_PROJECT_ID"
        "VcsOrigin=$OXICAM_VCS_ORIGIN")
      # The boundary is a named managed policy: other stacks and the service role refer to it.
      capabilities=CAPABILITY_NAMED_IAM
      ;;
    network) params+=("CiAccessStackName=$(name ci-access)") ;;
    registry) ;;
    cluster)
      : "${OXICAM_CLUSTER_ADMIN_ROLE_ARN:?set OXICAM_CLUSTER_ADMIN_ROLE_ARN (the operators role, cluster admin)}"
      params+=("NetworkStackName=$(name network)" "CiAccessStackName=$(name ci-access)"
        "ClusterAdminRoleArn=$OXICAM_CLUSTER_ADMIN_ROLE_ARN")
      # Set (even empty: closes the public endpoint) or unset (the stack keeps its value).
      if [ -n "${OXICAM_OPERATOR_API_CIDR+set}" ]; then params+=("OperatorApiCidr=$OXICAM_OPERATOR_API_CIDR"); fi
      ;;
    runner)
      : "${OXICAM_RUNNER_AMI:?set OXICAM_RUNNER_AMI (an Ubuntu 24.04 amd64 AMI id)}"
      params+=("NetworkStackName=$(name network)" "ClusterStackName=$(name cluster)"
        "CiAccessStackName=$(name ci-access)" "ImageId=$OXICAM_RUNNER_AMI"
        "RunnerTokenParameter=/oxicam/$env_name/circleci-runner-token")
      ;;
  esac
  cmd=(aws cloudformation deploy --region "$region" --stack-name "$(name "$stack")"
    --template-file "$here/$stack.yaml" --capabilities "$capabilities" --no-fail-on-empty-changeset
    --tags "oxicam:environment=$env_name" "oxicam:stack=$stack"
    --parameter-overrides "${params[@]}")
  if [ -n "${OXICAM_CFN_ROLE_ARN:-}" ]; then
    cmd+=(--role-arn "$OXICAM_CFN_ROLE_ARN")
  fi
  echo "== $(name "$stack")" >&2
  if [ "$dry_run" -eq 1 ]; then
    printf '%q ' "${cmd[@]}"
    echo
  else
    "${cmd[@]}"
  fi
done
