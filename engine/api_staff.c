/*
 * api_staff - the routes of the staff: the help desk's look-ups of
 * accounts (by address, phone or id number, with a name) and histories, a
 * reviewer's view of one review, and the gateway's report of what became
 * of each message.  Output is masked as the seed masks (186********), never
 * a hash; every look-up and history read is itself in the account's
 * history, with the token's name.
 */
#include "api_priv.h"
#include "jobs.h"
#include "log.h"
#include "rec.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE_MAX 50
#define HISTORY_MAX 500

/* mask_idno - 110***********1234: the region and the last four stay */
static void mask_idno(const char *s, char *out, size_t n)
{
	size_t len = strlen(s);
	snprintf(out, n, "%.3s", s);
	for (size_t i = 3; i < len && i + 1 < n; i++) {
		out[i] = (char)(i + 4 >= len ? s[i] : '*');
		out[i + 1] = 0;
	}
}

/* mask_name - 李*: the first character (UTF-8) stays */
static void mask_name(const char *s, char *out, size_t n)
{
	size_t first = 1;
	while (s[first] && ((unsigned char)s[first] & 0xC0) == 0x80)
		first++;
	snprintf(out, n, "%.*s*", (int)first, s);
}

/* masked - an account as the help desk sees it */
static json_t *masked(const json_t *a)
{
	char buf[256];
	json_t *o = json_object(), *wfs = json_object(), *v;
	const char *name;
	static const char *plain[] = {"id", "status", "front", "created", "reg_by", "review", NULL};
	for (int i = 0; plain[i]; i++)
		if (rec_str(a, plain[i]))
			json_object_set_new(o, plain[i], json_string(rec_str(a, plain[i])));
	static const char *ids[] = {"login", "email", "phone", "contact_phone", NULL};
	for (int i = 0; ids[i]; i++)
		if (rec_str(a, ids[i]) && *rec_str(a, ids[i])) {
			wf_mask(rec_str(a, ids[i]), buf, sizeof(buf));
			json_object_set_new(o, ids[i], json_string(buf));
		}
	if (rec_str(a, "idno") && *rec_str(a, "idno")) {
		mask_idno(rec_str(a, "idno"), buf, sizeof(buf));
		json_object_set_new(o, "idno", json_string(buf));
	}
	if (rec_str(a, "name") && *rec_str(a, "name")) {
		mask_name(rec_str(a, "name"), buf, sizeof(buf));
		json_object_set_new(o, "name", json_string(buf));
	}
	json_object_foreach((json_t *)a, name, v)
		if (!strncmp(name, "wf.", 3))
			json_object_set(wfs, name + 3, v);
	json_object_set_new(o, "workflows", wfs);
	return o;
}

/* query_col - the one look-up key given (email, phone, idno) and its value */
static const char *query_col(struct http_req *req, char *val, size_t n)
{
	static const char *cols[] = {"email", "phone", "idno", NULL};
	const char *found = NULL;
	for (int i = 0; cols[i]; i++)
		if (http_req_query_param(req, cols[i], val, n)) {
			if (found)
				return NULL; /* one at a time */
			found = cols[i];
		}
	if (found)
		http_req_query_param(req, found, val, n);
	return found;
}

/* lower_or_upper - a value as the index holds it: id numbers in upper case
 * (the check character X), addresses in lower case */
static void lower_or_upper(const char *col, char *v)
{
	int up = !strcmp(col, "idno");
	for (; *v; v++)
		*v = (char)(up ? toupper((unsigned char)*v) : tolower((unsigned char)*v));
}

