/*
 * api - routes of the job API (see api.h, SPEC section 3).
 */
#include "api.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_MAX_WAIT_MS 30000
#define API_MAX_KEY 128

static void reply_json(struct http_req *req, int status, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII * 0);
	http_respond(req, status, "application/json; charset=utf-8", text, strlen(text));
	free(text);
}

static void reply_error(struct api *a, struct http_req *req, int status, const char *code,
			const char *message, const char *field)
{
	json_t *e = json_pack("{s:{s:s, s:s, s:o}}", "error", "code", code, "message", message,
			      "field", field ? json_string(field) : json_null());
	a->rejected++;
	reply_json(req, status, e);
	json_decref(e);
}

/* a pending request: waiting for durability, then maybe for the outcome */
struct pending {
	struct api *a;
	struct http_req *req;
	uint64_t wait_ms;
};

static void on_outcome(void *arg, int rc, json_t *view)
{
	struct pending *p = arg;
	const char *state = json_string_value(json_object_get(view, "state"));
	int done = state && (!strcmp(state, "done") || !strcmp(state, "failed"));
	reply_json(p->req, done ? 200 : 202, view);
	free(p);
}

static void on_durable(void *arg, int rc, json_t *view)
{
	struct pending *p = arg;
	if (rc < 0) {
		reply_error(p->a, p->req, 503, "UNAVAILABLE",
			    "the job store cannot take the job now; nothing was written", NULL);
		free(p);
		return;
	}
	if (p->wait_ms > 0) {
		jobs_wait(p->a->jobs, json_string_value(json_object_get(view, "id")), p->wait_ms,
			  on_outcome, p);
		return;
	}
	json_t *r = json_pack("{s:O, s:O}", "id", json_object_get(view, "id"), "state",
			      json_object_get(view, "state"));
	reply_json(p->req, 202, r);
	json_decref(r);
	free(p);
}

/*
 * check_job - validate one job object; NULL if fine, else sets code/field.
 * On success *type, *args and *key point into obj.
 */
static const char *check_job(struct api *a, json_t *obj, const char **type, json_t **args,
			     const char **key, const char **code, char *field, size_t fn)
{
	const char *name;
	json_t *v;
	field[0] = 0;
	*code = "INVALID_FIELD";
	if (!json_is_object(obj)) {
		*code = "MALFORMED_JSON";
		return "a job is a JSON object";
	}
	json_object_foreach(obj, name, v) {
		if (strcmp(name, "type") && strcmp(name, "args") && strcmp(name, "key")) {
			snprintf(field, fn, "%s", name);
			*code = "UNKNOWN_FIELD";
			return "unknown field";
		}
	}
	v = json_object_get(obj, "type");
	if (!v) {
		snprintf(field, fn, "type");
		*code = "MISSING_FIELD";
		return "missing field";
	}
	if (!json_is_string(v)) {
		snprintf(field, fn, "type");
		return "type must be a string";
	}
	*type = json_string_value(v);
	if (!wf_set_has_type(a->ws, *type)) {
		snprintf(field, fn, "type");
		*code = "UNKNOWN_TYPE";
		return "unknown job type";
	}
	v = json_object_get(obj, "key");
	*key = NULL;
	if (v) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > API_MAX_KEY || strpbrk(json_string_value(v), "\r\n")) {
			snprintf(field, fn, "key");
			return "key must be a string of 1 to 128 characters";
		}
		*key = json_string_value(v);
	}
	*args = json_object_get(obj, "args");
	if (!*args) {
		snprintf(field, fn, "args");
		*code = "MISSING_FIELD";
		return "missing field";
	}
	if (!json_is_object(*args)) {
		snprintf(field, fn, "args");
		return "args must be an object";
	}
	/* several workflows may take one type, told apart by an argument (purpose) */
	const struct wf_event *ev = wf_set_event(a->ws, *type, *args);
	if (!ev) {
		const struct wf_event *any = wf_set_event(a->ws, *type, NULL);
		const char *mk = "args";
		json_t *mv;
		json_object_foreach(any->match, mk, mv)
			break;
		snprintf(field, fn, "args.%s", mk ? mk : "");
		return "no workflow takes this job with this value";
	}
	json_object_foreach(*args, name, v) {
		if (!json_object_get(ev->args, name)) {
			snprintf(field, fn, "args.%s", name);
			*code = "UNKNOWN_FIELD";
			return "this job type takes no such argument";
		}
		if (!json_is_string(v)) {
			snprintf(field, fn, "args.%s", name);
			return "must be a string";
		}
	}
	json_object_foreach(ev->args, name, v) {
		json_t *val = json_object_get(*args, name);
		snprintf(field, fn, "args.%s", name);
		if (!val) {
			if (wf_arg_optional(json_string_value(v)))
				continue;
			*code = "MISSING_FIELD";
			return "missing field";
		}
		const char *why = wf_arg_check(json_string_value(v), json_string_value(val));
		if (why)
			return why;
	}
	field[0] = 0;
	return NULL;
}

