#!/usr/bin/env python3
"""Overload check: N x capacity clients upload a real clip to POST /run in a loop for a fixed time.

Capacity is the service's analyses in flight plus its queue (OXICAM_CONCURRENCY + OXICAM_QUEUE).
Passes when every answer is 200 or 503 with Retry-After (no other status, no client timeout, no
reset), the service process's peak RSS stays under the limit, and afterwards the service is
ready again, answers a POST /run with 200 and holds no upload in its temp directory. Prints the
answers, the 200 and 503 latencies and the RSS per load factor.

  overload.py --url URL --pid PID --tmp-dir DIR --clip CLIP --capacity N [--factors 2,4] [--seconds 60]
"""
import argparse
import os
import socket
import statistics
import sys
import threading
import time
import urllib.parse

BOUNDARY = "oxicamOverloadBoundary"


def multipart(clip):
    with open(clip, "rb") as f:
        data = f.read()
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"clip.mp4\"\r\n"
            "Content-Type: video/mp4\r\n\r\n").encode()
    return head + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def post(url, body, timeout):
    """One upload on a fresh connection: (status or error name, Retry-After present, seconds).

    Like curl, a client that the server answers early (503 before the body is read) and whose
    send then fails still reads the answer: only when there is none is it an error."""
    u = urllib.parse.urlsplit(url)
    head = (f"POST /run HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    start = time.monotonic()
    try:
        sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
    except OSError as e:
        return type(e).__name__, False, time.monotonic() - start
    answer = b""
    try:
        try:
            sock.sendall(head + body)
        except OSError:
            pass  # answered early and closed: the answer, if any, is in the receive buffer
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    except OSError as e:
        if not answer:
            return type(e).__name__, False, time.monotonic() - start
    finally:
        sock.close()
    status_line, _, rest = answer.partition(b"\r\n")
    parts = status_line.split()
    if len(parts) < 2 or not parts[1].isdigit():
        return "NoAnswer", False, time.monotonic() - start
    headers = rest.split(b"\r\n\r\n", 1)[0].lower()
    return int(parts[1]), b"\r\nretry-after:" in b"\r\n" + headers, time.monotonic() - start


def rss_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def percentile(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def load(url, body, clients, seconds, timeout, pid):
    results, lock, stop = [], threading.Lock(), time.monotonic() + seconds
    peak = [0]

    def client():
        while time.monotonic() < stop:
            r = post(url, body, timeout)
            with lock:
                results.append(r)
            if r[0] == 503:
                time.sleep(0.05)  # a polite client backs off a little; Retry-After is for people

    def sample():
        while time.monotonic() < stop + 2:
            peak[0] = max(peak[0], rss_kb(pid, "VmRSS"))
            time.sleep(0.2)

    threads = [threading.Thread(target=client) for _ in range(clients)] + [threading.Thread(target=sample)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, peak[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--pid", type=int, required=True, help="the service's process id (for its RSS)")
    ap.add_argument("--tmp-dir", required=True, help="the service's upload directory, as this host sees it")
    ap.add_argument("--clip", required=True)
    ap.add_argument("--capacity", type=int, required=True)
    ap.add_argument("--factors", default="2,4")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--timeout", type=float, default=150, help="client timeout per request (s)")
    ap.add_argument("--rss-limit-mb", type=float, default=700)
    a = ap.parse_args()
    body = multipart(a.clip)
    failed = []
    print(f"clip {len(body) / 1e6:.1f} MB, capacity {a.capacity}, {a.seconds:.0f} s per factor", flush=True)
    for factor in [int(f) for f in a.factors.split(",")]:
        clients = factor * a.capacity
        results, peak_kb = load(a.url, body, clients, a.seconds, a.timeout, a.pid)
        statuses = {}
        for status, _, _ in results:
            statuses[status] = statuses.get(status, 0) + 1
        ok = [s for st, _, s in results if st == 200]
        busy = [s for st, _, s in results if st == 503]
        no_retry = sum(1 for st, ra, _ in results if st == 503 and not ra)
        other = {k: v for k, v in statuses.items() if k not in (200, 503)}
        peak_mb = peak_kb / 1024
        print(f"{factor}x ({clients} clients): {len(results)} answers {dict(sorted(statuses.items(), key=str))}; "
              f"200 p50/p95 {statistics.median(ok) if ok else float('nan'):.2f}/{percentile(ok, 0.95):.2f} s; "
              f"503 p50/p95 {statistics.median(busy) if busy else float('nan'):.3f}/{percentile(busy, 0.95):.3f} s; "
              f"peak RSS {peak_mb:.0f} MB", flush=True)
        if other:
            failed.append(f"{factor}x: answers other than 200/503: {other}")
        if no_retry:
            failed.append(f"{factor}x: {no_retry} 503 without Retry-After")
        if not ok:
            failed.append(f"{factor}x: no request succeeded")
        if peak_mb > a.rss_limit_mb:
            failed.append(f"{factor}x: peak RSS {peak_mb:.0f} MB over {a.rss_limit_mb:.0f} MB")

    recovered = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, _, seconds = post(a.url, body, a.timeout)
        if status == 200:
            recovered = seconds
            break
        time.sleep(0.5)
    left = os.listdir(a.tmp_dir)
    print(f"after: POST /run {'200 in %.2f s' % recovered if recovered else 'never 200 within 30 s'}; "
          f"{len(left)} file(s) in the upload directory; RSS {rss_kb(a.pid, 'VmRSS') / 1024:.0f} MB, "
          f"process peak (VmHWM) {rss_kb(a.pid, 'VmHWM') / 1024:.0f} MB", flush=True)
    if recovered is None:
        failed.append("the service did not recover")
    if left:
        failed.append(f"{len(left)} upload file(s) left behind")
    if failed:
        sys.exit("overload check failed: " + "; ".join(failed))
    print("overload check passed")


if __name__ == "__main__":
    main()
