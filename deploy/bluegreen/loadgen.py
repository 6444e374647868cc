#!/usr/bin/env python3
"""Bounded load generator for the blue/green tests, with its own verdicts: loopback only, stdlib only.

Traffic through the balancer: `--concurrency` workers send GET /readyz and, every
`--run-every`th request, a whole POST /run of the clip; `--streamers` workers each send one
POST /run after the other whose body is streamed chunked over `--stream-seconds` (uploads in
flight across a switch). Each upload comes from a client address of its own (the next of
`--clients` loopback addresses, 127.0.1.1 on), as uploads from many phones do: the service's
per-client rate limit stays on and sees clients that each stay within it.

With `--admin-url` (the balancer's loopback-only operations entry, which follows the same
live-colour switch), a prober asks `/version` every `--version-every` seconds: which build
answered, per colour, for `--expect-builds`.

Every response is attributed to the colour that served it through the balancer's
X-Oxicam-Server header. Every failure counts: a connection error, a status other than 200, a
/run answer without a heart rate, a response without a colour, a request over its timeout.

Verdicts, each failure named on stderr and the exit status 1: no request failed; the load ran
until --stop-file (not out of time or budget); and the --expect-* options, checked against the
events the release procedure and the CI stage recorded (--events: key=value lines, epoch ms)
and against the balancer's own counters before and after (--counters-cmd: `NAME VALUE` lines).
`loadgen.py report SUMMARY.json...` prints the summaries as one table.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import os
import shlex
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

COLOR_HEADER = "X-Oxicam-Server"


def loopback_only(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        sys.exit(f"loadgen: only http://HOST:PORT URLs are supported, got {url!r}")
    for info in socket.getaddrinfo(parts.hostname, parts.port or 80):
        if not ipaddress.ip_address(info[4][0]).is_loopback:
            sys.exit(f"loadgen: refusing non-loopback target {parts.hostname} ({info[4][0]})")
    return parts.hostname, parts.port or 80


def multipart(clip: bytes, filename: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
        "Content-Type: video/mp4\r\n\r\n"
    ).encode() + clip + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@dataclass
class Request:
    kind: str  # readyz | run (whole body) | stream (chunked over --stream-seconds) | version
    start: float  # epoch seconds, just before the request line is sent
    end: float = 0.0  # epoch seconds, once the answer was read or the request failed
    served_by: str | None = None
    error: str | None = None
    build: str | None = None  # the git sha /version reported

    def spans(self, t: float) -> bool:
        return self.start < t < self.end


class Load:
    """The requests sent so far and the shared stop conditions."""

    def __init__(self, args, target: tuple[str, int]) -> None:
        self.args = args
        self.target = target
        self.lock = threading.Lock()
        self.requests: list[Request] = []
        self.budget = args.max_requests
        self.stopped_by: str | None = None
        self.started = time.monotonic()
        self.deadline = self.started + args.duration
        self.uploads = 0

    def next_client(self) -> str:
        """The source address of the next upload: 127.0.1.1, 127.0.1.2, ... round the pool."""
        with self.lock:
            k = self.uploads % self.args.clients
            self.uploads += 1
        return str(ipaddress.ip_address("127.0.1.1") + k)

    def next_allowed(self) -> bool:
        with self.lock:
            if self.stopped_by:
                return False
            if self.args.stop_file and os.path.exists(self.args.stop_file):
                self.stopped_by = "stop-file"
            elif time.monotonic() >= self.deadline:
                self.stopped_by = "duration"
            elif self.budget <= 0:
                self.stopped_by = "request budget"
            else:
                self.budget -= 1
                return True
            return False

    def add(self, request: Request) -> None:
        with self.lock:
            self.requests.append(request)


def send(target: tuple[str, int], conn, request: Request, method, path, body, headers,
         timeout: float, source: str | None = None):
    """Sends one request on conn (None: a new connection, from the address source if given);
    returns the connection to reuse. A generator body goes out chunked, each chunk as the
    generator yields it."""
    t0 = time.monotonic()
    try:
        if conn is None:
            conn = http.client.HTTPConnection(*target, timeout=timeout,
                                              source_address=(source, 0) if source else None)
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        request.served_by = response.getheader(COLOR_HEADER) or None
        if response.status != 200:
            request.error = f"HTTP {response.status} {data[:200]!r}"
        elif request.served_by is None:
            request.error = f"no {COLOR_HEADER} header: the balancer did not name the colour"
        elif method == "POST" and json.loads(data).get("heart_rate_bpm") is None:
            request.error = f"no heart rate in {data[:200]!r}"
        elif path == "/version":
            request.build = json.loads(data).get("git_sha") or None
            if request.build is None:
                request.error = f"no git_sha in {data[:200]!r}"
        if response.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        request.error = f"{type(exc).__name__}: {exc}"
        if conn is not None:
            conn.close()
        conn = None
    request.end = time.time()
    took = time.monotonic() - t0
    if request.error is None and took > timeout:
        request.error = f"answered after {took:.1f} s, over the {timeout:g} s timeout"
    return conn


def worker(load: Load, body: bytes | None, ctype: str | None, index: int) -> None:
    args = load.args
    conn = None
    n = index
    interval = args.concurrency / args.rate
    next_at = time.monotonic()
    while load.next_allowed():
        # Open-loop pacing: each worker sends at most rate/concurrency requests per second.
        next_at = max(next_at + interval, time.monotonic() - interval)
        time.sleep(max(0.0, next_at - time.monotonic()))
        n += args.concurrency
        if body is not None and args.run_every > 0 and n % args.run_every == 0:
            request = Request("run", time.time())
            upload = send(load.target, None, request, "POST", "/run", body, {"Content-Type": ctype},
                          args.timeout, load.next_client())
            if upload is not None:
                upload.close()
        else:
            request = Request("readyz", time.time())
            conn = send(load.target, conn, request, "GET", "/readyz", None, {}, args.timeout)
        load.add(request)


def streamer(load: Load, body: bytes, ctype: str, index: int) -> None:
    """Uploads the clip again and again, each time spread evenly over --stream-seconds.
    Streamer i's first upload takes (i + 1) / streamers of that, so that from the start every
    streamer has an upload in flight and their ends are spread evenly over the period."""
    args = load.args
    chunks = max(1, args.stream_chunks)
    size = -(-len(body) // chunks)
    seconds = args.stream_seconds * (index + 1) / args.streamers

    def paced(pause: float):
        for offset in range(0, len(body), size):
            yield body[offset : offset + size]
            time.sleep(pause)

    while load.next_allowed():
        request = Request("stream", time.time())
        conn = send(load.target, None, request, "POST", "/run", paced(seconds / chunks),
                    {"Content-Type": ctype}, args.timeout + args.stream_seconds, load.next_client())
        if conn is not None:
            conn.close()
        load.add(request)
        seconds = args.stream_seconds


def version_prober(load: Load, target: tuple[str, int]) -> None:
    """Asks /version through the balancer's operations entry every --version-every seconds."""
    conn = None
    while load.next_allowed():
        request = Request("version", time.time())
        conn = send(target, conn, request, "GET", "/version", None, {}, load.args.timeout)
        load.add(request)
        time.sleep(load.args.version_every)