/* api_find_accounts - GET /v1/accounts?email=|phone=|idno=[&name=][&after=ID][&limit=N] */
void api_find_accounts(struct api_call *c)
{
	char val[256], name[128], after[32] = "", lim[16];
	const char *col = query_col(c->req, val, sizeof(val));
	int want_name = http_req_query_param(c->req, "name", name, sizeof(name)) != NULL;
	int limit = http_req_query_param(c->req, "limit", lim, sizeof(lim)) ? atoi(lim) : 20;
	json_t *keys = NULL, *k, *out = json_array();
	size_t i;
	if (!col || !*val) {
		json_decref(out);
		api_reply_error(c->a, c->req, 400, "MISSING_FIELD",
				"one of email, phone or idno (name= only together with one)",
				"email");
		return;
	}
	limit = limit < 1 ? 1 : limit > PAGE_MAX ? PAGE_MAX : limit;
	http_req_query_param(c->req, "after", after, sizeof(after));
	lower_or_upper(col, val);
	if (rec_find(c->a->e->st, REC_ACCOUNT, col, val, &keys) == 0)
		json_array_foreach(keys, i, k) {
			json_t *a;
			const char *id = rec_key_id(json_string_value(k));
			if ((after[0] && strcmp(id, after) <= 0) ||
			    rec_get_key(c->a->e->st, json_string_value(k), &a) < 0)
				continue;
			if ((!want_name || rec_is(a, "name", name)) &&
			    json_array_size(out) < (size_t)limit) {
				json_array_append_new(out, masked(a));
				jobs_history(c->a->e->jobs, id, "lookup",
					     json_pack("{s:s, s:s}", "by", c->front, "key", col));
			}
			json_decref(a);
		}
	json_t *body = json_pack("{s:o}", "accounts", out);
	if (json_array_size(out) == (size_t)limit)
		json_object_set_new(body, "next",
				    json_string(json_string_value(json_object_get(
					    json_array_get(out, (size_t)limit - 1), "id"))));
	api_reply_json(c->req, 200, body);
	json_decref(body);
	json_decref(keys);
}

/* api_get_history - GET /v1/accounts/ID/history: oldest first, secrets never in it */
void api_get_history(struct api_call *c)
{
	json_t *acct = NULL, *keys = NULL, *k, *out = json_array();
	size_t i;
	if (!id_valid(c->id) || rec_account_get(c->a->e->st, c->id, &acct) < 0) {
		json_decref(out);
		api_reply_error(c->a, c->req, 404, "NOT_FOUND", "no such account", NULL);
		return;
	}
	if (rec_of_account(c->a->e->st, REC_HISTORY, c->id, &keys) == 0)
		json_array_foreach(keys, i, k) {
			json_t *h;
			if (i >= HISTORY_MAX)
				break;
			if (rec_get_key(c->a->e->st, json_string_value(k), &h) == 0) {
				json_t *pub = rec_public(REC_HISTORY, h);
				json_object_del(pub, "account");
				json_object_del(pub, "purge");
				json_array_append_new(out, pub);
				json_decref(h);
			}
		}
	jobs_history(c->a->e->jobs, c->id, "history_read", json_pack("{s:s}", "by", c->front));
	json_t *body = json_pack("{s:s, s:o}", "account", c->id, "history", out);
	api_reply_json(c->req, 200, body);
	json_decref(body);
	json_decref(keys);
	json_decref(acct);
}

/* api_get_review - GET /v1/reviews/ID: the review as its reviewer sees it */
void api_get_review(struct api_call *c)
{
	json_t *rec = NULL;
	if (!id_valid(c->id) || rec_get(c->a->e->st, REC_REVIEW, c->id, &rec) < 0) {
		api_reply_error(c->a, c->req, 404, "NOT_FOUND", "no such review", NULL);
		return;
	}
	json_t *pub = rec_public(REC_REVIEW, rec);
	json_object_set(pub, "state", json_object_get(pub, "rstate"));
	json_object_del(pub, "rstate");
	json_object_set_new(pub, "photo_url", json_sprintf("/v1/reviews/%s/photo", c->id));
	api_reply_json(c->req, 200, pub);
	json_decref(pub);
	json_decref(rec);
}

