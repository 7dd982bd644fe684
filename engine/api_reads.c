/*
 * api_reads - the read routes: an account, its inbox, the reviews and
 * their photos, /metrics (Prometheus text) and /v1/health.  Columns the
 * API never shows (a password hash, an id number, a photo in a listing)
 * are left out by the records layer (rec_public).
 */
#include "api_priv.h"
#include "jobs.h"
#include "rec.h"
#include "util.h"
#include "versions.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void not_found(struct api_call *c, const char *what)
{
	api_reply_error(c->a, c->req, 404, "NOT_FOUND", what, NULL);
}

void api_get_account(struct api_call *c)
{
	json_t *rec = NULL, *pub, *wfs = json_object(), *v;
	const char *name;
	void *tmp;
	if (!id_valid(c->id) || rec_account_get(c->a->e->st, c->id, &rec) < 0) {
		json_decref(wfs);
		not_found(c, "no such account");
		return;
	}
	pub = rec_public(REC_ACCOUNT, rec);
	json_t *vers = json_object();
	json_object_foreach_safe(pub, tmp, name, v) {
		if (strncmp(name, "wf.", 3) != 0)
			continue;
		json_object_set(wfs, name + 3, v);
		/* the version it runs on: the newest if it has the state, else the
		 * latest that had it */
		const struct wf *w = wf_set_find(c->a->e->ws, name + 3);
		const char *ver = w && wf_state_find(w, json_string_value(v))
					  ? w->version
					  : versions_of_state(name + 3, json_string_value(v));
		if (ver)
			json_object_set_new(vers, name + 3, json_string(ver));
		json_object_del(pub, name);
	}
	json_object_set_new(pub, "workflows", wfs);
	json_object_set_new(pub, "versions", vers);
	/* a code the identity registry's answer left (IDNO_MISMATCH): its words too */
	const char *idc = json_string_value(json_object_get(pub, "identity"));
	if (idc && wf_known_code(idc) && *wf_message(c->a->e->ws, idc))
		json_object_set_new(pub, "identity_message",
				    json_string(wf_message(c->a->e->ws, idc)));
	api_reply_json(c->req, 200, pub);
	json_decref(pub);
	json_decref(rec);
}

/* records - the records of kind k whose col is val, as the API shows them */
static json_t *records(struct api *a, enum rec_kind k, const char *col, const char *val)
{
	json_t *keys = NULL, *key, *out = json_array();
	size_t i;
	if (rec_find(a->e->st, k, col, val, &keys) < 0)
		return out;
	json_array_foreach(keys, i, key) {
		json_t *rec;
		if (rec_get_key(a->e->st, json_string_value(key), &rec) < 0)
			continue;
		json_array_append_new(out, rec_public(k, rec));
		json_decref(rec);
	}
	json_decref(keys);
	return out;
}

/* rename_col - the store's column from becomes the API's to */
static void rename_col(json_t *o, const char *from, const char *to)
{
	json_object_set(o, to, json_object_get(o, from));
	json_object_del(o, from);
}

void api_get_inbox(struct api_call *c)
{
	json_t *items = records(c->a, REC_INBOX, "account", c->id), *it;
	size_t i;
	int64_t now = now_ms();
	/* an unanswered request past its time shows as expired */
	json_array_foreach(items, i, it) {
		rename_col(it, "istate", "state");
		if (rec_is(it, "state", "open") && now >= rec_int(it, "expires", 0))
			json_object_set_new(it, "state", json_string("expired"));
	}
	json_t *r = json_pack("{s:s, s:o}", "account", c->id, "items", items);
	api_reply_json(c->req, 200, r);
	json_decref(r);
}

void api_get_reviews(struct api_call *c)
{
	char want[32] = "";
	/* ?state=pending (or another); none: every review */
	http_req_query_param(c->req, "state", want, sizeof(want));
	json_t *all = records(c->a, REC_REVIEW, "kind", "review"), *out = json_array(), *r;
	size_t i;
	json_array_foreach(all, i, r) {
		if (want[0] && !rec_is(r, "rstate", want))
			continue;
		rename_col(r, "rstate", "state");
		json_object_set_new(r, "photo_url",
				    json_sprintf("/v1/reviews/%s/photo", rec_str(r, "id")));
		json_array_append(out, r);
	}
	json_decref(all);
	json_t *body = json_pack("{s:o}", "reviews", out);
	api_reply_json(c->req, 200, body);
	json_decref(body);
}

/* api_get_review_photo - the photo (re-encoded at upload, photo.h), for the
 * reviewer: never sniffed as anything else, never cached */
