#!/usr/bin/env python3
"""run - the end-to-end test runner.

  python3 tests/e2e/run.py [FILTER...]

Finds tests/e2e/test_*.py and runs each function named test_* in it (in
file order) with its own harness.Ctx (temp dir, daemons, ports), printing
"ok N - name" or "not ok N - name" with the failure, then "N passed, N failed".
Each FILTER keeps the tests whose "file.function" name contains it (e.g.
"gateway" or "test_gateway.test_expired"); several keep the union.  Exits non-zero on any failure.
"""
import importlib.util
import inspect
import os
import shutil
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402


def discover(flts):
    tests = []
    for fname in sorted(os.listdir(HERE)):
        if not (fname.startswith("test_") and fname.endswith(".py")):
            continue
        modname = fname[:-3]
        spec = importlib.util.spec_from_file_location(modname, os.path.join(HERE, fname))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        fns = [(n, f) for n, f in vars(mod).items()
               if n.startswith("test_") and inspect.isfunction(f) and f.__module__ == modname]
        fns.sort(key=lambda nf: nf[1].__code__.co_firstlineno)
        for n, f in fns:
            full = "%s.%s" % (modname, n)
            if not flts or any(f in full for f in flts):
                tests.append((full, f))
    return tests


def comment(text):
    return "\n".join("# " + line for line in text.rstrip().splitlines())


def main():
    pg_ctx = None
    if os.environ.get("REGFLOW_E2E_STORE") == "pg":  # every engine on one private cluster
        import engine
        import pg
        pg_ctx = harness.Ctx("pg-cluster")
        engine.PG = pg.Cluster(pg_ctx).start()
    try:
        return run(sys.argv[1:])
    finally:
        if pg_ctx:
            pg_ctx.close()


def run(flts):
    tests = discover(flts)
    print("1..%d" % len(tests), flush=True)
    passed = failed = 0
    for i, (name, fn) in enumerate(tests, 1):
        ctx = harness.Ctx(name.split(".")[-1])
        t0 = time.monotonic()
        status, detail = "ok", ""
        try:
            fn(ctx)
        except harness.Skip as e:
            detail = " # SKIP %s" % e
        except Exception:
            status = "not ok"
            detail = "\n" + comment(traceback.format_exc())
        try:
            # keep the temp dir until the verdict is known: a cleanup can fail too
            ctx.close(keep=True)
        except Exception:
            if status == "ok":
                status = "not ok"
                detail = "\n" + comment("cleanup: " + traceback.format_exc())
        if status == "ok":
            shutil.rmtree(ctx.tmp, ignore_errors=True)
        else:
            detail += "\n# kept: %s" % ctx.tmp
            for f in sorted(os.listdir(ctx.tmp)):
                if f.endswith(".log"):
                    with open(os.path.join(ctx.tmp, f), errors="replace") as lf:
                        tail = lf.read().splitlines()[-25:]
                    detail += "\n# --- %s (tail) ---\n%s" % (f, comment("\n".join(tail) or "(empty)"))
        if status == "ok":
            passed += 1
        else:
            failed += 1
        print("%s %d - %s%s" % (status, i, name, detail), flush=True)
        if status == "ok" and os.environ.get("E2E_TIMES"):
            print("# %.1fs" % (time.monotonic() - t0), flush=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed or not tests else 0


if __name__ == "__main__":
    sys.exit(main())
