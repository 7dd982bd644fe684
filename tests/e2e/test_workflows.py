"""test_workflows - the workflow engine as operators meet it (issue 3).

Reload (SIGHUP and regflowctl reload) with a good and a bad set, an instance
whose state an operator removed, timers that survive a restart and fire when
due, the NDJSON batch API and regflowctl enqueue, and the crash test: a
stream of jobs with SIGKILLs at random moments.
"""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time

import harness
from harness import run_tool, wait_until
from engine import WORKFLOWS, Api, Engine, spool_messages, spool_to

PASSWORD = "correct horse battery"


def wf_copy(ctx, edits=None):
    """A private copy of workflows/ with {file: [(old, new), ...]} edits applied."""
    d = os.path.join(ctx.tmp, "workflows")
    shutil.copytree(WORKFLOWS, d)
    for name, subs in (edits or {}).items():
        p = os.path.join(d, name)
        with open(p, encoding="utf-8") as f:
            text = f.read()
        for old, new in subs:
            assert old in text, "%s: %r not found" % (name, old)
            text = text.replace(old, new)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
    return d


def edit(path, old, new):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    assert old in text, old
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(old, new))


def test_reload_bad_set_keeps_last_good(ctx):
    wf = wf_copy(ctx)
    eng = Engine(ctx, overrides=["engine.workflows=%s" % wf,
                                 "engine.pid_file=%s" % os.path.join(ctx.tmp, "pid")]).start()
    api = eng.api()
    assert api.result("register_email", email="a@example.com", password=PASSWORD)["code"] == "OK"
    # an operator breaks a file: a state that does not exist, and a bad duration
    path = os.path.join(wf, "activation.wf")
    edit(path, 'to = "active";\n    do = (\n      { action = "verify_token"',
         'to = "actived";\n    do = (\n      { action = "verify_token"')
    edit(path, 'timers = ( { after = "1d"; to = "expired"; } )',
         'timers = ( { after = "1 day"; to = "expired"; } )')
    # regflowctl check names both problems with their lines
    r = run_tool(ctx, "regflowctl", "check", overrides=["engine.workflows=%s" % wf])
    assert r.returncode != 0, r
    assert re.search(r"activation\.wf:\d+: to: unknown state \"actived\"", r.stderr), r.stderr
    assert re.search(r"activation\.wf:\d+: bad duration \"1 day\"", r.stderr), r.stderr
    off = os.path.getsize(eng.log_file)
    r = run_tool(ctx, "regflowctl", "reload", conf_file=eng.conf_file, overrides=eng.overrides)
    assert r.returncode == 1, (r.stdout, r.stderr)  # refused, and it says why
    assert "reload refused: the workflow files have errors" in r.stderr, r.stderr
    assert re.search(r"activation\.wf:\d+: to: unknown state \"actived\"", r.stderr), r.stderr
    wait_until(lambda: "reload refused" in eng.log_since(off), what="reload refused in the log")
    assert re.search(r"activation\.wf:\d+: to: unknown state", eng.log_since(off))
    # the last good set keeps running
    assert eng.running()
    assert api.result("register_email", email="b@example.com", password=PASSWORD)["code"] == "OK"
    # fixed: a reload takes the new set (an edited reply is visible at once)
    edit(path, '"actived"', '"active"')
    edit(path, 'after = "1 day"', 'after = "1d"')
    edit(os.path.join(wf, "messages.conf"), 'EMAIL_REGISTERED = "该邮箱已经注册，可直接登录";',
         'EMAIL_REGISTERED = "该邮箱已经注册，可直接登录。";')
    off = os.path.getsize(eng.log_file)
    eng.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: re.search(r"reloaded \d+ workflow", eng.log_since(off)), what="reloaded")
    tok = [t for t in re.findall(r"token=([A-Za-z0-9_-]+)",
                                 "".join(b for _, e, b in spool_to(eng.spool_dir, "b@example.com")))]
    assert api.result("activate", token=tok[-1])["code"] == "OK"
    r = api.result("register_email", email="b@example.com", password=PASSWORD)
    assert r["message"] == "该邮箱已经注册，可直接登录。", r
    eng.stop()


