"""test_flows - every account flow of the seed end to end (issue 5).

One scenario per numbered part of issue 5, through the HTTP job API against
the real daemons: regflowd, regflow-gw, Postfix smtp-sink for mail, and for SMS
the gateway's file sink (<tmp>/sink/sms.jsonl, gateway.sms.url empty) or, in the
phone-registration scenario, a private Kannel with fakesmsc (test_sms.Kannel).  Codes
and links are read out of the delivered messages as a user would; where the
gateway adds nothing (expiry on a faked clock), the spool is read.  Helpers:
flows.py.
"""
import json

from harness import wait_until
from engine import Api, body_text, token_in
from flows import (GIF_1X1, with_basic_info, MSG, PASSWORD, PDF_HEAD, Site, b64, code_in, decoded_from,
                   email_bound_msg, get_raw, id_check_digit, idno, phone_bound_msg, png,
                   register_email, register_phone)


def bad_request(api, type_, args, field, message=None):
    st, body = api.post_job(type_, args, wait=5000)
    assert st == 400, "%s %s: expected 400, got %d %s" % (type_, args, st, body)
    e = body.get("error") or {}
    assert e.get("code") == "INVALID_FIELD" and e.get("field") == field, (args, body)
    assert e.get("message"), body
    assert message is None or e.get("message") == message, body


def expect(r, code, message=None):
    assert r.get("code") == code, "expected %s, got %s" % (code, r)
    if message is not None:
        assert r.get("message") == message, "%s: message %r, wanted %r" % (code, r.get("message"),
                                                                           message)
    else:
        assert isinstance(r.get("message"), str), r


# 1 一 registration checks ------------------------------------------------------

def test_1_registration_checks(ctx):
    site = Site(ctx)
    api = site.api()
    # formats: refused at the API with the field named, nothing runs
    for bad in ("li.lei", "li.lei@", "@example.com", "li lei@example.com", "li..lei@example.com",
                "li.lei@example", "li.lei@@example.com", "李雷@example.com", ".li@example.com"):
        bad_request(api, "register_email", {"email": bad, "password": PASSWORD}, "args.email")
    for bad in ("1381234567", "138123456789", "1381234567a", "+8613812345678", "138 1234 5678",
                # 11 digits, but no mainland mobile prefix
                "14012345678", "10012345678", "12012345678", "11012345678", "15412345678"):
        bad_request(api, "send_code", {"phone": bad, "purpose": "register"}, "args.phone")
        bad_request(api, "register_phone", {"phone": bad, "code": "123456", "password": PASSWORD},
                    "args.phone")
    assert site.eng.running()

    # EMAIL_REGISTERED: an active address
    done = "zhang.san@example.com"
    register_email(site, done)
    expect(api.result("register_email", email=done, password=PASSWORD), "EMAIL_REGISTERED",
           MSG["EMAIL_REGISTERED"])
    # EMAIL_PENDING_ACTIVATION: registering again mails that registration's
    # own link (重新发送激活邮件) and leaves the first live; the resend then
    # offered: the new link works, the old ones not
    waiting = "li.si@example.com"
    aid = api.result("register_email", email=waiting, password=PASSWORD)["account"]
    first = token_in(body_text(site.wait_mail(waiting, 1)))
    expect(api.result("register_email", email=waiting, password=PASSWORD),
           "EMAIL_PENDING_ACTIVATION", MSG["EMAIL_PENDING_ACTIVATION"])
    again = token_in(body_text(site.wait_mail(waiting, 2)))
    assert again and again != first
    expect(api.result("resend_activation", email=waiting), "OK")
    second = token_in(body_text(site.wait_mail(waiting, 3)))
    assert second and second not in (first, again)
    expect(api.result("activate", token=first), "CODE_INVALID")
    expect(api.result("activate", token=again), "CODE_INVALID")
    r = api.result("activate", token=second)
    assert r["code"] == "OK" and r["account"] == aid, r
    expect(api.result("activate", token=second), "ALREADY_ACTIVATED", MSG["ALREADY_ACTIVATED"])

    # PHONE_REGISTERED
    p1 = "13812345678"
    a = register_phone(site, p1)
    expect(api.result("register_phone", phone=p1, code="000000", password=PASSWORD),
           "PHONE_REGISTERED", MSG["PHONE_REGISTERED"])
    with_basic_info(site, a)  # binding waits for the basic information (the seed's order)

    # EMAIL_BOUND: A registered by phone binds an address, which then cannot be registered
    x = "bound.mail@example.com"
    expect(api.result("send_code", account=a, purpose="bind", email=x), "OK")
    code = code_in(body_text(site.wait_mail(x, 1)))
    expect(api.result("bind_email", account=a, email=x, code=code), "OK")
    email_bound = api.result("register_email", email=x, password=PASSWORD)
    expect(email_bound, "EMAIL_BOUND")
    assert len(site.spooled(x)) == 1, "an activation mail went to a bound address"
    assert api.account(a)["status"] == "active"

    # PHONE_BOUND: a user registered by e-mail binds a phone, which then cannot be registered
    e = with_basic_info(site, register_email(site, "li.lei@example.com"))
    p2 = "18612345678"
    expect(api.result("send_code", account=e, purpose="bind", phone=p2), "OK")
    code = code_in(site.wait_sms(p2, 1))
    expect(api.result("bind_phone", account=e, phone=p2, code=code), "OK")
    phone_bound = [api.result("send_code", phone=p2, purpose="register"),
                   api.result("register_phone", phone=p2, code=code, password=PASSWORD)]
    for r in phone_bound:
        expect(r, "PHONE_BOUND")
    assert len(site.spooled(p2)) == 1, "a registration code went to a bound phone"

    # the other user named, masked (seed 一.6): first the codes above, then the wording
    # (this caught messages.conf naming a variable the engine never set)
    wrong = ["%s: %r, wanted %r" % (r["code"], r["message"], want)
             for r, want in ((email_bound, email_bound_msg("138********")),
                             (phone_bound[0], phone_bound_msg("li***@example.com")),
                             (phone_bound[1], phone_bound_msg("li***@example.com")))
             if r["message"] != want]
    assert not wrong, "the other user is not named (masked):\n" + "\n".join(wrong)