def counters(cmd: str | None) -> dict[str, int]:
    if not cmd:
        return {}
    out = subprocess.run(shlex.split(cmd), check=True, capture_output=True, text=True).stdout
    values = {}
    for line in out.splitlines():
        name, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            values[name] = int(value)
    return values


def read_events(path: str | None) -> dict[str, float]:
    """key=value lines; keys ending in _at_ms become epoch seconds; the last value wins."""
    events = {}
    if path and os.path.exists(path):
        for line in open(path, encoding="utf-8"):
            key, _, value = line.strip().partition("=")
            if key.endswith("_at_ms") and value.isdigit():
                events[key[: -len("_ms")]] = int(value) / 1000
    return events


class Verdict:
    def __init__(self, phase: str) -> None:
        self.phase = phase
        self.failures: list[str] = []
        self.facts: dict = {}

    def check(self, ok: bool, message: str) -> bool:
        if not ok:
            self.failures.append(message)
        return ok

    def need(self, events: dict, *keys: str) -> bool:
        missing = [k for k in keys if k not in events]
        return self.check(not missing, f"events file lacks {', '.join(k + '_ms' for k in missing)}")


def colors_of(requests: list[Request]) -> dict[str, int]:
    seen: dict[str, int] = {}
    for r in requests:
        seen[str(r.served_by)] = seen.get(str(r.served_by), 0) + 1
    return seen


