"""engine - helpers for the engine's end-to-end tests (Python 3 stdlib only).

Built on harness.py (not changing it):

  tokens()                      front name -> bearer token, from conf/tokens
  Engine(ctx, ...)              a regflowd on a free port, private db and spool;
                                .faketime = "+25h" runs it under libfaketime
  Api(port, front="www")        a keep-alive HTTP/JSON client of the job API
  gateway(ctx, spool_dir, relay=None)  a regflow-gw on the same spool
  token_in(text)                the activation token in a mail body or link
  mail_tokens(sink, to)         tokens in the mails smtp-sink got for an address
  spool_messages(spool_dir)     every message file in every state: [(state, env, body)]
"""
import glob
import hashlib
import http.client
import json
import os
import re
import ssl
import subprocess
import time

import harness
from harness import Daemon, free_port

ROOT = harness.ROOT
WORKFLOWS = os.path.join(ROOT, "workflows")
TOKENS_FILE = os.path.join(ROOT, "conf", "tokens")

# user-facing messages (SPEC section 3, verbatim from the seed)
MSG = {
    "EMAIL_REGISTERED": "该邮箱已经注册，可直接登录",
    "EMAIL_PENDING_ACTIVATION": "该邮箱已经注册，正在等待激活，重新发送激活邮件",
    "ALREADY_ACTIVATED": "该邮箱已激活，请不要重复操作",
    "CODE_EXPIRED": "校验码已过期，请重新注册或重新获取校验码",
    "LOGIN_FAILED": "用户名或密码错误",
}
SUBJECT = "学信网帐号激活邮件"
FROM_NAME = "学信网"
JOB_STATES = ("queued", "running", "done", "failed")


