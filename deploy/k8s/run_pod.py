#!/usr/bin/env python3
"""Runs a Deployment's pod from the rendered manifests on Docker, as a kubelet would, and checks it.

There is no Kubernetes cluster here, so this is the pod spec on a real container runtime: the
Docker flags are derived from the rendered YAML (never written by hand), the container is
started from the image pushed to the registry, and the checks look at the running process
(/proc/PID/status, mountinfo), not at Docker's own record. Translation:

  securityContext  runAsUser/runAsGroup -> --user; fsGroup, supplementalGroups -> --group-add and
                   the emptyDir's group; runAsNonRoot -> refused when the uid is 0 (kubelet's
                   check); readOnlyRootFilesystem -> --read-only; allowPrivilegeEscalation false
                   -> no-new-privileges; capabilities -> --cap-drop/--cap-add; seccomp
                   RuntimeDefault -> Docker's default profile
  volumes          emptyDir -> tmpfs of sizeLimit (the kubelet evicts a pod over sizeLimit; a
                   tmpfs of that size is the nearest enforcement; other volume types refused)
  env, envFrom     ConfigMaps resolved from the same render; valueFrom refused
  resources        limits.memory -> --memory, limits.cpu -> --cpus (ephemeral-storage: the tmpfs)
  probes           httpGet startup/readiness/liveness, polled from the host on the published
                   loopback ports at their periods and thresholds
  lifecycle        preStop sleep, then SIGTERM with terminationGracePeriodSeconds (docker stop)

Checks: the process runs as the declared uid/gid and, whatever the spec says (the restricted
profile is required), with no capabilities, no-new-privileges and a
seccomp filter; / is mounted read-only and refuses a write; each emptyDir is a tmpfs of its size;
the probes pass; a real `POST /run` with a rendered clip answers 200 with the clip's heart rate;
nothing is left in the upload volume; operations endpoints answer on the admin port only; the
pod stops cleanly (exit 0) within its grace period. Prints one line per check.

  run_pod.py RENDERED.yaml --deployment NAME --image REF --clip CLIP --expect-bpm BPM
  run_pod.py RENDERED.yaml --deployment NAME --image REF --print-args   (translation only)
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import yaml

SUPPORTED_VOLUMES = {"emptyDir"}
QUANTITY = re.compile(r"^([0-9.]+)([A-Za-z]*)$")
UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
         "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


class Refused(Exception):
    """The pod spec asks for something this runtime translation cannot honour, or a kubelet
    would refuse to start it."""


def quantity_bytes(text):
    m = QUANTITY.match(str(text))
    if not m or m.group(2) not in UNITS:
        raise Refused(f"unsupported quantity {text!r}")
    return int(float(m.group(1)) * UNITS[m.group(2)])


def cpu_cores(text):
    text = str(text)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def image_user(image):
    out = subprocess.run(["docker", "image", "inspect", "-f", "{{.Config.User}}", image],
                         check=True, capture_output=True, text=True).stdout.strip()
    return out


def translate(docs, deployment, image, name):
    """The pod's container as a `docker run` argument list, plus what the checks need."""
    deployments = [d for d in docs if d and d["kind"] == "Deployment" and d["metadata"]["name"] == deployment]
    if len(deployments) != 1:
        raise Refused(f"no single Deployment {deployment!r} in the render")
    pod = deployments[0]["spec"]["template"]["spec"]
    if pod.get("initContainers") or len(pod["containers"]) != 1:
        raise Refused("only a pod of one container and no init containers is translated")
    for field in ("hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace"):
        if pod.get(field):
            raise Refused(f"pod field {field} is not translated")
    c = pod["containers"][0]
    pod_sc = pod.get("securityContext", {})
    sc = {**pod_sc, **c.get("securityContext", {})}
    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d and d["kind"] == "ConfigMap"}

    uid, gid = sc.get("runAsUser"), sc.get("runAsGroup")
    if uid is None:
        user = image_user(image).split(":")
        if not user[0].isdigit():
            raise Refused(f"runAsNonRoot needs a numeric user; the image's is {user[0]!r}")
        uid = int(user[0])
        gid = gid if gid is not None else (int(user[1]) if len(user) > 1 and user[1].isdigit() else 0)
    if sc.get("runAsNonRoot") and uid == 0:
        raise Refused("runAsNonRoot is set and the container would run as uid 0 (the kubelet refuses it)")
    args = ["--name", name, "--hostname", name, "--label", "oxicam.ci=1",
            "--label", f"oxicam.pod={deployment}", "--user", f"{uid}:{gid if gid is not None else 0}"]
    groups = [pod_sc["fsGroup"]] if "fsGroup" in pod_sc else []
    groups += pod_sc.get("supplementalGroups", [])
    for g in groups:
        args += ["--group-add", str(g)]
    if sc.get("readOnlyRootFilesystem"):
        args.append("--read-only")
    if sc.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    if sc.get("privileged"):
        raise Refused("privileged containers are not translated")
    caps = sc.get("capabilities", {})
    args += [a for cap in caps.get("drop", []) for a in ("--cap-drop", cap)]
    args += [a for cap in caps.get("add", []) for a in ("--cap-add", cap)]
    seccomp = sc.get("seccompProfile", {}).get("type", "Unconfined")
    if seccomp == "Unconfined":
        args += ["--security-opt", "seccomp=unconfined"]
    elif seccomp != "RuntimeDefault":
        raise Refused(f"seccompProfile {seccomp} is not translated")

    volumes = {}
    for v in pod.get("volumes", []):
        kinds = set(v) - {"name"}
        if not kinds <= SUPPORTED_VOLUMES:
            raise Refused(f"volume {v['name']}: {sorted(kinds)} is not translated")
        volumes[v["name"]] = v["emptyDir"] or {}
    tmpfs = {}
    for m in c.get("volumeMounts", []):
        empty_dir = volumes[m["name"]]
        size = quantity_bytes(empty_dir["sizeLimit"]) if "sizeLimit" in empty_dir else None
        opts = ["rw", "nosuid", "nodev"] + ([f"size={size}"] if size else [])
        if groups:
            opts.append(f"gid={groups[0]}")
        args += ["--tmpfs", f"{m['mountPath']}:{','.join(opts)}"]
        tmpfs[m["mountPath"]] = size

    env = {}
    for source in c.get("envFrom", []):
        if "configMapRef" not in source:
            raise Refused(f"envFrom {source} is not translated")
        env.update(config_maps[source["configMapRef"]["name"]])
    for e in c.get("env", []):
        if "valueFrom" in e:
            raise Refused(f"env {e['name']}: valueFrom is not translated")
        env[e["name"]] = e.get("value", "")
    for k, v in env.items():
        args += ["-e", f"{k}={v}"]

    limits = c.get("resources", {}).get("limits", {})
    if "memory" in limits:
        args += ["--memory", str(quantity_bytes(limits["memory"]))]
    if "cpu" in limits:
        args += ["--cpus", str(cpu_cores(limits["cpu"]))]

    ports = {}
    for p in c.get("ports", []):
        args += ["-p", f"127.0.0.1::{p['containerPort']}/{p.get('protocol', 'TCP').lower()}"]
        ports[p.get("name", str(p["containerPort"]))] = p["containerPort"]
    if c.get("command"):
        args += ["--entrypoint", c["command"][0]]
    args.append(image)
    args += c.get("command", [])[1:] + c.get("args", [])

    probes = {}
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        if kind in c:
            probe = c[kind]
            if "httpGet" not in probe:
                raise Refused(f"{kind}: only httpGet probes are translated")
            port = probe["httpGet"]["port"]
            probes[kind] = {
                "path": probe["httpGet"].get("path", "/"),
                "port": ports[port] if isinstance(port, str) else port,
                "period": probe.get("periodSeconds", 10),
                "timeout": probe.get("timeoutSeconds", 1),
                "failures": probe.get("failureThreshold", 3),
                "delay": probe.get("initialDelaySeconds", 0),
            }
    pre_stop = c.get("lifecycle", {}).get("preStop", {})
    return {
        "args": args, "uid": uid, "gid": gid, "groups": groups, "tmpfs": tmpfs, "ports": ports,
        "probes": probes,
        "pre_stop_sleep_s": pre_stop.get("sleep", {}).get("seconds", 0),
        "grace_s": pod.get("terminationGracePeriodSeconds", 30),
        "memory": limits.get("memory"),
    }


