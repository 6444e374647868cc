#!/usr/bin/env python3
"""Offline checks of rendered oxicam manifests that kubernetes-validate cannot do.

Validates Argo Rollouts objects against the CRD openAPIV3Schema (types, enums, required
fields, and unknown fields rejected as `kubectl --validate=strict` would), checks every pod
template against the "restricted" Pod Security Standard plus our own production rules
(probes, limits, preStop, grace period), checks the blue/green wiring we rely on (the
Services, AnalysisTemplate and args a Rollout names exist and fit together), and the listener
contract: public port 8000 (`http`) is what Services, the Ingress and probes use, operations
port 9090 (`admin`) is scraped by Prometheus and reachable from the monitoring namespace only.
With --namespaced-only NS, every object must be namespaced and in NS: what the pipeline, whose
Kubernetes rights are edit rights in that namespace, can apply.

usage: check_manifests.py --crds DIR [--namespaced-only NS] RENDERED.yaml...
       (exit 1 and a list of problems)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jsonschema
import yaml

ARGO_GROUP = "argoproj.io/"
# libyaml when PyYAML has it: the CRD files are over 1 MB of YAML.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
PUBLIC_PORT = ("http", 8000)
ADMIN_PORT = ("admin", 9090)
MONITORING_NAMESPACE = "monitoring"
# Cluster-scoped kinds of the core API groups (and the CRD-defined ones we could meet).
CLUSTER_SCOPED_KINDS = {
    "Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding",
    "StorageClass", "CSIDriver", "CSINode", "VolumeAttachment", "IngressClass",
    "PriorityClass", "RuntimeClass", "CustomResourceDefinition", "APIService",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "CertificateSigningRequest",
    "FlowSchema", "PriorityLevelConfiguration", "ClusterAnalysisTemplate", "IngressClassParams",
}
# The ALB the Ingress becomes must keep these attributes (the CloudFormation ALB had them).
REQUIRED_ALB_ATTRIBUTES = {
    "routing.http.drop_invalid_header_fields.enabled": "true",
    "routing.http.desync_mitigation_mode": "strictest",
}


def load_crd_schemas(crd_dir: Path) -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> openAPIV3Schema, for every CRD file in the directory."""
    schemas = {}
    for path in sorted(crd_dir.glob("*.yaml")):
        for doc in yaml.load_all(path.read_text(), Loader=YAML_LOADER):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            group = doc["spec"]["group"]
            kind = doc["spec"]["names"]["kind"]
            for version in doc["spec"]["versions"]:
                api_version = f"{group}/{version['name']}"
                schemas[(api_version, kind)] = version["schema"]["openAPIV3Schema"]
    return schemas


def unknown_fields(value, schema: dict, path: str) -> list[str]:
    """Fields the API server would prune (or reject with strict validation)."""
    problems = []
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return problems
    if isinstance(value, dict):
        props = schema.get("properties")
        additional = schema.get("additionalProperties")
        for key, sub in value.items():
            if props is not None and key in props:
                problems += unknown_fields(sub, props[key], f"{path}.{key}")
            elif isinstance(additional, dict):
                problems += unknown_fields(sub, additional, f"{path}.{key}")
            elif props is not None and additional is not True:
                problems.append(f"{path}.{key}: unknown field")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            problems += unknown_fields(item, schema["items"], f"{path}[{i}]")
    return problems


def check_crd_object(doc: dict, schema: dict) -> list[str]:
    body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
    validator = jsonschema.Draft7Validator(schema)
    problems = [
        f"{'.'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}"
        for err in validator.iter_errors(body)
    ]
    return problems + unknown_fields(body, schema, "")


def pod_spec_of(doc: dict) -> dict | None:
    kind = doc.get("kind")
    if kind in ("Deployment", "Rollout", "StatefulSet", "DaemonSet", "Job"):
        return doc["spec"]["template"]["spec"]
    return None


def analysis_job_pod_specs(doc: dict) -> list[dict]:
    specs = []
    for metric in doc.get("spec", {}).get("metrics", []):
        job = metric.get("provider", {}).get("job")
        if job:
            specs.append(job["spec"]["template"]["spec"])
    return specs


