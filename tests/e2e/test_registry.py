"""The identity registry check (issue 12): after the basic information the
engine asks the registry, through the spool and the gateway's HTTP client,
whether name and id number belong together, and goes on with the answer.

The registry is a real HTTP/1.1 server in this process on a loopback port
(no Debian package is a national identity registry): it answers from a
table of the people it knows, and can be told to fail with a 503, to answer
slower than gateway.registry.timeout, or to refuse the question (400).
Cases: match (verified), mismatch (IDNO_MISMATCH shown, the user told,
binding waits, set_basic_info open again, then verified), 5xx and timeouts
(pending_verification, retried by the gateway until it answers), a refusal
(asked again an hour later, on a faked clock), an answer that waits in
answered/ while the engine is down, and never an id number in a log, a
history or a kept file."""
import http.server
import json
import os
import subprocess
import threading
import time

from engine import TOKENS_FILE
from flows import Site, register_email
from harness import BIN, free_port, run_tool, wait_until

KNOWN = {"E10000001": "李雷", "E10000002": "韩梅梅", "E10000003": "王芳", "E10000004": "张伟",
         "E10000005": "刘洋"}


class Registry:
    """The registry: POST JSON {name, id_type, id_no, ref} -> {"result": "match"|"mismatch"}."""

    def __init__(self, ctx):
        ctx.cleanups.append(self.close)
        self.mode = "ok"  # ok | 503 | slow | 400
        self.asked = []   # (id_no, name, ref) of every question that reached it
        reg = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                q = json.loads(self.rfile.read(n))
                reg.asked.append((q["id_no"], q["name"], q["ref"]))
                if reg.mode == "slow":
                    time.sleep(1.5)
                if reg.mode == "slower":
                    time.sleep(3)
                if reg.mode in ("503", "400"):
                    self.answer(int(reg.mode), {"error": "busy: " + q["id_no"]})
                    return
                ok = KNOWN.get(q["id_no"]) == q["name"] and q["id_type"] == "passport"
                self.answer(200, {"result": "match" if ok else "mismatch",
                                  "echo": q["id_no"]})

            def answer(self, status, obj):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the gateway gave up waiting (the timeout case)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d/verify" % self.httpd.server_port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def site_with_registry(ctx, reg):
    return Site(ctx, report=True, engine_overrides=["engine.registry=true"],
                gateway_conf={"registry": {"url": reg.url, "timeout": "400ms"}})


def account(site, aid):
    return site.api().request("GET", "/v1/accounts/" + aid)[1]


def wait_identity(site, aid, value, what, timeout=20):
    """The account once its identity field says value."""
    return wait_until(lambda: (lambda x: x.get("identity") == value and x)(account(site, aid)),
                      timeout, what=what)


def basic_info(site, aid, name, id_no, phone="13000000001"):
    return site.api().result("set_basic_info", account=aid, name=name, id_type="passport",
                             id_no=id_no, phone=phone)


def check_files(site):
    """Every file of channel check in the spool, any state: [(state, text)]."""
    out = []
    for st in os.listdir(site.eng.spool_dir):
        d = os.path.join(site.eng.spool_dir, st)
        if st == "tmp" or not os.path.isdir(d):
            continue  # files being written, not a state
        for n in os.listdir(d):
            try:  # the gateway moves files on while we look
                with open(os.path.join(d, n), encoding="utf-8", errors="replace") as f:
                    text = f.read()
                mode = os.stat(os.path.join(d, n)).st_mode & 0o777
            except FileNotFoundError:
                continue
            if "\nchannel: check\n" in text:
                out.append((st, text, mode))
    return out


def no_checks(site):
    """No check file in any state, twice in a row (a file moving between two
    folders while they are listed could be missed once)."""
    return not check_files(site) and not check_files(site)


def no_id_numbers(site, *ids):
    for d in (site.eng, site.gw):
        for i in ids:
            assert i not in d.log(), "%s in %s's log" % (i, d.name)


