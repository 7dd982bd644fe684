/*
 * wf_actions - the action library workflows are written with.
 *
 * Each action is a row of the table at the end: its name, its parameters
 * (checked and converted by the loader) and the function that runs it.
 * An action either succeeds (0), or fails the transition with a result
 * code (1): the transition's writes and messages are then dropped, except
 * what the action wrote as sticky (failed attempts, rate-limit counters).
 */
#include "secret.h"
#include "util.h"
#include "wf_ctx.h"

#include <ctype.h>
#include <errno.h>
#include <magic.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* photo_mime - "image/jpeg", "image/png" or "image/gif" by content, else NULL */
static const char *photo_mime(const void *data, size_t n)
{
	static const char *ok[] = {"image/jpeg", "image/png", "image/gif"};
	const char *res = NULL;
	magic_t m = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS | MAGIC_NO_CHECK_TAR);
	if (!m)
		return NULL;
	if (magic_load(m, NULL) == 0) {
		const char *t = magic_buffer(m, data, n);
		for (size_t i = 0; t && i < 3; i++)
			if (!strcmp(t, ok[i]))
				res = ok[i];
	}
	magic_close(m);
	return res;
}

static void wf_account_key_into(const char *id, char *buf, size_t n)
{
	snprintf(buf, n, "a:%s", id ? id : "");
}

