"""flows - helpers for the account-flow scenarios of issue 5 (test_flows.py).

Python 3 stdlib only; built on harness.py and engine.py (not changing them).

  Site(ctx, sms="sink")         regflowd + regflow-gw + smtp-sink: mail reaches
                                smtp-sink, SMS the gateway's file sink
                                (<tmp>/sink/sms.jsonl, gateway.sms.url empty)
                                or (sms="kannel") Kannel's fakesmsc
  site.sms(phone)               the texts of the SMS delivered to a number
  site.wait_sms(phone, n)       the n-th SMS to a number, once delivered
  site.wait_mail(addr, n)       the n-th mail smtp-sink got for an address
  code_in(text)                 the verification code in an SMS or mail text
  register_email / register_phone   a user signs up as the seed describes,
                                reading the link or code from what was delivered
  idno(first17)                 a GB 11643 number with its check digit
  png(...), GIF_1X1, get_raw()  photos built in Python, binary GETs
"""
import base64
import email
import email.policy
import http.client
import json
import os
import random
import re
import struct
import zlib

from harness import Daemon, Skip, SmtpSink, free_port, wait_until
from engine import TOKENS_FILE, Engine, body_text, spool_to, token_in, tokens

PASSWORD = "correct horse battery"

# user-facing messages (SPEC section 3; the seed's own words)
MSG = {
    "EMAIL_REGISTERED": "该邮箱已经注册，可直接登录",
    "PHONE_REGISTERED": "该手机号已经注册，可直接登录",
    "EMAIL_PENDING_ACTIVATION": "该邮箱已经注册，正在等待激活，重新发送激活邮件",
    "ALREADY_ACTIVATED": "该邮箱已激活，请不要重复操作",
    "CODE_EXPIRED": "校验码已过期，请重新注册或重新获取校验码",
    "RATE_LIMITED": "无需频繁点击获取校验码，以避免被加入黑名单",
    "IDNO_PENDING_REVIEW": "证件号码已经被注册，客服审核通过后才能被再次注册",
    "IDNO_REGISTERED": "证件号码已被注册",
    "IDNO_IMMUTABLE": "注册信息中的身份证号不允许修改，请使用新的用户名，重新注册",
    "PHOTO_FORMAT": "仅支持.jpg .jpeg .png .gif 的图片格式，图片大小不超过300K",
    "PHOTO_TOO_LARGE": "仅支持.jpg .jpeg .png .gif 的图片格式，图片大小不超过300K",
    "IN_USE": "请确保手机号码或者邮箱为本人，且未被其注册或绑定时使用过",
}


def email_bound_msg(masked):
    return "电子邮件已被用户%s绑定邮箱时使用" % masked


def phone_bound_msg(masked):
    return "手机号已被用户%s绑定手机时使用" % masked


CODE_RE = re.compile(r"校验码(?:是|为)?[：:\s]*(\d{4,8})")


def code_in(text):
    m = CODE_RE.search(text)
    assert m, "no verification code in:\n%s" % text
    return m.group(1)


def kannel(ctx):
    """A private Kannel (test_sms.Kannel: bearerbox, fakesmsc, smsbox), or None if not installed."""
    from test_sms import Kannel  # the SMS test server of the gateway's own tests
    try:
        return Kannel(ctx).start()
    except Skip:
        return None


class Site:
    """The whole back end of one test: engine, gateway, smtp-sink.

    sms="sink": the gateway writes SMS to its file sink (gateway.sms.url empty);
    sms="kannel": the gateway sends them to a private Kannel through its sendsms
    interface and the phone network is Kannel's fakesmsc (the file sink when
    Kannel is not installed).  gateway_=False: the engine alone (read the spool)."""

    def __init__(self, ctx, gateway_=True, sms="sink", report=False, engine_overrides=(),
                 gateway_conf=None):
        self.ctx = ctx
        self.kannel = kannel(ctx) if gateway_ and sms == "kannel" else None
        self.sink = SmtpSink(ctx).start() if gateway_ else None
        self.eng = Engine(ctx, overrides=list(engine_overrides)).start()
        self.gw = None
        self.sms_file = os.path.join(ctx.tmp, "sink", "sms.jsonl")
        if gateway_:
            gw = {"listen": "127.0.0.1:%d" % free_port(), "scan_interval": "300ms",
                  "smtp": {"relay": self.sink.relay, "timeout": "5s", "connections": 2,
                           "batch": 50},
                  "retry": {"min": "200ms", "max": "1s", "lifetime": "5d"},
                  "sink": {"dir": os.path.join(ctx.tmp, "sink")}}
            if report:  # outcomes to the engine, with the gateway's token
                gw["engine"] = {"url": "http://127.0.0.1:%d" % self.eng.port,
                                "front": "gateway"}
            if self.kannel:
                gw["sms"] = {"url": self.kannel.url, "username": self.kannel.USER,
                             "password": self.kannel.PASSWORD, "timeout": "3s"}
            gw.update(gateway_conf or {})
            self.gw = Daemon(ctx, "regflow-gw", conf={"spool": {"dir": self.eng.spool_dir},
                                                      "api": {"tokens_file": TOKENS_FILE},
                                                      "gateway": gw},
                             ready_log=r"started:").start()
        self._apis = {}

    def api(self, front="www"):
        if front not in self._apis:
            self._apis[front] = self.eng.api(front)
        return self._apis[front]

    def close_apis(self):
        for a in self._apis.values():
            a.close()
        self._apis = {}

    def restart(self, faketime=None):
        """Stop the engine and start it again (on a faked clock if faketime)."""
        self.close_apis()
        assert self.eng.stop() == 0
        self.eng.faketime = faketime
        self.eng.start()

    # -- what the users receive --
    def sms_lines(self):
        """[{to, text}] of every SMS delivered, in the order they arrived."""
        if self.kannel:
            return [{"to": to, "text": text} for to, text in self.kannel.messages()]
        try:
            with open(self.sms_file, encoding="utf-8") as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def sms(self, phone):
        return [m["text"] for m in self.sms_lines() if m.get("to") == phone]

    def wait_sms(self, phone, n=1, timeout=15):
        got = wait_until(lambda: len(self.sms(phone)) >= n and self.sms(phone), timeout,
                         what="SMS number %d to %s in %s" % (n, phone, self.sms_file))
        return got[n - 1]

    def mails(self, addr):
        """The mails smtp-sink got for an address, in the order they arrived.

        (smtp-sink names its files by the second and a random suffix: the
        names do not sort by arrival, the modification times do.)"""
        out = []
        files = sorted(self.sink.files(), key=lambda p: (os.stat(p).st_mtime_ns, p))
        for p in files:
            with open(p, "rb") as f:
                m = email.message_from_bytes(f.read(), policy=email.policy.default)
            to = m["To"]
            if to is not None and any(a.addr_spec.lower() == addr.lower() for a in to.addresses):
                out.append(m)
        return out

    def wait_mail(self, addr, n=1, timeout=15):
        got = wait_until(lambda: len(self.mails(addr)) >= n and self.mails(addr), timeout,
                         what="mail number %d to %s at smtp-sink" % (n, addr))
        return got[n - 1]

    def spooled(self, to):
        """Every message the engine spooled for an address or number (any state)."""
        return spool_to(self.eng.spool_dir, to)