def judge(args, load: Load, events: dict, before: dict, after: dict) -> Verdict:
    v = Verdict(args.phase)
    reqs = sorted(load.requests, key=lambda r: r.start)
    failed = [r for r in reqs if r.error]
    delta = {k: after[k] - before.get(k, 0) for k in after}
    v.facts.update(
        phase=args.phase,
        entry=args.entry,
        requests=len(reqs),
        failed=len(failed),
        by_kind={k: sum(1 for r in reqs if r.kind == k) for k in ("readyz", "run", "stream", "version")},
        colors=colors_of(reqs),
        builds={c: sorted({r.build for r in reqs if r.build and str(r.served_by) == c})
                for c in colors_of([r for r in reqs if r.build])},
        # Longest wait for an answer: whole requests; streamed uploads take --stream-seconds
        # to send on purpose.
        worst_s=round(max((r.end - r.start for r in reqs if r.kind != "stream"), default=0.0), 2),
        worst_stream_s=round(max((r.end - r.start for r in reqs if r.kind == "stream"), default=0.0), 2),
        counters=delta,
        # The entry's own counters: retries, and requests redispatched to another server.
        retries=delta.get(f"{args.entry}.retries") if after else None,
        redispatches=delta.get(f"{args.entry}.redispatches") if after else None,
        stopped_by=load.stopped_by,
        elapsed_s=round(time.monotonic() - load.started, 1),
    )
    v.check(bool(reqs), "no request was sent")
    if args.expect_failures:
        # A negative control: the fault must be visible here, or "0 failed" elsewhere proves
        # nothing about what hid it.
        v.check(bool(failed), "no request failed, but this load was expected to see the fault")
    else:
        v.check(not failed, f"{len(failed)} of {len(reqs)} requests failed: " + "; ".join(
            f"t={r.start - reqs[0].start:.2f}s {r.kind} via {r.served_by}: {r.error}"
            for r in failed[:8]))
    if args.stop_file:
        v.check(load.stopped_by == "stop-file",
                f"the load stopped by {load.stopped_by} before the phase ended: it did not cover it")

    for spec in args.expect_counter:
        name, _, value = spec.partition("=")
        v.check(name in after, f"the balancer reports no counter {name!r} (has: {', '.join(sorted(after))})")
        if name in after:
            v.check(delta[name] == int(value),
                    f"balancer counter {name} changed by {delta[name]} during the phase, expected {value}")

    if args.expect_builds:
        want = dict(item.partition("=")[::2] for item in args.expect_builds.split(","))
        v.check(len(set(want.values())) == len(want),
                f"--expect-builds names the same build twice: {want}: not different releases")
        probes = [r for r in reqs if r.kind == "version" and not r.error]
        v.check(bool(probes), "no /version answer through the operations entry")
        wrong = [r for r in probes if r.build != want.get(str(r.served_by))]
        v.check(not wrong, f"{len(wrong)} /version answers from an unexpected build: " + "; ".join(
            f"{r.served_by} reported {r.build}, expected {want.get(str(r.served_by))}"
            for r in wrong[:4]))

    if args.expect_only:
        others = {c: n for c, n in colors_of(reqs).items() if c != args.expect_only}
        v.check(not others, f"traffic reached {others}, expected only {args.expect_only}")

    if args.expect_switch:
        old, _, new = args.expect_switch.partition(":")
        if v.need(events, "switch_begin_at", "switch_end_at"):
            begin, end = events["switch_begin_at"], events["switch_end_at"]
            v.facts["moved_ms"] = round((end - begin) * 1000)
            before_sw = [r for r in reqs if r.start < begin]
            after_sw = [r for r in reqs if r.start > end]
            v.check(bool(before_sw) and bool(after_sw), "no requests on both sides of the switch")
            wrong = colors_of([r for r in before_sw if r.served_by != old])
            v.check(not wrong, f"before the switch, requests were served by {wrong}, expected {old}")
            wrong = colors_of([r for r in after_sw if r.served_by != new])
            v.check(not wrong, f"after the switch, requests were served by {wrong}, expected {new}")
            spanning = [r for r in reqs if r.kind == "stream" and r.start < begin and r.end > end]
            v.facts["spanning"] = len(spanning)
            v.check(len(spanning) >= args.expect_spanning,
                    f"{len(spanning)} streamed uploads started before the switch and finished after "
                    f"it, expected at least {args.expect_spanning}")
            v.check(all(r.served_by == old for r in spanning),
                    f"uploads spanning the switch were served by {colors_of(spanning)}, expected {old}")
            if args.expect_builds:
                # The switch moved clients from one release to the other, as /version says.
                for side, color, probes in (("before", old, before_sw), ("after", new, after_sw)):
                    seen = {r.build for r in probes if r.kind == "version" and r.build}
                    v.check(bool(seen), f"no /version answer {side} the switch")
                    v.facts[f"build_{side}"] = ",".join(sorted(seen))

    if args.expect_drained:
        color = args.expect_drained
        if v.need(events, "drain_begin_at", "drained_at", "retired_at"):
            begin, drained, retired = events["drain_begin_at"], events["drained_at"], events["retired_at"]
            served = [r for r in reqs if r.served_by == color]
            in_flight = [r for r in served if r.spans(begin)]
            v.facts["drained"] = len(in_flight)
            v.facts["drain_ms"] = round((drained - begin) * 1000)
            v.check(bool(in_flight), f"nothing was in flight on {color} when its drain began: "
                    "it was not drained under load")
            late = [r for r in served if r.start > begin]
            v.check(not late, f"{len(late)} requests started after the drain of {color} began "
                    "were served by it")
            last = max((r.end for r in served), default=0.0)
            v.check(last <= retired, f"{color} answered {last - retired:.3f} s after it was stopped")
            v.facts["last_answer_before_stop_ms"] = round((retired - last) * 1000)

    if args.expect_failover:
        victim, _, survivor = args.expect_failover.partition(":")
        if v.need(events, "fault_at", "out_at"):
            fault, out = events["fault_at"], events["out_at"]
            recover = events.get("recover_at", float("inf"))
            v.facts["moved_ms"] = round((out - fault) * 1000)
            at_fault = [r for r in reqs if r.spans(fault)]
            v.facts["in_flight_at_fault"] = len(at_fault)
            v.facts["worst_in_flight_s"] = round(
                max((r.end - r.start for r in at_fault if r.kind != "stream"), default=0.0), 2)
            v.check(bool(at_fault), "no request was in flight when the fault hit")
            # Sent and answered while the victim was out. (The failover entry buffers an upload
            # before it picks a server, so one that ends after recover_at may go either way.)
            while_out = [r for r in reqs if out < r.start and r.end < recover]
            wrong = colors_of([r for r in while_out if r.served_by != survivor])
            v.check(not wrong, f"while {victim} was out, requests were served by {wrong}, expected {survivor}")
            v.check(any(r.served_by == survivor for r in while_out), f"{survivor} answered nothing")
            if "back_at" in events:
                back = [r for r in reqs if r.start > events["back_at"]]
                v.facts["back_ms"] = round((events["back_at"] - recover) * 1000)
                v.check(any(r.served_by == victim for r in back),
                        f"{victim} got no traffic back after it recovered")
    return v


