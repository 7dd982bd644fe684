/*
 * wf_verify - password checks (see wf_verify.h): the lockout per login and
 * client and the slowdown per login, as Keycloak's temporary lockout does,
 * kept in limit records; and the outcome of a check inside a run.
 */
#include "wf_verify.h"
#include "secret.h"
#include "util.h"
#include "wf_acts.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOW_QUIET_MS (15 * 60 * 1000) /* a slowdown forgets after this long without a failure */

static const char *lock_key(struct wf_ctx *c, const struct wf_lockout *l, const char *what,
			    char buf[REC_KEY_MAX])
{
	char *k = wf_render(c->vars, l->key);
	char *id = xasprintf("%s:%s", what, k);
	rec_key(REC_LIMIT, id, buf);
	free(id);
	free(k);
	return buf;
}

/* stored_hash - the hash the password is checked against: the account's;
 * for a registration not yet activated, the one its newest link carries
 * (the password its activation would keep); NULL if none (caller frees) */
static char *stored_hash(struct wf_ctx *c)
{
	const char *h = c->account ? rec_str(c->account, "pwhash") : NULL;
	char *t = NULL;
	if (h && *h)
		return xstrdup(h);
	if (c->account && wf_acts_newest_pwhash(c, "activation", &t) == 0)
		return t;
	free(t);
	return NULL;
}

void wf_verify_digest(const char *hash, char out[65])
{
	secret_hash_hex(hash ? hash : "", out);
}

/* peek_setup - the context of a read-only look: derived variables, subject */
static void peek_setup(struct wf_ctx *c, const struct wf_event *ev, json_t *args, const char *front)
{
	const char *name;
	json_t *v;
	c->ev = ev;
	c->wf = ev->wf;
	c->args = args;
	c->front = front;
	wf_ctx_derive(c);
	json_object_foreach(args, name, v) {
		const char *t = json_string_value(json_object_get(ev->args, name));
		if (t && !wf_arg_hidden(t))
			json_object_set(c->vars, name, v);
	}
	if (front)
		json_object_set_new(c->vars, "front", json_string(front));
}

int wf_verify_peek(const struct wf_set *ws, const struct wf_event *ev, struct store *st,
		   json_t *args, const char *front, int64_t now, struct wf_peek *out)
{
	struct wf_ctx c;
	char key[REC_KEY_MAX];
	json_t *r;
	memset(out, 0, sizeof(*out));
	wf_ctx_init(&c, ws, st, now);
	peek_setup(&c, ev, args, front);
	if (ev->lockout && (r = wf_ctx_get(&c, lock_key(&c, ev->lockout, "lockout", key)))) {
		out->locked = now < rec_int(r, "locked_until", 0);
		json_decref(r);
	}
	if (ev->slowdown && (r = wf_ctx_get(&c, lock_key(&c, ev->slowdown, "slowdown", key)))) {
		int64_t over = rec_int(r, "fails", 0) - ev->slowdown->after;
		if (over > 0 && now - rec_int(r, "last", 0) < SLOW_QUIET_MS)
			out->delay_ms = over * ev->slowdown->lock_ms > ev->slowdown->longest_ms
						? ev->slowdown->longest_ms
						: over * ev->slowdown->lock_ms;
		json_decref(r);
	}
	if (!out->locked && wf_ctx_find_subject(&c) == 0)
		out->hash = stored_hash(&c);
	int rc = c.err;
	wf_ctx_release(&c);
	return rc;
}

void wf_peek_free(struct wf_peek *p)
{
	free(p->hash);
	p->hash = NULL;
}

/* count_failure - one more failure for the lockout and the slowdown */
static void count_failure(struct wf_ctx *c)
{
	char key[REC_KEY_MAX];
	const struct wf_lockout *l = c->ev->lockout, *s = c->ev->slowdown;
	if (l) {
		json_t *r = wf_ctx_copy(c, lock_key(c, l, "lockout", key));
		if (!r)
			r = json_object();
		int64_t fails = rec_int(r, "fails", 0) + 1, locks = rec_int(r, "locks", 0);
		if (c->now - rec_int(r, "last", 0) > l->longest_ms)
			locks = 0; /* quiet long enough: the growth starts over */
		if (fails >= l->after) {
			int64_t lock = l->lock_ms;
			for (int64_t i = 0; i < locks && lock < l->longest_ms; i++)
				lock *= l->growth;
			rec_set_int(r, "locked_until",
				    c->now + (lock < l->longest_ms ? lock : l->longest_ms));
			locks++;
			fails = 0;
		}
		rec_set_int(r, "fails", fails);
		rec_set_int(r, "locks", locks);
		rec_set_int(r, "last", c->now);
		rec_set_int(r, "purge", c->now + 2 * l->longest_ms + c->ws->retention_ms);
		wf_ctx_put(c, key, r, 1);
		json_decref(r);
	}
	if (s) {
		json_t *r = wf_ctx_copy(c, lock_key(c, s, "slowdown", key));
		if (!r)
			r = json_object();
		int64_t fails =
			c->now - rec_int(r, "last", 0) < SLOW_QUIET_MS ? rec_int(r, "fails", 0) : 0;
		rec_set_int(r, "fails", fails + 1);
		rec_set_int(r, "last", c->now);
		rec_set_int(r, "purge", c->now + SLOW_QUIET_MS + c->ws->retention_ms);
		wf_ctx_put(c, key, r, 1);
		json_decref(r);
	}
}

/* forget - a success unlocks and forgets the failures */
static void forget(struct wf_ctx *c)
{
	char key[REC_KEY_MAX];
	json_t *r;
	if (c->ev->lockout && (r = wf_ctx_get(c, lock_key(c, c->ev->lockout, "lockout", key)))) {
		wf_ctx_put(c, key, NULL, 1);
		json_decref(r);
	}
	if (c->ev->slowdown && (r = wf_ctx_get(c, lock_key(c, c->ev->slowdown, "slowdown", key)))) {
		wf_ctx_put(c, key, NULL, 1);
		json_decref(r);
	}
}

int wf_verify_outcome(struct wf_ctx *c, int found)
{
	const char *ok = json_string_value(json_object_get(c->args, "%verified"));
	const char *checked = json_string_value(json_object_get(c->args, "%hash"));
	char now_hash[65];
	if (found < 0)
		return found;
	char *stored = found == 0 ? stored_hash(c) : NULL;
	wf_verify_digest(stored, now_hash);
	/* a match of the very hash the account holds now, for an account found */
	int verdict =
		stored && ok && !strcmp(ok, "1") && checked && secret_equal(checked, now_hash);
	free(stored);
	if (!verdict) {
		count_failure(c);
		return wf_ctx_fail(c, "LOGIN_FAILED");
	}
	forget(c);
	const char *rehash = json_string_value(json_object_get(c->args, "%rehash"));
	const char *own = rec_str(c->account, "pwhash");
	if (rehash && *rehash && own && *own) /* (a link's hash stays the link's) */
		rec_set(c->account, "pwhash", rehash);
	return 0;
}