def register_email(site, addr, front="www", activate=True):
    """Sign up by e-mail and (activate) click the link in the delivered mail: the account id."""
    api = site.api(front)
    n = len(site.mails(addr)) if site.sink else 0
    r = api.result("register_email", email=addr, password=PASSWORD)
    assert r["code"] == "OK", r
    aid = r["account"]
    if activate:
        if site.sink:
            tok = token_in(body_text(site.wait_mail(addr, n + 1)))
        else:
            tok = token_in(site.spooled(addr)[-1][2])
        assert tok, "no activation link for %s" % addr
        r = api.result("activate", token=tok)
        assert r["code"] == "OK" and r["account"] == aid, r
    return aid


_BASIC_SEQ = [0]


def with_basic_info(site, aid, name="测试者"):
    """Fill the basic information (a passport: no check digit to compute), which
    real-name binding waits for (the seed's order); the account id."""
    _BASIC_SEQ[0] += 1
    r = site.api().result("set_basic_info", account=aid, name=name, id_type="passport",
                          id_no="E%08d" % (os.getpid() % 1000 * 10000 + _BASIC_SEQ[0]),
                          phone="1300000%04d" % _BASIC_SEQ[0])
    assert r["code"] == "OK", r
    return aid


def register_phone(site, phone, front="www"):
    """Sign up by phone with the code of the delivered SMS: the account id."""
    api = site.api(front)
    n = len(site.sms(phone))
    r = api.result("send_code", phone=phone, purpose="register")
    assert r["code"] == "OK", r
    if site.gw:
        code = code_in(site.wait_sms(phone, n + 1))
    else:
        code = code_in(site.spooled(phone)[-1][2])
    r = api.result("register_phone", phone=phone, code=code, password=PASSWORD)
    assert r["code"] == "OK", r
    return r["account"]


# -- GB 11643 --
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_check_digit(first17):
    s = sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS))
    return "10X98765432"[s % 11]


def idno(first17):
    assert len(first17) == 17 and first17.isdigit(), first17
    return first17 + id_check_digit(first17)


# -- photos, built here so the bytes are known --
def _chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))


def png(width=2, height=2, seed=None, level=9):
    """A real RGB PNG; seed: random (incompressible) pixels, else a fixed pattern."""
    rnd = random.Random(seed) if seed is not None else None
    rows = []
    for y in range(height):
        if rnd:
            px = rnd.randbytes(width * 3)
        else:
            px = bytes(((x * 40 + y * 90) % 256) for x in range(width * 3))
        rows.append(b"\x00" + px)
    raw = b"".join(rows)
    return (b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(raw, level))
            + _chunk(b"IEND", b""))


# the classic 1x1 transparent GIF (43 bytes)
GIF_1X1 = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00"
           b"\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

PDF_HEAD = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<<>>\n%%EOF\n"


def b64(data):
    return base64.b64encode(data).decode("ascii")


def get_raw(port, path, front="www"):
    """(status, body bytes, headers) of a GET, the body not decoded (a photo)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": "Bearer " + tokens()[front]})
        r = conn.getresponse()
        data = r.read()
        return r.status, data, {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()


def decoded_from(msg):
    """(display name, address) of a parsed mail's From, RFC 2047 decoded."""
    a = msg["From"].addresses[0]
    return a.display_name, a.addr_spec
