"""The store on PostgreSQL (issue 13, first part): the store suite of the
unit tests (the same behaviour as Tokyo Cabinet and the in-memory store,
plus the PostgreSQL refusals) run against a private cluster, by the plain
and the sanitized unit-test programs; the schema as regflowctl's migrate
makes it (one table, typed indexed columns, the key in byte order)."""
import os
import subprocess
import engine
import harness

from harness import ROOT
from pg import Cluster


def run_suite(exe, conninfo):
    env = dict(os.environ, REGFLOW_PG_CONNINFO=conninfo, CK_RUN_SUITE="store",
               CK_FORK="yes")
    return subprocess.run([exe], capture_output=True, text=True, env=env, timeout=300)


def test_store_suite_on_postgresql(ctx):
    pg = Cluster(ctx).start()
    ran = 0
    for build in ("build", "build-san"):
        exe = os.path.join(ROOT, build, "unit-tests")
        if not os.path.exists(exe):
            continue
        r = run_suite(exe, pg.conninfo)
        out = "\n".join(line for line in (r.stdout + r.stderr).splitlines()
                        if "NOTICE:" not in line)  # (migrate's, again and again)
        assert r.returncode == 0 and "Failures: 0, Errors: 0" in out, out[-3000:]
        # every backend's run counts: mem, tc and pg for three tests, and the pg refusals
        assert "Checks: 17," in out, out[-3000:]
        ran += 1
    assert ran >= 1
    # the schema: one table with typed, indexed columns; the key in byte order
    r = pg.psql("SELECT column_name || ':' || data_type FROM information_schema.columns "
                "WHERE table_name = 'regflow_records' ORDER BY ordinal_position")
    cols = r.stdout.split()
    assert cols[:2] == ["key:text", "rec:jsonb"] and "c_due:bigint" in cols \
        and "c_email:text" in cols, cols
    r = pg.psql("SELECT indexname FROM pg_indexes WHERE tablename = 'regflow_records'")
    assert "regflow_records_email" in r.stdout and "regflow_records_due" in r.stdout, r.stdout
    r = pg.psql("SELECT version FROM regflow_schema")
    assert r.stdout.strip() == "2", r.stdout


def test_engine_on_postgresql(ctx):
    """regflowd with engine.store = "pg": refused until the schema exists
    (the message names the command), then the flows run on it and survive a
    SIGKILL; a conninfo with a password is refused."""
    from engine import Engine
    from flows import Site, register_email, with_basic_info
    from harness import run_tool
    pg = Cluster(ctx).start()
    ov = ["engine.store=pg", "engine.pg.conninfo=" + pg.conninfo]
    eng = Engine(ctx, name="regflowd-noschema", overrides=ov)
    try:
        eng.start(timeout=10)
        assert False, "started without a schema"
    except AssertionError as e:
        assert "regflowctl store migrate" in str(e), e
    r = run_tool(ctx, "regflowctl", "store", "migrate", overrides=ov)
    assert r.returncode == 0 and "schema is in place" in r.stdout, (r.stdout, r.stderr)
    site = Site(ctx, gateway_=False, engine_overrides=ov)
    aid = register_email(site, "pg.user@example.edu.cn")
    with_basic_info(site, aid)
    acc = site.api().request("GET", "/v1/accounts/" + aid)[1]
    assert acc["status"] == "active" and acc["workflows"]["basic_info"] == "done", acc
    site.close_apis()
    site.eng.kill()
    site.eng.start()
    acc = site.api().request("GET", "/v1/accounts/" + aid)[1]
    assert acc["status"] == "active" and acc["name"], acc
    r = site.api().result("register_email", email="pg.user@example.edu.cn",
                          password="correct horse battery")
    assert r["code"] == "EMAIL_REGISTERED", r
    # a hot backup is PostgreSQL's own tools' job: said so
    r = run_tool(ctx, "regflowctl", "store", "backup", conf_file=site.eng.conf_file,
                 overrides=site.eng.overrides)
    assert r.returncode == 1 and "pg_basebackup" in r.stderr, (r.stdout, r.stderr)
    # several engines share a database, each its own node: a second one with
    # the same engine.node is refused (test_multi_engine.py runs two)
    two = Engine(ctx, name="regflowd-two", overrides=ov, db=os.path.join(ctx.tmp, "two.tct"),
                 spool_dir=os.path.join(ctx.tmp, "spool2"))
    try:
        two.start(timeout=15)
        assert False, "a second engine started on the same database and node"
    except AssertionError as e:
        assert "engine.node 0: node 0 is held by another regflowd" in str(e), e
    n = pg.psql("SELECT count(*) FROM regflow_records WHERE c_email = "
                "'pg.user@example.edu.cn'").stdout.strip()
    assert n == "1", n
    bad = Engine(ctx, name="regflowd-pw", overrides=[
        "engine.store=pg", "engine.pg.conninfo=%s password=x" % pg.conninfo])
    try:
        bad.start(timeout=10)
        assert False, "started with a password in its conninfo"
    except AssertionError as e:
        assert "password file" in str(e), e