void api_get_review_photo(struct api_call *c)
{
	json_t *rec = NULL, *review = NULL;
	if (!id_valid(c->id) || rec_get(c->a->e->st, REC_REVIEW, c->id, &review) < 0 ||
	    rec_get(c->a->e->st, REC_PHOTO, c->id, &rec) < 0 || !rec_str(rec, "photo")) {
		json_decref(rec);
		json_decref(review);
		not_found(c, "no such review, or its photo is gone (engine.photo_retention)");
		return;
	}
	const char *b64 = rec_str(rec, "photo");
	size_t cap = strlen(b64), n = 0;
	unsigned char *bin = xmalloc(cap + 1);
	if (sodium_base642bin(bin, cap + 1, b64, cap, "\r\n", &n, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0)
		n = 0;
	const char *type = rec_str(review, "photo_type");
	http_respond_header(c->req, "X-Content-Type-Options", "nosniff");
	http_respond_header(c->req, "Content-Security-Policy", "default-src 'none'");
	http_respond_header(c->req, "Cache-Control", "no-store");
	http_respond(c->req, 200, type && *type ? type : "image/jpeg", (const char *)bin, n);
	free(bin);
	json_decref(rec);
	json_decref(review);
}

static const struct {
	const char *key, *name, *type, *help;
} metrics[] = {
	{"queued", "regflow_jobs_queued", "gauge", "Jobs accepted and not yet run."},
	{"hashing", "regflow_jobs_hashing", "gauge", "Jobs waiting for their password hash."},
	{"done", "regflow_jobs_done_total", "counter", "Jobs run to a result."},
	{"failed", "regflow_jobs_failed_total", "counter",
	 "Jobs with no transition for their state."},
	{"commits", "regflow_store_commits_total", "counter",
	 "Group commits (one disk sync each)."},
	{"commit_failures", "regflow_store_commit_failures_total", "counter",
	 "Transactions the store refused."},
	{"outbox", "regflow_outbox_records", "gauge",
	 "Messages still in the database's outbox (not yet spooled, or their delete not yet "
	 "committed)."},
	{"timers_fired", "regflow_timers_fired_total", "counter", "Workflow timers that fell due."},
	{"records", "regflow_store_records", "gauge", "Records in the database."},
	{"conflicts", "regflow_store_conflicts_total", "counter",
	 "Groups written again after conflicting with another engine's (shared store)."},
	{"conflict_backoffs", "regflow_store_conflict_backoffs_total", "counter",
	 "Groups that conflicted 4 times in a row, taken again after a random wait."},
	{"ran_elsewhere", "regflow_jobs_ran_elsewhere_total", "counter",
	 "Queued jobs found already run by another engine."},
	{"adopted", "regflow_adopted_total", "counter",
	 "Queued jobs and outbox messages adopted from engines that stopped."},
};

/* api_get_metrics - Prometheus text exposition of the engine's counters */
void api_get_metrics(struct api_call *c)
{
	struct api *a = c->a;
	json_t *st = jobs_stats(a->e->jobs);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	for (size_t i = 0; f && i < sizeof(metrics) / sizeof(metrics[0]); i++)
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", metrics[i].name,
			metrics[i].help, metrics[i].name, metrics[i].type, metrics[i].name,
			(long long)json_integer_value(json_object_get(st, metrics[i].key)));
	if (f) {
		fprintf(f,
			"# HELP regflow_http_requests_total API requests.\n"
			"# TYPE regflow_http_requests_total counter\nregflow_http_requests_total "
			"%lld\n"
			"# HELP regflow_http_rejected_total API requests refused (4xx/5xx).\n"
			"# TYPE regflow_http_rejected_total counter\nregflow_http_rejected_total "
			"%lld\n"
			"# HELP regflow_workflows Workflows loaded.\n# TYPE regflow_workflows "
			"gauge\n"
			"regflow_workflows %d\n",
			(long long)a->requests, (long long)a->rejected, a->e->ws->n);
		jobs_metrics(a->e->jobs, f);
		fclose(f);
	}
	http_respond(c->req, 200, "text/plain; version=0.0.4", out ? out : "", out ? len : 0);
	free(out);
	json_decref(st);
}

void api_get_health(struct api_call *c)
{
	struct engine *e = c->a->e;
	json_t *h = json_pack("{s:s, s:I, s:i, s:o, s:o}", "status", "ok", "uptime_ms",
			      (json_int_t)(now_ms() - e->started_ms), "workflows", e->ws->n, "jobs",
			      jobs_stats(e->jobs), "store", jobs_store_calls(e->jobs));
	api_reply_json(c->req, 200, h);
	json_decref(h);
}
