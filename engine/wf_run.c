/*
 * wf_run - the interpreter and the action library (see wf_run.h, wf.h).
 */
#include "wf_run.h"
#include "secret.h"
#include "util.h"

#include <ctype.h>
#include <sodium.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wf_ctx {
	const struct wf_set *ws;
	const struct wf_event *ev;
	struct store *st;
	json_t *args;
	json_t *vars;    /* template variables */
	json_t *writes;  /* committed only if the transition succeeds */
	json_t *sticky;  /* committed in any case */
	json_t *outbox;
	json_t *account; /* the subject (borrowed from writes once changed) */
	json_t *token;   /* the token record the subject was found by, if any */
	char akey[64];
	const char *front;
	const char *code; /* reply */
	int64_t now;
	int64_t secret_expires; /* expiry of the secret issued in this transition */
	const char *secret;     /* the clear secret for the spool envelope */
};

const char *wf_account_key(const char *id, char *buf, size_t n)
{
	snprintf(buf, n, "a:%s", id);
	return buf;
}

/* ctx_get - a record as this run sees it: its own writes first, then the store */
static json_t *ctx_get(struct wf_ctx *c, const char *key)
{
	json_t *rec = json_object_get(c->writes, key);
	if (rec)
		return json_is_null(rec) ? NULL : json_incref(rec);
	if (store_get(c->st, key, &rec) < 0)
		return NULL;
	return rec;
}

static void ctx_put(struct wf_ctx *c, json_t *target, const char *key, json_t *rec)
{
	json_object_set(target, key, rec);
}

/* render - replace {{name}} by the variable's value */
static char *render(const json_t *vars, const char *text)
{
	size_t cap = strlen(text) + 256, len = 0;
	char *out = xmalloc(cap);
	const char *p = text;

	while (*p) {
		const char *e;
		const char *val = NULL;
		size_t vlen = 0, skip = 1;
		if (p[0] == '{' && p[1] == '{' && (e = strstr(p + 2, "}}")) != NULL) {
			char name[64];
			size_t n = (size_t)(e - p - 2);
			if (n < sizeof(name)) {
				memcpy(name, p + 2, n);
				name[n] = 0;
				val = json_string_value(json_object_get(vars, name));
				if (!val)
					val = "";
				vlen = strlen(val);
				skip = n + 4;
			}
		}
		if (!val) {
			val = p;
			vlen = 1;
		}
		if (len + vlen + 1 > cap) {
			cap = (len + vlen + 1) * 2;
			out = xrealloc(out, cap);
		}
		memcpy(out + len, val, vlen);
		len += vlen;
		p += skip;
	}
	out[len] = 0;
	return out;
}

static const char *acct_id(struct wf_ctx *c)
{
	return rec_str(c->account, "id");
}

static int act_issue_token(struct wf_ctx *c, const struct wf_action *a)
{
	json_t *keys = NULL;
	char tok[SECRET_TOKEN_LEN + 1], hex[SECRET_HASH_HEX + 1], key[80];
	int rc;

	/* the new token replaces every live one of the same purpose */
	rc = store_find(c->st, "account", acct_id(c), 0, &keys);
	if (rc < 0)
		return rc;
	size_t i;
	json_t *k;
	json_array_foreach(keys, i, k) {
		json_t *t = ctx_get(c, json_string_value(k));
		if (t && !strcmp(rec_str(t, "kind") ? rec_str(t, "kind") : "", "token") &&
		    !strcmp(rec_str(t, "purpose"), a->purpose) &&
		    !strcmp(rec_str(t, "state"), "live")) {
			json_t *copy = json_deep_copy(t);
			rec_set(copy, "state", "revoked");
			ctx_put(c, c->writes, json_string_value(k), copy);
			json_decref(copy);
		}
		json_decref(t);
	}
	json_decref(keys);

	secret_token_new(tok);
	secret_hash_hex(tok, hex);
	snprintf(key, sizeof(key), "t:%s", hex);
	json_t *t = json_object();
	rec_set(t, "kind", "token");
	rec_set(t, "account", acct_id(c));
	rec_set(t, "purpose", a->purpose);
	rec_set(t, "state", "live");
	rec_set_int(t, "created", c->now);
	rec_set_int(t, "expires", c->now + a->valid_ms);
	ctx_put(c, c->writes, key, t);
	json_decref(t);
	json_object_set_new(c->vars, "token", json_string(tok));
	c->secret = json_string_value(json_object_get(c->vars, "token"));
	c->secret_expires = c->now + a->valid_ms;
	sodium_memzero(tok, sizeof(tok));
	return 0;
}

