/*
 * wflint - what a loaded workflow set allows but surely does not mean (see
 * wflint.h): states nothing enters, events no reachable state takes,
 * templates never sent, messages never answered with.
 */
#include "wflint.h"
#include "log.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void warn(struct wf_errs *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(struct wf_errs *w, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		fatal("out of memory");
	va_end(ap);
	w->v = xrealloc(w->v, (size_t)(w->n + 1) * sizeof(*w->v));
	w->v[w->n++] = s;
}

/* each_action - fn on every action of w: transitions', timers', limits' */
static void each_action(const struct wf *w, void (*fn)(const struct wf_action *, void *), void *arg)
{
	for (int i = 0; i < w->ntrans; i++)
		for (int k = 0; k < w->trans[i].nacts; k++)
			fn(&w->trans[i].acts[k], arg);
	for (int i = 0; i < w->nstates; i++)
		for (int t = 0; t < w->states[i].ntimers; t++)
			for (int k = 0; k < w->states[i].timers[t].nacts; k++)
				fn(&w->states[i].timers[t].acts[k], arg);
	for (int i = 0; i < w->nevents; i++)
		for (int k = 0; k < w->events[i].nlimits; k++)
			fn(&w->events[i].limits[k], arg);
}

/* note - the action's parameters of one kind, as keys of a set */
struct note {
	enum wf_param_kind kind;
	json_t *set;
};

static void note_params(const struct wf_action *a, void *arg)
{
	struct note *n = arg;
	for (int i = 0; i < 8 && a->def->params[i].name; i++)
		if (a->def->params[i].kind == n->kind) {
			const char *v =
				json_string_value(json_object_get(a->p, a->def->params[i].name));
			if (v)
				json_object_set_new(n->set, v, json_true());
		}
}

static json_t *params_of(const struct wf *w, enum wf_param_kind kind)
{
	struct note n = {kind, json_object()};
	each_action(w, note_params, &n);
	return n.set;
}

/* reached - the states something enters: the start, a transition's or a
 * timer's target, a goto's */
static json_t *reached(const struct wf *w)
{
	json_t *r = params_of(w, WP_STATE);
	json_object_set_new(r, w->start, json_true());
	for (int i = 0; i < w->ntrans; i++)
		if (w->trans[i].to)
			json_object_set_new(r, w->trans[i].to, json_true());
	for (int i = 0; i < w->nstates; i++)
		for (int t = 0; t < w->states[i].ntimers; t++)
			if (w->states[i].timers[t].to)
				json_object_set_new(r, w->states[i].timers[t].to, json_true());
	return r;
}

static void lint_wf(const struct wf *w, struct wf_errs *out)
{
	json_t *in = reached(w), *sent = params_of(w, WP_TEMPLATE);
	for (int i = 0; i < w->nstates; i++)
		if (!json_object_get(in, w->states[i].name))
			warn(out,
			     "%s:%d: warning: state %s: no transition, timer or goto enters it",
			     w->file, w->states[i].line, w->states[i].name);
	for (int i = 0; i < w->nevents; i++) {
		int taken = 0;
		for (int k = 0; k < w->ntrans && !taken; k++)
			taken = !strcmp(w->trans[k].on, w->events[i].name) &&
				json_object_get(in, w->trans[k].from);
		if (!taken)
			warn(out,
			     "%s:%d: warning: event %s: no transition takes it from a state the "
			     "workflow reaches",
			     w->file, w->events[i].line, w->events[i].name);
	}
	/* NAME@FRONT is the front's own NAME: sent when NAME is */
	for (int i = 0; i < w->ntemplates; i++)
		if (!json_object_getn(sent, w->templates[i].name,
				      strcspn(w->templates[i].name, "@")))
			warn(out, "%s:%d: warning: template %s is never sent", w->file,
			     w->templates[i].line, w->templates[i].name);
	json_decref(in);
	json_decref(sent);
}

static void add_words(json_t *set, const char *words)
{
	char *copy = xstrdup(words ? words : ""), *save = NULL;
	for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save))
		json_object_set_new(set, t, json_true());
	free(copy);
}

static void note_fails(const struct wf_action *a, void *arg)
{
	add_words(arg, a->def->fails);
}

/* lint_messages - every message a code some workflow or the engine answers */
static void lint_messages(const struct wf_set *ws, struct wf_errs *out)
{
	json_t *used = json_object(), *v;
	const char *code;
	add_words(used, WF_ENGINE_CODES);
	for (int i = 0; i < ws->n; i++) {
		const struct wf *w = ws->wfs[i];
		json_t *codes = params_of(w, WP_CODE);
		json_object_update(used, codes);
		json_decref(codes);
		each_action(w, note_fails, used);
		for (int k = 0; k < w->nevents; k++)
			if (w->events[k].missing && strcmp(w->events[k].missing, "create"))
				json_object_set_new(used, w->events[k].missing, json_true());
	}
	json_object_foreach(ws->messages, code, v)
		if (!json_object_get(used, code))
			warn(out,
			     "%s/messages.conf: warning: message %s: no workflow answers with it",
			     ws->dir, code);
	json_decref(used);
}

int wf_lint(const struct wf_set *ws, int whole, struct wf_errs *out)
{
	int before = out->n;
	for (int i = 0; i < ws->n; i++)
		lint_wf(ws->wfs[i], out);
	if (whole)
		lint_messages(ws, out);
	return out->n - before;
}
