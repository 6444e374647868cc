#!/usr/bin/env python3
"""Least-privilege checks of the pipeline's AWS identity (deploy/cloudformation/ci-access.yaml).

What cfn-lint cannot judge: who may assume the pipeline role (the OIDC subject pattern is
matched, as IAM would match it, against the release branch, other branches, another project
and a branch name crafted to look like the release branch), whether the CloudFormation service
role can create a role beyond the permissions boundary, attach any policy, or pass a role to
EC2, whether the boundary itself allows IAM or STS, whether the pipeline can touch the operator
stacks, and whether the Kubernetes namespace of its access entry is the one the manifests use.

usage: check_iam.py [--mutants] DEPLOY_DIR
  DEPLOY_DIR   the repository's deploy/ folder
  --mutants    also apply known-bad edits one at a time; each must be rejected by its rule
"""

from __future__ import annotations

import argparse
import copy
import fnmatch
import json
import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cfn_yaml import load  # noqa: E402
from harness import verdict  # noqa: E402

SAMPLE = {
    "CircleCiOrgId": "11111111-2222-3333-4444-555555555555",
    "CircleCiProjectId": "66666666-7777-8888-9999-aaaaaaaaaaaa",
    "VcsOrigin": "github.com/acme/oxicam",
    "AWS::Partition": "aws",
    "AWS::AccountId": "123456789012",
    "AWS::Region": "eu-west-1",
    "AWS::StackName": "oxicam-prod-ci-access",
    "Environment": "prod",
    "ProviderArn": "arn:aws:iam::123456789012:oidc-provider/oidc.circleci.com/org/x",
}
USER = "0f0f0f0f-1234-4abc-8def-0123456789ab"
ROLE_WRITES = (
    "iam:CreateRole",
    "iam:PutRolePolicy",
    "iam:AttachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
)
# Managed policies that would make any role an administrator.
FORBIDDEN_POLICIES = ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess")


def listify(value) -> list:
    return value if isinstance(value, list) else [value]


def statements(role: dict) -> list[dict]:
    out = []
    for policy in role["Properties"].get("Policies", []):
        out += policy["PolicyDocument"]["Statement"]
    return out


def grants(statement: dict, action: str) -> bool:
    """Does this statement name `action` (wildcards as IAM reads them)?"""
    return any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in listify(statement["Action"]))