/* field_value - a rendered value as the field stores it: addresses in lower case */
static char *field_value(struct wf_ctx *c, const char *field, const char *tmpl)
{
	char *v = wf_render(c->vars, tmpl);
	if (!strcmp(field, "email"))
		for (char *p = v; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	return v;
}

static int act_set(struct wf_ctx *c, const struct wf_action *a)
{
	char *v = field_value(c, wf_p_str(a, "field"), wf_p_str(a, "value"));
	rec_set(c->account, wf_p_str(a, "field"), v);
	free(v);
	return 0;
}

static int act_set_password(struct wf_ctx *c, const struct wf_action *a)
{
	/* the API hashed it (Argon2id) before the job was written */
	rec_set(c->account, "pwhash", json_string_value(json_object_get(c->args, "password")));
	return 0;
}

static int act_reply(struct wf_ctx *c, const struct wf_action *a)
{
	c->code = wf_p_str(a, "code");
	return 0;
}

static int act_fail(struct wf_ctx *c, const struct wf_action *a)
{
	return wf_ctx_fail(c, wf_p_str(a, "code"));
}

/* secret_rec - what a token's and a code's records share */
static json_t *secret_rec(struct wf_ctx *c, const char *kind, const char *purpose, int64_t valid)
{
	json_t *r = json_object();
	rec_set(r, "kind", kind);
	rec_set(r, "account", wf_ctx_account_id(c));
	rec_set(r, "purpose", purpose);
	rec_set(r, "state", "live");
	rec_set_int(r, "created", c->now);
	rec_set_int(r, "expires", c->now + valid);
	/* a spent or lapsed secret is kept a while (for the help desk), then purged */
	rec_set_int(r, "purge", c->now + valid + c->ws->retention_ms);
	return r;
}

/* secret_show - the clear secret goes to the templates and the spool
 * envelope of this transition's messages, nowhere else */
static void secret_show(struct wf_ctx *c, const char *var, const char *value, int64_t valid)
{
	json_object_set_new(c->vars, var, json_string(value));
	c->secret = json_string_value(json_object_get(c->vars, var));
	c->secret_expires = c->now + valid;
}

/* revoke_live - mark every live secret of this kind and purpose revoked */
static int revoke_live(struct wf_ctx *c, const char *kind, const char *purpose)
{
	json_t *keys = NULL, *k;
	size_t i;
	int rc = wf_ctx_account_records(c, kind, &keys);
	if (rc < 0)
		return rc;
	json_array_foreach(keys, i, k) {
		json_t *t = wf_ctx_get(c, json_string_value(k));
		const char *tp = t ? rec_str(t, "purpose") : NULL;
		const char *ts = t ? rec_str(t, "state") : NULL;
		if (tp && ts && !strcmp(tp, purpose) && !strcmp(ts, "live")) {
			json_t *copy = json_deep_copy(t);
			rec_set(copy, "state", "revoked");
			wf_ctx_put(c, json_string_value(k), copy, 0);
			json_decref(copy);
		}
		json_decref(t);
	}
	json_decref(keys);
	return 0;
}

static int act_issue_token(struct wf_ctx *c, const struct wf_action *a)
{
	char tok[SECRET_TOKEN_LEN + 1], hex[SECRET_HASH_HEX + 1], key[80];
	const char *purpose = wf_p_str(a, "purpose");
	int64_t valid = wf_p_int(a, "valid", 0);
	int rc = revoke_live(c, "token", purpose);
	if (rc < 0)
		return rc;
	secret_token_new(tok);
	secret_hash_hex(tok, hex);
	snprintf(key, sizeof(key), "t:%s", hex);
	json_t *t = secret_rec(c, "token", purpose, valid);
	wf_ctx_put(c, key, t, 0);
	json_decref(t);
	secret_show(c, "token", tok, valid);
	sodium_memzero(tok, sizeof(tok));
	return 0;
}

static int act_verify_token(struct wf_ctx *c, const struct wf_action *a)
{
	char hex[SECRET_HASH_HEX + 1], key[80];
	const char *tok = json_string_value(json_object_get(c->args, "token"));
	json_t *t;

	secret_hash_hex(tok ? tok : "", hex);
	snprintf(key, sizeof(key), "t:%s", hex);
	t = wf_ctx_get(c, key);
	if (!t || strcmp(rec_str(t, "purpose"), wf_p_str(a, "purpose")) ||
	    strcmp(rec_str(t, "account"), wf_ctx_account_id(c)) ||
	    strcmp(rec_str(t, "state"), "live")) {
		json_decref(t);
		return wf_ctx_fail(c, "CODE_INVALID");
	}
	if (c->now >= rec_int(t, "expires", 0)) {
		json_decref(t);
		return wf_ctx_fail(c, "CODE_EXPIRED");
	}
	json_t *copy = json_deep_copy(t);
	json_decref(t);
	rec_set(copy, "state", "used");
	rec_set_int(copy, "used", c->now);
	wf_ctx_put(c, key, copy, 0);
	json_decref(copy);
	return 0;
}

/* code_key - "c:PURPOSE:HASH(target)": one live code per purpose and phone/address */
static void code_key(const char *purpose, const char *target, char *buf, size_t n)
{
	char hex[SECRET_HASH_HEX + 1];
	secret_hash_hex(target, hex);
	snprintf(buf, n, "c:%s:%s", purpose, hex);
}

/* code_hash - keyed BLAKE2b of a short code with its own random salt */
static void code_hash(const char *code, const char *salt_hex, char out[SECRET_HASH_HEX + 1])
{
	unsigned char salt[16], h[32];
	size_t sl = 0;
	sodium_hex2bin(salt, sizeof(salt), salt_hex, strlen(salt_hex), NULL, &sl, NULL);
	crypto_generichash(h, sizeof(h), (const unsigned char *)code, strlen(code), salt, sl);
	sodium_bin2hex(out, SECRET_HASH_HEX + 1, h, sizeof(h));
}

static int act_issue_code(struct wf_ctx *c, const struct wf_action *a)
{
	char key[160], code[16], salt_hex[33], hash[SECRET_HASH_HEX + 1];
	unsigned char salt[16];
	int len = (int)wf_p_int(a, "length", 6);
	int64_t valid = wf_p_int(a, "valid", 0);
	char *target = wf_render(c->vars, wf_p_str(a, "target"));

	for (int i = 0; i < len; i++)
		code[i] = (char)('0' + randombytes_uniform(10));
	code[len] = 0;
	randombytes_buf(salt, sizeof(salt));
	sodium_bin2hex(salt_hex, sizeof(salt_hex), salt, sizeof(salt));
	code_hash(code, salt_hex, hash);
	code_key(wf_p_str(a, "purpose"), target, key, sizeof(key));
	/* a new code replaces the previous one for this purpose and target */
	json_t *r = secret_rec(c, "code", wf_p_str(a, "purpose"), valid);
	rec_set(r, "salt", salt_hex);
	rec_set(r, "hash", hash);
	rec_set(r, "attempts", "0");
	wf_ctx_put(c, key, r, 0);
	json_decref(r);
	secret_show(c, "code", code, valid);
	sodium_memzero(code, sizeof(code));
	free(target);
	return 0;
}

static int act_verify_code(struct wf_ctx *c, const struct wf_action *a)
{
	char key[160], hash[SECRET_HASH_HEX + 1];
	char *target = wf_render(c->vars, wf_p_str(a, "target"));
	const char *given = json_string_value(json_object_get(c->args, "code"));
	int64_t max = wf_p_int(a, "attempts", 5);
	json_t *r;
	int rc = 0;

	code_key(wf_p_str(a, "purpose"), target, key, sizeof(key));
	free(target);
	r = wf_ctx_get(c, key);
	if (!r || strcmp(rec_str(r, "state"), "live") != 0) {
		rc = wf_ctx_fail(c, r && !strcmp(rec_str(r, "state"), "locked")
					    ? "CODE_ATTEMPTS_EXCEEDED"
					    : "CODE_INVALID");
		goto out;
	}
	if (c->now >= rec_int(r, "expires", 0)) {
		rc = wf_ctx_fail(c, "CODE_EXPIRED");
		goto out;
	}
	code_hash(given ? given : "", rec_str(r, "salt"), hash);
	json_t *copy = json_deep_copy(r);
	if (!secret_equal(hash, rec_str(r, "hash"))) {
		int64_t n = rec_int(r, "attempts", 0) + 1;
		rec_set_int(copy, "attempts", n);
		if (n >= max)
			rec_set(copy, "state", "locked");
		wf_ctx_put(c, key, copy, 1); /* a failed attempt counts even though we fail */
		json_decref(copy);
		rc = wf_ctx_fail(c, n >= max ? "CODE_ATTEMPTS_EXCEEDED" : "CODE_INVALID");
		goto out;
	}
	rec_set(copy, "state", "used");
	rec_set_int(copy, "used", c->now);
	wf_ctx_put(c, key, copy, 0);
	json_decref(copy);
out:
	json_decref(r);
	return rc;
}

static int act_send(struct wf_ctx *c, const struct wf_action *a)
{
	const struct wf_template *t = NULL;
	char id[ID_LEN + 1], key[32], fname[160];

	/* a site's own variant "name@front" (its sender name and wording) first */
	const char *front = c->front ? c->front : rec_str(c->account, "front");
	if (front) {
		snprintf(fname, sizeof(fname), "%s@%s", wf_p_str(a, "template"), front);
		t = wf_template_find(c->wf, fname);
	}
	if (!t)
		t = wf_template_find(c->wf, wf_p_str(a, "template"));

	id_new(id);
	snprintf(key, sizeof(key), "o:%s", id);
	json_t *m = json_object();
	rec_set(m, "kind", "outbox");
	rec_set(m, "id", id);
	rec_set(m, "channel", t->channel);
	char *to = wf_render(c->vars, wf_p_str(a, "to"));
	rec_set(m, "to", to);
	free(to);
	if (t->from_name)
		rec_set(m, "from_name", t->from_name);
	if (t->subject) {
		char *s = wf_render(c->vars, t->subject);
		rec_set(m, "subject", s);
		free(s);
	}
	char *body = wf_render(c->vars, t->body);
	rec_set(m, "body", body);
	free(body);
	if (c->secret)
		rec_set(m, "secret", c->secret);
	if (c->front)
		rec_set(m, "front", c->front);
	rec_set(m, "account", wf_ctx_account_id(c));
	rec_set_int(m, "created", c->now);
	/* a message carrying a secret is worthless once the secret has expired */
	rec_set_int(m, "expires", c->secret ? c->secret_expires : 0);
	wf_ctx_put(c, key, m, 0);
	json_decref(m);
	json_array_append_new(c->outbox, json_string(key));
	return 0;
}

/* other_accounts - the live (not deregistered) accounts other than the
 * subject whose field is value, as an object key -> record */
static int other_accounts(struct wf_ctx *c, const char *field, const char *value, json_t **out)
{
	json_t *keys = NULL, *k;
	size_t i;
	int rc = store_find(c->st, field, value, 0, &keys);
	if (rc < 0)
		return rc;
	*out = json_object();
	json_array_foreach(keys, i, k) {
		const char *key = json_string_value(k);
		json_t *r = strcmp(key, c->akey) ? wf_ctx_get(c, key) : NULL;
		const char *kind = r ? rec_str(r, "kind") : NULL,
			   *st = r ? rec_str(r, "status") : NULL;
		if (kind && !strcmp(kind, "account") && !(st && !strcmp(st, "deregistered")))
			json_object_set(*out, key, r);
		json_decref(r);
	}
	json_decref(keys);
	return 0;
}

/* act_unique - no other live account may have field = value */
static int act_unique(struct wf_ctx *c, const struct wf_action *a)
{
	char *v = field_value(c, wf_p_str(a, "field"), wf_p_str(a, "value"));
	json_t *others = NULL;
	int rc = other_accounts(c, wf_p_str(a, "field"), v, &others);
	free(v);
	if (rc < 0)
		return rc;
	int taken = json_object_size(others) > 0;
	json_decref(others);
	return taken ? wf_ctx_fail(c, wf_p_str(a, "code")) : 0;
}

static int act_require(struct wf_ctx *c, const struct wf_action *a)
{
	const char *v = rec_str(c->account, wf_p_str(a, "field"));
	if (!v || !*v)
		return wf_ctx_fail(c, wf_p_str(a, "code"));
	return 0;
}

/* window_read - rule i's fixed window in a limit record ("start:count"),
 * started afresh when its period has passed */
static void window_read(const json_t *r, size_t i, int64_t per, int64_t now, long long *start,
			long long *n)
{
	char col[32];
	snprintf(col, sizeof(col), "w%zu", i);
	const char *w = rec_str(r, col);
	*start = 0;
	*n = 0;
	if (w && sscanf(w, "%lld:%lld", start, n) != 2)
		*start = *n = 0;
	if (now - *start >= per) {
		*start = now;
		*n = 0;
	}
}

/*
 * act_limit - fixed-window counters per key: each rule "max per period"
 * refuses with RATE_LIMITED; every request, refused or not, counts toward
 * the blacklist rule, and crossing it blacklists the key for a while.
 */
static int act_limit(struct wf_ctx *c, const struct wf_action *a)
{
	char *k = wf_render(c->vars, wf_p_str(a, "key"));
	char key[300], col[32];
	json_t *rules = json_object_get(a->p, "rules");
	json_t *bl = json_object_get(a->p, "blacklist");
	json_t *r = NULL, *rule;
	size_t i;
	int rc = 0;

	snprintf(key, sizeof(key), "l:%s", k);
	free(k);
	r = wf_ctx_get(c, key);
	if (!r) {
		r = json_object();
		rec_set(r, "kind", "limit");
	} else {
		json_t *copy = json_deep_copy(r);
		json_decref(r);
		r = copy;
	}
	if (c->now < rec_int(r, "blacklisted_until", 0)) {
		rc = wf_ctx_fail(c, "BLACKLISTED");
		goto out;
	}
	/* count this request toward the blacklist window */
	if (bl) {
		int64_t per = json_integer_value(json_object_get(bl, "per"));
		int64_t start = rec_int(r, "bl_start", 0), n = rec_int(r, "bl_count", 0);
		if (c->now - start >= per) {
			start = c->now;
			n = 0;
		}
		n++;
		rec_set_int(r, "bl_start", start);
		rec_set_int(r, "bl_count", n);
		if (n > json_integer_value(json_object_get(bl, "max"))) {
			rec_set_int(r, "blacklisted_until",
				    c->now + json_integer_value(json_object_get(bl, "for")));
			rc = wf_ctx_fail(c, "BLACKLISTED");
			goto out;
		}
	}
	json_array_foreach(rules, i, rule) {
		long long start, n;
		window_read(r, i, json_integer_value(json_object_get(rule, "per")), c->now, &start,
			    &n);
		if (n >= json_integer_value(json_object_get(rule, "max"))) {
			rc = wf_ctx_fail(c, "RATE_LIMITED");
			goto out;
		}
	}
	json_array_foreach(rules, i, rule) {
		char buf[64];
		long long start, n;
		window_read(r, i, json_integer_value(json_object_get(rule, "per")), c->now, &start,
			    &n);
		snprintf(col, sizeof(col), "w%zu", i);
		snprintf(buf, sizeof(buf), "%lld:%lld", start, n + 1);
		rec_set(r, col, buf);
	}
out:;
	/* counters are kept whatever the rest of the transition does; a key
	 * nobody uses any more is purged after the retention period */
	int64_t keep = 0; /* the longest window or blacklist still running */
	json_t *wr;
	size_t ri;
	json_array_foreach(rules, ri, wr)
		if (json_integer_value(json_object_get(wr, "per")) > keep)
			keep = json_integer_value(json_object_get(wr, "per"));
	if (bl && json_integer_value(json_object_get(bl, "per")) > keep)
		keep = json_integer_value(json_object_get(bl, "per"));
	if (rec_int(r, "blacklisted_until", 0) - c->now > keep)
		keep = rec_int(r, "blacklisted_until", 0) - c->now;
	rec_set_int(r, "purge", c->now + keep + c->ws->retention_ms);
	wf_ctx_put(c, key, r, 1);
	json_decref(r);
	/* over = "mark": not a failure; {{limited}} says so to later actions */
	if (rc == 1 && wf_p_str(a, "over") && !strcmp(wf_p_str(a, "over"), "mark")) {
		c->failed = 0;
		c->code = NULL;
		json_object_set_new(c->vars, "limited", json_string("1"));
		return 0;
	}
	return rc;
}

static int act_goto(struct wf_ctx *c, const struct wf_action *a)
{
	c->goto_state = wf_p_str(a, "state");
	return 0;
}

/* other_rank - which of several accounts with one id number "lookup" names */
static int other_rank(const json_t *rec)
{
	const char *st = rec_str(rec, "status");
	if (st && !strcmp(st, "pending_review"))
		return 3;
	if (st && !strcmp(st, "active"))
		return 2;
	return 1;
}

/* act_lookup - another live account with field = value becomes "other" */
static int act_lookup(struct wf_ctx *c, const struct wf_action *a)
{
	char *v = field_value(c, wf_p_str(a, "field"), wf_p_str(a, "value"));
	json_t *others = NULL, *r, *best = NULL;
	const char *key, *best_key = NULL;
	int rc = other_accounts(c, wf_p_str(a, "field"), v, &others);
	free(v);
	if (rc < 0)
		return rc;
	json_object_foreach(others, key, r) {
		const char *st = rec_str(r, "status");
		/* an account that only asked for a code or a link holds nothing yet:
		 * otherwise anyone could block a phone or an address by asking */
		int unverified =
			st && (!strcmp(st, "pending_code") || !strcmp(st, "pending_activation"));
		if (!unverified && (!best || other_rank(r) > other_rank(best))) {
			best = r;
			best_key = key;
		}
	}
	wf_ctx_set_other(c, best_key, best);
	json_decref(others);
	return 0;
}

static int act_set_other(struct wf_ctx *c, const struct wf_action *a)
{
	if (!c->other)
		return wf_ctx_fail(c, "NOT_FOUND");
	char *v = wf_render(c->vars, wf_p_str(a, "value"));
	rec_set(c->other, wf_p_str(a, "field"), v);
	free(v);
	wf_ctx_put(c, c->okey, c->other, 0);
	return 0;
}

/* act_check_id - resident id numbers by GB 11643; other id types as written */
static int act_check_id(struct wf_ctx *c, const struct wf_action *a)
{
	char *type = wf_render(c->vars, wf_p_str(a, "type"));
	char *no = wf_render(c->vars, wf_p_str(a, "number"));
	int rc = 0;
	if (!*no || (!strcmp(type, "resident") && wf_idno_check(no)))
		rc = wf_ctx_fail(c, "IDNO_INVALID");
	free(type);
	free(no);
	return rc;
}

/* act_check_photo - jpg/png/gif judged by content (libmagic), at most max bytes */
static int act_check_photo(struct wf_ctx *c, const struct wf_action *a)
{
	const char *b64 = json_string_value(json_object_get(c->args, "photo"));
	size_t max = (size_t)wf_p_int(a, "max_bytes", 300 * 1024), n = 0;
	size_t cap = b64 ? strlen(b64) : 0;
	unsigned char *bin = xmalloc(cap + 1);
	int rc = 0;
	if (!b64 || sodium_base642bin(bin, cap + 1, b64, cap, "\r\n", &n, NULL,
				      sodium_base64_VARIANT_ORIGINAL) != 0) {
		rc = wf_ctx_fail(c, "PHOTO_FORMAT");
		goto out;
	}
	if (n > max) {
		rc = wf_ctx_fail(c, "PHOTO_TOO_LARGE");
		goto out;
	}
	const char *mime = photo_mime(bin, n);
	if (!mime) {
		rc = wf_ctx_fail(c, "PHOTO_FORMAT");
		goto out;
	}
	json_object_set_new(c->vars, "photo_type", json_string(mime));
out:
	free(bin);
	return rc;
}

static int act_review_open(struct wf_ctx *c, const struct wf_action *a)
{
	char id[ID_LEN + 1], key[32];
	id_new(id);
	snprintf(key, sizeof(key), "r:%s", id);
	json_t *r = json_object();
	rec_set(r, "kind", "review");
	rec_set(r, "id", id);
	rec_set(r, "account", wf_ctx_account_id(c));
	rec_set(r, "idno", rec_str(c->account, "idno"));
	rec_set(r, "name", rec_str(c->account, "name"));
	rec_set(r, "rstate", "pending");
	rec_set(r, "photo", json_string_value(json_object_get(c->args, "photo")));
	rec_set(r, "photo_type", json_string_value(json_object_get(c->vars, "photo_type")));
	rec_set_int(r, "created", c->now);
	wf_ctx_put(c, key, r, 0);
	json_decref(r);
	rec_set(c->account, "review", id);
	if (!c->extra)
		c->extra = json_object();
	json_object_set_new(c->extra, "review", json_string(id));
	return 0;
}

static int act_review_close(struct wf_ctx *c, const struct wf_action *a)
{
	char key[64];
	const char *rid = json_string_value(json_object_get(c->args, "review"));
	snprintf(key, sizeof(key), "r:%s", rid ? rid : "");
	json_t *r = wf_ctx_get(c, key);
	if (!r || strcmp(rec_str(r, "rstate"), "pending") != 0) {
		json_decref(r);
		return wf_ctx_fail(c, "NOT_FOUND");
	}
	json_t *copy = json_deep_copy(r);
	json_decref(r);
	rec_set(copy, "rstate", wf_p_str(a, "state"));
	const char *reviewer = json_string_value(json_object_get(c->args, "reviewer"));
	const char *reason = json_string_value(json_object_get(c->args, "reason"));
	rec_set(copy, "reviewer", reviewer ? reviewer : "");
	rec_set(copy, "reason", reason ? reason : "");
	rec_set_int(copy, "decided", c->now);
	wf_ctx_put(c, key, copy, 0);
	json_decref(copy);
	return 0;
}

/*
 * act_deregister_others - every other live account with this account's id
 * number is deregistered and told (mail if it has an address, else SMS);
 * the reply lists them and warns of conscription or graduate-admission ones.
 */
static int act_deregister_others(struct wf_ctx *c, const struct wf_action *a)
{
	const char *idno = rec_str(c->account, "idno"), *key;
	json_t *others = NULL, *r, *gone = json_array(), *warn = json_array();
	int rc = 0;
	if (!idno || !*idno || (rc = other_accounts(c, "idno", idno, &others)) < 0)
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
		/* tell its owner, as the other account */
		wf_ctx_set_other(c, key, copy);
		const char *email = rec_str(copy, "email"), *phone = rec_str(copy, "phone");
		struct wf_action send = {.p = json_object()};
		if (email && *email) {
			json_object_set_new(send.p, "template",
					    json_string(wf_p_str(a, "email_template")));
			json_object_set_new(send.p, "to", json_string("{{other_email}}"));
		} else if (phone && *phone) {
			json_object_set_new(send.p, "template",
					    json_string(wf_p_str(a, "sms_template")));
			json_object_set_new(send.p, "to", json_string("{{other_phone}}"));
		}
		if (json_object_size(send.p))
			act_send(c, &send);
		json_decref(send.p);
		wf_ctx_put(c, key, copy, 0);
		json_array_append_new(gone, json_string(rec_str(copy, "id")));
		json_decref(copy);
	}
	if (!c->extra)
		c->extra = json_object();
	json_object_set(c->extra, "deregistered", gone);
	if (json_array_size(warn))
		json_object_set(c->extra, "warnings", warn);
out:
	json_decref(gone);
	json_decref(warn);
	json_decref(others);
	return rc < 0 ? rc : 0;
}

