#!/usr/bin/env python3
"""Bounded load generator for the blue/green tests: loopback targets only, stdlib only.

Workers on keep-alive connections send a mix of `GET /readyz`, `GET /version` (which also
records the colour that answered) and real `POST /run` uploads of a clip, until the duration
or the request budget runs out (or --stop-file appears). Every failure counts: a connection
error, a timeout, an unexpected status, or a /run answer without a heart rate. Prints a JSON
summary on stdout; --json-out also writes it to a file.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from urllib.parse import urlsplit


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


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent = Counter()
        self.failed = Counter()
        self.colors = Counter()
        self.first_seen: dict[str, float] = {}
        self.last_seen: dict[str, float] = {}
        self.errors: list[str] = []
        self.run_latency: list[float] = []

    def record(self, kind: str, error: str | None, t: float) -> None:
        with self.lock:
            self.sent[kind] += 1
            if error:
                self.failed[kind] += 1
                if len(self.errors) < 20:
                    self.errors.append(f"t={t:.2f}s {kind}: {error}")

    def color(self, color: str, t: float) -> None:
        with self.lock:
            self.colors[color] += 1
            self.first_seen.setdefault(color, t)
            self.last_seen[color] = t


def worker(args, host, port, body, ctype, stats: Stats, budget, start, stop_at, index):
    conn = None
    n = index
    interval = args.concurrency / args.rate
    next_at = time.monotonic()
    while True:
        if args.stop_file and os.path.exists(args.stop_file):
            budget["stopped_by"] = "stop-file"
            return
        if time.monotonic() >= stop_at:
            budget["stopped_by"] = "duration"
            return
        with budget["lock"]:
            if budget["left"] <= 0:
                budget["stopped_by"] = "request budget"
                return
            budget["left"] -= 1
        # Open-loop pacing: each worker sends at most rate/concurrency requests per second.
        next_at = max(next_at + interval, time.monotonic() - interval)
        time.sleep(max(0.0, next_at - time.monotonic()))
        n += args.concurrency
        if body is not None and n % args.run_every == 0:
            kind, method, path, payload, headers = "run", "POST", "/run", body, {"Content-Type": ctype}
        elif n % args.version_every == 0:
            kind, method, path, payload, headers = "version", "GET", "/version", None, {}
        else:
            kind, method, path, payload, headers = "readyz", "GET", "/readyz", None, {}
        t = time.monotonic() - start
        error = None
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=args.timeout)
            t0 = time.monotonic()
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            data = response.read()
            if response.status != 200:
                error = f"HTTP {response.status} {data[:200]!r}"
            elif kind == "version":
                stats.color(str(json.loads(data).get("color")), t)
            elif kind == "run":
                stats.run_latency.append(time.monotonic() - t0)
                if json.loads(data).get("heart_rate_bpm") is None:
                    error = f"no heart rate in {data[:200]!r}"
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            if conn is not None:
                conn.close()
            conn = None
        stats.record(kind, error, t)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="http://127.0.0.1:PORT (loopback only)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds, upper bound")
    parser.add_argument("--max-requests", type=int, default=5000, help="request budget")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--clip", help="video to POST to /run (omit: no /run requests)")
    parser.add_argument("--run-every", type=int, default=25, help="every Nth request is /run")
    parser.add_argument("--version-every", type=int, default=5, help="every Nth is /version")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second, at most")
    parser.add_argument("--timeout", type=float, default=60.0, help="per request, seconds")
    parser.add_argument("--stop-file", help="stop early once this file exists")
    parser.add_argument("--ready-file", help="touched once the workers are running")
    parser.add_argument("--json-out", help="also write the summary here")
    args = parser.parse_args()

    host, port = loopback_only(args.url)
    body = ctype = None
    if args.clip:
        with open(args.clip, "rb") as f:
            body, ctype = multipart(f.read(), os.path.basename(args.clip))
    stats = Stats()
    if args.rate <= 0 or args.concurrency <= 0:
        sys.exit("loadgen: --rate and --concurrency must be positive")
    budget = {"lock": threading.Lock(), "left": args.max_requests, "stopped_by": None}
    start = time.monotonic()
    stop_at = start + args.duration
    threads = [
        threading.Thread(
            target=worker,
            args=(args, host, port, body, ctype, stats, budget, start, stop_at, i),
            daemon=True,
        )
        for i in range(args.concurrency)
    ]
    for thread in threads:
        thread.start()
    if args.ready_file:
        open(args.ready_file, "w").close()
    for thread in threads:
        thread.join(args.duration + args.timeout + 5)

    elapsed = time.monotonic() - start
    latencies = sorted(stats.run_latency)
    summary = {
        "url": args.url,
        "elapsed_s": round(elapsed, 2),
        "stopped_by": budget["stopped_by"],
        "sent": sum(stats.sent.values()),
        "failed": sum(stats.failed.values()),
        "sent_by_kind": dict(stats.sent),
        "failed_by_kind": dict(stats.failed),
        "colors_seen": dict(stats.colors),
        "first_seen_s": {c: round(t, 3) for c, t in stats.first_seen.items()},
        "last_seen_s": {c: round(t, 3) for c, t in stats.last_seen.items()},
        "run_p50_s": round(latencies[len(latencies) // 2], 3) if latencies else None,
        "errors": stats.errors,
    }
    text = json.dumps(summary)
    print(text)
    if args.json_out:
        with open(args.json_out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
