/*
 * wf_subject - which account an event is about (see wf.h, "subject"): found
 * by an address, a phone or an id number through the indexes, by a token,
 * an inbox request or a review that names it, or by its id; created when
 * the event says so.
 */
#include "secret.h"
#include "util.h"
#include "wf_ctx.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* by_arg - the first lookup of "a|b" whose argument the job carries */
static const char *by_arg(const struct wf_event *ev, const json_t *args, char *buf, size_t n)
{
	char *save = NULL;
	snprintf(buf, n, "%s", ev->by);
	for (char *one = strtok_r(buf, "|", &save); one; one = strtok_r(NULL, "|", &save))
		if (json_object_get(args, wf_by_arg(one)))
			return one;
	return NULL;
}

/* holder_rank - which account holds an address, a phone or an id number:
 * one that verified it before one that only asked for a code or a link;
 * deregistered ones aside - but a password check finds one (its owner is
 * told it is deregistered, after the right password) */
static int holder_rank(const json_t *a, int verify)
{
	const char *status = rec_str0(a, "status");
	if (!a || !rec_is(a, "kind", "account"))
		return 0;
	if (!strcmp(status, "deregistered"))
		return verify ? 1 : 0;
	if (!strncmp(status, "pending_code", 12) || !strncmp(status, "pending_activation", 18))
		return 2;
	return 3;
}

/* by_index - the holder of an indexed value (email, phone, idno) */
static int by_index(struct wf_ctx *c, const char *by, const char *value)
{
	json_t *keys = NULL, *k;
	size_t i;
	int best = 0, rc = rec_find(c->st, REC_ACCOUNT, by, value, &keys);
	if (rc < 0)
		return rc;
	json_array_foreach(keys, i, k) {
		json_t *a = wf_ctx_get(c, json_string_value(k));
		int rank = holder_rank(a, c->ev && c->ev->verify);
		if (rank > best) {
			best = rank;
			snprintf(c->akey, sizeof(c->akey), "%s", json_string_value(k));
		}
		json_decref(a);
	}
	json_decref(keys);
	return c->err;
}

/* by_record - the account that a token, an inbox request or a review names
 * in its column col (a token only for the event's purpose) */
static void by_record(struct wf_ctx *c, const char *key, const char *col, const char *purpose)
{
	json_t *rec = wf_ctx_get(c, key);
	if (rec && rec_str(rec, col) && (!purpose || rec_is(rec, "purpose", purpose)))
		rec_account_key(rec_str(rec, col), c->akey);
	json_decref(rec);
}

/* locate - set c->akey to the subject's key, if there is one */
static int locate(struct wf_ctx *c, const char *by, const char *value)
{
	char key[REC_KEY_MAX], hex[SECRET_HASH_HEX + 1];
	if (!strcmp(by, "email") || !strcmp(by, "phone") || !strcmp(by, "idno") ||
	    !strcmp(by, "login"))
		return by_index(c, by, value);
	if (!strcmp(by, "token")) {
		secret_hash_hex(value, hex);
		by_record(c, rec_token_key(hex, key), "account", c->ev->purpose);
	} else if (!strcmp(by, "request")) { /* an inbox request: its sender */
		by_record(c, rec_key(REC_INBOX, value, key), "from", NULL);
	} else if (!strcmp(by, "review")) {
		by_record(c, rec_key(REC_REVIEW, value, key), "account", NULL);
	} else {
		rec_account_key(value, c->akey);
	}
	return c->err;
}

/* create - a new account, known by what it was looked up by */
static void create(struct wf_ctx *c, const char *by, const char *value)
{
	char id[ID_LEN + 1];
	id_new(id);
	rec_account_key(id, c->akey);
	c->account = json_object();
	c->created = 1;
	rec_set(c->account, "kind", "account");
	rec_set(c->account, "id", id);
	rec_set_int(c->account, "created", c->now);
	if (c->front)
		rec_set(c->account, "front", c->front);
	if (!strcmp(by, "idno")) /* registered for someone by an office: no login */
		rec_set(c->account, "idno", value);
	if (!strcmp(by, "email") || !strcmp(by, "phone")) {
		rec_set(c->account, by, value);
		rec_set(c->account, "login", value);
		rec_set(c->account, "reg_by", by);
	}
	const struct wf_state *s0 = wf_state_find(c->wf, c->wf->start);
	rec_set(c->account, "status", s0 && s0->status ? s0->status : "new");
}

int wf_ctx_find_subject(struct wf_ctx *c)
{
	const struct wf_event *ev = c->ev;
	char bybuf[64];
	const char *by = by_arg(ev, c->args, bybuf, sizeof(bybuf));
	int rc = 0;

	if (!by) /* none of the lookup's arguments came */
		return wf_ctx_fail(c, strcmp(ev->missing, "create") ? ev->missing : "NOT_FOUND");
	char *value = xstrdup(json_string_value(json_object_get(c->args, wf_by_arg(by))));
	if (!strcmp(by, "email") || !strcmp(by, "phone") || !strcmp(by, "login"))
		lower(value);
	if ((rc = locate(c, by, value)) < 0)
		goto out;
	if (c->akey[0]) {
		c->account = wf_ctx_copy(c, c->akey); /* changed in place from here on */
		c->account_was = c->account ? json_deep_copy(c->account) : NULL;
	}
	if (c->account && !rec_is(c->account, "kind", "account")) {
		json_decref(c->account);
		c->account = NULL;
	}
	if (c->err < 0) {
		rc = c->err;
	} else if (!c->account) {
		c->akey[0] = 0;
		if (strcmp(ev->missing, "create") == 0)
			create(c, by, value);
		else
			rc = wf_ctx_fail(c, ev->missing);
	}
out:
	free(value);
	return rc;
}
