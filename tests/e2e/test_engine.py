"""test_engine - the first flow end to end: regflowd + regflow-gw + smtp-sink.

Every test starts the real daemons as processes on free loopback ports, with
a private database and spool, and talks to them as a web front (HTTP/JSON,
bearer tokens from conf/tokens), an operator (regflowctl) and a student (the
mail smtp-sink received) would.  Helpers: engine.py (this suite's own) and
harness.py.
"""
import email
import email.policy
import http.client
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import threading
import time
import engine
import harness

from harness import SmtpSink, port_listening, run_tool, wait_until
from engine import (FROM_NAME, JOB_STATES, MSG, SUBJECT, Api, Engine, body_text, gateway,
                    mail_tokens, mails_to, spool_messages, spool_to, spool_token, token_in)

PASSWORD = "correct horse battery"


def system(ctx, relay=True):
    """Engine, gateway and (relay=True) a started smtp-sink the gateway relays to."""
    sink = SmtpSink(ctx).start() if relay else None
    eng = Engine(ctx).start()
    gw = gateway(ctx, eng.spool_dir, relay=sink.relay if sink else None).start()
    return eng, gw, sink


def raw_header(raw, name):
    """The header's raw bytes, folded lines joined (no decoding)."""
    m = re.search(rb"(?im)^" + name.encode() + rb":(.*(?:\r?\n[ \t].*)*)", raw)
    return m.group(1) if m else None


def sink_files_to(sink, addr):
    out = []
    for p in sink.files():
        with open(p, "rb") as f:
            raw = f.read()
        m = email.message_from_bytes(raw, policy=email.policy.default)
        if m["To"] is not None and any(a.addr_spec == addr for a in m["To"].addresses):
            out.append((raw, m))
    return out


def check_error(st, body, status, code, field=Ellipsis):
    assert st == status, "expected %d %s, got %d %s" % (status, code, st, body)
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), body
    e = body["error"]
    assert e.get("code") == code, "expected error code %s, got %s" % (code, e)
    assert isinstance(e.get("message"), str) and e["message"], e
    assert "field" in e, e
    if field is not Ellipsis:
        assert e["field"] == field, "expected field %r, got %r" % (field, e)


def in_threads(n, fn):
    """Run fn(i) in n threads started together; [result or exception] in order."""
    out = [None] * n
    gate = threading.Barrier(n)

    def body(i):
        try:
            gate.wait(10)
            out[i] = fn(i)
        except Exception as e:  # reported to the caller
            out[i] = e
    ts = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    return out


# 1 --------------------------------------------------------------------------

def test_register_activate_through_smtp(ctx):
    eng, gw, sink = system(ctx)
    api = eng.api()
    addr = "li.lei@example.edu.cn"
    job = api.run("register_email", email=addr, password=PASSWORD)
    assert job["state"] == "done" and job["type"] == "register_email", job
    res = job["result"]
    assert res["code"] == "OK" and res["message"] == "", res
    aid = res["account"]
    acct = api.account(aid)
    assert acct["id"] == aid and acct["status"] == "pending_activation", acct
    assert acct.get("email") == addr, acct
    assert "pwhash" not in acct and PASSWORD not in json.dumps(acct, ensure_ascii=False)

    # the student's mailbox: smtp-sink
    got = wait_until(lambda: sink_files_to(sink, addr), 15, what="the activation mail at smtp-sink")
    assert len(got) == 1, "%d mails for %s" % (len(got), addr)
    raw, m = got[0]
    subj, frm = raw_header(raw, "Subject"), raw_header(raw, "From")
    assert subj is not None and frm is not None, raw[:500]
    # non-ASCII header text travels as RFC 2047 encoded-words, decoded to the seed's text
    for h in (subj, frm):
        h.decode("ascii")
        assert re.search(rb"=\?utf-8\?[bq]\?", h, re.I), h
    assert str(m["Subject"]) == SUBJECT, m["Subject"]
    sender = m["From"].addresses[0]
    assert sender.display_name == FROM_NAME, m["From"]
    assert m.get_content_type() == "text/plain" and m.get_content_charset() == "utf-8"
    text = body_text(m)
    tok = token_in(text)
    assert tok, "no link with token=... in the mail:\n" + text
    assert len(tok) >= 22, "token too short for 128 bits: %r" % tok
    assert re.search(r"https?://\S+[?&]token=" + re.escape(tok), text), text

    r = api.result("activate", token=tok)
    assert r["code"] == "OK" and r.get("account") == aid, r
    r = api.result("activate", token=tok)
    assert r["code"] == "ALREADY_ACTIVATED", r
    assert r["message"] == MSG["ALREADY_ACTIVATED"], r["message"]
    assert api.account(aid)["status"] == "active"

    r = api.result("register_email", email=addr, password="another password")
    assert r["code"] == "EMAIL_REGISTERED" and r["message"] == MSG["EMAIL_REGISTERED"], r
    # the same mailbox spelt with another case is the same address
    r = api.result("register_email", email="Li.Lei@Example.EDU.cn", password=PASSWORD)
    assert r["code"] == "EMAIL_REGISTERED", r

    other = "han.meimei@example.com"
    r1 = api.result("register_email", email=other, password=PASSWORD)
    assert r1["code"] == "OK" and r1["account"] != aid, r1
    r2 = api.result("register_email", email=other, password=PASSWORD)
    assert r2["code"] == "EMAIL_PENDING_ACTIVATION", r2
    assert r2["message"] == MSG["EMAIL_PENDING_ACTIVATION"], r2["message"]
    assert api.account(r1["account"])["status"] == "pending_activation"

    # one mail per new account and one per registration again before the
    # activation (its own link, the seed's 重新发送激活邮件); refused
    # registrations send nothing
    assert len(spool_to(eng.spool_dir, addr)) == 1, spool_to(eng.spool_dir, addr)
    assert len(spool_to(eng.spool_dir, other)) == 2, spool_to(eng.spool_dir, other)
    wait_until(lambda: len(sink_files_to(sink, other)) == 2, 15, what="the mails to " + other)
    assert len(sink.files()) == 3, len(sink.files())
    api.close()
    assert eng.stop() == 0


