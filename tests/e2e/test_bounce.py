"""Bounces: a mail to a mailbox that does not exist is accepted by a real
private Postfix, refused by the next hop and bounced (Postfix's own RFC 3464
report, to the mail's VERP return path); the report goes through Postfix's
pipe transport into `regflowctl bounce ${recipient}`, run as the spool's
owner exactly as docs/operations.md sets it up (here "nobody": the engine
and the gateway run as that user too, on private copies of the programs,
workflows and tokens, since Postfix's pipe never runs a command as root);
the message moves to bounced/ with the status and diagnostic, the engine is
told with the gateway's token, and the delivery_failed workflow marks the
account's address undeliverable.  A forged return path, another message's,
and a mail without a delivery status are refused with their exit codes."""
import os
import pwd
import re
import shutil
import subprocess
import engine
import harness

from engine import TOKENS_FILE, WORKFLOWS, Engine, gateway
from harness import BIN, SmtpSink, wait_until
from test_gateway_tls import PostfixRelay

PASSWORD = "correct horse battery"
OWNER = "nobody"


def bounce(ctx, eng, recipient, data, extra=()):
    argv = [os.path.join(BIN, "regflowctl"), "-c", eng.conf_file] + \
        sum((["-o", o] for o in list(eng.overrides) + list(extra)), []) + \
        ["-o", "gateway.key_file=%s" % os.path.join(ctx.tmp, "gateway.key"), "bounce"] + \
        ([recipient] if recipient else [])
    return subprocess.run(argv, input=data, capture_output=True, cwd=ctx.tmp, timeout=30)


def dsn(to, recipient, status, diagnostic):
    """An RFC 3464 report, as a receiving MTA would send it."""
    boundary = "b-regflow-test"
    return ("From: MAILER-DAEMON@mx.example\r\nTo: %s\r\nSubject: failure\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=%s\r\n\r\n"
            "--%s\r\nContent-Type: text/plain\r\n\r\nIt failed.\r\n"
            "--%s\r\nContent-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; mx.example\r\n\r\n"
            "Final-Recipient: rfc822; %s\r\nAction: failed\r\nStatus: %s\r\n"
            "Diagnostic-Code: %s\r\n\r\n--%s--\r\n"
            % (to, boundary, boundary, boundary, recipient, status, diagnostic,
               boundary)).encode()


def owned_install(ctx, user):
    """ctx.tmp and copies of the programs, workflows and tokens in it, owned
    by user (the checkout need not be readable by that user)."""
    pw = pwd.getpwnam(user)
    b = os.path.join(ctx.tmp, "bin")
    os.makedirs(b)
    for prog in ("regflowd", "regflow-gw", "regflowctl"):
        shutil.copy2(os.path.join(BIN, prog), b)
    wf = shutil.copytree(WORKFLOWS, os.path.join(ctx.tmp, "workflows"))
    tok = shutil.copy(TOKENS_FILE, os.path.join(ctx.tmp, "tokens"))
    os.chmod(tok, 0o600)
    for top in (b, wf, tok):
        os.chown(top, pw.pw_uid, pw.pw_gid)
        for root, dirs, files in os.walk(top):
            for n in dirs + files:
                os.chown(os.path.join(root, n), pw.pw_uid, pw.pw_gid)
    os.chown(ctx.tmp, pw.pw_uid, pw.pw_gid)
    os.chmod(ctx.tmp, 0o711)  # Postfix's own daemons pass through to its queue
    return b, wf, tok


