"""pg - a private PostgreSQL cluster for tests: initdb into the test's temp
folder as the postgres user (PostgreSQL refuses to run as root), a server on
a loopback port and a private socket folder, SCRAM passwords only, and a
libpq password file (0600) for the client: the conninfo holds no password."""
import os
import pwd
import secrets
import shutil
import subprocess

from harness import Skip, free_port, wait_until

PG_BIN = "/usr/lib/postgresql/15/bin"


def pg_bin():
    for v in ("15", "16", "17", "14", "13"):
        d = "/usr/lib/postgresql/%s/bin" % v
        if os.path.exists(os.path.join(d, "initdb")):
            return d
    raise Skip("PostgreSQL server not installed (Debian package postgresql)")


class Cluster:
    def __init__(self, ctx, name="pg"):
        self.ctx = ctx
        self.bin = pg_bin()
        try:
            self.owner = pwd.getpwnam("postgres")
        except KeyError:
            raise Skip("no postgres user")
        self.dir = os.path.join(ctx.tmp, name)
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        os.makedirs(self.sock)
        os.chmod(ctx.tmp, 0o711)
        os.chown(self.dir, self.owner.pw_uid, self.owner.pw_gid)
        os.chown(self.sock, self.owner.pw_uid, self.owner.pw_gid)
        self.port = free_port()
        self.user = "regflow"
        self.password = secrets.token_hex(12)
        self.passfile = os.path.join(ctx.tmp, name + ".pgpass")
        with open(self.passfile, "w") as f:
            f.write("%s:%d:*:%s:%s\n" % (self.sock, self.port, self.user, self.password))
        os.chmod(self.passfile, 0o600)
        self.proc = None
        ctx.cleanups.append(self.stop)

    def as_postgres(self, argv, **kw):
        return subprocess.run(["runuser", "-u", "postgres", "--"] + argv, capture_output=True,
                              text=True, timeout=120, **kw)

    def start(self):
        pw = os.path.join(self.dir, "pw")
        with open(pw, "w") as f:
            f.write(self.password + "\n")
        os.chown(pw, self.owner.pw_uid, self.owner.pw_gid)
        r = self.as_postgres([os.path.join(self.bin, "initdb"), "-D", self.data, "-U", self.user,
                              "--pwfile", pw, "-A", "scram-sha-256", "-E", "UTF8",
                              "--locale", "C.UTF-8"])
        os.unlink(pw)
        assert r.returncode == 0, r.stderr
        self.log = os.path.join(self.dir, "postgres.log")
        return self.resume()

    def halt(self):
        """Stop the server (fast shutdown), keeping its data: a database that goes away."""
        r = self.as_postgres([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "stop", "-m",
                              "fast", "-w"])
        assert r.returncode == 0, r.stderr
        self.proc.wait(30)

    def resume(self):
        """Start the server on its data (again)."""
        self.proc = subprocess.Popen(
            ["runuser", "-u", "postgres", "--", os.path.join(self.bin, "postgres"), "-D",
             self.data, "-p", str(self.port), "-k", self.sock, "-c", "listen_addresses=",
             "-c", "fsync=on", "-c", "synchronous_commit=on"],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "a"))
        wait_until(lambda: self.ready(), 30, what="PostgreSQL to accept connections")
        return self

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("postgres exited: %s" % open(self.log).read()[-2000:])
        r = subprocess.run([os.path.join(self.bin, "pg_isready"), "-h", self.sock, "-p",
                            str(self.port)], capture_output=True)
        return r.returncode == 0

    @property
    def conninfo(self):
        return "host=%s port=%d dbname=postgres user=%s passfile=%s" % (
            self.sock, self.port, self.user, self.passfile)

    def psql(self, sql):
        return subprocess.run([os.path.join(self.bin, "psql"), "-X", "-A", "-t", "-d",
                               self.conninfo, "-c", sql], capture_output=True, text=True,
                              timeout=60)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.as_postgres([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "stop", "-m",
                              "immediate", "-w"])
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