# 2 一.2 phone registration -----------------------------------------------------

def test_2_phone_registration(ctx):
    # the codes travel as real SMS: regflow-gw -> Kannel sendsms -> fakesmsc
    site = Site(ctx, sms="kannel")
    api = site.api()
    p = "13912345678"
    r = api.result("send_code", phone=p, purpose="register")
    expect(r, "OK")
    sms = site.wait_sms(p, 1)
    code = code_in(sms)
    assert len(code) == 6 and code.isdigit(), sms
    assert "1天" in sms, sms
    # 无需频繁点击: a second code within the minute is refused, and nothing is sent
    expect(api.result("send_code", phone=p, purpose="register"), "RATE_LIMITED",
           MSG["RATE_LIMITED"])
    assert len(site.spooled(p)) == 1
    # a wrong code, then the right one
    wrong = "%06d" % ((int(code) + 1) % 1000000)
    expect(api.result("register_phone", phone=p, code=wrong, password=PASSWORD), "CODE_INVALID")
    r = api.result("register_phone", phone=p, code=code, password=PASSWORD)
    expect(r, "OK")
    acct = api.account(r["account"])
    assert acct["status"] == "active" and acct.get("phone") == p, acct
    assert acct.get("phone_bound") == "1", acct
    # single use: the same code does not register (or log in) again
    r = api.result("register_phone", phone=p, code=code, password=PASSWORD)
    expect(r, "PHONE_REGISTERED", MSG["PHONE_REGISTERED"])

    # five wrong codes lock it: even the right code then fails
    q = "15012345678"
    expect(api.result("send_code", phone=q, purpose="register"), "OK")
    qcode = code_in(site.wait_sms(q, 1))
    wrong = "%06d" % ((int(qcode) + 7) % 1000000)
    for i in range(4):
        expect(api.result("register_phone", phone=q, code=wrong, password=PASSWORD),
               "CODE_INVALID")
    expect(api.result("register_phone", phone=q, code=wrong, password=PASSWORD),
           "CODE_ATTEMPTS_EXCEEDED")
    r = api.result("register_phone", phone=q, code=qcode, password=PASSWORD)
    expect(r, "CODE_ATTEMPTS_EXCEEDED")
    if "account" in r:
        assert api.account(r["account"])["status"] != "active", r

    # repeated clicking blacklists the number: 1 sent, 9 refused, the 11th blacklisted
    b = "17712345678"
    codes = [api.result("send_code", phone=b, purpose="register")["code"] for _ in range(11)]
    assert codes == ["OK"] + ["RATE_LIMITED"] * 9 + ["BLACKLISTED"], codes
    assert len(site.spooled(b)) == 1

    # a day later the code has expired (the engine on a clock 25 h ahead)
    e = "18812345678"
    expect(api.result("send_code", phone=e, purpose="register"), "OK")
    ecode = code_in(site.wait_sms(e, 1))
    site.restart(faketime="+25h")
    api = site.api()
    r = api.result("register_phone", phone=e, code=ecode, password=PASSWORD)
    expect(r, "CODE_EXPIRED", MSG["CODE_EXPIRED"])
    # and the earlier registration survived the restart
    expect(api.result("register_phone", phone=p, code="000000", password=PASSWORD),
           "PHONE_REGISTERED", MSG["PHONE_REGISTERED"])


