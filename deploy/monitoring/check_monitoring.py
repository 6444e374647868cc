#!/usr/bin/env python3
"""Checks that the dashboard, the rules and the scrape config fit the service and each other.

promtool checks PromQL syntax and the alerts' behaviour; this checks what it cannot: every
metric a dashboard query or a rule reads is one the service exports (names taken from the
`metrics::counter!/gauge!/histogram!` calls in crates/oxicam-server/src, histograms with their
_bucket/_sum/_count series) or a rule records; the dashboard JSON is sane (unique panel ids,
grid positions, a Prometheus datasource variable, a query in every target) and shows every
SLO; the scrape job is the one the rules and dashboard name, keeps the `admin` port the
manifests declare, in the namespace the pipeline deploys to.

usage: check_monitoring.py ROOT [--dashboard FILE] [--rules FILE]
  ROOT  the repository; FILE overrides the file checked (negative controls in stage 67)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "inf", "nan", "atan2",
}
SLI_RULES = ("oxicam:analysis_errors:", "oxicam:analysis_slow:", "oxicam:analysis_refusals:")
SCRAPE_JOB = "oxicam"
ADMIN_PORT_NAME = "admin"


def exported_metrics(src_dir: Path) -> set[str]:
    names = set()
    for path in src_dir.glob("*.rs"):
        text = path.read_text()
        for kind, name in re.findall(r'metrics::(counter|gauge|histogram)!\(\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"', text):
            names.add(name)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression reads (functions, keywords and labels left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in PROMQL_WORDS:
            continue
        names.add(name)
    return names


def rule_exprs(rules: dict) -> tuple[set[str], list[tuple[str, str]]]:
    recorded, exprs = set(), []
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "record" in rule:
                recorded.add(rule["record"])
            exprs.append((rule.get("record") or rule.get("alert"), rule["expr"]))
    return recorded, exprs


def check_dashboard(dashboard: dict, known: set[str]) -> list[str]:
    problems = []
    for key in ("title", "uid", "schemaVersion", "panels"):
        if not dashboard.get(key):
            problems.append(f"dashboard: `{key}` missing")
    variables = dashboard.get("templating", {}).get("list", [])
    if not any(v.get("type") == "datasource" and v.get("query") == "prometheus" and v.get("name") == "datasource"
               for v in variables):
        problems.append("dashboard: no `datasource` variable of type prometheus")
    ids, exprs = set(), []
    for panel in dashboard.get("panels", []):
        where = f"panel {panel.get('id')} {panel.get('title')!r}"
        if panel.get("id") in ids:
            problems.append(f"{where}: duplicate id")
        ids.add(panel.get("id"))
        grid = panel.get("gridPos", {})
        if not all(isinstance(grid.get(k), int) for k in "xywh") or grid.get("x", 0) + grid.get("w", 0) > 24:
            problems.append(f"{where}: gridPos {grid} is not a place on the 24-column grid")
        if panel.get("type") == "row":
            continue
        if panel.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"{where}: datasource is not the $datasource variable")
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"{where}: no query")
        if len({t.get("refId") for t in targets}) != len(targets):
            problems.append(f"{where}: duplicate refId")
        for target in targets:
            expr = target.get("expr", "").strip()
            if not expr:
                problems.append(f"{where}: target {target.get('refId')} has no expr")
                continue
            exprs.append(expr)
            for name in sorted(metric_names(expr) - known):
                problems.append(f"{where}: `{name}` is neither exported by the service nor recorded")
    for family in SLI_RULES:
        if not any(family in e for e in exprs):
            problems.append(f"dashboard: no panel shows the SLI {family}*")
    return problems


def check_scrape(config: dict, overlay_namespace: str, rules_text: str) -> list[str]:
    problems = []
    jobs = {job["job_name"]: job for job in config.get("scrape_configs", [])}
    job = jobs.get(SCRAPE_JOB)
    if job is None:
        return [f"prometheus.yml: no scrape job {SCRAPE_JOB!r} (the rules' up{{job=...}} names it)"]
    if f'job="{SCRAPE_JOB}"' not in rules_text:
        problems.append(f"rules: nothing watches up{{job=\"{SCRAPE_JOB}\"}}")
    sd = job.get("kubernetes_sd_configs", [{}])[0]
    if sd.get("namespaces", {}).get("names") != [overlay_namespace]:
        problems.append(f"prometheus.yml: job {SCRAPE_JOB} does not look in namespace {overlay_namespace}")
    keeps_admin = any(
        r.get("action") == "keep"
        and r.get("source_labels") == ["__meta_kubernetes_pod_container_port_name"]
        and r.get("regex") == ADMIN_PORT_NAME
        for r in job.get("relabel_configs", [])
    )
    if not keeps_admin:
        problems.append(f"prometheus.yml: job {SCRAPE_JOB} does not keep the `{ADMIN_PORT_NAME}` port only")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--dashboard", type=Path)
    parser.add_argument("--rules", type=Path)
    args = parser.parse_args()
    monitoring = args.root / "deploy" / "monitoring"
    dashboard_path = args.dashboard or monitoring / "grafana" / "oxicam-slo.json"
    rules_path = args.rules or monitoring / "oxicam.rules.yml"
    exported = exported_metrics(args.root / "crates" / "oxicam-server" / "src")
    if "oxicam_http_requests_total" not in exported:
        print(f"FAIL found no exported metric in crates/oxicam-server/src ({sorted(exported)})", file=sys.stderr)
        return 1
    rules_text = rules_path.read_text()
    recorded, exprs = rule_exprs(yaml.safe_load(rules_text))
    known = exported | recorded | {"up"}
    problems = []
    for name, expr in exprs:
        for metric in sorted(metric_names(expr) - known):
            problems.append(f"rule {name}: `{metric}` is neither exported by the service nor recorded")
    try:
        dashboard = json.loads(dashboard_path.read_text())
    except ValueError as err:
        dashboard = {}
        problems.append(f"dashboard: not JSON ({err})")
    problems += check_dashboard(dashboard, known)
    overlay = yaml.safe_load((args.root / "deploy/k8s/overlays/plain/kustomization.yaml").read_text())
    problems += check_scrape(yaml.safe_load((monitoring / "prometheus.yml").read_text()), overlay["namespace"],
                             rules_text)
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"ok: {len(dashboard['panels'])} panels and {len(exprs)} rules read only the {len(exported)} exported "
          f"series and {len(recorded)} recorded ones; scrape job {SCRAPE_JOB} keeps port {ADMIN_PORT_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