/* act_verify_token - the event's token must be live, unexpired, this purpose */
static int act_verify_token(struct wf_ctx *c, const struct wf_action *a)
{
	char hex[SECRET_HASH_HEX + 1], key[80];
	const char *tok = json_string_value(json_object_get(c->args, "token"));
	json_t *t;

	secret_hash_hex(tok ? tok : "", hex);
	snprintf(key, sizeof(key), "t:%s", hex);
	t = ctx_get(c, key);
	if (!t || strcmp(rec_str(t, "purpose"), a->purpose) ||
	    strcmp(rec_str(t, "account"), acct_id(c)) || strcmp(rec_str(t, "state"), "live")) {
		json_decref(t);
		c->code = "CODE_INVALID";
		return 1;
	}
	if (c->now >= rec_int(t, "expires", 0)) {
		json_decref(t);
		c->code = "CODE_EXPIRED";
		return 1;
	}
	json_t *copy = json_deep_copy(t);
	json_decref(t);
	rec_set(copy, "state", "used");
	rec_set_int(copy, "used", c->now);
	ctx_put(c, c->writes, key, copy);
	json_decref(copy);
	return 0;
}

static int act_send(struct wf_ctx *c, const struct wf_action *a)
{
	const struct wf_template *t = wf_template_find(c->ev->wf, a->tmpl);
	char id[ID_LEN + 1], key[32];

	id_new(id);
	snprintf(key, sizeof(key), "o:%s", id);
	json_t *m = json_object();
	rec_set(m, "kind", "outbox");
	rec_set(m, "id", id);
	rec_set(m, "channel", t->channel);
	char *to = render(c->vars, a->to);
	rec_set(m, "to", to);
	free(to);
	if (t->from_name)
		rec_set(m, "from_name", t->from_name);
	if (t->subject) {
		char *s = render(c->vars, t->subject);
		rec_set(m, "subject", s);
		free(s);
	}
	char *body = render(c->vars, t->body);
	rec_set(m, "body", body);
	free(body);
	if (c->secret)
		rec_set(m, "secret", c->secret);
	if (c->front)
		rec_set(m, "front", c->front);
	rec_set(m, "account", acct_id(c));
	rec_set_int(m, "created", c->now);
	/* a message carrying a secret is worthless once the secret has expired */
	rec_set_int(m, "expires", c->secret ? c->secret_expires : 0);
	ctx_put(c, c->writes, key, m);
	json_decref(m);
	json_array_append_new(c->outbox, json_string(key));
	return 0;
}