def test_postgresql_away_then_back(ctx):
    """PostgreSQL stopped under an engine: jobs are answered 503 (nothing
    written, nothing lost), health still answers; PostgreSQL back: the same
    engine takes jobs again without a restart of its own."""
    from flows import Site, register_email
    from harness import run_tool, wait_until
    pg = Cluster(ctx).start()
    ov = ["engine.store=pg", "engine.pg.conninfo=" + pg.conninfo]
    assert run_tool(ctx, "regflowctl", "store", "migrate", overrides=ov).returncode == 0
    site = Site(ctx, gateway_=False, engine_overrides=ov)
    a = register_email(site, "before@example.edu.cn")
    pg.halt()
    st, body = site.api().post_job("register_email", {"email": "away@example.edu.cn",
                                                      "password": "correct horse battery"})
    assert st == 503, (st, body)
    assert site.eng.health()["status"], "health answers while the database is away"
    pg.resume()

    def taken():
        s, b = site.api().post_job("register_email", {"email": "after@example.edu.cn",
                                                      "password": "correct horse battery"},
                                   wait=5000)
        return s in (200, 202) and b
    wait_until(taken, 30, interval=0.5, what="jobs taken again once PostgreSQL is back")
    acc = site.api().request("GET", "/v1/accounts/" + a)[1]
    assert acc["status"] == "active", acc
    assert site.eng.running()


def test_store_copy_tc_to_pg_and_back(ctx):
    """regflowctl store copy: a Tokyo Cabinet store with accounts into
    PostgreSQL (verified), the engine on it finds them; a target that is not
    empty is refused; and back into a new Tokyo Cabinet file."""
    if engine.on_pg():
        raise harness.Skip("copies a Tokyo Cabinet store: runs in the Tokyo Cabinet pass")
    from flows import Site, register_email
    from harness import run_tool
    site = Site(ctx, gateway_=False)
    ids = [register_email(site, "copy%d@example.edu.cn" % i) for i in range(3)]
    site.close_apis()
    assert site.eng.stop() == 0
    pg = Cluster(ctx).start()
    ov = ["engine.store=pg", "engine.pg.conninfo=" + pg.conninfo]
    assert run_tool(ctx, "regflowctl", "store", "migrate", overrides=ov).returncode == 0
    r = run_tool(ctx, "regflowctl", "store", "copy", "tc:" + site.eng.db, "pg:" + pg.conninfo)
    assert r.returncode == 0 and "verified (count and checksum)" in r.stdout, (r.stdout, r.stderr)
    n = int(r.stdout.split()[1])
    r = run_tool(ctx, "regflowctl", "store", "copy", "tc:" + site.eng.db, "pg:" + pg.conninfo)
    assert r.returncode == 1 and "the target must be empty" in r.stderr, r.stderr
    back = os.path.join(ctx.tmp, "back.tct")
    r = run_tool(ctx, "regflowctl", "store", "copy", "pg:" + pg.conninfo, "tc:" + back)
    assert r.returncode == 0 and ("copied %d record(s)" % n) in r.stdout, (r.stdout, r.stderr)
    # the engine on PostgreSQL has the accounts (their code key file copied with them)
    from engine import Engine
    eng = Engine(ctx, name="regflowd-pg", overrides=ov + ["engine.code_key_file=" +
                                                          site.eng.code_key]).start()
    api = eng.api()
    for a in ids:
        st, acc = api.request("GET", "/v1/accounts/" + a)[:2]
        assert st == 200 and acc["status"] == "active", (st, acc)
    r = api.result("register_email", email="copy1@example.edu.cn",
                   password="correct horse battery")
    assert r["code"] == "EMAIL_REGISTERED", r


def test_migrate_brings_version_1_up(ctx):
    """A database of schema version 1 (one commit row for the one engine) is
    refused by the engine, naming the versions; regflowctl store migrate
    brings it to version 2 (a commit row per node) and the engine runs."""
    from engine import Engine
    from harness import run_tool
    pg = Cluster(ctx).start()
    ov = ["engine.store=pg", "engine.pg.conninfo=" + pg.conninfo]
    assert run_tool(ctx, "regflowctl", "store", "migrate", overrides=ov).returncode == 0
    r = pg.psql("UPDATE regflow_schema SET version = 1; DROP TABLE regflow_commits; "
                "CREATE TABLE regflow_commit (n bigint NOT NULL); "
                "INSERT INTO regflow_commit VALUES (0)")
    assert r.returncode == 0, r.stderr
    eng = Engine(ctx, name="regflowd-v1", overrides=ov)
    try:
        eng.start(timeout=10)
        assert False, "started on a version 1 schema"
    except AssertionError as e:
        assert "(version 1) is not this program's (version 2)" in str(e), e
    r = run_tool(ctx, "regflowctl", "store", "migrate", overrides=ov)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert pg.psql("SELECT version FROM regflow_schema").stdout.strip() == "2"
    assert pg.psql("SELECT to_regclass('regflow_commit')").stdout.strip() == ""
    eng.start(timeout=10)
    r = eng.api().result("send_code", phone="13912340000", purpose="register")
    assert r["code"] == "OK", r
