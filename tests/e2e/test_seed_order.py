"""The seed's order of things (issue 9.8): real-name binding only after the
basic information; no binding while a duplicate-id review waits (只有待客服审核
通过之后才能进行其他的操作); the applicant told the review's outcome; a review
shown with the reviewer its token names; the username recovered by name and
id number too (seed 一.3.a)."""
from engine import body_text
from flows import (Site, b64, idno, png, register_email, register_phone)

REQ = "请先登录系统并填写自己的基本信息"
WAIT = "只有待客服审核通过之后才能进行其他的操作"


def test_binding_waits_for_basic_info_and_review(ctx):
    site = Site(ctx)
    api, rv = site.api(), site.api("kefu07")
    a = register_email(site, "zhou.yi@example.com")
    for t, args in (("send_code", {"account": a, "purpose": "bind", "phone": "13911110000"}),
                    ("bind_phone", {"account": a, "phone": "13911110000", "code": "123456"}),
                    ("assist_bind_request", {"account": a, "classmate_name": "王芳",
                                             "classmate_phone": "13911110001",
                                             "phone": "13911110000"})):
        r = api.result(t, **args)
        assert r["code"] == "BASIC_INFO_REQUIRED" and r["message"] == REQ, (t, r)
    # a duplicate id: review pending, and nothing else meanwhile
    x = idno("32010219990909001")
    b = register_phone(site, "13911110002")
    assert api.result("set_basic_info", account=b, name="周一", id_type="resident", id_no=x,
                      phone="13911110002")["code"] == "OK"
    assert api.result("set_basic_info", account=a, name="周一", id_type="resident", id_no=x,
                      phone="13911110003")["code"] == "IDNO_REGISTERED"
    res = api.result("id_photo_upload", account=a, photo=b64(png(4, 3)))
    assert res["code"] == "OK", res
    r = api.result("send_code", account=a, purpose="bind", phone="13911110004")
    assert r["code"] == "REVIEW_PENDING" and r["message"] == WAIT, r
    # approved: the applicant is told; the review shows who decided
    assert rv.result("review_decision", review=res["review"], decision="approve",
                     reviewer="somebody else", reason="")["code"] == "OK"
    mail = site.wait_mail("zhou.yi@example.com", 2)
    assert "已通过客服审核" in body_text(mail), body_text(mail)
    st, view, _ = rv.request("GET", "/v1/reviews/%s" % res["review"])
    assert st == 200 and view["state"] == "approved" and view["reviewer"] == "kefu07", view
    assert "photo" not in view and view["photo_url"].endswith("/photo"), view
    st, listed, _ = rv.request("GET", "/v1/reviews")  # no state: every review
    assert st == 200 and res["review"] in [r["id"] for r in listed["reviews"]], listed
    r = api.result("send_code", account=a, purpose="bind", phone="13911110005")
    assert r["code"] == "OK", r


def test_recover_username_by_name_and_idno(ctx):
    site = Site(ctx)
    api = site.api()
    a = register_email(site, "wu.er@example.com")
    b = register_email(site, "wu.san@example.com")
    x, y = idno("44030419880101001"), idno("44030419880101002")
    assert api.result("set_basic_info", account=a, name="吴二", id_type="resident", id_no=x,
                      phone="13811112222")["code"] == "OK"
    assert api.result("set_basic_info", account=b, name="吴三", id_type="resident", id_no=y,
                      phone="13811112223")["code"] == "OK"
    # the wrong name: the same answer, nothing sent
    r = api.result("recover_username", name="吴四", id_no=y)
    assert r["code"] == "OK" and "account" not in r, r
    r = api.result("recover_username", name="吴二", id_no=x)
    assert r["code"] == "OK" and "account" not in r, r
    mail = site.wait_mail("wu.er@example.com", 2)
    assert "wu.er@example.com" in body_text(mail), body_text(mail)
    assert len(site.mails("wu.san@example.com")) == 1  # the wrong name sent nothing
