/*
 * wf_run - the interpreter: an event's limits, its subject, the transition
 * its guard picks, its actions, the state entered and its timers (see
 * wf_run.h, wf.h).  The subject lookup is in wf_subject.c, the actions in
 * wf_actions.c and act_*.c.
 */
#include "wf_run.h"
#include "log.h"
#include "util.h"
#include "wf_ctx.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* scope - account fields, then the event's arguments (not passwords) */
static void fill_vars(struct wf_ctx *c)
{
	static const char *fields[] = {"email", "phone",   "name", "username", "front",
				       "login", "id_type", "idno", NULL};
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
		if (t && !wf_arg_hidden(t))
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

static wf_version_fn versions; /* old versions by name and version (the engine's) */

void wf_run_set_versions(wf_version_fn fn)
{
	versions = fn;
}

/* enter_state - cancel the timers of the state left, start those of the new
 * one; the newest version's state when it has it (else the one of the
 * version that led there: the account stays on it) */
static int enter_state(struct wf_ctx *c, const char *to)
{
	char col[80];
	json_t *keys = NULL, *k;
	size_t i;
	const struct wf *newest = wf_set_find(c->ws, c->wf->name);
	if (newest && wf_state_find(newest, to))
		c->wf = newest;
	const struct wf_state *s = wf_state_find(c->wf, to);
	int rc;

	snprintf(col, sizeof(col), "wf.%s", c->wf->name);
	const char *from = rec_str(c->account, col);
	if (!from || strcmp(from, to) != 0)
		wf_ctx_history(c, "state",
			       json_pack("{s:s, s:s, s:s}", "wf", c->wf->name, "from",
					 from ? from : c->wf->start, "to", to),
			       0);
	rec_set(c->account, col, to);
	if (s->status)
		rec_set(c->account, "status", s->status);
	rc = wf_ctx_account_records(c, REC_TIMER, &keys);
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
		char id[ID_LEN + 1], key[REC_KEY_MAX];
		id_new(id);
		rec_key(REC_TIMER, id, key);
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

/* run_list - the actions in order: 0 all done, WF_ACT_FAILED one failed, <0 error */
static int run_list(struct wf_ctx *c, const struct wf_action *acts, int n, const char *to)
{
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++)
		if (!acts[i].cond || wf_ctx_cond(c, acts[i].cond))
			rc = wf_act_run(c, &acts[i]);
	if (rc == 0 && c->err < 0)
		rc = c->err;
	if (c->goto_state)
		to = c->goto_state;
	if (rc == 0 && to)
		rc = enter_state(c, to);
	if (rc == 0) {
		if (!c->account_was || !json_equal(c->account, c->account_was))
			wf_ctx_put(c, c->akey, c->account, 0);
	} else if (rc == WF_ACT_FAILED) {
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
	/* a password check names the account, and its status, only when it passed */
	if (c->account && c->ev && c->ev->verify && !c->failed) {
		json_object_set_new(r, "account", json_string(wf_ctx_account_id(c)));
		json_object_set_new(r, "status", json_string(rec_str0(c->account, "status")));
	}
	if (c->extra)
		json_object_update_missing(r, c->extra);
	return r;
}

#define ctx_init wf_ctx_init

/* ctx_finish - move the outcome to out and release the context */
static int ctx_finish(struct wf_ctx *c, int rc, struct wf_out *out)
{
	if (rc == WF_ACT_FAILED)
		rc = 0;
	if (c->err < 0) /* a read failed somewhere: nothing of this run counts */
		rc = c->err;
	if (rc == 0 && !out->result)
		out->result = make_result(c, c->code ? c->code : "OK");
	/* every durable job that touched an account is in its history (its
	 * reply code, who sent it); an account a failed job would have made
	 * does not exist */
	if (rc == 0 && c->ev && c->ev->durable && c->account && !(c->created && c->failed))
		wf_ctx_history(c, "job",
			       json_pack("{s:s, s:s, s:s, s:s}", "type", c->ev->name, "code",
					 json_string_value(json_object_get(out->result, "code")),
					 "by", c->front ? c->front : "", "job",
					 c->job_id ? c->job_id : ""),
			       1);
	json_object_update(c->writes, c->sticky);
	out->writes = c->writes;
	out->outbox = c->outbox;
	if (rc < 0) {
		wf_out_free(out);
		memset(out, 0, sizeof(*out));
	}
	json_decref(c->sticky);
	c->writes = c->sticky = c->outbox = NULL;
	wf_ctx_release(c);
	return rc;
}

/* current_state - the account's state in c->wf, and the version it runs
 * on: the newest when the state is in it, else the latest version that had
 * the state, the one the account last ran on there (c->wf becomes that
 * one); a state of no known version is taken as the start state */
static const char *current_state(struct wf_ctx *c)
{
	char col[80];
	snprintf(col, sizeof(col), "wf.%s", c->wf->name);
	const char *state = rec_str(c->account, col);
	if (state && !wf_state_find(c->wf, state) && versions) {
		const struct wf *old = versions(c->wf->name, state);
		if (old && wf_state_find(old, state)) {
			c->wf = old;
			return state;
		}
	}
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

/* run_limits - the event's limits come first and see only the job (its
 * arguments and front): a refusal says nothing about whether the account
 * exists; 0, WF_ACT_FAILED or -errno */
static int run_limits(struct wf_ctx *c)
{
	const char *aname;
	json_t *aval;
	int rc = 0;
	json_object_foreach(c->args, aname, aval) {
		const char *t = json_string_value(json_object_get(c->ev->args, aname));
		if (t && !wf_arg_hidden(t))
			json_object_set(c->vars, aname, aval);
	}
	if (c->front)
		json_object_set_new(c->vars, "front", json_string(c->front));
	for (int i = 0; i < c->ev->nlimits && rc == 0; i++)
		if (!c->ev->limits[i].cond || wf_ctx_cond(c, c->ev->limits[i].cond))
			rc = wf_act_run(c, &c->ev->limits[i]);
	if (rc != 0)
		json_object_clear(c->writes);
	return rc;
}

/* pick - the first transition of the event from state whose guard holds */
static const struct wf_transition *pick(struct wf_ctx *c, const char *state)
{
	for (int i = 0; i < c->wf->ntrans; i++) {
		const struct wf_transition *t = &c->wf->trans[i];
		if (!strcmp(t->on, c->ev->name) && !strcmp(t->from, state) && guard_holds(c, t))
			return t;
	}
	return NULL;
}

/* no_transition - a gap in the workflow: the job fails; the reply says
 * where, and names the account only as any other reply would */
static void no_transition(struct wf_ctx *c, const char *state, struct wf_out *out)
{
	out->failed = 1;
	c->failed = 1;
	out->result = make_result(c, "NO_TRANSITION");
	json_object_set_new(out->result, "message",
			    json_string("no transition for this event in this state"));
	json_object_set_new(out->result, "state", json_string(state));
}

int wf_run_job(const struct wf_set *ws, const struct wf_event *ev, struct store *st, json_t *args,
	       const char *front, const char *job_id, int64_t now, struct wf_out *out)
{
	struct wf_ctx c;
	int rc;

	memset(out, 0, sizeof(*out));
	ctx_init(&c, ws, st, now);
	c.job_id = job_id;
	c.args = args;
	c.front = front;
	c.ev = ev;
	c.wf = ev->wf;
	normalize_args(ev, args);
	wf_ctx_derive(&c);
	if ((rc = run_limits(&c)) != 0)
		return ctx_finish(&c, rc, out);
	rc = wf_ctx_find_subject(&c);
	if (ev->verify) /* only the right password tells anything of the account */
		rc = wf_verify_outcome(&c, rc);
	if (rc != 0)
		return ctx_finish(&c, rc, out);
	fill_vars(&c);
	/* a deregistered account takes no more events (its owner is told so) */
	if (rec_is(c.account, "status", "deregistered"))
		return ctx_finish(&c, wf_ctx_fail(&c, "DEREGISTERED"), out);
	const char *state = current_state(&c);
	const struct wf_transition *tr = pick(&c, state);
	if (!tr) {
		no_transition(&c, state, out);
		return ctx_finish(&c, 0, out);
	}
	return ctx_finish(&c, run_list(&c, tr->acts, tr->nacts, tr->to), out);
}

int wf_run_event(const struct wf_set *ws, const struct wf_event *ev, struct store *st, json_t *args,
		 const char *front, int64_t now, struct wf_out *out)
{
	return wf_run_job(ws, ev, st, args, front, NULL, now, out);
}

int wf_run(const struct wf_set *ws, struct store *st, const char *type, json_t *args,
	   const char *front, int64_t now, struct wf_out *out)
{
	const struct wf_event *ev = wf_set_event(ws, type, args);
	if (!ev) {
		memset(out, 0, sizeof(*out));
		return -ENOENT;
	}
	return wf_run_event(ws, ev, st, args, front, now, out);
}

int wf_fire_timer(const struct wf_set *ws, struct store *st, const char *key, int64_t now,
		  struct wf_out *out)
{
	struct wf_ctx c;
	json_t *t = NULL;
	int rc = 0;
	char col[80];

	memset(out, 0, sizeof(*out));
	ctx_init(&c, ws, st, now);
	wf_ctx_put(&c, key, NULL, 1); /* the timer goes, whatever happens */
	if ((rc = rec_get_key(st, key, &t)) < 0) {
		rc = rc == -ENOENT ? 0 : rc;
		goto done;
	}
	c.wf = wf_set_find(ws, rec_str(t, "wf") ? rec_str(t, "wf") : "");
	const char *tstate = rec_str(t, "state");
	int64_t idx = rec_int(t, "idx", -1);
	rec_account_key(rec_str0(t, "account"), c.akey);
	c.account = wf_ctx_copy(&c, c.akey);
	if (c.wf && c.account && tstate) {
		snprintf(col, sizeof(col), "wf.%s", c.wf->name);
		const char *own = rec_str(c.account, col);
		if (strcmp(own ? own : c.wf->start, tstate) != 0)
			goto done; /* the state was left: a stale timer */
		if (own)
			current_state(&c); /* c.wf: the version it runs on there */
	}
	const struct wf_state *s = c.wf && tstate ? wf_state_find(c.wf, tstate) : NULL;
	if (c.account && !s) {
		/* its workflow or state is not in this set (a reload forced past the
		 * check): kept, and tried again later, for when they come back */
		int64_t park = ws->park_ms > 0 ? ws->park_ms : 60000;
		rec_set_int(t, "due", now + park);
		wf_ctx_put(&c, key, t, 1);
		log_warn("timer %s: workflow %s state %s not loaded; kept, tried again in %lld ms",
			 key, rec_str0(t, "wf"), tstate ? tstate : "", (long long)park);
		goto done;
	}
	if (!c.account || idx < 0 || idx >= s->ntimers) {
		log_warn("timer %s: its account or its timer is gone; dropped", key);
		goto done;
	}
	if (strcmp(current_state(&c), tstate) != 0)
		goto done; /* the state was left: a stale timer */
	if (rec_is(c.account, "status", "deregistered"))
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

int wf_run_migrate(const struct wf_set *ws, const struct wf *w, struct store *st, const char *akey,
		   int64_t now, struct wf_out *out)
{
	struct wf_ctx c;
	char col[80];
	int rc = 0;
	memset(out, 0, sizeof(*out));
	ctx_init(&c, ws, st, now);
	c.wf = w;
	snprintf(c.akey, sizeof(c.akey), "%s", akey);
	c.account = wf_ctx_copy(&c, c.akey);
	snprintf(col, sizeof(col), "wf.%s", w->name);
	const char *state = c.account ? rec_str(c.account, col) : NULL;
	const char *to = state && !wf_state_find(w, state)
				 ? json_string_value(json_object_get(w->migrate, state))
				 : NULL;
	if (to && !rec_is(c.account, "status", "deregistered")) {
		wf_ctx_history(&c, "migrated",
			       json_pack("{s:s, s:s, s:s, s:s}", "wf", w->name, "from", state, "to",
					 to, "version", w->version),
			       0);
		rc = enter_state(&c, to);
		if (rc == 0)
			wf_ctx_put(&c, c.akey, c.account, 0);
	}
	rc = ctx_finish(&c, rc, out);
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
	return rec_apply(st, writes);
}