/* act_inbox_send - an item for the other account's inbox (a request to answer) */
static int act_inbox_send(struct wf_ctx *c, const struct wf_action *a)
{
	char id[ID_LEN + 1], key[32];
	if (!c->other)
		return wf_ctx_fail(c, "NOT_FOUND");
	id_new(id);
	snprintf(key, sizeof(key), "i:%s", id);
	json_t *r = json_object();
	rec_set(r, "kind", "inbox");
	rec_set(r, "id", id);
	rec_set(r, "account", rec_str(c->other, "id"));
	rec_set(r, "from", wf_ctx_account_id(c));
	rec_set(r, "type", wf_p_str(a, "type"));
	char *text = wf_render(c->vars, wf_p_str(a, "text"));
	rec_set(r, "text", text);
	free(text);
	if (wf_p_str(a, "data")) {
		char *d = wf_render(c->vars, wf_p_str(a, "data"));
		rec_set(r, "data", d);
		free(d);
	}
	rec_set(r, "istate", "open");
	rec_set_int(r, "created", c->now);
	rec_set_int(r, "expires", c->now + wf_p_int(a, "valid", 0));
	rec_set_int(r, "purge", c->now + wf_p_int(a, "valid", 0) + c->ws->retention_ms);
	wf_ctx_put(c, key, r, 0);
	json_decref(r);
	if (!c->extra)
		c->extra = json_object();
	json_object_set_new(c->extra, "request", json_string(id));
	return 0;
}

