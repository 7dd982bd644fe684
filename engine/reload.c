/*
 * reload - a new workflow set, its versions, and the walk after it (see
 * reload.h).
 */
#include "reload.h"
#include "log.h"
#include "nodes.h"
#include "rec.h"
#include "util.h"
#include "versions.h"
#include "wf_run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLICE 2000 /* records looked at a loop turn */

struct reload {
	struct engine *e;
	int migrate;	/* a reload: move what migrate names; else only count */
	json_t *counts; /* "NAME@VERSION" -> {accounts, timers} */
	json_t *pinned; /* "wf|state|version" -> {workflow, state, version, accounts, timers} */
	json_t *moved;	/* "wf|from|to" -> {workflow, from, to, accounts} */
	json_t *moves;	/* this slice's: [[account key, workflow]] */
	int failed;	/* the store could not be read or written */
	char after[REC_KEY_MAX];
	char prefix[3]; /* "a:" accounts, then "m:" timers */
	uv_timer_t step;
	reload_done_fn done;
	void *arg;
};

static int busy;

/* bump - one more of what ("accounts", "timers") in the entry key of obj,
 * made from init the first time */
static void bump(json_t *obj, const char *key, json_t *init, const char *what)
{
	json_t *c = json_object_get(obj, key);
	if (!c)
		json_object_set_new(obj, key, c = init);
	else
		json_decref(init);
	json_object_set_new(c, what,
			    json_integer(json_integer_value(json_object_get(c, what)) + 1));
}

static void count(struct reload *r, const char *wf, const char *ver, const char *what)
{
	char key[REC_KEY_MAX];
	snprintf(key, sizeof(key), "%s@%s", wf, ver);
	bump(r->counts, key, json_pack("{s:i, s:i}", "accounts", 0, "timers", 0), what);
}

static void pin(struct reload *r, const char *wf, const char *state, const char *ver,
		const char *what)
{
	char key[REC_KEY_MAX];
	snprintf(key, sizeof(key), "%s|%s|%s", wf, state, ver);
	bump(r->pinned, key,
	     json_pack("{s:s, s:s, s:s, s:i, s:i}", "workflow", wf, "state", state, "version", ver,
		       "accounts", 0, "timers", 0),
	     what);
}

/* place - where the account (or timer, what) in state of wf is: on the
 * newest version, moved to it, or pinned to ver */
static void place(struct reload *r, const char *akey, const char *wf, const char *state,
		  const char *ver, const char *what)
{
	const struct wf *w = wf_set_find(r->e->ws, wf);
	const char *to = w ? json_string_value(json_object_get(w->migrate, state)) : NULL;
	if (w && wf_state_find(w, state)) {
		count(r, wf, w->version, what);
	} else if (to && r->migrate) {
		count(r, wf, w->version, what);
		if (akey) {
			char key[REC_KEY_MAX];
			snprintf(key, sizeof(key), "%s|%s|%s", wf, state, to);
			bump(r->moved, key,
			     json_pack("{s:s, s:s, s:s, s:i}", "workflow", wf, "from", state, "to",
				       to, "accounts", 0),
			     "accounts");
			json_array_append_new(r->moves, json_pack("[s, s]", akey, wf));
		}
	} else {
		count(r, wf, ver, what);
		pin(r, wf, state, ver, what);
	}
}

/* look - one record of the walk */
static void look(struct reload *r, const char *key, const json_t *rec)
{
	const char *name;
	json_t *v;
	if (key[0] == 'm') {
		const char *wf = rec_str0(rec, "wf"), *state = rec_str0(rec, "state");
		const char *ver = versions_of_state(wf, state);
		place(r, NULL, wf, state, ver ? ver : "?", "timers");
		return;
	}
	if (rec_is(rec, "status", "deregistered"))
		return; /* nothing happens to it any more */
	json_object_foreach((json_t *)rec, name, v) {
		if (strncmp(name, "wf.", 3) || !json_is_string(v))
			continue;
		const char *ver = versions_of_state(name + 3, json_string_value(v));
		place(r, key, name + 3, json_string_value(v), ver ? ver : "?", "accounts");
	}
}

/* moves_tx - this slice's migrations, one transaction */
static int moves_tx(struct reload *r)
{
	size_t i;
	json_t *m;
	int rc;
	if ((rc = store_begin(r->e->st)) < 0)
		return rc;
	json_array_foreach(r->moves, i, m) {
		const struct wf *w = wf_set_find(r->e->ws, json_string_value(json_array_get(m, 1)));
		struct wf_out out;
		if (!w)
			continue;
		rc = wf_run_migrate(r->e->ws, w, r->e->st, json_string_value(json_array_get(m, 0)),
				    now_ms(), &out);
		if (rc == 0)
			rc = rec_apply(r->e->st, out.writes);
		wf_out_free(&out);
		if (rc < 0)
			break;
	}
	if (rc < 0)
		store_abort(r->e->st);
	else if ((rc = store_commit(r->e->st)) == -EAGAIN) {
		log_err("store: committed but not synced to disk: %s", store_error(r->e->st));
		rc = 0; /* written: as a group's commit, go on */
	}
	return rc;
}

