"""The help desk (issue 9.6, 9.7): an account's history - every job that
touched it, every state change, every message with its spool id and, told
by the gateway, what became of it - and look-ups by address, phone or id
number with a name; masked as the seed masks, never a hash or a secret;
every look-up and history read is itself in the history, by name."""
import json

from engine import body_text, token_in
from flows import Site, register_email, register_phone
from harness import wait_until


def helpdesk(site):
    return site.api("helpdesk")


def test_history_of_a_registration(ctx):
    site = Site(ctx, report=True)
    api = site.api()
    addr = "li.ming@example.com"
    aid = register_email(site, addr)
    tok = token_in(body_text(site.mails(addr)[0]))
    desk = helpdesk(site)

    def history():
        st, body, _ = desk.request("GET", "/v1/accounts/%s/history" % aid)
        assert st == 200, (st, body)
        return body["history"]
    # the gateway reports the delivery of the activation mail
    wait_until(lambda: any(h["what"] == "delivery" for h in history()), 15,
               what="the delivery in the history")
    h = history()
    kinds = [(e["what"], e.get("type") or e.get("to") or e.get("state") or "") for e in h]
    assert ("job", "register_email") in kinds and ("job", "activate") in kinds, kinds
    assert ("state", "pending") in kinds and ("state", "active") in kinds, kinds
    msg = [e for e in h if e["what"] == "message"]
    assert len(msg) == 1 and msg[0]["channel"] == "email", h
    dl = [e for e in h if e["what"] == "delivery"]
    assert dl[0]["spool"] == msg[0]["spool"] and dl[0]["state"] == "sent", h
    assert [e for e in h if e["what"] == "job"][0]["by"] == "www", h
    # it is in time order, and holds no secret
    assert [e["at"] for e in h] == sorted(e["at"] for e in h), h
    text = json.dumps(h)
    assert tok not in text and "argon2" not in text and "pwhash" not in text, text
    # a front may not read it; a read is recorded with the reader's name
    assert api.request("GET", "/v1/accounts/%s/history" % aid)[0] == 403
    wait_until(lambda: any(e["what"] == "history_read" and e["by"] == "helpdesk"
                           for e in history()), 10, what="the read in the history")


def test_helpdesk_lookups_masked_and_recorded(ctx):
    site = Site(ctx, gateway_=False)
    api = site.api()
    aid = register_email(site, "zhang.wei@example.com")
    assert api.result("set_basic_info", account=aid, name="张伟", id_type="resident",
                      id_no="11010519491231002X", phone="18612345678")["code"] == "OK"
    desk = helpdesk(site)
    for q in ("email=zhang.wei@example.com", "idno=11010519491231002x",
              "idno=11010519491231002X&name=%E5%BC%A0%E4%BC%9F"):
        st, body, _ = desk.request("GET", "/v1/accounts?" + q)
        assert st == 200 and len(body["accounts"]) == 1, (q, st, body)
        a = body["accounts"][0]
        assert a["id"] == aid, (q, a)
        assert a["email"] == "zh***@example.com" and a["contact_phone"] == "186********", a
        assert a["idno"] == "110***********002X" and a["name"] == "张*", a
        text = json.dumps(a)
        assert "pwhash" not in text and "argon2" not in text, a
    pid = register_phone(site, "13912340000")
    st, body, _ = desk.request("GET", "/v1/accounts?phone=13912340000")
    assert st == 200 and [a["id"] for a in body["accounts"]] == [pid], body
    assert body["accounts"][0]["phone"] == "139********", body
    st, body, _ = desk.request("GET", "/v1/accounts?idno=11010519491231002X&name=%E6%9D%8E")
    assert st == 200 and body["accounts"] == [], body  # a name that does not match
    st, body, _ = desk.request("GET", "/v1/accounts?name=%E5%BC%A0%E4%BC%9F")
    assert st == 400 and body["error"]["code"] == "MISSING_FIELD", body
    st, body, _ = desk.request("GET", "/v1/accounts?email=a@b.cn&phone=18612345678")
    assert st == 400, body
    assert api.request("GET", "/v1/accounts?email=zhang.wei@example.com")[0] == 403

    def looked_up():
        st, body, _ = desk.request("GET", "/v1/accounts/%s/history" % aid)
        return [e for e in body["history"] if e["what"] == "lookup"]
    wait_until(lambda: len(looked_up()) >= 3, 10, what="the look-ups in the history")
    assert all(e["by"] == "helpdesk" for e in looked_up())