def drain_budget_s(docs: list[dict], spec: dict) -> float:
    """preStop pause + the server's drain grace and drain timeout (from its ConfigMap)."""
    env = {}
    for container in spec.get("containers", []):
        for source in container.get("envFrom", []):
            name = source.get("configMapRef", {}).get("name")
            for doc in docs:
                if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == name:
                    env.update(doc.get("data", {}))
        env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    pre_stop = max(
        (c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
         for c in spec.get("containers", [])),
        default=0,
    )
    # `oxicam serve` defaults when the ConfigMap does not say.
    return pre_stop + float(env.get("OXICAM_DRAIN_GRACE_S", 5)) + float(
        env.get("OXICAM_DRAIN_TIMEOUT_S", 150)
    )


def check_restricted_pod(spec: dict, where: str, server: bool) -> list[str]:
    """The restricted Pod Security Standard, and for servers our probe/lifecycle rules."""
    problems = []
    pod_sc = spec.get("securityContext", {})
    if spec.get("automountServiceAccountToken") is not False:
        problems.append(f"{where}: automountServiceAccountToken must be false")
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            problems.append(f"{where}: {field} is not allowed")
    for vol in spec.get("volumes", []):
        if "hostPath" in vol:
            problems.append(f"{where}: hostPath volume {vol['name']} is not allowed")
    for container in spec.get("containers", []) + spec.get("initContainers", []):
        name = f"{where}/{container['name']}"
        sc = container.get("securityContext", {})

        def effective(key, sc=sc):
            return sc.get(key, pod_sc.get(key))

        if effective("runAsNonRoot") is not True:
            problems.append(f"{name}: runAsNonRoot must be true")
        if effective("runAsUser") == 0:
            problems.append(f"{name}: runAsUser 0 is not allowed")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation must be false")
        if sc.get("privileged"):
            problems.append(f"{name}: privileged is not allowed")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problems.append(f"{name}: capabilities must drop ALL")
        if sc.get("capabilities", {}).get("add"):
            problems.append(f"{name}: no capability may be added")
        seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile must be RuntimeDefault")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: readOnlyRootFilesystem must be true")
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        if "/tmp" not in mounts:
            problems.append(f"{name}: needs a writable /tmp volume (read-only root)")
        resources = container.get("resources", {})
        for part in ("requests", "limits"):
            for res in ("cpu", "memory"):
                if res not in resources.get(part, {}):
                    problems.append(f"{name}: resources.{part}.{res} missing")
        if server:
            if container.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
                problems.append(f"{name}: readinessProbe must GET /readyz")
            if container.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
                problems.append(f"{name}: livenessProbe must GET /healthz")
            if "preStop" not in container.get("lifecycle", {}):
                problems.append(f"{name}: preStop pause missing")
    return problems


def check_grace_period(docs: list[dict], spec: dict, where: str) -> list[str]:
    needed = drain_budget_s(docs, spec)
    grace = spec.get("terminationGracePeriodSeconds", 30)
    if grace < needed:
        return [f"{where}: terminationGracePeriodSeconds {grace} < preStop + drain {needed:g} s"]
    return []


def check_bluegreen_wiring(docs: list[dict]) -> list[str]:
    problems = []
    services = {d["metadata"]["name"] for d in docs if d["kind"] == "Service"}
    templates = {d["metadata"]["name"]: d for d in docs if d["kind"] == "AnalysisTemplate"}
    for rollout in (d for d in docs if d["kind"] == "Rollout"):
        name = rollout["metadata"]["name"]
        blue_green = rollout["spec"].get("strategy", {}).get("blueGreen")
        if not blue_green:
            problems.append(f"Rollout {name}: strategy.blueGreen missing")
            continue
        for field in ("activeService", "previewService"):
            if blue_green.get(field) not in services:
                problems.append(f"Rollout {name}: {field} {blue_green.get(field)!r} is no Service")
        if blue_green.get("activeService") == blue_green.get("previewService"):
            problems.append(f"Rollout {name}: active and preview Service must differ")
        if blue_green.get("scaleDownDelaySeconds", 30) < 30:
            problems.append(f"Rollout {name}: scaleDownDelaySeconds too short for rollback")
        analysis = blue_green.get("prePromotionAnalysis")
        if not analysis:
            problems.append(f"Rollout {name}: prePromotionAnalysis (the smoke gate) missing")
            continue
        given = {a["name"] for a in analysis.get("args", [])}
        images = {c["image"] for c in rollout["spec"]["template"]["spec"]["containers"]}
        for ref in analysis.get("templates", []):
            template = templates.get(ref.get("templateName"))
            if template is None:
                problems.append(f"Rollout {name}: AnalysisTemplate {ref} not in the manifests")
                continue
            needed = {a["name"] for a in template["spec"].get("args", []) if "value" not in a}
            if needed - given:
                problems.append(f"Rollout {name}: args {sorted(needed - given)} not given")
            for metric in template["spec"]["metrics"]:
                job = metric.get("provider", {}).get("job")
                if not job:
                    problems.append(f"AnalysisTemplate {ref}: metric {metric['name']} is no Job")
                    continue
                if metric.get("failureLimit", 0) != 0:
                    problems.append(f"AnalysisTemplate {ref}: a failed smoke must fail the gate")
                for container in job["spec"]["template"]["spec"]["containers"]:
                    if container["image"] not in images:
                        problems.append(
                            f"AnalysisTemplate {ref}: smoke image {container['image']} is not "
                            f"the Rollout's {sorted(images)}"
                        )
                    if "smoke" not in container.get("args", []) + container.get("command", []):
                        problems.append(f"AnalysisTemplate {ref}: job does not run `oxicam smoke`")
    return problems