class Checks:
    def __init__(self):
        self.failed = []

    def check(self, name, ok, detail=""):
        print(f"{'ok  ' if ok else 'FAIL'}  {name}{': ' + detail if detail else ''}", flush=True)
        if not ok:
            self.failed.append(name)
        return ok


def http_get(url, timeout):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError):
        return None, b""


def status_fields(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return fields


def mounts(pid):
    """mount point -> (mount options, fs type, super options) of the container's namespace."""
    out = {}
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            parts = left.split()
            fstype, _, super_opts = right.split()
            out[parts[4]] = (parts[5].split(","), fstype, super_opts.split(","))
    return out


def run_checks(spec, clip, expect_bpm, tolerance, checks):
    name = spec["args"][spec["args"].index("--name") + 1]
    cid = subprocess.run(["docker", "run", "-d", *spec["args"]], check=True,
                         capture_output=True, text=True).stdout.strip()
    try:
        published = {}
        for port_name, port in spec["ports"].items():
            out = subprocess.run(["docker", "port", cid, f"{port}/tcp"], check=True,
                                 capture_output=True, text=True).stdout
            published[port] = int(re.search(r"127\.0\.0\.1:(\d+)", out).group(1))
        base = {port: f"http://127.0.0.1:{host}" for port, host in published.items()}

        start = time.monotonic()
        probes = spec["probes"]
        if "startupProbe" in probes:
            p = probes["startupProbe"]
            time.sleep(p["delay"])
            failures = 0
            while True:
                status, _ = http_get(base[p["port"]] + p["path"], p["timeout"] or 1)
                if status == 200 or failures + 1 >= p["failures"]:
                    break
                failures += 1
                time.sleep(p["period"])
            checks.check("startupProbe", status == 200,
                         f"GET {p['path']} {status} after {time.monotonic() - start:.1f} s, "
                         f"{failures} of {p['failures']} failures allowed")
        for kind in ("readinessProbe", "livenessProbe"):
            if kind in probes:
                p = probes[kind]
                status, _ = http_get(base[p["port"]] + p["path"], p["timeout"])
                checks.check(kind, status == 200, f"GET {p['path']} on {p['port']}: {status}")

        pid = int(subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", cid], check=True,
                                 capture_output=True, text=True).stdout)
        st = status_fields(pid)
        checks.check("user", st["Uid"] == [str(spec["uid"])] * 4 and st["Gid"] == [str(spec["gid"])] * 4,
                     f"uid {st['Uid'][0]} gid {st['Gid'][0]} (declared {spec['uid']}:{spec['gid']})")
        checks.check("non-root", st["Uid"][0] != "0", f"uid {st['Uid'][0]}")
        checks.check("groups", all(str(g) in st["Groups"] for g in spec["groups"]),
                     f"{' '.join(st['Groups'])} (fsGroup/supplementalGroups {spec['groups']})")
        # The restricted profile is required of the running process whatever the spec says, so
        # a spec that loosens it fails here, on what the runtime really did.
        caps = {k: st[k][0] for k in ("CapEff", "CapPrm", "CapBnd", "CapAmb")}
        checks.check("capabilities", set(caps.values()) == {"0000000000000000"},
                     " ".join(f"{k}={v}" for k, v in caps.items()))
        checks.check("no-new-privileges", st["NoNewPrivs"] == ["1"], f"NoNewPrivs {st['NoNewPrivs'][0]}")
        checks.check("seccomp", st["Seccomp"] == ["2"], f"Seccomp mode {st['Seccomp'][0]} (2 = filter)")
        mnt = mounts(pid)
        probe_file = f"/proc/{pid}/root/.oxicam-write-probe"
        try:
            with open(probe_file, "w"):
                pass
            os.unlink(probe_file)
            refused = "written"
        except OSError as e:
            refused = e.strerror
        checks.check("read-only root", "ro" in mnt["/"][0] and refused == "Read-only file system",
                     f"/ mounted {mnt['/'][0][0]}, a write: {refused}")
        for path, size in spec["tmpfs"].items():
            opts, fstype, super_opts = mnt.get(path, ([], "none", []))
            size_ok = size is None or f"size={size // 1024}k" in super_opts
            checks.check(f"emptyDir {path}", fstype == "tmpfs" and "rw" in opts and size_ok,
                         f"{fstype} {','.join(super_opts)}")
        limit = subprocess.run(["docker", "inspect", "-f", "{{.HostConfig.Memory}}", cid], check=True,
                               capture_output=True, text=True).stdout.strip()
        if spec["memory"]:
            checks.check("memory limit", int(limit) == quantity_bytes(spec["memory"]),
                         f"{limit} bytes ({spec['memory']})")

        if clip:
            public = base[spec["ports"]["http"]]
            out = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code} %{time_total}", "--max-time", "120",
                                  "-F", f"file=@{clip}", f"{public}/run"], capture_output=True, text=True)
            body, _, tail = out.stdout.rpartition("\n")
            code, seconds = (tail.split() + ["", ""])[:2]
            bpm = None
            try:
                bpm = json.loads(body).get("heart_rate_bpm")
            except ValueError:
                pass
            checks.check("POST /run", code == "200" and bpm is not None and abs(bpm - expect_bpm) <= tolerance,
                         f"{code} in {seconds} s, heart rate {bpm} bpm (clip's truth {expect_bpm} +/- {tolerance})")
            for path in spec["tmpfs"]:
                left = os.listdir(f"/proc/{pid}/root{path}")
                checks.check(f"nothing left in {path}", not left, f"{len(left)} entries")
            for path in ("/metrics", "/version"):
                status, _ = http_get(public + path, 5)
                checks.check(f"public {path}", status == 404, f"{status} (operations stay off the public port)")
            if "admin" in spec["ports"]:
                status, text = http_get(base[spec["ports"]["admin"]] + "/metrics", 5)
                checks.check("admin /metrics", status == 200 and b"oxicam_" in text, f"{status}")

        time.sleep(spec["pre_stop_sleep_s"])
        start = time.monotonic()
        subprocess.run(["docker", "stop", "-t", str(spec["grace_s"]), cid], check=True, capture_output=True)
        stopped_s = time.monotonic() - start
        code = subprocess.run(["docker", "inspect", "-f", "{{.State.ExitCode}}", cid], check=True,
                              capture_output=True, text=True).stdout.strip()
        checks.check("graceful stop", code == "0" and stopped_s < spec["grace_s"],
                     f"exit {code} {stopped_s:.1f} s after SIGTERM (preStop sleep {spec['pre_stop_sleep_s']} s, "
                     f"grace {spec['grace_s']} s)")
        if checks.failed:
            logs = subprocess.run(["docker", "logs", "--tail", "30", cid], capture_output=True, text=True)
            sys.stderr.write(logs.stdout + logs.stderr)
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", cid], capture_output=True)
    return name


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rendered")
    ap.add_argument("--deployment", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--name", default=f"oxicam-pod-{os.getpid()}")
    ap.add_argument("--clip")
    ap.add_argument("--expect-bpm", type=float, default=64.9)
    ap.add_argument("--tolerance-bpm", type=float, default=3.0)
    ap.add_argument("--print-args", action="store_true", help="print the docker run arguments and stop")
    a = ap.parse_args()
    with open(a.rendered) as f:
        docs = list(yaml.safe_load_all(f))
    try:
        spec = translate(docs, a.deployment, a.image, a.name)
    except Refused as e:
        sys.exit(f"refused: {e}")
    if a.print_args:
        print(" ".join(spec["args"]))
        return
    print("docker run " + " ".join(spec["args"]), flush=True)
    checks = Checks()
    run_checks(spec, a.clip, a.expect_bpm, a.tolerance_bpm, checks)
    if checks.failed:
        sys.exit(f"pod checks failed: {', '.join(checks.failed)}")
    print(f"all pod checks passed ({a.deployment}, {a.image})")


if __name__ == "__main__":
    main()
