/*
 * wf_ctx - the state of one workflow run, shared by the interpreter
 * (wf_run.c, wf_subject.c) and the action code (wf_actions.c, act_*.c),
 * and the helpers on it (wf_ctx.c).  Private to the runtime.
 */
#ifndef REGFLOW_WF_CTX_H
#define REGFLOW_WF_CTX_H

#include "rec.h"
#include "wf.h"

struct codekey_ring;

struct wf_ctx {
	const struct wf_set *ws;
	const struct codekey_ring *keys; /* what short codes are hashed with */
	const struct wf *wf;
	const struct wf_event *ev; /* NULL for a timer */
	struct store *st;
	json_t *args;
	json_t *vars;	     /* template variables */
	json_t *writes;	     /* committed only if the transition succeeds */
	json_t *sticky;	     /* committed in any case (attempt counts, rate limits) */
	json_t *outbox;	     /* keys of the outbox records in writes */
	json_t *account;     /* the subject, changed in place */
	json_t *account_was; /* as it was read: an unchanged subject is not written */
	char akey[REC_KEY_MAX];
	const char *front;
	const char *job_id; /* the job run (its history entry names it), or NULL */
	const char *code;   /* reply */
	int64_t now;
	int64_t secret_expires; /* expiry of the secret issued in this transition */
	const char *secret;	/* the clear secret, for the spool envelope */
	json_t *other;		/* another account an action looked up (lookup, inbox_answer) */
	json_t *token;		/* the token verify_token took (set_password from = "token") */
	char okey[REC_KEY_MAX];
	const char *goto_state; /* set by "goto": overrides the transition's "to" */
	json_t *extra;		/* more fields for the reply (warnings, review id) */
	int created;		/* the subject is new in this run */
	int failed;		/* an action failed: nothing of the transition is kept */
	int err;		/* a store error seen by wf_ctx_get: the run is void */
};

/*
 * an action's outcome: 0 done, WF_ACT_FAILED the transition fails with
 * c->code (wf_ctx_fail), or a negative errno (a store error: the job is
 * not run, its group is retried)
 */
enum { WF_ACT_FAILED = 1 };
typedef int (*wf_act_fn)(struct wf_ctx *c, const struct wf_action *a);
/* wf_act_of - the code of an op of the schema (wf_actions.c) */
wf_act_fn wf_act_of(enum wf_op op);
/* wf_act_run - run one action */
static inline int wf_act_run(struct wf_ctx *c, const struct wf_action *a)
{
	return wf_act_of(a->def->op)(c, a);
}

/* wf_ctx_init, wf_ctx_release - a run's context for ws on st at now */
void wf_ctx_init(struct wf_ctx *c, const struct wf_set *ws, struct store *st, int64_t now);
void wf_ctx_release(struct wf_ctx *c);
/* wf_ctx_derive - the variables made from the job's arguments: client_net
 * (client_ip, IPv6 by its /64) and mailbox (email, one per person) */
void wf_ctx_derive(struct wf_ctx *c);

/* wf_ctx_history - an entry of the subject's history (what: job, state,
 * message; fields taken); sticky: kept even if the transition fails */
void wf_ctx_history(struct wf_ctx *c, const char *what, json_t *fields, int sticky);

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
/* wf_ctx_fail - end the transition with code: returns WF_ACT_FAILED */
int wf_ctx_fail(struct wf_ctx *c, const char *code);
const char *wf_ctx_account_id(const struct wf_ctx *c);
/* wf_ctx_account_records - keys of the subject's records of a kind (token,
 * code, timer), as this run sees them (those it deleted left out) */
int wf_ctx_account_records(struct wf_ctx *c, enum rec_kind kind, json_t **keys);
/* wf_ctx_copy - a private copy of the record at key to change, or NULL */
json_t *wf_ctx_copy(struct wf_ctx *c, const char *key);
/* wf_ctx_extra - the reply's extra fields, made on first use */
json_t *wf_ctx_extra(struct wf_ctx *c);
/* wf_verify_outcome - after the subject lookup (found: its outcome), the
 * password check's: WF_ACT_FAILED with LOGIN_FAILED (a failure counted) or
 * 0 (the failures forgotten, an old hash replaced) (wf_verify.c) */
int wf_verify_outcome(struct wf_ctx *c, int found);
/* wf_ctx_find_subject - the event's subject (wf_subject.c): 0 found or
 * created, WF_ACT_FAILED missing (c->code set), or -errno */
int wf_ctx_find_subject(struct wf_ctx *c);

#endif