# 3 五 step 1, 七 basic information ------------------------------------------------

def test_3_basic_info(ctx):
    site = Site(ctx, gateway_=False)
    api = site.api()
    a = register_email(site, "wang.wu@example.com")
    good = "11010519491231002X"
    assert idno(good[:17]) == good  # the example, computed here
    first17 = good[:17]
    wrong_digit = first17 + ("0" if good[17] != "0" else "1")
    feb30 = idno("11010519490230002")                   # check digit right, date not
    month13 = idno("11010519491331002")
    future = idno("11010520991231002")
    for bad in (wrong_digit, feb30, month13, future, good[:17], good + "1",
                "1101051949123100ZX", idno("11010518991231002")):
        expect(api.result("set_basic_info", account=a, name="王五", id_type="resident",
                          id_no=bad, phone="13612345678"), "IDNO_INVALID")
    # a failed attempt changed nothing: the good number is taken
    r = api.result("set_basic_info", account=a, name="王五", id_type="resident",
                   id_no=good[:17] + "x", phone="13612345678")  # lower-case x: the same number
    expect(r, "OK")
    acct = api.account(a)
    assert acct.get("name") == "王五" and acct.get("id_type") == "resident", acct
    assert good not in json.dumps(acct), "the id number leaves the engine: %s" % acct
    # never changed afterwards, whatever changes
    for name, no in (("王五", good), ("王五", idno("11010519800101001")), ("王六", good)):
        expect(api.result("set_basic_info", account=a, name=name, id_type="resident", id_no=no,
                          phone="13612345678"), "IDNO_IMMUTABLE", MSG["IDNO_IMMUTABLE"])
    assert api.account(a).get("name") == "王五"

    # the other id types by the formats of workflows/id_types.conf; an unknown one is a 400
    b = register_email(site, "john.smith@example.com")
    bad_request(api, "set_basic_info", {"account": b, "name": "John Smith",
                                        "id_type": "driving_licence", "id_no": "E12345678",
                                        "phone": "13712345678"}, "args.id_type",
                "unknown id type (one of: resident, hmt_residence, passport, hk_macao_permit, "
                "taiwan_permit, foreign_permanent)")
    for t, no in (("passport", "E1234567-not-a-gb-number"), ("hk_macao_permit", "K12345678"),
                  ("taiwan_permit", "123456789"), ("foreign_permanent", "US1100123456789")):
        expect(api.result("set_basic_info", account=b, name="John Smith", id_type=t, id_no=no,
                          phone="13712345678"), "IDNO_INVALID")
    expect(api.result("set_basic_info", account=b, name="John Smith", id_type="passport",
                      id_no="e12345678", phone="13712345678"), "OK")
    acct = api.account(b)
    assert acct.get("id_type") == "passport", acct
    # the number was upper-cased: a second account with the upper-case number is a duplicate
    d = register_email(site, "j.smith@example.com")
    expect(api.result("set_basic_info", account=d, name="John Smith", id_type="passport",
                      id_no="E12345678", phone="13712345678"), "IDNO_REGISTERED")
    # the phone of basic info is checked like any phone
    c = register_email(site, "zhao.liu@example.com")
    bad_request(api, "set_basic_info", {"account": c, "name": "赵六", "id_type": "resident",
                                        "id_no": idno("11010519900101001"),
                                        "phone": "14012345678"}, "args.phone")
    assert id_check_digit("11010519900101001") in "0123456789X"