# 2 --------------------------------------------------------------------------

def test_resend_activation_revokes_old_link(ctx):
    eng, gw, sink = system(ctx)
    api = eng.api()
    addr = "wang.fang@example.com"
    aid = api.result("register_email", email=addr, password=PASSWORD)["account"]
    first = wait_until(lambda: mail_tokens(sink, addr), 15, what="the first mail")
    assert len(first) == 1 and first[0], first
    first = first[0]

    r = api.result("resend_activation", email=addr)
    assert r["code"] == "OK", r
    toks = wait_until(lambda: len(mail_tokens(sink, addr)) >= 2 and mail_tokens(sink, addr), 15,
                      what="the second mail")
    # asking again at once is refused (the seed: 无需频繁点击...) and sends nothing
    r = api.result("resend_activation", email=addr)
    assert r["code"] == "RATE_LIMITED", r
    assert len(spool_to(eng.spool_dir, addr)) == 2
    assert len(toks) == 2 and first in toks, toks
    second = [t for t in toks if t != first]
    assert len(second) == 1 and second[0], "the resent link carries the same token: %s" % toks
    second = second[0]

    r = api.result("activate", token=first)
    assert r["code"] == "CODE_INVALID", r
    assert api.account(aid)["status"] == "pending_activation"
    r = api.result("activate", token=secrets.token_urlsafe(32))
    assert r["code"] == "CODE_INVALID", r
    assert isinstance(r.get("message"), str), r
    r = api.result("activate", token=second)
    assert r["code"] == "OK" and r["account"] == aid, r
    assert api.account(aid)["status"] == "active"

    r = api.result("resend_activation", email="nobody.here@example.com")
    assert r["code"] == "NOT_FOUND", r
    assert spool_to(eng.spool_dir, "nobody.here@example.com") == []
    # an active account gets no new link
    other = "zhao.lei@example.com"
    assert api.result("register_email", email=other, password=PASSWORD)["code"] == "OK"
    tok = wait_until(lambda: mail_tokens(sink, other), 15, what="the mail to %s" % other)[0]
    assert api.result("activate", token=tok)["code"] == "OK"
    r = api.result("resend_activation", email=other)
    assert r["code"] == "ALREADY_ACTIVATED", r
    assert len(spool_to(eng.spool_dir, other)) == 1
    assert len(spool_to(eng.spool_dir, addr)) == 2


# 3 --------------------------------------------------------------------------

def probe_clock(api, spool_dir, shift_ms, name):
    """Register an address and check the engine's clock by its mail's 'created' time."""
    addr = "probe.%s@example.com" % name
    assert api.result("register_email", email=addr, password=PASSWORD)["code"] == "OK"
    created = int(spool_to(spool_dir, addr)[-1][1]["created"])
    skew = created - harness.now_ms()
    assert abs(skew - shift_ms) < 3600 * 1000, (
        "the engine does not run on the faked clock (skew %.1f h, wanted %.1f h): "
        "libfaketime not applied?" % (skew / 3.6e6, shift_ms / 3.6e6))


