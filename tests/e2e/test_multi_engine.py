"""Several engines on one PostgreSQL (issue 13, point 2): two regflowd, each
with its own node number, port and spool, on one private cluster, give the
answers one engine would.  The races are run for real (threads posting the
same thing to both engines at once); what one engine leaves when it is
killed (jobs acknowledged and queued, messages committed and not spooled)
is finished by the other; a due timer fires once.  The database itself is
the witness: psql counts accounts, job runs (the history's "job" entries)
and messages (its "message" entries) directly."""
import os
import threading
import time

from engine import Api, Engine, on_pg, spool_messages
from harness import Skip, run_tool, wait_until
from pg import Cluster


def engines(ctx, a_extra=(), b_extra=()):
    """A private cluster with the schema, and engines on nodes 1 and 2 (the
    same code key file: codes made on one are checked on the other)."""
    if on_pg():  # (the PostgreSQL pass of the suite: this test runs in the first)
        raise Skip("runs its own cluster in the Tokyo Cabinet pass")
    pg = Cluster(ctx).start()
    ov = ["engine.store=pg", "engine.pg.conninfo=" + pg.conninfo, "engine.pg.sweep=300ms"]
    r = run_tool(ctx, "regflowctl", "store", "migrate", overrides=ov)
    assert r.returncode == 0, (r.stdout, r.stderr)
    a = Engine(ctx, name="node1", db=os.path.join(ctx.tmp, "a.tct"),
               spool_dir=os.path.join(ctx.tmp, "spool-a"),
               overrides=ov + ["engine.node=1"] + list(a_extra)).start()
    b = Engine(ctx, name="node2", db=os.path.join(ctx.tmp, "b.tct"),
               spool_dir=os.path.join(ctx.tmp, "spool-b"),
               overrides=ov + ["engine.node=2", "engine.code_key_file=" + a.code_key] +
               list(b_extra)).start()
    return pg, a, b


