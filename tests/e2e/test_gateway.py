"""test_gateway - regflow-gw against a real smtp-sink and a real spool.

Messages are dropped into the spool as the engine would (tmp/ then rename
into incoming/); short retry settings keep the file well under a minute.
"""
import json
import os
import re
import stat

from harness import Daemon, Skip, SmtpSink, Spool, now_ms, run_tool, wait_until, BIN

SUBJECT = "学信网帐号激活邮件"
FROM_NAME = "学信网"


def gateway(ctx, relay=None, **settings):
    """A regflow-gw on a private spool; settings override gateway.* entries."""
    spool = Spool(os.path.join(ctx.tmp, "spool"))
    gw = {"smtp": {"timeout": "5s", "connections": 2, "batch": 50},
          "retry": {"min": "200ms", "max": "1s", "lifetime": "5d"},
          "sink": {"dir": os.path.join(ctx.tmp, "sink")},
          "scan_interval": "300ms"}
    for k, v in settings.items():
        sect, _, key = k.partition("_")
        if key and sect in gw and isinstance(gw[sect], dict):
            gw[sect][key] = v
        else:
            gw[k] = v
    conf = {"spool": {"dir": spool.path}, "gateway": gw}
    overrides = ["gateway.smtp.relay=%s" % relay] if relay else []
    d = Daemon(ctx, "regflow-gw", conf=conf, overrides=overrides, ready_log=r"started:")
    return spool, d


def body_text(msg):
    return msg.get_content().replace("\r\n", "\n")


def test_utf8_mail_delivered(ctx):
    sink = SmtpSink(ctx).start()
    spool, gw = gateway(ctx, relay=sink.relay)
    gw.start()
    body = "您好：\n请点击以下链接激活学信网帐号：\nhttps://account.chsi.com.cn/activate?t=Zq83kP0aXy\n"
    mid = spool.put("student@example.edu.cn", body, subject=SUBJECT, from_name=FROM_NAME,
                    secret="Zq83kP0aXy")
    spool.wait_state(mid, "sent")
    msgs = wait_until(sink.messages, 5, what="the dumped message")
    assert len(msgs) == 1, len(msgs)
    m = msgs[0]
    assert str(m["Subject"]) == SUBJECT, m["Subject"]
    frm = m["From"].addresses[0]
    assert frm.display_name == FROM_NAME and frm.addr_spec == "noreply@chsi.com.cn", m["From"]
    assert m["To"].addresses[0].addr_spec == "student@example.edu.cn"
    assert m["Message-ID"] == "<%s@chsi.com.cn>" % mid, m["Message-ID"]
    # the envelope sender names the message (VERP), for its bounce to find it
    assert re.fullmatch(r"<bounce\+%s\.k1\.[0-9a-f]{20}@chsi\.com\.cn>.*" % mid,
                        m["X-Mail-Args"]), m["X-Mail-Args"]
    assert m["Auto-Submitted"] == "auto-generated"
    assert m["Date"] is not None and m["MIME-Version"] == "1.0"
    assert m.get_content_type() == "text/plain" and m.get_content_charset() == "utf-8"
    assert m["Content-Transfer-Encoding"] == "base64"
    assert body_text(m) == body
    for h in ("From", "To", "Subject", "Date", "Message-ID"):
        assert len(m.get_all(h)) == 1, "%s appears %d times" % (h, len(m.get_all(h)))
    with open(sink.files()[0], "rb") as f:
        raw = f.read()
    assert max(len(line) for line in raw.split(b"\n")) <= 78, "a line longer than 78"
    # the sent copy: 0600, secret masked, delivery recorded
    path = os.path.join(spool.path, "sent", mid)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    env, sent_body = spool.read(mid, "sent")
    assert "Zq83kP0aXy" not in open(path, encoding="utf-8").read()
    assert "t=**********" in sent_body, sent_body
    assert env["secret"] == "" and int(env["delivered"]) > 0 and env["attempts"] == "1"
    assert env["reply"].startswith("250"), env["reply"]
    assert gw.stop() == 0
    log = gw.log()
    assert mid in log and "Zq83kP0aXy" not in log and "请点击" not in log