static void post_job(struct api *a, struct http_req *req, const char *front)
{
	json_error_t jerr;
	char field[160], buf[32], msg[300];
	const char *type, *key, *code, *why;
	json_t *args, *obj;
	uint64_t wait_ms = 0;

	if (http_req_query_param(req, "wait", buf, sizeof(buf))) {
		char *end;
		long long w = strtoll(buf, &end, 10);
		if (*end || w < 0) {
			reply_error(a, req, 400, "INVALID_FIELD",
				    "wait is a number of milliseconds", "wait");
			return;
		}
		wait_ms = (uint64_t)(w > API_MAX_WAIT_MS ? API_MAX_WAIT_MS : w);
	}
	obj = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!obj) {
		snprintf(msg, sizeof(msg), "malformed JSON at line %d column %d: %s", jerr.line,
			 jerr.column, jerr.text);
		reply_error(a, req, 400, "MALFORMED_JSON", msg, NULL);
		return;
	}
	why = check_job(a, obj, &type, &args, &key, &code, field, sizeof(field));
	if (why) {
		reply_error(a, req, 400, code, why, field[0] ? field : NULL);
		json_decref(obj);
		return;
	}
	struct pending *p = xcalloc(1, sizeof(*p));
	p->a = a;
	p->req = req;
	p->wait_ms = wait_ms;
	jobs_submit(a->jobs, front, type, args, key, on_durable, p);
	json_decref(obj);
}

/* a batch: one result line per input line, sent when every job is durable */
struct batch {
	struct api *a;
	struct http_req *req;
	json_t *results; /* one entry per line */
	int pending;
};

struct batch_item {
	struct batch *b;
	size_t idx;
};

static void batch_finish(struct batch *b)
{
	size_t i, len = 0, cap = 4096;
	json_t *r;
	char *out = xmalloc(cap);
	json_array_foreach(b->results, i, r) {
		if (json_is_null(r))
			continue; /* a blank line */
		char *line = json_dumps(r, JSON_COMPACT);
		size_t n = strlen(line);
		if (len + n + 2 > cap) {
			cap = (len + n + 2) * 2;
			out = xrealloc(out, cap);
		}
		memcpy(out + len, line, n);
		len += n;
		out[len++] = '\n';
		free(line);
	}
	http_respond(b->req, 200, "application/x-ndjson", out, len);
	free(out);
	json_decref(b->results);
	free(b);
}

static void batch_durable(void *arg, int rc, json_t *view)
{
	struct batch_item *it = arg;
	struct batch *b = it->b;
	json_t *r = json_array_get(b->results, it->idx);
	if (rc < 0) {
		json_object_set_new(r, "error",
				    json_pack("{s:s, s:s, s:n}", "code", "UNAVAILABLE", "message",
					      "the job store cannot take the job now", "field"));
	} else {
		json_object_set(r, "id", json_object_get(view, "id"));
		json_object_set(r, "state", json_object_get(view, "state"));
	}
	free(it);
	if (--b->pending == 0)
		batch_finish(b);
}