def test_bounce_marks_the_address(ctx):
    if engine.on_pg():
        raise harness.Skip("its engine runs as nobody, who cannot read the run's password file")
    b, wf, tok = owned_install(ctx, OWNER)
    sink = SmtpSink(ctx).start()
    # the recipients' mail server: every mailbox is unknown (5xx at RCPT)
    mx = SmtpSink(ctx, flags=["-f", "RCPT"], name="mx").start()
    eng = Engine(ctx, overrides=["engine.workflows=" + wf, "api.tokens_file=" + tok])
    eng.path, eng.user = os.path.join(b, "regflowd"), OWNER
    key = os.path.join(ctx.tmp, "gateway.key")
    pipe_argv = [os.path.join(b, "regflowctl"), "-c", eng.conf_file] + \
        sum((["-o", o] for o in eng.overrides), []) + \
        ["-o", "gateway.key_file=" + key, "bounce", "${recipient}"]
    pf = PostfixRelay(ctx, mx.port, main_extra={
        # the relay accepts the mail, then bounces it to its return path,
        # which the bounce domain's transport pipes into regflowctl bounce
        "transport_maps": "inline:{ regflow.test=regflow-bounce: }",
        "bounce_queue_lifetime": "0", "maximal_queue_lifetime": "0",
    }, master_extra=["regflow-bounce unix - n n - 4 pipe flags=q user=%s argv=%s"
                     % (OWNER, " ".join(pipe_argv))]).start()
    eng.start()
    gwd = gateway(ctx, eng.spool_dir, relay=pf.relay)
    gwd.path, gwd.user = os.path.join(b, "regflow-gw"), OWNER
    gwd.overrides += ["gateway.smtp.from=noreply@regflow.test", "gateway.smtp.ca_file=" + pf.cert,
                      "gateway.key_file=" + key,
                      "gateway.engine.url=http://127.0.0.1:%d" % eng.port,
                      "api.tokens_file=" + tok]
    gwd.start()
    api = eng.api()
    addr = "li.lei@nowhere.example"
    aid = api.result("register_email", email=addr, password=PASSWORD)["account"]
    bounced = os.path.join(eng.spool_dir, "bounced")
    wait_until(lambda: os.path.isdir(bounced) and os.listdir(bounced), 30,
               what="the bounce piped into regflowctl bounce (maillog: %s)" % pf.maillog)
    mid = os.listdir(bounced)[0]
    # the pipe's exit status 0, as Postfix logs it once the command is done
    wait_until(lambda: "delivered via regflow-bounce service" in pf.log(), 15,
               what="Postfix to log the pipe's success")
    path = os.path.join(bounced, mid)
    assert os.stat(path).st_uid == pwd.getpwnam(OWNER).pw_uid
    with open(path, encoding="utf-8") as f:
        text = f.read()
    # smtp-sink's hard refusal, as Postfix's report gives it
    assert "last-error: bounced 5.3.0: smtp; 500 5.3.0 Error: command failed" in text, text
    # the engine heard it: the account's address is marked
    wait_until(lambda: api.account(aid).get("email_undeliverable") == "1", 15,
               what="the address marked undeliverable")
    assert "5.3.0" in api.account(aid).get("email_bounce", ""), api.account(aid)
    # a report by hand for the same return path: bounced already, it stays so
    rcpt = re.search(r"to=<(bounce\+[^>]+)>, relay=regflow-bounce", pf.log()).group(1)
    assert rcpt.lower().startswith("bounce+" + mid.lower() + "."), rcpt
    # (a long diagnostic in Chinese: cut at a character, the spool takes it)
    raw = dsn(rcpt, addr, "5.1.1", "smtp; 550 5.1.1 " + "邮箱不存在，" * 60)
    r = bounce(ctx, eng, rcpt, raw)
    assert r.returncode == 0 and r.stdout.decode().startswith("%s: bounced" % mid), \
        (r.returncode, r.stdout, r.stderr)
    with open(path, encoding="utf-8") as f:  # valid UTF-8 or this raises
        assert "last-error: bounced 5.1.1: smtp; 550 5.1.1 邮箱不存在" in f.read()
    # on another node (several engines on one database: its spool has no such
    # message), the id says which node sent it
    empty = os.path.join(ctx.tmp, "other-node-spool")
    os.makedirs(empty)
    r = bounce(ctx, eng, rcpt, raw, extra=["spool.dir=" + empty, "engine.node=3"])
    assert r.returncode == 67 and b"node 0 sent it, this is node 3" in r.stderr, \
        (r.returncode, r.stderr)
    # forged: another message's id under this MAC, a changed MAC, not ours at all
    forged = rcpt.replace(mid[:4], "0000" if mid[:4] != "0000" else "1111", 1)
    assert forged != rcpt
    assert bounce(ctx, eng, forged, raw).returncode == 67
    assert bounce(ctx, eng, rcpt[:-20] + "0" * 5 + rcpt[-15:], raw).returncode == 67
    assert bounce(ctx, eng, "someone@regflow.test", raw).returncode == 67
    # a mail that is no delivery status notification
    r = bounce(ctx, eng, rcpt, b"From: a@b\r\nTo: c@d\r\nSubject: hi\r\n\r\nhello\r\n")
    assert r.returncode == 65 and b"no delivery status" in r.stderr, r.stderr
    # the engine down: the bounce goes back to Postfix (75), to be tried again
    gwd.stop()
    eng.stop()
    r = bounce(ctx, eng, rcpt, raw)
    assert r.returncode == 75 and b"try again later" in r.stderr, (r.returncode, r.stderr)


