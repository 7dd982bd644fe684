/*
 * api_workflows - the operator's view of the workflow versions (issue 14):
 * GET /v1/workflows, each workflow's versions with the accounts and timers
 * on each (a walk of the store, reload.c); GET /v1/workflows/NAME@VERSION,
 * a version's file as it was loaded.
 */
#include "api_priv.h"
#include "engine.h"
#include "reload.h"
#include "versions.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* entry - the workflow's entry of the listing, made on first use */
static json_t *entry(json_t *by_name, const char *name, const struct wf_set *ws)
{
	json_t *w = json_object_get(by_name, name);
	if (!w) {
		const struct wf *cur = wf_set_find(ws, name);
		w = json_pack("{s:s, s:s?, s:[]}", "name", name, "current",
			      cur ? cur->version : NULL, "versions");
		json_object_set_new(by_name, name, w);
	}
	return w;
}

static json_t *version_entry(json_t *w, const char *version, int64_t loaded)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(w, "versions"), i, v)
		if (!strcmp(json_string_value(json_object_get(v, "version")), version))
			return v;
	const char *cur = json_string_value(json_object_get(w, "current"));
	v = json_pack("{s:s, s:I, s:b, s:i, s:i}", "version", version, "loaded", (json_int_t)loaded,
		      "current", cur && !strcmp(cur, version), "accounts", 0, "timers", 0);
	json_array_append_new(json_object_get(w, "versions"), v);
	return v;
}

static void counted(void *arg, int rc, json_t *report)
{
	struct http_req *req = arg;
	struct api *a = req->user;
	struct engine *e = a->e;
	if (rc < 0) {
		api_reply_error(a, req, 503, "UNAVAILABLE", "the store cannot be read", NULL);
		return;
	}
	json_t *by_name = json_object(), *recs = versions_list(e, NULL), *r, *c;
	size_t i;
	const char *key;
	json_array_foreach(recs, i, r) /* oldest first */
		version_entry(entry(by_name, json_string_value(json_object_get(r, "name")), e->ws),
			      json_string_value(json_object_get(r, "version")),
			      json_integer_value(json_object_get(r, "loaded")));
	json_object_foreach(json_object_get(report, "counts"), key, c) {
		char name[256];
		const char *at = strrchr(key, '@');
		snprintf(name, sizeof(name), "%.*s", (int)(at ? at - key : 0), key);
		json_t *v = version_entry(entry(by_name, name, e->ws), at ? at + 1 : "?", 0);
		json_object_set(v, "accounts", json_object_get(c, "accounts"));
		json_object_set(v, "timers", json_object_get(c, "timers"));
	}
	json_t *list = json_array(), *w;
	json_object_foreach(by_name, key, w)
		json_array_append(list, w);
	json_t *body = json_pack("{s:o}", "workflows", list);
	api_reply_json(req, 200, body);
	json_decref(body);
	json_decref(recs);
	json_decref(by_name);
}

void api_get_workflows(struct api_call *c)
{
	c->req->user = c->a;
	if (reload_count(c->a->e, counted, c->req) == -EBUSY)
		api_reply_error(c->a, c->req, 409, "RELOAD_BUSY",
				"a reload is walking the accounts: ask again in a moment", NULL);
}

void api_get_workflow_version(struct api_call *c)
{
	char name[256];
	const char *at = strrchr(c->id, '@');
	snprintf(name, sizeof(name), "%.*s", (int)(at ? at - c->id : 0), c->id);
	char *text = at ? versions_text(c->a->e, name, at + 1) : NULL;
	if (!text) {
		api_reply_error(
			c->a, c->req, 404, "NOT_FOUND",
			"no such workflow version (NAME@VERSION, as GET /v1/workflows lists)",
			NULL);
		return;
	}
	json_t *body = json_pack("{s:s, s:s, s:s}", "name", name, "version", at + 1, "text", text);
	api_reply_json(c->req, 200, body);
	json_decref(body);
	free(text);
}