def test_registry_match_and_mismatch(ctx):
    reg = Registry(ctx)
    site = site_with_registry(ctx, reg)
    a = register_email(site, "li.lei@example.edu.cn")
    r = basic_info(site, a, "李雷", "E10000001")
    assert r["code"] == "OK", r
    acc = wait_identity(site, a, "verified", "the registry's match on the account", 15)
    assert acc["status"] == "active" and acc["workflows"]["basic_info"] == "verified", acc
    # the question as the registry got it: the default JSON shape, the message id as ref
    assert [(i, n) for i, n, _ in reg.asked] == [("E10000001", "李雷")], reg.asked
    ref = reg.asked[0][2]
    assert acc["identity_check"] == ref, acc
    # answered and taken: the file is gone (it named who was checked)
    wait_until(lambda: no_checks(site), 10, what="the answered check purged")

    # a typo: the registry says the name does not go with the number
    b = register_email(site, "han.meimei@example.edu.cn")
    assert basic_info(site, b, "韩梅", "E10000002")["code"] == "OK"
    acc = wait_identity(site, b, "IDNO_MISMATCH", "the registry's mismatch on the account", 15)
    assert acc["identity_message"] == "姓名与证件号码不符，请核对后重新填写", acc
    assert acc["workflows"]["basic_info"] == "mismatch" and acc["status"] == "active", acc
    mail = site.wait_mail("han.meimei@example.edu.cn", 2)
    assert "姓名与证件号码不符" in mail.get_content(), mail.get_content()
    # real-name binding waits for the correction, with the registry's code
    r = site.api().result("send_code", account=b, phone="13900000002", purpose="bind")
    assert r["code"] == "IDNO_MISMATCH", r
    assert r["message"] == "姓名与证件号码不符，请核对后重新填写", r
    # set_basic_info is open again: the corrected name is asked and matches
    r = basic_info(site, b, "韩梅梅", "E10000002")
    assert r["code"] == "OK", r
    acc = wait_identity(site, b, "verified", "the corrected name verified", 15)
    assert acc["name"] == "韩梅梅", acc
    # and once verified it is final, as before
    assert basic_info(site, b, "韩梅梅", "E10000002")["code"] == "IDNO_IMMUTABLE"
    assert len(reg.asked) == 3, reg.asked
    # the history names the checks, never the number; no log holds one
    hist = site.api("helpdesk").request("GET", "/v1/accounts/%s/history" % b)[1]
    text = json.dumps(hist, ensure_ascii=False)
    assert '"check"' in text and "E10000002" not in text, text
    wait_until(lambda: no_checks(site), 10, what="the answered checks purged")
    no_id_numbers(site, "E10000001", "E10000002")


def test_registry_down_slow_then_up(ctx):
    reg = Registry(ctx)
    reg.mode = "503"
    site = site_with_registry(ctx, reg)
    a = register_email(site, "wang.fang@example.edu.cn")
    assert basic_info(site, a, "王芳", "E10000003")["code"] == "OK"
    acc = account(site, a)
    assert acc["status"] == "pending_verification", acc
    assert acc["workflows"]["basic_info"] == "verifying", acc

    def deferred_with(why):
        for st, text, mode in check_files(site):
            if st == "deferred" and why in text:
                return text, mode
    text, mode = wait_until(lambda: deferred_with("last-error: registry: HTTP 503"), 15,
                            what="the check deferred on the registry's 503")
    assert mode == 0o600, oct(mode)
    assert "busy" not in text  # the registry's words are not kept: they may echo the number
    # the operator sees the check, never its question
    cid = account(site, a)["identity_check"]
    def show(*more):  # the gateway retries it meanwhile: "moved on; try again" is fine
        return wait_until(lambda: (lambda r: r.returncode == 0 and r)(run_tool(
            ctx, "regflowctl", "spool", "show", cid, *more,
            overrides=["spool.dir=" + site.eng.spool_dir])), 10, what="spool show")
    for more in ((), ("--json",)):
        r = show(*more)
        assert "E10000003" not in r.stdout and "王芳" not in r.stdout, r.stdout
    assert "not shown" in show().stdout
    # slower than gateway.registry.timeout (400ms): a timeout, retried
    reg.mode = "slow"
    wait_until(lambda: deferred_with("Timeout was reached") or
               deferred_with("timed out"), 20, what="the check deferred on a timeout")
    assert account(site, a)["status"] == "pending_verification"
    reg.mode = "ok"
    acc = wait_identity(site, a, "verified", "verified once the registry answers", 20)
    assert acc["status"] == "active", acc
    assert len(reg.asked) >= 3, reg.asked
    wait_until(lambda: no_checks(site), 10, what="the answered check purged")
    no_id_numbers(site, "E10000003")


