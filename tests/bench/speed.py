#!/usr/bin/env python3
"""speed - regflow side by side with an anchor measured in the same run (prints, asserts nothing).

  python3 tests/bench/speed.py        (make bench runs it through tests/bench/run.py)

Every figure alternates regflow and its anchor (REGFLOW_SPEED_ROUNDS runs of
each), prints the medians and the ratio regflow/anchor:

 1. durable intake: activate jobs with distinct unknown tokens (POST /v1/jobs, 202
    after the commit and its sync), wrk -t1 -cN --latency with tests/bench/speed_jobs.lua,
    N = 1, 8, 50, 200; anchor redis-server --appendonly yes --appendfsync always
    --save '' with redis-benchmark -t lpush -c N: jobs/s, p50, p99;
 2. paced latency: the same jobs at half the rate of figure 1 at 50 connections,
    open loop (h2load --h1 --rps per client); reference: the closed loop at 50;
 3. register_email (an Argon2id hash at intake), 50 connections; anchor
    build/bench-argon2 (tests/bench/argon2_anchor.c): the same hashes on every core;
 4. mail: N pending accounts (build/bench-fill), N resend_activation jobs through
    regflowd -> spool -> regflow-gw -> smtp-sink -c, timed from the first job until
    N files are in spool/sent/; anchor a private Postfix fed N mails by smtp-source,
    timed until the same smtp-sink has counted N more and the queue is empty;
 5. SMS: N spooled SMS delivered by regflow-gw to Kannel's test_http_server, timed
    from the gateway's start until N in sent/; anchor ab -k -c16 -n N on the same URL;
 7. intake on PostgreSQL: activate jobs at 50 connections with engine.store = "pg" on a
    private cluster; anchor pgbench one-row inserts on the same cluster;
 6. restart after a crash at scale: REGFLOW_SPEED_SCALE accounts and timers
    (bench-fill), regflowd SIGKILLed under load and started again: seconds until
    GET /v1/health answers, until a first job is answered, and RSS (targets < 2 s,
    < 100 MB);
and, from GET /v1/health .store, the store operations per job of the activate
runs (by concurrency) and of the register_email runs, and jobs per commit.

Environment (defaults in brackets):
  REGFLOW_BIN [./bin]                   REGFLOW_SPEED_ROUNDS [2]
  REGFLOW_SPEED_CONNS [1,8,50,200]      REGFLOW_SPEED_SECONDS [3]  one intake run
  REGFLOW_SPEED_PACED_SECONDS [5]       REGFLOW_SPEED_PACED_CLIENTS [50]
  REGFLOW_SPEED_REGISTER_SECONDS [15]   REGFLOW_SPEED_MAILS [10000]
  REGFLOW_SPEED_MAIL_CONNS [50]         REGFLOW_SPEED_SMTP_SESSIONS [8] smtp-source -s
  REGFLOW_SPEED_MAIL_BYTES [1000]       smtp-source -l (a regflow activation mail is ~1 KB)
  REGFLOW_SPEED_SMS [10000]             REGFLOW_SPEED_SCALE [1000000]
  REGFLOW_SPEED_LIMIT [120]             give-up time of one delivery run, seconds
  REGFLOW_SPEED_ONLY [all]              e.g. "1,3": only these figures
A figure whose tool or peer is missing is skipped with the reason.  Servers bind
loopback ports below 32768; every process started here is stopped by its PID and
the temp folder is removed.
"""
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
import harness  # noqa: E402
from harness import Daemon, Spool, port_listening  # noqa: E402

ROOT = harness.ROOT
BIN = harness.BIN
BUILD = os.path.join(ROOT, "build")
LUA = os.path.join(HERE, "speed_jobs.lua")
KANNEL_TEST = "/usr/lib/kannel/test"
PASSWORD = "correct horse battery"


def env_int(name, default):
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


ROUNDS = max(1, env_int("REGFLOW_SPEED_ROUNDS", 2))
CONNS = [int(c) for c in os.environ.get("REGFLOW_SPEED_CONNS", "1,8,50,200").split(",")
         if c.strip().isdigit() and int(c) > 0]
SECONDS = max(1, env_int("REGFLOW_SPEED_SECONDS", 3))
PACED_SECONDS = max(1, env_int("REGFLOW_SPEED_PACED_SECONDS", 5))
PACED_CLIENTS = max(1, env_int("REGFLOW_SPEED_PACED_CLIENTS", 50))
REGISTER_SECONDS = max(1, env_int("REGFLOW_SPEED_REGISTER_SECONDS", 15))
MAILS = max(1, env_int("REGFLOW_SPEED_MAILS", 10000))
MAIL_CONNS = max(1, env_int("REGFLOW_SPEED_MAIL_CONNS", 50))
SMTP_SESSIONS = max(1, env_int("REGFLOW_SPEED_SMTP_SESSIONS", 8))
MAIL_BYTES = max(1, env_int("REGFLOW_SPEED_MAIL_BYTES", 1000))
SMS = max(1, env_int("REGFLOW_SPEED_SMS", 10000))
SCALE = max(1, env_int("REGFLOW_SPEED_SCALE", 1000000))
LIMIT = max(10, env_int("REGFLOW_SPEED_LIMIT", 120))
ONLY = {s.strip() for s in os.environ.get("REGFLOW_SPEED_ONLY", "").split(",") if s.strip()}


class Skip(Exception):
    """A figure cannot run here (a tool or peer is missing)."""


# ---- small helpers ----

