"""harness - shared helpers for the end-to-end tests (Python 3 stdlib only).

Each test function gets a Ctx (from run.py) with its own temp dir; it
starts real daemons and real peers through these classes:

  free_port()                 a free TCP port on 127.0.0.1
  wait_until(pred, timeout)   poll pred() until it returns something true
  Daemon(ctx, "regflow-gw", conf={...}, overrides=[...], ready_log=r"started:")
  SmtpSink(ctx, flags=[...])  Postfix's smtp-sink dumping each message to a file
  Spool(dir)                  write spool files (docs/spool.md) and look at states

Binaries come from $REGFLOW_BIN (default ./bin).  Sanitizer reports in a
daemon's log fail the test when the daemon is stopped.
"""
import email
import email.policy
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.abspath(os.environ.get("REGFLOW_BIN", os.path.join(ROOT, "bin")))


class Skip(Exception):
    """Raise to skip a test (reported as ok ... # SKIP reason)."""


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def port_listening(port):
    """True if something listens on TCP port (read from /proc: no connection made)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except FileNotFoundError:
            pass
    return False


def wait_until(pred, timeout=10.0, interval=0.05, what=None):
    """Poll pred() until it returns a true value, which is returned; else AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (timeout, what or getattr(pred, "__name__", "condition")))
        time.sleep(interval)


def libconfig(d, indent=0):
    """Render a dict as libconfig text (nested dicts are groups, a list of
    dicts a list of groups)."""
    pad = "  " * indent
    out = []
    for k, v in d.items():
        if isinstance(v, dict):
            out.append("%s%s = {\n%s%s};" % (pad, k, libconfig(v, indent + 1), pad))
        elif isinstance(v, list):
            groups = ", ".join("{ %s }" % libconfig(g).replace("\n", " ") for g in v)
            out.append("%s%s = ( %s );" % (pad, k, groups))
        elif isinstance(v, bool):
            out.append("%s%s = %s;" % (pad, k, "true" if v else "false"))
        elif isinstance(v, int):
            out.append("%s%s = %d;" % (pad, k, v))
        else:
            s = str(v).replace("\\", "\\\\").replace('"', '\\"')
            out.append('%s%s = "%s";' % (pad, k, s))
    return "".join(line + "\n" for line in out)


def as_user(user):
    """The argv prefix that runs a program as user (nothing for None)."""
    if not user:
        return []
    pw = pwd.getpwnam(user)
    # HOME too: libesmtp looks for client certificates under $HOME/.authenticate
    # and refuses every session when it cannot look
    return ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid, "--clear-groups",
            "--", "env", "HOME=" + pw.pw_dir]


SAN_PATTERNS = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:")