/* api_post_outcomes - POST /v1/outcomes (the gateway): what became of each
 * message, {"outcomes": [{"id", "account", "state", "detail"?}, ...]},
 * into its account's history; a bounce, a refused mailbox or a failed SMS
 * as the job delivery_failed, a check's answer ("state": "answered",
 * "answer") as the job SERVICE_answer.  The answer is 200 once every job
 * is durable (the gateway then forgets the answers of checks), else 503. */
struct outcomes_call {
	struct api *a;
	struct http_req *req;
	int pending; /* jobs not yet durable, and one for the loop over the batch */
	int failed;  /* a job was not taken */
	size_t recorded;
};

static void outcomes_reply(struct outcomes_call *oc)
{
	if (oc->failed) {
		http_respond_header(oc->req, "Retry-After", "5");
		api_reply_error(oc->a, oc->req, 503, "UNAVAILABLE",
				"the job store cannot take the outcomes' jobs now: send them again",
				NULL);
	} else {
		json_t *r = json_pack("{s:I}", "recorded", (json_int_t)oc->recorded);
		api_reply_json(oc->req, 200, r);
		json_decref(r);
	}
	free(oc);
}

static void outcome_job_done(void *arg, int rc, json_t *view)
{
	struct outcomes_call *oc = arg;
	if (rc < 0) {
		log_warn("an outcome's job was not taken: %s", strerror(-rc));
		oc->failed = 1;
	}
	if (--oc->pending == 0)
		outcomes_reply(oc);
}

/* mailbox_refused - a relay's final refusal of the recipient itself: an
 * RFC 3463 5.1.x status (but 5.1.7 and 5.1.8, the sender's) decides; with
 * none, RFC 5321's 550, 551 or 553 */
static int mailbox_refused(const char *channel, const char *detail)
{
	if (!channel || strcmp(channel, "email") || !detail)
		return 0;
	const char *e = strstr(detail, " 5.");
	if (e && e[3] && strchr("0123456789", e[3]) && e[4] == '.') /* an enhanced status */
		return e[3] == '1' && e[5] != '7' && e[5] != '8';
	return (!strncmp(detail, "550", 3) || !strncmp(detail, "551", 3) ||
		!strncmp(detail, "553", 3)) &&
	       (detail[3] == ' ' || detail[3] == '-');
}

#define OSTR(o, k) json_string_value(json_object_get(o, k))

/* job_of - the job an outcome asks the workflows for, its arguments checked
 * as any job's, and its idempotency key (a message fails once, a check is
 * answered once: a batch sent again runs each once); NULL if none */
static json_t *job_of(struct api_call *c, json_t *o, const struct wf_event **ev, char *key,
		      size_t keylen)
{
	const char *state = OSTR(o, "state"), *ch = OSTR(o, "channel"), *to = OSTR(o, "to");
	const char *detail = OSTR(o, "detail"), *id = OSTR(o, "id"), *acct = OSTR(o, "account");
	char evname[64];
	json_t *args;
	*ev = NULL;
	if (!state || !to)
		return NULL;
	if (!strcmp(state, "answered") && ch && !strcmp(ch, "check") && wf_service_known(to) &&
	    OSTR(o, "answer")) {
		snprintf(evname, sizeof(evname), "%s_answer", to);
		snprintf(key, keylen, "check:%s", id);
		args = json_pack("{s:s, s:s, s:s}", "account", acct, "check", id, "result",
				 OSTR(o, "answer"));
	} else if (!strcmp(state, "bounced") || !strcmp(state, "undelivered") ||
		   (!strcmp(state, "failed") && mailbox_refused(ch, detail))) {
		snprintf(evname, sizeof(evname), "delivery_failed");
		snprintf(key, keylen, "delivery:%s", id);
		args = json_pack("{s:s, s:s, s:s}", "account", acct, "channel", ch ? ch : "email",
				 "to", to);
	} else {
		return NULL;
	}
	if (detail) {
		char *clip = utf8_clip(detail, 300);
		json_object_set_new(args, "detail", json_string(clip));
		free(clip);
	}
	*ev = wf_set_event(c->a->e->ws, evname, args);
	const char *name;
	json_t *v;
	json_object_foreach(args, name, v) {
		const char *type =
			*ev ? json_string_value(json_object_get((*ev)->args, name)) : NULL;
		if (!type || wf_arg_check(type, json_string_value(v))) {
			*ev = NULL; /* not the shape the event takes: no job */
			break;
		}
	}
	if (!*ev) {
		json_decref(args);
		return NULL;
	}
	return args;
}