# 4 五 step 2 real-name binding ----------------------------------------------------

def test_4_real_name_binding(ctx):
    site = Site(ctx)
    api = site.api()
    # by phone: a user registered by e-mail
    e = with_basic_info(site, register_email(site, "chen.qi@example.com"))
    p = "13512345678"
    expect(api.result("send_code", account=e, purpose="bind", phone=p), "OK")
    code = code_in(site.wait_sms(p, 1))
    wrong = "%06d" % ((int(code) + 3) % 1000000)
    expect(api.result("bind_phone", account=e, phone=p, code=wrong), "CODE_INVALID")
    assert api.account(e).get("phone_bound") != "1"
    expect(api.result("bind_phone", account=e, phone=p, code=code), "OK")
    acct = api.account(e)
    assert acct.get("phone") == p and acct.get("phone_bound") == "1", acct
    assert acct.get("email_bound") == "1", acct  # registering by e-mail bound the address
    # the code was used
    expect(api.result("bind_phone", account=e, phone=p, code=code), "CODE_INVALID")

    # by e-mail: a user registered by phone, the code from the mail
    q = "13612345678"
    m = with_basic_info(site, register_phone(site, q))
    x = "sun.ba@example.com"
    expect(api.result("send_code", account=m, purpose="bind", email=x), "OK")
    mail = site.wait_mail(x, 1)
    assert str(mail["Subject"]) == "学信网邮箱绑定校验码", mail["Subject"]
    expect(api.result("bind_email", account=m, email=x, code=code_in(body_text(mail))), "OK")
    acct = api.account(m)
    assert acct.get("email") == x and acct.get("email_bound") == "1", acct
    assert acct.get("phone_bound") == "1", acct

    # IN_USE: another user's bound phone, registered phone, registered or bound address
    o = with_basic_info(site, register_email(site, "zhou.jiu@example.com"))
    # (p and x just got a bind code: a new one within the minute is refused before
    # anything is looked up, so they are tried with bind_phone/bind_email below)
    for args in ({"phone": q}, {"email": "chen.qi@example.com"}):
        expect(api.result("send_code", account=o, purpose="bind", **args), "IN_USE",
               MSG["IN_USE"])
    expect(api.result("send_code", account=o, purpose="bind", phone=p), "RATE_LIMITED",
           MSG["RATE_LIMITED"])
    expect(api.result("bind_phone", account=o, phone=p, code=code), "IN_USE", MSG["IN_USE"])
    expect(api.result("bind_email", account=o, email=x, code="123456"), "IN_USE", MSG["IN_USE"])
    assert len(site.spooled(p)) == 1 and len(site.spooled(x)) == 1
    assert len(site.spooled(q)) == 1  # the registration code only
    acct = api.account(o)
    assert acct.get("phone") is None and acct.get("phone_bound") != "1", acct


# 5 五 assisted binding -----------------------------------------------------------

def inbox(api, aid):
    st, body, _ = api.request("GET", "/v1/accounts/%s/inbox" % aid)
    assert st == 200, (st, body)
    return {it["id"]: it for it in body["items"]}