def test_activation_link_expires_after_a_day(ctx):
    eng = Engine(ctx).start()
    api = eng.api()
    early, late = "early.bird@example.com", "late.comer@example.com"
    a_early = api.result("register_email", email=early, password=PASSWORD)["account"]
    a_late = api.result("register_email", email=late, password=PASSWORD)["account"]
    t_early = spool_token(eng.spool_dir, early)
    t_late = spool_token(eng.spool_dir, late)
    api.close()
    assert eng.stop() == 0

    # 23 hours later: still valid
    eng.faketime = "+23h"
    eng.start()
    api = eng.api()
    probe_clock(api, eng.spool_dir, 23 * 3600 * 1000, "23h")
    r = api.result("activate", token=t_early)
    assert r["code"] == "OK" and r["account"] == a_early, r
    api.close()
    assert eng.stop() == 0

    # 25 hours later: expired
    eng.faketime = "+25h"
    eng.start()
    api = eng.api()
    probe_clock(api, eng.spool_dir, 25 * 3600 * 1000, "25h")
    r = api.result("activate", token=t_late)
    assert r["code"] == "CODE_EXPIRED", r
    assert r["message"] == MSG["CODE_EXPIRED"], r["message"]
    assert api.account(a_late)["status"] == "pending_activation"
    # a new link (the message's advice) works on the same clock
    assert api.result("resend_activation", email=late)["code"] == "OK"
    t_new = spool_token(eng.spool_dir, late, exclude=(t_late,))
    r = api.result("activate", token=t_new)
    assert r["code"] == "OK" and r["account"] == a_late, r
    api.close()
    assert eng.stop() == 0


# 4 --------------------------------------------------------------------------

def wait_job_done(api, jid, timeout=20):
    def done():
        st, body = api.job(jid)
        assert st == 200, "GET /v1/jobs/%s: %d %s" % (jid, st, body)
        assert body["state"] in JOB_STATES, body
        return body if body["state"] in ("done", "failed") else None
    return wait_until(done, timeout, what="job %s to finish" % jid)


def check_spool_unique(spool_dir):
    msgs = spool_messages(spool_dir)
    ids = [env["id"] for _, env, _ in msgs]
    assert len(ids) == len(set(ids)), "a message id in two states: %s" % ids
    tos = [env["to"] for _, env, _ in msgs]
    dups = sorted({t for t in tos if tos.count(t) > 1})
    assert not dups, "more than one message for %s" % dups
    return msgs


def test_kill9_right_after_202(ctx):
    eng = Engine(ctx).start()
    api = eng.api()
    addr = "kill.nine@example.com"
    st, body = api.post_job("register_email", {"email": addr, "password": PASSWORD})
    assert st == 202, (st, body)
    assert re.fullmatch(r"[0-9A-Z]{13}", body.get("id", "")), body
    assert body.get("state") in JOB_STATES, body
    jid = body["id"]
    eng.kill()
    api.close()

    # many at once, killed after some 202s while others are in flight (a small
    # group_commit leaves accepted jobs queued): every job answered 202 is carried out
    n = 24
    answered = {}
    first = threading.Event()

    def post(i):
        c = Api(eng.port)
        try:
            s, b = c.post_job("register_email", {"email": "burst%02d@example.com" % i,
                                                 "password": PASSWORD})
            if s == 202:
                answered[i] = b["id"]
                if len(answered) >= n // 3:
                    first.set()
            return s
        finally:
            c.close()
    eng.overrides.append("engine.group_commit=2")
    eng.start()
    killer = threading.Thread(target=lambda: first.wait(30) and eng.kill())
    killer.start()
    in_threads(n, post)
    first.set()
    killer.join(30)
    assert answered, "no job was answered 202 before the kill"

    eng.start()
    api = eng.api()
    view = wait_job_done(api, jid)
    assert view["state"] == "done" and view["result"]["code"] == "OK", view
    for i, bid in sorted(answered.items()):
        v = wait_job_done(api, bid)
        assert v["state"] == "done" and v["result"]["code"] == "OK", (i, v)
    wait_until(lambda: eng.health()["jobs"]["queued"] == 0, 20, what="the queue to drain")
    msgs = check_spool_unique(eng.spool_dir)
    assert len(spool_to(eng.spool_dir, addr)) == 1, spool_to(eng.spool_dir, addr)
    for i, bid in sorted(answered.items()):
        got = spool_to(eng.spool_dir, "burst%02d@example.com" % i)
        assert len(got) == 1, ("job %s (burst%02d) was answered 202 and is done, but %d "
                               "activation mails for it are in the spool" % (bid, i, len(got)))

    # the gateway delivers each exactly once
    sink = SmtpSink(ctx).start()
    gw = gateway(ctx, eng.spool_dir, relay=sink.relay).start()
    wait_until(lambda: len(sink.files()) >= len(msgs), 20, what="%d deliveries" % len(msgs))
    spool = harness.Spool(eng.spool_dir)
    for _, env, _ in msgs:
        spool.wait_state(env["id"], "sent")
    got = [a.addr_spec for m in sink.messages() for a in m["To"].addresses]
    assert sorted(got) == sorted(env["to"] for _, env, _ in msgs), got
    # and a registration accepted before the kill activates normally
    tok = mail_tokens(sink, addr)
    assert len(tok) == 1 and tok[0], tok
    assert api.result("activate", token=tok[0])["code"] == "OK"
    gw.stop()


