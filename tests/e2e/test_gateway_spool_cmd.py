"""test_gateway_spool_cmd - "regflowctl spool ..." with golden output.

A spool is written by hand (fixed ids, times and history: the output is
stable once the ages, which depend on the clock, are normalised; TZ=UTC),
then every command is run and compared with the text below.  A second test
steers a live gateway (retry, hold, release, delete) against a real HTTP peer.
"""
import json
import os
import re

from harness import Daemon, Spool, now_ms, run_tool, wait_until
from test_sms import HttpPeer, read_history

T0 = 1795941889225  # 2026-11-29 08:44:49 UTC


def spool_file(mid, channel, to, body, created, attempts=0, next_attempt=0, last_error="",
               secret="", reply="", dlr="", delivered=0, subject="", from_name="", front="chsi",
               expires=0, history=()):
    head = ["REGFLOW-SPOOL 1", "id: " + mid]
    for k, v in (("channel", channel), ("to", to), ("from-name", from_name),
                 ("subject", subject), ("front", front), ("created", created),
                 ("expires", expires), ("attempts", attempts), ("next-attempt", next_attempt),
                 ("last-error", last_error), ("secret", secret), ("reply", reply), ("dlr", dlr),
                 ("delivered", delivered)):
        head.append("%s: %s" % (k, v) if v != "" else k + ":")
    head += ["history: %d %s" % h for h in history]
    b = body.encode("utf-8")
    head.append("body-size: %d" % len(b))
    return ("\n".join(head) + "\n\n").encode("utf-8") + b


MSGS = [
    ("sent", "01M8K7MX69H6V", dict(
        channel="sms", to="13800138000", body="【学信网】校验码 ******，一天内有效。", created=T0,
        attempts=1, reply="HTTP 202 0: Accepted for delivery", dlr="delivered",
        delivered=T0 + 1200, front="yz",
        history=[(T0 + 1200, "sent: HTTP 202 0: Accepted for delivery"),
                 (T0 + 3400, "dlr 8 accepted: ACK/"), (T0 + 5600, "dlr 1 delivered")])),
    ("deferred", "01M8K7NY1V98Y", dict(
        channel="email", to="a@example.com", body="hello\n", subject="学信网帐号激活邮件",
        created=T0 + 60000, attempts=2, next_attempt=4102444800000,
        last_error="450 4.2.0 try later",
        history=[(T0 + 61000, "deferred: 450 4.2.0 try later"),
                 (T0 + 92000, "deferred: 450 4.2.0 try later")])),
    ("failed", "01M8K7PZ2W0A1", dict(
        channel="sms", to="+86 138-0013-8000", body="【学信网】校验码 482913。", secret="482913",
        created=T0 + 120000, attempts=1, last_error="HTTP 403 Authorization failed for sendsms",
        history=[(T0 + 121000, "failed: HTTP 403 Authorization failed for sendsms")])),
    ("queued", "01M8K7Q03X1B2", dict(
        channel="email", to="b@example.com", body="激活码 Zq83kP0aXy\n", secret="Zq83kP0aXy",
        subject="code Zq83kP0aXy", created=T0 + 180000)),
    ("hold", "01M8K7R14Y2C3", dict(
        channel="sms", to="13900139000", body="x", created=T0 + 240000,
        history=[(T0 + 250000, "held by an operator")])),
]

DIRS = {"queued": "incoming", "deferred": "deferred", "hold": "hold", "failed": "failed",
        "sent": "sent"}


def make_spool(ctx):
    spool = Spool(os.path.join(ctx.tmp, "spool"))
    for st, mid, kw in MSGS:
        with open(os.path.join(spool.path, DIRS[st], mid), "wb") as f:
            f.write(spool_file(mid, **kw))
    conf = os.path.join(ctx.tmp, "ctl.conf")
    with open(conf, "w") as f:
        f.write('spool = { dir = "%s"; };\n' % spool.path)
    return spool, conf


def norm(text):
    """Clock-dependent parts out: ages and relative times."""
    text = re.sub(r"\((?:in )?(?:\d+[dhms])+(?: ago)?\)", "(<REL>)", text)
    text = re.sub(r"(?m)^(01M8K7\w+  .* \d+) +(?:\d+[dhms])+  ", r"\1  <AGE>  ", text)
    text = re.sub(r"(?m)^(\S+ +\d+ +\d+ +\d+ +\d+)  (?:\d+[dhms])+$", r"\1  <AGE>", text)
    text = re.sub(r'"oldest_age_ms":\d+', '"oldest_age_ms":"<AGE>"', text)
    text = re.sub(r"next in (?:\d+[dhms])+", "next in <REL>", text)
    return text