/* apply_moves - the slice's migrations written */
static int apply_moves(struct reload *r)
{
	int rc = 0;
	if (!json_array_size(r->moves))
		return 0;
	/* a conflict with another engine's transaction: written again */
	for (int tries = 0; tries < 8 && (rc = moves_tx(r)) == -EDEADLK; tries++)
		store_abort(r->e->st);
	if (rc < 0)
		log_err("reload: migrations not written (%s); accounts stay on their version",
			store_error(r->e->st));
	json_array_clear(r->moves);
	return rc;
}

static void closed(uv_handle_t *h)
{
	struct reload *r = h->data;
	json_decref(r->counts);
	json_decref(r->pinned);
	json_decref(r->moved);
	json_decref(r->moves);
	free(r);
}

static json_t *values(json_t *obj)
{
	json_t *list = json_array(), *v;
	const char *k;
	json_object_foreach(obj, k, v)
		json_array_append(list, v);
	return list;
}

static void finish(struct reload *r)
{
	json_t *rep;
	if (r->migrate) {
		/* the set runs whatever the walk met: a failure is said, not a refusal */
		rep = json_pack("{s:b, s:i, s:o, s:o, s:b}", "reloaded", 1, "workflows",
				r->e->ws->n, "pinned", values(r->pinned), "migrated",
				values(r->moved), "walk_failed", r->failed);
		if (json_object_size(r->pinned)) {
			char *text = json_dumps(json_object_get(rep, "pinned"), JSON_COMPACT);
			log_info(
				"workflows: accounts and timers stay on the versions of states the "
				"newest removed: %s",
				text);
			free(text);
		}
		if (json_object_size(r->moved)) {
			char *text = json_dumps(json_object_get(rep, "migrated"), JSON_COMPACT);
			log_info("workflows: migrated %s", text);
			free(text);
		}
	} else {
		rep = json_pack("{s:O}", "counts", r->counts);
	}
	busy = 0;
	r->done(r->arg, r->failed && !r->migrate ? -EIO : 0, rep);
	json_decref(rep);
	uv_close((uv_handle_t *)&r->step, closed);
}

/* walk - a slice of accounts, then of timers, a loop turn */
static void walk(uv_timer_t *t)
{
	struct reload *r = t->data;
	json_t *out = NULL, *pair;
	size_t i;
	int more = 0;
	if (store_scan(r->e->st, r->after, SLICE, &out) < 0) {
		log_err("workflows: the store cannot be read (%s)", store_error(r->e->st));
		r->failed = 1;
		finish(r);
		return;
	}
	json_array_foreach(out, i, pair) {
		const char *key = json_string_value(json_array_get(pair, 0));
		if (strncmp(key, r->prefix, 2) != 0) {
			more = 0;
			break;
		}
		look(r, key, json_array_get(pair, 1));
		snprintf(r->after, sizeof(r->after), "%s", key);
		more = 1;
	}
	more = more && json_array_size(out) == SLICE;
	json_decref(out);
	if (apply_moves(r) < 0)
		r->failed = 1;
	if (!more && r->prefix[0] == 'a') {
		snprintf(r->prefix, sizeof(r->prefix), "m:");
		snprintf(r->after, sizeof(r->after), "m:");
		more = 1;
	}
	/* 1 ms, not 0: libuv 1.44 runs a timer re-armed at 0 from its own
	 * callback again in the same pass, and the loop would serve nothing
	 * else until the walk ends */
	if (more)
		uv_timer_start(&r->step, walk, 1, 0);
	else
		finish(r);
}

static int walk_start(struct engine *e, int migrate, reload_done_fn done, void *arg)
{
	struct reload *r = xcalloc(1, sizeof(*r));
	r->e = e;
	r->migrate = migrate;
	r->counts = json_object();
	r->pinned = json_object();
	r->moved = json_object();
	r->moves = json_array();
	r->done = done;
	r->arg = arg;
	snprintf(r->prefix, sizeof(r->prefix), "a:");
	snprintf(r->after, sizeof(r->after), "a:");
	uv_timer_init(e->loop, &r->step);
	r->step.data = r;
	busy = 1;
	uv_timer_start(&r->step, walk, 0, 0);
	return 0;
}

int reload_start(struct engine *e, struct wf_set *ws, reload_done_fn done, void *arg)
{
	if (busy) {
		wf_set_unref(ws);
		return -EBUSY;
	}
	if (ws) {
		if (versions_record(e, ws) < 0) {
			wf_set_unref(ws);
			return -EIO;
		}
		engine_set_workflows(e, ws);
		nodes_publish(e); /* the other nodes follow */
	}
	return walk_start(e, 1, done, arg);
}

int reload_count(struct engine *e, reload_done_fn done, void *arg)
{
	return busy ? -EBUSY : walk_start(e, 0, done, arg);
}