def test_reload_without_a_workflow_parks_its_timers(ctx):
    """A set without activation.wf while an account waits in its pending
    state (with its expiry timer) is taken (issue 14: no more refusals), the
    account and its timer listed as staying on their version; the timer is
    kept (parked) and fires once the workflow is back."""
    wf = wf_copy(ctx, {"activation.wf": [('timers = ( { after = "1d"; to = "expired"; } )',
                                          'timers = ( { after = "2s"; to = "expired"; } )')]})
    eng = Engine(ctx, overrides=["engine.workflows=%s" % wf, "engine.timer_park=500ms"]).start()
    api = eng.api()
    acct = api.result("register_email", email="w@example.com", password=PASSWORD)["account"]
    ver = api.account(acct)["versions"]["activation"]
    away = os.path.join(ctx.tmp, "activation.wf")
    shutil.move(os.path.join(wf, "activation.wf"), away)
    off = os.path.getsize(eng.log_file)
    r = run_tool(ctx, "regflowctl", "reload", conf_file=eng.conf_file, overrides=eng.overrides)
    left = len([n for n in os.listdir(wf) if n.endswith(".wf")])  # all but activation.wf
    assert r.returncode == 0 and "reloaded: %d workflow(s)" % left in r.stdout, \
        (r.stdout, r.stderr)
    assert ("workflow activation state pending (removed): 1 account(s), 1 timer(s) stay on "
            "version %s" % ver) in r.stdout, r.stdout
    wait_until(lambda: "not loaded; kept" in eng.log(), 15, what="the parked timer")
    assert "dropped" not in eng.log_since(off)
    # the workflow back: the timer fires, the registration lapses as it should
    shutil.move(away, os.path.join(wf, "activation.wf"))
    r = run_tool(ctx, "regflowctl", "reload", conf_file=eng.conf_file, overrides=eng.overrides)
    assert r.returncode == 0, (r.stdout, r.stderr)
    wait_until(lambda: api.account(acct)["workflows"]["activation"] == "expired", 15,
               what="the timer fired")


def test_removed_state_keeps_its_version_across_a_restart(ctx):
    """An account in a state the operator removed (and the engine restarted)
    stays on the version it entered that state under, loaded again from the
    store: its transitions still run (issue 14; before, it went back to the
    start state)."""
    wf = wf_copy(ctx, {"activation.wf": [
        # add a state "hold" reachable from pending, park an account there
        ('  active  = { status = "active"; final = true; };',
         '  active  = { status = "active"; final = true; };\n  hold    = { status = "pending_activation"; };'),
        ('  { on = "register_email"; from = "pending";\n    do = ( { action = "issue_token"; purpose = "activation"; valid = "1d"; password = "password";\n             keep = true; },\n           { action = "send"; template = "activation_mail"; to = "{{email}}"; },\n           { action = "reply"; code = "EMAIL_PENDING_ACTIVATION"; } ); },',
         '  { on = "register_email"; from = "pending"; to = "hold";\n    do = ( { action = "reply"; code = "EMAIL_PENDING_ACTIVATION"; } ); },\n'
         '  { on = "register_email"; from = "hold"; to = "expired";\n    do = ( { action = "reply"; code = "EMAIL_PENDING_ACTIVATION"; } ); },')]})
    eng = Engine(ctx, overrides=["engine.workflows=%s" % wf]).start()
    api = eng.api()
    acct = api.result("register_email", email="c@example.com", password=PASSWORD)["account"]
    assert api.result("register_email", email="c@example.com",
                      password=PASSWORD)["code"] == "EMAIL_PENDING_ACTIVATION"
    assert api.account(acct)["workflows"]["activation"] == "hold"
    old = api.account(acct)["versions"]["activation"]
    eng.stop()
    # the operator removes "hold" again and restarts
    path = os.path.join(wf, "activation.wf")
    edit(path, '\n  hold    = { status = "pending_activation"; };', "")
    edit(path, '  { on = "register_email"; from = "pending"; to = "hold";', '  { on = "register_email"; from = "pending";')
    edit(path, '  { on = "register_email"; from = "hold"; to = "expired";\n    do = ( { action = "reply"; code = "EMAIL_PENDING_ACTIVATION"; } ); },\n', "")
    eng.start()
    api = eng.api()
    acc = api.account(acct)
    assert acc["workflows"]["activation"] == "hold" and acc["versions"]["activation"] == old, acc
    # the old version's transition out of hold runs; expired is in the newest
    r = api.result("register_email", email="c@example.com", password=PASSWORD)
    assert r["code"] == "EMAIL_PENDING_ACTIVATION" and r["account"] == acct, r
    acc = api.account(acct)
    assert acc["workflows"]["activation"] == "expired", acc
    assert acc["versions"]["activation"] != old, acc
    assert "loaded again from the store" in eng.log()
    assert "no longer exists" not in eng.log()
    eng.stop()


