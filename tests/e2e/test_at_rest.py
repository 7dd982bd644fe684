"""At rest: a new database, its directory and its code key file are the
engine's user's alone (0600/0700); short codes are hashed keyed with the
key file's key, each record naming the key (so a copy of the database is no
dictionary of six-digit codes); the engine refuses to start when the
database holds keyed codes and the key file is missing or readable by
others; a key rotated (regflowctl key rotate, reload) hashes new codes while
the old key still checks the codes made with it."""
import hashlib
import json
import os
import re
import stat

import harness
from engine import Engine, on_pg, pg_records, spool_to
from flows import code_in
from harness import run_tool, wait_until

PASSWORD = "correct horse battery"


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def send_code(eng, phone):
    """A registration code for phone: (the code, as the SMS carries it)."""
    r = eng.api().result("send_code", phone=phone, purpose="register")
    assert r["code"] == "OK", r
    return code_in(spool_to(eng.spool_dir, phone)[-1][2])


def keys(path):
    """{id: key bytes} of a code key file."""
    out = {}
    with open(path) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                kid, hexkey, _ = line.split()
                out[kid] = bytes.fromhex(hexkey)
    return out




def pairs(data, start, end):
    """The "name\0value\0" pairs (store_tc.c's record format) that end at end."""
    toks = data[start:end].split(b"\0")[:-1]
    rec = {}
    while len(toks) >= 2:
        val, name = toks.pop(), toks.pop()
        m = re.search(rb"[a-z_.]+\Z", name)
        if not m:
            break
        rec[m.group(0).decode()] = val.decode("utf-8", "replace")
        if m.start() > 0:  # the version byte (or a key) before the first name
            break
    return rec


def code_records(eng):
    """The code records in the database file, by a scan of its bytes (the
    store's pages may keep stale copies too: callers look at sets); on
    PostgreSQL, the rows."""
    if on_pg():
        return [r for _, r in pg_records(eng, "c_kind = 'code'")]
    with open(eng.db, "rb") as f:
        data = f.read()
    out, at = [], 0
    while True:
        at = data.find(b"kind\0code\0", at)
        if at < 0:
            return out
        rec = pairs(data, max(0, at - 2048), at)
        if "hash" in rec and "salt" in rec:
            out.append(rec)
        at += 10


def refused(ctx, eng, *wants):
    r = run_tool(ctx, "regflowd", conf_file=eng.conf_file, overrides=eng.overrides, timeout=30)
    assert r.returncode > 0, (r.returncode, r.stderr)
    assert not harness.SAN_PATTERNS.search(r.stderr), r.stderr
    for w in wants:
        assert w in r.stderr, "%r not in: %s" % (w, r.stderr)


def test_new_database_is_private(ctx):
    if on_pg():
        raise harness.Skip("the Tokyo Cabinet file's mode (PostgreSQL keeps its own files)")
    db = os.path.join(ctx.tmp, "data", "db.tct")
    eng = Engine(ctx, db=db).start()
    assert mode(os.path.dirname(db)) == 0o700, oct(mode(os.path.dirname(db)))
    assert mode(db) == 0o600, oct(mode(db))
    assert mode(eng.code_key) == 0o600, oct(mode(eng.code_key))
    assert "created the code key file" in eng.log(), eng.log_tail()
    send_code(eng, "13800138000")
    for state, env, _ in spool_to(eng.spool_dir, "13800138000"):
        path = os.path.join(eng.spool_dir, harness.STATE_DIRS[state], env["id"])
        assert mode(path) == 0o600, (path, oct(mode(path)))
    assert eng.stop() == 0
    # an existing database others may read is warned about
    os.chmod(db, 0o644)
    eng.start()
    assert "others may read it (mode 0644)" in eng.log(), eng.log_tail()


def test_codes_hashed_with_the_key_file_key(ctx):
    eng = Engine(ctx).start()
    phone = "13900139000"
    code = send_code(eng, phone)
    assert eng.stop() == 0
    recs = [r for r in code_records(eng) if r.get("state") == "live"]
    assert recs and all(r == recs[0] for r in recs), recs
    rec, key = recs[0], keys(eng.code_key)
    assert rec["kid"] == "k1" and list(key) == ["k1"], (rec, key)
    salt = bytes.fromhex(rec["salt"])
    keyed = hashlib.blake2b(salt + code.encode(), key=key["k1"], digest_size=32).hexdigest()
    assert rec["hash"] == keyed, "the stored hash is not BLAKE2b(salt||code) keyed with k1"
    # what a reader of the database alone could try: every code under the salt
    unkeyed = hashlib.blake2b(code.encode(), key=salt, digest_size=32).hexdigest()
    assert rec["hash"] != unkeyed
    if on_pg():
        text = json.dumps(pg_records(eng))
    else:
        with open(eng.db, "rb") as f:
            text = f.read().decode("latin-1")
    assert key["k1"].hex() not in text, "the key is in the database"

    # the key file gone: the codes in the database could never be checked
    os.rename(eng.code_key, eng.code_key + ".away")
    refused(ctx, eng, "engine.code_key_file", eng.code_key,
            "the database holds codes hashed with it")
    assert not os.path.exists(eng.code_key), "a refused start made a new key"
    # readable by others: refused too
    os.rename(eng.code_key + ".away", eng.code_key)
    os.chmod(eng.code_key, 0o640)
    refused(ctx, eng, eng.code_key, "others may read it (mode 0640)")
    os.chmod(eng.code_key, 0o600)
    eng.start()
    r = eng.api().result("register_phone", phone=phone, code=code, password=PASSWORD)
    assert r["code"] == "OK", r


def test_key_rotation(ctx):
    eng = Engine(ctx).start()
    old_phone, new_phone = "13700137000", "13600136000"
    old_code = send_code(eng, old_phone)
    r = run_tool(ctx, "regflowctl", "key", "rotate", conf_file=eng.conf_file,
                 overrides=eng.overrides)
    assert r.returncode == 0 and "added key k2" in r.stdout, (r.returncode, r.stdout, r.stderr)
    assert mode(eng.code_key) == 0o600
    assert list(keys(eng.code_key)) == ["k1", "k2"]
    r = run_tool(ctx, "regflowctl", "key", "list", conf_file=eng.conf_file,
                 overrides=eng.overrides)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[1].startswith("k1") and "checks older codes" in lines[1], r.stdout
    assert lines[2].startswith("k2") and "new codes" in lines[2], r.stdout
    for k in keys(eng.code_key).values():
        assert k.hex() not in r.stdout, "key list shows a key"
    eng.proc.send_signal(__import__("signal").SIGHUP)
    wait_until(lambda: "new codes use k2" in eng.log(), 10, what="the key reload")
    new_code = send_code(eng, new_phone)
    api = eng.api()
    assert api.result("register_phone", phone=old_phone, code=old_code,
                      password=PASSWORD)["code"] == "OK"
    assert api.result("register_phone", phone=new_phone, code=new_code,
                      password=PASSWORD)["code"] == "OK"
    assert eng.stop() == 0
    kids = sorted(set(r["kid"] for r in code_records(eng)))
    assert kids == ["k1", "k2"], kids

    # a garbage key file on reload: refused, the keys before stay
    eng.start()
    with open(eng.code_key, "a") as f:
        f.write("k3 not-hex 0\n")
    eng.proc.send_signal(__import__("signal").SIGHUP)
    wait_until(lambda: "code keys not reloaded" in eng.log(), 10, what="the refusal")
    assert "the key is 64 hex digits" in eng.log(), eng.log_tail()
    assert eng.api().result("send_code", phone="13500135000",
                            purpose="register")["code"] == "OK"