/* outcome_ok - an outcome the engine records */
static int outcome_ok(json_t *o)
{
	const char *id = OSTR(o, "id"), *acct = OSTR(o, "account"), *state = OSTR(o, "state");
	return id && id_valid(id) && acct && id_valid(acct) && state && strlen(state) <= 32;
}

/* admitted - every job the outcomes ask for can be taken now; else a 503
 * with Retry-After (nothing recorded: the gateway sends the batch again) */
static int admitted(struct api_call *c, json_t *list)
{
	size_t i;
	json_t *o;
	json_array_foreach(list, i, o) {
		const struct wf_event *ev = NULL;
		struct admit_refusal no;
		char key[64];
		json_t *args = outcome_ok(o) ? job_of(c, o, &ev, key, sizeof(key)) : NULL;
		int rc = args ? jobs_admit(c->a->e->jobs, ev, c->front, args, &no) : 0;
		json_decref(args);
		if (rc < 0) {
			char after[16];
			snprintf(after, sizeof(after), "%d", no.retry_s);
			http_respond_header(c->req, "Retry-After", after);
			api_reply_error(c->a, c->req, 503, "OVERLOADED",
					"the engine is busy: send the outcomes again later", NULL);
			return 0;
		}
	}
	return 1;
}

/* record - one outcome into its account's history, and its job */
static void record(struct api_call *c, struct outcomes_call *oc, json_t *o)
{
	const char *detail = OSTR(o, "detail");
	const struct wf_event *ev = NULL;
	char key[64];
	json_t *f = json_pack("{s:s, s:s, s:s}", "spool", OSTR(o, "id"), "state", OSTR(o, "state"),
			      "by", c->front);
	if (detail) {
		char *clip = utf8_clip(detail, 300);
		json_object_set_new(f, "detail", json_string(clip));
		free(clip);
	}
	if (OSTR(o, "answer"))
		json_object_set_new(f, "answer", json_string(OSTR(o, "answer")));
	jobs_history(c->a->e->jobs, OSTR(o, "account"), "delivery", f);
	json_t *args = job_of(c, o, &ev, key, sizeof(key));
	if (!args && !strcmp(OSTR(o, "state"), "answered"))
		log_warn("check %s (%s) answered %s, but no workflow takes its answer: only the "
			 "account's history has it",
			 OSTR(o, "id"), OSTR(o, "to") ? OSTR(o, "to") : "?",
			 OSTR(o, "answer") ? OSTR(o, "answer") : "?");
	if (args) {
		oc->pending++;
		jobs_submit(c->a->e->jobs, ev, c->front, args, key, outcome_job_done, oc);
		json_decref(args);
	}
	oc->recorded++;
}