/* post_batch - NDJSON, one job a line; a bad line is rejected alone */
static void post_batch(struct api *a, struct http_req *req, const char *front)
{
	struct batch *b = xcalloc(1, sizeof(*b));
	const char *p = req->body, *end = req->body + req->body_len;
	size_t lineno = 0;

	b->a = a;
	b->req = req;
	b->results = json_array();
	b->pending = 1; /* held until every line is submitted */
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		size_t n = (size_t)(le - p);
		lineno++;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		int blank = 1;
		for (size_t i = 0; i < n; i++)
			if (p[i] != ' ' && p[i] != '\t')
				blank = 0;
		if (blank) {
			json_array_append_new(b->results, json_null());
			p = le + 1;
			continue;
		}
		json_t *r = json_pack("{s:I}", "line", (json_int_t)lineno);
		json_array_append_new(b->results, r);
		json_error_t jerr;
		json_t *obj = json_loadb(p, n, JSON_REJECT_DUPLICATES, &jerr);
		char field[160], msg[300];
		const char *type, *key, *code, *why;
		json_t *args;
		if (!obj) {
			snprintf(msg, sizeof(msg), "malformed JSON at column %d: %s", jerr.column,
				 jerr.text);
			json_object_set_new(r, "error",
					    json_pack("{s:s, s:s, s:n}", "code", "MALFORMED_JSON",
						      "message", msg, "field"));
			a->rejected++;
		} else if ((why = check_job(a, obj, &type, &args, &key, &code, field,
					    sizeof(field)))) {
			json_object_set_new(r, "error",
					    json_pack("{s:s, s:s, s:o}", "code", code, "message",
						      why, "field",
						      field[0] ? json_string(field) : json_null()));
			a->rejected++;
		} else {
			struct batch_item *it = xcalloc(1, sizeof(*it));
			it->b = b;
			it->idx = json_array_size(b->results) - 1;
			b->pending++;
			jobs_submit(a->jobs, front, type, args, key, batch_durable, it);
		}
		json_decref(obj);
		p = le + 1;
	}
	if (--b->pending == 0)
		batch_finish(b);
}

static void get_job(struct api *a, struct http_req *req, const char *id, const char *front)
{
	json_t *view = NULL, *rec = NULL;
	char key[32];
	snprintf(key, sizeof(key), "j:%s", id);
	/* a front sees its own jobs only */
	if (!id_valid(id) || store_get(a->st, key, &rec) < 0 ||
	    strcmp(rec_str(rec, "front") ? rec_str(rec, "front") : "", front) ||
	    jobs_view(a->jobs, id, &view) < 0) {
		json_decref(rec);
		reply_error(a, req, 404, "NOT_FOUND", "no such job", NULL);
		return;
	}
	json_decref(rec);
	reply_json(req, 200, view);
	json_decref(view);
}

static void get_account(struct api *a, struct http_req *req, const char *id)
{
	json_t *rec = NULL, *out, *wfs;
	char key[32];
	const char *name;
	json_t *v;

	snprintf(key, sizeof(key), "a:%s", id);
	if (!id_valid(id) || store_get(a->st, key, &rec) < 0) {
		reply_error(a, req, 404, "NOT_FOUND", "no such account", NULL);
		return;
	}
	out = json_object();
	wfs = json_object();
	json_object_foreach(rec, name, v) {
		if (!strcmp(name, "pwhash") || !strcmp(name, "kind") || !strcmp(name, "idno"))
			continue; /* never leaves the engine */
		if (!strncmp(name, "wf.", 3))
			json_object_set(wfs, name + 3, v);
		else
			json_object_set(out, name, v);
	}
	json_object_set_new(out, "workflows", wfs);
	reply_json(req, 200, out);
	json_decref(out);
	json_decref(rec);
}

