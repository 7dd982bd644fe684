/*
 * act_secret - the actions that issue and check secrets: a link's token
 * (256 bits, stored as its BLAKE2b hash) and a short code (stored as a
 * hash keyed with the code key file's current key, common/codekey.h, with
 * its own salt and the key's id; one live code per purpose and target).
 * The clear secret is shown only to this transition's templates and the
 * spool envelope of its messages.
 */
#include "codekey.h"
#include "log.h"
#include "secret.h"
#include "util.h"
#include "wf_acts.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* secret_rec - what a token's and a code's records share */
static json_t *secret_rec(struct wf_ctx *c, const char *purpose, int64_t valid)
{
	json_t *r = json_object();
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
static int revoke_live(struct wf_ctx *c, enum rec_kind kind, const char *purpose)
{
	json_t *keys = NULL, *k;
	size_t i;
	int rc = wf_ctx_account_records(c, kind, &keys);
	if (rc < 0)
		return rc;
	json_array_foreach(keys, i, k) {
		json_t *t = wf_ctx_copy(c, json_string_value(k));
		if (t && rec_is(t, "purpose", purpose) && rec_is(t, "state", "live")) {
			rec_set(t, "state", "revoked");
			wf_ctx_put(c, json_string_value(k), t, 0);
		}
		json_decref(t);
	}
	json_decref(keys);
	return c->err;
}

int wf_acts_newest_pwhash(struct wf_ctx *c, const char *purpose, char **out)
{
	json_t *keys = NULL, *k;
	size_t i;
	int64_t best = -1;
	int rc = wf_ctx_account_records(c, REC_TOKEN, &keys);
	*out = NULL;
	json_array_foreach(keys, i, k) {
		json_t *t = rc == 0 ? wf_ctx_get(c, json_string_value(k)) : NULL;
		if (t && rec_is(t, "purpose", purpose) && rec_is(t, "state", "live") &&
		    rec_str(t, "pwhash") && rec_int(t, "created", 0) > best) {
			best = rec_int(t, "created", 0);
			free(*out);
			*out = xstrdup(rec_str(t, "pwhash"));
		}
		json_decref(t);
	}
	json_decref(keys);
	return rc;
}

/*
 * act_issue_token - a new link's token; the live ones of its purpose are
 * revoked unless keep = true (a second registration of a pending address
 * never kills the first one's link).  With password = ARG the token
 * carries that argument's hash, and the link that is used decides the
 * password (set_password from = "token"); without, it carries the one the
 * newest live token carried (a resent link keeps the password it had).
 */
int act_issue_token(struct wf_ctx *c, const struct wf_action *a)
{
	char tok[SECRET_TOKEN_LEN + 1], hex[SECRET_HASH_HEX + 1], key[REC_KEY_MAX];
	const char *purpose = wf_p_str(a, "purpose"), *arg = wf_p_str(a, "password");
	int64_t valid = wf_p_int(a, "valid", 0);
	char *carried = NULL;
	int rc = arg ? 0 : wf_acts_newest_pwhash(c, purpose, &carried);
	if (rc == 0 && !wf_p_bool(a, "keep"))
		rc = revoke_live(c, REC_TOKEN, purpose);
	if (rc < 0) {
		free(carried);
		return rc;
	}
	secret_token_new(tok);
	secret_hash_hex(tok, hex);
	json_t *t = secret_rec(c, purpose, valid);
	const char *pw = arg ? json_string_value(json_object_get(c->args, arg)) : carried;
	if (pw)
		rec_set(t, "pwhash", pw);
	free(carried);
	wf_ctx_put(c, rec_token_key(hex, key), t, 0);
	json_decref(t);
	secret_show(c, "token", tok, valid);
	sodium_memzero(tok, sizeof(tok));
	return 0;
}

int act_verify_token(struct wf_ctx *c, const struct wf_action *a)
{
	char hex[SECRET_HASH_HEX + 1], key[REC_KEY_MAX];
	const char *tok = json_string_value(json_object_get(c->args, "token"));
	int rc = 0;

	secret_hash_hex(tok ? tok : "", hex);
	json_t *t = wf_ctx_copy(c, rec_token_key(hex, key));
	if (!t || !rec_is(t, "purpose", wf_p_str(a, "purpose")) ||
	    !rec_is(t, "account", wf_ctx_account_id(c)) || !rec_is(t, "state", "live")) {
		rc = wf_ctx_fail(c, "CODE_INVALID");
	} else if (c->now >= rec_int(t, "expires", 0)) {
		rc = wf_ctx_fail(c, "CODE_EXPIRED");
	} else {
		rec_set(t, "state", "used");
		rec_set_int(t, "used", c->now);
		wf_ctx_put(c, key, t, 0);
		json_decref(c->token);
		c->token = json_incref(t);
	}
	json_decref(t);
	return rc;
}

/* code_key - one live code per purpose and phone/address (by its hash) */
static const char *code_key(const char *purpose, const char *target, char buf[REC_KEY_MAX])
{
	char hex[SECRET_HASH_HEX + 1];
	secret_hash_hex(target, hex);
	return rec_code_key(purpose, hex, buf);
}

/* legacy_hash - a code issued before the key file: BLAKE2b keyed by its
 * salt alone (checked until those codes are gone, a day at most) */
static void legacy_hash(const char *code, const char *salt_hex, char out[SECRET_HASH_HEX + 1])
{
	unsigned char salt[16], h[32];
	size_t sl = 0;
	sodium_hex2bin(salt, sizeof(salt), salt_hex, strlen(salt_hex), NULL, &sl, NULL);
	crypto_generichash(h, sizeof(h), (const unsigned char *)code, strlen(code), salt, sl);
	sodium_bin2hex(out, SECRET_HASH_HEX + 1, h, sizeof(h));
}

/* code_hash - the hash of a code given to record r (its key id and salt);
 * -ENOKEY if that key is no longer in the key file */
static int code_hash(struct wf_ctx *c, const json_t *r, const char *code,
		     char out[SECRET_HASH_HEX + 1])
{
	const char *kid = rec_str(r, "kid"), *salt = rec_str0(r, "salt");
	if (!kid) {
		legacy_hash(code, salt, out);
		return 0;
	}
	int rc = codekey_hash(c->keys, kid, salt, code, out);
	if (rc < 0)
		log_err("a code was hashed with key %s, which the code key file no longer holds",
			kid);
	return rc;
}

int act_issue_code(struct wf_ctx *c, const struct wf_action *a)
{
	char key[REC_KEY_MAX], code[16], salt_hex[33], hash[SECRET_HASH_HEX + 1];
	unsigned char salt[16];
	int len = (int)wf_p_int(a, "length", 6);
	int64_t valid = wf_p_int(a, "valid", 0);
	char *target = wf_render(c->vars, wf_p_str(a, "target"));

	for (int i = 0; i < len; i++)
		code[i] = (char)('0' + randombytes_uniform(10));
	code[len] = 0;
	randombytes_buf(salt, sizeof(salt));
	sodium_bin2hex(salt_hex, sizeof(salt_hex), salt, sizeof(salt));
	if (!c->keys || codekey_hash(c->keys, codekey_current(c->keys), salt_hex, code, hash) < 0) {
		log_err("issue_code: no code key (engine.code_key_file)");
		free(target);
		return -ENOKEY;
	}
	/* a new code replaces the previous one for this purpose and target */
	json_t *r = secret_rec(c, wf_p_str(a, "purpose"), valid);
	rec_set(r, "salt", salt_hex);
	rec_set(r, "kid", codekey_current(c->keys));
	rec_set(r, "hash", hash);
	rec_set(r, "attempts", "0");
	wf_ctx_put(c, code_key(wf_p_str(a, "purpose"), target, key), r, 0);
	json_decref(r);
	secret_show(c, "code", code, valid);
	sodium_memzero(code, sizeof(code));
	free(target);
	return 0;
}

/* code_wrong - a failed attempt counts even though the transition fails */
static int code_wrong(struct wf_ctx *c, const char *key, json_t *r, int64_t max)
{
	int64_t n = rec_int(r, "attempts", 0) + 1;
	rec_set_int(r, "attempts", n);
	if (n >= max)
		rec_set(r, "state", "locked");
	wf_ctx_put(c, key, r, 1);
	return wf_ctx_fail(c, n >= max ? "CODE_ATTEMPTS_EXCEEDED" : "CODE_INVALID");
}

int act_verify_code(struct wf_ctx *c, const struct wf_action *a)
{
	char key[REC_KEY_MAX], hash[SECRET_HASH_HEX + 1];
	char *target = wf_render(c->vars, wf_p_str(a, "target"));
	const char *given = json_string_value(json_object_get(c->args, "code"));
	int rc = 0;

	code_key(wf_p_str(a, "purpose"), target, key);
	free(target);
	json_t *r = wf_ctx_copy(c, key);
	if (!r || !rec_is(r, "state", "live")) {
		rc = wf_ctx_fail(c, r && rec_is(r, "state", "locked") ? "CODE_ATTEMPTS_EXCEEDED"
								      : "CODE_INVALID");
	} else if (c->now >= rec_int(r, "expires", 0)) {
		rc = wf_ctx_fail(c, "CODE_EXPIRED");
	} else {
		if (code_hash(c, r, given ? given : "", hash) < 0 ||
		    !secret_equal(hash, rec_str0(r, "hash"))) {
			rc = code_wrong(c, key, r, wf_p_int(a, "attempts", 5));
		} else {
			rec_set(r, "state", "used");
			rec_set_int(r, "used", c->now);
			wf_ctx_put(c, key, r, 0);
		}
	}
	json_decref(r);
	return rc;
}

/* act_revoke - every live token and code of a purpose stops working (a reset done) */
int act_revoke(struct wf_ctx *c, const struct wf_action *a)
{
	int rc = revoke_live(c, REC_TOKEN, wf_p_str(a, "purpose"));
	return rc < 0 ? rc : revoke_live(c, REC_CODE, wf_p_str(a, "purpose"));
}
