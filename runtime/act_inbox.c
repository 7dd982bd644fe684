/*
 * act_inbox - requests from one account to another through the other's
 * inbox (binding vouched for by a classmate, duplicate-id assistance):
 * sent, and answered by the account whose inbox holds them.
 */
#include "util.h"
#include "wf_acts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_rendered(struct wf_ctx *c, json_t *r, const char *col, const char *tmpl)
{
	char *v = wf_render(c->vars, tmpl);
	rec_set(r, col, v);
	free(v);
}

/* act_inbox_send - an item for the other account's inbox (a request to answer) */
int act_inbox_send(struct wf_ctx *c, const struct wf_action *a)
{
	char id[ID_LEN + 1], key[REC_KEY_MAX];
	int64_t valid = wf_p_int(a, "valid", 0);
	if (!c->other)
		return wf_ctx_fail(c, "NOT_FOUND");
	id_new(id);
	json_t *r = json_object();
	rec_set(r, "id", id);
	rec_set(r, "account", rec_str(c->other, "id"));
	rec_set(r, "from", wf_ctx_account_id(c));
	rec_set(r, "type", wf_p_str(a, "type"));
	set_rendered(c, r, "text", wf_p_str(a, "text"));
	if (wf_p_str(a, "data"))
		set_rendered(c, r, "data", wf_p_str(a, "data"));
	rec_set(r, "istate", "open");
	rec_set_int(r, "created", c->now);
	rec_set_int(r, "expires", c->now + valid);
	rec_set_int(r, "purge", c->now + valid + c->ws->retention_ms);
	wf_ctx_put(c, rec_key(REC_INBOX, id, key), r, 0);
	json_decref(r);
	json_object_set_new(wf_ctx_extra(c), "request", json_string(id));
	return 0;
}

/* answerable - the item is an open request of this type, from the subject,
 * in the inbox of the account who answers */
static int answerable(struct wf_ctx *c, const json_t *r, const char *who, const char *type)
{
	return r && who && rec_is(r, "account", who) && rec_is(r, "from", wf_ctx_account_id(c)) &&
	       rec_is(r, "type", type) && rec_is(r, "istate", "open");
}

/*
 * act_inbox_answer - the account named by the job's "account" answers an
 * open item of its inbox; the subject is the item's sender (subject by
 * request), the answering account becomes "other", and the item's data the
 * variable request_data.
 */
int act_inbox_answer(struct wf_ctx *c, const struct wf_action *a)
{
	char key[REC_KEY_MAX], okey[REC_KEY_MAX];
	const char *rid = json_string_value(json_object_get(c->args, "request"));
	const char *who = json_string_value(json_object_get(c->args, "account"));
	json_t *r = wf_ctx_copy(c, rec_key(REC_INBOX, rid, key)), *o = NULL;
	int rc = 0;
	if (!answerable(c, r, who, wf_p_str(a, "type"))) {
		rc = wf_ctx_fail(c, "NOT_FOUND");
		goto out;
	}
	if (c->now >= rec_int(r, "expires", 0)) {
		rc = wf_ctx_fail(c, "CODE_EXPIRED");
		goto out;
	}
	rec_set(r, "istate", wf_p_str(a, "answer"));
	rec_set_int(r, "answered", c->now);
	wf_ctx_put(c, key, r, 0);
	o = wf_ctx_get(c, rec_account_key(who, okey));
	if (!o || rec_is(o, "status", "deregistered")) {
		rc = wf_ctx_fail(c, "NOT_FOUND");
		goto out;
	}
	wf_ctx_set_other(c, okey, o);
	json_object_set_new(c->vars, "request_data", json_string(rec_str0(r, "data")));
out:
	json_decref(o);
	json_decref(r);
	return rc;
}