def test_timer_fires_after_restart(ctx):
    """A timer that fell due while the engine was down fires at start."""
    wf = wf_copy(ctx, {"activation.wf": [
        ('timers = ( { after = "1d"; to = "expired"; } )', 'timers = ( { after = "2s"; to = "expired"; } )')]})
    eng = Engine(ctx, overrides=["engine.workflows=%s" % wf]).start()
    api = eng.api()
    acct = api.result("register_email", email="d@example.com", password=PASSWORD)["account"]
    assert api.account(acct)["workflows"]["activation"] == "pending"
    eng.stop()
    time.sleep(2.5)  # the engine is down while the timer falls due
    eng.start()
    api = eng.api()
    wait_until(lambda: api.account(acct)["workflows"]["activation"] == "expired", timeout=10,
               what="the expiry timer to fire after the restart")
    assert api.result("activate", token=re.search(
        r"token=([A-Za-z0-9_-]+)", spool_to(eng.spool_dir, "d@example.com")[0][2]).group(1))["code"] == "CODE_EXPIRED"
    # a new link brings it back to pending, with a new timer
    assert api.result("resend_activation", email="d@example.com")["code"] == "OK"
    assert api.account(acct)["workflows"]["activation"] == "pending"
    eng.stop()


def test_batch_api_and_enqueue(ctx):
    eng = Engine(ctx).start()
    api = eng.api()
    lines = [json.dumps({"type": "send_code", "args": {"phone": "1380013%04d" % i, "purpose": "register"}})
             for i in range(5)]
    lines.insert(2, "{not json")
    lines.insert(4, json.dumps({"type": "send_code", "args": {"phone": "123", "purpose": "register"}}))
    lines.insert(5, "")
    st, body, hdrs = api.request("POST", "/v1/jobs/batch", "\n".join(lines) + "\n", raw=True)
    assert st == 200, (st, body)
    out = [json.loads(l) for l in body.splitlines()]
    assert [o["line"] for o in out] == [1, 2, 3, 4, 5, 7, 8], out
    assert out[2]["error"]["code"] == "MALFORMED_JSON"
    assert out[4]["error"]["field"] == "args.phone"
    ok = [o for o in out if "id" in o]
    assert len(ok) == 5
    for o in ok:
        st, view = api.job(o["id"])
        assert st == 200 and view["result"]["code"] == "OK", view
    # regflowctl enqueue: a file larger than one chunk, result lines numbered as the file
    path = os.path.join(ctx.tmp, "conscripts.ndjson")
    with open(path, "w") as f:
        for i in range(1203):
            if i == 700:
                f.write('{"type": "nope", "args": {}}\n')
            else:
                f.write(json.dumps({"type": "send_code",
                                    "args": {"phone": "1391%07d" % i, "purpose": "register"}}) + "\n")
    r = run_tool(ctx, "regflowctl", "enqueue", "--front", "conscript", path,
                 overrides=["engine.listen=127.0.0.1:%d" % eng.port,
                            "api.tokens_file=%s" % os.path.join(harness.ROOT, "conf", "tokens")], timeout=120)
    assert r.returncode == 1, (r.returncode, r.stderr)  # one line rejected
    res = [json.loads(l) for l in r.stdout.splitlines()]
    assert len(res) == 1203
    assert [x["line"] for x in res] == list(range(1, 1204))
    assert res[700]["error"]["code"] == "UNKNOWN_TYPE"
    assert all("id" in x for i, x in enumerate(res) if i != 700)
    sms = [m for m in spool_messages(eng.spool_dir) if m[1]["to"].startswith("1391")]
    assert len(sms) == 1202, len(sms)
    # the engine's counters for Prometheus, without a token
    st, text, hdrs = Api(eng.port, None).request("GET", "/metrics", raw=True)
    assert st == 200 and hdrs["content-type"].startswith("text/plain"), (st, hdrs)
    done = int(re.search(r"^regflow_jobs_done_total (\d+)$", text, re.M).group(1))
    assert done >= 1207, text
    assert re.search(r"^# TYPE regflow_store_commits_total counter$", text, re.M), text
    eng.stop()


