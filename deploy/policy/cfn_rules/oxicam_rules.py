"""cfn-lint rules for the oxicam stacks (`cfn-lint --append-rules deploy/policy/cfn_rules`).

Each rule closes one way the first real release would have failed or been unsafe (issue 20):
data lost with a stack, an update blocked or replacing both colours, a role beyond the
permissions boundary, a cluster the pipeline cannot or should not reach, a manifest relying on
an add-on the cluster lacks. An exemption is written on the resource, with its reason:
Metadata: {oxicam-policy: {exempt: {E9104: "why"}}}.
"""

from __future__ import annotations

import json

from cfnlint.rules import CloudFormationLintRule, RuleMatch

# Resources holding data (or the keys to it) that must outlive their stack and a replacement.
STATEFUL_TYPES = {
    "AWS::ECR::Repository",
    "AWS::KMS::Key",
    "AWS::Logs::LogGroup",
    "AWS::S3::Bucket",
    "AWS::DynamoDB::Table",
    "AWS::EFS::FileSystem",
    "AWS::SecretsManager::Secret",
}
RESOLVED_AMI_PARAMETER = "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"
REQUIRED_EKS_ADDONS = ("vpc-cni", "metrics-server")


def exempt(resource: dict, rule_id: str) -> bool:
    policy = (resource.get("Metadata") or {}).get("oxicam-policy") or {}
    return bool((policy.get("exempt") or {}).get(rule_id))


def resources(cfn, types: set[str] | None = None):
    for name, resource in (cfn.template.get("Resources") or {}).items():
        if isinstance(resource, dict) and (types is None or resource.get("Type") in types):
            yield name, resource