# 5 --------------------------------------------------------------------------

def spool_list(ctx, eng):
    r = run_tool(ctx, "regflowctl", "spool", "list", "--json", conf_file=eng.conf_file,
                 overrides=["spool.dir=%s" % eng.spool_dir])
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def test_relay_down_then_up(ctx):
    sink = SmtpSink(ctx)  # not started: nothing listens on its port
    eng = Engine(ctx).start()
    gw = gateway(ctx, eng.spool_dir, relay=sink.relay).start()
    api = eng.api()
    addr = "patient.student@example.com"
    aid = api.result("register_email", email=addr, password=PASSWORD)["account"]

    def deferred():
        rows = [r for r in spool_list(ctx, eng) if r["to"] == addr]
        return rows if rows and rows[0]["state"] == "deferred" and rows[0]["last_error"] else None
    rows = wait_until(deferred, 15, what="the mail to be deferred")
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["channel"] == "email" and row["attempts"] >= 1, row
    assert "refused" in row["last_error"].lower(), row
    assert row["next_attempt"] > 0, row
    assert mails_to(sink, addr) == []

    sink.start()
    wait_until(lambda: mails_to(sink, addr), 20, what="the mail after the relay came back")
    harness.Spool(eng.spool_dir).wait_state(row["id"], "sent")
    assert len(mails_to(sink, addr)) == 1
    assert not [r for r in spool_list(ctx, eng) if r["to"] == addr and r["state"] != "sent"]
    tok = mail_tokens(sink, addr)[0]
    r = api.result("activate", token=tok)
    assert r["code"] == "OK" and r["account"] == aid, r
    gw.stop()


# 6 --------------------------------------------------------------------------

def test_bad_input_rejected_clearly(ctx):
    eng = Engine(ctx, overrides=["engine.max_body=4096"]).start()
    api = eng.api()

    def post(body):
        st, b, _ = api.request("POST", "/v1/jobs", body)
        return st, b

    check_error(*post('{"type": "register_email", "args": {'), 400, "MALFORMED_JSON")
    check_error(*post("hello"), 400, "MALFORMED_JSON")
    check_error(*post('{"type":"register_email","type":"activate","args":{}}'), 400,
                "MALFORMED_JSON")
    check_error(*post('{"type":"activate","args":{"token":"abc\\u0000defghij"}}'), 400,
                "MALFORMED_JSON")
    check_error(*post({"type": "launch_rocket", "args": {}}), 400, "UNKNOWN_TYPE", "type")
    check_error(*post({"type": 7, "args": {}}), 400, "INVALID_FIELD", "type")
    check_error(*post({"args": {}}), 400, "MISSING_FIELD", "type")
    check_error(*post({"type": "register_email", "args": {"password": PASSWORD}}), 400,
                "MISSING_FIELD", "args.email")
    check_error(*post({"type": "register_email"}), 400, "MISSING_FIELD", "args")
    check_error(*post({"type": "register_email", "args": ["x"]}), 400, "INVALID_FIELD", "args")
    for bad in ("not-an-address", "a@b", "@example.com", "two@@example.com", "sp ace@example.com",
                "x" * 65 + "@example.com"):
        check_error(*post({"type": "register_email", "args": {"email": bad, "password": PASSWORD}}),
                    400, "INVALID_FIELD", "args.email")
    for evil in ("evil@example.com\r\nBcc: all@example.com", "evil@example.com\nBcc: x@y.com",
                 "evil@example.com\r"):
        check_error(*post({"type": "register_email", "args": {"email": evil, "password": PASSWORD}}),
                    400, "INVALID_FIELD", "args.email")
    check_error(*post({"type": "register_email", "args": {"email": 42, "password": PASSWORD}}),
                400, "INVALID_FIELD", "args.email")
    check_error(*post({"type": "register_email",
                       "args": {"email": "ok@example.com", "password": "short"}}),
                400, "INVALID_FIELD", "args.password")
    check_error(*post({"type": "register_email", "args": {"email": "ok@example.com",
                                                          "password": PASSWORD, "admin": "1"}}),
                400, "UNKNOWN_FIELD", "args.admin")
    check_error(*post({"type": "activate", "args": {"token": "x"}, "key": ""}), 400,
                "INVALID_FIELD", "key")

    # oversized bodies: with a length, and chunked
    big = {"type": "register_email", "args": {"email": "big@example.com", "password": "p" * 5000}}
    check_error(*Api(eng.port).request("POST", "/v1/jobs", big)[:2], 413, "BODY_TOO_LARGE")
    c = http.client.HTTPConnection("127.0.0.1", eng.port, timeout=20)
    c.request("POST", "/v1/jobs", body=iter([b'{"type":"register_email","args":{"x":"',
                                             b"y" * 3000, b"z" * 3000, b'"}}']),
              headers={"Authorization": "Bearer " + api.token}, encode_chunked=True)
    r = c.getresponse()
    check_error(r.status, json.loads(r.read() or b"null"), 413, "BODY_TOO_LARGE")
    c.close()

    # auth: nothing runs without the right token
    good = {"type": "register_email", "args": {"email": "sneaky@example.com", "password": PASSWORD}}
    st, b, h = api.request("POST", "/v1/jobs", good, token=False)
    check_error(st, b, 401, "UNAUTHORIZED")
    assert h.get("www-authenticate", "").startswith("Bearer"), h
    check_error(*api.request("POST", "/v1/jobs", good, token="dev-token-www-0123456789abcdeX")[:2],
                401, "UNAUTHORIZED")
    check_error(*api.request("POST", "/v1/jobs", good, token=api.token + "0")[:2], 401,
                "UNAUTHORIZED")
    check_error(*api.request("GET", "/v1/jobs/01M8K7MX69H6V", token=False)[:2], 401,
                "UNAUTHORIZED")
    st, b, _ = api.request("POST", "/v1/jobs", good, token=False,
                           headers={"Authorization": "Basic d3d3OnBhc3N3b3Jk"})
    check_error(st, b, 401, "UNAUTHORIZED")
    assert spool_to(eng.spool_dir, "sneaky@example.com") == []

    # reads: unknown job, another front's job
    check_error(*api.job("01M8K7MX69H6V"), 404, "NOT_FOUND")
    check_error(*api.job("no-such-job"), 404, "NOT_FOUND")
    check_error(*api.job("..%2F..%2Fetc%2Fpasswd"), 404, "NOT_FOUND")
    mine = api.run("activate", token=secrets.token_urlsafe(32))
    st, b = api.job(mine["id"])
    assert st == 200 and b["id"] == mine["id"] and b["state"] == "done", (st, b)
    check_error(*eng.api("yz").job(mine["id"]), 404, "NOT_FOUND")

    # ?wait must be a number of milliseconds
    for w in ("abc", "-5", "10ms"):
        st, b = api.post_job("activate", {"token": secrets.token_urlsafe(32)}, wait=w)
        check_error(st, b, 400, "INVALID_FIELD", "wait")
    check_error(*api.request("GET", "/v1/jobs")[:2], 405, "METHOD_NOT_ALLOWED")

    # garbage that is not HTTP at all
    with socket.create_connection(("127.0.0.1", eng.port), timeout=10) as s:
        s.sendall(b"\x16\x03\x01\x02\x00 GARBAGE\r\n\r\n")
        reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]

    # the daemon still serves, and only the one good job ran
    h = eng.health()
    assert h["status"] == "ok", h
    assert h["jobs"]["done"] + h["jobs"]["failed"] == 1, h
    r = api.result("register_email", email="after.all@example.com", password=PASSWORD)
    assert r["code"] == "OK", r
    api.close()
    assert eng.stop() == 0


