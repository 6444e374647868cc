#!/usr/bin/env bash
# Creates or updates the oxicam CloudFormation stacks of one environment, in dependency order,
# as stacks named oxicam-ENV-STACK (see deploy/README.md):
#   deploy/cloudformation/deploy.sh [--dry-run] ENV [STACK...]
#   STACK: network registry hosts loadbalancer cluster ci-access
#          (default: $OXICAM_STACKS or network registry hosts loadbalancer cluster; ci-access is
#          an operator's job)
# It never passes ActiveColor: an infrastructure update keeps the live colour, switching is
# deploy/ansible/switch.yml (or deploy/bluegreen on the cluster).
# Environment: AWS_REGION (required); OXICAM_CFN_ROLE_ARN (the ci-access stack's
# StackDeployRoleArn; the pipeline must set it); OXICAM_CERTIFICATE_ARN, OXICAM_PREVIEW_CIDR
# (loadbalancer); OXICAM_API_CIDR (cluster, required when it is first created);
# OXICAM_CIRCLECI_ORG_ID, OXICAM_CIRCLECI_PROJECT_ID (ci-access).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

dry_run=0
if [ "${1:-}" = "--dry-run" ]; then dry_run=1; shift; fi
[ "$#" -ge 1 ] || { echo "usage: $0 [--dry-run] ENV [STACK...]" >&2; exit 2; }
env_name="$1"
shift
[[ "$env_name" =~ ^[a-z][a-z0-9-]{1,15}$ ]] || { echo "bad environment name: $env_name" >&2; exit 2; }
if [ "$#" -gt 0 ]; then
  stacks=("$@")
else
  # OXICAM_STACKS="network registry cluster" for an environment without the hosts path.
  read -r -a stacks <<<"${OXICAM_STACKS:-network registry hosts loadbalancer cluster}"
fi
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
[ -n "$region" ] || { echo "set AWS_REGION" >&2; exit 2; }

name() { echo "oxicam-$env_name-$1"; }

for stack in "${stacks[@]}"; do
  params=("Environment=$env_name")
  case "$stack" in
    network | registry) ;;
    hosts) params+=("NetworkStackName=$(name network)") ;;
    loadbalancer)
      params+=("NetworkStackName=$(name network)" "HostsStackName=$(name hosts)")
      if [ -n "${OXICAM_CERTIFICATE_ARN:-}" ]; then params+=("CertificateArn=$OXICAM_CERTIFICATE_ARN"); fi
      if [ -n "${OXICAM_PREVIEW_CIDR:-}" ]; then params+=("PreviewCidr=$OXICAM_PREVIEW_CIDR"); fi
      ;;
    cluster)
      params+=("NetworkStackName=$(name network)")
      if [ -n "${OXICAM_API_CIDR:-}" ]; then params+=("ApiPublicAccessCidr=$OXICAM_API_CIDR"); fi
      ;;
    ci-access)
      : "${OXICAM_CIRCLECI_ORG_ID:?set OXICAM_CIRCLECI_ORG_ID}" "${OXICAM_CIRCLECI_PROJECT_ID:?set OXICAM_CIRCLECI_PROJECT_ID}"
      params+=("CircleCiOrgId=$OXICAM_CIRCLECI_ORG_ID" "CircleCiProjectId=$OXICAM_CIRCLECI_PROJECT_ID"
        "RegistryStackName=$(name registry)" "HostsStackName=$(name hosts)"
        "ClusterName=${OXICAM_CLUSTER_NAME-oxicam-$env_name}")
      ;;
    *) echo "unknown stack: $stack" >&2; exit 2 ;;
  esac
  cmd=(aws cloudformation deploy --region "$region" --stack-name "$(name "$stack")"
    --template-file "$here/$stack.yaml" --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset
    --tags "oxicam:environment=$env_name" "oxicam:stack=$stack"
    --parameter-overrides "${params[@]}")
  # ci-access is deployed by an operator with their own rights; the pipeline's role cannot.
  if [ -n "${OXICAM_CFN_ROLE_ARN:-}" ] && [ "$stack" != ci-access ]; then
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
