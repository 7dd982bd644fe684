#!/usr/bin/env python3
"""bench/login_timing - does a login's answer time tell whether the account
exists?  (Prints numbers, asserts nothing.)

  python3 tests/bench/login_timing.py

Starts bin/regflowd on a temporary database, makes BENCH_LOGIN_ACCOUNTS
active accounts, then sends logins one at a time in a shuffled order:
BENCH_LOGIN_SAMPLES with a wrong password for an existing account, as many
for logins no account has, and as many with the right password.  Each sample
comes from a client address of its own and each account takes at most a few
of them, so neither the lockout (per login and client) nor the slowdown (per
login) answers instead of the password check.  Prints the median, p10, p90
of each kind, and the ratio of the medians of unknown and wrong (1.00: the
same work), next to the anchor: one Argon2id verification of the same cost
in libsodium alone (build/bench-argon2 on one thread).
"""
import os
import random
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
import harness  # noqa: E402
from engine import Engine, spool_token  # noqa: E402

PASSWORD = "correct horse battery"
SAMPLES = max(100, int(os.environ.get("BENCH_LOGIN_SAMPLES", "200")))
ACCOUNTS = max(20, int(os.environ.get("BENCH_LOGIN_ACCOUNTS", "70")))


def make_accounts(eng, n):
    api = eng.api()
    addrs = ["timing.%d@example.com" % i for i in range(n)]
    for a in addrs:
        r = api.result("register_email", email=a, password=PASSWORD)
        assert r["code"] == "OK", r
    for a in addrs:
        r = api.result("activate", token=spool_token(eng.spool_dir, a))
        assert r["code"] == "OK", r
    return addrs


def timed_login(api, login, pw, ip):
    t0 = time.perf_counter()
    st, body = api.post_job("login", {"login": login, "password": pw, "client_ip": ip})
    ms = (time.perf_counter() - t0) * 1000
    assert st == 200, (st, body)
    return ms, body["result"]["code"]


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))]


def anchor_ms():
    exe = os.path.join(ROOT, "build", "bench-argon2")
    if not os.access(exe, os.X_OK):
        return None
    out = subprocess.run([exe, "5", "1"], capture_output=True, text=True).stdout
    try:
        rate = float(out.split("rate")[1].split()[0])
    except (IndexError, ValueError):
        return None
    return 1000.0 / rate


def main():
    ctx = harness.Ctx("bench-login-timing")
    try:
        eng = Engine(ctx).start()
        t0 = time.monotonic()
        addrs = make_accounts(eng, ACCOUNTS)
        setup_s = time.monotonic() - t0
        plan = ([("wrong", addrs[i % len(addrs)]) for i in range(SAMPLES)] +
                [("unknown", "nobody.%d@example.com" % i) for i in range(SAMPLES)] +
                [("right", addrs[i % len(addrs)]) for i in range(SAMPLES)])
        random.seed(7)
        random.shuffle(plan)
        api = eng.api()
        times = {"wrong": [], "unknown": [], "right": []}
        codes = {}
        for i, (kind, login) in enumerate(plan):
            ip = "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255)
            ms, code = timed_login(api, login, PASSWORD if kind == "right" else "wrong-" + login,
                                   ip)
            times[kind].append(ms)
            codes.setdefault(kind, set()).add(code)
        eng.stop()
    finally:
        ctx.close()
    print("# login timing: %d samples of each kind, one at a time, shuffled, one client "
          "address each; %d accounts made in %.1f s" % (SAMPLES, ACCOUNTS, setup_s))
    print("%-34s %8s %8s %8s  %s" % ("kind", "p10 ms", "p50 ms", "p90 ms", "answers"))
    for kind, what in (("wrong", "existing login, wrong password"),
                       ("unknown", "unknown login"),
                       ("right", "existing login, right password")):
        v = times[kind]
        print("%-34s %8.2f %8.2f %8.2f  %s" % (what, pct(v, 0.1), statistics.median(v),
                                               pct(v, 0.9), ",".join(sorted(codes[kind]))))
    a = anchor_ms()
    ratio = statistics.median(times["unknown"]) / statistics.median(times["wrong"])
    print("%-34s %8s %8.2f %8s" % ("anchor: one Argon2id verify", "",
                                   a if a else float("nan"), ""))
    print("ratio of medians unknown/wrong: %.3f (1.000: the same work); "
          "wrong/anchor: %s" % (ratio, "%.2f" % (statistics.median(times["wrong"]) / a)
                                if a else "n/a (make build/bench-argon2)"))


if __name__ == "__main__":
    main()
