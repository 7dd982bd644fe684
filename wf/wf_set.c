/*
 * wf_set - the loaded set of workflows: finding an event for a job, a
 * workflow, a state, a template, a message; the set's references.
 */
#include "wf.h"

#include <stdlib.h>
#include <string.h>

struct wf_set *wf_set_ref(struct wf_set *ws)
{
	ws->refs++;
	return ws;
}

void wf_set_unref(struct wf_set *ws)
{
	if (ws && --ws->refs == 0)
		wf_set_free(ws);
}

void wf_errs_free(struct wf_errs *e)
{
	for (int i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
	e->v = NULL;
	e->n = 0;
}

static int event_matches(const struct wf_event *ev, const json_t *args)
{
	const char *k;
	json_t *v;
	if (!args)
		return 1;
	json_object_foreach(ev->match, k, v) {
		const char *a = json_string_value(json_object_get(args, k));
		if (!a || strcmp(a, json_string_value(v)) != 0)
			return 0;
	}
	return 1;
}

const struct wf_event *wf_set_event(const struct wf_set *ws, const char *name, const json_t *args)
{
	const struct wf_event *plain = NULL;
	/* an event that names argument values wins over one that takes any */
	for (int w = 0; w < ws->n; w++)
		for (int i = 0; i < ws->wfs[w]->nevents; i++) {
			const struct wf_event *ev = &ws->wfs[w]->events[i];
			if (strcmp(ev->name, name) != 0 || !event_matches(ev, args))
				continue;
			if (json_object_size(ev->match) > 0 && args)
				return ev;
			if (!plain)
				plain = ev;
		}
	return plain;
}

int wf_set_has_type(const struct wf_set *ws, const char *name)
{
	return wf_set_event(ws, name, NULL) != NULL;
}

const struct wf *wf_set_find(const struct wf_set *ws, const char *name)
{
	for (int w = 0; w < ws->n; w++)
		if (ws->wfs[w]->name && strcmp(ws->wfs[w]->name, name) == 0)
			return ws->wfs[w];
	return NULL;
}

const struct wf_state *wf_state_find(const struct wf *wf, const char *name)
{
	for (int i = 0; i < wf->nstates; i++)
		if (strcmp(wf->states[i].name, name) == 0)
			return &wf->states[i];
	return NULL;
}

const struct wf_template *wf_template_find(const struct wf *wf, const char *name)
{
	for (int i = 0; i < wf->ntemplates; i++)
		if (strcmp(wf->templates[i].name, name) == 0)
			return &wf->templates[i];
	return NULL;
}

const char *wf_message(const struct wf_set *ws, const char *code)
{
	const char *m = json_string_value(json_object_get(ws->messages, code));
	return m ? m : "";
}
