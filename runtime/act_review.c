/*
 * act_review - the actions of a duplicate-id review: the photo decoded and
 * re-encoded, the review opened and closed, and the other accounts with
 * the id number deregistered (and told) when a review is approved.
 */
#include "photo.h"
#include "util.h"
#include "wf_acts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* act_check_photo - the photo decoded, checked and re-encoded (photo.h; the
 * engine did it on its hash threads when the job came in), at most max
 * bytes as the caller sent it */
int act_check_photo(struct wf_ctx *c, const struct wf_action *a)
{
	json_int_t max = wf_p_int(a, "max_bytes", 300 * 1024);
	if (photo_args_normalize(c->args, "photo") < 0)
		return -ENOMEM;
	json_int_t n = json_integer_value(json_object_get(c->args, "photo_bytes"));
	const char *type = json_string_value(json_object_get(c->args, "photo_type"));
	if (n > max)
		return wf_ctx_fail(c, "PHOTO_TOO_LARGE");
	if (!type || json_object_get(c->args, "photo_error"))
		return wf_ctx_fail(c, "PHOTO_FORMAT");
	json_object_set_new(c->vars, "photo_type", json_string(type));
	return 0;
}

int act_review_open(struct wf_ctx *c, const struct wf_action *a)
{
	char id[ID_LEN + 1], key[REC_KEY_MAX];
	id_new(id);
	json_t *r = json_object();
	rec_set(r, "id", id);
	rec_set(r, "account", wf_ctx_account_id(c));
	rec_set(r, "idno", rec_str(c->account, "idno"));
	rec_set(r, "name", rec_str(c->account, "name"));
	rec_set(r, "rstate", "pending");
	rec_set(r, "photo_type", json_string_value(json_object_get(c->vars, "photo_type")));
	rec_set_int(r, "created", c->now);
	wf_ctx_put(c, rec_key(REC_REVIEW, id, key), r, 0);
	json_decref(r);
	/* the photo apart: it is purged a while after the decision, the review stays */
	json_t *p = json_pack("{s:s, s:s, s:s}", "review", id, "account", wf_ctx_account_id(c),
			      "photo", json_string_value(json_object_get(c->args, "photo")));
	wf_ctx_put(c, rec_key(REC_PHOTO, id, key), p, 0);
	json_decref(p);
	rec_set(c->account, "review", id);
	json_object_set_new(wf_ctx_extra(c), "review", json_string(id));
	return 0;
}

int act_review_close(struct wf_ctx *c, const struct wf_action *a)
{
	char key[REC_KEY_MAX];
	const char *rid = json_string_value(json_object_get(c->args, "review"));
	json_t *r = wf_ctx_copy(c, rec_key(REC_REVIEW, rid, key));
	if (!r || !rec_is(r, "rstate", "pending")) {
		json_decref(r);
		return wf_ctx_fail(c, "NOT_FOUND");
	}
	rec_set(r, "rstate", wf_p_str(a, "state"));
	const char *reviewer = json_string_value(json_object_get(c->args, "reviewer"));
	const char *reason = json_string_value(json_object_get(c->args, "reason"));
	rec_set(r, "reviewer", reviewer ? reviewer : "");
	rec_set(r, "reason", reason ? reason : "");
	rec_set_int(r, "decided", c->now);
	wf_ctx_put(c, key, r, 0);
	json_decref(r);
	json_t *p = wf_ctx_copy(c, rec_key(REC_PHOTO, rid, key));
	if (p) { /* decided: the id photo goes after engine.photo_retention */
		rec_set_int(p, "purge", c->now + c->ws->photo_ms);
		wf_ctx_put(c, key, p, 0);
		json_decref(p);
	}
	return 0;
}

/* tell_deregistered - a mail if the account has an address, else an SMS */
static int tell_deregistered(struct wf_ctx *c, const struct wf_action *a, const json_t *acct)
{
	const char *email = rec_str(acct, "email"), *phone = rec_str(acct, "phone");
	if (email && *email)
		return wf_acts_send(c, wf_p_str(a, "email_template"), "{{other_email}}");
	if (phone && *phone)
		return wf_acts_send(c, wf_p_str(a, "sms_template"), "{{other_phone}}");
	return 0;
}

/*
 * act_deregister_others - every other live account with this account's id
 * number is deregistered and told; the reply lists them and warns of
 * conscription or graduate-admission ones.
 */
int act_deregister_others(struct wf_ctx *c, const struct wf_action *a)
{
	const char *idno = rec_str(c->account, "idno"), *key;
	json_t *others = NULL, *r, *gone = json_array(), *warn = json_array();
	int rc = 0;
	if (!idno || !*idno || (rc = wf_acts_other_accounts(c, "idno", idno, &others)) < 0)
		goto out;
	json_object_foreach(others, key, r) {
		json_t *copy = json_deep_copy(r);
		rec_set(copy, "status", "deregistered");
		rec_set_int(copy, "deregistered", c->now);
		rec_set(copy, "deregistered_by", wf_ctx_account_id(c));
		const char *front = rec_str(copy, "front");
		if (front && (!strcmp(front, "conscript") || !strcmp(front, "yz")))
			json_array_append_new(warn, json_pack("{s:s, s:s}", "account",
							      rec_str(copy, "id"), "registered_at",
							      front));
		wf_ctx_set_other(c, key, copy); /* its owner is told, as the other account */
		if ((rc = tell_deregistered(c, a, copy)) == 0)
			wf_ctx_put(c, key, copy, 0);
		json_array_append_new(gone, json_string(rec_str(copy, "id")));
		json_decref(copy);
		if (rc)
			goto out;
	}
	json_object_set(wf_ctx_extra(c), "deregistered", gone);
	if (json_array_size(warn))
		json_object_set(wf_ctx_extra(c), "warnings", warn);
out:
	json_decref(gone);
	json_decref(warn);
	json_decref(others);
	return rc < 0 ? rc : 0;
}
