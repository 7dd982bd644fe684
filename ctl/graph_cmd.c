/*
 * graph_cmd - regflowctl graph FILE|NAME: one workflow as Graphviz dot
 * (see graph_cmd.h).  States are boxes (their account status under the
 * name), the start state entered from a point, final states doubled;
 * transitions are edges labelled with their event and guard ("stay" ones
 * loop), timers dashed edges labelled with their duration; an event's
 * limits are noted on its first edge.  The output is stable (file order),
 * so a golden file per shipped workflow can hold it.
 */
#include "graph_cmd.h"
#include "ctl.h"
#include "util.h"
#include "wf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* q - s as the inside of a dot string (quotes and backslashes escaped) */
static void q(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s == '\n' ? ' ' : *s, f);
	}
}

static void duration(FILE *f, long long ms)
{
	char buf[32];
	duration_format(ms, buf, sizeof(buf));
	fputs(buf, f);
}

static void guard(FILE *f, const struct wf_cond *c)
{
	fputs(c->negate ? "not " : "", f);
	q(f, c->field);
	if (c->equals) {
		fputs(" = ", f);
		q(f, c->equals);
	} else {
		fputs(c->set ? " set" : " empty", f);
	}
}

/* limits - "limit KEY: MAX/PER, ..." of an event, as a label line */
static void limits(FILE *f, const struct wf_event *ev)
{
	for (int i = 0; i < ev->nlimits; i++) {
		const json_t *p = ev->limits[i].p, *r;
		size_t k;
		fputs("\\nlimit ", f);
		q(f, json_string_value(json_object_get(p, "key")));
		fputs(":", f);
		json_array_foreach(json_object_get(p, "rules"), k, r) {
			fprintf(f, "%s%lld/", k ? ", " : " ",
				(long long)json_integer_value(json_object_get(r, "max")));
			duration(f, (long long)json_integer_value(json_object_get(r, "per")));
		}
	}
}

static const struct wf_event *event_of(const struct wf *w, const char *name)
{
	for (int i = 0; i < w->nevents; i++)
		if (!strcmp(w->events[i].name, name))
			return &w->events[i];
	return NULL;
}

static void states(FILE *f, const struct wf *w)
{
	fputs("  \"(start)\" [shape=point, width=0.15];\n", f);
	for (int i = 0; i < w->nstates; i++) {
		const struct wf_state *s = &w->states[i];
		fputs("  \"", f);
		q(f, s->name);
		fputs("\" [label=\"", f);
		q(f, s->name);
		if (s->status) {
			fputs("\\n(", f);
			q(f, s->status);
			fputs(")", f);
		}
		fprintf(f, "\"%s];\n", s->final ? ", peripheries=2" : "");
	}
	fputs("  \"(start)\" -> \"", f);
	q(f, w->start);
	fputs("\";\n", f);
}

static void transitions(FILE *f, const struct wf *w)
{
	char *seen = calloc((size_t)w->nevents + 1, 1);
	for (int i = 0; i < w->ntrans; i++) {
		const struct wf_transition *t = &w->trans[i];
		const struct wf_event *ev = event_of(w, t->on);
		fputs("  \"", f);
		q(f, t->from);
		fputs("\" -> \"", f);
		q(f, t->to ? t->to : t->from);
		fputs("\" [label=\"", f);
		q(f, t->on);
		for (int k = 0; k < t->nconds; k++) {
			fputs(k ? ", " : "\\n[", f);
			guard(f, &t->conds[k]);
		}
		fputs(t->nconds ? "]" : "", f);
		if (ev && seen && !seen[ev - w->events]) {
			seen[ev - w->events] = 1;
			limits(f, ev);
		}
		fputs("\"];\n", f);
	}
	free(seen);
}

static void timers(FILE *f, const struct wf *w)
{
	for (int i = 0; i < w->nstates; i++)
		for (int k = 0; k < w->states[i].ntimers; k++) {
			const struct wf_timer *t = &w->states[i].timers[k];
			fputs("  \"", f);
			q(f, w->states[i].name);
			fputs("\" -> \"", f);
			q(f, t->to ? t->to : w->states[i].name);
			fputs("\" [style=dashed, label=\"after ", f);
			duration(f, (long long)t->after_ms);
			fputs("\"];\n", f);
		}
}

void graph_print(FILE *f, const struct wf *w)
{
	fputs("digraph \"", f);
	q(f, w->name);
	fputs("\" {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
	      "  edge [fontname=\"Helvetica\", fontsize=10];\n",
	      f);
	states(f, w);
	transitions(f, w);
	timers(f, w);
	fputs("}\n", f);
}

/* pick - the workflow of the FILE loaded, or the one called NAME */
static const struct wf *pick(const struct wf_set *ws, const char *arg, int file)
{
	if (file)
		return ws->n > 0 ? ws->wfs[0] : NULL;
	for (int i = 0; i < ws->n; i++)
		if (!strcmp(ws->wfs[i]->name, arg))
			return ws->wfs[i];
	return NULL;
}

int ctl_graph(struct conf *c, int argc, char **argv)
{
	const char *dir = conf_str(c, "engine.workflows", "workflows");
	struct wf_errs errs = {0};
	struct wf_set *ws = NULL;
	if (argc != 1)
		return ctl_usage("graph");
	int file = strchr(argv[0], '/') ||
		   (strlen(argv[0]) > 3 && !strcmp(argv[0] + strlen(argv[0]) - 3, ".wf"));
	int rc = wf_set_load(dir, file ? argv : NULL, file ? 1 : 0, &ws, &errs);
	for (int i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.v[i]);
	const struct wf *w = rc == 0 ? pick(ws, argv[0], file) : NULL;
	if (rc == 0 && !w)
		fprintf(stderr, "regflowctl: graph: no workflow %s in %s\n", argv[0], dir);
	if (w)
		graph_print(stdout, w);
	wf_errs_free(&errs);
	wf_set_free(ws);
	return w ? 0 : 1;
}
