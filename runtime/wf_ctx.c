/*
 * wf_ctx - what a workflow run sees (see wf_ctx.h): the store through the
 * run's own writes, the subject and the "other" account, conditions and
 * templates.
 */
#include "wf_ctx.h"
#include "buf.h"
#include "util.h"
#include "wf_run.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the code keys of wf_run_set_keys: the loop thread's, like the runs */
static const struct codekey_ring *code_keys;

void wf_run_set_keys(const struct codekey_ring *keys)
{
	code_keys = keys;
}

void wf_ctx_init(struct wf_ctx *c, const struct wf_set *ws, struct store *st, int64_t now)
{
	memset(c, 0, sizeof(*c));
	c->ws = ws;
	c->keys = code_keys;
	c->st = st;
	c->now = now;
	c->writes = json_object();
	c->sticky = json_object();
	c->outbox = json_array();
	c->vars = json_object();
}

void wf_ctx_release(struct wf_ctx *c)
{
	json_decref(c->writes);
	json_decref(c->sticky);
	json_decref(c->outbox);
	json_decref(c->vars);
	json_decref(c->account);
	json_decref(c->account_was);
	json_decref(c->token);
	json_decref(c->other);
	json_decref(c->extra);
	memset(c, 0, sizeof(*c));
}

/* client_net - the client's network as limits count it: an IPv4 address
 * whole, an IPv6 address by its /64 (one customer's prefix) */
static void client_net(const char *ip, char *out, size_t n)
{
	unsigned char a[16];
	out[0] = 0;
	if (!ip || !*ip)
		return;
	if (inet_pton(AF_INET, ip, a) == 1) {
		inet_ntop(AF_INET, a, out, (socklen_t)n);
	} else if (inet_pton(AF_INET6, ip, a) == 1) {
		memset(a + 8, 0, 8);
		char s[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, a, s, sizeof(s));
		snprintf(out, n, "%s/64", s);
	}
}

/* mailbox - an address as one mailbox: lower case, the +tag of the local
 * part left out (a+1@x and a+2@x reach the same person) */
static void mailbox(const char *email, char *out, size_t n)
{
	const char *at = email ? strrchr(email, '@') : NULL;
	out[0] = 0;
	if (!at)
		return;
	size_t local = strcspn(email, "+@");
	if (email + local > at)
		local = (size_t)(at - email);
	snprintf(out, n, "%.*s%s", (int)local, email, at);
	for (char *p = out; *p; p++)
		*p = (char)tolower((unsigned char)*p);
}

void wf_ctx_derive(struct wf_ctx *c)
{
	char buf[256];
	client_net(json_string_value(json_object_get(c->args, "client_ip")), buf, sizeof(buf));
	json_object_set_new(c->vars, "client_net", json_string(buf));
	mailbox(json_string_value(json_object_get(c->args, "email")), buf, sizeof(buf));
	json_object_set_new(c->vars, "mailbox", json_string(buf));
}

void wf_ctx_history(struct wf_ctx *c, const char *what, json_t *fields, int sticky)
{
	char key[REC_KEY_MAX];
	const char *acct = wf_ctx_account_id(c);
	if (acct && *acct) {
		rec_set(fields, "account", acct);
		rec_set(fields, "what", what);
		rec_set_int(fields, "at", c->now);
		if (c->ws->history_ms > 0)
			rec_set_int(fields, "purge", c->now + c->ws->history_ms);
		wf_ctx_put(c, rec_history_key(acct, key), fields, sticky);
	}
	json_decref(fields);
}

json_t *wf_ctx_get(struct wf_ctx *c, const char *key)
{
	json_t *rec = json_object_get(c->writes, key);
	if (!rec)
		rec = json_object_get(c->sticky, key);
	if (rec)
		return json_is_null(rec) ? NULL : json_incref(rec);
	int rc = rec_get_key(c->st, key, &rec);
	if (rc == 0)
		return rec;
	/* a store that fails is not a record that is missing: the run is void */
	if (rc != -ENOENT && c->err == 0)
		c->err = rc;
	return NULL;
}

