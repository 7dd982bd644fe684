/*
 * api - the job API of SPEC section 3 on top of the HTTP server: routes,
 * bearer auth, JSON validation and the error shape
 * {"error": {"code", "message", "field"}}.
 */
#ifndef REGFLOW_API_H
#define REGFLOW_API_H

#include "auth.h"
#include "http.h"
#include "jobs.h"
#include "store.h"
#include "wf.h"

struct api {
	struct jobs *jobs;
	struct store *st;
	const struct wf_set *ws;
	struct auth *auth;
	int64_t started_ms;
	int64_t requests, rejected;
};

/* api_handle - the http_handler_fn of the engine (data is struct api *) */
void api_handle(struct http_req *req, void *data);

#endif