class Daemon:
    """A regflow program run in the foreground with a generated config file."""

    def __init__(self, ctx, prog, conf=None, overrides=(), ready_log=None, ready=None,
                 args=(), name=None):
        self.ctx = ctx
        self.prog = prog
        self.name = name or prog
        self.path = os.path.join(BIN, prog)
        self.conf_file = os.path.join(ctx.tmp, self.name + ".conf")
        self.log_file = os.path.join(ctx.tmp, self.name + ".log")
        self.overrides = list(overrides)
        self.args = list(args)
        self.ready_log = ready_log
        self.ready = ready
        self.env = None  # the environment to run in (None: the test's own)
        self.user = None  # run as this user (setpriv), e.g. the spool's owner
        self.proc = None
        with open(self.conf_file, "w") as f:
            f.write(conf if isinstance(conf, str) else libconfig(conf or {}))
        ctx.cleanups.append(self.cleanup)

    def argv(self):
        a = [self.path, "-c", self.conf_file]
        for o in self.overrides:
            a += ["-o", o]
        return as_user(self.user) + a + self.args

    def start(self, timeout=10.0):
        if not os.path.exists(self.path):
            raise AssertionError("%s not built (REGFLOW_BIN=%s)" % (self.path, BIN))
        self._log = open(self.log_file, "ab")
        self._log_start = self._log.tell()
        self.proc = subprocess.Popen(self.argv(), cwd=self.ctx.tmp, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log, env=self.env)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("%s exited with %s while starting:\n%s"
                                     % (self.name, self.proc.returncode, self.log_tail()))
            if self.ready:
                return self.ready(self)
            if self.ready_log:
                return re.search(self.ready_log, self.log_since(self._log_start)) is not None
            return True
        wait_until(up, timeout, what="%s to be ready" % self.name)
        return self

    def log(self):
        try:
            with open(self.log_file, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_since(self, offset):
        """The log from byte offset on (this run's part, after a restart)."""
        with open(self.log_file, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", errors="replace")

    def log_tail(self, n=40):
        return "\n".join(self.log().splitlines()[-n:])

    def wait_log(self, pattern, timeout=10.0):
        return wait_until(lambda: re.search(pattern, self.log()), timeout,
                          what="/%s/ in %s's log" % (pattern, self.name))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=20.0, check=True):
        """SIGTERM, wait, SIGKILL if needed; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                if check:
                    raise AssertionError("%s ignored SIGTERM for %.0fs" % (self.name, timeout))
        rc = self.proc.returncode
        self.proc = None
        self._log.close()
        if check:
            self.check_log()
        return rc

    def kill(self):
        """SIGKILL: a crash, as far as the daemon can tell."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            self._log.close()

    def check_log(self):
        m = SAN_PATTERNS.search(self.log())
        if m:
            raise AssertionError("sanitizer report in %s's log:\n%s" % (self.name, self.log_tail(60)))

    def cleanup(self):
        """After the test: stop it if running, and fail on any sanitizer report."""
        if self.proc is not None:
            self.stop()
        else:
            self.check_log()


def run_tool(ctx, prog, *args, conf_file=None, overrides=(), input=None, timeout=30):
    """Run a regflow tool (e.g. regflowctl) to completion: CompletedProcess with text out."""
    path = os.path.join(BIN, prog)
    argv = [path]
    if conf_file:
        argv += ["-c", conf_file]
    for o in overrides:
        argv += ["-o", o]
    return subprocess.run(argv + list(args), cwd=ctx.tmp, input=input, capture_output=True,
                          text=True, timeout=timeout)


class SmtpSink:
    """Postfix's smtp-sink on a free loopback port, dumping each message to a file.

    flags: extra smtp-sink options for failure injection, e.g. ["-r", "RCPT"]
    (soft 4xx), ["-f", "RCPT"] (hard 5xx), ["-Q", "MAIL"] (421 and close),
    ["-w", "5"] (wait before answering DATA)."""

    def __init__(self, ctx, flags=(), port=None, name="smtp-sink"):
        self.ctx = ctx
        self.flags = list(flags)
        self.port = port or free_port()
        self.name = name
        # smtp-sink drops to "nobody": the dump dir must be writable by it and
        # every dir above it searchable (mktemp -d makes 0700)
        self.dir = os.path.join(ctx.tmp, name + ".d")
        os.makedirs(self.dir, exist_ok=True)
        p = self.dir
        while p not in ("/", ""):
            st = os.stat(p)
            if st.st_mode & 0o111 != 0o111 and (p == self.dir or p.startswith(ctx.tmp)):
                os.chmod(p, st.st_mode | 0o111)
            p = os.path.dirname(p)
        self.user = None
        if os.geteuid() == 0:
            self.user = "nobody"
            pw = pwd.getpwnam("nobody")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o755)
        self.log_file = os.path.join(ctx.tmp, name + ".log")
        self.proc = None
        ctx.cleanups.append(self.stop)

    @property
    def relay(self):
        return "127.0.0.1:%d" % self.port

    def start(self, flags=None):
        if flags is not None:
            self.flags = list(flags)
        exe = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
        argv = [exe]
        if self.user:
            argv += ["-u", self.user]
        # -v logs "connect (...)" per session: sessions() counts them
        argv += ["-v", "-d", self.dir + "/%Y%m%d%H%M%S."] + self.flags
        argv += ["127.0.0.1:%d" % self.port, "128"]
        self._log = open(self.log_file, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=self._log)

        def up():
            if self.proc.poll() is not None:
                with open(self.log_file, errors="replace") as f:
                    raise AssertionError("smtp-sink exited: %s" % f.read()[-2000:])
            return port_listening(self.port)
        wait_until(up, 10, what="smtp-sink on port %d" % self.port)
        return self

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            self._log.close()

    def restart(self, flags=None):
        self.stop()
        wait_until(lambda: not port_listening(self.port), 5,
                   what="port %d to close" % self.port)
        return self.start(flags)

    def sessions(self):
        """How many SMTP sessions the sink has accepted (all runs on this port)."""
        with open(self.log_file, errors="replace") as f:
            return len(re.findall(r"smtp-sink: connect \(", f.read()))

    def files(self):
        return sorted(os.path.join(self.dir, f) for f in os.listdir(self.dir))

    def messages(self):
        """Every dumped message, parsed (email.policy.default: headers decoded)."""
        out = []
        for p in self.files():
            with open(p, "rb") as f:
                out.append(email.message_from_bytes(f.read(), policy=email.policy.default))
        return out