def is_port(value, port: tuple[str, int]) -> bool:
    """`value` (a port name or number, as manifests write them) designates `port`."""
    return value in port or str(value) == str(port[1])


def check_listener_contract(docs: list[dict]) -> list[str]:
    """Public routes on 8000 only; operations routes on 9090, for Prometheus only."""
    problems = []
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    for doc in docs:
        kind, name = doc["kind"], doc["metadata"]["name"]
        spec = pod_spec_of(doc)
        if spec is not None and kind != "Job":
            template = doc["spec"]["template"]
            annotations = template.get("metadata", {}).get("annotations", {})
            if annotations.get("prometheus.io/port") != str(ADMIN_PORT[1]):
                problems.append(f"{kind} {name}: prometheus.io/port must be {ADMIN_PORT[1]} (admin)")
            for container in spec.get("containers", []):
                ports = {(p.get("name"), p["containerPort"]) for p in container.get("ports", [])}
                for wanted in (PUBLIC_PORT, ADMIN_PORT):
                    if wanted not in ports:
                        problems.append(f"{kind} {name}/{container['name']}: port {wanted} missing")
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    port = container.get(probe, {}).get("httpGet", {}).get("port")
                    if port is not None and not is_port(port, PUBLIC_PORT):
                        problems.append(f"{kind} {name}: {probe} must use the public port, not {port}")
        if kind == "Service":
            for port in doc["spec"].get("ports", []):
                for value in (port.get("port"), port.get("targetPort"), port.get("name")):
                    if value is not None and is_port(value, ADMIN_PORT):
                        problems.append(f"Service {name}: exposes the operations port ({value})")
        if kind == "Ingress":
            problems += check_ingress(doc, services)
        if kind == "NetworkPolicy":
            for i, rule in enumerate(doc["spec"].get("ingress", [])):
                ports = rule.get("ports")
                admin = ports is None or any(is_port(p.get("port"), ADMIN_PORT) for p in ports)
                sources = rule.get("from")
                only_monitoring = bool(sources) and all(
                    set(s) == {"namespaceSelector"}
                    and s["namespaceSelector"].get("matchLabels")
                    == {"kubernetes.io/metadata.name": MONITORING_NAMESPACE}
                    for s in sources
                )
                if admin and not only_monitoring:
                    problems.append(
                        f"NetworkPolicy {name}: ingress rule {i} opens the operations port to "
                        f"more than the {MONITORING_NAMESPACE} namespace"
                    )
    return problems