/* list_kind - records of a kind whose col equals val, as public JSON objects */
static json_t *list_records(struct api *a, const char *col, const char *val, const char *kind,
			    const char *const *hide)
{
	json_t *keys = NULL, *k, *out = json_array();
	size_t i;
	if (store_find(a->st, col, val, 0, &keys) < 0)
		return out;
	json_array_foreach(keys, i, k) {
		json_t *rec;
		if (store_get(a->st, json_string_value(k), &rec) < 0)
			continue;
		if (!strcmp(rec_str(rec, "kind") ? rec_str(rec, "kind") : "", kind)) {
			for (int h = 0; hide[h]; h++)
				json_object_del(rec, hide[h]);
			json_array_append(out, rec);
		}
		json_decref(rec);
	}
	json_decref(keys);
	return out;
}

static void get_inbox(struct api *a, struct http_req *req, const char *id)
{
	static const char *hide[] = {"kind", NULL};
	json_t *items = list_records(a, "account", id, "inbox", hide), *it;
	size_t i;
	int64_t now = now_ms();
	/* an unanswered request past its time shows as expired */
	json_array_foreach(items, i, it) {
		json_object_set(it, "state", json_object_get(it, "istate"));
		json_object_del(it, "istate");
		if (!strcmp(rec_str(it, "state"), "open") && now >= rec_int(it, "expires", 0))
			json_object_set_new(it, "state", json_string("expired"));
	}
	json_t *r = json_pack("{s:s, s:o}", "account", id, "items", items);
	reply_json(req, 200, r);
	json_decref(r);
}

static void get_reviews(struct api *a, struct http_req *req)
{
	static const char *hide[] = {"kind", "photo", NULL};
	char want[32];
	if (!http_req_query_param(req, "state", want, sizeof(want)))
		snprintf(want, sizeof(want), "pending");
	json_t *all = list_records(a, "kind", "review", "review", hide), *out = json_array(), *r;
	size_t i;
	json_array_foreach(all, i, r) {
		if (strcmp(rec_str(r, "rstate"), want) != 0)
			continue;
		json_object_set(r, "state", json_object_get(r, "rstate"));
		json_object_del(r, "rstate");
		json_object_set_new(r, "photo_url",
				    json_sprintf("/v1/reviews/%s/photo", rec_str(r, "id")));
		json_array_append(out, r);
	}
	json_decref(all);
	json_t *body = json_pack("{s:o}", "reviews", out);
	reply_json(req, 200, body);
	json_decref(body);
}

/* get_review_photo - the photo as uploaded, for the reviewer */
static void get_review_photo(struct api *a, struct http_req *req, const char *id)
{
	char key[64];
	json_t *rec = NULL;
	snprintf(key, sizeof(key), "r:%s", id);
	if (!id_valid(id) || store_get(a->st, key, &rec) < 0 || !rec_str(rec, "photo")) {
		json_decref(rec);
		reply_error(a, req, 404, "NOT_FOUND", "no such review", NULL);
		return;
	}
	const char *b64 = rec_str(rec, "photo");
	size_t cap = strlen(b64), n = 0;
	unsigned char *bin = xmalloc(cap + 1);
	if (sodium_base642bin(bin, cap + 1, b64, cap, "\r\n", &n, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0)
		n = 0;
	http_respond(req, 200,
		     rec_str(rec, "photo_type") ? rec_str(rec, "photo_type") : "image/jpeg",
		     (const char *)bin, n);
	free(bin);
	json_decref(rec);
}

/* get_metrics - Prometheus text exposition of the engine's counters */
static void get_metrics(struct api *a, struct http_req *req)
{
	static const struct {
		const char *key, *name, *type, *help;
	} m[] = {
		{"queued", "regflow_jobs_queued", "gauge", "Jobs accepted and not yet run."},
		{"hashing", "regflow_jobs_hashing", "gauge",
		 "Jobs waiting for their password hash."},
		{"done", "regflow_jobs_done_total", "counter", "Jobs run to a result."},
		{"failed", "regflow_jobs_failed_total", "counter",
		 "Jobs with no transition for their state."},
		{"commits", "regflow_store_commits_total", "counter",
		 "Group commits (one disk sync each)."},
		{"commit_failures", "regflow_store_commit_failures_total", "counter",
		 "Transactions the store refused."},
		{"timers_fired", "regflow_timers_fired_total", "counter",
		 "Workflow timers that fell due."},
		{"records", "regflow_store_records", "gauge", "Records in the database."},
	};
	json_t *st = jobs_stats(a->jobs);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	for (size_t i = 0; f && i < sizeof(m) / sizeof(m[0]); i++)
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", m[i].name, m[i].help, m[i].name,
			m[i].type, m[i].name,
			(long long)json_integer_value(json_object_get(st, m[i].key)));
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
			(long long)a->requests, (long long)a->rejected, a->ws->n);
		fclose(f);
	}
	http_respond(req, 200, "text/plain; version=0.0.4", out ? out : "", out ? len : 0);
	free(out);
	json_decref(st);
}

