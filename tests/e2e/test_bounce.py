"""Bounces: a mail to a mailbox that does not exist is accepted by a real
private Postfix and bounced (its own RFC 3464 report, to the mail's VERP
return path); the bounce lands where the bounce domain's mail goes (an
smtp-sink), and is handed to `regflowctl bounce RECIPIENT` on stdin exactly
as Postfix's pipe transport would (the pipe daemon itself refuses to run a
command as root, which the tests are); the message moves to bounced/ with
the status and diagnostic, the engine is told with the gateway's token, and
the delivery_failed workflow marks the account's address undeliverable.  A
forged return path, another message's, and a mail without a delivery
status are refused with their exit codes."""
import os
import re
import subprocess

from engine import TOKENS_FILE, Engine, gateway
from harness import BIN, SmtpSink, Skip, wait_until
from test_gateway_tls import PostfixRelay

PASSWORD = "correct horse battery"


def bounce(ctx, eng, gwd, recipient, data):
    argv = [os.path.join(BIN, "regflowctl"), "-c", eng.conf_file] + \
        sum((["-o", o] for o in eng.overrides), []) + \
        ["-o", "gateway.key_file=%s" % os.path.join(ctx.tmp, "gateway.key"), "bounce"] + \
        ([recipient] if recipient else [])
    return subprocess.run(argv, input=data, capture_output=True, cwd=ctx.tmp, timeout=30)


def test_bounce_marks_the_address(ctx):
    sink = SmtpSink(ctx).start()  # the bounce domain's mail server
    # the recipients' mail server: every mailbox is unknown (550 at RCPT)
    mx = SmtpSink(ctx, flags=["-f", "RCPT"], name="mx").start()
    pf = PostfixRelay(ctx, mx.port, main_extra={
        # the relay accepts the mail, then bounces it to its return path
        "transport_maps": "inline:{ regflow.test=smtp:[127.0.0.1]:%d }" % sink.port,
        "bounce_queue_lifetime": "0", "maximal_queue_lifetime": "0",
    }).start()
    eng = Engine(ctx).start()
    gwd = gateway(ctx, eng.spool_dir, relay=pf.relay)
    gwd.overrides += ["gateway.smtp.from=noreply@regflow.test", "gateway.smtp.ca_file=" + pf.cert,
                      "gateway.key_file=%s" % os.path.join(ctx.tmp, "gateway.key"),
                      "gateway.engine.url=http://127.0.0.1:%d" % eng.port,
                      "api.tokens_file=%s" % TOKENS_FILE]
    gwd.start()
    api = eng.api()
    addr = "li.lei@nowhere.example"
    aid = api.result("register_email", email=addr, password=PASSWORD)["account"]
    # Postfix's bounce reaches the sink, addressed to the mail's return path
    msgs = wait_until(lambda: [m for m in sink.messages() if "bounce+" in str(m["To"])], 30,
                      what="the bounce at the sink")
    dsn = msgs[0]
    assert dsn.get_content_type() == "multipart/report", dsn.get_content_type()
    rcpt = re.search(r"<([^>]+)>", dsn["X-Rcpt-Args"]).group(1)
    assert rcpt.startswith("bounce+"), rcpt
    with open(sink.files()[-1], "rb") as f:
        raw = f.read()
    r = bounce(ctx, eng, gwd, rcpt, raw)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    mid = rcpt.split("+")[1].split(".")[0].upper()
    # smtp-sink's hard refusal, as Postfix's report gives it
    assert r.stdout.decode().startswith("%s: bounced 5.3.0" % mid), r.stdout
    path = os.path.join(eng.spool_dir, "bounced", mid)
    assert os.path.exists(path), os.listdir(os.path.join(eng.spool_dir, "sent"))
    with open(path, encoding="utf-8") as f:
        text = f.read()
    assert "last-error: bounced 5.3.0: smtp; 500 5.3.0 Error: command failed" in text, text
    # the engine heard it: the account's address is marked, and its history says so
    wait_until(lambda: api.account(aid).get("email_undeliverable") == "1", 15,
               what="the address marked undeliverable")
    assert "5.3.0" in api.account(aid).get("email_bounce", ""), api.account(aid)
    # the same bounce again: the message is bounced already, it stays so
    assert bounce(ctx, eng, gwd, rcpt, raw).returncode == 0
    # forged: another message's id under this MAC, a changed MAC, not ours at all
    forged = rcpt.replace(mid[:4], "0000" if mid[:4] != "0000" else "1111", 1)
    assert bounce(ctx, eng, gwd, forged, raw).returncode == 67
    assert bounce(ctx, eng, gwd, rcpt[:-20] + "0" * 5 + rcpt[-15:], raw).returncode == 67
    assert bounce(ctx, eng, gwd, "someone@regflow.test", raw).returncode == 67
    # a mail that is no delivery status notification
    r = bounce(ctx, eng, gwd, rcpt, b"From: a@b\r\nTo: c@d\r\nSubject: hi\r\n\r\nhello\r\n")
    assert r.returncode == 65 and b"no delivery status" in r.stderr, r.stderr


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