def test_registry_refusal_asked_again_later(ctx):
    """A registry that refuses the question (4xx) is not asked in a loop: the
    account stays pending_verification and is asked again an hour later."""
    reg = Registry(ctx)
    reg.mode = "400"
    site = site_with_registry(ctx, reg)
    a = register_email(site, "zhang.wei@example.edu.cn")
    assert basic_info(site, a, "张伟", "E10000004")["code"] == "OK"
    acc = wait_until(lambda: (lambda x: x["workflows"]["basic_info"] == "verify_retry" and x)(
        account(site, a)), 15, what="the refusal taken as an error answer")
    assert acc["status"] == "pending_verification", acc
    assert len(reg.asked) == 1, reg.asked
    wait_until(lambda: no_checks(site), 10, what="the refused check purged")
    reg.mode = "ok"
    site.restart(faketime="+61m")
    acc = wait_identity(site, a, "verified", "asked again after an hour, and verified", 20)
    assert len(reg.asked) == 2, reg.asked


def test_registry_answer_waits_for_the_engine(ctx):
    """The answer is kept in answered/ until the engine has taken it."""
    reg = Registry(ctx)
    reg.mode = "503"
    site = site_with_registry(ctx, reg)
    a = register_email(site, "liu.yang@example.edu.cn")
    assert basic_info(site, a, "刘洋", "E10000005")["code"] == "OK"
    wait_until(lambda: reg.asked, 15, what="the first question")
    site.close_apis()
    assert site.eng.stop() == 0
    reg.mode = "ok"
    got = wait_until(lambda: [t for st, t, m in check_files(site) if st == "answered"], 20,
                     what="the answer in answered/ while the engine is down")
    assert "\nanswer: match\n" in got[0], got[0]
    assert "E10000005" not in got[0], got[0]  # the question's fields are gone
    time.sleep(1.0)  # the gateway keeps trying meanwhile: the file stays
    assert [st for st, t, m in check_files(site)] == ["answered"]
    site.eng.start()
    acc = wait_identity(site, a, "verified", "the kept answer taken by the restarted engine", 20)
    assert acc["status"] == "active", acc
    wait_until(lambda: no_checks(site), 10, what="the answered check purged")


def test_registry_settings_refused(ctx):
    conf = os.path.join(ctx.tmp, "gw.conf")
    with open(conf, "w") as f:
        f.write('spool = { dir = "%s/spool"; };\napi = { tokens_file = "%s"; };\n'
                % (ctx.tmp, TOKENS_FILE))
    cases = [
        (["gateway.registry.url=http://127.0.0.1:1/v"], "needs gateway.engine.url"),
        (["gateway.registry.url=ftp://x", "gateway.engine.url=http://127.0.0.1:1"],
         "gateway.registry.url: expected http:// or https://"),
        (["gateway.registry.url=http://127.0.0.1:1/v", "gateway.engine.url=http://127.0.0.1:1",
          "gateway.registry.body={{name}} {{text}}"],
         "gateway.registry.body: unknown template variable {{text}}"),
        (["gateway.registry.url=http://127.0.0.1:1/v", "gateway.engine.url=http://127.0.0.1:1",
          "gateway.registry.match=ok", "gateway.registry.mismatch=ok"], "match and mismatch"),
        # an empty value would take a reply without the answer for that answer
        (["gateway.registry.url=http://127.0.0.1:1/v", "gateway.engine.url=http://127.0.0.1:1",
          "gateway.registry.mismatch="], "match and mismatch"),
        (["gateway.registry.url=http://127.0.0.1:1/v", "gateway.engine.url=http://127.0.0.1:1",
          "gateway.registry.method=GET"], "gateway.registry.query: a GET needs one"),
    ]
    for ov, want in cases:
        argv = [os.path.join(BIN, "regflow-gw"), "-c", conf] + sum((["-o", o] for o in ov), [])
        p = subprocess.run(argv, capture_output=True, text=True, cwd=ctx.tmp, timeout=20)
        assert p.returncode != 0 and want in p.stderr, (ov, p.returncode, p.stderr)