def test_refused_at_once_marks_the_address(ctx):
    """A relay that refuses the mailbox itself while the gateway talks to it
    (550 at RCPT, Postfix with every mailbox unknown): the spool says failed
    and the address is marked as a bounce would mark it."""
    sink = SmtpSink(ctx).start()
    pf = PostfixRelay(ctx, sink.port, main_extra={
        "default_transport": "error:5.1.1 mailbox unavailable", "relayhost": ""}).start()
    eng = Engine(ctx).start()
    gwd = gateway(ctx, eng.spool_dir, relay=pf.relay)
    gwd.overrides += ["gateway.smtp.from=noreply@regflow.test", "gateway.smtp.ca_file=" + pf.cert,
                      "gateway.engine.url=http://127.0.0.1:%d" % eng.port,
                      "api.tokens_file=%s" % TOKENS_FILE]
    gwd.start()
    api = eng.api()
    aid = api.result("register_email", email="li.lei@nowhere.example", password=PASSWORD)["account"]
    wait_until(lambda: api.account(aid).get("email_undeliverable") == "1", 20,
               what="the address marked undeliverable")
    assert "550" in api.account(aid).get("email_bounce", ""), api.account(aid)


def test_outcomes_mark_only_a_refused_mailbox(ctx):
    """The gateway's outcomes: a refusal of our sender (553 5.1.8), of
    relaying (550 5.7.1) or a temporary one marks nothing; a 5.1.1 marks the
    address once however often the same message's outcome is sent (the
    gateway resends a batch it had no answer for); a long detail in Chinese
    is cut at a character and kept."""
    eng = Engine(ctx).start()
    api, gw, desk = eng.api(), eng.api("gateway"), eng.api("helpdesk")
    addr = "li.lei@example.com"
    aid = api.result("register_email", email=addr, password=PASSWORD)["account"]

    def post(mid, detail):
        st, body, _ = gw.request("POST", "/v1/outcomes", {"outcomes": [
            {"id": mid, "account": aid, "state": "failed", "channel": "email", "to": addr,
             "detail": detail}]})
        assert st == 200 and body["recorded"] == 1, (st, body)

    post("0000000000001", "553 5.1.8 <noreply@regflow.test>: Sender address rejected")
    post("0000000000002", "550 5.7.1 Unable to relay")
    post("0000000000003", "450 4.2.0 mailbox busy")
    long = "550 5.1.1 " + "邮箱不存在，" * 60  # 1090 bytes
    post("0000000000004", long)
    post("0000000000004", long)
    wait_until(lambda: api.account(aid).get("email_undeliverable") == "1", 15,
               what="the address marked")
    bounce_text = api.account(aid)["email_bounce"]
    assert long.startswith(bounce_text) and len(bounce_text.encode()) <= 300, bounce_text

    def marks():
        st, body, _ = desk.request("GET", "/v1/accounts/%s/history" % aid)
        assert st == 200, (st, body)
        return [e for e in body["history"] if e.get("type") == "delivery_failed"]
    # the jobs of one account run in order: by now every one has run
    assert len(marks()) == 1, marks()
