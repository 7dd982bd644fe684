#!/usr/bin/env python3
"""bench/engine - regflowd's job API under load (prints numbers, asserts nothing).

  python3 tests/bench/engine.py

Starts bin/regflowd (not sanitized; $REGFLOW_BIN overrides) on a temporary
database and spool, with no gateway (jobs only write to the spool), and
drives the job API from client processes, each with one keep-alive
connection (closed loop: a client sends its next job when the reply came):

  register_email   202   distinct addresses (Argon2id at intake)
  activate         202   unknown tokens: the workflow runs, no password hash
  activate         ?wait unknown tokens, the reply waits for the outcome
  register_email   ?wait a few, to show the hash in the latency

For each: jobs/s (from the first request until the engine has finished every
job), the latency of the replies (p50/p90/p99/max), and the fsync groups
(jobs.commits in GET /v1/health).  Then the engine's RSS (VmRSS, VmHWM).

Loopback only; every phase is bounded in count and in time.  Environment:
  BENCH_REGISTER=5000 BENCH_ACTIVATE=5000 BENCH_WAIT=2000 BENCH_REGISTER_WAIT=100
  BENCH_CLIENTS=8 BENCH_SECONDS=110 (the whole run) BENCH_DIR=(temp dir parent)
Each phase stops sending at its share of the time (register 202: about 65 s) and
says so in its row; the numbers then cover what was sent.
"""
import http.client
import json
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.abspath(os.environ.get("REGFLOW_BIN", os.path.join(ROOT, "bin")))
PASSWORD = "correct horse battery"


def env_int(name, default):
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


