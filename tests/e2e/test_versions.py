"""Workflow versions (issue 14): a reload with accounts in a state the new
version removed pins them to the version they entered it under (its
transitions and timers, across a restart too), regflowctl workflows lists
each version with the accounts and timers on it, workflows show prints a
version's file, and a version that declares migrate = { old = "new"; }
moves such accounts when it is loaded."""
import json
import os
import re

from engine import Engine, spool_to
from harness import run_tool, wait_until
from test_workflows import PASSWORD, edit, wf_copy


def rename_state(path, old, to):
    """activation.wf with its state `old` called `to` (the same workflow otherwise)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = text.replace('"%s"' % old, '"%s"' % to).replace("  %s = {" % old, "  %s = {" % to)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def ctl(ctx, eng, *args):
    r = run_tool(ctx, "regflowctl", *args, conf_file=eng.conf_file, overrides=eng.overrides)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def link_of(eng, addr):
    return re.findall(r"token=([A-Za-z0-9_-]+)",
                      "".join(b for _, e, b in spool_to(eng.spool_dir, addr)))[-1]


def api_as(eng, front):
    return eng.api(front)


def listing(ctx, eng):
    """{name: {version: {accounts, timers, current}}} from regflowctl workflows --json."""
    out = json.loads(ctl(ctx, eng, "workflows", "--json"))
    return {w["name"]: {v["version"]: v for v in w["versions"]} for w in out["workflows"]}


def test_pinned_then_migrated(ctx):
    wf = wf_copy(ctx)
    path = os.path.join(wf, "activation.wf")
    eng = Engine(ctx, overrides=["engine.workflows=%s" % wf]).start()
    api = eng.api()
    a = api.result("register_email", email="a@example.com", password=PASSWORD)["account"]
    b = api.result("register_email", email="b@example.com", password=PASSWORD)["account"]
    v1 = api.account(a)["versions"]["activation"]
    assert re.fullmatch(r"[0-9a-f]{16}", v1), v1

    # v2 renames "pending": both accounts stay on v1, with their expiry timers
    rename_state(path, "pending", "awaiting")
    out = ctl(ctx, eng, "reload")
    assert ("workflow activation state pending (removed): 2 account(s), 2 timer(s) stay on "
            "version %s" % v1) in out, out
    vers = listing(ctx, eng)["activation"]
    v2 = [v for v, e in vers.items() if e["current"]][0]
    assert v2 != v1 and vers[v1]["accounts"] == 2 and vers[v1]["timers"] == 2, vers
    assert vers[v2]["accounts"] == 0, vers
    # a new registration runs on v2
    c = api.result("register_email", email="c@example.com", password=PASSWORD)["account"]
    acc = api.account(c)
    assert acc["workflows"]["activation"] == "awaiting" and acc["versions"]["activation"] == v2
    # a pinned account's link still works: v1's transition out of pending,
    # into a state v2 has, and from then on it is on v2
    assert api.result("activate", token=link_of(eng, "a@example.com"))["code"] == "OK"
    acc = api.account(a)
    assert acc["workflows"]["activation"] == "active" and acc["versions"]["activation"] == v2
    # the old text is kept
    assert '  pending = { status = "pending_activation";' in ctl(
        ctx, eng, "workflows", "show", "activation@" + v1)
    assert "awaiting = {" in ctl(ctx, eng, "workflows", "show", "activation@" + v2)
    r = run_tool(ctx, "regflowctl", "workflows", "show", "activation@0000000000000000",
                 conf_file=eng.conf_file, overrides=eng.overrides)
    assert r.returncode == 1 and "no such version" in r.stderr, r

    # after a restart v1 is loaded again from the store: b's expiry timer
    # (v1's, "1d") fires on a clock a day ahead and moves it to expired (in v2)
    eng.stop()
    eng.faketime = "+25h"
    eng.start()
    api = eng.api()
    wait_until(lambda: api.account(b)["workflows"]["activation"] == "expired", 15,
               what="v1's timer fired after the restart")
    assert api.account(b)["versions"]["activation"] == v2
    assert "version %s loaded again from the store" % v1 in eng.log()

    # (c's own timer, v2's, fired too)
    wait_until(lambda: api.account(c)["workflows"]["activation"] == "expired", 15,
               what="v2's timer fired after the restart")
    # v3 drops "awaiting" and migrates its accounts to "expired"
    d = api.result("register_email", email="d@example.com", password=PASSWORD)["account"]
    assert api.account(d)["workflows"]["activation"] == "awaiting"
    rename_state(path, "awaiting", "waiting")
    edit(path, 'start = "none";', 'start = "none";\nmigrate = { awaiting = "expired"; };')
    out = ctl(ctx, eng, "reload")
    assert "workflow activation: 1 account(s) migrated from awaiting to expired" in out, out
    acc = api.account(d)
    assert acc["workflows"]["activation"] == "expired", acc
    assert acc["status"] == "pending_activation", acc
    hist = api_as(eng, "helpdesk").request("GET", "/v1/accounts/%s/history" % d)[1]
    assert any(e.get("what") == "migrated" for e in hist["history"]), hist
    vers = listing(ctx, eng)["activation"]
    v3 = [v for v, e in vers.items() if e["current"]][0]
    assert v3 not in (v1, v2) and vers[v3]["accounts"] == 4, vers
    assert vers[v1]["accounts"] == 0 and vers[v2]["accounts"] == 0, vers
    # a migrated account goes on as any expired one: a new link, into waiting
    assert api.result("resend_activation", email="d@example.com")["code"] == "OK"
    assert api.account(d)["workflows"]["activation"] == "waiting"
    eng.stop()


def test_migrate_refused_when_it_names_a_live_state(ctx):
    wf = wf_copy(ctx, {"activation.wf": [
        ('start = "none";', 'start = "none";\nmigrate = { pending = "expired"; gone = "nowhere"; };')]})
    r = run_tool(ctx, "regflowctl", "check", overrides=["engine.workflows=%s" % wf])
    assert r.returncode == 1, r
    assert re.search(r'activation\.wf:\d+: migrate: "pending" is a state of this workflow',
                     r.stderr), r.stderr
    assert re.search(r'activation\.wf:\d+: migrate: unknown state "nowhere"', r.stderr), r.stderr


def test_pinned_to_the_version_it_last_ran_on(ctx):
    """An account that waited in a state through a version that changed it
    runs, once the state is removed, on that later version - the one it last
    ran on - not the one it entered under (a review found this)."""
    wf = wf_copy(ctx)
    path = os.path.join(wf, "activation.wf")
    eng = Engine(ctx, overrides=["engine.workflows=%s" % wf]).start()
    api = eng.api()
    a = api.result("register_email", email="e@example.com", password=PASSWORD)["account"]
    # v2 keeps "pending", and answers a second registration otherwise
    edit(path, 'keep = true; },\n           { action = "send"; template = "activation_mail"; to = "{{email}}"; },\n           { action = "reply"; code = "EMAIL_PENDING_ACTIVATION"; } ); },',
         'keep = true; },\n           { action = "send"; template = "activation_mail"; to = "{{email}}"; },\n           { action = "reply"; code = "EMAIL_REGISTERED"; } ); },')
    ctl(ctx, eng, "reload")
    assert api.result("register_email", email="e@example.com",
                      password=PASSWORD)["code"] == "EMAIL_REGISTERED"
    v2 = api.account(a)["versions"]["activation"]
    # v3 removes it: the account goes on as v2 would
    rename_state(path, "pending", "awaiting")
    out = ctl(ctx, eng, "reload")
    assert "stay on version %s" % v2 in out, out
    assert api.result("register_email", email="e@example.com",
                      password=PASSWORD)["code"] == "EMAIL_REGISTERED"
    assert api.account(a)["versions"]["activation"] == v2
    eng.stop()
