"""DKIM: mail signed by the gateway (libopendkim), relaxed/relaxed, with
rsa-sha256 (ed25519-sha256 once the library frees its keys), the key chosen
by the From domain; verified offline with Debian's python3-dkim against the
local public key (no DNS); a tampered mail fails; a configured key that is
missing, or one the library cannot sign with cleanly, is a start-up error,
never unsigned mail; headers within 78 characters and Auto-Submitted set."""
import base64
import os
import re
import shutil
import subprocess

from harness import Skip, run_tool, wait_until
from test_gateway import gateway

VERIFY = r'''
import sys, dkim
txt = dict(a.split("=", 1) for a in sys.argv[1:])
def dns(name, timeout=5):
    return txt.get(name.decode().rstrip("."), "").encode() or None
ok = dkim.verify(sys.stdin.buffer.read(), dnsfunc=dns)
print("pass" if ok else "fail")
'''


def need_tools():
    if not shutil.which("openssl"):
        raise Skip("openssl not installed")
    if subprocess.run(["/usr/bin/python3", "-c", "import dkim, nacl"],
                      capture_output=True).returncode != 0:
        raise Skip("python3-dkim (and python3-nacl) not installed (make deps)")


def keypair(ctx, name, kind):
    """A private key file and its DNS TXT record value (v=DKIM1; k=...; p=...)."""
    key = os.path.join(ctx.tmp, name + ".pem")
    if kind == "rsa":
        subprocess.run(["openssl", "genrsa", "-out", key, "2048"], check=True,
                       capture_output=True)
        der = subprocess.run(["openssl", "rsa", "-in", key, "-pubout", "-outform", "DER"],
                             check=True, capture_output=True).stdout
        p = base64.b64encode(der).decode()
    else:
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key],
                       check=True, capture_output=True)
        der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"],
                             check=True, capture_output=True).stdout
        p = base64.b64encode(der[-32:]).decode()  # RFC 8463: the raw 32-byte key
    os.chmod(key, 0o600)
    return key, "v=DKIM1; k=%s; p=%s" % ("rsa" if kind == "rsa" else "ed25519", p)


def verify(eml, records):
    r = subprocess.run(["/usr/bin/python3", "-c", VERIFY] +
                       ["%s=%s" % kv for kv in records.items()],
                       input=eml, capture_output=True)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode().strip()


def sent_eml(ctx, spool, mid):
    spool.wait_state(mid, "sent", 15)
    with open(os.path.join(ctx.tmp, "sink", mid + ".eml"), "rb") as f:
        return f.read()


def test_mail_signed_and_verified(ctx):
    need_tools()
    rsa, rsa_txt = keypair(ctx, "rsa", "rsa")
    yz, yz_txt = keypair(ctx, "yz", "rsa")
    # one domain by the single settings, another in the list: the From domain picks
    dkim = {"domain": "mail.regflow.test", "selector": "s2026", "key_file": rsa,
            "keys": [{"domain": "yz.regflow.test", "selector": "y1", "key_file": yz}]}
    spool, gw = gateway(ctx, smtp_from="noreply@mail.regflow.test", dkim=dkim)
    gw.start()
    name = "中国高等教育学生信息网（学信网）研究生招生信息网服务中心"  # a long display name
    mid = spool.put("li.lei@example.com", "您好，请点击链接激活。\n", subject="学信网帐号激活邮件",
                    from_name=name)
    eml = sent_eml(ctx, spool, mid)
    head = eml.split(b"\r\n\r\n", 1)[0]
    assert head.startswith(b"DKIM-Signature: "), head[:200]
    sig = re.match(rb"DKIM-Signature: (.*?)\r\n(?=\S)", head, re.S).group(1)
    tags = dict((k.strip(), re.sub(rb"\s+", b"", v)) for k, _, v in
                (t.partition(b"=") for t in sig.split(b";") if t.strip()))
    assert tags[b"a"] == b"rsa-sha256" and tags[b"c"] == b"relaxed/relaxed", tags
    assert tags[b"d"] == b"mail.regflow.test" and tags[b"s"] == b"s2026", tags
    signed = tags[b"h"].lower().split(b":")
    for h in (b"from", b"to", b"subject", b"date", b"message-id", b"mime-version",
              b"content-type", b"content-transfer-encoding", b"auto-submitted"):
        assert h in signed, (h, signed)
    assert b"\r\nAuto-Submitted: auto-generated\r\n" in head
    assert all(len(line) <= 78 for line in head.split(b"\r\n")), \
        [line for line in head.split(b"\r\n") if len(line) > 78]
    records = {"s2026._domainkey.mail.regflow.test": rsa_txt,
               "y1._domainkey.yz.regflow.test": yz_txt}
    assert verify(eml, records) == "pass"
    # a changed byte of the body: the signature no longer holds
    body_at = eml.index(b"\r\n\r\n") + 4
    tampered = eml[:body_at] + (b"X" if eml[body_at:body_at + 1] != b"X" else b"Y") + \
        eml[body_at + 1:]
    assert verify(tampered, records) == "fail"
    gw.stop()
    # the other domain's From: its own key
    spool2, gw2 = gateway(ctx, smtp_from="noreply@yz.regflow.test", dkim=dkim)
    gw2.start()
    mid2 = spool2.put("han.meimei@example.com", "hello\n", subject="s")
    eml2 = sent_eml(ctx, spool2, mid2)
    assert b"d=yz.regflow.test" in eml2 and b"s=y1" in eml2, eml2[:300]
    assert verify(eml2, records) == "pass"