void api_post_outcomes(struct api_call *c)
{
	json_error_t jerr;
	json_t *body = json_loadb(c->req->body, c->req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *list = json_object_get(body, "outcomes"), *o;
	size_t i;
	if (!json_is_array(list)) {
		json_decref(body);
		api_reply_error(c->a, c->req, 400, "MALFORMED_JSON",
				"expected {\"outcomes\": [{\"id\", \"account\", \"state\"}]}",
				NULL);
		return;
	}
	if (!admitted(c, list)) {
		json_decref(body);
		return;
	}
	struct outcomes_call *oc = xcalloc(1, sizeof(*oc));
	oc->a = c->a;
	oc->req = c->req;
	oc->pending = 1;
	json_array_foreach(list, i, o)
		if (outcome_ok(o))
			record(c, oc, o);
	json_decref(body);
	if (--oc->pending == 0)
		outcomes_reply(oc);
}

/* reloaded - the reload's outcome, as the operator's tool reads it */
static void reloaded(void *arg, int rc, json_t *report)
{
	struct http_req *req = arg;
	struct api *a = req->user;
	json_t *body = json_deep_copy(report);
	int status = 200;
	if (rc < 0) {
		static const struct {
			int rc, status;
			const char *code, *msg;
		} why[] = {
			{-EIO, 503, "UNAVAILABLE",
			 "the store cannot record the workflow versions; the running set stays"},
			{-EINVAL, 400, "INVALID_WORKFLOWS",
			 "the workflow files have errors (errors); the running set stays"},
			{-EBUSY, 409, "RELOAD_BUSY", "another reload is being checked"},
		};
		for (size_t i = 0; i < sizeof(why) / sizeof(why[0]); i++)
			if (why[i].rc == rc) {
				status = why[i].status;
				json_object_set_new(body, "error",
						    json_pack("{s:s, s:s, s:n}", "code",
							      why[i].code, "message", why[i].msg,
							      "field"));
			}
		a->rejected++;
	}
	api_reply_json(req, status, body);
	json_decref(body);
}

/* api_post_reload - POST /v1/reload[?force=1]: what SIGHUP does, answered */
void api_post_reload(struct api_call *c)
{
	char buf[8];
	const char *f = http_req_query_param(c->req, "force", buf, sizeof(buf));
	c->req->user = c->a;
	c->a->e->reload(c->a->e, f && !strcmp(f, "1"), reloaded, c->req);
}

/* api_post_backup - POST /v1/backup: a consistent copy of the store into
 * engine.backup_dir as regflow-MS.tct (0600), written as .part and renamed
 * when whole; done between two group commits on the loop (it holds the
 * engine for as long as the copy takes: seconds a GiB) */
void api_post_backup(struct api_call *c)
{
	struct engine *e = c->a->e;
	char dir[PATH_MAX], part[PATH_MAX + 64], path[PATH_MAX + 32];
	struct stat sb;
	int rc = mkdir_p(e->backup_dir, 0700);
	if (rc < 0 || !realpath(e->backup_dir, dir)) {
		api_reply_error(c->a, c->req, 503, "UNAVAILABLE",
				"engine.backup_dir cannot be made", NULL);
		return;
	}
	int64_t now = now_ms();
	snprintf(path, sizeof(path), "%s/regflow-%lld.tct", dir, (long long)now);
	snprintf(part, sizeof(part), "%s.part", path);
	rc = store_backup(e->st, part);
	if (rc == 0 && rename(part, path) < 0)
		rc = -errno;
	if (rc < 0) {
		unlink(part);
		log_err("backup: %s", rc == -ENOTSUP
					      ? "not this store's (PostgreSQL: pg_basebackup)"
					      : store_error(e->st));
		api_reply_error(
			c->a, c->req, rc == -ENOTSUP ? 409 : 503,
			rc == -ENOTSUP ? "NOT_SUPPORTED" : "UNAVAILABLE",
			rc == -ENOTSUP
				? "this store is PostgreSQL's: back it up with its own tools "
				  "(pg_basebackup, WAL archiving)"
				: "the copy failed (the engine's log says why)",
			NULL);
		return;
	}
	fsync_dir(dir);
	json_t *r = json_pack("{s:s, s:I}", "file", path, "bytes",
			      (json_int_t)(stat(path, &sb) == 0 ? sb.st_size : 0));
	log_info("backup: %s", path);
	api_reply_json(c->req, 200, r);
	json_decref(r);
}