def ctl(ctx, conf, *args):
    os.environ["TZ"] = "UTC"
    return run_tool(ctx, "regflowctl", "spool", *args, conf_file=conf)




GOLDEN = [
    (['list'], 0,
     'ID             STATE     CHAN   TO                               ATT     AGE  NEXT ATTEMPT / LAST ERROR\n01M8K7NY1V98Y  deferred  email  a@example.com                      2  <AGE>  next in <REL>: 450 4.2.0 try later\n01M8K7PZ2W0A1  failed    sms    +86 138-0013-8000                  1  <AGE>  HTTP 403 Authorization failed for sendsms\n01M8K7Q03X1B2  queued    email  b@example.com                      0  <AGE>  -\n01M8K7R14Y2C3  hold      sms    13900139000                        0  <AGE>  -\n',
     ''),
    (['list', '--json'], 0,
     '{"id":"01M8K7NY1V98Y","channel":"email","to":"a@example.com","state":"deferred","attempts":2,"created":1795941949225,"next_attempt":4102444800000,"last_error":"450 4.2.0 try later","expires":0,"front":"chsi","subject":"学信网帐号激活邮件"}\n{"id":"01M8K7PZ2W0A1","channel":"sms","to":"+86 138-0013-8000","state":"failed","attempts":1,"created":1795942009225,"next_attempt":0,"last_error":"HTTP 403 Authorization failed for sendsms","expires":0,"front":"chsi","subject":null}\n{"id":"01M8K7Q03X1B2","channel":"email","to":"b@example.com","state":"queued","attempts":0,"created":1795942069225,"next_attempt":0,"last_error":null,"expires":0,"front":"chsi","subject":"code **********"}\n{"id":"01M8K7R14Y2C3","channel":"sms","to":"13900139000","state":"hold","attempts":0,"created":1795942129225,"next_attempt":0,"last_error":null,"expires":0,"front":"chsi","subject":null}\n',
     ''),
    (['show', '01M8K7MX69H6V'], 0,
     'id:            01M8K7MX69H6V\nstate:         sent\nchannel:       sms\nto:            13800138000\nfront:         yz\ncreated:       2026-11-29 08:44:49 (<REL>)\nattempts:      1\nreply:         HTTP 202 0: Accepted for delivery\ndelivered:     2026-11-29 08:44:50 (<REL>)\nreport:        delivered\nhistory:\n  2026-11-29 08:44:50  sent: HTTP 202 0: Accepted for delivery\n  2026-11-29 08:44:52  dlr 8 accepted: ACK/\n  2026-11-29 08:44:54  dlr 1 delivered\nbody (52 bytes):\n  | 【学信网】校验码 ******，一天内有效。\n',
     ''),
    (['show', '01M8K7Q03X1B2'], 0,
     'id:            01M8K7Q03X1B2\nstate:         queued\nchannel:       email\nto:            b@example.com\nfront:         chsi\nsubject:       code **********\ncreated:       2026-11-29 08:47:49 (<REL>)\nattempts:      0\nsecret:        (set; never shown, masked in the text)\nhistory:\n  (no delivery attempt yet)\nbody (21 bytes):\n  | 激活码 **********\n',
     ''),
    (['show', '01M8K7PZ2W0A1', '--json'], 0,
     '{"id":"01M8K7PZ2W0A1","channel":"sms","to":"+86 138-0013-8000","state":"failed","attempts":1,"created":1795942009225,"next_attempt":0,"last_error":"HTTP 403 Authorization failed for sendsms","expires":0,"front":"chsi","subject":null,"from_name":null,"reply":null,"delivered":0,"dlr":null,"secret_set":true,"body":"【学信网】校验码 ******。","history":[{"at":1795942010225,"event":"failed: HTTP 403 Authorization failed for sendsms"}]}\n',
     ''),
    (['find', '13800138000'], 0,
     '2 message(s) to 13800138000, oldest first:\n\nid:            01M8K7MX69H6V\nstate:         sent\nchannel:       sms\nto:            13800138000\nfront:         yz\ncreated:       2026-11-29 08:44:49 (<REL>)\nattempts:      1\nreply:         HTTP 202 0: Accepted for delivery\ndelivered:     2026-11-29 08:44:50 (<REL>)\nreport:        delivered\nhistory:\n  2026-11-29 08:44:50  sent: HTTP 202 0: Accepted for delivery\n  2026-11-29 08:44:52  dlr 8 accepted: ACK/\n  2026-11-29 08:44:54  dlr 1 delivered\n\nid:            01M8K7PZ2W0A1\nstate:         failed\nchannel:       sms\nto:            +86 138-0013-8000\nfront:         chsi\ncreated:       2026-11-29 08:46:49 (<REL>)\nattempts:      1\nreason:        HTTP 403 Authorization failed for sendsms\nsecret:        (set; never shown, masked in the text)\nhistory:\n  2026-11-29 08:46:50  failed: HTTP 403 Authorization failed for sendsms\n',
     ''),
    (['find', '+8613800138000', '--json'], 0,
     '{"id":"01M8K7MX69H6V","channel":"sms","to":"13800138000","state":"sent","attempts":1,"created":1795941889225,"next_attempt":0,"last_error":null,"expires":0,"front":"yz","subject":null,"from_name":null,"reply":"HTTP 202 0: Accepted for delivery","delivered":1795941890425,"dlr":"delivered","secret_set":false,"body":"【学信网】校验码 ******，一天内有效。","history":[{"at":1795941890425,"event":"sent: HTTP 202 0: Accepted for delivery"},{"at":1795941892625,"event":"dlr 8 accepted: ACK/"},{"at":1795941894825,"event":"dlr 1 delivered"}]}\n{"id":"01M8K7PZ2W0A1","channel":"sms","to":"+86 138-0013-8000","state":"failed","attempts":1,"created":1795942009225,"next_attempt":0,"last_error":"HTTP 403 Authorization failed for sendsms","expires":0,"front":"chsi","subject":null,"from_name":null,"reply":null,"delivered":0,"dlr":null,"secret_set":true,"body":"【学信网】校验码 ******。","history":[{"at":1795942010225,"event":"failed: HTTP 403 Authorization failed for sendsms"}]}\n',
     ''),
    (['find', 'nobody@example.com'], 1,
     '0 message(s) to nobody@example.com\n',
     ''),
    (['stats'], 0,
     'STATE         EMAIL      SMS    CHECK  UNREADABLE  OLDEST\nqueued            1        0        0           0  <AGE>\nactive            0        0        0           0  -\ndeferred          1        0        0           0  <AGE>\nhold              0        1        0           0  <AGE>\nfailed            0        1        0           0  <AGE>\nsent              0        1        0           0  <AGE>\nbounced           0        0        0           0  -\nanswered          0        0        0           0  -\ncorrupt           0        0        0           0  -\ntotal             2        3        0\nsent SMS with a delivery report: 1 delivered, 0 failed\n',
     ''),
    (['stats', '--json'], 0,
     '{"queued":{"email":1,"sms":0,"check":0,"unreadable":0,"oldest_age_ms":"<AGE>"},"active":{"email":0,"sms":0,"check":0,"unreadable":0,"oldest_age_ms":null},"deferred":{"email":1,"sms":0,"check":0,"unreadable":0,"oldest_age_ms":"<AGE>"},"hold":{"email":0,"sms":1,"check":0,"unreadable":0,"oldest_age_ms":"<AGE>"},"failed":{"email":0,"sms":1,"check":0,"unreadable":0,"oldest_age_ms":"<AGE>"},"sent":{"email":0,"sms":1,"check":0,"unreadable":0,"oldest_age_ms":"<AGE>"},"bounced":{"email":0,"sms":0,"check":0,"unreadable":0,"oldest_age_ms":null},"answered":{"email":0,"sms":0,"check":0,"unreadable":0,"oldest_age_ms":null},"corrupt":{"email":0,"sms":0,"check":0,"unreadable":0,"oldest_age_ms":null},"sms_dlr":{"delivered":1,"failed":0}}\n',
     ''),
    (['show', '0000000000000'], 1,
     '',
     'regflowctl: spool: no message 0000000000000\n'),
    (['hold', '01M8K7MX69H6V'], 1,
     '',
     'regflowctl: spool: 01M8K7MX69H6V is sent: only queued or deferred messages can be held\n'),
    (['frob'], 2,
     '',
     'usage: regflowctl spool COMMAND [--json]\n  list                 queued, active, deferred, held, failed and bounced messages\n  show ID              one message: envelope, history, body (secret masked)\n  find RECIPIENT       every message to a phone or address, in any state\n  retry ID|--all       deferred (or failed) messages: deliver now\n  hold ID              keep a queued or deferred message back\n  release ID           a held message: deliver now\n  delete ID            remove a message that is not being delivered\n  stats                counts per state and channel, oldest age\n'),
]


