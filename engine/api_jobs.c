/*
 * api_jobs - POST /v1/jobs, POST /v1/jobs/batch, GET /v1/jobs/ID: a job is
 * checked (its type taken by a loaded workflow, every argument by the type
 * its event declares) before it is handed to the queue; the reply waits
 * for it to be durable, and with ?wait=MS for its outcome.
 */
#include "api_priv.h"
#include "buf.h"
#include "jobs.h"
#include "rec.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_MAX_WAIT_MS 30000
#define API_MAX_KEY 128
#define API_BATCH_REPLY_MAX (64u << 20)

/* a job's problem: the status, the error code, the message, the field it names */
struct verdict {
	int status;
	const char *code, *why;
	char field[160];
	char why_buf[512]; /* a why made for this refusal */
};

static const char *refuse(struct verdict *v, const char *code, const char *why, const char *field)
{
	v->status = 400;
	v->code = code;
	v->why = why;
	snprintf(v->field, sizeof(v->field), "%s", field ? field : "");
	return why;
}

/* check_envelope - type, key and args of one job object */
static const char *check_envelope(struct api *a, json_t *obj, const char **type, json_t **args,
				  const char **key, struct verdict *v)
{
	const char *name;
	json_t *m;
	if (!json_is_object(obj))
		return refuse(v, "MALFORMED_JSON", "a job is a JSON object", NULL);
	json_object_foreach(obj, name, m)
		if (strcmp(name, "type") && strcmp(name, "args") && strcmp(name, "key"))
			return refuse(v, "UNKNOWN_FIELD", "unknown field", name);
	m = json_object_get(obj, "type");
	if (!m)
		return refuse(v, "MISSING_FIELD", "missing field", "type");
	if (!json_is_string(m))
		return refuse(v, "INVALID_FIELD", "type must be a string", "type");
	*type = json_string_value(m);
	if (!wf_set_has_type(a->e->ws, *type))
		return refuse(v, "UNKNOWN_TYPE", "unknown job type", "type");
	m = json_object_get(obj, "key");
	*key = NULL;
	if (m && (!json_is_string(m) || json_string_length(m) == 0 ||
		  json_string_length(m) > API_MAX_KEY || strpbrk(json_string_value(m), "\r\n")))
		return refuse(v, "INVALID_FIELD", "key must be a string of 1 to 128 characters",
			      "key");
	*key = m ? json_string_value(m) : NULL;
	*args = json_object_get(obj, "args");
	if (!*args)
		return refuse(v, "MISSING_FIELD", "missing field", "args");
	if (!json_is_object(*args))
		return refuse(v, "INVALID_FIELD", "args must be an object", "args");
	return NULL;
}

static int is_caller(const char *type)
{
	char base[32];
	return !strcmp(wf_arg_base(type, base, sizeof(base)), "caller");
}

/* fill_caller - an argument of type caller is the token's name, whatever
 * the caller sent (a review's reviewer is who decided it) */
static void fill_caller(const struct wf_event *ev, json_t *args, const struct auth_id *who)
{
	const char *name;
	json_t *m;
	json_object_foreach(ev->args, name, m)
		if (is_caller(json_string_value(m)))
			json_object_set_new(args, name, json_string(who->name));
}

/* check_args - every argument by the type its event declares */
/* check_id_type - an id_type is one of id_types.conf, else a 400 naming it and the list */
static const char *check_id_type(const struct wf_set *ws, const char *type_, const char *val,
				 struct verdict *v, const char *field)
{
	char type[32];
	if (strcmp(wf_arg_base(type_, type, sizeof(type)), "id_type") || wf_idtype_find(ws, val))
		return NULL;
	char *names = wf_idtype_names(ws);
	snprintf(v->why_buf, sizeof(v->why_buf), "unknown id type (one of: %s)", names);
	free(names);
	return refuse(v, "INVALID_FIELD", v->why_buf, field);
}

static const char *check_args(const struct wf_set *ws, const struct wf_event *ev, json_t *args,
			      struct verdict *v)
{
	const char *name;
	json_t *m;
	char field[160];
	json_object_foreach(args, name, m) {
		snprintf(field, sizeof(field), "args.%s", name);
		if (!json_object_get(ev->args, name))
			return refuse(v, "UNKNOWN_FIELD", "this job type takes no such argument",
				      field);
		if (!json_is_string(m))
			return refuse(v, "INVALID_FIELD", "must be a string", field);
	}
	json_object_foreach(ev->args, name, m) {
		json_t *val = json_object_get(args, name);
		snprintf(field, sizeof(field), "args.%s", name);
		if (is_caller(json_string_value(m)))
			continue; /* the engine's to fill */
		if (!val && wf_arg_optional(json_string_value(m)))
			continue;
		if (!val)
			return refuse(v, "MISSING_FIELD", "missing field", field);
		const char *why = wf_arg_check(json_string_value(m), json_string_value(val));
		if (why)
			return refuse(v, "INVALID_FIELD", why, field);
		if ((why = check_id_type(ws, json_string_value(m), json_string_value(val), v,
					 field)))
			return why;
	}
	return NULL;
}

