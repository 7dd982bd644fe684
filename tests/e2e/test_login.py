"""Logging in and changing the password (issue 9.1, 9.2): a login is a
password check answered with its result (never 202, never written, the
password nowhere), one failure code whatever the cause, a lockout per
login and client that ends by time, a slowdown per login that never locks
the owner out, limits checked before any hashing, a hash of older
parameters made again, a changed password ending the outstanding resets."""
import os
import subprocess

import engine
import harness
from engine import Engine, MSG, spool_token
from flows import PASSWORD, Site, register_email, register_phone
from harness import run_tool, wait_until


def login(api, who, pw, ip=None):
    args = {"login": who, "password": pw}
    if ip:
        args["client_ip"] = ip
    st, body = api.post_job("login", args)
    assert st == 200, (st, body)  # answered with its result, never 202
    assert body["state"] == "done", body
    return body


def test_login_right_wrong_unknown_pending(ctx):
    site = Site(ctx, gateway_=False)
    api = site.api()
    aid = register_email(site, "li.lei@example.com")
    r = login(api, "Li.Lei@example.com", PASSWORD)["result"]
    assert r["code"] == "OK" and r["account"] == aid and r["status"] == "active", r
    # wrong password and unknown login: the same code, the same message, no account
    wrong = login(api, "li.lei@example.com", "not the password")["result"]
    unknown = login(api, "nobody.here@example.com", PASSWORD)["result"]
    for r in (wrong, unknown):
        assert r == {"code": "LOGIN_FAILED", "message": MSG["LOGIN_FAILED"]}, r
    # by phone too (the login it registered with)
    pid = register_phone(site, "13912345678")
    r = login(api, "13912345678", PASSWORD)["result"]
    assert r["code"] == "OK" and r["account"] == pid, r
    # a registration not yet activated: told so, after the right password only
    api.result("register_email", email="wang.wu@example.com", password=PASSWORD)
    r = login(api, "wang.wu@example.com", PASSWORD)["result"]
    assert r["code"] == "EMAIL_PENDING_ACTIVATION", r
    assert login(api, "wang.wu@example.com", "guess guess")["result"]["code"] == "LOGIN_FAILED"
    # not durable: no job record to fetch, and nothing queued
    job = login(api, "li.lei@example.com", PASSWORD)
    assert api.job(job["id"])[0] == 404
    assert site.eng.health()["jobs"]["queued"] == 0


def test_lockout_per_client_ends_by_time(ctx):
    site = Site(ctx, gateway_=False)
    api = site.api()
    aid = register_email(site, "zhao.liu@example.com")
    eng = site.eng
    for _ in range(5):
        assert login(api, "zhao.liu@example.com", "bad", "203.0.113.7")["result"]["code"] \
            == "LOGIN_FAILED"
    hashed = eng.health()["jobs"]["hashed"]
    # locked for this client: even the right password, and no Argon2 work spent
    for _ in range(20):
        r = login(api, "zhao.liu@example.com", PASSWORD, "203.0.113.7")["result"]
        assert r == {"code": "LOGIN_FAILED", "message": MSG["LOGIN_FAILED"]}, r
    h = eng.health()["jobs"]
    assert h["hashed"] == hashed and h["locked_out"] >= 20, h
    # the owner from elsewhere is not locked out (IPv6 counted by its /64)
    r = login(api, "zhao.liu@example.com", PASSWORD, "2001:db8:1:2::10")["result"]
    assert r["code"] == "OK" and r["account"] == aid, r
    for _ in range(5):
        login(api, "zhao.liu@example.com", "bad", "2001:db8:1:2::%x" % (0x20 + _))
    r = login(api, "zhao.liu@example.com", PASSWORD, "2001:db8:1:2:ffff::1")["result"]
    assert r["code"] == "LOGIN_FAILED", r  # the same /64
    r = login(api, "zhao.liu@example.com", PASSWORD, "2001:db8:1:3::1")["result"]
    assert r["code"] == "OK", r  # another /64
    # an unknown login locks the same way: a lockout tells nothing of the account
    for _ in range(6):
        r = login(api, "no.such@example.com", "bad", "203.0.113.7")["result"]
        assert r["code"] == "LOGIN_FAILED", r
    assert eng.health()["jobs"]["locked_out"] >= 21
    api.close()
    # the lock ends by time (the first lock: a minute)
    assert eng.stop() == 0
    eng.faketime = "+2m"
    eng.start()
    r = login(eng.api(), "zhao.liu@example.com", PASSWORD, "203.0.113.7")["result"]
    assert r["code"] == "OK", r