def test_5_assisted_binding(ctx):
    site = Site(ctx)
    api = site.api()
    pc = "13912340001"
    c = register_phone(site, pc)
    expect(api.result("set_basic_info", account=c, name="王芳", id_type="resident",
                      id_no=idno("11010519950101002"), phone=pc), "OK")

    r_ = with_basic_info(site, register_email(site, "requester.one@example.com"))
    pr = "13912340002"
    res = api.result("assist_bind_request", account=r_, classmate_name="王芳",
                     classmate_phone=pc, phone=pr)
    expect(res, "OK")
    req = res.get("request")
    assert req, "no request id in %s" % res
    # the classmate is told by SMS to look into the inbox, where the request is
    assert "收件箱" in site.wait_sms(pc, 2)
    items = inbox(api, c)
    assert req in items and items[req]["state"] == "open", items
    assert items[req].get("from") == r_ and pr in items[req].get("text", ""), items[req]
    assert inbox(api, r_) == {}, "the request landed in the requester's own inbox"
    # only the classmate can answer it
    outsider = register_email(site, "outsider@example.com")
    expect(api.result("assist_bind_confirm", account=outsider, request=req), "NOT_FOUND")
    assert api.account(r_).get("phone_bound") != "1"
    expect(api.result("assist_bind_confirm", account=c, request=req), "OK")
    acct = api.account(r_)
    assert acct.get("phone") == pr and acct.get("phone_bound") == "1", acct
    assert inbox(api, c)[req]["state"] == "confirmed"
    expect(api.result("assist_bind_confirm", account=c, request=req), "NOT_FOUND")

    # declined
    r2 = with_basic_info(site, register_email(site, "requester.two@example.com"))
    res = api.result("assist_bind_request", account=r2, classmate_name="王芳",
                     classmate_phone=pc, phone="13912340003")
    expect(res, "OK")
    expect(api.result("assist_bind_decline", account=c, request=res["request"]), "OK")
    assert inbox(api, c)[res["request"]]["state"] == "declined"
    expect(api.result("assist_bind_confirm", account=c, request=res["request"]), "NOT_FOUND")
    acct = api.account(r2)
    assert acct.get("phone_bound") != "1" and acct.get("phone") is None, acct

    # not eligible: wrong name; a number with a code out but no completed binding; nobody
    half = "13912340004"
    expect(api.result("send_code", phone=half, purpose="register"), "OK")
    for name, phone in (("王芬", pc), ("王芳", half), ("王芳", "13912340009")):
        expect(api.result("assist_bind_request", account=r2, classmate_name=name,
                          classmate_phone=phone, phone="13912340005"), "ASSISTANT_NOT_ELIGIBLE")
    assert len(inbox(api, c)) == 2
    # the phone to bind must be free
    expect(api.result("assist_bind_request", account=r2, classmate_name="王芳",
                      classmate_phone=pc, phone=pr), "IN_USE", MSG["IN_USE"])

    # unanswered for more than the 7 days it is valid: expired
    r3 = with_basic_info(site, register_email(site, "requester.three@example.com"))
    res = api.result("assist_bind_request", account=r3, classmate_name="王芳",
                     classmate_phone=pc, phone="13912340006")
    expect(res, "OK")
    site.restart(faketime="+8d")
    api = site.api()
    assert inbox(api, c)[res["request"]]["state"] == "expired"
    expect(api.result("assist_bind_confirm", account=c, request=res["request"]), "CODE_EXPIRED",
           MSG["CODE_EXPIRED"])
    assert api.account(r3).get("phone_bound") != "1"


# 6 六 duplicate id numbers ---------------------------------------------------------