# 7 --------------------------------------------------------------------------

def test_idempotency_key(ctx):
    eng = Engine(ctx).start()
    www, yz = eng.api("www"), eng.api("yz")
    addr = "idem.potent@example.com"
    args = {"email": addr, "password": PASSWORD}
    a = www.run("register_email", key="signup-42", **args)
    assert a["result"]["code"] == "OK", a
    b = www.run("register_email", key="signup-42", **args)
    assert b["id"] == a["id"] and b["result"] == a["result"], (a, b)
    st, c = www.post_job("register_email", args, key="signup-42")
    assert st in (200, 202) and c["id"] == a["id"], (st, c)
    assert len(spool_to(eng.spool_dir, addr)) == 1, spool_to(eng.spool_dir, addr)

    # the same key from another front is another job
    y = yz.run("register_email", key="signup-42", **args)
    assert y["id"] != a["id"], (a, y)
    assert y["result"]["code"] == "EMAIL_PENDING_ACTIVATION", y
    st, view = yz.job(y["id"])
    assert st == 200 and view["id"] == y["id"], (st, view)
    assert len(spool_to(eng.spool_dir, addr)) == 2  # that job's own link

    # the same key sent at once on several connections: one job
    addr2 = "idem.race@example.com"

    def send(i):
        c = Api(eng.port)
        try:
            return c.run("register_email", key="race-7", email=addr2, password=PASSWORD)
        finally:
            c.close()
    views = in_threads(6, send)
    errs = [v for v in views if isinstance(v, Exception)]
    assert not errs, errs
    assert len({v["id"] for v in views}) == 1, [v["id"] for v in views]
    assert all(v["result"]["code"] == "OK" for v in views), views
    assert len(spool_to(eng.spool_dir, addr2)) == 1
    h = eng.health()
    assert h["jobs"]["done"] + h["jobs"]["failed"] == 3, h

    # the key outlives a restart
    www.close()
    yz.close()
    assert eng.stop() == 0
    eng.start()
    again = eng.api("www").run("register_email", key="signup-42", **args)
    assert again["id"] == a["id"] and again["result"] == a["result"], (a, again)
    assert len(spool_to(eng.spool_dir, addr)) == 2  # nothing more: the key ran no job


