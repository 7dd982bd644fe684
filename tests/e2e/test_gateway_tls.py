"""test_gateway_tls - STARTTLS and AUTH toward the mail relay, against real peers.

Peers, each started by the test on free loopback ports:
  * Postfix's smtp-sink: offers neither STARTTLS nor AUTH, takes anything;
  * a private Postfix instance (PostfixRelay): STARTTLS with a self-signed
    certificate made here, SASL PLAIN/LOGIN from a Cyrus sasldb, AUTH only
    over TLS, relaying to an smtp-sink whose dump files the test reads.  It
    also relays for 127.0.0.0/8 without AUTH, so a gateway that went on
    unauthenticated would get its mail through: the tests prove it does not.
"""
import os
import shutil
import signal
import smtplib
import ssl
import subprocess
import time

from harness import Daemon, Skip, SmtpSink, Spool, free_port, port_listening, run_tool, wait_until

USER = "regflow@regflow.test"
PASSWORD = "S3cret-Pass 学信"  # never to be seen in a log
SUBJECT = "学信网帐号激活邮件"


def gateway(ctx, relay, **smtp):
    """A regflow-gw on a private spool relaying to relay; smtp: gateway.smtp.* settings."""
    spool = Spool(os.path.join(ctx.tmp, "spool"))
    conf = {"spool": {"dir": spool.path},
            "gateway": {"smtp": dict({"relay": relay, "timeout": "5s", "connections": 1},
                                     **smtp),
                        "retry": {"min": "300ms", "max": "1s", "lifetime": "5d"},
                        "sink": {"dir": os.path.join(ctx.tmp, "sink")},
                        "scan_interval": "300ms"}}
    n = getattr(ctx, "gateways", 0)  # each gateway of a test gets its own conf and log
    ctx.gateways = n + 1
    return spool, Daemon(ctx, "regflow-gw", conf=conf, ready_log=r"started:",
                         name="regflow-gw-%d" % n)


def wait_deferred(spool, mid, timeout=10):
    """The message deferred with a last error; returns that error."""
    def deferred():
        if spool.state(mid) == "deferred":
            return spool.read(mid)[0]["last-error"]
        return None
    return wait_until(deferred, timeout, what="message %s deferred (now %s)"
                      % (mid, spool.state(mid)))


