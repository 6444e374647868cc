#!/usr/bin/env python3
"""Release-path rules for .circleci/config.yml that its JSON schema cannot express.

The schema (check-jsonschema, stage 10) says the file is a valid CircleCI config; this says it
is a safe release path: Docker runs where an engine and a matching client are (a machine
executor), the cluster is driven from the self-hosted runner inside the VPC (private API
endpoint), deploy jobs run on main only, one at a time, never hide a failed command, verify and
roll back in the job that switched traffic, keep the old colour for rollback, take AWS
credentials from OIDC only and never touch the operator stacks.

usage: check_pipeline.py [--mutants] CONFIG
  --mutants  also apply known-bad edits one at a time; each must be rejected by its rule
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import verdict  # noqa: E402

DEPLOY_CONTEXT = "oxicam-aws"
RELEASE_BRANCH = "main"
DOCKER_USE = re.compile(r"\bdocker\s|stages/(40|50|60)-")
CLUSTER_USE = re.compile(
    r"(^|[\s;|&(\"])kubectl\s+(?!(version|kustomize)\b)|bluegreen/(release|rollback|k8s-smoke)\.sh|\baws eks\b",
    re.MULTILINE,
)
CHANGES_PROD = re.compile(r"bluegreen/(release|rollback)\.sh|cloudformation/deploy\.sh")
SWALLOWED = re.compile(r"\|\|\s*true\b|\bset\s+\+e\b")
SCALE_TO_ZERO = re.compile(r"--replicas[= ]0\b|\bkubectl\b.*\bscale\b")
STATIC_KEYS = re.compile(r"AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|aws_access_key_id")
OPERATOR_STACKS = re.compile(r"cloudformation/deploy\.sh[^\n]*\b(ci-access|runner)\b")


def step_name_and_args(step):
    if isinstance(step, str):
        return step, {}
    name = next(iter(step))
    return name, step[name]


def expand(steps, commands, depth=0) -> list[tuple[str, dict | str]]:
    """Steps with custom commands inlined: (kind, body) in order."""
    if depth > 10:
        raise ValueError("commands nest too deeply")
    out = []
    for step in steps or []:
        name, args = step_name_and_args(step)
        if name in commands:
            out += expand(commands[name].get("steps"), commands, depth + 1)
        else:
            out.append((name, args))
    return out


def run_text(kind: str, body) -> str:
    if kind != "run":
        return ""
    return body if isinstance(body, str) else body.get("command", "")


def executor_of(job: dict, executors: dict) -> dict:
    name = job.get("executor")
    if isinstance(name, dict):
        name = name.get("name")
    base = dict(executors.get(name, {})) if name else {}
    for key in ("docker", "machine", "resource_class", "environment", "macos"):
        if key in job:
            base[key] = job[key]
    return base


def invocations(config: dict):
    """(workflow, job name, invocation settings) for every job in every workflow."""
    for workflow, body in (config.get("workflows") or {}).items():
        if not isinstance(body, dict):
            continue
        for entry in body.get("jobs", []):
            name, settings = step_name_and_args(entry)
            yield workflow, name, settings or {}


def branch_filter(settings: dict):
    only = (settings.get("filters") or {}).get("branches", {}).get("only")
    return [only] if isinstance(only, str) else only


def check(config: dict) -> list[tuple[str, str]]:
    problems = []
    commands = config.get("commands") or {}
    executors = config.get("executors") or {}
    jobs = config.get("jobs") or {}
    if STATIC_KEYS.search(yaml.safe_dump(config)):
        problems.append(("C8", "static AWS keys in the config: credentials come from OIDC only"))
    serial_groups = set()
    for workflow, name, settings in invocations(config):
        job = jobs.get(name, {})
        steps = expand(job.get("steps"), commands)
        texts = [run_text(kind, body) for kind, body in steps]
        text = "\n".join(texts)
        where = f"{workflow}/{name}"
        executor = executor_of(job, executors)
        deploys = DEPLOY_CONTEXT in (settings.get("context") if isinstance(settings.get("context"), list)
                                     else [settings.get("context")])
        # C1: Docker only where the engine and a matching client are.
        if DOCKER_USE.search(text):
            if "machine" not in executor or executor.get("machine") is True:
                problems.append(("C1", f"{where}: runs Docker without a machine executor"))
        if any(kind == "setup_remote_docker" for kind, _ in steps):
            problems.append(("C1", f"{where}: remote Docker has its own loopback; the smoke test needs ours"))
        # C2: credentials before the registry login.
        login = [i for i, t in enumerate(texts) if "docker login" in t]
        creds = [i for i, t in enumerate(texts) if "AWS_WEB_IDENTITY_TOKEN_FILE" in t]
        if login and (not creds or min(login) < min(creds)):
            problems.append(("C2", f"{where}: docker login before the AWS credentials exist"))
        # C3: the private API endpoint answers inside the VPC only.
        if CLUSTER_USE.search(text) and "/" not in str(executor.get("resource_class", "")):
            problems.append(("C3", f"{where}: drives the cluster from outside the VPC (not the self-hosted runner)"))
        if deploys:
            # C5: main only.
            if branch_filter(settings) != [RELEASE_BRANCH]:
                problems.append(("C5", f"{where}: deploy context on branches other than {RELEASE_BRANCH}"))
            # C6: a deploy never hides a failed command.
            for t in texts:
                if SWALLOWED.search(t):
                    problems.append(("C6", f"{where}: a deploy step hides failures: {SWALLOWED.search(t).group(0)}"))
        # C4: one change of production at a time.
        if CHANGES_PROD.search(text):
            group = settings.get("serial-group")
            if not group:
                problems.append(("C4", f"{where}: changes production without a serial-group"))
            else:
                serial_groups.add(group)
        # C7: the old colour is the rollback target.
        if SCALE_TO_ZERO.search(text):
            problems.append(("C7", f"{where}: scales a colour down; rollback.sh would then refuse"))
        # C9: the operator stacks are never the pipeline's.
        if OPERATOR_STACKS.search(text):
            problems.append(("C9", f"{where}: deploys an operator stack (ci-access or runner)"))
        # C10: verify and roll back in the job that switched traffic.
        if "bluegreen/release.sh" in text:
            on_fail = [run_text(k, b) for k, b in steps if isinstance(b, dict) and b.get("when") == "on_fail"]
            if not any("bluegreen/rollback.sh" in t for t in on_fail):
                problems.append(("C10", f"{where}: releases without rolling back on a failed verify"))
            if "k8s-smoke.sh" not in text:
                problems.append(("C10", f"{where}: releases without verifying the public Service"))
    if len(serial_groups) > 1:
        problems.append(("C4", f"production changes in different serial groups: {sorted(serial_groups)}"))
    return problems


def mutants():
    def job(config, name):
        return config["jobs"][name]

    def invocation(config, workflow, name):
        for entry in config["workflows"][workflow]["jobs"]:
            if isinstance(entry, dict) and name in entry:
                return entry[name]
        raise KeyError(name)

    def steps_of(config, name):
        return job(config, name)["steps"]

    def image_on_docker(c):
        job(c, "image")["executor"] = "debian"

    def remote_docker(c):
        steps_of(c, "image").insert(1, {"setup_remote_docker": {"docker_layer_caching": True}})

    def login_first(c):
        steps = steps_of(c, "image")
        i, j = steps.index("aws-login"), steps.index("ecr-login")
        steps[i], steps[j] = steps[j], steps[i]

    def release_in_cloud(c):
        job(c, "release")["executor"] = "deployer"

    def no_serial_group(c):
        del invocation(c, "pipeline", "release")["serial-group"]

    def any_branch(c):
        del invocation(c, "pipeline", "image")["filters"]

    def hidden_failure(c):
        for step in steps_of(c, "release"):
            if isinstance(step, dict) and "run" in step and "jsonpath" in str(step["run"]):
                step["run"]["command"] = step["run"]["command"].replace(
                    "-o jsonpath='{.spec.selector.color}')", "-o jsonpath='{.spec.selector.color}' || true)"
                )
                return
        raise KeyError("pick step")

    def scale_to_zero(c):
        steps_of(c, "release").append({"run": "kubectl -n oxicam scale deployment/oxicam-blue --replicas=0"})

    def static_keys(c):
        c["executors"]["deployer"]["environment"]["AWS_SECRET_ACCESS_KEY"] = "x"

    def operator_stack(c):
        for step in steps_of(c, "deploy-infra"):
            if isinstance(step, dict) and "run" in step:
                step["run"]["command"] += " ci-access"

    def no_rollback(c):
        job(c, "release")["steps"] = [
            s for s in steps_of(c, "release") if not (isinstance(s, dict) and "when" in s.get("run", {}))
        ]

    return [
        ("C1", "image job on a Docker executor", image_on_docker),
        ("C1", "remote Docker for the image job", remote_docker),
        ("C2", "docker login before the AWS credentials", login_first),
        ("C3", "release job on CircleCI cloud", release_in_cloud),
        ("C4", "release without a serial group", no_serial_group),
        ("C5", "image job on every branch", any_branch),
        ("C6", "the live colour read with || true", hidden_failure),
        ("C7", "the old colour scaled to zero", scale_to_zero),
        ("C8", "a static AWS key", static_keys),
        ("C9", "the pipeline deploys ci-access", operator_stack),
        ("C10", "no rollback after a failed verify", no_rollback),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--mutants", action="store_true", help="each known-bad edit must be rejected")
    args = parser.parse_args()
    config = yaml.safe_load(args.config.read_text())

    def check_edited(edit) -> list[tuple[str, str]]:
        bad = copy.deepcopy(config)
        edit(bad)
        return check(bad)

    return verdict(
        check(config),
        f"ok: {args.config} (Docker, runner, serial group, main only, errors, rollback, OIDC)",
        mutants() if args.mutants else None,
        check_edited,
    )


if __name__ == "__main__":
    sys.exit(main())
