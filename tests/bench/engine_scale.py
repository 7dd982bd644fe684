#!/usr/bin/env python3
"""engine_scale - regflowd with a million accounts and a million pending
one-day timers (issue 3): what they cost in RSS and disk, how long the
engine takes to start on them, and job latency at that size.

Fills a database with build/bench-fill (REGFLOW_SCALE_N, default
1,000,000), starts bin/regflowd on it (no gateway: messages stay in the
spool), runs jobs that touch the indexes (new registrations, which look up
the e-mail index, and activations with unknown tokens) and prints numbers.
Loopback only, bounded in count; asserts nothing.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
N = int(os.environ.get("REGFLOW_SCALE_N", "1000000"))
JOBS = int(os.environ.get("REGFLOW_SCALE_JOBS", "2000"))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def token():
    with open(os.path.join(ROOT, "conf", "tokens")) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2 and not line.startswith("#"):
                return parts[1]


def pct(v, p):
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def main():
    tmp = tempfile.mkdtemp(prefix="regflow-scale-")
    db = os.path.join(tmp, "db.tct")
    t0 = time.monotonic()
    out = subprocess.run([os.path.join(ROOT, "build", "bench-fill"), db, str(N)],
                         capture_output=True, text=True, check=True)
    print("fill: %s" % out.stdout.strip())
    print("database: %.0f MiB on disk for %d accounts + %d timers"
          % (os.path.getsize(db) / 1048576, N, N))
    port = free_port()
    log = open(os.path.join(tmp, "regflowd.log"), "wb")
    t0 = time.monotonic()
    eng = subprocess.Popen([os.path.join(ROOT, "bin", "regflowd"),
                            "-o", "engine.listen=127.0.0.1:%d" % port, "-o", "engine.db=" + db,
                            "-o", "spool.dir=" + os.path.join(tmp, "spool"),
                            "-o", "engine.pid_file=", "-o", "log.level=warning"],
                           cwd=ROOT, stdout=log, stderr=log)
    hdr = {"Authorization": "Bearer " + token(), "Content-Type": "application/json"}
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request("GET", "/v1/health")
            c.getresponse().read()
            break
        except OSError:
            time.sleep(0.05)
            if eng.poll() is not None:
                print("regflowd exited:", open(log.name).read())
                return 1
    print("start: %.2f s to serve on %d accounts + %d timers; RSS %.1f MiB"
          % (time.monotonic() - t0, N, N, rss_kib(eng.pid) / 1024))
    lat = []
    t0 = time.monotonic()
    for i in range(JOBS):
        if i % 2:
            body = {"type": "activate", "args": {"token": "x" * 43}}
        else:
            body = {"type": "send_code", "args": {"phone": "1381%07d" % i, "purpose": "register"}}
        s = time.monotonic()
        c.request("POST", "/v1/jobs?wait=5000", json.dumps(body), hdr)
        r = c.getresponse()
        r.read()
        lat.append((time.monotonic() - s) * 1000)
    el = time.monotonic() - t0
    lat.sort()
    print("jobs at scale (one client, ?wait, durable): %d in %.2f s = %.0f jobs/s; "
          "latency p50 %.2f ms, p99 %.2f ms" % (JOBS, el, JOBS / el, pct(lat, 50), pct(lat, 99)))
    print("RSS after the jobs: %.1f MiB" % (rss_kib(eng.pid) / 1024))
    eng.send_signal(signal.SIGTERM)
    eng.wait()
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