static void get_health(struct api *a, struct http_req *req)
{
	json_t *h = json_pack("{s:s, s:I, s:i, s:o}", "status", "ok", "uptime_ms",
			      (json_int_t)(now_ms() - a->started_ms), "workflows", a->ws->n, "jobs",
			      jobs_stats(a->jobs));
	reply_json(req, 200, h);
	json_decref(h);
}

void api_handle(struct http_req *req, void *data)
{
	struct api *a = data;
	const char *path = req->path;
	const char *front;
	int is_get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
	int is_post = strcmp(req->method, "POST") == 0;

	a->requests++;
	if (strcmp(path, "/v1/health") == 0) {
		if (!is_get)
			goto bad_method;
		get_health(a, req);
		return;
	}
	if (strcmp(path, "/metrics") == 0) {
		if (!is_get)
			goto bad_method;
		get_metrics(a, req);
		return;
	}
	if (strncmp(path, "/v1/", 4) != 0) {
		reply_error(a, req, 404, "NOT_FOUND", "no such resource", NULL);
		return;
	}
	front = auth_check(a->auth, http_req_header(req, "Authorization"));
	if (!front) {
		http_respond_header(req, "WWW-Authenticate", "Bearer");
		reply_error(a, req, 401, "UNAUTHORIZED", "missing or wrong bearer token", NULL);
		return;
	}
	if (strcmp(path, "/v1/jobs/batch") == 0) {
		if (!is_post)
			goto bad_method;
		post_batch(a, req, front);
		return;
	}
	if (strcmp(path, "/v1/jobs") == 0) {
		if (!is_post)
			goto bad_method;
		post_job(a, req, front);
		return;
	}
	if (strncmp(path, "/v1/jobs/", 9) == 0) {
		if (!is_get)
			goto bad_method;
		get_job(a, req, path + 9, front);
		return;
	}
	if (strncmp(path, "/v1/accounts/", 13) == 0 && strstr(path + 13, "/inbox") &&
	    strlen(path + 13) == ID_LEN + 6 && !strcmp(path + 13 + ID_LEN, "/inbox")) {
		char id[ID_LEN + 1];
		snprintf(id, sizeof(id), "%.*s", ID_LEN, path + 13);
		if (!is_get)
			goto bad_method;
		get_inbox(a, req, id);
		return;
	}
	if (strcmp(path, "/v1/reviews") == 0) {
		if (!is_get)
			goto bad_method;
		get_reviews(a, req);
		return;
	}
	if (strncmp(path, "/v1/reviews/", 12) == 0 && strlen(path + 12) == ID_LEN + 6 &&
	    !strcmp(path + 12 + ID_LEN, "/photo")) {
		char id[ID_LEN + 1];
		snprintf(id, sizeof(id), "%.*s", ID_LEN, path + 12);
		if (!is_get)
			goto bad_method;
		get_review_photo(a, req, id);
		return;
	}
	if (strncmp(path, "/v1/accounts/", 13) == 0 && !strchr(path + 13, '/')) {
		if (!is_get)
			goto bad_method;
		get_account(a, req, path + 13);
		return;
	}
	reply_error(a, req, 404, "NOT_FOUND", "no such resource", NULL);
	return;
bad_method:
	reply_error(a, req, 405, "METHOD_NOT_ALLOWED", "method not allowed here", NULL);
}
