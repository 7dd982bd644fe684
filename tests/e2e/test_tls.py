"""TLS on engine.listen (OpenSSL, when engine.tls has a certificate and its
key): a front's jobs and a login over HTTPS, a client that speaks plain HTTP
to the TLS port told so in plain HTTP, a broken handshake costing only its
connection, pipelined requests and a body spread over many TLS records, a
renewed certificate taken on SIGHUP for new connections, regflowctl over
HTTPS, bad certificate settings refused at start by name, and a listener off
loopback without TLS warned about."""
import os
import shutil
import signal
import socket
import ssl

import harness
from engine import Engine, spool_token
from harness import Skip, run_tool, wait_until

PASSWORD = "correct horse battery"


def make_cert(ctx, name, cn="localhost"):
    """A self-signed certificate for 127.0.0.1 and localhost: (cert, key) paths."""
    if not shutil.which("openssl"):
        raise Skip("openssl not installed (make deps)")
    cert, key = (os.path.join(ctx.tmp, name + ext) for ext in (".crt", ".key"))
    r = harness.subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=" + cn,
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    os.chmod(key, 0o600)
    return cert, key


def tls_socket(eng):
    s = socket.create_connection(("127.0.0.1", eng.port), timeout=10)
    return eng.tls.wrap_socket(s, server_hostname="localhost")


def read_all(s):
    out = b""
    while True:
        try:
            d = s.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            break
        if not d:
            break
        out += d
    return out


def test_jobs_and_login_over_tls(ctx):
    cert, key = make_cert(ctx, "engine")
    eng = Engine(ctx, tls=(cert, key)).start()
    assert "port %d, TLS" % eng.port in eng.log(), eng.log_tail()
    api = eng.api()
    r = api.result("register_email", email="tls.user@example.com", password=PASSWORD)
    assert r["code"] == "OK", r
    tok = spool_token(eng.spool_dir, "tls.user@example.com")
    assert api.result("activate", token=tok)["code"] == "OK"
    st, body = api.post_job("login", {"login": "tls.user@example.com", "password": PASSWORD})
    assert st == 200 and body["result"]["code"] == "OK", (st, body)
    st, body = api.post_job("login", {"login": "tls.user@example.com", "password": "wrong" * 3})
    assert st == 200 and body["result"]["code"] == "LOGIN_FAILED", (st, body)
    assert eng.health()["status"] == "ok"
    # plain HTTP to the TLS port: told so, in plain HTTP
    s = socket.create_connection(("127.0.0.1", eng.port), timeout=10)
    s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
    reply = read_all(s).decode("latin-1")
    s.close()
    assert reply.startswith("HTTP/1.1 400") and "TLS_REQUIRED" in reply, reply
    # a handshake record of garbage: that connection goes, the engine stays
    s = socket.create_connection(("127.0.0.1", eng.port), timeout=10)
    s.sendall(b"\x16\x03\x01\x00\x05garbagegarbage" * 10)
    read_all(s)
    s.close()
    # two requests pipelined in one write, then a body over many TLS records
    s = tls_socket(eng)
    one = b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
    s.sendall(one * 2)
    got = b""
    while got.count(b"HTTP/1.1 200") < 2:
        d = s.recv(65536)
        assert d, got
        got += d
    body = b'{"type":"register_email","args":{"email":"' + b"x" * 60000 + b'@example.com"}}'
    s.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
              api.token.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: " +
              str(len(body)).encode() + b"\r\n\r\n" + body)
    d = s.recv(65536)
    assert d.startswith(b"HTTP/1.1 400") and b"args.email" in d, d[:300]
    s.close()
    assert eng.running() and eng.health()["status"] == "ok"
    # regflowctl over HTTPS, checking the engine's certificate
    r = run_tool(ctx, "regflowctl", "account", "find", "--email", "tls.user@example.com",
                 conf_file=eng.conf_file, overrides=eng.overrides)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "t***@example.com" in r.stdout or "tls.user" not in r.stdout, r.stdout


def test_certificate_renewed_on_sighup(ctx):
    cert, key = make_cert(ctx, "engine", cn="localhost")
    eng = Engine(ctx, tls=(cert, key)).start()
    s = tls_socket(eng)
    first = s.getpeercert(binary_form=True)
    s.close()
    # a new certificate in the same files (as a renewal writes them)
    new_cert, new_key = make_cert(ctx, "renewed")
    os.replace(new_key, key)
    os.replace(new_cert, cert)
    eng.tls = ssl.create_default_context(cafile=cert)
    eng.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "reloaded the certificate" in eng.log(), 10, what="the reload")
    s = tls_socket(eng)
    assert s.getpeercert(binary_form=True) != first
    s.close()
    # a broken renewal is refused; the certificate before stays
    with open(key, "w") as f:
        f.write("not a key\n")
    eng.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "certificate not reloaded" in eng.log(), 10, what="the refusal")
    assert eng.health()["status"] == "ok"


def test_bad_tls_settings_refused(ctx):
    cert, key = make_cert(ctx, "engine")
    other_cert, other_key = make_cert(ctx, "other")
    base = Engine(ctx)

    def refused(extra, *wants):
        r = run_tool(ctx, "regflowd", conf_file=base.conf_file,
                     overrides=base.overrides + extra, timeout=30)
        assert r.returncode > 0, r.stderr
        assert not harness.SAN_PATTERNS.search(r.stderr), r.stderr
        for w in wants:
            assert w in r.stderr, "%r not in: %s" % (w, r.stderr)

    refused(["engine.tls.certificate=" + cert], "a certificate needs its key")
    refused(["engine.tls.certificate=" + cert, "engine.tls.key=" + other_key],
            other_key, "does not belong to the certificate")
    refused(["engine.tls.certificate=" + key, "engine.tls.key=" + key],
            key, "not a PEM certificate chain")
    refused(["engine.tls.certificate=" + os.path.join(ctx.tmp, "none.crt"),
             "engine.tls.key=" + key], "none.crt")


def test_plain_listener_off_loopback_warned(ctx):
    eng = Engine(ctx, overrides=["engine.listen=0.0.0.0:%d" % harness.free_port()])
    eng.port = int(eng.overrides[-1].rsplit(":", 1)[1])
    eng.start()
    assert "is not loopback and has no TLS" in eng.log(), eng.log_tail()
