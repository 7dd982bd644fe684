#!/usr/bin/env python3
"""gateway - regflow-gw throughput (prints numbers, asserts nothing).

  python3 tests/bench/gateway.py [N_MAIL] [N_SMS]

* e-mail: a spool of N_MAIL (default 10,000) messages delivered to Postfix's
  smtp-sink started with -c (counting, no dump), with the default session
  settings and with 8 sessions of 100;
* SMS: N_SMS (default 5,000) to Kannel's test_http_server (kannel-extras)
  and to a whole Kannel (smsbox + bearerbox + fakesmsc), keep-alive, 16 in flight.

Each run starts the gateway on a full spool and times until every message is
in sent/.  Binaries from $REGFLOW_BIN (default ./bin).  Bounded: each run
gives up after 120 s and says so.
"""
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
import harness  # noqa: E402
from harness import Daemon, Spool, free_port, port_listening, wait_until  # noqa: E402
from test_sms import KANNEL_TEST, Kannel  # noqa: E402

LIMIT_S = 120


def fill(spool, n, channel):
    """n messages straight into incoming/ (no fsync: this is set-up, not measured)."""
    now = harness.now_ms()
    seen = set()
    for i in range(n):
        mid = harness.new_id()
        while mid in seen:  # ids made in one millisecond can collide (17 random bits)
            mid = harness.new_id()
        seen.add(mid)
        if channel == "email":
            msg = {"id": mid, "channel": "email", "to": "s%d@example.com" % i,
                   "subject": "学信网帐号激活邮件", "from-name": "学信网",
                   "body": "您好：\n请点击以下链接激活学信网帐号：\nhttps://a.example/act?t=%08d\n" % i,
                   "secret": "%08d" % i, "created": now, "front": "chsi"}
        else:
            msg = {"id": mid, "channel": "sms", "to": "138%08d" % i,
                   "body": "【学信网】您的校验码是 %06d，一天内有效。" % (i % 1000000),
                   "secret": "%06d" % (i % 1000000), "created": now, "front": "yz"}
        with open(os.path.join(spool.path, "incoming", mid), "wb") as f:
            f.write(Spool.format(msg))


def run(ctx, label, n, channel, gwconf):
    spool = Spool(os.path.join(ctx.tmp, "spool-%s" % label.replace(" ", "-")))
    fill(spool, n, channel)
    conf = {"spool": {"dir": spool.path}, "gateway": gwconf}
    conf["gateway"].setdefault("sink", {"dir": os.path.join(ctx.tmp, "sink")})
    conf["gateway"]["scan_interval"] = "1s"
    conf["gateway"]["retry"] = {"min": "200ms", "max": "1s", "lifetime": "5d"}
    gw = Daemon(ctx, "regflow-gw", conf=conf, ready_log=r"started:",
                name="gw-" + label.replace(" ", "-"))
    t0 = time.monotonic()
    gw.start(timeout=60)
    sent_dir = os.path.join(spool.path, "sent")
    done = 0
    while time.monotonic() - t0 < LIMIT_S:
        done = len(os.listdir(sent_dir))
        if done >= n:
            break
        time.sleep(0.05)
    dt = time.monotonic() - t0
    others = {st: len(spool.ids(st)) for st in ("queued", "active", "deferred", "failed")}
    gw.stop(check=False)
    if done < n:
        print("%-44s gave up after %.0fs: %d of %d sent, %s" % (label, dt, done, n, others),
              flush=True)
    else:
        print("%-44s %6d in %6.2fs = %7.0f msg/s" % (label, n, dt, n / dt), flush=True)


def smtp_sink(ctx):
    port = free_port()
    argv = [shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"]
    if os.geteuid() == 0:
        argv += ["-u", "nobody"]
    argv += ["-c", "127.0.0.1:%d" % port, "256"]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    ctx.cleanups.append(lambda: (p.terminate(), p.wait()))
    wait_until(lambda: port_listening(port), 10, what="smtp-sink")
    return "127.0.0.1:%d" % port


def test_http_server(ctx):
    exe = os.path.join(KANNEL_TEST, "test_http_server")
    if not os.path.exists(exe):
        return None
    port = free_port()
    p = subprocess.Popen([exe, "-q", "-v", "4", "-t", "4", "-p", str(port), "-r", "0: Accepted"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)

    def stop():
        p.terminate()
        try:
            p.wait(3)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    ctx.cleanups.append(stop)
    wait_until(lambda: port_listening(port), 10, what="test_http_server")
    return "http://127.0.0.1:%d/cgi-bin/sendsms" % port


def main():
    n_mail = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    n_sms = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    print("# regflow-gw benchmark (%s)" % harness.BIN, flush=True)
    ctx = harness.Ctx("bench-gateway")
    try:
        relay = smtp_sink(ctx)
        run(ctx, "email smtp-sink (4 sessions x 50)", n_mail, "email",
            {"smtp": {"relay": relay}})
        run(ctx, "email smtp-sink (8 sessions x 100)", n_mail, "email",
            {"smtp": {"relay": relay, "connections": 8, "batch": 100}})
        url = test_http_server(ctx)
        if url:
            run(ctx, "sms test_http_server (16 in flight)", n_sms, "sms",
                {"sms": {"url": url, "username": "u", "password": "p"}})
        else:
            print("sms test_http_server: not installed (kannel-extras)")
        try:
            k = Kannel(ctx).start()
            run(ctx, "sms kannel smsbox (16 in flight)", n_sms, "sms",
                {"sms": {"url": k.url, "username": k.USER, "password": k.PASSWORD}})
        except harness.Skip as e:
            print("sms kannel: skipped (%s)" % e)
    finally:
        ctx.close()


if __name__ == "__main__":
    main()