def test_6_duplicate_id_review(ctx):
    site = Site(ctx)
    api = site.api()
    cons = site.api("conscript")
    rv = site.api("kefu07")  # a reviewer's token: the decisions are the token's
    x = idno("44030419980512003")
    # A1: registered through the conscription site, with the id number
    a1_mail = "old.conscript@example.com"
    a1 = register_email(site, a1_mail, front="conscript")
    expect(cons.result("set_basic_info", account=a1, name="刘洋", id_type="resident", id_no=x,
                       phone="13712340001"), "OK")
    # A2: the same id: registered, may go on to the photo
    a2_mail = "liu.yang@example.com"
    a2 = register_email(site, a2_mail)
    expect(api.result("set_basic_info", account=a2, name="刘洋", id_type="resident", id_no=x,
                      phone="13712340002"), "IDNO_REGISTERED", MSG["IDNO_REGISTERED"])
    # photos judged by content and size
    for bad in (b"hello", PDF_HEAD, b"\x89PNG not really"):
        expect(api.result("id_photo_upload", account=a2, photo=b64(bad)), "PHOTO_FORMAT",
               MSG["PHOTO_FORMAT"])
    big = png(320, 330, seed=1, level=0)
    assert len(big) > 300 * 1024
    expect(api.result("id_photo_upload", account=a2, photo=b64(big)), "PHOTO_TOO_LARGE",
           MSG["PHOTO_TOO_LARGE"])
    bad_request(api, "id_photo_upload", {"account": a2, "photo": "not base64!"}, "args.photo")
    assert api.account(a2)["status"] == "active"
    photo = png(4, 3)
    res = api.result("id_photo_upload", account=a2, photo=b64(photo))
    expect(res, "OK")
    rev1 = res.get("review")
    assert rev1, res
    assert api.account(a2)["status"] == "pending_review"
    # while it waits, the number cannot be used by anyone else
    a3 = register_email(site, "third.one@example.com")
    expect(api.result("set_basic_info", account=a3, name="刘洋", id_type="resident", id_no=x,
                      phone="13712340003"), "IDNO_PENDING_REVIEW", MSG["IDNO_PENDING_REVIEW"])

    # the reviewer's view: the list and the photo as uploaded
    st, body, _ = rv.request("GET", "/v1/reviews?state=pending")
    assert st == 200, (st, body)
    revs = {r["id"]: r for r in body["reviews"]}
    assert rev1 in revs and revs[rev1]["account"] == a2, body
    # (re-encoded as a JPEG at upload: test_photos.py)
    st, data, hdrs = get_raw(site.eng.port, "/v1/reviews/%s/photo" % rev1, front="kefu07")
    assert st == 200 and data[:3] == b"\xff\xd8\xff", (st, data[:40])
    assert hdrs.get("content-type", "").startswith("image/jpeg"), hdrs

    # rejected: the applicant is told why, and may upload again
    reason = "照片中身份证信息不清晰"
    expect(rv.result("review_decision", review=rev1, decision="reject", reviewer="kefu07",
                      reason=reason), "OK")
    mail = site.wait_mail(a2_mail, 2)  # the first was the activation mail
    assert reason in body_text(mail), body_text(mail)
    st, body, _ = rv.request("GET", "/v1/reviews?state=pending")
    assert rev1 not in [r["id"] for r in body["reviews"]], body
    assert api.account(a1)["status"] == "active"
    res = api.result("id_photo_upload", account=a2, photo=b64(GIF_1X1))
    expect(res, "OK")
    rev2 = res["review"]
    assert rev2 != rev1
    expect(api.result("id_photo_upload", account=a2, photo=b64(photo)), "IDNO_PENDING_REVIEW")
    # a decision on the old, closed review changes nothing
    expect(rv.result("review_decision", review=rev1, decision="approve", reviewer="kefu07"),
           "NOT_FOUND")
    assert api.account(a1)["status"] == "active"
    assert api.account(a2)["status"] == "pending_review"
    st, data, hdrs = get_raw(site.eng.port, "/v1/reviews/%s/photo" % rev2, front="kefu07")
    assert st == 200 and data[:3] == b"\xff\xd8\xff" and \
        hdrs.get("content-type", "").startswith("image/jpeg"), (st, data[:40], hdrs)

    # approved: the old account is deregistered and told; the reviewer is warned of
    # its conscription registration
    res = rv.result("review_decision", review=rev2, decision="approve", reviewer="kefu07")
    expect(res, "OK")
    assert res.get("deregistered") == [a1], res
    warns = res.get("warnings") or []
    assert any(w.get("account") == a1 and w.get("registered_at") == "conscript"
               for w in warns), res
    assert api.account(a1)["status"] == "deregistered"
    assert api.account(a2)["status"] == "active"
    # its owner hears it at login - after the right password only
    st, body = api.post_job("login", {"login": a1_mail, "password": PASSWORD})
    assert st == 200 and body["result"]["code"] == "DEREGISTERED", body
    st, body = api.post_job("login", {"login": a1_mail, "password": "not it at all"})
    assert st == 200 and body["result"]["code"] == "LOGIN_FAILED", body
    mail = site.wait_mail(a1_mail, 2)
    assert "注销" in str(mail["Subject"]) + body_text(mail), body_text(mail)
    expect(cons.result("send_code", account=a1, purpose="bind", phone="13712340001"),
           "DEREGISTERED")
    # the number now belongs to A2: A3 is told it is registered (and may ask for review)
    expect(api.result("set_basic_info", account=a3, name="刘洋", id_type="resident", id_no=x,
                      phone="13712340003"), "IDNO_REGISTERED", MSG["IDNO_REGISTERED"])