def front_token(front="www"):
    with open(os.path.join(ROOT, "conf", "tokens"), encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 2 and parts[0] == front:
                return parts[1]
    raise SystemExit("speed: no token for front %r in conf/tokens" % front)


TOKEN = front_token()
_ports = set()


def low_port():
    """A free loopback port below 32768 (the ephemeral range is left to clients)."""
    for _ in range(500):
        p = random.randrange(20000, 32000)
        if p in _ports or port_listening(p):
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                continue
        _ports.add(p)
        return p
    raise RuntimeError("no free port in 20000-32000")


def need(*names):
    """The paths of these programs (PATH, then /usr/sbin), or Skip."""
    paths = []
    for n in names:
        p = shutil.which(n) or shutil.which(n, path="/usr/sbin")
        if not p:
            raise Skip("%s not installed (sh scripts/deps.sh bench)" % n)
        paths.append(p)
    return paths


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def num(x, spec="%.0f"):
    return "-" if x is None else spec % x


def ratio(a, b):
    return "-" if a is None or not b else "%.2f" % (a / b)


def table(title, head, rows, notes=()):
    """A title line, then aligned columns (the first left, the others right)."""
    print("\n# %s" % title)
    lines = [head] + rows
    w = [max(len(str(r[i])) for r in lines) for i in range(len(head))]
    for r in lines:
        print("  ".join(str(c).ljust(w[i]) if i == 0 else str(c).rjust(w[i])
                        for i, c in enumerate(r)).rstrip())
    for n in notes:
        print("  " + n)
    sys.stdout.flush()


def wait_for(pred, deadline, interval=0.02):
    """Poll pred() until true or the deadline (monotonic); returns its last value."""
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def count_files(d):
    try:
        return sum(1 for n in os.listdir(d) if not n.startswith("."))
    except OSError:
        return 0


def rss_mib(pid):
    try:
        with open("/proc/%d/status" % pid) as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def fs_type(path):
    best, typ = "", "?"
    try:
        with open("/proc/self/mountinfo") as fh:
            for line in fh:
                left, _, right = line.partition(" - ")
                mnt = left.split()[4]
                inside = path == mnt or path.startswith(mnt.rstrip("/") + "/")
                if inside and len(mnt) > len(best):
                    best, typ = mnt, right.split()[0]
    except OSError:
        pass
    return typ


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as fh:
            model = next((l.split(":", 1)[1].strip() for l in fh if l.startswith("model name")),
                         "?")
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as fh:
            mem = int(next(l for l in fh if l.startswith("MemTotal:")).split()[1]) // 1024
    except (OSError, StopIteration):
        pass
    return "%d CPU(s) (%s), %d MiB RAM, load %s" % (
        os.cpu_count() or 0, model, mem, " ".join("%.2f" % x for x in os.getloadavg()))


def stop_proc(p, sig=signal.SIGTERM, grace=5.0):
    """Stop one process we started, by its PID: sig, then SIGKILL after grace."""
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def spawn(ctx, argv, out=None, sig=signal.SIGTERM, grace=5.0):
    """Popen registered for clean-up (stopped by its PID when ctx closes).
    out: None (discard), subprocess.PIPE, or a file name for stdout and stderr."""
    fh = open(out, "wb") if isinstance(out, str) else None
    dest = fh or out or subprocess.DEVNULL
    err = subprocess.DEVNULL if out is None else subprocess.STDOUT
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=dest, stderr=err)
    if fh:
        fh.close()
    ctx.cleanups.append(lambda: stop_proc(p, sig, grace))
    return p


def bench_fill(db, n):
    exe = os.path.join(BUILD, "bench-fill")
    if not os.access(exe, os.X_OK):
        raise Skip("build/bench-fill not built (make build/bench-fill)")
    os.makedirs(os.path.dirname(db), exist_ok=True)
    t0 = time.monotonic()
    subprocess.run([exe, db, str(n)], check=True, capture_output=True, timeout=900)
    return time.monotonic() - t0


# ---- regflowd ----

