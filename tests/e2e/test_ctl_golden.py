"""Golden tests of regflowctl's output, as Postfix's x.in / x.ref.

Each tests/golden/ctl/NAME.in holds one command line (the arguments after
regflowctl; $TMP is the test's temporary folder); NAME.ref holds the exit
status, standard output and standard error expected, in the form

    exit N
    --- stdout
    ...
    --- stderr
    ...

The tool runs from the repository's root with conf/regflow.conf; $TMP/spool
is an empty spool (its state folders made, as regflowd makes them).  With
REGFLOW_GOLDEN_WRITE=1 the .ref files are written from what the tool
prints (then read them before committing).
"""
import os
import shlex
import subprocess

import harness

GOLDEN = os.path.join(harness.ROOT, "tests", "golden", "ctl")


def render(rc, out, err):
    return "exit %d\n--- stdout\n%s--- stderr\n%s" % (rc, out, err)


def test_ctl_golden(ctx):
    names = sorted(f[:-3] for f in os.listdir(GOLDEN) if f.endswith(".in"))
    assert names, "no golden cases"
    write = os.environ.get("REGFLOW_GOLDEN_WRITE") == "1"
    problems = []
    for d in ("incoming", "active", "deferred", "hold", "failed", "sent", "corrupt", "tmp"):
        os.makedirs(os.path.join(ctx.tmp, "spool", d), exist_ok=True)
    for name in names:
        with open(os.path.join(GOLDEN, name + ".in")) as f:
            line = f.read().strip().replace("$TMP", ctx.tmp)
        argv = [os.path.join(harness.BIN, "regflowctl")] + shlex.split(line)
        r = subprocess.run(argv, cwd=harness.ROOT, capture_output=True, text=True, timeout=30)
        got = render(r.returncode, r.stdout, r.stderr.replace(ctx.tmp, "$TMP"))
        ref = os.path.join(GOLDEN, name + ".ref")
        if write:
            with open(ref, "w") as f:
                f.write(got)
            continue
        with open(ref) as f:
            want = f.read()
        if got != want:
            problems.append("%s: regflowctl %s\n--- got\n%s--- want\n%s" % (name, line, got, want))
    assert not problems, "\n".join(problems)