def test_6_duplicate_id_user_assist(ctx):
    site = Site(ctx)
    api = site.api()
    y = idno("32010219970304004")
    # B1 registered by phone with the number; B2 has it too and asks a classmate
    pb1 = "15812340001"
    b1 = register_phone(site, pb1)
    expect(api.result("set_basic_info", account=b1, name="陈晨", id_type="resident", id_no=y,
                      phone=pb1), "OK")
    b2 = register_email(site, "chen.chen@example.com")
    expect(api.result("set_basic_info", account=b2, name="陈晨", id_type="resident", id_no=y,
                      phone="15812340002"), "IDNO_REGISTERED", MSG["IDNO_REGISTERED"])
    pc = "15812340003"
    c = register_phone(site, pc)
    expect(api.result("set_basic_info", account=c, name="黄磊", id_type="passport",
                      id_no="G12345678", phone=pc), "OK")
    expect(api.result("id_assist_request", account=b2, classmate_name="黄石", classmate_phone=pc),
           "ASSISTANT_NOT_ELIGIBLE")
    res = api.result("id_assist_request", account=b2, classmate_name="黄磊", classmate_phone=pc)
    expect(res, "OK")
    req = res.get("request")
    assert req, res
    assert "收件箱" in site.wait_sms(pc, 2)
    items = inbox(api, c)
    assert items.get(req, {}).get("state") == "open", items
    res = api.result("id_assist_confirm", account=c, request=req)
    expect(res, "OK")
    assert res.get("deregistered") == [b1], res
    assert not res.get("warnings"), res  # B1 came through the student-status site
    assert api.account(b1)["status"] == "deregistered"
    assert api.account(b2)["status"] == "active"
    assert inbox(api, c)[req]["state"] == "confirmed"
    # B1 has no address: told by SMS
    sms = site.wait_sms(pb1, 2)
    assert "注销" in sms, sms
    expect(api.result("send_code", account=b1, purpose="bind", email="b1@example.com"),
           "DEREGISTERED")


# 7 二 三 recovery ----------------------------------------------------------------

def test_7_recovery(ctx):
    site = Site(ctx)
    api = site.api()
    u_mail, u_phone = "zheng.shi@example.com", "13312340001"
    u = with_basic_info(site, register_email(site, u_mail))
    expect(api.result("send_code", account=u, purpose="bind", phone=u_phone), "OK")
    expect(api.result("bind_phone", account=u, phone=u_phone,
                      code=code_in(site.wait_sms(u_phone, 1))), "OK")
    login = api.account(u)["login"]

    # username: by e-mail and by phone; a stranger gets the very same answer and nothing
    r_mail = api.result("recover_username", email=u_mail)
    expect(r_mail, "OK")
    assert login in body_text(site.wait_mail(u_mail, 2))
    r_phone = api.result("recover_username", phone=u_phone)
    assert login in site.wait_sms(u_phone, 2)
    r_none_mail = api.result("recover_username", email="nobody.home@example.com")
    r_none_phone = api.result("recover_username", phone="13312349999")
    assert r_mail == r_none_mail == r_phone == r_none_phone, (r_mail, r_none_mail, r_phone,
                                                                 r_none_phone)
    assert "account" not in r_mail, r_mail

    # password by link: the same answer for a stranger, no message to them
    r = api.result("recover_password", email=u_mail)
    assert r == api.result("recover_password", email="nobody.home@example.com") == r_mail, r
    link_mail = site.wait_mail(u_mail, 3)
    tok = token_in(body_text(link_mail))
    assert tok, body_text(link_mail)
    # an outstanding reset code by SMS as well
    expect(api.result("recover_password", phone=u_phone), "OK")
    pcode = code_in(site.wait_sms(u_phone, 3))
    expect(api.result("reset_password", token="A" * 43, password="new password 1"),
           "CODE_INVALID")
    r = api.result("reset_password", token=tok, password="new password 1")
    expect(r, "OK")
    expect(api.result("reset_password", token=tok, password="new password 2"), "CODE_INVALID")
    # the successful reset ended the other outstanding reset
    expect(api.result("reset_password", phone=u_phone, code=pcode, password="new password 3"),
           "CODE_INVALID")
    assert site.spooled("nobody.home@example.com") == [] and site.spooled("13312349999") == []

    # password by phone code: a user registered by phone
    v_phone = "13312340002"
    register_phone(site, v_phone)
    expect(api.result("recover_password", phone=v_phone), "OK")
    vcode = code_in(site.wait_sms(v_phone, 2))
    wrong = "%06d" % ((int(vcode) + 1) % 1000000)
    expect(api.result("reset_password", phone=v_phone, code=wrong, password="new password 4"),
           "CODE_INVALID")
    expect(api.result("reset_password", phone=v_phone, code=vcode, password="new password 4"),
           "OK")
    expect(api.result("reset_password", phone=v_phone, code=vcode, password="new password 5"),
           "CODE_INVALID")

    # two links: the one issued before does not survive the reset (minutes later,
    # past the one-a-minute limit)
    w_mail = "wu.yi@example.com"
    register_email(site, w_mail)
    expect(api.result("recover_password", email=w_mail), "OK")
    old = token_in(body_text(site.wait_mail(w_mail, 2)))
    site.restart(faketime="+3m")
    api = site.api()
    expect(api.result("recover_password", email=w_mail), "OK")
    new = token_in(body_text(site.wait_mail(w_mail, 3)))
    assert old and new and old != new
    expect(api.result("reset_password", token=new, password="new password 6"), "OK")
    expect(api.result("reset_password", token=old, password="new password 7"), "CODE_INVALID")