def check_ingress(doc: dict, services: dict[str, dict]) -> list[str]:
    name = doc["metadata"]["name"]
    where = f"Ingress {name}"
    problems = []
    annotations = doc["metadata"].get("annotations", {})
    prefix = "alb.ingress.kubernetes.io/"
    if annotations.get(prefix + "healthcheck-path") != "/readyz":
        problems.append(f"{where}: the ALB health check must GET /readyz")
    if not annotations.get(prefix + "ssl-policy", "").startswith("ELBSecurityPolicy-TLS13"):
        problems.append(f"{where}: ssl-policy must be a TLS 1.3/1.2 policy")
    if annotations.get(prefix + "ssl-redirect") != "443":
        problems.append(f"{where}: plain HTTP must redirect to 443")
    attributes = dict(
        kv.split("=", 1) for kv in annotations.get(prefix + "load-balancer-attributes", "").split(",") if kv
    )
    for key, value in REQUIRED_ALB_ATTRIBUTES.items():
        if attributes.get(key) != value:
            problems.append(f"{where}: load balancer attribute {key}={value} missing")
    instance_targets = annotations.get(prefix + "target-type") == "instance"
    backends = [
        path["backend"]["service"]
        for rule in doc["spec"].get("rules", [])
        for path in rule.get("http", {}).get("paths", [])
    ]
    if doc["spec"].get("defaultBackend"):
        backends.append(doc["spec"]["defaultBackend"]["service"])
    for backend in backends:
        service = services.get(backend["name"])
        if service is None:
            problems.append(f"{where}: backend Service {backend['name']} not in the manifests")
            continue
        port_ref = backend["port"].get("name", backend["port"].get("number"))
        matching = [
            p for p in service["spec"].get("ports", []) if port_ref in (p.get("name"), p.get("port"))
        ]
        if not matching or not all(is_port(p.get("targetPort", p["port"]), PUBLIC_PORT) for p in matching):
            problems.append(f"{where}: backend {backend['name']}:{port_ref} is not the public port 8000")
        if instance_targets and service["spec"].get("type") != "NodePort":
            problems.append(f"{where}: instance targets need Service {backend['name']} of type NodePort")
    return problems


def check_namespaced_only(docs: list[dict], namespace: str) -> list[str]:
    problems = []
    for doc in docs:
        ident = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in CLUSTER_SCOPED_KINDS:
            problems.append(f"{ident}: cluster-scoped, the pipeline's rights end at namespace {namespace}")
        elif doc["metadata"].get("namespace") != namespace:
            problems.append(f"{ident}: namespace {doc['metadata'].get('namespace')!r}, not {namespace}")
    return problems


def check(paths: list[Path], crd_dir: Path, namespaced_only: str | None = None) -> list[str]:
    rendered = {path: [d for d in yaml.load_all(path.read_text(), Loader=YAML_LOADER) if d] for path in paths}
    # The CRD schemas are only read when there is an Argo object to check against them.
    schemas = {}
    if any(d["apiVersion"].startswith(ARGO_GROUP) for docs in rendered.values() for d in docs):
        schemas = load_crd_schemas(crd_dir)
        if not schemas:
            return [f"no CRD schemas found in {crd_dir}"]
    problems = []
    for path, docs in rendered.items():
        for doc in docs:
            ident = f"{path.name}: {doc['kind']}/{doc['metadata']['name']}"
            if doc["apiVersion"].startswith(ARGO_GROUP):
                schema = schemas.get((doc["apiVersion"], doc["kind"]))
                if schema is None:
                    problems.append(f"{ident}: no CRD schema for {doc['apiVersion']}")
                else:
                    problems += [f"{ident}: {p}" for p in check_crd_object(doc, schema)]
            pod = pod_spec_of(doc)
            if pod is not None:
                problems += check_restricted_pod(pod, ident, server=True)
                problems += check_grace_period(docs, pod, ident)
            if doc["kind"] == "AnalysisTemplate":
                for spec in analysis_job_pod_specs(doc):
                    problems += check_restricted_pod(spec, f"{ident} job", server=False)
        problems += [f"{path.name}: {p}" for p in check_bluegreen_wiring(docs)]
        problems += [f"{path.name}: {p}" for p in check_listener_contract(docs)]
        if namespaced_only:
            problems += [f"{path.name}: {p}" for p in check_namespaced_only(docs, namespaced_only)]
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--crds", type=Path, required=True, help="directory of CRD yaml files")
    parser.add_argument(
        "--namespaced-only", metavar="NS", help="every object must be namespaced and in NS"
    )
    parser.add_argument("rendered", type=Path, nargs="+", help="output of kubectl kustomize")
    args = parser.parse_args()
    problems = check(args.rendered, args.crds, args.namespaced_only)
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"ok: {', '.join(p.name for p in args.rendered)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