/* run_action - 0 done, 1 failed with c->code set, <0 store error */
static int run_action(struct wf_ctx *c, const struct wf_action *a)
{
	switch (a->kind) {
	case WA_SET: {
		char *v = render(c->vars, a->value);
		rec_set(c->account, a->field, v);
		free(v);
		return 0;
	}
	case WA_SET_PASSWORD:
		rec_set(c->account, "pwhash",
			json_string_value(json_object_get(c->args, "password")));
		return 0;
	case WA_ISSUE_TOKEN:
		return act_issue_token(c, a);
	case WA_VERIFY_TOKEN:
		return act_verify_token(c, a);
	case WA_SEND:
		return act_send(c, a);
	case WA_REPLY:
		c->code = a->code;
		return 0;
	}
	return -EINVAL;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* find_subject - 0 found/created, 1 missing (c->code set), <0 error */
static int find_subject(struct wf_ctx *c, const struct wf *wf)
{
	const struct wf_event *ev = c->ev;
	const char *v = json_string_value(json_object_get(c->args, ev->by));
	json_t *keys = NULL;
	char *norm = xstrdup(v ? v : "");
	int rc = 0;

	if (strcmp(ev->by, "email") == 0) {
		lower(norm);
		rc = store_find(c->st, "email", norm, 1, &keys);
		if (rc < 0)
			goto out;
		if (json_array_size(keys) > 0)
			snprintf(c->akey, sizeof(c->akey), "%s",
				 json_string_value(json_array_get(keys, 0)));
	} else if (strcmp(ev->by, "token") == 0) {
		char hex[SECRET_HASH_HEX + 1], key[80];
		secret_hash_hex(norm, hex);
		snprintf(key, sizeof(key), "t:%s", hex);
		c->token = ctx_get(c, key);
		if (c->token && !strcmp(rec_str(c->token, "purpose"), ev->purpose))
			wf_account_key(rec_str(c->token, "account"), c->akey, sizeof(c->akey));
	} else {
		wf_account_key(norm, c->akey, sizeof(c->akey));
	}
	if (c->akey[0])
		c->account = ctx_get(c, c->akey);
	if (!c->account) {
		if (strcmp(ev->missing, "create") != 0) {
			c->code = ev->missing;
			rc = 1;
			goto out;
		}
		char id[ID_LEN + 1];
		id_new(id);
		wf_account_key(id, c->akey, sizeof(c->akey));
		c->account = json_object();
		rec_set(c->account, "kind", "account");
		rec_set(c->account, "id", id);
		rec_set_int(c->account, "created", c->now);
		/* a new account is known by what it was looked up by */
		if (strcmp(ev->by, "email") == 0)
			rec_set(c->account, "email", norm);
		const struct wf_state *s0 = wf_state_find(wf, wf->start);
		rec_set(c->account, "status", s0 && s0->status ? s0->status : "new");
	}
out:
	json_decref(keys);
	free(norm);
	return rc;
}

static json_t *make_result(const struct wf_set *ws, const char *code, const char *account)
{
	json_t *r = json_object();
	json_object_set_new(r, "code", json_string(code));
	json_object_set_new(r, "message", json_string(wf_message(ws, code)));
	if (account)
		json_object_set_new(r, "account", json_string(account));
	return r;
}

int wf_run(const struct wf_set *ws, struct store *st, const char *type, json_t *args,
	   const char *front, int64_t now, struct wf_out *out)
{
	struct wf_ctx c = {.ws = ws, .st = st, .args = args, .front = front, .now = now};
	const struct wf *wf;
	const struct wf_transition *tr = NULL;
	char col[80];
	int rc;

	memset(out, 0, sizeof(*out));
	c.ev = wf_set_event(ws, type);
	if (!c.ev)
		return -ENOENT;
	wf = c.ev->wf;
	c.writes = json_object();
	c.sticky = json_object();
	c.outbox = json_array();
	c.vars = json_object();
	const char *name;
	json_t *v;
	json_object_foreach(args, name, v) {
		const char *type_ = json_string_value(json_object_get(c.ev->args, name));
		if (type_ && strcmp(type_, "password") != 0)
			json_object_set(c.vars, name, v);
	}

	rc = find_subject(&c, wf);
	if (rc != 0)
		goto done;
	json_object_set_new(c.vars, "account", json_string(acct_id(&c)));
	snprintf(col, sizeof(col), "wf.%s", wf->name);
	const char *state = rec_str(c.account, col);
	if (!state || !wf_state_find(wf, state))
		state = wf->start; /* new here, or a state an operator removed: start over */
	for (int i = 0; i < wf->ntrans; i++)
		if (!strcmp(wf->trans[i].on, type) && !strcmp(wf->trans[i].from, state)) {
			tr = &wf->trans[i];
			break;
		}
	if (!tr) {
		out->failed = 1;
		out->result = json_pack("{s:s, s:s, s:s}", "code", "NO_TRANSITION", "message",
					"no transition for this event in this state", "state", state);
		rc = 0;
		goto done;
	}
	/* the account record is changed in place; it joins the writes on success */
	json_t *acct = json_deep_copy(c.account);
	json_decref(c.account);
	c.account = acct;
	for (int i = 0; i < tr->nacts; i++) {
		rc = run_action(&c, &tr->acts[i]);
		if (rc != 0)
			break;
	}
	if (rc == 0) {
		if (tr->to) {
			const struct wf_state *s = wf_state_find(wf, tr->to);
			rec_set(c.account, col, tr->to);
			if (s->status)
				rec_set(c.account, "status", s->status);
		}
		if (!c.code)
			c.code = "OK";
		ctx_put(&c, c.writes, c.akey, c.account);
	} else if (rc == 1) {
		/* failed action: forget the transition's writes and messages */
		json_decref(c.writes);
		c.writes = json_object();
		json_array_clear(c.outbox);
		rc = 0;
	}
done:
	if (rc == 1) /* a missing subject: the event's reply */
		rc = 0;
	if (rc == 0 && !out->result)
		out->result = make_result(ws, c.code ? c.code : "OK",
					  c.account ? acct_id(&c) : NULL);
	json_object_update(c.writes, c.sticky);
	out->writes = c.writes;
	out->outbox = c.outbox;
	if (rc < 0) {
		wf_out_free(out);
		memset(out, 0, sizeof(*out));
	}
	json_decref(c.sticky);
	json_decref(c.vars);
	json_decref(c.account);
	json_decref(c.token);
	return rc;
}

void wf_out_free(struct wf_out *out)
{
	json_decref(out->result);
	json_decref(out->writes);
	json_decref(out->outbox);
	out->result = out->writes = out->outbox = NULL;
}

int wf_apply(struct store *st, json_t *writes)
{
	const char *key;
	json_t *rec;
	json_object_foreach(writes, key, rec) {
		int rc = json_is_null(rec) ? store_del(st, key) : store_put(st, key, rec);
		if (rc < 0 && rc != -ENOENT)
			return rc;
	}
	return 0;
}