def test_batch_in_one_session(ctx):
    sink = SmtpSink(ctx).start()
    spool, gw = gateway(ctx, relay=sink.relay, smtp_connections=1)
    ids = [spool.put("s%d@example.com" % i, "code %d\n" % i, subject="n%d" % i)
           for i in range(12)]
    gw.start()  # all twelve are waiting: one session takes them all
    for mid in ids:
        spool.wait_state(mid, "sent")
    assert len(sink.messages()) == 12
    assert sorted(str(m["Subject"]) for m in sink.messages()) == sorted("n%d" % i for i in range(12))
    assert sink.sessions() == 1, sink.sessions()


def test_soft_reject_deferred_then_delivered(ctx):
    sink = SmtpSink(ctx, flags=["-r", "RCPT"]).start()
    spool, gw = gateway(ctx, relay=sink.relay)
    gw.start()
    mid = spool.put("later@example.com", "hello\n", subject=SUBJECT, from_name=FROM_NAME)
    wait_until(lambda: spool.state(mid) == "deferred" and spool.read(mid)[0]["last-error"],
               10, what="a deferral")
    env, _ = spool.read(mid)
    assert env["last-error"].startswith("4"), env["last-error"]
    assert int(env["attempts"]) >= 1 and int(env["next-attempt"]) > 0
    assert sink.messages() == []
    sink.restart(flags=[])
    spool.wait_state(mid, "sent", 15)
    assert len(sink.messages()) == 1
    assert str(sink.messages()[0]["Subject"]) == SUBJECT


def test_421_deferred(ctx):
    sink = SmtpSink(ctx, flags=["-Q", "MAIL"]).start()
    spool, gw = gateway(ctx, relay=sink.relay)
    gw.start()
    mid = spool.put("busy@example.com", "hello\n", subject="x")
    spool.wait_state(mid, "deferred")
    env, _ = spool.read(mid)
    assert "421" in env["last-error"], env["last-error"]
    gw.wait_log(r"relay 127\.0\.0\.1:\d+ unavailable")


def test_hard_reject_failed(ctx):
    sink = SmtpSink(ctx, flags=["-f", "RCPT"]).start()
    spool, gw = gateway(ctx, relay=sink.relay)
    gw.start()
    mid = spool.put("nobody@example.com", "hello\n", subject="x")
    spool.wait_state(mid, "failed")
    env, _ = spool.read(mid)
    assert env["last-error"].startswith("5"), env["last-error"]
    assert sink.messages() == []
    gw.wait_log(mid + r": email to=nobody@example.com failed")


def test_relay_down_then_up(ctx):
    sink = SmtpSink(ctx)  # not started: nothing listens on its port
    spool, gw = gateway(ctx, relay=sink.relay)
    gw.start()
    ids = [spool.put("r%d@example.com" % i, "hi\n", subject="r%d" % i) for i in range(3)]
    for mid in ids:
        spool.wait_state(mid, "deferred")
    errors = [spool.read(mid)[0]["last-error"] for mid in ids]
    assert any("Connection refused" in e for e in errors), errors
    gw.wait_log(r"unavailable .*Connection refused.*e-mail paused")
    sink.start()
    for mid in ids:
        spool.wait_state(mid, "sent", 20)
    assert sorted(str(m["Subject"]) for m in sink.messages()) == ["r0", "r1", "r2"]
    gw.wait_log(r"reachable again")


