"""test_sms - regflow-gw's SMS over HTTP against real peers.

Kannel (bearerbox + fakesmsc + smsbox, from the kannel and kannel-extras
packages) on free loopback ports: accepted (202), wrong password (403),
smsbox down then up, delivery reports through Kannel's dlr-url.  Where
Kannel cannot be made to answer what a test needs (503, a slow provider, a
POST/JSON provider), a small real HTTP/1.1 server in this process answers
over a real socket.
"""
import hashlib
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from harness import Daemon, Skip, Spool, free_port, now_ms, port_listening, wait_until

KANNEL_TEST = "/usr/lib/kannel/test"
CODE_TEXT = "【学信网】您的校验码是 771204，一天内有效。"


class Kannel:
    """A private Kannel: bearerbox with a fake SMSC, fakesmsc as the phone network, smsbox.

    sendsms URL: self.url; user regflow / password s3cret.  fakesmsc prints
    every message it receives; messages() decodes them."""

    USER, PASSWORD = "regflow", "s3cret"

    def __init__(self, ctx, name="kannel"):
        for exe in ("bearerbox", "smsbox"):
            if not shutil.which(exe) and not os.path.exists("/usr/sbin/" + exe):
                raise Skip("kannel not installed (%s)" % exe)
        if not os.path.exists(os.path.join(KANNEL_TEST, "fakesmsc")):
            raise Skip("kannel-extras not installed (fakesmsc)")
        self.ctx = ctx
        self.dir = os.path.join(ctx.tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.admin, self.boxport, self.smscport, self.sendport = (free_port() for _ in range(4))
        self.conf = os.path.join(self.dir, "kannel.conf")
        with open(self.conf, "w") as f:
            f.write("""group = core
admin-port = %d
admin-password = adm
smsbox-port = %d
log-file = "%s/bearerbox.log"
log-level = 1
box-allow-ip = "127.0.0.1"
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
host = 127.0.0.1
port = %d

group = smsbox
bearerbox-host = 127.0.0.1
sendsms-port = %d
global-sender = 10690000
log-file = "%s/smsbox.log"
log-level = 1

group = sendsms-user
username = %s
password = %s

group = sms-service
keyword = default
text = "ok"
""" % (self.admin, self.boxport, self.dir, self.smscport, self.sendport, self.dir,
       self.USER, self.PASSWORD))
        self.procs = {}
        ctx.cleanups.append(self.stop)

    @property
    def url(self):
        return "http://127.0.0.1:%d/cgi-bin/sendsms" % self.sendport

    def _spawn(self, name, argv):
        out = open(os.path.join(self.dir, name + ".out"), "ab")
        self.procs[name] = (subprocess.Popen(argv, cwd=self.dir, stdin=subprocess.DEVNULL,
                                             stdout=out, stderr=out), out)

    def start(self, smsbox=True):
        self._spawn("bearerbox", [shutil.which("bearerbox") or "/usr/sbin/bearerbox", self.conf])
        wait_until(lambda: port_listening(self.boxport) and port_listening(self.smscport), 10,
                   what="bearerbox")
        # -m 0: send nothing, print what arrives; a message argument keeps it non-interactive
        self._spawn("fakesmsc", [os.path.join(KANNEL_TEST, "fakesmsc"), "-H", "127.0.0.1",
                                 "-r", str(self.smscport), "-i", "1", "-m", "0", "1 2 text nop"])
        if smsbox:
            self.start_smsbox()
        return self

    def start_smsbox(self):
        self._spawn("smsbox", [shutil.which("smsbox") or "/usr/sbin/smsbox", self.conf])
        wait_until(lambda: port_listening(self.sendport), 10, what="smsbox")
        # smsbox listens before it has its bearerbox connection: wait for that too
        wait_until(lambda: "Connected to bearerbox" in self._read("smsbox.log"), 10,
                   what="smsbox connected to bearerbox")
        return self

    def _read(self, name):
        try:
            with open(os.path.join(self.dir, name), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def messages(self):
        """(receiver, text) of every SMS the fake SMSC got, UCS-2 decoded."""
        out = []
        for m in re.finditer(r"Got message \d+: <(\S+) (\S+) (text|ucs-2|data) ([^>]*)>",
                             self._read("fakesmsc.out")):
            raw = urllib.parse.unquote_to_bytes(m.group(4).replace("+", " ")) \
                if m.group(3) != "text" else m.group(4).encode()
            text = raw.decode("utf-16-be") if m.group(3) == "ucs-2" else raw.decode("utf-8", "replace")
            out.append((m.group(2), text))
        return out

    def stop(self):
        for name in ("smsbox", "fakesmsc", "bearerbox"):
            if name not in self.procs:
                continue
            p, out = self.procs.pop(name)
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(3)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            out.close()


class HttpPeer:
    """A real HTTP/1.1 server in this process (keep-alive): answer(handler) -> (status, body).

    Records every request as (method, path, query dict, body text)."""

    def __init__(self, ctx, answer, delay=0.0):
        peer = self
        self.requests = []
        self.lock = threading.Lock()
        self.active = self.max_active = 0
        self.connections = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def setup(self):
                super().setup()
                with peer.lock:
                    peer.connections += 1

            def handle_one(self, method):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode("utf-8") if n else ""
                u = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
                with peer.lock:
                    peer.requests.append((method, u.path, q, body, dict(self.headers)))
                    peer.active += 1
                    peer.max_active = max(peer.max_active, peer.active)
                    idx = len(peer.requests)
                if delay:
                    time.sleep(delay)
                status, text = answer(idx, method, q, body)
                data = text.encode("utf-8")
                with peer.lock:
                    peer.active -= 1
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self.handle_one("GET")

            def do_POST(self):
                self.handle_one("POST")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        ctx.cleanups.append(self.stop)

    @property
    def url(self):
        return "http://127.0.0.1:%d/send" % self.port

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def sms_gateway(ctx, url, listen=True, **sms):
    """A regflow-gw delivering SMS to url; sms: extra gateway.sms settings."""
    spool = Spool(os.path.join(ctx.tmp, "spool"))
    s = {"url": url, "username": Kannel.USER, "password": Kannel.PASSWORD, "timeout": "3s"}
    s.update(sms)
    gw = {"sms": s, "key_file": os.path.join(ctx.tmp, "gateway.key"), "retry": {"min": "200ms", "max": "1s", "lifetime": "5d"},
          "sink": {"dir": os.path.join(ctx.tmp, "sink")}, "scan_interval": "300ms"}
    if listen:
        gw["listen"] = "127.0.0.1:%d" % free_port()
    conf = {"spool": {"dir": spool.path}, "gateway": gw}
    d = Daemon(ctx, "regflow-gw", conf=conf, ready_log=r"started:")
    d.listen = gw.get("listen")
    return spool, d


def dlr_sig(ctx, mid, kid="k1"):
    """The signature the gateway gives message mid's report URL (from its key file)."""
    with open(os.path.join(ctx.tmp, "gateway.key")) as f:
        keys = dict((ln.split()[0], bytes.fromhex(ln.split()[1])) for ln in f
                    if ln.strip() and not ln.startswith("#"))
    mac = hashlib.blake2b(mid.encode(), key=keys[kid], digest_size=32).hexdigest()
    return "%s.%s" % (kid, mac[:32])


def http_get(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8")


def read_history(spool, mid):
    """The history lines of a message ("MS text"), from its file."""
    st = spool.state(mid)
    with open(os.path.join(spool.path, {"queued": "incoming"}.get(st, st), mid), encoding="utf-8") as f:
        head = f.read().partition("\n\n")[0]
    return [line[len("history: "):] for line in head.splitlines() if line.startswith("history: ")]


def test_kannel_accepted_and_dlr(ctx):
    k = Kannel(ctx).start()
    spool, gw = sms_gateway(ctx, k.url)
    gw.start()
    mid = spool.put("13800138000", CODE_TEXT, channel="sms", secret="771204", front="yz")
    spool.wait_state(mid, "sent")
    env, body = spool.read(mid, "sent")
    assert env["reply"].startswith("HTTP 202 0: Accepted"), env["reply"]
    assert env["attempts"] == "1" and env["secret"] == "" and "771204" not in body
    # fakesmsc got the text, as UCS-2, intact
    got = wait_until(k.messages, 10, what="fakesmsc to receive the SMS")
    assert got == [("13800138000", CODE_TEXT)], got
    # Kannel calls the dlr-url: 8 (SMSC accepted), then 1 (delivered)
    wait_until(lambda: spool.read(mid, "sent")[0].get("dlr") == "delivered", 10,
               what="the delivery report")
    h = read_history(spool, mid)
    assert any(re.match(r"\d+ sent: HTTP 202", x) for x in h), h
    assert any(re.match(r"\d+ dlr 1 delivered", x) for x in h), h
    gw.wait_log(mid + r": sms dlr 1 delivered")
    log = gw.log()
    assert "771204" not in log and Kannel.PASSWORD not in log, "secret or password logged"


def test_kannel_wrong_password_failed(ctx):
    k = Kannel(ctx).start()
    spool, gw = sms_gateway(ctx, k.url, password="wrong")
    gw.start()
    mid = spool.put("13800138001", CODE_TEXT, channel="sms", secret="771204")
    spool.wait_state(mid, "failed")
    env, _ = spool.read(mid)
    assert env["last-error"].startswith("HTTP 403"), env["last-error"]
    assert env["attempts"] == "1"
    assert k.messages() == []
    gw.wait_log(mid + r": sms to=13800138001 failed attempts=1: HTTP 403")


def test_smsbox_down_deferred_then_delivered(ctx):
    k = Kannel(ctx).start(smsbox=False)  # nothing on the sendsms port yet
    spool, gw = sms_gateway(ctx, k.url)
    gw.start()
    mid = spool.put("13800138002", CODE_TEXT, channel="sms", secret="771204")
    wait_until(lambda: spool.state(mid) == "deferred" and spool.read(mid)[0]["last-error"], 10,
               what="a deferral")
    env, _ = spool.read(mid)
    assert "Connection refused" in env["last-error"] or "connect" in env["last-error"].lower(), \
        env["last-error"]
    k.start_smsbox()
    spool.wait_state(mid, "sent", 15)
    assert int(spool.read(mid)[0]["attempts"]) >= 2
    assert wait_until(k.messages, 10) == [("13800138002", CODE_TEXT)]


def test_503_retried_then_accepted(ctx):
    peer = HttpPeer(ctx, lambda i, m, q, b: (503, "busy") if i <= 2 else (202, "0: Accepted"))
    spool, gw = sms_gateway(ctx, peer.url)
    gw.start()
    mid = spool.put("13800138003", CODE_TEXT, channel="sms", secret="771204")
    spool.wait_state(mid, "sent", 15)
    env, _ = spool.read(mid)
    assert env["attempts"] == "3" and env["reply"] == "HTTP 202 0: Accepted", env
    h = read_history(spool, mid)
    assert sum("deferred: HTTP 503 busy" in x for x in h) == 2, h
    # the Kannel request shape: GET with the fields sendsms wants
    method, path, q, _, _ = peer.requests[-1]
    assert method == "GET" and path == "/send"
    assert q["username"] == Kannel.USER and q["password"] == Kannel.PASSWORD
    assert q["to"] == "13800138003" and q["text"] == CODE_TEXT
    assert q["charset"] == "UTF-8" and q["coding"] == "2" and q["dlr-mask"] == "27"
    assert re.fullmatch(r"http://%s/dlr\?id=%s&sig=k1\.[0-9a-f]{32}&type=%%d&answer=%%A"
                        % (re.escape(gw.listen), mid), q["dlr-url"]), q["dlr-url"]
    assert q["dlr-url"].split("sig=")[1].split("&")[0] == dlr_sig(ctx, mid)


def test_4xx_failed_429_deferred(ctx):
    def answer(i, m, q, b):
        return (429, "slow down") if q["to"] == "13800138005" and i <= 2 else \
               (400, "bad number") if q["to"] == "123" else (202, "ok")
    peer = HttpPeer(ctx, answer)
    spool, gw = sms_gateway(ctx, peer.url, listen=False)
    gw.start()
    bad = spool.put("123", "x", channel="sms")
    slow = spool.put("13800138005", "y", channel="sms")
    spool.wait_state(bad, "failed")
    assert spool.read(bad)[0]["last-error"] == "HTTP 400 bad number"
    spool.wait_state(slow, "sent")
    assert int(spool.read(slow)[0]["attempts"]) >= 2
    # no listener: no delivery reports asked for
    assert all(r[2]["dlr-mask"] == "0" and r[2]["dlr-url"] == "" for r in peer.requests)


def test_expired_sms_not_sent_late(ctx):
    peer = HttpPeer(ctx, lambda i, m, q, b: (503, "down"))
    spool, gw = sms_gateway(ctx, peer.url)
    stale = spool.put("13800138006", CODE_TEXT, channel="sms", expires=now_ms() - 1000)
    gw.start()
    soon = spool.put("13800138007", CODE_TEXT, channel="sms", expires=now_ms() + 1500)
    spool.wait_state(stale, "failed")
    spool.wait_state(soon, "failed", 10)
    assert "expired" in spool.read(soon)[0]["last-error"]
    assert "expired" in spool.read(stale)[0]["last-error"]
    sent_to = [r[2]["to"] for r in peer.requests]
    assert "13800138006" not in sent_to, "an expired code was sent"
    assert sent_to.count("13800138007") >= 1
    n = len(peer.requests)
    time.sleep(1.0)
    assert len(peer.requests) == n, "requests after expiry"


def test_inflight_bounded_keepalive(ctx):
    peer = HttpPeer(ctx, lambda i, m, q, b: (202, "ok"), delay=0.2)
    spool, gw = sms_gateway(ctx, peer.url, listen=False, max_inflight=4)
    ids = [spool.put("1380013%04d" % i, "m%d" % i, channel="sms") for i in range(24)]
    gw.start()
    for mid in ids:
        spool.wait_state(mid, "sent", 20)
    assert peer.max_active == 4, peer.max_active
    assert len(peer.requests) == 24
    assert peer.connections == 4, "connections not kept alive: %d" % peer.connections


def test_post_json_template(ctx):
    peer = HttpPeer(ctx, lambda i, m, q, b: (200, '{"ok":true}'))
    spool, gw = sms_gateway(
        ctx, peer.url + "?key=abc", listen=False, method="POST",
        query="sig={{id}}", content_type="application/json",
        body='{"phone":"{{to}}","content":"{{text}}","user":"{{username}}"}')
    gw.start()
    text = '引号 " 反斜杠 \\ 换行\n结束 & ?'
    mid = spool.put("+8613800138008", text, channel="sms")
    spool.wait_state(mid, "sent")
    method, path, q, body, hdrs = peer.requests[0]
    assert method == "POST" and q == {"key": "abc", "sig": mid}, (method, q)
    assert hdrs["Content-Type"] == "application/json"
    assert json.loads(body) == {"phone": "+8613800138008", "content": text,
                                "user": Kannel.USER}, body


def test_bad_template_refused(ctx):
    spool, gw = sms_gateway(ctx, "http://127.0.0.1:1/x", query="to={{phone}}")
    from harness import run_tool
    r = run_tool(ctx, "regflow-gw", conf_file=gw.conf_file, timeout=10)
    assert r.returncode != 0 and "gateway.sms.query" in r.stderr and "{{phone}}" in r.stderr, r.stderr


def test_dlr_endpoint_metrics_health(ctx):
    peer = HttpPeer(ctx, lambda i, m, q, b: (202, "ok") if q["to"] != "1" else (403, "no"))
    spool, gw = sms_gateway(ctx, peer.url)
    gw.start()
    a = spool.put("13800138010", "a", channel="sms")
    b = spool.put("1", "b", channel="sms")
    spool.wait_state(a, "sent")
    spool.wait_state(b, "failed")
    base = "http://" + gw.listen
    # the provider's callbacks, as Kannel makes them: to the URL the gateway gave
    url = [q["dlr-url"] for _, _, q, _, _ in peer.requests if q["to"] == "13800138010"][0]
    sig = url.split("sig=")[1].split("&")[0]
    assert sig == dlr_sig(ctx, a)
    assert http_get(base + "/dlr?id=%s&sig=%s&type=8&answer=ACK%%2F" % (a, sig))[0] == 200
    assert http_get(base + "/dlr?id=%s&sig=%s&type=2&answer=%s" % (
        a, sig, urllib.parse.quote("手机关机")))[0] == 200
    # after the final report nothing more is taken, not even a late one
    st, text = http_get(base + "/dlr?id=%s&sig=%s&type=8" % (a, sig))
    assert st == 409 and "outcome is recorded already" in text, (st, text)
    assert http_get(base + "/dlr?id=%s&sig=%s&type=1" % (a, sig))[0] == 409
    env, _ = spool.read(a, "sent")
    assert env["dlr"] == "failed", env
    h = read_history(spool, a)
    assert any(x.endswith("dlr 2 failed: 手机关机") for x in h), h
    assert http_get(base + "/dlr?id=0000000000000&sig=%s&type=1"
                    % dlr_sig(ctx, "0000000000000"))[0] == 404
    assert http_get(base + "/dlr?id=nonsense&type=1")[0] == 400
    assert http_get(base + "/dlr?type=1")[0] == 400
    assert http_get(base + "/nope")[0] == 404
    st, text = http_get(base + "/health")
    assert st == 200 and json.loads(text)["status"] == "ok", text
    st, text = http_get(base + "/metrics")
    assert st == 200, st
    assert 'regflow_spool_messages{state="sent",channel="sms"} 1' in text, text
    assert 'regflow_spool_messages{state="failed",channel="sms"} 1' in text, text
    assert 'regflow_gateway_outcomes_total{channel="sms",outcome="sent"} 1' in text, text
    assert 'regflow_gateway_dlr_total{status="failed"} 1' in text, text
    assert 'regflow_sms_dlr_messages{dlr="failed"} 1' in text, text


def test_forged_delivery_reports_refused(ctx):
    """The attacks of the issue: reports without the message's signature,
    with another message's, for an e-mail, a flood, and reports past the
    per-message cap; the history keeps how the message began."""
    peer = HttpPeer(ctx, lambda i, m, q, b: (202, "ok"))
    spool, gw = sms_gateway(ctx, peer.url, dlr_max_per_message=5)
    gw.start()
    a = spool.put("13800138020", "a", channel="sms")
    b = spool.put("13800138021", "b", channel="sms")
    mail = spool.put("x@example.com", "m", channel="email")
    spool.wait_state(a, "sent")
    spool.wait_state(b, "sent")
    base = "http://" + gw.listen
    before = read_history(spool, a)
    for forged in ("", "&sig=", "&sig=k1.00000000000000000000000000000000",
                   "&sig=" + dlr_sig(ctx, b), "&sig=k9." + dlr_sig(ctx, a)[3:]):
        st, text = http_get(base + "/dlr?id=%s%s&type=2" % (a, forged))
        assert st == 403 and "not this message's report URL" in text, (forged, st, text)
    # a flood of forged reports rewrites nothing
    for i in range(300):
        assert http_get(base + "/dlr?id=%s&sig=k1.%032x&type=2" % (a, i))[0] == 403
    assert read_history(spool, a) == before
    assert spool.read(a, "sent")[0].get("dlr", "") == ""
    # an e-mail has no reports, even with a right signature
    st, text = http_get(base + "/dlr?id=%s&sig=%s&type=1" % (mail, dlr_sig(ctx, mail)))
    assert st in (404, 409), (st, text)
    # intermediate reports: at most dlr_max_per_message, then 429
    sig = dlr_sig(ctx, a)
    codes = [http_get(base + "/dlr?id=%s&sig=%s&type=8" % (a, sig))[0] for _ in range(8)]
    assert codes == [200] * 5 + [429] * 3, codes
    h = read_history(spool, a)
    assert h[0] == before[0], (h, before)  # the first line stays
    gw.wait_log(a + r": sms dlr 2 failed refused|%s: sms dlr refused" % a)


def test_fallback_gateway_while_the_first_keeps_failing(ctx):
    """gateway.sms.fallback_url: after fallback_after transient failures in a
    row of the first gateway (here 503s), SMS go to the second (a real
    Kannel), each record saying so; after fallback_hold one request tries the
    first again, and once it answers, SMS go back to it."""
    state = {"down": True}
    peer = HttpPeer(ctx, lambda i, m, q, b: (503, "busy") if state["down"] else (202, "0: ok"))
    k = Kannel(ctx).start()
    spool, gw = sms_gateway(ctx, peer.url, fallback_url=k.url, fallback_after=2,
                            fallback_hold="1s")
    gw.start()
    a = spool.put("13800138010", CODE_TEXT, channel="sms", secret="771204")
    b = spool.put("13800138011", CODE_TEXT, channel="sms", secret="771205")
    gw.wait_log(r"failed 2 time\(s\) in a row .*: using the fallback", 15)
    for mid in (a, b):
        spool.wait_state(mid, "sent", 15)
        env, _ = spool.read(mid, "sent")
        assert env["reply"].startswith("fallback: HTTP 202 0: Accepted"), env
        h = read_history(spool, mid)
        assert any("deferred: HTTP 503 busy" in x for x in h) or \
            any("fallback:" in x for x in h), h
    got = sorted(wait_until(lambda: len(k.messages()) == 2 and k.messages(), 10,
                            what="Kannel to take both"))
    assert [to for to, _ in got] == ["13800138010", "13800138011"], got
    st, text = http_get("http://%s/metrics" % gw.listen)
    assert "regflow_sms_fallback_active 1" in text and \
        "regflow_sms_fallback_switches_total 1" in text, text
    st, text = http_get("http://%s/health" % gw.listen)
    assert json.loads(text)["sms"] == "fallback", text
    # the first answers again: after the hold, one SMS tries it, and it stays
    state["down"] = False
    before = len(peer.requests)

    def one_more():  # SMS go to the fallback until the 1s hold ends
        c = spool.put("13800138012", CODE_TEXT, channel="sms")
        spool.wait_state(c, "sent", 15)
        return "answers again: back from the fallback" in gw.log()
    wait_until(one_more, 15, what="the first gateway tried again and taken back")
    d = spool.put("13800138013", CODE_TEXT, channel="sms", secret="771207")
    spool.wait_state(d, "sent", 15)
    assert spool.read(d, "sent")[0]["reply"] == "HTTP 202 0: ok"
    assert len(peer.requests) > before
    st, text = http_get("http://%s/metrics" % gw.listen)
    assert "regflow_sms_fallback_active 0" in text, text


def test_fallback_settings_checked(ctx):
    for sms, want in (({"fallback_url": "ftp://x"}, "gateway.sms.fallback_url: expected http"),
                      ({"fallback_url": "http://127.0.0.1:1/send", "url": ""},
                       "needs gateway.sms.url"),
                      ({"fallback_url": "http://127.0.0.1:1/send",
                        "url": "http://127.0.0.1:1/send"}, "the same as gateway.sms.url"),
                      ({"fallback_after": 0}, "gateway.sms.fallback_after")):
        s = {"url": "http://127.0.0.1:2/send"}
        s.update(sms)
        spool, gw = sms_gateway(ctx, s.pop("url"), **s)
        r = subprocess.run(gw.argv(), capture_output=True, text=True, timeout=15, cwd=ctx.tmp)
        assert r.returncode != 0 and want in r.stderr, (sms, r.stderr)
