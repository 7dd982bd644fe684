"""regflowctl graph: every shipped workflow's dot (whose text the golden
files tests/golden/ctl/graph_*.ref hold) is a graph Graphviz's dot reads:
rendered to SVG with a node per state and an edge per transition and timer;
an unknown name is an error."""
import os
import re
import shutil
import subprocess

from harness import ROOT, Skip, run_tool


def test_every_shipped_workflow_renders(ctx):
    if not shutil.which("dot"):
        raise Skip("graphviz not installed (make deps)")
    names = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "workflows")) if f.endswith(".wf"))
    assert len(names) >= 9, names
    conf = os.path.join(ROOT, "conf", "regflow.conf")
    for n in names:
        r = run_tool(ctx, "regflowctl", "graph", n, conf_file=conf,
                     overrides=["engine.workflows=" + os.path.join(ROOT, "workflows")])
        assert r.returncode == 0 and r.stdout.startswith('digraph "%s"' % n), (n, r.stderr)
        svg = subprocess.run(["dot", "-Tsvg"], input=r.stdout, capture_output=True, text=True)
        assert svg.returncode == 0 and "<svg" in svg.stdout, (n, svg.stderr)
        edges = len(re.findall(r" -> ", r.stdout))
        assert svg.stdout.count('class="edge"') == edges, n
        with open(os.path.join(ROOT, "workflows", n + ".wf")) as f:
            text = f.read()
        # every state of the file is a node
        for state in re.findall(r"^\s{2}(\w+) = \{", text.split("states = {", 1)[1]
                                .split("\n};", 1)[0], re.M):
            assert '"%s" [label=' % state in r.stdout, (n, state)
    r = run_tool(ctx, "regflowctl", "graph", "nosuch", conf_file=conf,
                 overrides=["engine.workflows=" + os.path.join(ROOT, "workflows")])
    assert r.returncode == 1 and "no workflow nosuch" in r.stderr, r.stderr
