/*
 * api - the job API of SPEC section 3 on top of the HTTP server: routes
 * (a table: method, path pattern, who may call, handler), bearer auth,
 * JSON validation and the error shape {"error": {"code", "message", "field"}}.
 */
#ifndef REGFLOW_API_H
#define REGFLOW_API_H

#include "engine.h"
#include "http.h"

struct api {
	struct engine *e;
	int64_t requests, rejected;
};

/* api_handle - the http_handler_fn of the engine (data is struct api *) */
void api_handle(struct http_req *req, void *data);
/* api_handle_monitor - the monitoring listener's: health and metrics only */
void api_handle_monitor(struct http_req *req, void *data);

#endif