def test_concurrent_registrations_one_account(ctx):
    eng = Engine(ctx).start()
    addr = "same.time@example.com"

    def send(i):
        c = Api(eng.port, "www" if i % 2 else "yz")
        try:
            return c.result("register_email", email=addr, password="password %d!" % i)
        finally:
            c.close()
    res = in_threads(8, send)
    errs = [r for r in res if isinstance(r, Exception)]
    assert not errs, errs
    codes = [r["code"] for r in res]
    assert codes.count("OK") == 1, codes
    # the others registered again before activation (each mails its own link,
    # the seed's 重新发送激活邮件) or were refused by the address's limit
    assert set(codes) <= {"OK", "EMAIL_PENDING_ACTIVATION", "RATE_LIMITED"}, codes
    accounts = {r.get("account") for r in res if r["code"] == "OK"}
    assert len(accounts) == 1, res
    mailed = len([c for c in codes if c != "RATE_LIMITED"])
    assert len(spool_to(eng.spool_dir, addr)) == mailed, spool_to(eng.spool_dir, addr)


# 8 --------------------------------------------------------------------------

def test_second_engine_on_same_db_refused(ctx):
    if engine.on_pg():
        raise harness.Skip("the Tokyo Cabinet file's lock (PostgreSQL's node lock: test_store_pg)")
    eng = Engine(ctx).start()
    second = Engine(ctx, name="regflowd-2", db=eng.db, spool_dir=eng.spool_dir)
    r = run_tool(ctx, "regflowd", conf_file=second.conf_file, overrides=second.overrides,
                 timeout=30)
    assert r.returncode > 0, (r.returncode, r.stderr)
    assert "another process" in r.stderr, r.stderr
    assert eng.db in r.stderr, r.stderr
    assert not harness.SAN_PATTERNS.search(r.stderr), r.stderr
    assert not port_listening(second.port)
    # the first one is untouched
    assert eng.api().result("register_email", email="first.one@example.com",
                            password=PASSWORD)["code"] == "OK"
    assert eng.running()


# 9 --------------------------------------------------------------------------

def test_bad_config_refused(ctx):
    eng = Engine(ctx)  # never started: its config file and overrides are the base

    def refused(conf_file, extra=(), *wants):
        r = run_tool(ctx, "regflowd", conf_file=conf_file, overrides=eng.overrides + list(extra),
                     timeout=30)
        assert r.returncode > 0, "exit %s, stderr: %s" % (r.returncode, r.stderr)
        assert not harness.SAN_PATTERNS.search(r.stderr), r.stderr
        for w in wants:
            assert w in r.stderr, "%r not in stderr: %s" % (w, r.stderr)
        assert not port_listening(eng.port)
        return r.stderr

    bad = os.path.join(ctx.tmp, "bad.conf")
    with open(bad, "w") as f:
        f.write('log = { level = "info"; };\nengine = {\n  group_commit = = 5;\n};\n')
    refused(bad, (), bad + ":3:")
    with open(bad, "w") as f:
        f.write('engine = {\n  max_body = 4096;\n  group_commit = "many";\n};\n')
    refused(bad, (), bad + ":3:", "engine.group_commit")

    # -o on a setting the file has as an integer
    err = refused(eng.conf_file, ["engine.group_commit=abc"], "engine.group_commit")
    assert "integer" in err, err
    refused(eng.conf_file, ["engine.group_commit=0"], "engine.group_commit")
    refused(eng.conf_file, ["engine.max_body=4k"], "engine.max_body")
    refused(eng.conf_file, ["log.level=loud"], "log.level")
    refused(eng.conf_file, ["engine=oops"], "engine")
    refused(eng.conf_file, ["no-equals-sign"], "no-equals-sign")
    refused(os.path.join(ctx.tmp, "missing.conf"), (), "missing.conf")
    assert not os.path.exists(eng.db), "a refused start created the database"
    refused(eng.conf_file, ["engine.listen=nowhere"], "engine.listen")


# 10 -------------------------------------------------------------------------

