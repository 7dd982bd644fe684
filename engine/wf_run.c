/*
 * wf_run - the interpreter: subject lookup, guards, transitions, timers
 * (see wf_run.h, wf.h).  The actions themselves are in wf_actions.c.
 */
#include "wf_run.h"
#include "log.h"
#include "secret.h"
#include "util.h"
#include "wf_ctx.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *wf_account_key(const char *id, char *buf, size_t n)
{
	snprintf(buf, n, "a:%s", id);
	return buf;
}

json_t *wf_ctx_get(struct wf_ctx *c, const char *key)
{
	json_t *rec = json_object_get(c->writes, key);
	if (!rec)
		rec = json_object_get(c->sticky, key);
	if (rec)
		return json_is_null(rec) ? NULL : json_incref(rec);
	if (store_get(c->st, key, &rec) < 0)
		return NULL;
	return rec;
}

void wf_ctx_put(struct wf_ctx *c, const char *key, json_t *rec, int sticky)
{
	json_object_set(sticky ? c->sticky : c->writes, key, rec ? rec : json_null());
}

int wf_ctx_fail(struct wf_ctx *c, const char *code)
{
	c->code = code;
	c->failed = 1;
	return 1;
}

const char *wf_ctx_account_id(const struct wf_ctx *c)
{
	return rec_str(c->account, "id");
}

int wf_ctx_account_records(struct wf_ctx *c, const char *kind, json_t **keys)
{
	json_t *all = NULL, *k;
	size_t i;
	int rc = store_find(c->st, "account", wf_ctx_account_id(c), 0, &all);
	if (rc < 0)
		return rc;
	*keys = json_array();
	json_array_foreach(all, i, k) {
		json_t *r = wf_ctx_get(c, json_string_value(k));
		const char *rk = r ? rec_str(r, "kind") : NULL;
		if (rk && !strcmp(rk, kind))
			json_array_append(*keys, k);
		json_decref(r);
	}
	json_decref(all);
	return 0;
}