/*
 * act_inbox_answer - the account named by the job's "account" answers an
 * open item of its inbox; the subject is the item's sender (subject by
 * request), the answering account becomes "other", and the item's data the
 * variable request_data.
 */
static int act_inbox_answer(struct wf_ctx *c, const struct wf_action *a)
{
	char key[64], okey[64];
	const char *rid = json_string_value(json_object_get(c->args, "request"));
	const char *who = json_string_value(json_object_get(c->args, "account"));
	snprintf(key, sizeof(key), "i:%s", rid ? rid : "");
	json_t *r = wf_ctx_get(c, key);
	int rc = 0;
	if (!r || !who || strcmp(rec_str(r, "account"), who) ||
	    strcmp(rec_str(r, "from"), wf_ctx_account_id(c)) ||
	    strcmp(rec_str(r, "type"), wf_p_str(a, "type")) ||
	    strcmp(rec_str(r, "istate"), "open")) {
		rc = wf_ctx_fail(c, "NOT_FOUND");
		goto out;
	}
	if (c->now >= rec_int(r, "expires", 0)) {
		rc = wf_ctx_fail(c, "CODE_EXPIRED");
		goto out;
	}
	json_t *copy = json_deep_copy(r);
	rec_set(copy, "istate", wf_p_str(a, "answer"));
	rec_set_int(copy, "answered", c->now);
	wf_ctx_put(c, key, copy, 0);
	json_decref(copy);
	wf_account_key_into(who, okey, sizeof(okey));
	json_t *o = wf_ctx_get(c, okey);
	if (!o || !strcmp(rec_str(o, "status") ? rec_str(o, "status") : "", "deregistered")) {
		json_decref(o);
		rc = wf_ctx_fail(c, "NOT_FOUND");
		goto out;
	}
	wf_ctx_set_other(c, okey, o);
	json_decref(o);
	json_object_set_new(c->vars, "request_data",
			    json_string(rec_str(r, "data") ? rec_str(r, "data") : ""));
out:
	json_decref(r);
	return rc;
}