def test_spool_list_json(ctx):
    if not os.path.exists(os.path.join(BIN, "regflowctl")):
        raise Skip("bin/regflowctl not built yet (ctl/main.c missing): spool list not checked")
    sink = SmtpSink(ctx, flags=["-f", "RCPT"]).start()
    spool, gw = gateway(ctx, relay=sink.relay)
    gw.start()
    failed = spool.put("bad@example.com", "x\n", subject="x")
    spool.wait_state(failed, "failed")
    gw.stop()
    queued = spool.put("q@example.com", "y\n", subject="y", channel="email")
    r = run_tool(ctx, "regflowctl", "spool", "list", "--json", conf_file=gw.conf_file)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    by_id = {row["id"]: row for row in rows}
    assert by_id[failed]["state"] == "failed" and by_id[failed]["last_error"].startswith("5")
    assert by_id[queued]["state"] == "queued" and by_id[queued]["to"] == "q@example.com"
    for row in rows:
        for k in ("id", "channel", "to", "state", "attempts", "created", "next_attempt",
                  "last_error"):
            assert k in row, (k, row)
    assert [row["id"] for row in rows] == sorted(by_id), "not sorted by id"
    t = run_tool(ctx, "regflowctl", "spool", "list", conf_file=gw.conf_file)
    assert t.returncode == 0 and failed in t.stdout and "queued" in t.stdout, t.stdout
    u = run_tool(ctx, "regflowctl", "spool", "frobnicate", conf_file=gw.conf_file)
    assert u.returncode == 2 and "usage" in u.stderr.lower(), (u.returncode, u.stderr)


def test_file_sink(ctx):
    spool, gw = gateway(ctx)  # no relay: the file sinks
    gw.start()
    mail = spool.put("sinkme@example.com", "激活码 482913\n", subject=SUBJECT,
                     from_name=FROM_NAME, secret="482913")
    sms = spool.put("13800138000", "【学信网】校验码 771204，一天内有效。", channel="sms",
                    secret="771204", front="yz")
    spool.wait_state(mail, "sent")
    spool.wait_state(sms, "sent")
    import email
    import email.policy
    with open(os.path.join(ctx.tmp, "sink", mail + ".eml"), "rb") as f:
        raw = f.read()
    assert b"\r\n" in raw
    m = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(m["Subject"]) == SUBJECT and m["From"].addresses[0].display_name == FROM_NAME
    assert body_text(m) == "激活码 482913\n"
    with open(os.path.join(ctx.tmp, "sink", "sms.jsonl"), encoding="utf-8") as f:
        lines = [json.loads(line) for line in f]
    assert len(lines) == 1 and lines[0]["id"] == sms and lines[0]["to"] == "13800138000"
    assert lines[0]["text"] == "【学信网】校验码 771204，一天内有效。" and lines[0]["front"] == "yz"
    assert "771204" not in spool.read(sms, "sent")[1]


def test_expired_failed_not_sent(ctx):
    sink = SmtpSink(ctx).start()
    spool, gw = gateway(ctx, relay=sink.relay, retry_lifetime="1d")
    old = spool.put("old@example.com", "code\n", subject="old", expires=now_ms() - 1000)
    ancient = spool.put("anc@example.com", "code\n", subject="anc",
                        created=now_ms() - 2 * 86400 * 1000)
    fresh = spool.put("fresh@example.com", "code\n", subject="fresh")
    gw.start()
    spool.wait_state(fresh, "sent")
    spool.wait_state(old, "failed")
    spool.wait_state(ancient, "failed")
    assert "expired" in spool.read(old)[0]["last-error"]
    assert "expired" in spool.read(ancient)[0]["last-error"]
    assert [str(m["Subject"]) for m in sink.messages()] == ["fresh"]