def test_password_never_stored_in_clear(ctx):
    eng = Engine(ctx, conf={"log": {"level": "debug"}}).start()
    api = eng.api()
    pw = "Pw-" + secrets.token_hex(10)
    addr = "careful.user@example.com"
    reg = api.run("register_email", email=addr, password=pw)
    aid = reg["result"]["account"]
    tok = spool_token(eng.spool_dir, addr)
    assert api.result("activate", token=tok)["code"] == "OK"
    acct = api.account(aid)
    st, view = api.job(reg["id"])
    for shown in (acct, view, reg):
        text = json.dumps(shown, ensure_ascii=False)
        assert pw not in text and "$argon2" not in text and "pwhash" not in text, text
    api.close()
    assert eng.stop() == 0

    dbdir = os.path.dirname(eng.db)
    dbfiles = [os.path.join(dbdir, f) for f in os.listdir(dbdir)
               if f.startswith(os.path.basename(eng.db))]
    blob = b""
    for p in dbfiles:
        with open(p, "rb") as f:
            blob += f.read()
    if engine.on_pg():  # the rows, as PostgreSQL holds them
        blob = json.dumps(engine.pg_records(eng), ensure_ascii=False).encode()
    assert pw.encode() not in blob, "the password is in the database in clear"
    # Argon2id with at least OWASP's minimum (m=19 MiB, t=2, p=1)
    m = re.search(rb"\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$", blob)
    assert m, "no Argon2id hash in the database"
    mem, t, p = (int(x) for x in m.groups())
    assert mem >= 19456 and t >= 2 and p >= 1, (mem, t, p)
    for _, env, body in spool_messages(eng.spool_dir):
        assert pw not in body and pw not in json.dumps(env), env
    log = eng.log()
    assert pw not in log, "the password is in the engine's log"
    assert tok not in log, "the activation token is in the engine's log"


# found while testing --------------------------------------------------------

