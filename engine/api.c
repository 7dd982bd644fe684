/*
 * api - the routes of the job API (see api.h, SPEC section 3) as a table,
 * the reply helpers, and the dispatch: a route is found by its path
 * pattern ("/v1/accounts/:id/inbox"), the caller's token checked when the
 * route needs one, the method checked (HEAD with GET), the handler called.
 */
#include "api_priv.h"
#include "auth.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum api_method { API_GET, API_POST };

#define OPEN 0u		/* no token: monitoring */
#define ANY_TOKEN (~0u) /* any token; the job type (or the record) decides */
#define FRONT AUTH_FRONT
#define STAFF(r) (r)

static const struct route {
	enum api_method method;
	const char *pattern; /* literal segments and ":id" (one segment) */
	unsigned roles;	     /* any one of them will do (admin: every route) */
	api_handler_fn fn;
	const char *help;
} routes[] = {
	{API_GET, "/v1/health", OPEN, api_get_health, "liveness and counters"},
	{API_GET, "/metrics", OPEN, api_get_metrics, "Prometheus text"},
	{API_POST, "/v1/jobs/batch", ANY_TOKEN, api_post_batch, "NDJSON jobs, a result line each"},
	{API_POST, "/v1/jobs", ANY_TOKEN, api_post_job, "submit a job (?wait=MS)"},
	{API_GET, "/v1/jobs/:id", ANY_TOKEN, api_get_job, "a job of this front"},
	{API_GET, "/v1/accounts/:id/inbox", FRONT | AUTH_HELPDESK, api_get_inbox,
	 "an account's inbox"},
	{API_GET, "/v1/accounts/:id/history", STAFF(AUTH_HELPDESK), api_get_history,
	 "an account's history"},
	{API_GET, "/v1/accounts", STAFF(AUTH_HELPDESK), api_find_accounts,
	 "accounts by email=, phone= or idno= (and name=), masked"},
	{API_GET, "/v1/accounts/:id", FRONT | AUTH_HELPDESK | AUTH_REVIEWER, api_get_account,
	 "an account"},
	{API_GET, "/v1/reviews", STAFF(AUTH_REVIEWER), api_get_reviews, "reviews (?state=)"},
	{API_GET, "/v1/reviews/:id/photo", STAFF(AUTH_REVIEWER), api_get_review_photo,
	 "a review's photo"},
	{API_GET, "/v1/reviews/:id", STAFF(AUTH_REVIEWER), api_get_review, "a review"},
	{API_POST, "/v1/outcomes", STAFF(AUTH_GATEWAY), api_post_outcomes,
	 "the gateway: what became of each message"},
	{API_GET, "/v1/workflows", STAFF(AUTH_ADMIN), api_get_workflows,
	 "the workflows' versions, with the accounts and timers on each"},
	{API_GET, "/v1/workflows/:id", STAFF(AUTH_ADMIN), api_get_workflow_version,
	 "a workflow version's file (NAME@VERSION)"},
	{API_POST, "/v1/backup", STAFF(AUTH_ADMIN), api_post_backup,
	 "a consistent copy of the Tokyo Cabinet store into engine.backup_dir"},
	{API_POST, "/v1/reload", STAFF(AUTH_ADMIN), api_post_reload,
	 "reload tokens, certificate, code keys and workflows (?force=1)"},
};

/* route_role - the role a route's refusal names */
static const char *route_role(unsigned roles)
{
	for (unsigned r = 1; r && r <= AUTH_ADMIN; r <<= 1)
		if (roles & r)
			return auth_role_name(r);
	return "admin";
}

void api_reply_json(struct http_req *req, int status, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);
	http_respond(req, status, "application/json; charset=utf-8", text, strlen(text));
	free(text);
}

void api_forbidden(struct api *a, struct http_req *req, const char *role, const char *field)
{
	char msg[160];
	snprintf(msg, sizeof(msg), "this token does not hold the role %s", role);
	api_reply_error(a, req, 403, "FORBIDDEN", msg, field);
}

void api_reply_error(struct api *a, struct http_req *req, int status, const char *code,
		     const char *message, const char *field)
{
	json_t *e = json_pack("{s:{s:s, s:s, s:o}}", "error", "code", code, "message", message,
			      "field", field ? json_string(field) : json_null());
	a->rejected++;
	api_reply_json(req, status, e);
	json_decref(e);
}

/* match - 1 if path fits pattern; the ":id" segment is copied to id */
static int match(const char *pattern, const char *path, char *id, size_t idn)
{
	while (*pattern && *path) {
		if (pattern[0] == ':') {
			size_t n = strcspn(path, "/");
			if (n == 0 || n >= idn)
				return 0;
			memcpy(id, path, n);
			id[n] = 0;
			path += n;
			pattern += strcspn(pattern, "/");
			continue;
		}
		if (*pattern++ != *path++)
			return 0;
	}
	return !*pattern && !*path;
}

/* route_of - the route for this path and method; *path_route the first
 * route of the path whatever its method (NULL: no such path) */
static const struct route *route_of(const struct http_req *req, char *id, size_t idn,
				    const struct route **path_route)
{
	int get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");
	int post = !strcmp(req->method, "POST");
	*path_route = NULL;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!match(routes[i].pattern, req->path, id, idn))
			continue;
		if (!*path_route)
			*path_route = &routes[i];
		if ((routes[i].method == API_GET && get) || (routes[i].method == API_POST && post))
			return &routes[i];
	}
	return NULL;
}

void api_handle_monitor(struct http_req *req, void *data)
{
	struct api *a = data;
	struct api_call c = {.a = a, .req = req};
	char id[128] = "";
	const struct route *any, *r = route_of(req, id, sizeof(id), &any);
	a->requests++;
	if (!r || r->roles != OPEN) {
		api_reply_error(a, req, any && any->roles == OPEN ? 405 : 404,
				any && any->roles == OPEN ? "METHOD_NOT_ALLOWED" : "NOT_FOUND",
				"this listener serves /v1/health and /metrics only", NULL);
		return;
	}
	r->fn(&c);
}

void api_handle(struct http_req *req, void *data)
{
	struct api *a = data;
	struct api_call c = {.a = a, .req = req};
	char id[128] = "";
	const struct route *any, *r = route_of(req, id, sizeof(id), &any);

	a->requests++;
	if (!(any && any->roles == OPEN) && !strncmp(req->path, "/v1/", 4)) {
		/* everything under /v1/ but health needs a token, even to hear 404 */
		c.who = auth_check(a->e->auth, http_req_header(req, "Authorization"));
		c.front = c.who ? c.who->name : NULL;
		if (!c.who) {
			http_respond_header(req, "WWW-Authenticate", "Bearer");
			api_reply_error(a, req, 401, "UNAUTHORIZED",
					"missing or wrong bearer token", NULL);
			return;
		}
	}
	if (!r && any) {
		api_reply_error(a, req, 405, "METHOD_NOT_ALLOWED", "method not allowed here", NULL);
		return;
	}
	if (!r) {
		api_reply_error(a, req, 404, "NOT_FOUND", "no such resource", NULL);
		return;
	}
	if (r->roles != OPEN && r->roles != ANY_TOKEN && !auth_may(c.who, r->roles)) {
		api_forbidden(a, req, route_role(r->roles), NULL);
		return;
	}
	c.id = id[0] ? id : NULL;
	r->fn(&c);
}