/* act_revoke - every live token and code of a purpose stops working (a reset done) */
static int act_revoke(struct wf_ctx *c, const struct wf_action *a)
{
	int rc = revoke_live(c, "token", wf_p_str(a, "purpose"));
	return rc < 0 ? rc : revoke_live(c, "code", wf_p_str(a, "purpose"));
}

/* the variables an action that names another account puts in scope */
#define OTHER_VARS                                                                                 \
	"other_id other_status other_name other_email other_phone other_login other_front "        \
	"other_email_bound other_phone_bound other_idno other_masked"

static const struct wf_action_def actions[] = {
	{"set", {{"field", WP_FIELD, 1}, {"value", WP_TMPL, 1}}, NULL, act_set},
	{"set_password", {{NULL, 0, 0}}, NULL, act_set_password},
	{"reply", {{"code", WP_CODE, 1}}, NULL, act_reply},
	{"fail", {{"code", WP_CODE, 1}}, NULL, act_fail},
	{"issue_token", {{"purpose", WP_STR, 1}, {"valid", WP_DUR, 1}}, "token", act_issue_token},
	{"verify_token", {{"purpose", WP_STR, 1}}, NULL, act_verify_token},
	{"issue_code",
	 {{"purpose", WP_STR, 1},
	  {"valid", WP_DUR, 1},
	  {"target", WP_TMPL, 1},
	  {"length", WP_INT, 0}},
	 "code",
	 act_issue_code},
	{"verify_code",
	 {{"purpose", WP_STR, 1}, {"target", WP_TMPL, 1}, {"attempts", WP_INT, 0}},
	 NULL,
	 act_verify_code},
	{"send", {{"template", WP_TEMPLATE, 1}, {"to", WP_TMPL, 1}}, NULL, act_send},
	{"unique",
	 {{"field", WP_FIELD, 1}, {"value", WP_TMPL, 1}, {"code", WP_CODE, 1}},
	 NULL,
	 act_unique},
	{"require", {{"field", WP_FIELD, 1}, {"code", WP_CODE, 1}}, NULL, act_require},
	{"limit",
	 {{"key", WP_TMPL, 1},
	  {"rules", WP_RULES, 0},
	  {"blacklist", WP_BLACKLIST, 0},
	  {"over", WP_STR, 0}},
	 "limited",
	 act_limit},
	{"goto", {{"state", WP_STATE, 1}}, NULL, act_goto},
	{"lookup", {{"field", WP_STR, 1}, {"value", WP_TMPL, 1}}, OTHER_VARS, act_lookup},
	{"set_other", {{"field", WP_FIELD, 1}, {"value", WP_TMPL, 1}}, NULL, act_set_other},
	{"check_id", {{"type", WP_TMPL, 1}, {"number", WP_TMPL, 1}}, NULL, act_check_id},
	{"check_photo", {{"max_bytes", WP_INT, 0}}, "photo_type", act_check_photo},
	{"review_open", {{NULL, 0, 0}}, NULL, act_review_open},
	{"review_close", {{"state", WP_STR, 1}}, NULL, act_review_close},
	{"deregister_others",
	 {{"email_template", WP_TEMPLATE, 1}, {"sms_template", WP_TEMPLATE, 1}},
	 OTHER_VARS,
	 act_deregister_others},
	{"inbox_send",
	 {{"type", WP_STR, 1}, {"text", WP_TMPL, 1}, {"valid", WP_DUR, 1}, {"data", WP_TMPL, 0}},
	 NULL,
	 act_inbox_send},
	{"inbox_answer",
	 {{"type", WP_STR, 1}, {"answer", WP_STR, 1}},
	 OTHER_VARS " request_data",
	 act_inbox_answer},
	{"revoke", {{"purpose", WP_STR, 1}}, NULL, act_revoke},
};

const struct wf_action_def *wf_action_lookup(const char *name)
{
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (strcmp(actions[i].name, name) == 0)
			return &actions[i];
	return NULL;
}