class Engine:
    """regflowd on its own database, spool and loopback port (started by us, stopped by PID),
    on the run's copy of workflows/ (see main)."""

    def __init__(self, ctx, name, db, spool):
        self.port = low_port()
        self.log_path = os.path.join(ctx.tmp, name + ".log")
        self.spool = spool
        self.argv = [os.path.join(BIN, "regflowd"),
                     "-o", "engine.listen=127.0.0.1:%d" % self.port, "-o", "engine.db=" + db,
                     "-o", "spool.dir=" + spool,
                     "-o", "engine.workflows=" + os.path.join(ctx.tmp, "workflows"),
                     "-o", "api.tokens_file=" + os.path.join(ROOT, "conf", "tokens"),
                     "-o", "engine.pid_file=", "-o", "log.level=info"]
        self.proc = None
        ctx.cleanups.append(self.stop)

    def start(self, timeout=120.0):
        """Start and wait for GET /v1/health; returns the seconds it took."""
        log = open(self.log_path, "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log)
        log.close()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError("regflowd exited with %s:\n%s"
                                   % (self.proc.returncode, self.log_tail()))
            if self.health(timeout=5) is not None:
                return time.monotonic() - t0
            time.sleep(0.002)
        raise RuntimeError("regflowd did not answer /v1/health in %.0fs" % timeout)

    def health(self, timeout=10):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            try:
                c.request("GET", "/v1/health")
                r = c.getresponse()
                body = r.read()
                return json.loads(body) if r.status == 200 else None
            finally:
                c.close()
        except (OSError, ValueError, http.client.HTTPException):
            return None

    def post(self, job, wait_ms=None):
        path = "/v1/jobs" if wait_ms is None else "/v1/jobs?wait=%d" % wait_ms
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            c.request("POST", path, json.dumps(job),
                      {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def finished(self):
        h = self.health() or {"jobs": {}}
        return h["jobs"].get("done", 0) + h["jobs"].get("failed", 0)

    def drain(self, timeout=30.0):
        """Wait until nothing is queued, hashing or being spooled."""
        def idle():
            h = self.health()
            j = h["jobs"] if h else {}
            return h is not None and not (j.get("queued") or j.get("hashing")
                                          or j.get("spooling"))
        wait_for(idle, time.monotonic() + timeout, 0.05)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc is not None:
            stop_proc(self.proc, signal.SIGTERM, 30)
            rc = self.proc.returncode
            self.proc = None
            return rc
        return None

    def log_tail(self, n=20):
        try:
            with open(self.log_path, errors="replace") as fh:
                return "\n".join(fh.read().splitlines()[-n:])
        except OSError:
            return ""

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as fh:
                return fh.read()
        except OSError:
            return ""


# ---- load generators ----

def wrk_argv(port, mode, prefix, conns, seconds, limit=0):
    """wrk on speed_jobs.lua: one thread, conns keep-alive connections, closed loop."""
    return ([need("wrk")[0], "-t1", "-c%d" % conns, "-d%ds" % seconds, "--latency",
             "--timeout", "30s", "-s", LUA, "http://127.0.0.1:%d/v1/jobs" % port,
             "--", mode, prefix, TOKEN] + ([str(limit)] if limit else []))


def wrk_result(out):
    """The SPEED line of speed_jobs.lua's done(): rates and latencies in ms."""
    m = re.search(r"^SPEED (.*)$", out, re.M)
    if not m:
        raise RuntimeError("wrk printed no summary:\n" + out[-2000:])
    v = {k: int(x) for k, x in (kv.split("=") for kv in m.group(1).split())}
    secs = v["duration_us"] / 1e6
    ok = v["requests"] - v["status_errors"]
    return {"ok": ok, "secs": secs, "rate": ok / secs if secs > 0 else None,
            "p50": v["p50_us"] / 1000.0, "p99": v["p99_us"] / 1000.0,
            "errors": v["status_errors"] + v["socket_errors"]}


def wrk(port, mode, prefix, conns, seconds):
    r = subprocess.run(wrk_argv(port, mode, prefix, conns, seconds), capture_output=True,
                       text=True, timeout=seconds + 90)
    return wrk_result(r.stdout + r.stderr)


def wrk_count(ctx, eng, mode, prefix, conns, n, limit_s):
    """wrk sending exactly n jobs: the script stops its thread after n answers and we
    interrupt wrk (it would sleep on until -d) once the engine has finished n jobs,
    or has finished none for 5 s (a job answered with an error never finishes)."""
    base = eng.finished()
    p = spawn(ctx, wrk_argv(eng.port, mode, prefix, conns, limit_s, limit=n),
              out=subprocess.PIPE, sig=signal.SIGKILL)
    last = [base, time.monotonic()]

    def over():
        k = eng.finished()
        if k != last[0]:
            last[0], last[1] = k, time.monotonic()
        return k - base >= n or p.poll() is not None or time.monotonic() - last[1] > 5
    wait_for(over, time.monotonic() + limit_s, 0.01)
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
    out = p.communicate(timeout=30)[0].decode(errors="replace")
    return wrk_result(out)


class Redis:
    """redis-server with an fsync per write (appendfsync always), own dir and port."""

    def __init__(self, ctx):
        server, self.bench_exe = need("redis-server", "redis-benchmark")
        self.dir = os.path.join(ctx.tmp, "redis")
        os.makedirs(self.dir)
        self.port = low_port()
        self.proc = spawn(ctx, [server, "--port", str(self.port), "--bind", "127.0.0.1",
                                "--dir", self.dir, "--appendonly", "yes", "--appendfsync",
                                "always", "--save", "", "--daemonize", "no"],
                          out=os.path.join(self.dir, "redis.log"))
        if not wait_for(lambda: port_listening(self.port), time.monotonic() + 10):
            raise Skip("redis-server did not start")
        self.counts = {}

    def run(self, conns, n):
        r = subprocess.run([self.bench_exe, "-h", "127.0.0.1", "-p", str(self.port), "-t", "lpush",
                            "-c", str(conns), "-n", str(n), "-q", "--csv"],
                           capture_output=True, text=True, timeout=LIMIT)
        for line in r.stdout.splitlines():
            cols = [c.strip('"') for c in line.split(",")]
            if cols[0] == "LPUSH":
                return {"rate": float(cols[1]), "p50": float(cols[4]), "p99": float(cols[6])}
        raise RuntimeError("redis-benchmark: %s%s" % (r.stdout[-500:], r.stderr[-500:]))

    def timed(self, conns):
        """A run of about SECONDS: the count is found once by a short probe."""
        if conns not in self.counts:
            probe = self.run(conns, max(1000, 100 * conns))
            self.counts[conns] = int(min(2000000, max(1000, probe["rate"] * SECONDS)))
        return self.run(conns, self.counts[conns])


# ---- figures 1-3: one engine, no gateway ----

STORE_OPS = ("get", "put", "del", "find", "due", "commit")


class Tally:
    """Jobs finished and store operations over the runs of one phase (GET /v1/health)."""

    def __init__(self, name):
        self.name, self.jobs, self.ops = name, 0, dict.fromkeys(STORE_OPS, 0)

    def measure(self, eng, run):
        """run(), then wait for the engine to finish what it took; count the difference."""
        h0 = eng.health()
        r = run()
        eng.drain()
        h1 = eng.health()
        self.jobs += sum(h1["jobs"][k] - h0["jobs"][k] for k in ("done", "failed"))
        for k in STORE_OPS:
            self.ops[k] += h1["store"][k] - h0["store"][k]
        return r

    def row(self):
        per = [num(self.ops[k] / self.jobs, "%.2f") if self.jobs else "-" for k in STORE_OPS[:-1]]
        commits = self.ops["commit"]
        return ([self.name, str(self.jobs)] + per
                + [str(commits), num(self.jobs / commits, "%.1f") if commits else "-"])


def uniq(tag):
    """A prefix no earlier run used (tokens and addresses stay distinct across runs)."""
    return "sp%d%s-%d-" % (os.getpid(), tag, random.randrange(1 << 30))


def medians(runs, keys=("rate", "p50", "p99")):
    return {k: median([x[k] for x in runs]) for k in keys}


def fig_intake(eng, redis, tallies):
    """Figure 1; returns regflow's medians by concurrency."""
    rows, res = [], {}
    for c in CONNS:
        tally = Tally("activate       c=%d" % c)
        rf, rd = [], []
        for r in range(ROUNDS):
            rf.append(tally.measure(eng, lambda: wrk(eng.port, "activate", uniq("c%d" % c), c,
                                                     SECONDS)))
            rd.append(redis.timed(c))
        tallies.append(tally)
        m, a = medians(rf), medians(rd)
        res[c] = m
        rows.append([str(c), num(m["rate"]), num(m["p50"], "%.2f"), num(m["p99"], "%.2f"),
                     num(a["rate"]), num(a["p50"], "%.2f"), num(a["p99"], "%.2f"),
                     ratio(m["rate"], a["rate"]), ratio(m["p99"], a["p99"]),
                     str(sum(x["errors"] for x in rf))])
    table("1. durable intake: regflow activate (202 after commit+sync, wrk -t1 -cN, %d s) vs "
          "redis lpush (appendfsync always, redis-benchmark -cN); median of %d"
          % (SECONDS, ROUNDS),
          ["conns", "regflow jobs/s", "p50 ms", "p99 ms", "redis ops/s", "p50 ms", "p99 ms",
           "ratio rate", "ratio p99", "regflow errors"], rows)
    return res


def percentile(sorted_vals, p):
    if not sorted_vals:
        return None
    return sorted_vals[min(len(sorted_vals) - 1, int(len(sorted_vals) * p / 100.0))]


def h2load_paced(eng, rps_total, tmp):
    """Activate jobs at rps_total in all from PACED_CLIENTS connections (h2load --rps)."""
    body = os.path.join(tmp, "paced.json")
    with open(body, "w") as fh:
        json.dump({"type": "activate", "args": {"token": uniq("paced")}}, fh)
    log = os.path.join(tmp, "h2load.log")
    per = max(1, int(round(rps_total / PACED_CLIENTS)))
    argv = [need("h2load")[0], "--h1", "-t1", "-c%d" % PACED_CLIENTS, "-m1", "--rps=%d" % per,
            "-D", str(PACED_SECONDS), "-d", body, "--log-file", log,
            "-H", "Authorization: Bearer " + TOKEN, "-H", "Content-Type: application/json",
            "http://127.0.0.1:%d/v1/jobs" % eng.port]
    subprocess.run(argv, capture_output=True, timeout=PACED_SECONDS + 60)
    lat, ok = [], 0
    with open(log) as fh:  # start (us since the epoch), status, duration (us)
        for line in fh:
            cols = line.split()
            if len(cols) >= 3:
                lat.append(int(cols[2]) / 1000.0)
                ok += cols[1] == "202"
    os.unlink(log)
    lat.sort()
    return {"target": per * PACED_CLIENTS, "rate": ok / PACED_SECONDS,
            "p50": percentile(lat, 50), "p99": percentile(lat, 99),
            "p999": percentile(lat, 99.9), "max": lat[-1] if lat else None}


def fig_paced(eng, closed50, tmp):
    runs = []
    for _ in range(ROUNDS):
        runs.append(h2load_paced(eng, closed50["rate"] / 2, tmp))
        eng.drain()
    m = medians(runs, ("target", "rate", "p50", "p99", "p999", "max"))
    rows = [["paced (open loop)", num(m["target"]), num(m["rate"]), num(m["p50"], "%.2f"),
             num(m["p99"], "%.2f"), num(m["p999"], "%.2f"), num(m["max"], "%.1f")],
            ["closed loop, wrk -c50", "-", num(closed50["rate"]),
             num(closed50["p50"], "%.2f"), num(closed50["p99"], "%.2f"), "-", "-"],
            ["ratio paced/closed", "", ratio(m["rate"], closed50["rate"]),
             ratio(m["p50"], closed50["p50"]), ratio(m["p99"], closed50["p99"]), "", ""]]
    table("2. paced latency: regflow activate at half the 50-connection rate, h2load --h1 "
          "-c%d --rps per client, %d s; median of %d" % (PACED_CLIENTS, PACED_SECONDS, ROUNDS),
          ["run", "target/s", "jobs/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms"], rows,
          ["h2load times a request from its send, and a client has one in flight: a reply "
           "slower than the client's interval (%.0f ms) delays its next sends, which h2load "
           "then catches up without counting their wait (so jobs/s stays at the target)."
           % (1000.0 * PACED_CLIENTS / max(1, m["target"] or 1))])


def argon2_anchor(tmp):
    """build/bench-argon2 (make bench builds it)."""
    exe = os.path.join(BUILD, "bench-argon2")
    if not os.access(exe, os.X_OK):
        raise Skip("build/bench-argon2 missing: run make bench (or make build/bench-argon2)")
    return exe, None


def argon2_rate(exe):
    out = subprocess.run([exe, str(REGISTER_SECONDS)], capture_output=True, text=True,
                         timeout=REGISTER_SECONDS + 60).stdout
    m = re.search(r"rate ([\d.]+)", out)
    return float(m.group(1)) if m else None


def fig_register(eng, tallies, tmp):
    exe, note = argon2_anchor(tmp)
    tally = Tally("register_email c=50")
    rf, an = [], []
    for _ in range(ROUNDS):
        rf.append(tally.measure(eng, lambda: wrk(eng.port, "register", uniq("reg"), 50,
                                                 REGISTER_SECONDS)))
        an.append(argon2_rate(exe))
    tallies.append(tally)
    m, a = medians(rf), median(an)
    table("3. register_email (Argon2id t=2 m=19MiB at intake, wrk -t1 -c50, %d s) vs "
          "bench-argon2 (the same hashes on %d threads, %d s); median of %d; target ratio >= 0.9"
          % (REGISTER_SECONDS, os.cpu_count() or 1, REGISTER_SECONDS, ROUNDS),
          ["run", "regflow jobs/s", "p50 ms", "p99 ms", "anchor hashes/s", "ratio",
           "regflow errors"],
          [["register_email, 50 conns", num(m["rate"], "%.1f"), num(m["p50"]), num(m["p99"]),
            num(a, "%.1f"), ratio(m["rate"], a), str(sum(x["errors"] for x in rf))]],
          [note] if note else [])


def figs_engine(ctx):
    """Figures 1-3 on one engine (no gateway: messages stay in its spool), then the
    store operations per job of their phases."""
    need("wrk")
    d = os.path.join(ctx.tmp, "engine")
    eng = Engine(ctx, "regflowd", os.path.join(d, "db", "regflow.tct"), os.path.join(d, "spool"))
    eng.start()
    tallies, closed = [], {}
    if want("1"):
        try:
            closed = fig_intake(eng, Redis(ctx), tallies)
        except Skip as e:
            print("\n# 1. durable intake: skipped (%s)" % e)
    if want("2"):
        try:
            need("h2load")
            if 50 not in closed:  # figure 1 did not run at 50 connections
                closed[50] = Tally("activate").measure(
                    eng, lambda: wrk(eng.port, "activate", uniq("c50"), 50, SECONDS))
            fig_paced(eng, closed[50], ctx.tmp)
        except Skip as e:
            print("\n# 2. paced latency: skipped (%s)" % e)
    if want("3"):
        try:
            fig_register(eng, tallies, ctx.tmp)
        except Skip as e:
            print("\n# 3. register_email: skipped (%s)" % e)
    if tallies:
        table("store operations per job (GET /v1/health .store: differences over all rounds)",
              ["phase", "jobs"] + ["%s/job" % k for k in STORE_OPS[:-1]]
              + ["commits", "jobs/commit"], [t.row() for t in tallies])
    rss = rss_mib(eng.proc.pid)
    rc = eng.stop()
    print("  (engine of figures 1-3: RSS %s MiB at the end, exit status %s)"
          % (num(rss, "%.1f"), rc))


# ---- figure 4: mail ----

class CountingSink:
    """smtp-sink -c (a counter, no dump) on a loopback port; count() reads its counter."""

    def __init__(self, ctx):
        (exe,) = need("smtp-sink")
        self.port = low_port()
        self.out = os.path.join(ctx.tmp, "smtp-sink.out")
        argv = [exe] + (["-u", "nobody"] if os.geteuid() == 0 else [])
        argv += ["-c", "127.0.0.1:%d" % self.port, "256"]
        spawn(ctx, argv, out=self.out)
        if not wait_for(lambda: port_listening(self.port), time.monotonic() + 10):
            raise Skip("smtp-sink did not start")

    @property
    def relay(self):
        return "127.0.0.1:%d" % self.port

    def count(self):
        """Messages received so far (the last "mesg=N" of its running counter)."""
        try:
            with open(self.out, "rb") as fh:
                fh.seek(max(0, os.path.getsize(self.out) - 200))
                m = re.findall(rb"mesg=(\d+)", fh.read())
                return int(m[-1]) if m else 0
        except OSError:
            return 0


class Postfix:
    """A private Postfix (temp folder, chroot off, no DNS) relaying everything to next_hop."""

    def __init__(self, ctx, next_hop):
        need("postfix", "smtp-source")
        if os.geteuid() != 0:
            raise Skip("a private Postfix instance needs root")
        self.port = low_port()
        d = os.path.join(ctx.tmp, "postfix")
        self.etc, self.queue = os.path.join(d, "etc"), os.path.join(d, "queue")
        for sub in ("etc", "queue", "data"):
            os.makedirs(os.path.join(d, sub))
        shutil.chown(os.path.join(d, "data"), "postfix")
        main = {
            "compatibility_level": "3.6", "queue_directory": self.queue,
            "data_directory": os.path.join(d, "data"), "mail_owner": "postfix",
            "setgid_group": "postdrop", "syslog_name": "postfix-regflow-speed",
            "maillog_file": os.path.join(d, "maillog"), "maillog_file_prefixes": d,
            "myhostname": "relay.regflow.test", "mydomain": "regflow.test",
            "inet_interfaces": "loopback-only", "inet_protocols": "ipv4",
            "mydestination": "", "local_recipient_maps": "", "relay_domains": "",
            "alias_maps": "", "alias_database": "", "biff": "no", "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "default_transport": "smtp:[127.0.0.1]:%d" % next_hop, "relayhost": "",
            "smtp_dns_support_level": "disabled", "smtp_host_lookup": "native",
            "smtpd_peername_lookup": "no", "smtp_tls_security_level": "none",
            "smtpd_tls_security_level": "none",
        }
        with open(os.path.join(self.etc, "main.cf"), "w") as fh:
            fh.write("".join("%s = %s\n" % kv for kv in main.items()))
        services = ["127.0.0.1:%d inet n - n - - smtpd" % self.port,
                    "pickup unix n - n 60 1 pickup", "cleanup unix n - n - 0 cleanup",
                    "qmgr unix n - n 300 1 qmgr", "rewrite unix - - n - - trivial-rewrite",
                    "bounce unix - - n - 0 bounce", "defer unix - - n - 0 bounce",
                    "trace unix - - n - 0 bounce", "verify unix - - n - 1 verify",
                    "flush unix n - n 1000? 0 flush", "proxymap unix - - n - - proxymap",
                    "smtp unix - - n - - smtp", "relay unix - - n - - smtp",
                    "showq unix n - n - - showq", "error unix - - n - - error",
                    "retry unix - - n - - error", "discard unix - - n - - discard",
                    "anvil unix - - n - 1 anvil", "scache unix - - n - 1 scache",
                    "postlog unix-dgram n - n - 1 postlogd"]
        with open(os.path.join(self.etc, "master.cf"), "w") as fh:
            fh.write("\n".join(services) + "\n")
        self.master_pid = None
        ctx.cleanups.append(self.stop)

    def start(self):
        r = subprocess.run([need("postfix")[0], "-c", self.etc, "start"], capture_output=True,
                           text=True, timeout=60)
        pidfile = os.path.join(self.queue, "pid", "master.pid")
        if r.returncode != 0 or not wait_for(
                lambda: os.path.exists(pidfile) and port_listening(self.port),
                time.monotonic() + 15, 0.05):
            raise Skip("postfix did not start: %s%s" % (r.stdout[-300:], r.stderr[-300:]))
        with open(pidfile) as fh:
            self.master_pid = int(fh.read().strip())
        return self

    def queued(self):
        """Messages anywhere in the queue (maildrop, incoming, active, deferred, hold)."""
        n = 0
        for sub in ("maildrop", "incoming", "active", "deferred", "hold"):
            for _, _, files in os.walk(os.path.join(self.queue, sub)):
                n += len(files)
        return n

    def stop(self):
        if self.master_pid is None:
            return
        os.kill(self.master_pid, signal.SIGTERM)  # what "postfix stop" does
        if not wait_for(lambda: not os.path.exists("/proc/%d" % self.master_pid),
                        time.monotonic() + 10, 0.05):
            os.kill(self.master_pid, signal.SIGKILL)
        self.master_pid = None


def mail_regflow(ctx, sink, r):
    d = os.path.join(ctx.tmp, "mail%d" % r)
    db = os.path.join(d, "db", "regflow.tct")
    bench_fill(db, MAILS)
    spool = Spool(os.path.join(d, "spool"))
    gw = Daemon(ctx, "regflow-gw", name="regflow-gw-mail%d" % r, ready_log=r"started:",
                conf={"spool": {"dir": spool.path},
                      "gateway": {"smtp": {"relay": sink.relay},
                                  "sink": {"dir": os.path.join(d, "sink")},
                                  "scan_interval": "1s",
                                  "retry": {"min": "200ms", "max": "1s", "lifetime": "5d"}}})
    gw.start(timeout=30)
    eng = Engine(ctx, "regflowd-mail%d" % r, db, spool.path)
    eng.start()
    c0 = sink.count()
    sent = os.path.join(spool.path, "sent")
    t0 = time.monotonic()
    w = wrk_count(ctx, eng, "resend", "0", MAIL_CONNS, MAILS, LIMIT)
    t_in = time.monotonic() - t0
    wait_for(lambda: count_files(sent) >= MAILS, t0 + LIMIT, 0.02)
    dt = time.monotonic() - t0
    n = count_files(sent)
    res = {"rate": MAILS / dt if n >= MAILS else None, "secs": dt, "t_in": t_in, "done": n,
           "sink": sink.count() - c0, "errors": w["errors"]}
    eng.stop()
    gw.stop(check=False)
    shutil.rmtree(d, ignore_errors=True)
    return res


def mail_postfix(pf, sink):
    c0 = sink.count()
    t0 = time.monotonic()
    # -d: many mails a session; -N: each its own recipient (as regflow's are)
    r = subprocess.run([need("smtp-source")[0], "-s", str(SMTP_SESSIONS), "-m", str(MAILS),
                        "-d", "-N", "-l", str(MAIL_BYTES), "-f", "bench@regflow.test",
                        "-t", "student@example.com", "127.0.0.1:%d" % pf.port],
                       capture_output=True, text=True, timeout=LIMIT)
    t_in = time.monotonic() - t0
    wait_for(lambda: sink.count() - c0 >= MAILS and pf.queued() == 0, t0 + LIMIT, 0.05)
    dt = time.monotonic() - t0
    got = sink.count() - c0
    return {"rate": MAILS / dt if got >= MAILS else None, "secs": dt, "t_in": t_in,
            "done": got, "queued": pf.queued(), "rc": r.returncode,
            "err": (r.stdout + r.stderr).strip()[-200:]}


def fig_mail(ctx):
    sink = CountingSink(ctx)
    pf = Postfix(ctx, sink.port).start()
    reg, pfx = [], []
    for r in range(ROUNDS):
        reg.append(mail_regflow(ctx, sink, r))
        pfx.append(mail_postfix(pf, sink))
    a, b = medians(reg, ("rate", "t_in", "secs")), medians(pfx, ("rate", "t_in", "secs"))
    rows = [["%d mails" % MAILS, num(a["rate"]), num(a["t_in"], "%.2f"), num(a["secs"], "%.2f"),
             num(b["rate"]), num(b["t_in"], "%.2f"), num(b["secs"], "%.2f"),
             ratio(a["rate"], b["rate"])]]
    notes = ["regflow: jobs in = until the last of the %d resend_activation jobs was answered "
             "(wrk -t1 -c%d); done = until %d files are in spool/sent/ (gateway defaults: "
             "4 sessions, batches of 50)" % (MAILS, MAIL_CONNS, MAILS),
             "postfix: in = smtp-source -s %d -d -N -l %d returned; done = smtp-sink counted "
             "%d more and the queue is empty" % (SMTP_SESSIONS, MAIL_BYTES, MAILS)]
    for i, (x, y) in enumerate(zip(reg, pfx)):
        if x["rate"] is None or y["rate"] is None:
            notes.append("round %d gave up after %ds: regflow %d in sent/ (sink +%d), postfix "
                         "sink +%d, %d still queued" % (i + 1, LIMIT, x["done"], x["sink"],
                                                         y["done"], y["queued"]))
        if x["errors"]:
            notes.append("round %d: %d regflow job errors" % (i + 1, x["errors"]))
        if y["rc"]:
            notes.append("round %d: smtp-source exit %d: %s" % (i + 1, y["rc"], y["err"]))
    table("4. mail: regflowd -> spool -> regflow-gw -> smtp-sink vs a private Postfix "
          "(smtp-source -> smtpd -> queue -> smtp -> the same smtp-sink); median of %d; "
          "target ratio >= 3" % ROUNDS,
          ["run", "regflow msg/s", "jobs in s", "done s", "postfix msg/s", "in s", "done s",
           "ratio"], rows, notes)


# ---- figure 5: SMS ----

def test_http_server(ctx):
    exe = os.path.join(KANNEL_TEST, "test_http_server")
    if not os.access(exe, os.X_OK):
        raise Skip("%s not installed (kannel-extras)" % exe)
    port = low_port()
    # it ignores SIGTERM: SIGKILL after a second
    spawn(ctx, [exe, "-q", "-v", "4", "-t", "4", "-p", str(port), "-r", "0: Accepted"], grace=1)
    if not wait_for(lambda: port_listening(port), time.monotonic() + 10):
        raise Skip("test_http_server did not start")
    return "http://127.0.0.1:%d/cgi-bin/sendsms" % port


def sms_text(i):
    return "【学信网】您的校验码是 %06d，一天内有效。" % (i % 1000000)


def fill_sms(spool, n):
    """n SMS straight into incoming/ (set-up, not measured; no fsync)."""
    now, seen = harness.now_ms(), set()
    for i in range(n):
        mid = harness.new_id()
        while mid in seen:
            mid = harness.new_id()
        seen.add(mid)
        msg = {"id": mid, "channel": "sms", "to": "138%08d" % i, "body": sms_text(i),
               "secret": "%06d" % (i % 1000000), "created": now, "front": "yz"}
        with open(os.path.join(spool.path, "incoming", mid), "wb") as fh:
            fh.write(Spool.format(msg))


def sms_regflow(ctx, url, r):
    d = os.path.join(ctx.tmp, "sms%d" % r)
    spool = Spool(os.path.join(d, "spool"))
    fill_sms(spool, SMS)
    gw = Daemon(ctx, "regflow-gw", name="regflow-gw-sms%d" % r, ready_log=r"started:",
                conf={"spool": {"dir": spool.path},
                      "gateway": {"sms": {"url": url, "username": "u", "password": "p"},
                                  "sink": {"dir": os.path.join(d, "sink")},
                                  "scan_interval": "1s",
                                  "retry": {"min": "200ms", "max": "1s", "lifetime": "5d"}}})
    sent = os.path.join(spool.path, "sent")
    t0 = time.monotonic()
    gw.start(timeout=60)
    wait_for(lambda: count_files(sent) >= SMS, t0 + LIMIT, 0.02)
    dt = time.monotonic() - t0
    n = count_files(sent)
    gw.stop(check=False)
    shutil.rmtree(d, ignore_errors=True)
    return {"rate": SMS / dt if n >= SMS else None, "secs": dt, "done": n}


def sms_ab(url):
    (ab,) = need("ab")
    q = urllib.parse.urlencode({"username": "u", "password": "p", "to": "13800138000",
                                "text": sms_text(123456), "charset": "UTF-8", "coding": "2",
                                "dlr-mask": "27", "dlr-url": ""})
    r = subprocess.run([ab, "-q", "-k", "-c16", "-n", str(SMS), url + "?" + q],
                       capture_output=True, text=True, timeout=LIMIT)
    m = re.search(r"Requests per second:\s+([\d.]+)", r.stdout)
    bad = re.search(r"Failed requests:\s+(\d+)", r.stdout)
    return {"rate": float(m.group(1)) if m else None,
            "failed": int(bad.group(1)) if bad else None}


def fig_sms(ctx):
    url = test_http_server(ctx)
    reg, ab = [], []
    for r in range(ROUNDS):
        reg.append(sms_regflow(ctx, url, r))
        ab.append(sms_ab(url))
    a, b = medians(reg, ("rate", "secs")), medians(ab, ("rate",))
    notes = ["regflow: from the gateway's start on a spool of %d SMS until all are in sent/ "
             "(GET per SMS, keep-alive, 16 in flight)" % SMS]
    notes += ["round %d gave up after %ds: %d of %d in sent/" % (i + 1, LIMIT, x["done"], SMS)
              for i, x in enumerate(reg) if x["rate"] is None]
    if any(x["failed"] for x in ab):
        notes.append("ab failed requests: %s" % [x["failed"] for x in ab])
    table("5. SMS: regflow-gw -> Kannel test_http_server vs ab -k -c16 -n %d on the same URL; "
          "median of %d" % (SMS, ROUNDS),
          ["run", "regflow msg/s", "secs", "ab req/s", "ratio"],
          [["%d SMS" % SMS, num(a["rate"]), num(a["secs"], "%.2f"), num(b["rate"]),
            ratio(a["rate"], b["rate"])]], notes)


# ---- figure 6: restart after a crash at scale ----

def first_job(eng):
    """Seconds until one ?wait job is answered (with its outcome)."""
    t0 = time.monotonic()
    st, _ = eng.post({"type": "activate", "args": {"token": uniq("probe")}}, wait_ms=30000)
    return time.monotonic() - t0 if st in (200, 202) else None


def crash_restart(ctx, eng, r):
    """Load (resend_activation, 50 connections), SIGKILL after 1 s, start again."""
    log0 = len(eng.log_text())
    first = r * SCALE // ROUNDS  # each round its own accounts (one mail a minute each)
    w = spawn(ctx, wrk_argv(eng.port, "resend", str(first), 50, 3), sig=signal.SIGKILL)
    time.sleep(1.0)
    eng.kill()
    w.wait(30)
    secs = eng.start()
    rss = rss_mib(eng.proc.pid)
    job = first_job(eng)
    log = eng.log_text()[log0:]
    rec = re.search(r"recovered (\d+) queued", log)
    out = re.search(r"re-drove (\d+) outbox", log)
    return {"secs": secs, "rss": rss, "job": job, "rss_job": rss_mib(eng.proc.pid),
            "recovered": int(rec.group(1)) if rec else 0,
            "outbox": int(out.group(1)) if out else 0}


def fig_restart(ctx):
    d = os.path.join(ctx.tmp, "scale")
    db = os.path.join(d, "db", "regflow.tct")
    t_fill = bench_fill(db, SCALE)
    size = sum(os.path.getsize(os.path.join(dp, n)) for dp, _, fs in os.walk(d) for n in fs)
    eng = Engine(ctx, "regflowd-scale", db, os.path.join(d, "spool"))
    first = {"secs": eng.start(), "rss": rss_mib(eng.proc.pid)}
    first["job"] = first_job(eng)
    first["rss_job"] = rss_mib(eng.proc.pid)
    runs = [crash_restart(ctx, eng, r) for r in range(ROUNDS)]
    def row(name, x):
        return [name, num(x["secs"], "%.3f"), num(x["job"], "%.3f"), num(x["rss"], "%.1f"),
                num(x["rss_job"], "%.1f"), str(x.get("recovered", "-")),
                str(x.get("outbox", "-"))]
    m = medians(runs, ("secs", "rss"))
    rows = ([row("first start (clean close)", first)]
            + [row("after SIGKILL #%d" % (i + 1), x) for i, x in enumerate(runs)]
            + [["median after SIGKILL", num(m["secs"], "%.3f"), "", num(m["rss"], "%.1f"),
                "", "", ""], ["target", "< 2", "", "< 100", "", "", ""]])
    rss = rss_mib(eng.proc.pid)
    eng.stop()
    table("6. restart after a crash at scale: %d accounts + %d timers (bench-fill %.1f s, "
          "%.0f MiB on disk), SIGKILL under load (resend_activation, 50 conns), start again"
          % (SCALE, SCALE, t_fill, size / 1048576.0),
          ["run", "health s", "1st job s", "RSS MiB", "RSS after job", "recovered jobs",
           "outbox re-driven"], rows,
          ["health s: from exec until GET /v1/health answers; 1st job: one activate ?wait "
           "after that; the database is in the page cache (a crash, not a reboot); "
           "RSS at the end %s MiB" % num(rss, "%.1f")])
    shutil.rmtree(d, ignore_errors=True)


# ---- main ----

# ---- figure 7: intake on PostgreSQL ----

def pgbench_insert(pg, conns, seconds, tmp):
    """pgbench -n: one-row inserts, synchronous commit, on the same cluster."""
    (pgb,) = [os.path.join(pg.bin, "pgbench")]
    pg.psql("CREATE TABLE IF NOT EXISTS bench_jobs (id bigserial PRIMARY KEY, v text)")
    script = os.path.join(tmp, "insert.sql")
    with open(script, "w") as f:
        f.write("INSERT INTO bench_jobs (v) VALUES ('activate');\n")
    r = subprocess.run([pgb, "-n", "-c", str(conns), "-j", "1", "-T", str(seconds), "-f", script,
                        "-d", pg.conninfo], capture_output=True, text=True,
                       timeout=seconds + 60)
    m = re.search(r"tps = ([\d.]+)", r.stdout)
    lat = re.search(r"latency average = ([\d.]+) ms", r.stdout)
    return {"rate": float(m.group(1)) if m else None,
            "p50": float(lat.group(1)) if lat else None, "p99": None}


def fig_pg(ctx):
    """regflow intake (activate, 202 after commit) with engine.store = "pg" against
    pgbench's one-row inserts on the same private cluster, at 50 connections."""
    need("wrk")
    import pg as pgmod
    pg = pgmod.Cluster(ctx, "bench-pg").start()
    ov = ["engine.store=pg", "engine.pg.conninfo=" + pg.conninfo]
    r = harness.run_tool(ctx, "regflowctl", "store", "migrate", overrides=ov)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    d = os.path.join(ctx.tmp, "engine-pg")
    eng = Engine(ctx, "regflowd-pg", os.path.join(d, "db", "unused.tct"), os.path.join(d, "spool"))
    for o in ov:
        eng.argv += ["-o", o]
    eng.start()
    # a second engine on the same database (node 1): the two take 25 connections each
    eng2 = Engine(ctx, "regflowd-pg2", os.path.join(d, "db2", "unused.tct"),
                  os.path.join(d, "spool2"))
    for o in ov + ["engine.node=1", "engine.monitor_listen="]:
        eng2.argv += ["-o", o]
    reg, anchor, two = [], [], []
    for r_ in range(ROUNDS):
        reg.append(wrk(eng.port, "activate", uniq("pg%d" % r_), 50, SECONDS))
        anchor.append(pgbench_insert(pg, 50, SECONDS, ctx.tmp))
    eng2.start()
    for r_ in range(ROUNDS):
        two.append(wrk_pair(eng, eng2, uniq("pg2%d" % r_), 25, SECONDS))
    conflicts = sum((e.health() or {"jobs": {}})["jobs"].get("conflicts", 0) for e in (eng, eng2))
    eng.stop()
    eng2.stop()
    a, b, c = medians(reg), medians(anchor, ("rate", "p50")), medians(two)
    table("7. durable intake on PostgreSQL: regflow activate (engine.store = \"pg\", wrk -t1, "
          "%d s) vs pgbench one-row inserts (-c50, synchronous commit), same private "
          "cluster; median of %d; target ratio >= 0.5 at 50 connections" % (SECONDS, ROUNDS),
          ["engines", "conns", "regflow jobs/s", "p50 ms", "p99 ms", "pgbench tps", "avg ms",
           "ratio"],
          [[1, 50, num(a["rate"]), num(a["p50"], "%.2f"), num(a["p99"], "%.2f"),
            num(b["rate"]), num(b["p50"], "%.2f"), ratio(a["rate"], b["rate"])],
           [2, "2x25", num(c["rate"]), num(c["p50"], "%.2f"), num(c["p99"], "%.2f"),
            num(b["rate"]), num(b["p50"], "%.2f"), ratio(c["rate"], b["rate"])]],
          ["the cluster: fsync on, synchronous_commit on, default settings; transactions "
           "SERIALIZABLE",
           "two engines: nodes 0 and 1 on one database, each with its own wrk (25 "
           "connections), rates summed, the worse p50/p99; both share this machine's two "
           "cores with PostgreSQL and the load generators, so the row shows correctness under "
           "load, not speed (docs/scale.md has the per-core arithmetic); groups written again "
           "after a conflict: %d" % conflicts])


def wrk_pair(e1, e2, prefix, conns, seconds):
    """Two wrk at once, one on each engine: the summed rate, the worse latencies."""
    procs = [subprocess.Popen(wrk_argv(e.port, "activate", prefix + str(i), conns, seconds),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i, e in enumerate((e1, e2))]
    res = [wrk_result(p.communicate(timeout=seconds + 90)[0]) for p in procs]
    return {"rate": sum(r["rate"] or 0 for r in res), "p50": max(r["p50"] for r in res),
            "p99": max(r["p99"] for r in res)}


# (the figures a step prints, its name, the step)
STEPS = [({"1", "2", "3"}, "1-3. engine", figs_engine), ({"4"}, "4. mail", fig_mail),
         ({"5"}, "5. SMS", fig_sms), ({"6"}, "6. restart", fig_restart),
         ({"7"}, "7. PostgreSQL", fig_pg)]


def want(n):
    return not ONLY or n in ONLY


def main():
    if not os.access(os.path.join(BIN, "regflowd"), os.X_OK):
        print("# bench speed: %s/regflowd not built (make)" % BIN)
        return 1
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))  # clean up on SIGTERM too
    ctx = harness.Ctx("bench-speed")
    print("# bench speed: %s; binaries %s; temp %s (%s); %d round(s) each, regflow and anchor "
          "alternating, medians" % (machine(), BIN, ctx.tmp, fs_type(ctx.tmp), ROUNDS),
          flush=True)
    t0 = time.monotonic()
    rc = 0
    try:
        # one copy of the workflows for every engine of the run, whatever happens to the tree
        shutil.copytree(os.path.join(ROOT, "workflows"), os.path.join(ctx.tmp, "workflows"))
        for figs, name, step in STEPS:
            if not any(want(n) for n in figs):
                continue
            try:
                step(ctx)
            except Skip as e:
                print("\n# %s: skipped (%s)" % (name, e), flush=True)
            except Exception as e:  # a broken figure is reported; the others still run
                print("\n# %s: FAILED: %s: %s" % (name, type(e).__name__, e), flush=True)
                rc = 1
    finally:
        ctx.close()
    print("\n# bench speed: %.0f s in all; load %s at the end"
          % (time.monotonic() - t0, " ".join("%.2f" % x for x in os.getloadavg())))
    return rc


if __name__ == "__main__":
    sys.exit(main())