/* check_job - validate one job object for who; NULL and its event if fine */
static const char *check_job(struct api *a, const struct auth_id *who, json_t *obj,
			     const struct wf_event **ev, json_t **args, const char **key,
			     struct verdict *v)
{
	const char *type, *why = check_envelope(a, obj, &type, args, key, v);
	if (why)
		return why;
	/* several workflows may take one type, told apart by an argument (purpose) */
	*ev = wf_set_event(a->e->ws, type, *args);
	if (!*ev) {
		const struct wf_event *any = wf_set_event(a->e->ws, type, NULL);
		const char *mk = "args";
		json_t *mv;
		char field[160];
		json_object_foreach(any->match, mk, mv)
			break;
		snprintf(field, sizeof(field), "args.%s", mk ? mk : "");
		return refuse(v, "INVALID_FIELD", "no workflow takes this job with this value",
			      field);
	}
	/* every job type declares the role it needs (front unless its workflow says) */
	if (!auth_may(who, auth_role_parse((*ev)->role, strlen((*ev)->role)))) {
		refuse(v, "FORBIDDEN", "this token does not hold the role this job type needs",
		       "type");
		v->status = 403;
		return v->why;
	}
	if ((why = check_args(a->e->ws, *ev, *args, v)))
		return why;
	fill_caller(*ev, *args, who);
	return NULL;
}

static json_t *verdict_json(const struct verdict *v)
{
	return json_pack("{s:s, s:s, s:o}", "code", v->code, "message", v->why, "field",
			 v->field[0] ? json_string(v->field) : json_null());
}

/* a pending request: waiting for durability, then maybe for the outcome */
struct pending {
	struct api *a;
	struct http_req *req;
	uint64_t wait_ms;
	int transient; /* not durable (a login): its view is its result */
};

static void on_outcome(void *arg, int rc, json_t *view)
{
	struct pending *p = arg;
	const char *state = json_string_value(json_object_get(view, "state"));
	int done = state && (!strcmp(state, "done") || !strcmp(state, "failed"));
	api_reply_json(p->req, done ? 200 : 202, view);
	free(p);
}

static void on_durable(void *arg, int rc, json_t *view)
{
	struct pending *p = arg;
	if (rc == -ENOSPC) { /* the disk fell short while it waited: not written */
		http_respond_header(p->req, "Retry-After", "5");
		api_reply_error(p->a, p->req, 503, "OVERLOADED",
				"the engine is busy (the job store's disk is short of space): try "
				"again in 5 s",
				NULL);
		free(p);
		return;
	}
	if (rc < 0) {
		api_reply_error(p->a, p->req, 503, "UNAVAILABLE",
				"the job store cannot take the job now; nothing was written", NULL);
		free(p);
		return;
	}
	if (p->transient) { /* answered with its result (a login is never a 202) */
		api_reply_json(p->req, 200, view);
		free(p);
		return;
	}
	if (p->wait_ms > 0) {
		jobs_wait(p->a->e->jobs, json_string_value(json_object_get(view, "id")), p->wait_ms,
			  on_outcome, p);
		return;
	}
	json_t *r = json_pack("{s:O, s:O}", "id", json_object_get(view, "id"), "state",
			      json_object_get(view, "state"));
	api_reply_json(p->req, 202, r);
	json_decref(r);
	free(p);
}

/* wait_param - ?wait=MS, capped; -EINVAL if it is not a number */
static int wait_param(struct http_req *req, uint64_t *ms)
{
	char buf[32], *end;
	*ms = 0;
	if (!http_req_query_param(req, "wait", buf, sizeof(buf)))
		return 0;
	long long w = strtoll(buf, &end, 10);
	if (*end || w < 0)
		return -EINVAL;
	*ms = (uint64_t)(w > API_MAX_WAIT_MS ? API_MAX_WAIT_MS : w);
	return 0;
}

/* overloaded_message - what a refused caller is told */
static const char *overloaded_message(const struct admit_refusal *no, char *buf, size_t n)
{
	static const char *const what[ADMIT_NREASONS] = {
		"too many passwords are being hashed", "too many jobs are waiting",
		"the job store's disk is short of space",
		"its workflows differ from another node's"};
	snprintf(buf, n, "the engine is busy (%s): try again in %d s", what[no->reason],
		 no->retry_s);
	return buf;
}