def test_crash_stream_exactly_once(ctx):
    """SIGKILL at random moments under a stream of jobs: every job that got a
    202 is done exactly once in effect, and each message is in the spool once."""
    eng = Engine(ctx).start()
    acked = []          # (job id, kind, address)
    lock = threading.Lock()
    stop = threading.Event()
    seq = [0]

    def client(n):
        api = Api(eng.port)
        api.timeout = 5
        while not stop.is_set():
            with lock:
                seq[0] += 1
                i = seq[0]
            if i % 2:
                kind, addr = "email", "crash%05d@example.com" % i
                job = ("register_email", {"email": addr, "password": PASSWORD})
            else:
                kind, addr = "sms", "1370%07d" % i
                job = ("send_code", {"phone": addr, "purpose": "register"})
            try:
                st, body = api.post_job(*job)
            except Exception:
                api.close()
                time.sleep(0.05)
                continue
            if st == 202:
                with lock:
                    acked.append((body["id"], kind, addr))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    rnd = random.Random(int(os.environ.get("REGFLOW_SEED", "7")))
    for _ in range(4):
        time.sleep(rnd.uniform(0.2, 0.8))
        eng.kill()
        eng.start()
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) > 20, "too few jobs acknowledged: %d" % len(acked)
    api = Api(eng.port)

    def all_done():
        for jid, _, _ in acked:
            st, view = api.job(jid)
            assert st == 200, (jid, st, view)
            if view["state"] != "done":
                return False
        return True
    wait_until(all_done, timeout=60, what="every acknowledged job to be done")
    msgs = spool_messages(eng.spool_dir)
    by_to = {}
    for _, env, _ in msgs:
        by_to.setdefault(env["to"], []).append(env["id"])
    ids = [env["id"] for _, env, _ in msgs]
    assert len(ids) == len(set(ids)), "a message id twice in the spool"
    for jid, kind, addr in acked:
        st, view = api.job(jid)
        assert view["result"]["code"] == "OK", (addr, view)
        assert len(by_to.get(addr, [])) == 1, "%s: %d messages" % (addr, len(by_to.get(addr, [])))
    eng.stop()
    # no message without its state change: every address in the spool has
    # exactly one account (read offline from the database)
    for to in by_to:
        col = "email" if "@" in to else "phone"
        r = run_tool(ctx, "regflowctl", "store", "find", col, to, conf_file=eng.conf_file,
                     overrides=eng.overrides)
        assert r.returncode == 0, r.stderr
        keys = [k for k in r.stdout.split() if k.startswith("a:")]
        assert len(keys) == 1, (to, r.stdout)


