#!/usr/bin/env python3
"""CycloneDX 1.5 SBOM of the oxicam image: the binary's crates and the image's Debian packages,
and the binary's crates checked against the RustSec advisory snapshot.

Crates: the `oxicam` package's normal-dependency closure for the image's platform, from
`cargo metadata --locked` (versions, licences, the lock file's SHA-256). Checked against the
binary itself: every crate whose source path (`vendor/NAME-VERSION/`, the image is built from a
versioned vendor directory) appears in the binary must be in the SBOM, or the SBOM is wrong.
Debian packages: the dpkg status files the image carries (/var/lib/dpkg/status.d, one per
package whose shared library was copied in). Advisories: `cargo audit` on the lock file, offline
against the snapshot; a vulnerability in a crate of the binary fails, other findings are listed.

  sbom.py --binary BIN --dpkg-status DIR --image REF --db ADVISORY_DB --out SBOM.json
"""
import argparse
import datetime
import json
import pathlib
import re
import subprocess
import sys
import uuid

PLATFORM = "x86_64-unknown-linux-gnu"


def binary_crates(metadata):
    """The packages the `oxicam` binary is built from: normal dependencies, transitively."""
    packages = {p["id"]: p for p in metadata["packages"]}
    nodes = {n["id"]: n for n in metadata["resolve"]["nodes"]}
    root = next(p["id"] for p in metadata["packages"] if p["name"] == "oxicam")
    seen, stack = set(), [root]
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        stack += [d["pkg"] for d in nodes[pid]["deps"] if any(k["kind"] is None for k in d["dep_kinds"])]
    return root, [packages[pid] for pid in sorted(seen)]


def lock_checksums(lock_text):
    sums = {}
    for block in lock_text.split("[[package]]"):
        name = re.search(r'^name = "(.+)"$', block, re.M)
        version = re.search(r'^version = "(.+)"$', block, re.M)
        checksum = re.search(r'^checksum = "(.+)"$', block, re.M)
        if name and version and checksum:
            sums[(name.group(1), version.group(1))] = checksum.group(1)
    return sums


def crate_component(p, checksums):
    c = {"type": "library", "bom-ref": f"pkg:cargo/{p['name']}@{p['version']}", "name": p["name"],
         "version": p["version"], "purl": f"pkg:cargo/{p['name']}@{p['version']}"}
    if p.get("license"):
        c["licenses"] = [{"expression": p["license"]}]
    if (p["name"], p["version"]) in checksums:
        c["hashes"] = [{"alg": "SHA-256", "content": checksums[(p["name"], p["version"])]}]
    if any("proc-macro" in t["kind"] for t in p["targets"]):
        # Runs inside the compiler: in the build, not in the binary.
        c["scope"] = "excluded"
        c["properties"] = [{"name": "cargo:target-kind", "value": "proc-macro"}]
    if p["source"] is None:
        c["bom-ref"] = c["purl"] = f"pkg:cargo/{p['name']}@{p['version']}?repository_url=local"
    return c


def deb_components(status_dir):
    out = []
    for f in sorted(pathlib.Path(status_dir).iterdir()):
        fields = dict(re.findall(r"^([A-Za-z-]+): (.*)$", f.read_text(), re.M))
        name, version, arch = fields["Package"], fields["Version"], fields.get("Architecture", "amd64")
        purl = f"pkg:deb/debian/{name}@{version}?arch={arch}&distro=debian-12"
        c = {"type": "library", "bom-ref": purl, "name": name, "version": version, "purl": purl}
        if fields.get("Source"):
            c["properties"] = [{"name": "debian:source", "value": fields["Source"].split()[0]}]
        out.append(c)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--dpkg-status", required=True)
    ap.add_argument("--image", required=True, help="the image reference the SBOM describes")
    ap.add_argument("--db", required=True, help="RustSec advisory database directory")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    metadata = json.loads(subprocess.run(
        ["cargo", "metadata", "--locked", "--format-version", "1", "--filter-platform", PLATFORM],
        check=True, capture_output=True, text=True).stdout)
    root, crates = binary_crates(metadata)
    in_sbom = {(p["name"], p["version"]) for p in crates}
    proc_macros = {(p["name"], p["version"]) for p in crates
                   if any("proc-macro" in t["kind"] for t in p["targets"])}
    binary = pathlib.Path(a.binary).read_bytes()
    in_binary = {(m.group(1).decode(), m.group(2).decode()) for m in
                 re.finditer(rb"vendor/([A-Za-z0-9_-]+?)-([0-9]+\.[0-9]+\.[0-9]+[A-Za-z0-9.+-]*)/", binary)}
    missing = sorted(in_binary - in_sbom)
    if missing:
        sys.exit(f"crates compiled into the binary but missing from the SBOM: {missing}")

    checksums = lock_checksums(pathlib.Path("Cargo.lock").read_text())
    oxicam = next(p for p in crates if p["id"] == root)
    crate_components = [crate_component(p, checksums) for p in crates if p["id"] != root]
    debs = deb_components(a.dpkg_status)
    bom = {
        "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "serialNumber": f"urn:uuid:{uuid.uuid4()}",
        "metadata": {
            "timestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tools": {"components": [{"type": "application", "name": "oxicam scripts/sbom.py"}]},
            "component": {"type": "container", "bom-ref": a.image, "name": "oxicam", "version": oxicam["version"],
                          "properties": [{"name": "oxicam:image", "value": a.image}]},
        },
        "components": crate_components + debs,
    }

    audit = subprocess.run(["cargo", "audit", "--db", a.db, "--no-fetch", "--json", "-f", "Cargo.lock"],
                           capture_output=True, text=True)
    try:
        report = json.loads(audit.stdout)
    except ValueError:
        sys.exit(f"cargo audit gave no report: {audit.stderr.strip()[-500:]}")
    findings = [("vulnerability", v) for v in report["vulnerabilities"]["list"]]
    findings += [(kind, w) for kind, ws in report["warnings"].items() for w in ws]
    binary_vulns = []
    for kind, f in findings:
        key = (f["package"]["name"], f["package"]["version"])
        where = ("a proc macro of the build" if key in proc_macros
                 else "in the binary" if key in in_sbom else "not in the binary")
        advisory = (f.get("advisory") or {}).get("id", "-")
        print(f"advisory: {kind} {advisory} {key[0]} {key[1]} ({where})")
        if kind == "vulnerability" and key in in_sbom - proc_macros:
            binary_vulns.append(advisory)
    bom["vulnerabilities"] = [
        {"id": (f.get("advisory") or {}).get("id", kind), "source": {"name": "RustSec"},
         "affects": [{"ref": f"pkg:cargo/{f['package']['name']}@{f['package']['version']}"}],
         "properties": [{"name": "rustsec:kind", "value": kind}]}
        for kind, f in findings if (f["package"]["name"], f["package"]["version"]) in in_sbom]
    pathlib.Path(a.out).write_text(json.dumps(bom, indent=1) + "\n")
    print(f"sbom: {len(crate_components)} crates ({len(proc_macros)} build-time proc macros; {len(in_binary)} "
          f"found by their source paths in the binary, none missing), "
          f"{len(debs)} Debian packages; advisories: {report['database']['advisory-count']} in the "
          f"snapshot, {len(findings)} finding(s) in the lock, {len(bom['vulnerabilities'])} in the SBOM's "
          f"crates, "
          f"{len(binary_vulns)} vulnerabilit(ies) in the binary")
    if binary_vulns:
        sys.exit(f"the binary contains crates with RustSec vulnerabilities: {binary_vulns}")


if __name__ == "__main__":
    main()