void api_post_job(struct api_call *c)
{
	json_error_t jerr;
	struct verdict v;
	const struct wf_event *ev;
	const char *key;
	json_t *args, *obj;
	uint64_t wait_ms;
	char msg[300];

	if (wait_param(c->req, &wait_ms) < 0) {
		api_reply_error(c->a, c->req, 400, "INVALID_FIELD",
				"wait is a number of milliseconds", "wait");
		return;
	}
	obj = json_loadb(c->req->body, c->req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!obj) {
		snprintf(msg, sizeof(msg), "malformed JSON at line %d column %d: %s", jerr.line,
			 jerr.column, jerr.text);
		api_reply_error(c->a, c->req, 400, "MALFORMED_JSON", msg, NULL);
		return;
	}
	struct admit_refusal no;
	if (check_job(c->a, c->who, obj, &ev, &args, &key, &v)) {
		api_reply_error(c->a, c->req, v.status, v.code, v.why, v.field[0] ? v.field : NULL);
	} else if (jobs_admit(c->a->e->jobs, ev, c->front, args, &no) < 0) {
		char after[16];
		snprintf(after, sizeof(after), "%d", no.retry_s);
		http_respond_header(c->req, "Retry-After", after);
		api_reply_error(c->a, c->req, 503, "OVERLOADED",
				overloaded_message(&no, msg, sizeof(msg)), NULL);
	} else {
		struct pending *p = xcalloc(1, sizeof(*p));
		p->a = c->a;
		p->req = c->req;
		p->wait_ms = wait_ms;
		p->transient = !ev->durable;
		jobs_submit(c->a->e->jobs, ev, c->front, args, key, on_durable, p);
	}
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
	size_t i, len;
	json_t *r;
	struct buf out;
	buf_init(&out, API_BATCH_REPLY_MAX);
	json_array_foreach(b->results, i, r) {
		if (json_is_null(r))
			continue; /* a blank line */
		char *line = json_dumps(r, JSON_COMPACT);
		buf_adds(&out, line);
		buf_add(&out, "\n", 1);
		free(line);
	}
	char *text = buf_take(&out, &len);
	http_respond(b->req, 200, "application/x-ndjson", text, len);
	free(text);
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
		if (json_object_get(view, "result")) /* a login's answer is its result */
			json_object_set(r, "result", json_object_get(view, "result"));
	}
	free(it);
	if (--b->pending == 0)
		batch_finish(b);
}

static int blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t')
			return 0;
	return 1;
}

/* batch_line - check one line and submit it; its result slot is r */
static void batch_line(struct batch *b, const char *p, size_t n, json_t *r,
		       const struct auth_id *who)
{
	json_error_t jerr;
	struct verdict v;
	struct admit_refusal no;
	const struct wf_event *ev;
	const char *key;
	json_t *args, *obj = json_loadb(p, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!obj) {
		char msg[300];
		snprintf(msg, sizeof(msg), "malformed JSON at column %d: %s", jerr.column,
			 jerr.text);
		json_object_set_new(r, "error",
				    json_pack("{s:s, s:s, s:n}", "code", "MALFORMED_JSON",
					      "message", msg, "field"));
		b->a->rejected++;
	} else if (check_job(b->a, who, obj, &ev, &args, &key, &v)) {
		json_object_set_new(r, "error", verdict_json(&v));
		b->a->rejected++;
	} else if (jobs_admit(b->a->e->jobs, ev, who->name, args, &no) < 0) {
		char msg[160];
		json_object_set_new(r, "error",
				    json_pack("{s:s, s:s, s:n, s:i}", "code", "OVERLOADED",
					      "message", overloaded_message(&no, msg, sizeof(msg)),
					      "field", "retry_after", no.retry_s));
		b->a->rejected++;
	} else {
		struct batch_item *it = xcalloc(1, sizeof(*it));
		it->b = b;
		it->idx = json_array_size(b->results) - 1;
		b->pending++;
		jobs_submit(b->a->e->jobs, ev, who->name, args, key, batch_durable, it);
	}
	json_decref(obj);
}

/* api_post_batch - NDJSON, one job a line; a bad line is rejected alone */
void api_post_batch(struct api_call *c)
{
	struct batch *b = xcalloc(1, sizeof(*b));
	const char *p = c->req->body, *end = c->req->body + c->req->body_len;
	size_t lineno = 0;

	b->a = c->a;
	b->req = c->req;
	b->results = json_array();
	b->pending = 1; /* held until every line is submitted */
	for (; p < end; lineno++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl ? nl : end;
		size_t n = (size_t)(le - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (blank(p, n)) {
			json_array_append_new(b->results, json_null());
		} else {
			json_t *r = json_pack("{s:I}", "line", (json_int_t)lineno + 1);
			json_array_append_new(b->results, r);
			batch_line(b, p, n, r, c->who);
		}
		p = le + 1;
	}
	if (--b->pending == 0)
		batch_finish(b);
}

void api_get_job(struct api_call *c)
{
	json_t *view = NULL, *rec = NULL;
	/* a front sees its own jobs only */
	if (!id_valid(c->id) || rec_job_get(c->a->e->st, c->id, &rec) < 0 ||
	    !rec_is(rec, "front", c->front) || jobs_view(c->a->e->jobs, c->id, &view) < 0) {
		json_decref(rec);
		api_reply_error(c->a, c->req, 404, "NOT_FOUND", "no such job", NULL);
		return;
	}
	json_decref(rec);
	api_reply_json(c->req, 200, view);
	json_decref(view);
}