# ---- the spool (docs/spool.md) ----

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
STATE_DIRS = {"queued": "incoming", "active": "active", "deferred": "deferred",
              "hold": "hold", "failed": "failed", "sent": "sent", "bounced": "bounced",
              "corrupt": "corrupt"}


_last_id = [0, 0]


def new_id():
    """A spool id as id_new() makes them: 48 bits of ms then a 15-bit counter
    from a random start, so ids made within one millisecond still differ."""
    t = int(time.time() * 1000) & ((1 << 48) - 1)
    if t <= _last_id[0]:
        t, r = _last_id[0], _last_id[1] + 1
        if r >= 1 << 15:
            t, r = t + 1, secrets.randbelow(1 << 14)
    else:
        r = secrets.randbelow(1 << 14)
    _last_id[0], _last_id[1] = t, r
    head = "".join(CROCKFORD[(t >> (5 * i)) & 31] for i in range(9, -1, -1))
    tail = "".join(CROCKFORD[(r >> (5 * i)) & 31] for i in range(2, -1, -1))
    return head + tail


def now_ms():
    return int(time.time() * 1000)


class Spool:
    """A spool directory: drop messages in as the engine would, read states back."""

    FIELDS = ["channel", "to", "from-name", "subject", "front", "created", "expires",
              "attempts", "next-attempt", "last-error", "secret", "reply", "delivered"]

    def __init__(self, path):
        self.path = path
        for d in ["tmp"] + list(STATE_DIRS.values()):
            os.makedirs(os.path.join(path, d), mode=0o700, exist_ok=True)

    @staticmethod
    def format(msg):
        body = msg.get("body", "").encode("utf-8")
        lines = ["REGFLOW-SPOOL 1", "id: %s" % msg["id"]]
        for k in Spool.FIELDS:
            v = msg.get(k)
            if v is None:
                v = 0 if k in ("created", "expires", "attempts", "next-attempt",
                               "delivered") else ""
            lines.append(("%s: %s" % (k, v)) if v != "" else "%s:" % k)
        lines.append("body-size: %d" % len(body))
        return ("\n".join(lines) + "\n\n").encode("utf-8") + body

    def put(self, to, body, channel="email", subject=None, from_name=None, secret=None,
            id=None, created=None, expires=0, front="chsi", raw=None, name=None):
        """Write a message into tmp/ then rename it into incoming/; returns its file name.

        raw: the exact bytes to write instead (garbage, truncated files)."""
        mid = id or new_id()
        msg = {"id": mid, "channel": channel, "to": to, "body": body, "subject": subject,
               "from-name": from_name, "secret": secret, "front": front,
               "created": created if created is not None else now_ms(), "expires": expires}
        data = raw if raw is not None else self.format(msg)
        tmp = os.path.join(self.path, "tmp", (name or mid) + ".py")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(self.path, "incoming", name or mid))
        return name or mid

    def state(self, mid):
        """The operator's name of the state holding mid, or None."""
        for st, d in STATE_DIRS.items():
            if os.path.exists(os.path.join(self.path, d, mid)):
                return st
        return None

    def ids(self, state):
        try:
            return sorted(f for f in os.listdir(os.path.join(self.path, STATE_DIRS[state]))
                          if not f.startswith("."))
        except FileNotFoundError:
            return []

    def read(self, mid, state=None):
        """(envelope dict, body str) of a message in the given (or any) state."""
        st = state or self.state(mid)
        if st is None:
            raise AssertionError("message %s is in no state" % mid)
        with open(os.path.join(self.path, STATE_DIRS[st], mid), "rb") as f:
            data = f.read().decode("utf-8")
        head, _, body = data.partition("\n\n")
        env = {}
        for line in head.splitlines()[1:]:
            k, _, v = line.partition(":")
            env[k] = v[1:] if v.startswith(" ") else v
        return env, body

    def wait_state(self, mid, state, timeout=15.0):
        return wait_until(lambda: self.state(mid) == state, timeout,
                          what="message %s to reach %s (now %s)" % (mid, state, self.state(mid)))


class Ctx:
    """What run.py hands each test: a private temp dir and cleanups run afterwards."""

    def __init__(self, name):
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix="regflow-e2e-%s-" % name)
        os.chmod(self.tmp, 0o755)
        self.cleanups = []

    def close(self, keep=False):
        errors = []
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:  # keep cleaning up
                errors.append(e)
        if not keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if errors:
            raise errors[0]