json_t *wf_ctx_copy(struct wf_ctx *c, const char *key)
{
	json_t *r = wf_ctx_get(c, key), *copy = r ? json_deep_copy(r) : NULL;
	json_decref(r);
	return copy;
}

void wf_ctx_put(struct wf_ctx *c, const char *key, json_t *rec, int sticky)
{
	if (rec)
		rec_stamp(key, rec);
	json_object_set(sticky ? c->sticky : c->writes, key, rec ? rec : json_null());
}

int wf_ctx_fail(struct wf_ctx *c, const char *code)
{
	c->code = code;
	c->failed = 1;
	return WF_ACT_FAILED;
}

json_t *wf_ctx_extra(struct wf_ctx *c)
{
	if (!c->extra)
		c->extra = json_object();
	return c->extra;
}

const char *wf_ctx_account_id(const struct wf_ctx *c)
{
	return rec_str(c->account, "id");
}

int wf_ctx_account_records(struct wf_ctx *c, enum rec_kind kind, json_t **keys)
{
	json_t *all = NULL, *k;
	size_t i;
	int rc = rec_of_account(c->st, kind, wf_ctx_account_id(c), &all);
	if (rc < 0)
		return rc;
	*keys = json_array();
	json_array_foreach(all, i, k) {
		json_t *r = wf_ctx_get(c, json_string_value(k));
		if (r)
			json_array_append(*keys, k);
		json_decref(r);
	}
	json_decref(all);
	return c->err;
}

/* var_name - the name of the {{variable}} at p, or NULL; *skip its length */
static const char *var_name(const char *p, char name[64], size_t *skip)
{
	const char *e;
	if (p[0] != '{' || p[1] != '{' || !(e = strstr(p + 2, "}}")))
		return NULL;
	size_t n = (size_t)(e - p - 2);
	if (n >= 64)
		return NULL;
	memcpy(name, p + 2, n);
	name[n] = 0;
	*skip = n + 4;
	return name;
}

char *wf_render(const json_t *vars, const char *text)
{
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	for (const char *p = text; *p;) {
		char name[64];
		size_t skip;
		if (var_name(p, name, &skip)) {
			const char *val = json_string_value(json_object_get(vars, name));
			buf_adds(&b, val ? val : "");
			p += skip;
		} else {
			buf_add(&b, p++, 1);
		}
	}
	return buf_take(&b, NULL);
}

void wf_ctx_set_other(struct wf_ctx *c, const char *key, json_t *rec)
{
	static const char *fields[] = {"id",	      "status", "name",	 "email",
				       "phone",	      "login",	"front", "email_bound",
				       "phone_bound", "idno",	NULL};
	char var[64], masked[128];
	json_decref(c->other);
	c->other = rec ? json_deep_copy(rec) : NULL;
	snprintf(c->okey, sizeof(c->okey), "%s", key ? key : "");
	for (int i = 0; fields[i]; i++) {
		const char *v = rec ? rec_str(rec, fields[i]) : NULL;
		snprintf(var, sizeof(var), "other_%s", fields[i]);
		json_object_set_new(c->vars, var, json_string(v ? v : ""));
	}
	wf_mask(rec && rec_str(rec, "login") ? rec_str(rec, "login") : "", masked, sizeof(masked));
	json_object_set_new(c->vars, "other_masked", json_string(rec ? masked : ""));
}

int wf_ctx_cond(struct wf_ctx *c, const struct wf_cond *k)
{
	const char *v;
	if (!strncmp(k->field, "args.", 5)) /* the job's own argument, never the account's */
		v = json_string_value(json_object_get(c->args, k->field + 5));
	else if (!(v = rec_str(c->account, k->field)))
		v = json_string_value(json_object_get(c->vars, k->field));
	int holds;
	if (k->equals) {
		char *want = wf_render(c->vars, k->equals);
		holds = v && strcmp(v, want) == 0;
		free(want);
	} else {
		holds = (v && *v) == k->set;
	}
	return k->negate ? !holds : holds;
}