def tokens():
    out = {}
    with open(TOKENS_FILE, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                name, tok = line.split()[:2]
                out[name] = tok
    return out


def faketime_lib():
    """libfaketime's multi-threaded preload library (Debian package faketime), or None."""
    for pat in ("/usr/lib/*/faketime/libfaketimeMT.so.1", "/usr/lib/faketime/libfaketimeMT.so.1",
                "/usr/lib/*/faketime/libfaketime.so.1"):
        hits = sorted(glob.glob(pat))
        if hits:
            return hits[0]
    return None


# REGFLOW_E2E_STORE=pg (make test's second e2e pass): run.py starts one
# private PostgreSQL cluster (pg.Cluster) for the run and sets PG; each
# Engine then gets a database of its own in it, its schema made by
# regflowctl store migrate, instead of a Tokyo Cabinet file
PG = None


def pg_overrides(ctx, db_key):
    """engine.store=pg settings for a new database (one per engine's db path)."""
    name = "e" + hashlib.sha1(db_key.encode()).hexdigest()[:16]
    r = PG.psql("SELECT 1 FROM pg_database WHERE datname = '%s'" % name)
    if r.stdout.strip() != "1":
        r = PG.psql("CREATE DATABASE %s" % name)
        assert r.returncode == 0, r.stderr
    ov = ["engine.store=pg", "engine.pg.conninfo=%s" % PG.conninfo.replace(
        "dbname=postgres", "dbname=" + name)]
    r = harness.run_tool(ctx, "regflowctl", "store", "migrate", overrides=ov)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return ov


def pg_records(eng, where="TRUE"):
    """[(key, record dict)] of the engine's PostgreSQL database (on_pg runs)."""
    ci = [o.split("=", 1)[1] for o in eng.overrides if o.startswith("engine.pg.conninfo=")][-1]
    r = subprocess.run([os.path.join(PG.bin, "psql"), "-X", "-A", "-t", "-F", "\t", "-d", ci,
                        "-c", "SELECT key, rec::text FROM regflow_records WHERE " + where],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [(k, json.loads(v)) for k, v in (line.split("\t", 1) for line in r.stdout.splitlines()
                                            if line)]


def on_pg():
    """1 when this run puts the engines on PostgreSQL (a test of Tokyo
    Cabinet's file itself skips then)."""
    return PG is not None


class Engine(Daemon):
    """regflowd with the settings the tests need given as -o overrides.

    conf: extra settings written into its config file (dict, libconfig);
    overrides: extra -o path=value.  .port, .db, .spool_dir are fixed for its
    life, so a restart finds the same database, spool and port."""

    def __init__(self, ctx, name="regflowd", conf=None, overrides=(), db=None, spool_dir=None,
                 port=None, tls=None):
        self.port = port or free_port()
        self.db = db or os.path.join(ctx.tmp, "db.tct")
        self.spool_dir = spool_dir or os.path.join(ctx.tmp, "spool")
        self.faketime = None
        base = {"log": {"level": "info"},
                "engine": {"group_commit": 256, "max_body": 1048576}}
        for k, v in (conf or {}).items():
            if isinstance(v, dict):
                base.setdefault(k, {}).update(v)
            else:
                base[k] = v
        self.code_key = self.db + ".key"
        # tls: (certificate, key) files: engine.tls, and clients that trust the certificate
        self.tls = None
        if tls:
            self.tls = ssl.create_default_context(cafile=tls[0])
            overrides = ["engine.tls.certificate=" + tls[0], "engine.tls.key=" + tls[1]] + \
                list(overrides)
        ov = ["engine.listen=127.0.0.1:%d" % self.port, "engine.db=%s" % self.db,
              "engine.code_key_file=%s" % self.code_key,
              "spool.dir=%s" % self.spool_dir, "engine.workflows=%s" % WORKFLOWS,
              "api.tokens_file=%s" % TOKENS_FILE] + \
            (pg_overrides(ctx, os.path.abspath(self.db)) if PG else []) + list(overrides)
        super().__init__(ctx, "regflowd", conf=base, overrides=ov,
                         ready_log=r"listening on", name=name)
        _ENGINES[os.path.abspath(self.spool_dir)] = self

    def argv(self):
        a = super().argv()
        if not self.faketime:
            return a
        lib = faketime_lib()
        if not lib:
            raise harness.Skip("libfaketime not installed (Debian package faketime)")
        # ASan insists on coming first among the loaded libraries: a preload
        # ahead of it is fine for libfaketime, so the check is turned off
        asan = os.environ.get("ASAN_OPTIONS", "")
        asan = (asan + ":" if asan else "") + "verify_asan_link_order=0"
        return ["env", "FAKETIME=%s" % self.faketime, "LD_PRELOAD=%s" % lib,
                "ASAN_OPTIONS=%s" % asan] + a

    def api(self, front="www"):
        return Api(self.port, front, tls=self.tls)

    def health(self):
        st, body, _ = Api(self.port, None, tls=self.tls).request("GET", "/v1/health")
        assert st == 200, (st, body)
        return body


class Api:
    """The job API over one keep-alive connection (reopened when the server closes it)."""

    def __init__(self, port, front="www", timeout=40, tls=None):
        self.port = port
        self.tls = tls  # an ssl.SSLContext: HTTPS
        self.timeout = timeout
        self.token = tokens()[front] if front else None
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, token=None, headers=None, raw=False):
        """(status, parsed JSON body or text, headers dict lower-cased).

        body: dict/list (sent as JSON), str or bytes (sent as is).
        token: None uses this client's; False sends none; a string is sent as is."""
        h = dict(headers or {})
        tok = self.token if token is None else token
        if tok:
            h["Authorization"] = "Bearer " + tok
        if isinstance(body, (dict, list)):
            body = json.dumps(body, ensure_ascii=False).encode("utf-8")
        elif isinstance(body, str):
            body = body.encode("utf-8")
        if body is not None:
            h.setdefault("Content-Type", "application/json")
        for attempt in (0, 1):
            reused = self.conn is not None
            if self.conn is None and self.tls:
                self.conn = http.client.HTTPSConnection("127.0.0.1", self.port,
                                                        timeout=self.timeout, context=self.tls)
            elif self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # the server closed an idle keep-alive connection: once more on a
                # new one (never on a fresh connection: that was a real failure)
                self.close()
                if attempt or not reused:
                    raise
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if r.getheader("Connection", "").lower() == "close" or r.will_close:
            self.close()
        text = data.decode("utf-8")
        if raw:
            return r.status, text, hdrs
        try:
            return r.status, json.loads(text) if text else None, hdrs
        except ValueError:
            raise AssertionError("%s %s: %d with a body that is not JSON: %r"
                                 % (method, path, r.status, text[:300]))

    def post_job(self, type_, args, key=None, wait=None, token=None):
        """(status, body) of POST /v1/jobs."""
        job = {"type": type_, "args": args}
        if key is not None:
            job["key"] = key
        path = "/v1/jobs" if wait is None else "/v1/jobs?wait=%s" % wait
        st, body, _ = self.request("POST", path, job, token=token)
        return st, body

    def run(self, type_, key=None, **args):
        """Run a job to its end (?wait): its full view, asserting it finished."""
        st, body = self.post_job(type_, args, key=key, wait=20000)
        assert st == 200, "%s: expected 200 (done), got %d %s" % (type_, st, body)
        assert body.get("state") in ("done", "failed"), body
        assert isinstance(body.get("result"), dict), body
        return body

    def result(self, type_, key=None, **args):
        return self.run(type_, key=key, **args)["result"]

    def job(self, jid):
        return self.request("GET", "/v1/jobs/%s" % jid)[:2]

    def account(self, aid):
        st, body, _ = self.request("GET", "/v1/accounts/%s" % aid)
        assert st == 200, (st, body)
        return body


def gateway(ctx, spool_dir, relay=None, name="regflow-gw"):
    """A regflow-gw on the engine's spool with short retries; relay None = file sinks."""
    conf = {"spool": {"dir": spool_dir},
            "gateway": {"listen": "127.0.0.1:%d" % free_port(),
                        "scan_interval": "300ms",
                        "smtp": {"timeout": "5s", "connections": 2, "batch": 50},
                        "retry": {"min": "200ms", "max": "1s", "lifetime": "5d"},
                        "sink": {"dir": os.path.join(ctx.tmp, "sink")}}}
    ov = []
    if relay:
        ov = ["gateway.smtp.relay=%s" % relay, "gateway.retry.min=200ms",
              "gateway.retry.max=1s"]
    return Daemon(ctx, "regflow-gw", conf=conf, overrides=ov, ready_log=r"started:", name=name)


TOKEN_RE = re.compile(r"[?&]token=([A-Za-z0-9_-]+)")


def token_in(text):
    m = TOKEN_RE.search(text)
    return m.group(1) if m else None


def body_text(msg):
    return msg.get_content().replace("\r\n", "\n")


def mails_to(sink, addr):
    out = []
    for m in sink.messages():
        to = m["To"]
        if to is not None and any(a.addr_spec.lower() == addr.lower() for a in to.addresses):
            out.append(m)
    return out


def mail_tokens(sink, addr):
    return [token_in(body_text(m)) for m in mails_to(sink, addr)]


# the engines running on each spool directory (see spool_messages)
_ENGINES = {}


def spool_messages(spool_dir):
    """[(state, envelope dict, body)] for every message file in every state directory.

    The engine answers a job before it moves the job's messages from its
    committed outbox to the spool (a reply must not take longer because a
    message was sent), and writes them off its loop, a group at a time: any
    request answered after that group finds them on their way, and the
    engine's health says how many are (jobs.spooling).  Health requests
    until none is are the barrier (at most a few seconds: a spool that
    refuses a message keeps it for a retry)."""
    eng = _ENGINES.get(os.path.abspath(spool_dir))
    deadline = time.monotonic() + 5
    while eng is not None and eng.running() and time.monotonic() < deadline:
        try:
            if eng.health()["jobs"].get("spooling", 0) == 0:
                break
        except (OSError, AssertionError):
            break
        time.sleep(0.002)
    # a gateway moves files from folder to folder while they are listed: a
    # listing is taken as it is only when the next one names the same ids
    last = None
    for _ in range(50):
        out = _one_per_id(_spool_listing(spool_dir))
        ids = sorted(m[1]["id"] for m in out)
        if ids == last:
            break
        last = ids
    return out


def _one_per_id(msgs):
    """A message being recorded is in active/ and in its new folder for a
    moment (the copy in active/ goes once the new one is durable): one entry
    an id, the new folder's."""
    best = {}
    for m in msgs:
        mid = m[1]["id"]
        if mid not in best or best[mid][0] == "active":
            best[mid] = m
    return sorted(best.values(), key=lambda m: m[1]["id"])


def _spool_listing(spool_dir):
    out = []
    for state, d in harness.STATE_DIRS.items():
        path = os.path.join(spool_dir, d)
        if not os.path.isdir(path):
            continue
        for name in sorted(os.listdir(path)):
            if name.startswith("."):
                continue
            try:
                with open(os.path.join(path, name), "rb") as f:
                    data = f.read().decode("utf-8", errors="replace")
            except FileNotFoundError:  # moved on meanwhile: the next listing has it
                continue
            head, _, body = data.partition("\n\n")
            env = {}
            for line in head.splitlines()[1:]:
                k, _, v = line.partition(":")
                env[k] = v[1:] if v.startswith(" ") else v
            env.setdefault("id", name)
            out.append((state, env, body))
    out.sort(key=lambda m: m[1]["id"])  # ids sort by creation time
    return out


def spool_to(spool_dir, addr):
    return [m for m in spool_messages(spool_dir) if m[1].get("to", "").lower() == addr.lower()]


def spool_token(spool_dir, addr, exclude=()):
    """The newest activation token in the spool for addr (as the mail would carry it)."""
    toks = [token_in(body) for _, env, body in spool_to(spool_dir, addr)]
    toks = [t for t in toks if t and t not in exclude]
    assert toks, "no activation link for %s in the spool" % addr
    return toks[-1]
