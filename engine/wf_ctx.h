/*
 * wf_ctx - the state of one workflow run, shared by the interpreter
 * (wf_run.c) and the action library (wf_actions.c).  Private to them.
 */
#ifndef REGFLOW_WF_CTX_H
#define REGFLOW_WF_CTX_H

#include "store.h"
#include "wf.h"

struct wf_ctx {
	const struct wf_set *ws;
	const struct wf *wf;
	const struct wf_event *ev; /* NULL for a timer */
	struct store *st;
	json_t *args;
	json_t *vars;	 /* template variables */
	json_t *writes;	 /* committed only if the transition succeeds */
	json_t *sticky;	 /* committed in any case (attempt counts, rate limits) */
	json_t *outbox;	 /* keys of the outbox records in writes */
	json_t *account; /* the subject, changed in place */
	char akey[64];
	const char *front;
	const char *code; /* reply */
	int64_t now;
	int64_t secret_expires; /* expiry of the secret issued in this transition */
	const char *secret;	/* the clear secret, for the spool envelope */
	json_t *other;		/* another account an action looked up (lookup, inbox_answer) */
	char okey[64];
	const char *goto_state; /* set by "goto": overrides the transition's "to" */
	json_t *extra;		/* more fields for the reply (warnings, review id) */
	int created;		/* the subject is new in this run */
	int failed;		/* an action failed: nothing of the transition is kept */
};

/* wf_ctx_set_other - make rec (or none) the "other" account: vars other_* */
void wf_ctx_set_other(struct wf_ctx *c, const char *key, json_t *rec);
/* wf_ctx_cond - 1 if the condition holds (account field first, then variable) */
int wf_ctx_cond(struct wf_ctx *c, const struct wf_cond *k);

/* ctx_get - a record as this run sees it: its own writes first, then the store */
json_t *wf_ctx_get(struct wf_ctx *c, const char *key);
/* wf_ctx_put - add a write (sticky: kept even if the transition fails) */
void wf_ctx_put(struct wf_ctx *c, const char *key, json_t *rec, int sticky);
/* wf_render - replace {{name}} by the variable's value; caller frees */
char *wf_render(const json_t *vars, const char *text);
/* wf_ctx_fail - end the transition with code: returns 1 for run() */
int wf_ctx_fail(struct wf_ctx *c, const char *code);
const char *wf_ctx_account_id(const struct wf_ctx *c);
/* wf_ctx_account_records - keys of the subject's records of a kind (token, code, timer) */
int wf_ctx_account_records(struct wf_ctx *c, const char *kind, json_t **keys);

#endif