def test_leaking_ed25519_key_refused_at_start(ctx):
    """Debian 12's libopendkim frees an ed25519 signature's key only for RSA
    (about 1.3 KB lost a message, fixed upstream in OpenDKIM #321): the
    gateway's probe signature at start finds the blocks left unfreed and
    refuses the key, rather than growing by a gigabyte a million mails. When
    the library is fixed the probe passes and the key signs: this test then
    checks that signature instead."""
    need_tools()
    ed, ed_txt = keypair(ctx, "ed", "ed25519")
    spool, gw = gateway(ctx, smtp_from="noreply@yz.regflow.test",
                        dkim={"domain": "yz.regflow.test", "selector": "ed1", "key_file": ed})
    # the probe's own signature is the leak it finds: LeakSanitizer would
    # report that one at exit, so this run does not count leaks
    gw.env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    try:
        gw.start()
    except AssertionError as e:
        assert "ed25519-sha256 signature unfreed" in str(e) and "#321" in str(e), e
        return
    mid = spool.put("han.meimei@example.com", "hello\n", subject="s")
    eml = sent_eml(ctx, spool, mid)
    assert b"a=ed25519-sha256" in eml and b"d=yz.regflow.test" in eml, eml[:300]
    assert verify(eml, {"ed1._domainkey.yz.regflow.test": ed_txt}) == "pass"


def test_missing_or_bad_key_refused_at_start(ctx):
    need_tools()
    for key, want in ((os.path.join(ctx.tmp, "none.pem"), "none.pem"),
                      (__file__, "not a PEM RSA or Ed25519 private key")):
        spool, gw = gateway(ctx, dkim={"domain": "regflow.test", "selector": "s",
                                       "key_file": key})
        r = run_tool(ctx, "regflow-gw", conf_file=gw.conf_file, timeout=15)
        assert r.returncode != 0 and "gateway.dkim" in r.stderr and want in r.stderr, r.stderr
    spool, gw = gateway(ctx, dkim={"domain": "regflow.test", "key_file": "x"})
    r = run_tool(ctx, "regflow-gw", conf_file=gw.conf_file, timeout=15)
    assert r.returncode != 0 and "needs a domain, a selector and a key_file" in r.stderr, r.stderr


def test_regflowctl_dkim_keygen(ctx):
    """regflowctl dkim keygen makes a 0600 RSA key and its TXT record (split
    into strings of 255 bytes at most); the gateway signs with the key, and
    the mail verifies against the record as printed; the file is never
    overwritten; a bad domain or selector is a usage error."""
    need_tools()
    key = os.path.join(ctx.tmp, "s1.pem")
    r = run_tool(ctx, "regflowctl", "dkim", "keygen", "mail.regflow.test", "s1", key)
    assert r.returncode == 0, r.stderr
    assert os.stat(key).st_mode & 0o777 == 0o600
    m = re.search(r'^s1\._domainkey\.mail\.regflow\.test\. IN TXT \( (.*) \)$', r.stdout, re.M)
    assert m, r.stdout
    strings = re.findall(r'"([^"]*)"', m.group(1))
    assert all(len(x) <= 255 for x in strings) and len(strings) >= 3, strings
    txt = "".join(strings)
    assert txt.startswith("v=DKIM1; k=rsa; p=MII"), txt
    spool, gw = gateway(ctx, smtp_from="noreply@mail.regflow.test",
                        dkim={"domain": "mail.regflow.test", "selector": "s1", "key_file": key})
    gw.start()
    mid = spool.put("li.lei@example.com", "hello\n", subject="s")
    eml = sent_eml(ctx, spool, mid)
    assert verify(eml, {"s1._domainkey.mail.regflow.test": txt}) == "pass"
    r = run_tool(ctx, "regflowctl", "dkim", "keygen", "mail.regflow.test", "s1", key)
    assert r.returncode == 1 and "never overwritten" in r.stderr, r.stderr
    for args in (("keygen", "nodot", "s1", key + "2"), ("keygen", "a.test", "bad.sel", key + "2"),
                 ("make", "a.test", "s1", key + "2")):
        r = run_tool(ctx, "regflowctl", "dkim", *args)
        assert r.returncode == 2 and "usage: regflowctl dkim" in r.stderr, (args, r.stderr)
