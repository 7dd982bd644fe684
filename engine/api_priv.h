/*
 * api_priv - what the API's files share: the reply helpers and the
 * handlers the route table (api.c) names.  Private to api*.c.
 */
#ifndef REGFLOW_API_PRIV_H
#define REGFLOW_API_PRIV_H

#include "api.h"
#include "auth.h"

#include <jansson.h>

/* a matched request: the path's :id, who calls */
struct api_call {
	struct api *a;
	struct http_req *req;
	const char *id;		   /* the pattern's :id segment, or NULL */
	const struct auth_id *who; /* the token's front and roles; NULL for an open route */
	const char *front;	   /* who->name */
};

typedef void (*api_handler_fn)(struct api_call *c);

void api_reply_json(struct http_req *req, int status, json_t *body);
void api_reply_error(struct api *a, struct http_req *req, int status, const char *code,
		     const char *message, const char *field);
/* api_forbidden - 403 FORBIDDEN: the token lacks the role, named */
void api_forbidden(struct api *a, struct http_req *req, const char *role, const char *field);

/* api_jobs.c */
void api_post_job(struct api_call *c);
void api_post_batch(struct api_call *c);
void api_get_job(struct api_call *c);
/* api_staff.c */
void api_find_accounts(struct api_call *c);
void api_get_history(struct api_call *c);
void api_get_review(struct api_call *c);
void api_post_outcomes(struct api_call *c);
void api_post_reload(struct api_call *c);
void api_post_backup(struct api_call *c);
/* api_workflows.c */
void api_get_workflows(struct api_call *c);
void api_get_workflow_version(struct api_call *c);
/* api_reads.c */
void api_get_account(struct api_call *c);
void api_get_inbox(struct api_call *c);
void api_get_reviews(struct api_call *c);
void api_get_review_photo(struct api_call *c);
void api_get_metrics(struct api_call *c);
void api_get_health(struct api_call *c);

#endif