def test_sigterm_while_passwords_hash(ctx):
    """SIGTERM with registrations still being hashed (and waiting on ?wait) stops
    cleanly: exit 0, no sanitizer report; what was answered is done after a restart."""
    eng = Engine(ctx, overrides=["engine.group_commit=1"]).start()
    n = 32
    answered = {}

    def post(i):
        c = Api(eng.port, timeout=30)
        try:
            wait = 20000 if i % 2 else None
            s, b = c.post_job("register_email", {"email": "term%02d@example.com" % i,
                                                 "password": PASSWORD}, wait=wait)
            if s in (200, 202):
                answered[i] = b["id"]
        except (OSError, http.client.HTTPException):
            pass  # cut off by the stop: not answered, so not promised
        finally:
            c.close()
    ts = [threading.Thread(target=post, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    probe = Api(eng.port, None)

    def hashing():
        st, h, _ = probe.request("GET", "/v1/health")
        return st == 200 and h["jobs"]["hashing"] > 0
    wait_until(hashing, 10, interval=0.001, what="passwords being hashed")
    probe.close()
    rc = eng.stop(check=False)
    for t in ts:
        t.join(30)
    eng.check_log()  # a sanitizer report fails here, with the log
    assert rc == 0, "regflowd exited with %s on SIGTERM:\n%s" % (rc, eng.log_tail())

    eng.start()
    api = eng.api()
    for i, jid in sorted(answered.items()):
        v = wait_job_done(api, jid)
        assert v["state"] == "done" and v["result"]["code"] == "OK", (i, v)
    check_spool_unique(eng.spool_dir)
    api.close()
    assert eng.stop() == 0


def test_token_not_kept_in_clear_in_database(ctx):
    """SPEC 6: tokens are stored hashed.  Once the activation mail is in the
    spool, the database file must not hold the token (nor the mail body) in clear."""
    eng = Engine(ctx).start()
    api = eng.api()
    addr = "at.rest@example.com"
    aid = api.result("register_email", email=addr, password=PASSWORD)["account"]
    tok = spool_token(eng.spool_dir, addr)
    # the engine deletes its outbox copy in the next group after spooling it
    wait_until(lambda: eng.health()["jobs"]["outbox"] == 0, 10, what="an empty outbox")
    api.close()
    assert eng.stop() == 0
    dbdir = os.path.dirname(eng.db)
    for f in sorted(os.listdir(dbdir)):
        if not f.startswith(os.path.basename(eng.db)):
            continue
        with open(os.path.join(dbdir, f), "rb") as fh:
            data = fh.read()
        assert tok.encode() not in data, (
            "the activation token of account %s is in %s in clear after it was spooled "
            "(the deleted outbox record's bytes stay in the file)" % (aid, f))


def test_spooled_outbox_deletes_ride_in_the_next_group(ctx):
    """A message's outbox record, once spooled, is deleted in the next group
    that commits, not in a commit of its own at once: K registrations one
    after another then cost K commits and the last delete one more, where
    they cost 2K (a registration's group, then its delete's).  Idle, the
    last delete still comes by itself (the outbox empties)."""
    eng = Engine(ctx).start()
    api = eng.api()
    c0 = eng.health()["jobs"]["commits"]
    k = 20
    for i in range(k):
        r = api.result("register_email", email="ride.%02d@example.com" % i, password=PASSWORD)
        assert r["code"] == "OK", r
    wait_until(lambda: eng.health()["jobs"]["outbox"] == 0, 10, what="the outbox to empty")
    n = eng.health()["jobs"]["commits"] - c0
    # K + 1 when each registration follows the last within 100 ms; 2K when
    # every delete takes a commit of its own
    assert k < n <= k + k // 2, (
        "%d commits for %d registrations one after another (%d: each delete in a "
        "commit of its own)" % (n, k, 2 * k))
    assert len(spool_messages(eng.spool_dir)) == k
    api.close()
    assert eng.stop() == 0


def test_kill9_at_each_commit_step(ctx):
    """A crash at any point of a commit loses nothing and duplicates nothing.

    strace kills the engine (SIGKILL injected) at its Nth ftruncate(2) after
    one registration (with an idempotency key) came in: Tokyo Cabinet begins
    and ends the transaction of each of its files (the table, then each
    index) by truncating that file's undo log, so N = 1, 2, ... crashes
    between the files' commits in turn.  After each crash and a restart, the
    same key names one job; if it registered account A, then A is the only
    account of the address (registering again says EMAIL_PENDING_ACTIVATION),
    there is exactly one activation mail, and its link activates A."""
    if engine.on_pg():
        raise harness.Skip("kills at Tokyo Cabinet's commit steps (PostgreSQL's settling: test_store_pg)")
    strace = shutil.which("strace")
    if not strace:
        raise harness.Skip("strace not installed")
    n = 0
    problems = []
    while True:
        n += 1
        assert n <= 80, "the crash sweep does not end"
        db = os.path.join(ctx.tmp, "db%02d" % n, "db.tct")
        spool = os.path.join(ctx.tmp, "spool%02d" % n)
        # one log for the whole sweep (its lines name each run's store)
        eng = Engine(ctx, name="regflowd-sweep", db=db, spool_dir=spool).start()
        err_path = os.path.join(ctx.tmp, "strace-%02d.err" % n)
        with open(err_path, "wb") as err:
            tracer = subprocess.Popen(
                [strace, "-p", str(eng.proc.pid), "-o", "/dev/null", "-e", "trace=ftruncate",
                 "-e", "inject=ftruncate:signal=SIGKILL:when=%d" % n],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        ctx.cleanups.append(lambda t=tracer: (t.poll() is None and t.terminate(), t.wait()))

        def attached():
            with open(err_path, errors="replace") as f:
                text = f.read()
            if tracer.poll() is not None and "attached" not in text:
                raise harness.Skip("strace cannot attach here: %s" % text.strip()[-200:])
            return "attached" in text
        wait_until(attached, 10, what="strace to attach")
        addr = "crash.%02d@example.com" % n
        key = "crash-%02d" % n
        answered = False
        api = eng.api()
        try:
            st, body = api.post_job("register_email", {"email": addr, "password": PASSWORD},
                                    key=key, wait=10000)
            answered = st == 200
        except (OSError, http.client.HTTPException):
            pass  # killed before it answered
        api.close()
        # idle (the outbox record deleted too: its own group, after the spool), or dead
        deadline = time.monotonic() + 10
        while eng.proc.poll() is None and time.monotonic() < deadline:
            try:
                h = eng.health()
                if not h["jobs"]["queued"] and not h["jobs"]["hashing"] and not h["jobs"]["outbox"]:
                    break
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.02)
        crashed = eng.proc.poll() is not None
        tracer.terminate()
        tracer.wait(10)
        if crashed:
            assert eng.proc.returncode == -9, (n, eng.proc.returncode, eng.log_tail())
            eng.proc = None
            eng._log.close()
            eng.start()
        api = eng.api()
        where = "#%d%s" % (n, " (answered before the crash)" if answered else "")
        bad = []
        # the key finds the first job if it was committed, else starts it now
        first = api.run("register_email", key=key, email=addr, password=PASSWORD)
        acct = first["result"].get("account")
        if first["state"] != "done" or first["result"]["code"] != "OK":
            bad.append("the keyed job: %s" % first)
        msgs = spool_to(spool, addr)
        if len(msgs) != 1:
            bad.append("%d activation mails" % len(msgs))
        again = api.result("register_email", email=addr, password=PASSWORD)
        if again["code"] != "EMAIL_PENDING_ACTIVATION":
            bad.append("registering again: %s (account %s; the job's was %s)"
                       % (again["code"], again.get("account"), acct))
        if msgs:
            r = api.result("activate", token=token_in(msgs[0][2]))
            if r["code"] != "OK" or r.get("account") != acct:
                bad.append("the link: %s for account %s, not %s"
                           % (r["code"], r.get("account"), acct))
        if bad:
            problems.append("%s: %s" % (where, ", ".join(bad)))
        api.close()
        assert eng.stop() == 0
        if not crashed:
            break  # N is past the last ftruncate of the scenario: every step was tried
    assert not problems, (
        "after a crash at these ftruncate(2)s of %d and a restart, the registration is "
        "inconsistent:\n  %s" % (n - 1, "\n  ".join(problems)))
    assert n > 2, "the injection never fired: %d step(s)" % n