def iam_like(pattern: str, value: str) -> bool:
    """IAM StringLike: `*` any run of characters (slashes too), `?` exactly one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value) is not None


def render_sub(template: str, values: dict) -> str:
    return re.sub(r"\$\{([^}!]+)\}", lambda m: values.get(m.group(1), m.group(0)), template)


def check_trust(ci: dict) -> list[tuple[str, str]]:
    problems = []
    params = ci["Parameters"]
    branch = params["ReleaseBranch"]["Default"]
    values = dict(SAMPLE, ReleaseBranch=branch)
    sub = ci["Resources"]["PipelineRole"]["Properties"]["AssumeRolePolicyDocument"]["Fn::Sub"]
    document = json.loads(render_sub(sub[0] if isinstance(sub, list) else sub, values))
    prefix = f"oidc.circleci.com/org/{values['CircleCiOrgId']}"
    for statement in document["Statement"]:
        condition = statement.get("Condition", {})
        if condition.get("StringEquals", {}).get(f"{prefix}:aud") != values["CircleCiOrgId"]:
            problems.append(("I1", "the token audience is not pinned to the organization"))
        patterns = [
            v for op in ("StringEquals", "StringLike") for k, v in condition.get(op, {}).items()
            if k == f"{prefix}:sub"
        ]
        if len(patterns) != 1:
            problems.append(("I1", "the trust policy does not pin the token subject"))
            continue
        pattern = patterns[0]
        base = f"org/{values['CircleCiOrgId']}/project/{values['CircleCiProjectId']}/user/{USER}"
        origin = f"/vcs-origin/{values['VcsOrigin']}/vcs-ref/refs/heads/"
        cases = {
            f"{base}{origin}{branch}": True,
            f"{base}{origin}feature-x": False,
            f"{base}{origin}x{origin}{branch}": False,  # a branch named to end like the release one
            f"{base}/vcs-origin/github.com/evil/fork/vcs-ref/refs/heads/{branch}": False,
            base.replace(values["CircleCiProjectId"], "00000000-0000-0000-0000-000000000000")
            + f"{origin}{branch}": False,
            f"{base}": False,
        }
        for subject, allowed in cases.items():
            if iam_like(pattern, subject) != allowed:
                verb = "refuses" if allowed else "accepts"
                problems.append(("I1", f"the subject pattern {pattern!r} {verb} {subject!r}"))
    return problems


def check_service_role(ci: dict) -> list[tuple[str, str]]:
    problems = []
    role = ci["Resources"]["StackDeployRole"]
    allows = [s for s in statements(role) if s["Effect"] == "Allow"]
    denies = [s for s in statements(role) if s["Effect"] == "Deny"]
    for statement in allows:
        for action in ROLE_WRITES:
            if grants(statement, action):
                bound = statement.get("Condition", {}).get("StringEquals", {}).get("iam:PermissionsBoundary")
                if bound != {"Ref": "PermissionsBoundary"}:
                    problems.append(("I2", f"{statement.get('Sid')}: {action} without the boundary condition"))
        if grants(statement, "iam:PassRole"):
            services = listify(
                statement.get("Condition", {}).get("StringEquals", {}).get("iam:PassedToService", [])
            )
            if not services or "ec2.amazonaws.com" in services or statement["Resource"] == "*":
                problems.append(("I4", f"{statement.get('Sid')}: PassRole to {services or 'any service'}"))
    attach_limits = [
        s for s in denies if grants(s, "iam:AttachRolePolicy")
        and any(k in s.get("Condition", {}) for k in ("ArnNotEquals", "ArnNotLike"))
    ]
    if not attach_limits:
        problems.append(("I3", "iam:AttachRolePolicy is not limited to a list of policies"))
    for statement in attach_limits:
        listed = json.dumps(statement["Condition"])
        for bad in FORBIDDEN_POLICIES:
            if bad in listed or '"*"' in listed:
                problems.append(("I3", f"{statement.get('Sid')}: the attachable policies include {bad}"))
    own_roles = [
        s for s in denies if grants(s, "iam:PassRole") and grants(s, "iam:CreateRole")
        and "${AWS::StackName}-*" in json.dumps(s["Resource"])
    ]
    if not own_roles:
        problems.append(("I5", "nothing denies the service role IAM on the ci-access roles"))
    return problems


def check_boundary(ci: dict) -> list[tuple[str, str]]:
    problems = []
    boundary = ci["Resources"]["PermissionsBoundary"]["Properties"]["PolicyDocument"]
    for statement in boundary["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        for action in listify(statement["Action"]):
            service = action.split(":")[0].lower()
            if action == "*" or service in ("sts", "s3", "organizations", "cloudformation"):
                problems.append(("I6", f"the boundary allows {action}"))
            if service == "iam" and not action.lower().startswith(("iam:get", "iam:list")):
                if action != "iam:CreateServiceLinkedRole" or "iam:AWSServiceName" not in json.dumps(
                    statement.get("Condition", {})
                ):
                    problems.append(("I6", f"the boundary allows {action}"))
    return problems


def check_pipeline_role(ci: dict) -> list[tuple[str, str]]:
    problems = []
    role = ci["Resources"]["PipelineRole"]
    for statement in statements(role):
        if statement["Effect"] != "Allow":
            continue
        for action in listify(statement["Action"]):
            if action == "*" or action.endswith(":*"):
                problems.append(("I7", f"{statement.get('Sid')}: the pipeline role is granted {action}"))
        changes = [a for a in ("cloudformation:CreateStack", "cloudformation:UpdateStack",
                               "cloudformation:CreateChangeSet") if grants(statement, a)]
        if changes and "cloudformation:RoleArn" not in json.dumps(statement.get("Condition", {})):
            problems.append(("I7", f"{statement.get('Sid')}: stack changes without the service role"))
        if grants(statement, "iam:PassRole") and statement["Resource"] != {
            "Fn::GetAtt": ["StackDeployRole", "Arn"]
        }:
            problems.append(("I7", f"{statement.get('Sid')}: PassRole beyond the service role"))
    denied = json.dumps([s["Resource"] for s in statements(role) if s["Effect"] == "Deny"])
    for stack in ("AWS::StackId", "-runner/"):
        if stack not in denied:
            problems.append(("I7", f"the pipeline role may change the operator stack {stack}"))
    return problems


def check_namespace(ci: dict, cluster: dict, overlay_namespace: str) -> list[tuple[str, str]]:
    problems = []
    names = {
        "ci-access KubernetesNamespace": ci["Parameters"]["KubernetesNamespace"]["Default"],
        "cluster KubernetesNamespace": cluster["Parameters"]["KubernetesNamespace"]["Default"],
        "deploy/k8s/overlays/plain namespace": overlay_namespace,
    }
    if len(set(names.values())) != 1:
        problems.append(("I9", f"the pipeline's namespace differs: {names}"))
    entry = cluster["Resources"]["PipelineAccess"]["Properties"]
    for access in entry["AccessPolicies"]:
        scope = access["AccessScope"]
        if not access["PolicyArn"]["Fn::Sub"].endswith("/AmazonEKSEditPolicy") or scope["Type"] != "namespace":
            problems.append(("I9", "the pipeline's access entry is more than edit in one namespace"))
        if scope.get("Namespaces") != [{"Ref": "KubernetesNamespace"}]:
            problems.append(("I9", "the pipeline's access entry names other namespaces"))
    return problems


def check(ci: dict, cluster: dict, overlay_namespace: str) -> list[tuple[str, str]]:
    return (
        check_trust(ci)
        + check_service_role(ci)
        + check_boundary(ci)
        + check_pipeline_role(ci)
        + check_namespace(ci, cluster, overlay_namespace)
    )


def by_sid(role: dict, sid: str) -> dict:
    return next(s for s in statements(role) if s.get("Sid") == sid)


def mutants():
    """(rule, description, edit(ci, cluster) -> overlay namespace or None) known-bad variants."""

    def sub_any_user(ci, cluster):
        sub = ci["Resources"]["PipelineRole"]["Properties"]["AssumeRolePolicyDocument"]["Fn::Sub"]
        sub[0] = sub[0].replace("????????-????-????-????-????????????", "*")

    def sub_any_branch(ci, cluster):
        sub = ci["Resources"]["PipelineRole"]["Properties"]["AssumeRolePolicyDocument"]["Fn::Sub"]
        sub[0] = sub[0].replace("refs/heads/${ReleaseBranch}", "*")

    def no_boundary_condition(ci, cluster):
        del by_sid(ci["Resources"]["StackDeployRole"], "OxicamRolesWithBoundary")["Condition"]

    def attach_anything(ci, cluster):
        policies = ci["Resources"]["StackDeployRole"]["Properties"]["Policies"][0]["PolicyDocument"]
        policies["Statement"] = [
            s for s in policies["Statement"] if s.get("Sid") != "OxicamRolesAttachListedPolicies"
        ]

    def attach_admin(ci, cluster):
        statement = by_sid(ci["Resources"]["StackDeployRole"], "OxicamRolesAttachListedPolicies")
        statement["Condition"]["ArnNotEquals"]["iam:PolicyARN"].append(
            {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AdministratorAccess"}
        )

    def pass_to_ec2(ci, cluster):
        statement = by_sid(ci["Resources"]["StackDeployRole"], "PassOxicamRolesToEksAndFlowLogs")
        statement["Condition"]["StringEquals"]["iam:PassedToService"].append("ec2.amazonaws.com")

    def own_roles_open(ci, cluster):
        policies = ci["Resources"]["StackDeployRole"]["Properties"]["Policies"][0]["PolicyDocument"]
        policies["Statement"] = [s for s in policies["Statement"] if s.get("Sid") != "NotTheCiAccessRoles"]

    def boundary_iam(ci, cluster):
        statement = ci["Resources"]["PermissionsBoundary"]["Properties"]["PolicyDocument"]["Statement"][0]
        statement["Action"].append("iam:*")

    def pipeline_owns_runner(ci, cluster):
        statement = by_sid(ci["Resources"]["PipelineRole"], "NeverTheOperatorStacks")
        statement["Resource"] = [statement["Resource"][0]]

    def other_namespace(ci, cluster):
        cluster["Parameters"]["KubernetesNamespace"]["Default"] = "default"

    return [
        ("I1", "any CircleCI user id matched with *", sub_any_user),
        ("I1", "any branch", sub_any_branch),
        ("I2", "CreateRole without the boundary condition", no_boundary_condition),
        ("I3", "any policy attachable", attach_anything),
        ("I3", "AdministratorAccess attachable", attach_admin),
        ("I4", "roles passed to EC2", pass_to_ec2),
        ("I5", "the ci-access roles editable", own_roles_open),
        ("I6", "iam:* within the boundary", boundary_iam),
        ("I7", "the pipeline may update the runner stack", pipeline_owns_runner),
        ("I9", "the cluster grants another namespace", other_namespace),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("deploy_dir", type=Path)
    parser.add_argument("--mutants", action="store_true", help="each known-bad edit must be rejected")
    args = parser.parse_args()
    ci = load(args.deploy_dir / "cloudformation" / "ci-access.yaml")
    cluster = load(args.deploy_dir / "cloudformation" / "cluster.yaml")
    overlay = yaml.safe_load(open(args.deploy_dir / "k8s" / "overlays" / "plain" / "kustomization.yaml"))
    namespace = overlay["namespace"]

    def check_edited(edit) -> list[tuple[str, str]]:
        ci_bad, cluster_bad = copy.deepcopy(ci), copy.deepcopy(cluster)
        edit(ci_bad, cluster_bad)
        return check(ci_bad, cluster_bad, namespace)

    return verdict(
        check(ci, cluster, namespace),
        "ok: ci-access trust, service role, boundary, pipeline role, namespace",
        mutants() if args.mutants else None,
        check_edited,
    )


if __name__ == "__main__":
    sys.exit(main())
