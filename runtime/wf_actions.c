/*
 * wf_actions - the action code workflows are written with: the account's
 * own fields, replies, sending, lookups of other accounts; and the binding
 * of every op of the schema (wf/wf_schema.c) to its code.  The rest of
 * the library is in act_secret.c, act_limit.c, act_review.c, act_inbox.c.
 *
 * An action either succeeds (0), or fails the transition with a result
 * code (WF_ACT_FAILED): the transition's writes and messages are then
 * dropped, except what the action wrote as sticky (failed attempts,
 * rate-limit counters).
 */
#include "log.h"
#include "spool.h"
#include "util.h"
#include "wf_acts.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *wf_acts_field_value(struct wf_ctx *c, const char *field, const char *tmpl)
{
	char *v = wf_render(c->vars, tmpl);
	if (!strcmp(field, "email"))
		for (char *p = v; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	return v;
}

int act_set(struct wf_ctx *c, const struct wf_action *a)
{
	char *v = wf_acts_field_value(c, wf_p_str(a, "field"), wf_p_str(a, "value"));
	rec_set(c->account, wf_p_str(a, "field"), v);
	free(v);
	return 0;
}

int act_set_password(struct wf_ctx *c, const struct wf_action *a)
{
	/* the API hashed it (Argon2id) before the job was written; from =
	 * "token": the one the verified link carries (the password of the
	 * registration whose link was used) */
	const char *arg = wf_p_str(a, "arg") ? wf_p_str(a, "arg") : "password";
	const char *from = wf_p_str(a, "from");
	if (from && !strcmp(from, "token")) {
		if (c->token && rec_str(c->token, "pwhash"))
			rec_set(c->account, "pwhash", rec_str(c->token, "pwhash"));
		return 0;
	}
	rec_set(c->account, "pwhash", json_string_value(json_object_get(c->args, arg)));
	return 0;
}

int act_reply(struct wf_ctx *c, const struct wf_action *a)
{
	c->code = wf_p_str(a, "code");
	return 0;
}

int act_fail(struct wf_ctx *c, const struct wf_action *a)
{
	return wf_ctx_fail(c, wf_p_str(a, "code"));
}

int act_goto(struct wf_ctx *c, const struct wf_action *a)
{
	c->goto_state = wf_p_str(a, "state");
	return 0;
}

/* template_for - a site's own variant "name@front" (its sender name and
 * wording) first, then the template itself */
static const struct wf_template *template_for(struct wf_ctx *c, const char *name)
{
	const char *front = c->front ? c->front : rec_str(c->account, "front");
	const struct wf_template *t = NULL;
	if (front) {
		char *fname = xasprintf("%s@%s", name, front);
		t = wf_template_find(c->wf, fname);
		free(fname);
	}
	return t ? t : wf_template_find(c->wf, name);
}

int wf_acts_outbox_put(struct wf_ctx *c, struct spool_msg *m)
{
	char key[REC_KEY_MAX], err[256];
	json_t *rec;
	if (rec_outbox_new(m, wf_ctx_account_id(c), &rec, err, sizeof(err)) < 0) {
		/* the loader checks templates, the API addresses: this is a gap in
		 * a workflow (a variable with no value); nothing can deliver it */
		log_err("workflow %s: account %s: message %s not sent: %s", c->wf->name,
			wf_ctx_account_id(c), m->id, err);
		return -EINVAL;
	}
	rec_outbox_key(m->id, key);
	wf_ctx_put(c, key, rec, 0);
	json_decref(rec);
	json_array_append_new(c->outbox, json_string(key));
	return 0;
}

int wf_acts_send(struct wf_ctx *c, const char *tname, const char *to)
{
	const struct wf_template *t = template_for(c, tname);
	struct spool_msg m = {0};
	id_new(m.id);
	m.channel = t->channel;
	m.to = wf_render(c->vars, to);
	m.from_name = t->from_name;
	m.subject = t->subject ? wf_render(c->vars, t->subject) : NULL;
	m.body = wf_render(c->vars, t->body);
	m.secret = (char *)c->secret;
	m.front = (char *)c->front;
	m.account = (char *)wf_ctx_account_id(c);
	m.created_ms = c->now;
	/* a message carrying a secret is worthless once the secret has expired */
	m.expires_ms = c->secret ? c->secret_expires : 0;
	if (wf_acts_outbox_put(c, &m) == 0)
		wf_ctx_history(c, "message",
			       json_pack("{s:s, s:s, s:s}", "spool", m.id, "channel", m.channel,
					 "template", tname),
			       0);
	free(m.to);
	free(m.subject);
	free(m.body);
	return 0;
}

int act_send(struct wf_ctx *c, const struct wf_action *a)
{
	return wf_acts_send(c, wf_p_str(a, "template"), wf_p_str(a, "to"));
}

int wf_acts_other_accounts(struct wf_ctx *c, const char *field, const char *value, json_t **out)
{
	json_t *keys = NULL, *k;
	size_t i;
	int rc = rec_find(c->st, REC_ACCOUNT, field, value, &keys);
	if (rc < 0)
		return rc;
	*out = json_object();
	json_array_foreach(keys, i, k) {
		const char *key = json_string_value(k);
		json_t *r = strcmp(key, c->akey) ? wf_ctx_get(c, key) : NULL;
		if (r && !rec_is(r, "status", "deregistered"))
			json_object_set(*out, key, r);
		json_decref(r);
	}
	json_decref(keys);
	return c->err;
}

/* act_unique - no other live account may have field = value */
int act_unique(struct wf_ctx *c, const struct wf_action *a)
{
	char *v = wf_acts_field_value(c, wf_p_str(a, "field"), wf_p_str(a, "value"));
	json_t *others = NULL;
	int rc = wf_acts_other_accounts(c, wf_p_str(a, "field"), v, &others);
	free(v);
	if (rc < 0)
		return rc;
	int taken = json_object_size(others) > 0;
	json_decref(others);
	return taken ? wf_ctx_fail(c, wf_p_str(a, "code")) : 0;
}

int act_require(struct wf_ctx *c, const struct wf_action *a)
{
	const char *v = rec_str(c->account, wf_p_str(a, "field"));
	if (!v || !*v)
		return wf_ctx_fail(c, wf_p_str(a, "code"));
	return 0;
}

/* other_rank - which of several accounts with one id number "lookup" names */
static int other_rank(const json_t *rec)
{
	if (rec_is(rec, "status", "pending_review"))
		return 3;
	if (rec_is(rec, "status", "active"))
		return 2;
	return 1;
}

/* act_lookup - another live account with field = value becomes "other" */
int act_lookup(struct wf_ctx *c, const struct wf_action *a)
{
	char *v = wf_acts_field_value(c, wf_p_str(a, "field"), wf_p_str(a, "value"));
	json_t *others = NULL, *r, *best = NULL;
	const char *key, *best_key = NULL;
	int rc = wf_acts_other_accounts(c, wf_p_str(a, "field"), v, &others);
	free(v);
	if (rc < 0)
		return rc;
	json_object_foreach(others, key, r) {
		/* an account that only asked for a code or a link holds nothing yet:
		 * otherwise anyone could block a phone or an address by asking */
		int unverified = rec_is(r, "status", "pending_code") ||
				 rec_is(r, "status", "pending_activation");
		if (!unverified && (!best || other_rank(r) > other_rank(best))) {
			best = r;
			best_key = key;
		}
	}
	wf_ctx_set_other(c, best_key, best);
	json_decref(others);
	return 0;
}

int act_set_other(struct wf_ctx *c, const struct wf_action *a)
{
	if (!c->other)
		return wf_ctx_fail(c, "NOT_FOUND");
	char *v = wf_render(c->vars, wf_p_str(a, "value"));
	rec_set(c->other, wf_p_str(a, "field"), v);
	free(v);
	wf_ctx_put(c, c->okey, c->other, 0);
	return 0;
}

/* act_check_id - the number in the format of its id type (id_types.conf) */
int act_check_id(struct wf_ctx *c, const struct wf_action *a)
{
	char *type = wf_render(c->vars, wf_p_str(a, "type"));
	char *no = wf_render(c->vars, wf_p_str(a, "number"));
	const struct wf_idtype *t = wf_idtype_find(c->ws, type);
	int rc = 0;
	if (!t || wf_idtype_check(t, no))
		rc = wf_ctx_fail(c, "IDNO_INVALID");
	free(type);
	free(no);
	return rc;
}

/* the code of each action of the schema (wf/wf_schema.c), by its op */
static const wf_act_fn ops[WF_OP_N] = {
	[WF_OP_SET] = act_set,
	[WF_OP_SET_PASSWORD] = act_set_password,
	[WF_OP_REPLY] = act_reply,
	[WF_OP_FAIL] = act_fail,
	[WF_OP_ISSUE_TOKEN] = act_issue_token,
	[WF_OP_VERIFY_TOKEN] = act_verify_token,
	[WF_OP_ISSUE_CODE] = act_issue_code,
	[WF_OP_VERIFY_CODE] = act_verify_code,
	[WF_OP_SEND] = act_send,
	[WF_OP_UNIQUE] = act_unique,
	[WF_OP_REQUIRE] = act_require,
	[WF_OP_LIMIT] = act_limit,
	[WF_OP_GOTO] = act_goto,
	[WF_OP_LOOKUP] = act_lookup,
	[WF_OP_SET_OTHER] = act_set_other,
	[WF_OP_CHECK_ID] = act_check_id,
	[WF_OP_CHECK_PHOTO] = act_check_photo,
	[WF_OP_REVIEW_OPEN] = act_review_open,
	[WF_OP_REVIEW_CLOSE] = act_review_close,
	[WF_OP_DEREGISTER_OTHERS] = act_deregister_others,
	[WF_OP_INBOX_SEND] = act_inbox_send,
	[WF_OP_INBOX_ANSWER] = act_inbox_answer,
	[WF_OP_REVOKE] = act_revoke,
	[WF_OP_ASK] = act_ask,
};

wf_act_fn wf_act_of(enum wf_op op)
{
	return op >= 0 && op < WF_OP_N ? ops[op] : NULL;
}