def test_regflowctl_account(ctx):
    """The operator looks an account up by id: fields, workflow states, inbox."""
    eng = Engine(ctx).start()
    api = eng.api()
    aid = api.result("send_code", phone="13800138000", purpose="register")["account"]
    ov = ["engine.listen=127.0.0.1:%d" % eng.port,
          "api.tokens_file=%s" % os.path.join(harness.ROOT, "conf", "tokens")]
    r = run_tool(ctx, "regflowctl", "account", aid, overrides=ov)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^status +pending_code$", r.stdout, re.M), r.stdout
    assert re.search(r"^workflow +phone_registration: code_sent$", r.stdout, re.M), r.stdout
    r = run_tool(ctx, "regflowctl", "account", "--json", aid, overrides=ov)
    a = json.loads(r.stdout)
    assert a["id"] == aid and a["phone"] == "13800138000" and a["inbox"] == [], a
    assert "pwhash" not in a
    r = run_tool(ctx, "regflowctl", "account", "0000000000000", overrides=ov)
    assert r.returncode == 1 and "404" in r.stderr, (r.returncode, r.stderr)
    r = run_tool(ctx, "regflowctl", "account", "not-an-id", overrides=ov)
    assert r.returncode == 2 and "usage" in r.stderr
    eng.stop()


def test_full_disk_503_then_recovers(ctx):
    """SPEC 3: when the store cannot take a job, 503 and nothing half-written;
    the engine keeps serving and takes jobs again once there is room."""
    import engine
    if engine.on_pg():
        raise harness.Skip("fills the Tokyo Cabinet file's disk (PostgreSQL keeps its own)")
    mnt = os.path.join(ctx.tmp, "small")
    os.mkdir(mnt)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", mnt],
                      capture_output=True).returncode != 0:
        raise harness.Skip("cannot mount a small tmpfs here (needs root)")
    ctx.cleanups.append(lambda: subprocess.run(["umount", "-l", mnt]))
    # no reserve: the writes themselves fail (the reserve's refusal: test_overload)
    eng = Engine(ctx, db=os.path.join(mnt, "db.tct"),
                 overrides=["engine.disk_reserve_mib=0"]).start()
    api = eng.api()
    filler = os.path.join(mnt, "filler")
    with open(filler, "wb") as f:  # leave a little room only
        try:
            f.write(b"\0" * (40 << 20))
        except OSError:
            pass
    codes = []
    for i in range(400):
        st, body = api.post_job("send_code", {"phone": "1350%07d" % i, "purpose": "register"})
        codes.append(st)
        if st == 503:
            assert body["error"]["code"] == "UNAVAILABLE", body
            break
    assert 503 in codes, "the store never ran out of room: %s" % codes[-5:]
    assert eng.health()["status"] == "ok"  # still serving
    os.unlink(filler)
    def works():
        st, body = api.post_job("send_code", {"phone": "13599999999", "purpose": "register"},
                                wait=2000)
        return st == 200 and body["result"]["code"] == "OK"
    wait_until(works, timeout=15, what="the engine to take jobs again after space was freed")
    # every job that got a 202 is done
    eng.stop()


def test_retention_purges_finished_jobs(ctx):
    """engine.retention: a finished job and its idempotency key are answered
    for that long, then purged (scrubbed); accounts stay."""
    eng = Engine(ctx, overrides=["engine.retention=1s"]).start()
    api = eng.api()
    st, body = api.post_job("send_code", {"phone": "13700000001", "purpose": "register"},
                            key="k-1", wait=5000)
    assert st == 200, body
    jid, acct = body["id"], body["result"]["account"]
    assert api.job(jid)[0] == 200
    wait_until(lambda: api.job(jid)[0] == 404, timeout=15, what="the job to be purged")
    assert eng.health()["jobs"]["purged"] >= 2
    # the key is free again: a new job; the account is still there
    st, body = api.post_job("send_code", {"phone": "13700000001", "purpose": "register"},
                            key="k-1", wait=5000)
    assert st == 200 and body["id"] != jid, body
    assert api.account(acct)["phone"] == "13700000001"
    eng.stop()