N_REGISTER = env_int("BENCH_REGISTER", 5000)
N_ACTIVATE = env_int("BENCH_ACTIVATE", 5000)
N_WAIT = env_int("BENCH_WAIT", 2000)
N_REGISTER_WAIT = env_int("BENCH_REGISTER_WAIT", 100)
CLIENTS = max(1, env_int("BENCH_CLIENTS", 8))
TOTAL_SECONDS = max(10, env_int("BENCH_SECONDS", 110))
DRAIN_SECONDS = 15  # at most, waiting for the engine to finish a phase's jobs


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def front_token(front="www"):
    with open(os.path.join(ROOT, "conf", "tokens"), encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and not parts[0].startswith("#") and parts[0] == front:
                return parts[1]
    raise SystemExit("bench: no token for front %r in conf/tokens" % front)


def proc_status(pid):
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM", "Threads"):
                    out[k] = v.strip()
    except OSError:
        pass
    return out


def kib(s):
    try:
        return int(s.split()[0])
    except (AttributeError, IndexError, ValueError):
        return 0


def fs_type(path):
    """The file system holding path (from /proc/self/mountinfo)."""
    best, typ = "", "?"
    path = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                mnt = left.split()[4]
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                    best, typ = mnt, right.split()[0]
    except OSError:
        pass
    return typ


class Client:
    def __init__(self, port, token):
        self.port = port
        self.token = token
        self.conn = None

    def post(self, job, wait=None):
        body = json.dumps(job).encode()
        path = "/v1/jobs" if wait is None else "/v1/jobs?wait=%d" % wait
        hdrs = {"Authorization": "Bearer " + self.token, "Content-Type": "application/json"}
        for attempt in (0, 1):
            reused = self.conn is not None
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request("POST", path, body=body, headers=hdrs)
                r = self.conn.getresponse()
                r.read()
                if r.will_close:
                    self.conn.close()
                    self.conn = None
                return r.status
            except (http.client.HTTPException, OSError):
                # a closed keep-alive connection is retried once on a new one
                self.conn.close()
                self.conn = None
                if attempt or not reused:
                    return 0



def worker(task):
    """One client process: jobs [lo, hi) of a phase on one keep-alive connection."""
    port, token, kind, lo, hi, wait, deadline = task
    c = Client(port, token)
    lat, statuses = [], {}
    for i in range(lo, hi):
        if time.monotonic() > deadline:
            break
        if kind == "register":
            job = {"type": "register_email",
                   "args": {"email": "bench%07d@example.com" % i, "password": PASSWORD}}
        else:
            job = {"type": "activate", "args": {"token": secrets.token_urlsafe(32)}}
        t0 = time.perf_counter()
        st = c.post(job, wait)
        lat.append((time.perf_counter() - t0) * 1000.0)
        statuses[st] = statuses.get(st, 0) + 1
    return lat, statuses


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


class Engine:
    def __init__(self, tmp):
        self.tmp = tmp
        self.port = free_port()
        self.db = os.path.join(tmp, "db", "regflow.tct")
        self.spool = os.path.join(tmp, "spool")
        self.log_path = os.path.join(tmp, "regflowd.log")
        self.conf = os.path.join(tmp, "regflowd.conf")
        with open(self.conf, "w") as f:
            f.write('log = { level = "info"; };\n'
                    'engine = { group_commit = 256; max_body = 1048576; max_connections = 1024; };\n')
        self.proc = None

    def start(self):
        argv = [os.path.join(BIN, "regflowd"), "-c", self.conf,
                "-o", "engine.listen=127.0.0.1:%d" % self.port, "-o", "engine.db=%s" % self.db,
                "-o", "spool.dir=%s" % self.spool,
                "-o", "engine.workflows=%s" % os.path.join(ROOT, "workflows"),
                "-o", "api.tokens_file=%s" % os.path.join(ROOT, "conf", "tokens")]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, cwd=self.tmp, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("bench: regflowd exited with %s:\n%s"
                                 % (self.proc.returncode, self.log_tail()))
            try:
                if self.health():
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit("bench: regflowd did not come up:\n" + self.log_tail())

    def health(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request("GET", "/v1/health")
            r = c.getresponse()
            return json.loads(r.read()) if r.status == 200 else None
        finally:
            c.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc

    def log_tail(self, n=20):
        try:
            with open(self.log_path, errors="replace") as f:
                return "\n".join(f.read().splitlines()[-n:])
        except OSError:
            return ""


def run_phase(eng, token, name, kind, count, wait, pool, deadline):
    """Drive one phase (sending stops at deadline); returns a dict of numbers."""
    if count <= 0 or time.monotonic() >= deadline:
        return None
    h0 = eng.health()
    base = h0["jobs"]["done"] + h0["jobs"]["failed"]
    step = (count + CLIENTS - 1) // CLIENTS
    offset = run_phase.next_index
    run_phase.next_index += count
    tasks = [(eng.port, token, kind, offset + lo, offset + min(count, lo + step), wait, deadline)
             for lo in range(0, count, step)]
    t0 = time.perf_counter()
    results = pool.map(worker, tasks)
    t_replies = time.perf_counter() - t0
    lat = sorted(x for r in results for x in r[0])
    statuses = {}
    for r in results:
        for k, v in r[1].items():
            statuses[k] = statuses.get(k, 0) + v
    sent = len(lat)
    accepted = statuses.get(202, 0) + statuses.get(200, 0)
    # jobs/s: until the engine has finished every job it accepted
    h = eng.health()
    end = time.monotonic() + DRAIN_SECONDS
    while (h["jobs"]["done"] + h["jobs"]["failed"] - base < accepted or h["jobs"]["queued"]
           or h["jobs"]["hashing"]) and time.monotonic() < end:
        time.sleep(0.02)
        h = eng.health()
    t_done = time.perf_counter() - t0
    finished = h["jobs"]["done"] + h["jobs"]["failed"] - base
    commits = h["jobs"]["commits"] - h0["jobs"]["commits"]
    return {"name": name, "sent": sent, "statuses": statuses, "finished": finished,
            "t_replies": t_replies, "t_done": t_done, "commits": commits,
            "p50": pct(lat, 50), "p90": pct(lat, 90), "p99": pct(lat, 99),
            "max": lat[-1] if lat else float("nan"),
            "truncated": sent < count}


run_phase.next_index = 0


def main():
    exe = os.path.join(BIN, "regflowd")
    if not os.access(exe, os.X_OK):
        print("bench engine: %s not built (run make)" % exe)
        return 1
    parent = os.environ.get("BENCH_DIR") or None
    tmp = tempfile.mkdtemp(prefix="regflow-bench-engine-", dir=parent)
    eng = Engine(tmp)
    token = front_token("www")
    print("# bench engine: %s, %d CPU(s), %d client process(es) with one keep-alive "
          "connection each (closed loop), db and spool on %s (%s), no gateway"
          % (exe, os.cpu_count() or 0, CLIENTS, tmp, fs_type(tmp)), flush=True)
    rows = []
    try:
        eng.start()
        st0 = proc_status(eng.proc.pid)
        pool = multiprocessing.get_context("fork").Pool(CLIENTS)
        try:
            t_end = time.monotonic() + TOTAL_SECONDS
            for name, kind, count, wait, share in (
                    ("register_email  202", "register", N_REGISTER, None, 0.7),
                    ("activate        202", "activate", N_ACTIVATE, None, 0.5),
                    ("activate      ?wait", "activate", N_WAIT, 5000, 0.5),
                    ("register_email ?wait", "register", N_REGISTER_WAIT, 10000, 1.0)):
                now = time.monotonic()
                # a phase may use its share of what is left, keeping room to drain
                left = t_end - now - DRAIN_SECONDS
                r = run_phase(eng, token, name, kind, count, wait, pool, now + left * share)
                if r:
                    rows.append(r)
                    print_row(r, header=len(rows) == 1)
        finally:
            pool.close()
            pool.join()
        st1 = proc_status(eng.proc.pid)
        h = eng.health()
        spooled = 0
        for d in ("incoming", "active", "deferred", "sent", "failed", "hold"):
            try:
                spooled += len(os.listdir(os.path.join(eng.spool, d)))
            except OSError:
                pass
        print("# engine RSS: %.1f MiB after start, %.1f MiB after the run (peak %.1f MiB), "
              "%s thread(s)" % (kib(st0.get("VmRSS")) / 1024.0, kib(st1.get("VmRSS")) / 1024.0,
                                kib(st1.get("VmHWM")) / 1024.0, st1.get("Threads", "?")))
        print("# totals: %d jobs done, %d failed, %d fsync groups (jobs.commits), "
              "%d commit failures, %d records, %d messages spooled, db %.1f MiB"
              % (h["jobs"]["done"], h["jobs"]["failed"], h["jobs"]["commits"],
                 h["jobs"].get("commit_failures", 0), h["jobs"].get("records", 0), spooled,
                 os.path.getsize(eng.db) / 1048576.0 if os.path.exists(eng.db) else 0))
        rc = eng.stop()
        print("# regflowd stopped with exit status %s" % rc, flush=True)
    finally:
        eng.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def print_row(r, header=False):
    if header:
        print("%-21s %6s %6s %7s %8s %8s %8s %8s %8s %8s %7s  %s"
              % ("phase", "sent", "done", "secs", "jobs/s", "p50 ms", "p90 ms", "p99 ms",
                 "max ms", "commits", "jobs/c", "replies"))
    jobs_s = r["finished"] / r["t_done"] if r["t_done"] > 0 else 0
    per_commit = r["finished"] / r["commits"] if r["commits"] else 0
    st = " ".join("%s:%d" % (k if k else "err", v) for k, v in sorted(r["statuses"].items()))
    print("%-21s %6d %6d %7.2f %8.0f %8.2f %8.2f %8.2f %8.1f %8d %7.1f  %s%s"
          % (r["name"], r["sent"], r["finished"], r["t_done"], jobs_s, r["p50"], r["p90"],
             r["p99"], r["max"], r["commits"], per_commit, st,
             "  (stopped at the time limit)" if r["truncated"] else ""), flush=True)


if __name__ == "__main__":
    sys.exit(main())
