/*
 * reload - the check before a new workflow set runs (see reload.h).
 */
#include "reload.h"
#include "log.h"
#include "rec.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SLICE 2000 /* records looked at a loop turn */

struct reload {
	struct engine *e;
	struct wf_set *ws;
	int force;
	json_t *dropped; /* "workflow" -> {"*": counts} or {"state": counts} */
	char after[REC_KEY_MAX];
	char prefix[3]; /* "a:" accounts, then "m:" timers */
	uv_timer_t step;
	reload_done_fn done;
	void *arg;
};

static int busy;

static json_t *counts(void)
{
	return json_pack("{s:i, s:i}", "accounts", 0, "timers", 0);
}

/* dropped_pairs - what of the running set ws no longer has */
static json_t *dropped_pairs(const struct wf_set *old, const struct wf_set *ws)
{
	json_t *d = json_object();
	for (int i = 0; i < old->n; i++) {
		const struct wf *w = old->wfs[i], *nw = wf_set_find(ws, w->name);
		json_t *states = json_object();
		for (int s = 0; s < w->nstates; s++)
			if (!nw || !wf_state_find(nw, w->states[s].name))
				json_object_set_new(states, w->states[s].name, counts());
		if (json_object_size(states))
			json_object_set_new(d, w->name, states);
		else
			json_decref(states);
	}
	return d;
}

static void bump(struct reload *r, const char *wf, const char *state, const char *what)
{
	json_t *c = json_object_get(json_object_get(r->dropped, wf), state ? state : "");
	if (c)
		json_object_set_new(c, what,
				    json_integer(json_integer_value(json_object_get(c, what)) + 1));
}

/* look - one record of the walk */
static void look(struct reload *r, const char *key, const json_t *rec)
{
	const char *name;
	json_t *v;
	if (key[0] == 'm') {
		bump(r, rec_str0(rec, "wf"), rec_str(rec, "state"), "timers");
		return;
	}
	if (rec_is(rec, "status", "deregistered"))
		return; /* nothing happens to it any more */
	json_object_foreach((json_t *)rec, name, v)
		if (!strncmp(name, "wf.", 3) && json_is_string(v))
			bump(r, name + 3, json_string_value(v), "accounts");
}

/* report - the dropped workflow states that still hold something */
static json_t *report(struct reload *r, int64_t *total)
{
	json_t *list = json_array(), *states, *c;
	const char *wf, *st;
	*total = 0;
	json_object_foreach(r->dropped, wf, states)
		json_object_foreach(states, st, c) {
			json_int_t n = json_integer_value(json_object_get(c, "accounts")) +
				       json_integer_value(json_object_get(c, "timers"));
			if (n == 0)
				continue;
			*total += n;
			json_array_append_new(
				list, json_pack("{s:s, s:s, s:O, s:O}", "workflow", wf, "state", st,
						"accounts", json_object_get(c, "accounts"),
						"timers", json_object_get(c, "timers")));
		}
	return list;
}

static void closed(uv_handle_t *h)
{
	struct reload *r = h->data;
	json_decref(r->dropped);
	free(r);
}

static void finish(struct reload *r)
{
	int64_t total;
	json_t *list = report(r, &total);
	int take = total == 0 || r->force;
	json_t *rep = json_pack("{s:b, s:i, s:o}", "reloaded", take, "workflows", r->ws->n,
				"still_used", list);
	if (take) {
		if (total)
			log_warn("reload forced: %lld account(s) and timer(s) live in workflow "
				 "states "
				 "the new set drops; their timers wait for them",
				 (long long)total);
		engine_set_workflows(r->e, r->ws);
	} else {
		char *text = json_dumps(list, JSON_COMPACT);
		log_err("reload refused: workflow states the new set drops still hold %lld "
			"account(s) and timer(s): %s; the running set stays (force it to take "
			"it anyway)",
			(long long)total, text);
		free(text);
		wf_set_unref(r->ws);
	}
	busy = 0;
	r->done(r->arg, take ? 0 : -EEXIST, rep);
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
		log_err("reload: the store cannot be read (%s): refused", store_error(r->e->st));
		r->force = 0;
		json_object_set_new(
			r->dropped, "(store)",
			json_pack("{s:{s:i, s:i}}", "unreadable", "accounts", 1, "timers", 0));
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
	if (!more && r->prefix[0] == 'a') {
		snprintf(r->prefix, sizeof(r->prefix), "m:");
		snprintf(r->after, sizeof(r->after), "m:");
		more = 1;
	}
	if (more)
		uv_timer_start(&r->step, walk, 0, 0);
	else
		finish(r);
}

int reload_start(struct engine *e, struct wf_set *ws, int force, reload_done_fn done, void *arg)
{
	if (busy) {
		wf_set_unref(ws);
		return -EBUSY;
	}
	struct reload *r = xcalloc(1, sizeof(*r));
	r->e = e;
	r->ws = ws;
	r->force = force;
	r->done = done;
	r->arg = arg;
	r->dropped = dropped_pairs(e->ws, ws);
	snprintf(r->prefix, sizeof(r->prefix), "a:");
	snprintf(r->after, sizeof(r->after), "a:");
	uv_timer_init(e->loop, &r->step);
	r->step.data = r;
	busy = 1;
	if (json_object_size(r->dropped) == 0)
		finish(r); /* nothing dropped: nothing to count */
	else
		uv_timer_start(&r->step, walk, 0, 0);
	return 0;
}