def walk_strings(value, path):
    """Every string in a template fragment, with its path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, sub in value.items():
            yield from walk_strings(sub, path + [key])
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from walk_strings(sub, path + [i])


def branches(value):
    """The possible values of a property written with or without Fn::If."""
    if isinstance(value, dict) and list(value) == ["Fn::If"] and len(value["Fn::If"]) == 3:
        return branches(value["Fn::If"][1]) + branches(value["Fn::If"][2])
    return [value]


class StatefulResourcesRetained(CloudFormationLintRule):
    id = "E9101"
    shortdesc = "Stateful resources are retained"
    description = (
        "Repositories, keys, log groups and buckets need DeletionPolicy: Retain and "
        "UpdateReplacePolicy: Retain, so a deleted or replaced stack keeps images, logs and keys"
    )
    source_url = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html"
    tags = ["oxicam", "resources"]

    def match(self, cfn):
        matches = []
        for name, resource in resources(cfn, STATEFUL_TYPES):
            if exempt(resource, self.id):
                continue
            for attribute in ("DeletionPolicy", "UpdateReplacePolicy"):
                if resource.get(attribute) != "Retain":
                    matches.append(
                        RuleMatch(
                            ["Resources", name],
                            f"{resource['Type']} {name} needs {attribute}: Retain",
                        )
                    )
        return matches


class AmiPinned(CloudFormationLintRule):
    id = "E9102"
    shortdesc = "AMIs are pinned ids, not resolved at update time"
    description = (
        "An AMI resolved from a public SSM parameter changes under an unchanged template: the "
        "next update replaces the instances (and fails where their ids are imported)"
    )
    source_url = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/dynamic-references.html"
    tags = ["oxicam", "parameters"]

    def match(self, cfn):
        matches = []
        for name, parameter in (cfn.template.get("Parameters") or {}).items():
            if isinstance(parameter, dict) and parameter.get("Type") == RESOLVED_AMI_PARAMETER:
                matches.append(
                    RuleMatch(["Parameters", name], f"Parameter {name} resolves the AMI at every update")
                )
        for path, text in walk_strings(cfn.template.get("Resources") or {}, ["Resources"]):
            if "{{resolve:ssm:/aws/service/" in text:
                matches.append(RuleMatch(path, "dynamic reference to a public SSM parameter (an AMI?)"))
        return matches


class NoInstanceIdExports(CloudFormationLintRule):
    id = "E9103"
    shortdesc = "No exported EC2 instance ids"
    description = (
        "Another stack importing an instance id blocks the replacement of that instance "
        "(export in use): the update that needs it fails"
    )
    source_url = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-stack-exports.html"
    tags = ["oxicam", "outputs"]

    def match(self, cfn):
        instances = {name for name, _ in resources(cfn, {"AWS::EC2::Instance"})}
        matches = []
        for name, output in (cfn.template.get("Outputs") or {}).items():
            if not isinstance(output, dict) or "Export" not in output:
                continue
            value = output.get("Value")
            refs = set()
            if isinstance(value, dict):
                if "Ref" in value:
                    refs.add(value["Ref"])
                if "Fn::GetAtt" in value:
                    target = value["Fn::GetAtt"]
                    refs.add(target[0] if isinstance(target, list) else str(target).split(".")[0])
            if refs & instances:
                matches.append(RuleMatch(["Outputs", name], f"Output {name} exports an instance id"))
        return matches


class RolesCarryTheBoundary(CloudFormationLintRule):
    id = "E9104"
    shortdesc = "IAM roles carry the permissions boundary"
    description = (
        "Every role the stacks create carries the oxicam permissions boundary (exported by "
        "ci-access), so no attached policy can lift it above the boundary"
    )
    source_url = "https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html"
    tags = ["oxicam", "iam"]

    def match(self, cfn):
        policies = {name for name, _ in resources(cfn, {"AWS::IAM::ManagedPolicy"})}
        matches = []
        for name, resource in resources(cfn, {"AWS::IAM::Role"}):
            if exempt(resource, self.id):
                continue
            boundary = (resource.get("Properties") or {}).get("PermissionsBoundary")
            if not is_oxicam_boundary(boundary, policies):
                matches.append(
                    RuleMatch(["Resources", name], f"Role {name} has no oxicam permissions boundary")
                )
        return matches


def is_oxicam_boundary(value, local_policies: set[str]) -> bool:
    """The ci-access export, or a managed policy of the same template (ci-access itself)."""
    if not isinstance(value, dict):
        return False
    if "Ref" in value:
        return value["Ref"] in local_policies
    imported = value.get("Fn::ImportValue")
    if isinstance(imported, dict):
        imported = imported.get("Fn::Sub", "")
    return isinstance(imported, str) and imported.endswith("-PermissionsBoundaryArn")


class NoLongLivedCredentials(CloudFormationLintRule):
    id = "E9105"
    shortdesc = "No IAM users or access keys"
    description = "The pipeline authenticates with CircleCI OIDC; no stack creates users or keys"
    source_url = "https://circleci.com/docs/openid-connect-tokens/"
    tags = ["oxicam", "iam"]

    def match(self, cfn):
        return [
            RuleMatch(["Resources", name], f"{resource['Type']} {name}: long-lived credentials")
            for name, resource in resources(cfn, {"AWS::IAM::User", "AWS::IAM::AccessKey"})
        ]


class EksPrivateApi(CloudFormationLintRule):
    id = "E9106"
    shortdesc = "EKS API endpoint private, never open to the internet"
    description = (
        "The pipeline reaches the API from its runner inside the VPC: the private endpoint is on, "
        "a public one only for a named network (never 0.0.0.0/0), and the creator gets no "
        "implicit admin rights"
    )
    source_url = "https://docs.aws.amazon.com/eks/latest/userguide/cluster-endpoint.html"
    tags = ["oxicam", "eks"]

    def match(self, cfn):
        matches = []
        for name, resource in resources(cfn, {"AWS::EKS::Cluster"}):
            props = resource.get("Properties") or {}
            vpc = props.get("ResourcesVpcConfig") or {}
            where = ["Resources", name, "Properties"]
            if vpc.get("EndpointPrivateAccess") is not True:
                matches.append(RuleMatch(where, f"Cluster {name}: EndpointPrivateAccess must be true"))
            public = branches(vpc.get("EndpointPublicAccess", True))
            cidrs = [c for branch in branches(vpc.get("PublicAccessCidrs")) for c in (branch or [])
                     if isinstance(branch, list)]
            if True in public and (not cidrs or "0.0.0.0/0" in cidrs):
                matches.append(
                    RuleMatch(where, f"Cluster {name}: a public endpoint must be limited to named CIDRs")
                )
            access = props.get("AccessConfig") or {}
            if access.get("BootstrapClusterCreatorAdminPermissions") is not False:
                matches.append(
                    RuleMatch(where, f"Cluster {name}: BootstrapClusterCreatorAdminPermissions must be false")
                )
        return matches


class EksAddonsTheManifestsNeed(CloudFormationLintRule):
    id = "E9107"
    shortdesc = "EKS clusters install the add-ons deploy/k8s relies on"
    description = (
        "HorizontalPodAutoscalers need metrics-server; NetworkPolicies are enforced only by the "
        "VPC CNI's network policy agent (enableNetworkPolicy)"
    )
    source_url = "https://docs.aws.amazon.com/eks/latest/userguide/cni-network-policy.html"
    tags = ["oxicam", "eks"]

    def match(self, cfn):
        clusters = [name for name, _ in resources(cfn, {"AWS::EKS::Cluster"})]
        if not clusters:
            return []
        addons = {}
        for _, resource in resources(cfn, {"AWS::EKS::Addon"}):
            props = resource.get("Properties") or {}
            addons[props.get("AddonName")] = props
        matches = []
        for addon in REQUIRED_EKS_ADDONS:
            if addon not in addons:
                matches.append(RuleMatch(["Resources", clusters[0]], f"no AWS::EKS::Addon {addon}"))
        cni = addons.get("vpc-cni")
        if cni is not None:
            try:
                config = json.loads(str(cni.get("ConfigurationValues") or "{}"))
            except ValueError:
                config = {}
            if str(config.get("enableNetworkPolicy")).lower() != "true":
                matches.append(
                    RuleMatch(["Resources", clusters[0]], "vpc-cni add-on without enableNetworkPolicy: true")
                )
        return matches
