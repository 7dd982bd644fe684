"""Roles (SPEC 3, issue 9.5): every route and every job type needs a role,
and a token without it gets 403 FORBIDDEN and nothing runs; admin may do
everything; a review's reviewer is the token's name whatever the body says;
the tokens file is read again on SIGHUP (a token revoked without a restart);
a tokens file others may read is warned about."""
import json
import os
import signal

import harness
from engine import Api, Engine, tokens
from harness import wait_until

TOKS = {
    "www": ("dev-token-www-0123456789abcdef", ""),
    "office1": ("tok-office-0123456789abcdef", "office"),
    "kefu07": ("tok-reviewer-0123456789abcd", "reviewer"),
    "desk": ("tok-helpdesk-0123456789abcd", "helpdesk"),
    "gw": ("tok-gateway-0123456789abcdef", "gateway"),
    "ops": ("tok-admin-0123456789abcdefgh", "admin"),
}
ROLE_OF = {"www": "front", "office1": "office", "kefu07": "reviewer", "desk": "helpdesk",
           "gw": "gateway", "ops": "admin"}

# method, path, the roles that may use it (admin may use every one); POST
# /v1/jobs and /v1/jobs/batch take any token: the job type decides (below)
ROUTES = [
    ("GET", "/v1/jobs/0000000000000", {"front", "office", "reviewer", "helpdesk", "gateway"}),
    ("GET", "/v1/accounts/0000000000000", {"front", "helpdesk", "reviewer"}),
    ("GET", "/v1/accounts/0000000000000/inbox", {"front", "helpdesk"}),
    ("GET", "/v1/reviews", {"reviewer"}),
    ("GET", "/v1/reviews/0000000000000/photo", {"reviewer"}),
    ("GET", "/v1/reviews/0000000000000", {"reviewer"}),
    ("GET", "/v1/accounts?email=a@example.com", {"helpdesk"}),
    ("GET", "/v1/accounts/0000000000000/history", {"helpdesk"}),
    ("POST", "/v1/outcomes", {"gateway"}),
    ("POST", "/v1/reload", set()),
    ("GET", "/v1/workflows", set()),
    ("POST", "/v1/backup", set()),
    ("GET", "/v1/workflows/activation@0000000000000000", set()),
]


def write_tokens(ctx, names, mode=0o600):
    path = os.path.join(ctx.tmp, "tokens")
    with open(path, "w") as f:
        for n in names:
            tok, roles = TOKS[n]
            f.write("%s %s %s\n" % (n, tok, roles))
    os.chmod(path, mode)
    return path


def client(eng, name):
    a = Api(eng.port, None)
    a.token = TOKS[name][0]
    return a


def test_every_route_refuses_a_token_without_its_role(ctx):
    eng = Engine(ctx, overrides=["api.tokens_file=" + write_tokens(ctx, TOKS)]).start()
    problems = []
    for method, path, allowed in ROUTES:
        for name, role in ROLE_OF.items():
            st, b, _ = client(eng, name).request(method, path)
            may = role == "admin" or role in allowed
            if may and st == 403:
                problems.append("%s %s as %s: refused (%s)" % (method, path, role, b))
            if not may and (st != 403 or b["error"]["code"] != "FORBIDDEN"):
                problems.append("%s %s as %s: %s %s" % (method, path, role, st, b))
    assert not problems, "\n".join(problems)


# job type -> the role its workflow names (every other job type needs front)
STAFF_JOBS = {
    "review_decision": ("reviewer", {"review": "0000000000000", "decision": "approve"}),
    "set_basic_info": ("office", {"assisted": "true", "name": "王五", "id_type": "resident",
                                  "id_no": "11010519491231002X"}),
    # a registry's answer comes only from the gateway (a forged match would verify anyone)
    "registry_answer": ("gateway", {"account": "0000000000000", "check": "0000000000000",
                                    "result": "match"}),
    "delivery_failed": ("gateway", {"account": "0000000000000", "channel": "email",
                                    "to": "a@example.com"}),
}


def test_every_job_type_refuses_a_token_without_its_role(ctx):
    eng = Engine(ctx, overrides=["api.tokens_file=" + write_tokens(ctx, TOKS)]).start()
    problems = []
    for jtype, (need, args) in STAFF_JOBS.items():
        for name, role in ROLE_OF.items():
            st, b = client(eng, name).post_job(jtype, args, wait=5000)
            may = role in (need, "admin")
            if may and st == 403:
                problems.append("%s as %s: refused" % (jtype, role))
            if not may and (st != 403 or b["error"]["code"] != "FORBIDDEN"
                            or b["error"]["field"] != "type"):
                problems.append("%s as %s: %s %s" % (jtype, role, st, b))
    # a front's job type, for a staff token without front: refused too
    st, b = client(eng, "kefu07").post_job("send_code", {"phone": "13800138000",
                                                         "purpose": "register"})
    if st != 403:
        problems.append("send_code as reviewer: %s %s" % (st, b))
    # a batch line of a type the token may not send is refused alone
    st, text, _ = client(eng, "www").request(
        "POST", "/v1/jobs/batch", raw=True,
        body=json.dumps({"type": "review_decision", "args": STAFF_JOBS["review_decision"][1]})
        + "\n" + json.dumps({"type": "send_code", "args": {"phone": "13800138001",
                                                          "purpose": "register"}}) + "\n")
    lines = [json.loads(x) for x in text.splitlines()] if st == 200 else []
    if not (len(lines) == 2 and lines[0]["error"]["code"] == "FORBIDDEN" and "id" in lines[1]):
        problems.append("batch: %s %s" % (st, text))
    assert not problems, "\n".join(problems)


def test_tokens_reloaded_on_sighup_and_mode_warned(ctx):
    path = write_tokens(ctx, ["www", "kefu07"], mode=0o644)
    eng = Engine(ctx, overrides=["api.tokens_file=" + path]).start()
    assert "readable by others" in eng.log(), eng.log_tail()
    assert client(eng, "kefu07").request("GET", "/v1/reviews")[0] == 200
    write_tokens(ctx, ["www", "desk"])
    eng.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "reloaded 2 token(s)" in eng.log(), 10, what="the tokens reload")
    st, b, _ = client(eng, "kefu07").request("GET", "/v1/reviews")
    assert st == 401, (st, b)  # revoked without a restart
    assert client(eng, "desk").request("GET", "/v1/accounts/0000000000000")[0] == 404
    # a bad file is refused whole: the tokens before stay
    with open(path, "a") as f:
        f.write("broken line\n")
    eng.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "tokens not reloaded" in eng.log(), 10, what="the refusal")
    assert client(eng, "desk").request("GET", "/v1/accounts/0000000000000")[0] == 404