def together(calls):
    """Run the calls at the same moment (a barrier), each on its own thread: their results."""
    out = [None] * len(calls)
    gate = threading.Barrier(len(calls))

    def one(i, fn):
        gate.wait()
        out[i] = fn()
    ts = [threading.Thread(target=one, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    return out


def sql_rows(pg, sql):
    r = pg.psql(sql)
    assert r.returncode == 0, r.stderr
    return [line.split("|") for line in r.stdout.splitlines() if line]


def runs_twice(pg):
    """Jobs with more than one "job" entry in a history: a job run twice."""
    return sql_rows(pg, "SELECT rec->>'job', count(*) FROM regflow_records WHERE key LIKE 'h:%' "
                    "AND rec->>'what' = 'job' GROUP BY 1 HAVING count(*) > 1")


def stat(eng, name):
    return eng.health()["jobs"].get(name, 0)


def test_two_engines_answer_as_one(ctx):
    """Register on one engine, activate through the other; the same address
    registered on both at the same moment makes one account (one answer OK,
    the other as for an address pending activation); one idempotency key
    used on both at once runs one job, and both answer with its id; a second
    engine with the same node number is refused."""
    from flows import PASSWORD
    from engine import token_in
    pg, a, b = engines(ctx)
    aa, bb = a.api(), b.api()
    r = aa.result("register_email", email="one@example.edu.cn", password=PASSWORD)
    assert r["code"] == "OK", r
    tok = token_in(spool_messages(a.spool_dir)[-1][2])
    r = bb.result("activate", token=tok)
    assert r["code"] == "OK" and r["account"] == aa.account(r["account"])["id"], r
    assert aa.account(r["account"])["status"] == "active"
    for i in range(6):
        addr = "race%d@example.edu.cn" % i
        got = together([lambda e=e: Api(e.port).result("register_email", email=addr,
                                                         password=PASSWORD)
                        for e in (a, b)])
        assert sorted(g["code"] for g in got) == ["EMAIL_PENDING_ACTIVATION", "OK"], got
        n = sql_rows(pg, "SELECT count(*) FROM regflow_records WHERE c_kind = 'account' AND "
                     "c_email = '%s'" % addr)
        assert n == [["1"]], (addr, n)
    for i in range(6):
        key = "same-key-%d" % i
        got = together([lambda e=e: Api(e.port).post_job(
            "send_code", {"phone": "1390000%04d" % i, "purpose": "register"}, key=key)
            for e in (a, b)])
        assert all(st in (200, 202) for st, _ in got), got
        assert got[0][1]["id"] == got[1][1]["id"], got
        n = sql_rows(pg, "SELECT count(*) FROM regflow_records WHERE c_kind = 'job' AND "
                     "rec->>'key' = '%s'" % key)
        assert n == [["1"]], (key, n)
    wait_until(lambda: stat(a, "queued") + stat(b, "queued") == 0, 20, what="jobs run")
    assert runs_twice(pg) == []
    print("# conflicts (groups written again): node1 %d, node2 %d"
          % (stat(a, "conflicts"), stat(b, "conflicts")))
    # a third engine that says it is node 1 is refused
    c = Engine(ctx, name="node1-again", db=os.path.join(ctx.tmp, "c.tct"),
               spool_dir=os.path.join(ctx.tmp, "spool-c"),
               overrides=["engine.store=pg", "engine.pg.conninfo=" + pg.conninfo,
                          "engine.node=1"])
    try:
        c.start(timeout=15)
        assert False, "a second engine started as node 1"
    except AssertionError as e:
        assert "node 1 is held by another regflowd" in str(e), e


def burst(eng, n, phone0, threads=8):
    """n send_code jobs posted to eng as fast as it takes them, without
    waiting for their runs: the ids of those accepted."""
    ids, lock = [], threading.Lock()

    def worker(k):
        api = Api(eng.port, timeout=10)
        for i in range(k, n, threads):
            try:
                st, body = api.post_job("send_code", {"phone": "%d" % (phone0 + i),
                                                      "purpose": "register"})
            except OSError:
                api.close()
                continue
            if st in (200, 202):
                with lock:
                    ids.append(body["id"])
        api.close()
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    return ids


def all_done(api, ids):
    for jid in ids:
        st, body = api.job(jid)
        if st != 200 or body.get("state") not in ("done", "failed"):
            return False
    return True


def messages_kept(pg, spools):
    """Every message a job committed (its history's "message" entry) is in a spool."""
    sent = {r[0] for r in sql_rows(pg, "SELECT rec->>'spool' FROM regflow_records WHERE key "
                                   "LIKE 'h:%' AND rec->>'what' = 'message'")}
    have = {m[1]["id"] for s in spools for m in spool_messages(s)}
    return sent - have, sent, have


def test_a_killed_engine_leaves_its_work_to_the_other(ctx):
    """Node 1 runs one job a group, so that most of a burst it acknowledged
    waits queued on disk; it is killed (SIGKILL) the moment the burst is
    answered.  Node 2 finds node 1's lock free, adopts its queued jobs and
    its committed messages, runs and spools them: every acknowledged job
    done, each once, every committed message in a spool, and the spooled
    messages' ids still name node 1.  Node 1 started again takes nothing
    twice."""
    pg, a, b = engines(ctx, a_extra=["engine.group_commit=1"])
    ids = burst(a, 120, 13600000000)
    a.kill()
    assert len(ids) >= 100, len(ids)
    left = sql_rows(pg, "SELECT count(*) FROM regflow_records WHERE c_jstate = 'queued'")
    assert int(left[0][0]) > 0, "nothing was left queued: the test proves nothing"
    bb = b.api()
    wait_until(lambda: all_done(bb, ids), 60, interval=0.3, what="node 2 to run node 1's jobs")
    assert stat(b, "adopted") >= int(left[0][0]), (stat(b, "adopted"), left)
    assert runs_twice(pg) == []
    wait_until(lambda: not messages_kept(pg, [a.spool_dir, b.spool_dir])[0], 20,
               what="node 1's committed messages spooled by node 2")
    in_b = [m[1]["id"] for m in spool_messages(b.spool_dir)]
    assert any(mid[10] == "1" for mid in in_b), "no message of node 1 spooled by node 2"
    a.start()
    time.sleep(1)
    assert all_done(a.api(), ids)
    assert runs_twice(pg) == []
    assert "adopted" in b.log() and "node 1" in b.log()


def test_kill_one_engine_repeatedly_under_load(ctx):
    """Load on both engines the whole time; node 1 killed with SIGKILL and
    started again five times.  At the end every job either engine
    acknowledged has run, none twice, and no committed message is missing
    from the spools."""
    pg, a, b = engines(ctx, a_extra=["engine.group_commit=4"])
    stop, ids, lock = threading.Event(), [], threading.Lock()

    def load(eng, phone0):
        api, i = Api(eng.port, timeout=5), 0
        while not stop.is_set():
            i += 1
            try:
                st, body = api.post_job("send_code", {"phone": "%d" % (phone0 + i),
                                                      "purpose": "register"})
            except OSError:  # node 1 is down: not accepted, nothing to check
                api.close()
                time.sleep(0.05)
                continue
            if st in (200, 202):
                with lock:
                    ids.append(body["id"])
    ts = [threading.Thread(target=load, args=(e, p)) for e, p in
          ((a, 13500000000), (a, 13510000000), (b, 13520000000), (b, 13530000000))]
    for t in ts:
        t.start()
    try:
        for _ in range(5):
            time.sleep(0.8)
            a.kill()
            time.sleep(0.6)
            a.start()
    finally:
        stop.set()
        for t in ts:
            t.join(30)
    assert len(ids) > 100, len(ids)
    bb = b.api()
    wait_until(lambda: all_done(bb, ids), 60, interval=0.3, what="every accepted job run")
    assert runs_twice(pg) == []
    wait_until(lambda: not messages_kept(pg, [a.spool_dir, b.spool_dir])[0], 20,
               what="every committed message spooled")
    missing, sent, have = messages_kept(pg, [a.spool_dir, b.spool_dir])
    print("# %d jobs accepted, %d messages, adopted by node 2: %d, conflicts %d/%d"
          % (len(ids), len(sent), stat(b, "adopted"), stat(a, "conflicts"),
             stat(b, "conflicts")))


def test_a_due_timer_fires_once(ctx):
    """Accounts pending activation on both engines; both started again a
    day and an hour later (libfaketime): every account's one-day timer
    fires once, on one engine or the other."""
    from flows import PASSWORD
    pg, a, b = engines(ctx)
    n = 16
    for i in range(n):
        eng = a if i % 2 else b
        r = eng.api().result("register_email", email="t%d@example.edu.cn" % i,
                             password=PASSWORD)
        assert r["code"] == "OK", r
    for e in (a, b):
        assert e.stop() == 0
        e.faketime = "+25h"
    together([a.start, b.start])

    def expired():
        return sql_rows(pg, "SELECT count(*) FROM regflow_records WHERE key LIKE 'h:%' AND "
                        "rec->>'what' = 'state' AND rec->>'to' = 'expired'")[0][0]
    wait_until(lambda: int(expired()) >= n, 30, what="the timers to fire")
    time.sleep(1)  # a second firing would show by now
    assert int(expired()) == n, expired()
    assert stat(a, "timers_fired") + stat(b, "timers_fired") == n, (
        stat(a, "timers_fired"), stat(b, "timers_fired"))


def test_workflow_sets_agree(ctx):
    """Each node runs the workflows in its own folder.  A node whose set
    differs from a running node's is refused at start; a reload on one node
    is followed by the others (each reloads its own folder); a node whose
    folder was not updated refuses jobs (503, Retry-After) until it is, and
    then follows by itself."""
    import shutil
    import signal
    from engine import WORKFLOWS
    folders = {}
    for n in ("a", "b", "c"):
        folders[n] = os.path.join(ctx.tmp, "wf-" + n)
        shutil.copytree(WORKFLOWS, folders[n])
    pg, a, b = engines(ctx, a_extra=["engine.workflows=" + folders["a"]],
                       b_extra=["engine.workflows=" + folders["b"]])

    def edit(n, line):
        with open(os.path.join(folders[n], "activation.wf"), "a") as f:
            f.write("# %s\n" % line)

    def version(eng):
        st, body, _ = eng.api("ops").request("GET", "/v1/workflows")
        assert st == 200, (st, body)
        return [w["current"] for w in body["workflows"] if w["name"] == "activation"][0]
    assert version(a) == version(b)
    # a third node with other files is refused at start
    edit("c", "changed on c only")
    c = Engine(ctx, name="node3", db=os.path.join(ctx.tmp, "c.tct"),
               spool_dir=os.path.join(ctx.tmp, "spool-c"),
               overrides=["engine.store=pg", "engine.pg.conninfo=" + pg.conninfo,
                          "engine.node=3", "engine.workflows=" + folders["c"]])
    try:
        c.start(timeout=15)
        assert False, "a node with other workflows started"
    except AssertionError as e:
        assert "runs other workflows" in str(e), e
    # both folders updated, one node reloaded: the other follows
    edit("a", "release 2")
    edit("b", "release 2")
    a.proc.send_signal(signal.SIGHUP)
    b.wait_log(r"now runs the workflows of node 1", timeout=15)
    assert version(a) == version(b)
    # only node 1's folder updated: node 2 refuses jobs until its folder is too
    edit("a", "release 3")
    a.proc.send_signal(signal.SIGHUP)
    b.wait_log(r"differ from node 1's", timeout=15)
    st, body, hdrs = b.api().request("POST", "/v1/jobs", {
        "type": "send_code", "args": {"phone": "13911112222", "purpose": "register"}})
    assert st == 503 and "differ" in body["error"]["message"], (st, body)
    assert int(hdrs["retry-after"]) >= 1, hdrs
    st, _, _ = a.api().request("POST", "/v1/jobs", {
        "type": "send_code", "args": {"phone": "13911113333", "purpose": "register"}})
    assert st in (200, 202), st
    edit("b", "release 3")
    wait_until(lambda: b.log().count("now runs the workflows of node 1") >= 2, 15,
               what="node 2 to follow once its folder matches")
    assert version(a) == version(b)
    st, _, _ = b.api().request("POST", "/v1/jobs", {
        "type": "send_code", "args": {"phone": "13911112222", "purpose": "register"}})
    assert st in (200, 202), st