def test_corrupt_file_moved_aside(ctx):
    sink = SmtpSink(ctx).start()
    spool, gw = gateway(ctx, relay=sink.relay)
    gw.start()
    bad = spool.put("x", "x", raw=b"\x00\x01garbage, not a spool file\n")
    half = spool.put("y@example.com", "y", raw=Spool.format(
        {"id": "0000000000ZZZ", "channel": "email", "to": "y@example.com",
         "body": "a long body"})[:-4], name="0000000000ZZZ")
    good = spool.put("good@example.com", "fine\n", subject="good")
    spool.wait_state(good, "sent")
    spool.wait_state(bad, "corrupt", 15)
    spool.wait_state(half, "corrupt", 15)
    gw.wait_log(r"incoming/%s moved to corrupt/: contains a NUL byte" % bad)
    gw.wait_log(r"incoming/0000000000ZZZ moved to corrupt/: truncated")
    after = spool.put("after@example.com", "still\n", subject="after")
    spool.wait_state(after, "sent")
    assert gw.running()


def test_active_recovered_after_crash(ctx):
    sink = SmtpSink(ctx).start()
    spool, gw = gateway(ctx, relay=sink.relay)
    mid = spool.put("crash@example.com", "again\n", subject="again")
    os.rename(os.path.join(spool.path, "incoming", mid), os.path.join(spool.path, "active", mid))
    gw.start()
    spool.wait_state(mid, "sent")
    gw.wait_log(r"left in active/ by an earlier run")
    # a slow relay, killed mid-delivery: the message stays in the spool
    sink.restart(flags=["-w", "30"])
    mid2 = spool.put("slow@example.com", "slow\n", subject="slow")
    spool.wait_state(mid2, "active")
    gw.kill()
    assert spool.state(mid2) == "active"
    sink.restart(flags=[])
    gw.start()
    spool.wait_state(mid2, "sent")


def test_bad_config_refused(ctx):
    spool, gw = gateway(ctx)
    r = run_tool(ctx, "regflow-gw", conf_file=gw.conf_file,
                 overrides=["gateway.retry.min=soon"], timeout=10)
    assert r.returncode != 0
    assert "gateway.retry.min" in r.stderr and "bad duration" in r.stderr, r.stderr
    with open(gw.conf_file, "a") as f:
        f.write("oops = {\n")
    r = run_tool(ctx, "regflow-gw", conf_file=gw.conf_file, timeout=10)
    assert r.returncode != 0 and gw.conf_file + ":" in r.stderr, r.stderr


def test_smtp_timeout_honoured(ctx):
    # the sink waits 4s before answering DATA; gateway.smtp.timeout=1s must win
    # over libesmtp's RFC minimums (minutes), so the message is deferred
    sink = SmtpSink(ctx, flags=["-w", "4"]).start()
    spool, gw = gateway(ctx, relay=sink.relay, smtp_timeout="1s")
    gw.start()
    mid = spool.put("slow@example.com", "x\n", subject="slow")
    spool.wait_state(mid, "deferred", 10)
    env, _ = spool.read(mid)
    # libesmtp reports its own timeout as "SMTP server dropped connection"
    assert env["last-error"].startswith("relay 127.0.0.1:"), env["last-error"]
    assert int(env["attempts"]) >= 1


def test_sigterm_finishes_in_flight(ctx):
    sink = SmtpSink(ctx, flags=["-w", "2"]).start()
    spool, gw = gateway(ctx, relay=sink.relay)
    gw.start()
    mid = spool.put("inflight@example.com", "x\n", subject="inflight")
    spool.wait_state(mid, "active")
    assert gw.stop() == 0  # SIGTERM: the session in flight completes first
    assert spool.state(mid) == "sent", spool.state(mid)
    assert len(sink.messages()) == 1


def test_sent_retention_purge(ctx):
    spool, gw = gateway(ctx, sent_retention="1s")  # file sinks
    gw.start()
    mid = spool.put("keep@example.com", "x\n", subject="x")
    failed = spool.put("old@example.com", "x\n", subject="x", expires=now_ms() - 1)
    spool.wait_state(mid, "sent")
    spool.wait_state(failed, "failed")
    wait_until(lambda: spool.state(mid) is None, 6, what="the sent copy to be purged")
    gw.wait_log(r"purged 1 old file\(s\) from sent/")
    assert spool.state(failed) == "failed"  # only sent/ is purged