char *wf_render(const json_t *vars, const char *text)
{
	size_t cap = strlen(text) + 256, len = 0;
	char *out = xmalloc(cap);
	const char *p = text;

	while (*p) {
		const char *e, *val = NULL;
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

/* find_subject - 0 found/created, 1 missing (c->code set), <0 error */
static int find_subject(struct wf_ctx *c)
{
	const struct wf_event *ev = c->ev;
	char bybuf[64];
	const char *by = by_arg(ev, c->args, bybuf, sizeof(bybuf));
	const char *v = by ? json_string_value(json_object_get(c->args, wf_by_arg(by))) : NULL;
	json_t *keys = NULL, *rec = NULL;
	char *norm = xstrdup(v ? v : "");
	int rc = 0;

	if (!by) { /* none of the lookup's arguments came */
		rc = wf_ctx_fail(c, strcmp(ev->missing, "create") ? ev->missing : "NOT_FOUND");
		goto out;
	}
	if (!strcmp(by, "email") || !strcmp(by, "phone") || !strcmp(by, "idno")) {
		if (strcmp(by, "idno") != 0)
			lower(norm);
		rc = store_find(c->st, by, norm, 0, &keys);
		if (rc < 0)
			goto out;
		/* the account that holds it, deregistered ones aside, and one that
		 * verified it before one that only asked for a code or a link */
		size_t i;
		json_t *k;
		int best = 0;
		json_array_foreach(keys, i, k) {
			json_t *a = wf_ctx_get(c, json_string_value(k));
			const char *kind = a ? rec_str(a, "kind") : NULL;
			const char *status = a ? rec_str(a, "status") : "";
			int rank =
				!kind || strcmp(kind, "account") || !strcmp(status, "deregistered")
					? 0
				: !strncmp(status, "pending_code", 12) ||
						!strncmp(status, "pending_activation", 18)
					? 1
					: 2;
			if (rank > best) {
				best = rank;
				snprintf(c->akey, sizeof(c->akey), "%s", json_string_value(k));
			}
			json_decref(a);
		}
	} else if (!strcmp(by, "token")) {
		char hex[SECRET_HASH_HEX + 1], key[80];
		secret_hash_hex(norm, hex);
		snprintf(key, sizeof(key), "t:%s", hex);
		rec = wf_ctx_get(c, key);
		if (rec && !strcmp(rec_str(rec, "purpose"), ev->purpose))
			wf_account_key(rec_str(rec, "account"), c->akey, sizeof(c->akey));
	} else if (!strcmp(by, "request")) {
		/* an inbox request: the subject is the account that sent it */
		char key[80];
		snprintf(key, sizeof(key), "i:%s", norm);
		rec = wf_ctx_get(c, key);
		if (rec && rec_str(rec, "from"))
			wf_account_key(rec_str(rec, "from"), c->akey, sizeof(c->akey));
	} else if (!strcmp(by, "review")) {
		char key[80];
		snprintf(key, sizeof(key), "r:%s", norm);
		rec = wf_ctx_get(c, key);
		if (rec && rec_str(rec, "account"))
			wf_account_key(rec_str(rec, "account"), c->akey, sizeof(c->akey));
	} else {
		wf_account_key(norm, c->akey, sizeof(c->akey));
	}
	if (c->akey[0])
		c->account = wf_ctx_get(c, c->akey);
	if (c->account) {
		const char *kind = rec_str(c->account, "kind");
		if (!kind || strcmp(kind, "account") != 0) { /* a key that is not an account's */
			json_decref(c->account);
			c->account = NULL;
		}
	}
	if (!c->account) {
		c->akey[0] = 0;
		if (strcmp(ev->missing, "create") != 0) {
			rc = wf_ctx_fail(c, ev->missing);
			goto out;
		}
		char id[ID_LEN + 1];
		id_new(id);
		wf_account_key(id, c->akey, sizeof(c->akey));
		c->account = json_object();
		c->created = 1;
		rec_set(c->account, "kind", "account");
		rec_set(c->account, "id", id);
		rec_set_int(c->account, "created", c->now);
		if (c->front)
			rec_set(c->account, "front", c->front);
		/* a new account is known by what it was looked up by */
		if (!strcmp(by, "idno")) /* registered for someone by an office: no login */
			rec_set(c->account, "idno", norm);
		if (!strcmp(by, "email") || !strcmp(by, "phone")) {
			rec_set(c->account, by, norm);
			rec_set(c->account, "login", norm);
			rec_set(c->account, "reg_by", by);
		}
		const struct wf_state *s0 = wf_state_find(c->wf, c->wf->start);
		rec_set(c->account, "status", s0 && s0->status ? s0->status : "new");
	} else {
		json_t *copy = json_deep_copy(c->account); /* changed in place from here on */
		json_decref(c->account);
		c->account = copy;
	}
out:
	json_decref(rec);
	json_decref(keys);
	free(norm);
	return rc;
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

/* scope - account fields, then the event's arguments (not passwords) */
static void fill_vars(struct wf_ctx *c)
{
	static const char *fields[] = {"email", "phone", "name", "username",
				       "front", "login", NULL};
	const char *name;
	json_t *v;
	char masked[128];
	for (int i = 0; fields[i]; i++) {
		const char *f = rec_str(c->account, fields[i]);
		if (f)
			json_object_set_new(c->vars, fields[i], json_string(f));
	}
	if (c->front)
		json_object_set_new(c->vars, "front", json_string(c->front));
	json_object_foreach(c->args, name, v) {
		const char *t =
			c->ev ? json_string_value(json_object_get(c->ev->args, name)) : NULL;
		if (t && strcmp(t, "password") != 0)
			json_object_set(c->vars, name, v);
	}
	json_object_set_new(c->vars, "account", json_string(wf_ctx_account_id(c)));
	wf_mask(rec_str(c->account, "login") ? rec_str(c->account, "login") : "", masked,
		sizeof(masked));
	json_object_set_new(c->vars, "masked_login", json_string(masked));
	wf_ctx_set_other(c, NULL, NULL);
}

static int guard_holds(struct wf_ctx *c, const struct wf_transition *tr)
{
	for (int i = 0; i < tr->nconds; i++)
		if (!wf_ctx_cond(c, &tr->conds[i]))
			return 0;
	return 1;
}

/* enter_state - cancel the timers of the state left, start those of the new one */
static int enter_state(struct wf_ctx *c, const char *to)
{
	char col[80];
	json_t *keys = NULL, *k;
	size_t i;
	const struct wf_state *s = wf_state_find(c->wf, to);
	int rc;

	snprintf(col, sizeof(col), "wf.%s", c->wf->name);
	rec_set(c->account, col, to);
	if (s->status)
		rec_set(c->account, "status", s->status);
	rc = wf_ctx_account_records(c, "timer", &keys);
	if (rc < 0)
		return rc;
	json_array_foreach(keys, i, k) {
		json_t *t = wf_ctx_get(c, json_string_value(k));
		const char *w = t ? rec_str(t, "wf") : NULL;
		if (w && !strcmp(w, c->wf->name))
			wf_ctx_put(c, json_string_value(k), NULL, 0);
		json_decref(t);
	}
	json_decref(keys);
	for (int j = 0; j < s->ntimers; j++) {
		char id[ID_LEN + 1], key[32];
		id_new(id);
		snprintf(key, sizeof(key), "m:%s", id);
		json_t *t = json_object();
		rec_set(t, "kind", "timer");
		rec_set(t, "account", wf_ctx_account_id(c));
		rec_set(t, "wf", c->wf->name);
		rec_set(t, "state", to);
		rec_set_int(t, "idx", j);
		rec_set_int(t, "due", c->now + s->timers[j].after_ms);
		wf_ctx_put(c, key, t, 0);
		json_decref(t);
	}
	return 0;
}

/* run_list - the actions in order: 0 all done, 1 one failed, <0 error */
static int run_list(struct wf_ctx *c, const struct wf_action *acts, int n, const char *to)
{
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++)
		if (!acts[i].cond || wf_ctx_cond(c, acts[i].cond))
			rc = acts[i].def->run(c, &acts[i]);
	if (c->goto_state)
		to = c->goto_state;
	if (rc == 0 && to)
		rc = enter_state(c, to);
	if (rc == 0) {
		wf_ctx_put(c, c->akey, c->account, 0);
	} else if (rc == 1) {
		/* a failed action: forget the transition's writes and messages */
		json_object_clear(c->writes);
		json_array_clear(c->outbox);
		c->secret = NULL;
	}
	return rc;
}

static json_t *make_result(struct wf_ctx *c, const char *code)
{
	json_t *r = json_object();
	char *msg = wf_render(c->vars, wf_message(c->ws, code));
	json_object_set_new(r, "code", json_string(code));
	json_object_set_new(r, "message", json_string(msg));
	free(msg);
	/* recovery answers the same whether or not the account exists */
	/* an account that a failed transition would have created does not exist */
	if (c->account && (!c->ev || c->ev->reveal) && !(c->created && c->failed))
		json_object_set_new(r, "account", json_string(wf_ctx_account_id(c)));
	if (c->extra)
		json_object_update_missing(r, c->extra);
	return r;
}

static void ctx_init(struct wf_ctx *c, const struct wf_set *ws, struct store *st, int64_t now)
{
	memset(c, 0, sizeof(*c));
	c->ws = ws;
	c->st = st;
	c->now = now;
	c->writes = json_object();
	c->sticky = json_object();
	c->outbox = json_array();
	c->vars = json_object();
}

/* ctx_finish - move the outcome to out and release the context */
static int ctx_finish(struct wf_ctx *c, int rc, struct wf_out *out)
{
	if (rc == 1)
		rc = 0;
	if (rc == 0 && !out->result)
		out->result = make_result(c, c->code ? c->code : "OK");
	json_object_update(c->writes, c->sticky);
	out->writes = c->writes;
	out->outbox = c->outbox;
	if (rc < 0) {
		wf_out_free(out);
		memset(out, 0, sizeof(*out));
	}
	json_decref(c->sticky);
	json_decref(c->vars);
	json_decref(c->account);
	json_decref(c->other);
	json_decref(c->extra);
	return rc;
}

/* current_state - the account's state in this workflow; a state an operator
 * removed or renamed counts as the start state (docs/workflows.md) */
static const char *current_state(struct wf_ctx *c)
{
	char col[80];
	snprintf(col, sizeof(col), "wf.%s", c->wf->name);
	const char *state = rec_str(c->account, col);
	if (state && !wf_state_find(c->wf, state)) {
		log_warn(
			"account %s: state \"%s\" of workflow %s no longer exists; taken as \"%s\"",
			wf_ctx_account_id(c), state, c->wf->name, c->wf->start);
		state = NULL;
	}
	return state ? state : c->wf->start;
}

/* normalize_args - one spelling for what is compared: addresses in lower
 * case, id numbers in upper case (a resident id's check character X) */
static void normalize_args(const struct wf_event *ev, json_t *args)
{
	const char *name;
	json_t *v;
	json_object_foreach(args, name, v) {
		char tb[32];
		const char *t = json_string_value(json_object_get(ev->args, name));
		if (!t || !json_is_string(v))
			continue;
		wf_arg_base(t, tb, sizeof(tb));
		int up = !strcmp(tb, "id_no"), down = !strcmp(tb, "email");
		if (!up && !down)
			continue;
		char *s = xstrdup(json_string_value(v));
		for (char *p = s; *p; p++)
			*p = (char)(up ? toupper((unsigned char)*p) : tolower((unsigned char)*p));
		json_string_set(v, s);
		free(s);
	}
}

int wf_run(const struct wf_set *ws, struct store *st, const char *type, json_t *args,
	   const char *front, int64_t now, struct wf_out *out)
{
	struct wf_ctx c;
	const struct wf_transition *tr = NULL;
	const char *aname;
	json_t *aval;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	ctx_init(&c, ws, st, now);
	c.args = args;
	c.front = front;
	c.ev = wf_set_event(ws, type, args);
	if (!c.ev) {
		ctx_finish(&c, 0, out);
		wf_out_free(out);
		return -ENOENT;
	}
	c.wf = c.ev->wf;
	normalize_args(c.ev, args);
	/* the event's limits come first and see only the job (its arguments and
	 * front): a refusal says nothing about whether the account exists */
	json_object_foreach(args, aname, aval) {
		const char *t = json_string_value(json_object_get(c.ev->args, aname));
		if (t && strcmp(t, "password") != 0)
			json_object_set(c.vars, aname, aval);
	}
	if (front)
		json_object_set_new(c.vars, "front", json_string(front));
	for (int i = 0; i < c.ev->nlimits && rc == 0; i++)
		if (!c.ev->limits[i].cond || wf_ctx_cond(&c, c.ev->limits[i].cond))
			rc = c.ev->limits[i].def->run(&c, &c.ev->limits[i]);
	if (rc != 0) {
		json_object_clear(c.writes);
		return ctx_finish(&c, rc, out);
	}
	rc = find_subject(&c);
	if (rc != 0)
		return ctx_finish(&c, rc, out);
	fill_vars(&c);
	/* a deregistered account takes no more events (its owner is told so) */
	if (!strcmp(rec_str(c.account, "status") ? rec_str(c.account, "status") : "",
		    "deregistered"))
		return ctx_finish(&c, wf_ctx_fail(&c, "DEREGISTERED"), out);
	const char *state = current_state(&c);
	for (int i = 0; i < c.wf->ntrans; i++) {
		const struct wf_transition *t = &c.wf->trans[i];
		if (!strcmp(t->on, type) && !strcmp(t->from, state) && guard_holds(&c, t)) {
			tr = t;
			break;
		}
	}
	if (!tr) {
		/* a gap in the workflow: the job fails; the reply says where, and
		 * names the account only as any other reply would */
		out->failed = 1;
		c.failed = 1;
		out->result = make_result(&c, "NO_TRANSITION");
		json_object_set_new(out->result, "message",
				    json_string("no transition for this event in this state"));
		json_object_set_new(out->result, "state", json_string(state));
		return ctx_finish(&c, 0, out);
	}
	rc = run_list(&c, tr->acts, tr->nacts, tr->to);
	return ctx_finish(&c, rc, out);
}

int wf_fire_timer(const struct wf_set *ws, struct store *st, const char *key, int64_t now,
		  struct wf_out *out)
{
	struct wf_ctx c;
	json_t *t = NULL;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	ctx_init(&c, ws, st, now);
	wf_ctx_put(&c, key, NULL, 1); /* the timer goes, whatever happens */
	if (store_get(st, key, &t) < 0)
		goto done;
	c.wf = wf_set_find(ws, rec_str(t, "wf") ? rec_str(t, "wf") : "");
	const char *tstate = rec_str(t, "state");
	int64_t idx = rec_int(t, "idx", -1);
	wf_account_key(rec_str(t, "account") ? rec_str(t, "account") : "", c.akey, sizeof(c.akey));
	c.account = wf_ctx_get(&c, c.akey);
	const struct wf_state *s = c.wf && tstate ? wf_state_find(c.wf, tstate) : NULL;
	if (!c.account || !s || idx < 0 || idx >= s->ntimers) {
		log_warn("timer %s: its workflow, state or account is gone; dropped", key);
		goto done;
	}
	json_t *copy = json_deep_copy(c.account);
	json_decref(c.account);
	c.account = copy;
	if (strcmp(current_state(&c), tstate) != 0)
		goto done; /* the state was left: a stale timer */
	if (!strcmp(rec_str(c.account, "status") ? rec_str(c.account, "status") : "",
		    "deregistered"))
		goto done; /* nothing happens to a deregistered account any more */
	fill_vars(&c);
	const struct wf_timer *tm = &s->timers[idx];
	rc = run_list(&c, tm->acts, tm->nacts, tm->to);
done:
	json_decref(t);
	rc = ctx_finish(&c, rc, out);
	/* a timer has no one to reply to */
	json_decref(out->result);
	out->result = NULL;
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