def test_spool_commands_golden(ctx):
    spool, conf = make_spool(ctx)
    for args, rc, out, err in GOLDEN:
        r = ctl(ctx, conf, *args)
        assert (r.returncode, norm(r.stdout), r.stderr) == (rc, out, err), \
            "spool %s:\n--- got (rc %d)\n%s%s\n--- want (rc %d)\n%s%s" % (
                " ".join(args), r.returncode, norm(r.stdout), r.stderr, rc, out, err)
    # the secret is never printed, whatever the command
    for args in (["show", "01M8K7Q03X1B2"], ["show", "01M8K7Q03X1B2", "--json"],
                 ["find", "b@example.com", "--json"], ["list", "--json"]):
        r = ctl(ctx, conf, *args)
        assert r.returncode == 0 and "Zq83kP0aXy" not in r.stdout, (args, r.stdout)


def test_spool_steering_live_gateway(ctx):
    """retry, hold, release, delete while the gateway runs, against a real HTTP peer."""
    state = {"status": 503}
    peer = HttpPeer(ctx, lambda i, m, q, b: (state["status"], "busy" if state["status"] == 503
                                             else "0: Accepted"))
    spool = Spool(os.path.join(ctx.tmp, "spool"))
    conf = {"spool": {"dir": spool.path},
            "gateway": {"sms": {"url": peer.url}, "scan_interval": "300ms",
                        "retry": {"min": "1h", "max": "2h", "lifetime": "5d"}}}
    gw = Daemon(ctx, "regflow-gw", conf=conf, ready_log=r"started:").start()
    a = spool.put("13800138000", "a", channel="sms")
    b = spool.put("13800138000", "b", channel="sms")
    spool.wait_state(a, "deferred")
    spool.wait_state(b, "deferred")
    n = len(peer.requests)
    r = ctl(ctx, gw.conf_file, "retry", a)
    assert r.returncode == 0 and r.stdout == "%s: deferred -> queued\n" % a, (r.stdout, r.stderr)
    wait_until(lambda: spool.state(a) == "deferred" and spool.read(a)[0]["attempts"] == "2", 10,
               what="the retried attempt")
    assert len(peer.requests) == n + 1
    assert any("retry requested by an operator" in h for h in read_history(spool, a))
    # hold b, and a held message is not retried by --all
    r = ctl(ctx, gw.conf_file, "hold", b, "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == {"id": b, "from": "deferred", "to": "hold"}
    state["status"] = 202
    r = ctl(ctx, gw.conf_file, "retry", "--all")
    assert r.returncode == 0 and r.stdout.endswith("1 deferred message(s) queued for delivery now\n"), r.stdout
    spool.wait_state(a, "sent")
    assert spool.state(b) == "hold"
    r = ctl(ctx, gw.conf_file, "release", b)
    assert r.returncode == 0 and r.stdout == "%s: hold -> queued\n" % b, r.stdout
    spool.wait_state(b, "sent")
    h = read_history(spool, b)
    assert [x.split(" ", 1)[1].split(":")[0] for x in h] == [
        "deferred", "held by an operator", "released by an operator", "sent"], h
    # the help-desk question, answered with one command
    r = ctl(ctx, gw.conf_file, "find", "13800138000", "--json")
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [(x["id"], x["state"]) for x in rows] == [(a, "sent"), (b, "sent")], rows
    # delete: a sent copy goes; an unknown id is an error
    r = ctl(ctx, gw.conf_file, "delete", a)
    assert r.returncode == 0 and r.stdout == "%s: sent -> deleted\n" % a and spool.state(a) is None
    r = ctl(ctx, gw.conf_file, "delete", a)
    assert r.returncode == 1 and "no message" in r.stderr
    r = ctl(ctx, gw.conf_file, "release", b)
    assert r.returncode == 1 and "it is not held" in r.stderr, r.stderr
