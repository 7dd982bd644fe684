#!/usr/bin/env python3
"""run - run every benchmark in tests/bench/ (make bench).

  python3 tests/bench/run.py [FILTER]

Runs each tests/bench/*.py except this one (and files starting with "_"),
one after the other, each in its own python3 process, and lets it print
its numbers.  Benchmarks assert nothing; the exit status is non-zero only
if a benchmark itself crashed or exited non-zero.
"""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    flt = sys.argv[1] if len(sys.argv) > 1 else None
    me = os.path.basename(__file__)
    benches = [f for f in sorted(os.listdir(HERE))
               if f.endswith(".py") and f != me and not f.startswith("_")
               and (not flt or flt in f)]
    failed = []
    for f in benches:
        print("== %s" % f, flush=True)
        t0 = time.monotonic()
        rc = subprocess.call([sys.executable, os.path.join(HERE, f)], cwd=os.path.dirname(
            os.path.dirname(HERE)))
        print("== %s: %.1fs%s" % (f, time.monotonic() - t0,
                                  "" if rc == 0 else ", exit status %d" % rc), flush=True)
        if rc != 0:
            failed.append(f)
    if not benches:
        print("no benchmarks in %s" % HERE)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
