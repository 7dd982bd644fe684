"""regflowctl simulate: every scenario of tests/scenarios/ (one at least
per shipped workflow) run against workflows/ on an in-memory store prints
exactly its NAME.out (REGFLOW_GOLDEN_WRITE=1 writes them), the same on
every run; no secret is printed; each job is answered; every shipped
workflow has a scenario named after it; a broken scenario is refused with
file:line."""
import os
import re

from harness import ROOT, run_tool

SCEN = os.path.join(ROOT, "tests", "scenarios")
OV = ["engine.workflows=" + os.path.join(ROOT, "workflows")]


def simulate(ctx, path):
    return run_tool(ctx, "regflowctl", "simulate", os.path.join(ROOT, "workflows"), path,
                    overrides=OV, timeout=120)


def test_scenarios_golden(ctx):
    write = os.environ.get("REGFLOW_GOLDEN_WRITE") == "1"
    names = sorted(f[:-4] for f in os.listdir(SCEN) if f.endswith(".scn"))
    for n in names:
        r = simulate(ctx, os.path.join(SCEN, n + ".scn"))
        assert r.returncode == 0, (n, r.stderr)
        again = simulate(ctx, os.path.join(SCEN, n + ".scn"))
        assert again.stdout == r.stdout, n  # ids, times and secrets never leak in
        out = os.path.join(SCEN, n + ".out")
        if write:
            with open(out, "w") as f:
                f.write(r.stdout)
        with open(out) as f:
            assert r.stdout == f.read(), "%s: output changed:\n%s" % (n, r.stdout)
        # a token (43 characters of base64url) or a 6-digit code never shows
        assert not re.search(r"[A-Za-z0-9_-]{43}", r.stdout), n
        assert not re.search(r"code=\d{6}\b", r.stdout.replace("code=000000", "")), n
        # every job of it ran through a workflow: each is answered
        assert "no workflow takes" not in r.stdout, n
        jobs = re.findall(r"^\d+: (?!\+)", r.stdout, re.M)
        assert len(jobs) == len(re.findall(r"^  reply ", r.stdout, re.M)), n
    shipped = {f[:-3] for f in os.listdir(os.path.join(ROOT, "workflows")) if f.endswith(".wf")}
    assert shipped <= set(names), shipped - set(names)  # a scenario named after each


def test_broken_scenario_refused(ctx):
    bad = os.path.join(ctx.tmp, "bad.scn")
    with open(bad, "w") as f:
        f.write("# fine\nregister_email email=a@example.com\n+soon\n")
    r = simulate(ctx, bad)
    assert r.returncode == 1 and "bad.scn:3: not a duration" in r.stderr, r.stderr
    with open(bad, "w") as f:
        f.write('register_email email="a@example.com\n')
    r = simulate(ctx, bad)
    assert r.returncode == 1 and "bad.scn:1: a quote is not closed" in r.stderr, r.stderr
