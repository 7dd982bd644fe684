/*
 * wf_run - run one event (job) through its workflow.
 *
 * The run reads the store but writes nothing: it returns the records to
 * write (and delete) so that the caller commits them, the job's own record
 * and its outbox messages in one transaction (jobs.c groups many jobs per
 * commit).  A failed action leaves only its own bookkeeping (attempt
 * counts) in the writes.
 */
#ifndef REGFLOW_WF_RUN_H
#define REGFLOW_WF_RUN_H

#include "store.h"
#include "wf.h"

struct wf_out {
	json_t *result; /* {"code", "message", "account"?} */
	json_t *writes; /* key -> record, or null to delete */
	json_t *outbox; /* ids of the outbox records in writes ("o:ID" keys) */
	int failed;	/* 1: the job failed (no transition): job state "failed" */
};

/* wf_run - args as accepted by the API (passwords already hashed) */
int wf_run(const struct wf_set *ws, struct store *st, const char *type, json_t *args,
	   const char *front, int64_t now, struct wf_out *out);
/*
 * wf_fire_timer - run the timer record at key if its account is still in
 * the state that set it; the timer record is deleted in any case.
 */
int wf_fire_timer(const struct wf_set *ws, struct store *st, const char *key, int64_t now,
		  struct wf_out *out);
void wf_out_free(struct wf_out *out);
/* wf_apply - write every record of writes into st (inside the caller's transaction) */
int wf_apply(struct store *st, json_t *writes);
/* wf_account_key - "a:ID" into buf */
const char *wf_account_key(const char *id, char *buf, size_t n);

#endif