def test_rehash_and_password_never_written(ctx):
    if engine.on_pg():
        raise harness.Skip("reads Tokyo Cabinet's file (test_store_pg checks PostgreSQL's rows)")
    eng = Engine(ctx).start()
    api = eng.api()
    secret = "zz-" + os.urandom(8).hex()
    aid = api.result("register_email", email="qian.qi@example.com", password=secret)["account"]
    tok = spool_token(eng.spool_dir, "qian.qi@example.com")
    assert api.result("activate", token=tok)["code"] == "OK"
    assert login(api, "qian.qi@example.com", secret)["result"]["code"] == "OK"
    api.close()
    assert eng.stop() == 0
    # stronger parameters now: the next login makes the hash again
    eng.overrides += ["engine.argon2.opslimit=3"]
    eng.start()
    assert login(eng.api(), "qian.qi@example.com", secret)["result"]["code"] == "OK"
    assert eng.stop() == 0
    data = b""
    for root, _, files in os.walk(ctx.tmp):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                data += fh.read()
    assert secret.encode() not in data, "the password is in a file"
    with open(eng.db, "rb") as f:
        assert b"$argon2id$v=19$m=19456,t=3,p=1$" in f.read(), "not made again"
    eng.start()
    assert login(eng.api(), "qian.qi@example.com", secret)["result"]["account"] == aid


def test_change_password_ends_outstanding_resets(ctx):
    site = Site(ctx, gateway_=False)
    api = site.api()
    aid = register_email(site, "sun.ba@example.com")
    assert api.result("recover_password", email="sun.ba@example.com")["code"] == "OK"
    reset_tok = spool_token(site.eng.spool_dir, "sun.ba@example.com")
    new = "a brand new one"
    st, body = api.post_job("change_password", {"account": aid, "old": "wrong old one",
                                                 "new": new}, wait=10000)
    assert st == 200 and body["result"]["code"] == "LOGIN_FAILED", body
    st, body = api.post_job("change_password", {"account": aid, "old": PASSWORD, "new": new},
                            wait=10000)
    assert st == 200 and body["result"]["code"] == "OK", body
    assert login(api, "sun.ba@example.com", new)["result"]["code"] == "OK"
    assert login(api, "sun.ba@example.com", PASSWORD)["result"]["code"] == "LOGIN_FAILED"
    r = api.result("reset_password", token=reset_tok, password="yet another one")
    assert r["code"] == "CODE_INVALID", r  # the reset link died with the change


def test_pending_registration_hijack_fails(ctx):
    """A stranger registers someone else's address with his password, before
    or after its owner: his link goes to the owner's mailbox, the owner's
    link keeps the owner's password, and the stranger cannot log in."""
    site = Site(ctx, gateway_=False)
    api = site.api()
    spool = site.eng.spool_dir
    for addr, first in (("victim.one@example.com", "stranger"),
                        ("victim.two@example.com", "owner")):
        pw = {"stranger": "the stranger's pw", "owner": "the owner's own pw"}
        order = [first, "owner" if first == "stranger" else "stranger"]
        links = {}
        for who in order:
            r = api.result("register_email", email=addr, password=pw[who])
            assert r["code"] in ("OK", "EMAIL_PENDING_ACTIVATION"), r
            links[who] = spool_token(spool, addr, exclude=list(links.values()))
        # the earlier link was not revoked by the later registration; the
        # owner clicks the link of his own registration
        r = api.result("activate", token=links["owner"])
        assert r["code"] == "OK", (addr, r)
        assert login(api, addr, pw["owner"])["result"]["code"] == "OK", addr
        assert login(api, addr, pw["stranger"])["result"]["code"] == "LOGIN_FAILED", addr
        # the stranger's link, used now, changes nothing
        assert api.result("activate", token=links["stranger"])["code"] == "ALREADY_ACTIVATED"
        assert login(api, addr, pw["owner"])["result"]["code"] == "OK", addr


def test_a_stranger_cannot_lock_the_owner_out(ctx):
    """Eleven send_code calls from a stranger used to blacklist a phone for a
    day: now the blacklist falls on the requester (that number from that
    client); the owner, from another client, is only deferred by the
    number's own rate, never blacklisted, and gets a code once it allows."""
    eng = Engine(ctx).start()
    api = eng.api()
    phone, stranger, owner = "13700001111", "198.51.100.9", "203.0.113.5"

    def code(ip, p=phone):
        return api.result("send_code", phone=p, purpose="register", client_ip=ip)["code"]
    codes = [code(stranger) for _ in range(11)]
    assert codes[0] == "OK" and codes[-1] == "BLACKLISTED", codes
    assert code(owner) == "RATE_LIMITED"  # one code a minute for the number
    # recovery by address: the same rule
    for _ in range(11):
        last = api.result("recover_password", email="owner.x@example.com",
                          client_ip=stranger)["code"]
    assert last == "BLACKLISTED", last
    api.close()
    assert eng.stop() == 0
    eng.faketime = "+2m"
    eng.start()
    api = eng.api()
    assert code(owner) == "OK"
    assert code(stranger) == "BLACKLISTED"
    assert api.result("recover_password", email="owner.x@example.com",
                      client_ip=owner)["code"] == "OK"


def test_register_email_limited_per_mailbox(ctx):
    """a+1@x and a+2@x count together (for limits only): twenty a day."""
    eng = Engine(ctx).start()
    api = eng.api()
    codes = [api.result("register_email", email="han.mei+%d@example.com" % i,
                        password=PASSWORD)["code"] for i in range(21)]
    assert codes[:20] == ["OK"] * 20 and codes[20] == "RATE_LIMITED", codes
    # another person's mailbox is not touched
    assert api.result("register_email", email="han.mei2@example.com",
                      password=PASSWORD)["code"] == "OK"
