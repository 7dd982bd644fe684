"""The store's file: one B+ tree (records and index entries together), and
the migration of an older regflow's table database (regflowctl store
migrate): the engine refuses the old file and names the command; the
migration writes a new file, verifies it, renames it into place and keeps
the old one; what the old file held - accounts, a timer that fell due, an
undelivered outbox message - is all there afterwards."""
import os
import subprocess
import engine
import harness

from engine import Engine
from harness import run_tool, wait_until


ACCOUNT = "01M8A0000000A"
TIMER = "01M8A0000000B"
OUTBOX = "01M8A0000000C"


def old_store(path):
    """A table database as regflow wrote it before: an account waiting for
    its activation, the timer of that wait (due long ago), and a committed
    outbox message never spooled (one column per field, as then)."""
    def tct(*args):
        subprocess.run(["tctmgr"] + list(args), check=True, capture_output=True)
    tct("create", path)
    for col in ("kind", "email", "phone", "idno", "jstate", "account"):
        tct("setindex", path, col)
    for col in ("due", "purge"):
        tct("setindex", "-it", "decimal", path, col)
    tct("put", path, "a:" + ACCOUNT, "kind", "account", "id", ACCOUNT, "email",
        "old.one@example.com", "login", "old.one@example.com", "reg_by", "email", "status",
        "pending_activation", "wf.activation", "pending", "created", "1700000000000",
        "pwhash", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA")
    tct("put", path, "m:" + TIMER, "kind", "timer", "account", ACCOUNT, "wf", "activation",
        "state", "pending", "idx", "0", "due", "1700086400000")
    tct("put", path, "o:" + OUTBOX, "kind", "outbox", "id", OUTBOX, "channel", "email", "to",
        "old.one@example.com", "from_name", "学信网", "subject", "学信网帐号激活邮件", "body",
        "激活链接", "front", "www", "account", ACCOUNT, "created", "1700000000000",
        "expires", "0")


def test_old_store_refused_then_migrated(ctx):
    if engine.on_pg():
        raise harness.Skip("the Tokyo Cabinet file itself")
    db = os.path.join(ctx.tmp, "db.tct")
    old_store(db)
    eng = Engine(ctx, db=db)
    r = run_tool(ctx, "regflowd", conf_file=eng.conf_file, overrides=eng.overrides, timeout=30)
    assert r.returncode > 0, (r.returncode, r.stderr)
    assert "regflowctl store migrate" in r.stderr and db in r.stderr, r.stderr
    assert not harness.SAN_PATTERNS.search(r.stderr), r.stderr
    before = sorted(f for f in os.listdir(ctx.tmp) if f.startswith("db.tct"))

    r = run_tool(ctx, "regflowctl", "store", "migrate", conf_file=eng.conf_file,
                 overrides=eng.overrides)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert "3 record(s) migrated and verified" in r.stdout, r.stdout
    # the old files are all kept, renamed; the new one is a B+ tree file
    after = sorted(os.listdir(ctx.tmp))
    for f in before:
        assert f.replace("db.tct", "db.tct.old-tct", 1) in after, (f, after)
    with open(db, "rb") as f:
        head = f.read(33)
    assert head.startswith(b"ToKyO CaBiNeT") and head[32] == 1, head
    assert not any(f.startswith("db.tct.idx") for f in after), after

    eng.start()
    api = eng.api()
    # the timer that fell due while nothing ran fires; the message goes out
    wait_until(lambda: api.account(ACCOUNT)["workflows"]["activation"] == "expired", 10,
               what="the old timer to fire")
    acct = api.account(ACCOUNT)
    assert acct["email"] == "old.one@example.com" and "pwhash" not in acct, acct
    wait_until(lambda: os.path.exists(os.path.join(eng.spool_dir, "incoming", OUTBOX)), 10,
               what="the old outbox message in the spool")
    with open(os.path.join(eng.spool_dir, "incoming", OUTBOX), encoding="utf-8") as f:
        text = f.read()
    assert "to: old.one@example.com" in text and text.endswith("激活链接"), text
    # the indexes work: the address is taken
    assert api.result("register_email", email="old.one@example.com",
                      password="correct horse battery")["code"] == "EMAIL_PENDING_ACTIVATION"
    api.close()
    assert eng.stop() == 0
    r = run_tool(ctx, "regflowctl", "store", "migrate", conf_file=eng.conf_file,
                 overrides=eng.overrides)
    assert r.returncode == 0 and "already in the current format" in r.stdout, r.stdout


def test_garbage_is_refused_and_left_alone(ctx):
    if engine.on_pg():
        raise harness.Skip("the Tokyo Cabinet file itself")
    db = os.path.join(ctx.tmp, "db.tct")
    with open(db, "wb") as f:
        f.write(b"not a database at all\n" * 10)
    eng = Engine(ctx, db=db)
    r = run_tool(ctx, "regflowctl", "store", "migrate", conf_file=eng.conf_file,
                 overrides=eng.overrides)
    assert r.returncode == 1 and "not a regflow store" in r.stderr, (r.returncode, r.stderr)
    with open(db, "rb") as f:
        assert f.read().startswith(b"not a database"), "a file that is not ours was changed"
    r = run_tool(ctx, "regflowd", conf_file=eng.conf_file, overrides=eng.overrides, timeout=30)
    assert r.returncode > 0 and "not a Tokyo Cabinet file" in r.stderr, r.stderr


def test_hot_backup_while_the_engine_runs(ctx):
    """regflowctl store backup: the running engine copies its store (0600)
    into engine.backup_dir while jobs keep coming; the copy opens offline
    and holds the accounts made before it; the engine goes on."""
    if engine.on_pg():
        raise harness.Skip("the Tokyo Cabinet file itself")
    import threading
    from flows import Site, register_email
    bdir = os.path.join(ctx.tmp, "backups")
    site = Site(ctx, gateway_=False, engine_overrides=["engine.backup_dir=" + bdir])
    ids = [register_email(site, "bk%d@example.edu.cn" % i) for i in range(5)]
    stop, sent = threading.Event(), []

    def load():  # jobs while the copy is made
        api = site.eng.api()
        i = 0
        while not stop.is_set():
            st, _ = api.post_job("send_code", {"phone": "1390000%04d" % i, "purpose": "register"})
            sent.append(st)
            i += 1
    t = threading.Thread(target=load)
    t.start()
    try:
        r = run_tool(ctx, "regflowctl", "store", "backup", conf_file=site.eng.conf_file,
                     overrides=site.eng.overrides)
    finally:
        stop.set()
        t.join()
    assert r.returncode == 0 and r.stdout.startswith("backup: "), (r.stdout, r.stderr)
    path = r.stdout.split()[1]
    assert os.path.dirname(path) == os.path.realpath(bdir), path
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o600)
    assert not [n for n in os.listdir(bdir) if n.endswith(".part")]
    assert sent and all(s in (200, 202) for s in sent), set(sent)
    # the copy is a whole store of this format: found offline, while the engine still runs
    r = run_tool(ctx, "regflowctl", "store", "find", "email", "bk4@example.edu.cn",
                 overrides=["engine.db=" + path])
    assert r.returncode == 0 and "a:%s" % ids[4] in r.stdout, (r.stdout, r.stderr)
    assert site.api().result("send_code", phone="13911112222", purpose="register")["code"] == "OK"