def test_registry_not_configured_waits_quietly(ctx):
    """The engine asks, the gateway has no registry: the check waits in
    deferred/ with the gateway's backoff (a bug once retried it in a loop,
    624 times in 3 s), and the account stays pending_verification."""
    site = Site(ctx, report=True, engine_overrides=["engine.registry=true"])
    a = register_email(site, "zhao.lei@example.edu.cn")
    assert basic_info(site, a, "赵雷", "E10000009")["code"] == "OK"
    cid = account(site, a)["identity_check"]
    wait_until(lambda: [1 for st, t, m in check_files(site) if st == "deferred"], 10,
               what="the check deferred")
    time.sleep(2.0)  # nothing can change before a restart: it waits gateway.retry.max (1 s here)
    n = site.gw.log().count("%s: check to=registry deferred" % cid)
    assert 1 <= n <= 4, n
    assert "no registry service configured here" in site.gw.log()
    assert account(site, a)["status"] == "pending_verification"


def test_registry_slow_does_not_hold_back_mail(ctx):
    """Checks queued behind a slow registry never keep an activation mail waiting."""
    reg = Registry(ctx)
    reg.mode = "slower"  # 3 s an answer, one at a time: 4 checks take 12 s
    site = Site(ctx, report=True, engine_overrides=["engine.registry=true"],
                gateway_conf={"registry": {"url": reg.url, "timeout": "10s",
                                           "max_inflight": 1}})
    ids = [register_email(site, "s%d@example.edu.cn" % i) for i in range(4)]
    for i, a in enumerate(ids):
        assert basic_info(site, a, "某%d" % i, "E2000000%d" % i)["code"] == "OK"
    wait_until(lambda: reg.asked, 10, what="the first question")
    r = site.api().result("register_email", email="late@example.edu.cn", password="correct horse battery")
    assert r["code"] == "OK", r
    site.wait_mail("late@example.edu.cn", 1, timeout=6)
    assert len(reg.asked) < 4, reg.asked  # mailed while the checks still wait


def test_registry_turned_off_while_waiting(ctx):
    """An account waiting to be asked again when the operator turns the
    registry off is done an hour later, not stranded in verifying."""
    reg = Registry(ctx)
    reg.mode = "400"
    site = site_with_registry(ctx, reg)
    a = register_email(site, "qian.li@example.edu.cn")
    assert basic_info(site, a, "钱力", "E10000008")["code"] == "OK"
    wait_until(lambda: account(site, a)["workflows"]["basic_info"] == "verify_retry", 15,
               what="the refusal")
    site.close_apis()
    assert site.eng.stop() == 0
    site.eng.overrides = [o for o in site.eng.overrides if o != "engine.registry=true"] + \
        ["engine.registry=false"]
    site.eng.faketime = "+61m"
    site.eng.start()
    acc = wait_until(lambda: (lambda x: x["workflows"]["basic_info"] == "done" and x)(
        account(site, a)), 15, what="done once the registry is off")
    assert acc["status"] == "active", acc
    assert len(reg.asked) == 1, reg.asked