def summary_line(f: dict) -> str:
    parts = [f"{f['requests']} requests ({f['by_kind']['readyz']} readyz, {f['by_kind']['run']} "
             f"uploads, {f['by_kind']['stream']} streamed uploads), {f['failed']} failed, "
             f"slowest answer {f['worst_s']} s (streamed upload {f['worst_stream_s']} s)"]
    if "spanning" in f:
        parts.append(f"{f['spanning']} streamed uploads spanning the switch")
    if "drained" in f:
        parts.append(f"{f['drained']} requests drained in {f['drain_ms']} ms")
    if "in_flight_at_fault" in f:
        parts.append(f"{f['in_flight_at_fault']} in flight at the fault (slowest {f['worst_in_flight_s']} s)")
    if f.get("retries") is not None:
        parts.append(f"{f['entry']} entry: {f['retries']} retries, {f['redispatches']} redispatches")
    if f.get("builds"):
        parts.append(f"/version builds by colour {f['builds']}")
    if "moved_ms" in f:
        parts.append(f"traffic moved in {f['moved_ms']} ms")
    parts.append(f"served by {f['colors']}")
    return "; ".join(parts)


def report(paths: list[str]) -> int:
    rows = [("phase", "entry", "requests", "uploads", "failed", "spanning", "at fault", "drained",
             "retries", "redispatches", "moved ms", "worst s", "phase s")]
    for path in paths:
        with open(path, encoding="utf-8") as f:
            s = json.load(f)
        rows.append((s["phase"], s["entry"], s["requests"],
                     s["by_kind"]["run"] + s["by_kind"]["stream"], s["failed"],
                     s.get("spanning", "-"), s.get("in_flight_at_fault", "-"), s.get("drained", "-"),
                     s.get("retries", "-"),
                     s.get("redispatches", "-"), s.get("moved_ms", "-"), s["worst_s"],
                     s["elapsed_s"]))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    print("*-control: the same fault seen through the no-retry entry, which must fail requests; "
          "uploads: whole + streamed POST /run; spanning: streamed uploads sent before the switch "
          "began and answered after it ended; at fault: requests in flight when the fault hit; "
          "drained: requests in flight on the old colour when its drain began; retries, "
          "redispatches: the entry's HAProxy counters over the phase; moved: switch start to map "
          "updated, or fault to the colour taken out; worst: slowest answer (not streamed)")
    return 0


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "report":
        return report(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="http://127.0.0.1:PORT (loopback only)")
    parser.add_argument("--phase", default="load", help="name printed with the verdict")
    parser.add_argument("--entry", default="lb", help="the entry point's name in the counters")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds, upper bound")
    parser.add_argument("--max-requests", type=int, default=20000, help="request budget")
    parser.add_argument("--concurrency", type=int, default=4, help="GET/whole-upload workers")
    parser.add_argument("--rate", type=float, default=100.0, help="their requests per second, at most")
    parser.add_argument("--clip", help="video to POST to /run (omit: no uploads)")
    parser.add_argument("--run-every", type=int, default=40, help="every Nth worker request is /run")
    parser.add_argument("--clients", type=int, default=250,
                        help="loopback source addresses the uploads rotate over (127.0.1.1 on)")
    parser.add_argument("--streamers", type=int, default=0, help="workers streaming uploads")
    parser.add_argument("--stream-seconds", type=float, default=6.0, help="length of one streamed upload")
    parser.add_argument("--stream-chunks", type=int, default=40, help="chunks per streamed upload")
    parser.add_argument("--timeout", type=float, default=20.0,
                        help="per request, seconds (streamed uploads: plus --stream-seconds)")
    parser.add_argument("--admin-url", help="the balancer's operations entry (loopback) for /version")
    parser.add_argument("--version-every", type=float, default=0.25,
                        help="seconds between two /version probes through --admin-url")
    parser.add_argument("--expect-builds", metavar="COLOR=SHA,...",
                        help="with --admin-url: each colour's /version reports its build, the "
                        "builds differ, and with --expect-switch both sides of it were seen")
    parser.add_argument("--stop-file", help="stop once this file exists (requests in flight finish)")
    parser.add_argument("--ready-file", help="touched once the workers are running")
    parser.add_argument("--json-out", help="also write the summary here")
    parser.add_argument("--events", help="key=value file of epoch-ms events, read at the end")
    parser.add_argument("--counters-cmd", help="prints the balancer's counters as `NAME VALUE` lines")
    parser.add_argument("--expect-counter", action="append", default=[], metavar="NAME=N",
                        help="the counter changed by exactly N during the load")
    parser.add_argument("--expect-failures", action="store_true",
                        help="negative control: some request must fail (instead of none)")
    parser.add_argument("--expect-only", metavar="COLOR", help="every request served by COLOR")
    parser.add_argument("--expect-switch", metavar="OLD:NEW",
                        help="requests sent before switch_begin_at served by OLD, after switch_end_at by NEW")
    parser.add_argument("--expect-spanning", type=int, default=0, metavar="N",
                        help="with --expect-switch: at least N streamed uploads span the switch")
    parser.add_argument("--expect-drained", metavar="COLOR",
                        help="requests in flight on COLOR at drain_begin_at finished before "
                        "retired_at, none started after drain_begin_at went to it")
    parser.add_argument("--expect-failover", metavar="VICTIM:SURVIVOR",
                        help="from out_at (until recover_at) SURVIVOR serves everything; requests "
                        "in flight at fault_at are answered; after back_at VICTIM serves again")
    args = parser.parse_args()

    target = loopback_only(args.url)
    admin = loopback_only(args.admin_url) if args.admin_url else None
    if args.expect_builds and not admin:
        sys.exit("loadgen: --expect-builds needs --admin-url")
    if args.rate <= 0 or args.concurrency <= 0:
        sys.exit("loadgen: --rate and --concurrency must be positive")
    if not 0 < args.clients <= 60000:
        sys.exit("loadgen: --clients must be between 1 and 60000")
    if args.streamers and not args.clip:
        sys.exit("loadgen: --streamers needs --clip")
    body = ctype = None
    if args.clip:
        with open(args.clip, "rb") as f:
            body, ctype = multipart(f.read(), os.path.basename(args.clip))

    before = counters(args.counters_cmd)
    load = Load(args, target)
    threads = [threading.Thread(target=worker, args=(load, body, ctype, i), daemon=True)
               for i in range(args.concurrency)]
    threads += [threading.Thread(target=streamer, args=(load, body, ctype, i), daemon=True)
                for i in range(args.streamers)]
    if admin:
        threads.append(threading.Thread(target=version_prober, args=(load, admin), daemon=True))
    for thread in threads:
        thread.start()
    if args.ready_file:
        open(args.ready_file, "w").close()
    for thread in threads:
        thread.join(args.duration + args.timeout + args.stream_seconds * 2 + 5)
    if any(thread.is_alive() for thread in threads):
        load.stopped_by = "hung workers"
    after = counters(args.counters_cmd)

    verdict = judge(args, load, read_events(args.events), before, after)
    facts = dict(verdict.facts, verdict="PASS" if not verdict.failures else "FAIL",
                 failures=verdict.failures)
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump(dict(facts, requests_log=[asdict(r) for r in load.requests]), f)
            f.write("\n")
    print(f"[loadgen] {args.phase}: {facts['verdict']}: {summary_line(facts)}", file=sys.stderr)
    for failure in verdict.failures:
        print(f"[loadgen] {args.phase}: FAILED: {failure}", file=sys.stderr)
    return 1 if verdict.failures else 0


if __name__ == "__main__":
    sys.exit(main())