class PostfixRelay:
    """A private Postfix: STARTTLS (self-signed), SASL via sasldb, relays to next_hop."""

    def __init__(self, ctx, next_hop, user=USER, password=PASSWORD, extra_listen=(),
                 main_extra=None, master_extra=()):
        for tool in ("postfix", "saslpasswd2", "openssl"):
            if not (shutil.which(tool) or os.path.exists("/usr/sbin/" + tool)):
                raise Skip("%s not installed (make deps)" % tool)
        if os.geteuid() != 0:
            raise Skip("a private Postfix instance needs root")
        self.ctx = ctx
        self.port = free_port()
        self.dir = d = os.path.join(ctx.tmp, "postfix")
        self.etc = os.path.join(d, "etc")
        self.maillog = os.path.join(d, "maillog")
        for sub in ("etc/sasl", "queue", "data"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        shutil.chown(os.path.join(d, "data"), "postfix")
        self.cert = os.path.join(self.etc, "cert.pem")
        key = os.path.join(self.etc, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", key, "-out", self.cert, "-days", "2",
                        "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)
        os.chmod(key, 0o600)
        sasl = os.path.join(self.etc, "sasl")  # Debian's Postfix reads $config_directory/sasl
        sasldb = os.path.join(sasl, "sasldb2")
        localpart, _, realm = user.partition("@")
        subprocess.run([shutil.which("saslpasswd2") or "/usr/sbin/saslpasswd2", "-p", "-c",
                        "-f", sasldb, "-u", realm, localpart],
                       input=password.encode(), check=True, capture_output=True)
        shutil.chown(sasldb, "postfix")
        os.chmod(sasldb, 0o640)
        with open(os.path.join(sasl, "smtpd.conf"), "w") as f:
            f.write("pwcheck_method: auxprop\nauxprop_plugin: sasldb\n"
                    "sasldb_path: %s\nmech_list: PLAIN LOGIN\n" % sasldb)
        main = {
            "compatibility_level": "3.6",
            "queue_directory": os.path.join(d, "queue"),
            "data_directory": os.path.join(d, "data"),
            "mail_owner": "postfix", "setgid_group": "postdrop",
            "syslog_name": "postfix-regflow-test",
            "maillog_file": self.maillog, "maillog_file_prefixes": d,
            "myhostname": "relay.regflow.test", "mydomain": "regflow.test",
            "inet_interfaces": "loopback-only", "inet_protocols": "ipv4",
            "mydestination": "", "local_recipient_maps": "", "relay_domains": "",
            "alias_maps": "", "alias_database": "", "biff": "no",
            "relayhost": "[127.0.0.1]:%d" % next_hop,
            # permissive on purpose: loopback may relay without AUTH
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions":
                "permit_sasl_authenticated, permit_mynetworks, reject_unauth_destination",
            "smtpd_tls_cert_file": self.cert, "smtpd_tls_key_file": key,
            "smtpd_tls_security_level": "may", "smtpd_tls_auth_only": "yes",
            "smtpd_tls_loglevel": "1", "smtpd_tls_received_header": "yes",
            "smtpd_sasl_auth_enable": "yes", "smtpd_sasl_type": "cyrus",
            "smtpd_sasl_path": "smtpd", "cyrus_sasl_config_path": sasl,
            "smtpd_sasl_authenticated_header": "yes",
            "smtp_tls_security_level": "none",
        }
        main.update(main_extra or {})
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write("".join("%s = %s\n" % kv for kv in main.items()))
        services = ["%s:%d inet n - n - - smtpd" % (a, self.port)
                    for a in ("127.0.0.1",) + tuple(extra_listen)]
        services += [
            "pickup unix n - n 60 1 pickup", "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr", "tlsmgr unix - - n 1000? 1 tlsmgr",
            "rewrite unix - - n - - trivial-rewrite", "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce", "trace unix - - n - 0 bounce",
            "verify unix - - n - 1 verify", "flush unix n - n 1000? 0 flush",
            "proxymap unix - - n - - proxymap", "smtp unix - - n - - smtp",
            "relay unix - - n - - smtp", "showq unix n - n - - showq",
            "error unix - - n - - error", "retry unix - - n - - error",
            "discard unix - - n - - discard", "anvil unix - - n - 1 anvil",
            "scache unix - - n - 1 scache", "postlog unix-dgram n - n - 1 postlogd"]
        services += list(master_extra)
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write("\n".join(services) + "\n")
        self.master_pid = None
        ctx.cleanups.append(self.stop)

    @property
    def relay(self):
        return "127.0.0.1:%d" % self.port

    def log(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def start(self):
        r = subprocess.run(["postfix", "-c", self.etc, "start"], capture_output=True, text=True,
                           timeout=30)
        if r.returncode != 0:
            raise AssertionError("postfix start failed (%d): %s%s\n%s" % (
                r.returncode, r.stdout, r.stderr, self.log()[-3000:]))
        pidfile = os.path.join(self.dir, "queue", "pid", "master.pid")
        wait_until(lambda: os.path.exists(pidfile) and port_listening(self.port), 10,
                   what="Postfix listening on port %d" % self.port)
        with open(pidfile) as f:
            self.master_pid = int(f.read().strip())
        return self

    def stop(self):
        if self.master_pid is None:
            return
        os.kill(self.master_pid, signal.SIGTERM)  # what "postfix stop" does, without its checks
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(self.master_pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            os.kill(self.master_pid, signal.SIGKILL)
        self.master_pid = None


def relay_pair(ctx, **kw):
    """smtp-sink (the next hop, dumping) and the Postfix relay in front of it."""
    sink = SmtpSink(ctx, name="next-hop").start()
    return sink, PostfixRelay(ctx, sink.port, **kw).start()


# ---- smtp-sink: no STARTTLS, no AUTH ----

def test_require_starttls_not_offered_deferred(ctx):
    sink = SmtpSink(ctx).start()
    spool, gw = gateway(ctx, sink.relay, starttls="require")
    gw.start()
    mid = spool.put("clear@example.com", "code 482913\n", subject=SUBJECT, secret="482913")
    err = wait_deferred(spool, mid)
    assert "STARTTLS" in err and "not sent in clear" in err, err
    gw.wait_log(r"relay 127\.0\.0\.1:\d+ unavailable .*STARTTLS.*e-mail paused")
    time.sleep(0.5)
    assert sink.messages() == [] and spool.state(mid) == "deferred"


def test_username_never_sent_unauthenticated(ctx):
    # "try": smtp-sink offers no STARTTLS, so no AUTH (never in clear), so no mail
    sink = SmtpSink(ctx).start()
    spool, gw = gateway(ctx, sink.relay, starttls="try", username=USER, password=PASSWORD)
    gw.start()
    ids = [spool.put("u%d@example.com" % i, "code %d\n" % i, subject="u%d" % i)
           for i in range(3)]
    for mid in ids:
        err = wait_deferred(spool, mid)
        assert "not sent unauthenticated" in err and "no TLS session" in err, err
    time.sleep(0.5)
    assert sink.messages() == [], "the relay got a message although we were not authenticated"
    assert gw.stop() == 0
    assert PASSWORD not in gw.log()
    # the same with "require": the session stops before any message
    _, gw2 = gateway(ctx, sink.relay, starttls="require", username=USER, password=PASSWORD)
    gw2.start()
    mid = spool.put("v@example.com", "x\n", subject="v")
    assert "STARTTLS" in wait_deferred(spool, mid)
    assert sink.messages() == []


def test_auth_settings_checked_at_start(ctx):
    spool, gw = gateway(ctx, "127.0.0.1:%d" % free_port())
    cases = [
        (["gateway.smtp.username=" + USER, "gateway.smtp.password=" + PASSWORD,
          "gateway.smtp.starttls=no"], "only done over TLS"),
        (["gateway.smtp.username=" + USER], "set both or neither"),
        (["gateway.smtp.starttls=maybe"], "gateway.smtp.starttls"),
        (["gateway.smtp.ca_file=" + os.path.join(ctx.tmp, "missing.pem")],
         "gateway.smtp.ca_file"),
    ]
    for overrides, want in cases:
        r = run_tool(ctx, "regflow-gw", conf_file=gw.conf_file, overrides=overrides, timeout=10)
        assert r.returncode != 0 and want in r.stderr, (overrides, r.returncode, r.stderr)
        assert PASSWORD not in r.stderr


# ---- a private Postfix: STARTTLS + SASL ----

def test_tls_and_auth_delivered(ctx):
    sink, pf = relay_pair(ctx)
    spool, gw = gateway(ctx, pf.relay, starttls="require", tls_verify=False,
                        username=USER, password=PASSWORD)
    gw.start()
    wait_until(lambda: "certificate NOT verified" in gw.log(), 5, what="the start line")
    ids = [spool.put("s%d@example.edu.cn" % i, "激活码 %d\n" % i, subject=SUBJECT)
           for i in range(2)]
    for mid in ids:
        spool.wait_state(mid, "sent", 15)
        env = spool.read(mid)[0]
        # at the first attempt: libesmtp stalls for the whole timeout, and the
        # message is deferred, when a TLS 1.3 server sends its session tickets
        assert env["attempts"] == "1", env
        assert env["reply"].startswith("250"), env
    # the next hop's answer in Postfix's log: its dump files are complete
    wait_until(lambda: pf.log().count("status=sent") == 2, 10,
               what="both messages relayed to the next hop")
    msgs = sink.messages()
    assert len(msgs) == 2, len(msgs)
    for m in msgs:
        received = " ".join(str(h) for h in m.get_all("Received"))
        assert "using TLS" in received, received
        assert "Authenticated sender: %s" % USER in received, received
        assert str(m["Subject"]) == SUBJECT
    log = pf.log()
    assert "TLS connection established from localhost[127.0.0.1]" in log, log[-2000:]
    assert "sasl_username=%s" % USER in log, log[-2000:]
    assert gw.stop() == 0
    assert PASSWORD not in gw.log()


def test_certificate_verified(ctx):
    sink, pf = relay_pair(ctx, extra_listen=("127.0.0.2",))
    # the self-signed certificate, checked against the system's CAs: refused
    spool, gw = gateway(ctx, pf.relay, starttls="try", username=USER, password=PASSWORD)
    gw.start()
    mid = spool.put("cert@example.com", "x\n", subject="cert")
    err = wait_deferred(spool, mid)
    assert "TLS certificate refused" in err and "self-signed certificate" in err, err
    gw.wait_log(r"unavailable .*TLS certificate refused")
    assert "sasl_username" not in pf.log()
    assert gw.stop() == 0
    # the same certificate trusted through ca_file, but the relay named by an
    # address it was not issued for: refused
    spool, gw = gateway(ctx, "127.0.0.2:%d" % pf.port, starttls="require", ca_file=pf.cert,
                        username=USER, password=PASSWORD)
    gw.start()
    mid2 = spool.put("name@example.com", "y\n", subject="name")
    err = wait_deferred(spool, mid2)
    assert "TLS certificate refused" in err and "mismatch" in err, err
    assert gw.stop() == 0
    # trusted and the right address: delivered, the earlier ones too
    spool, gw = gateway(ctx, pf.relay, starttls="require", ca_file=pf.cert,
                        username=USER, password=PASSWORD)
    gw.start()
    for m in (mid, mid2):  # deferred for at most gateway.retry.max
        spool.wait_state(m, "sent", 15)
    wait_until(lambda: len(sink.messages()) == 2, 10, what="two messages at the next hop")
    assert "sasl_username=%s" % USER in pf.log()


def test_wrong_password_failed_not_sent(ctx):
    sink, pf = relay_pair(ctx)
    spool, gw = gateway(ctx, pf.relay, starttls="require", tls_verify=False,
                        username=USER, password="wrong-" + PASSWORD)
    gw.start()
    ids = [spool.put("w%d@example.com" % i, "code\n", subject="w%d" % i) for i in range(2)]
    for mid in ids:
        spool.wait_state(mid, "failed", 15)
        err = spool.read(mid)[0]["last-error"]
        assert "refused AUTH as %s: 535 5.7.8" % USER in err, err
    time.sleep(1)
    # Postfix would have relayed it for 127.0.0.1 without AUTH: nothing came through
    assert sink.messages() == []
    log = pf.log()
    assert "SASL PLAIN authentication failed" in log, log[-2000:]
    assert "queue active" not in log, "Postfix queued a message: " + log[-2000:]
    assert gw.stop() == 0
    assert "wrong-" + PASSWORD not in gw.log() and PASSWORD not in gw.log()
    # the control: this Postfix does take unauthenticated mail from loopback
    with smtplib.SMTP("127.0.0.1", pf.port, timeout=5) as c:
        c.starttls(context=ssl._create_unverified_context())
        c.sendmail("control@example.com", ["control@example.com"],
                   b"Subject: control\r\n\r\nunauthenticated\r\n")
    wait_until(lambda: len(sink.messages()) == 1, 10, what="the control message at the next hop")