# 8 several sites, one account system ------------------------------------------------

def test_8_several_sites(ctx):
    site = Site(ctx)
    for front, sender in (("www", "学信网"), ("conscript", "全国征兵网"),
                          ("yz", "中国研究生招生信息网")):
        addr = "site.%s@example.com" % front
        r = site.api(front).result("register_email", email=addr, password=PASSWORD)
        expect(r, "OK")
        mail = site.wait_mail(addr, 1)
        name, _ = decoded_from(mail)
        assert name == sender, "%s: From %r, wanted %r" % (front, str(mail["From"]), sender)
        assert str(mail["Subject"]) == "学信网帐号激活邮件", mail["Subject"]
        assert site.api().account(r["account"]).get("front") == front

    # a conscription office registers young people without a phone, in a batch
    cons = site.api("conscript")
    people = ["recruit%02d@example.com" % i for i in range(4)]
    lines = [json.dumps({"type": "register_email", "args": {"email": people[0], "password": PASSWORD}}),
             json.dumps({"type": "register_email", "args": {"email": people[1], "password": PASSWORD}}),
             json.dumps({"type": "register_email", "args": {"email": "no-at-sign", "password": PASSWORD}}),
             json.dumps({"type": "register_email", "args": {"email": people[2], "password": PASSWORD}}),
             '{"type": "register_email", "args": {',
             json.dumps({"type": "register_email", "args": {"email": people[3], "password": PASSWORD}})]
    st, body, _ = cons.request("POST", "/v1/jobs/batch", "\n".join(lines) + "\n", raw=True)
    assert st == 200, (st, body)
    out = [json.loads(line) for line in body.splitlines()]
    assert [o["line"] for o in out] == [1, 2, 3, 4, 5, 6], out
    assert out[2].get("error", {}).get("code") == "INVALID_FIELD", out[2]
    assert out[2]["error"].get("field") == "args.email", out[2]
    assert out[4].get("error", {}).get("code") == "MALFORMED_JSON", out[4]
    good = [out[i] for i in (0, 1, 3, 5)]
    assert all("id" in o and "error" not in o for o in good), out
    for o, addr in zip(good, people):
        view = wait_until(lambda: cons.job(o["id"])[1]["state"] == "done" and cons.job(o["id"])[1],
                          15, what="batch job %s" % o["id"])
        assert view["result"]["code"] == "OK", view
        assert site.api().account(view["result"]["account"]).get("front") == "conscript"
        assert decoded_from(site.wait_mail(addr, 1))[0] == "全国征兵网"
        # another site does not see the office's jobs
        assert site.api("yz").job(o["id"])[0] == 404
    assert site.spooled("no-at-sign") == []
    # a wrong token runs nothing
    st, body = Api(site.eng.port, "conscript").post_job(
        "register_email", {"email": "intruder@example.com", "password": PASSWORD},
        token="dev-token-conscript-wrong")
    assert st == 401, (st, body)
    assert site.spooled("intruder@example.com") == []
