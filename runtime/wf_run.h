/*
 * wf_run - run one event (job) or one timer through its workflow.
 *
 * The run reads the store but writes nothing: it returns the records to
 * write (and delete) so that the caller commits them, the job's own record
 * and its outbox messages in one transaction (the engine groups many jobs
 * per commit).  A failed action leaves only its own bookkeeping (attempt
 * counts, rate-limit counters) in the writes.  A store error while reading
 * voids the run: a negative errno and no writes.
 */
#ifndef REGFLOW_WF_RUN_H
#define REGFLOW_WF_RUN_H

#include "store.h"
#include "wf.h"

struct wf_out {
	json_t *result; /* {"code", "message", "account"?} */
	json_t *writes; /* key -> record, or null to delete */
	json_t *outbox; /* keys of the outbox records in writes */
	int failed;	/* 1: the job failed (no transition): job state "failed" */
};

/* wf_run_event - run ev with args as the API accepted them (passwords
 * already hashed); args are normalised in place (addresses in lower case) */
int wf_run_event(const struct wf_set *ws, const struct wf_event *ev, struct store *st, json_t *args,
		 const char *front, int64_t now, struct wf_out *out);
/* wf_run_job - the same for job job_id (its history entry names it) */
int wf_run_job(const struct wf_set *ws, const struct wf_event *ev, struct store *st, json_t *args,
	       const char *front, const char *job_id, int64_t now, struct wf_out *out);
/* wf_run - the same for a job type (its event found in ws): -ENOENT if none */
int wf_run(const struct wf_set *ws, struct store *st, const char *type, json_t *args,
	   const char *front, int64_t now, struct wf_out *out);
/*
 * wf_fire_timer - run the timer record at key if its account is still in
 * the state that set it; the timer record is deleted in any case.
 */
int wf_fire_timer(const struct wf_set *ws, struct store *st, const char *key, int64_t now,
		  struct wf_out *out);
void wf_out_free(struct wf_out *out);
/* wf_run_set_keys - the code keys issue_code and verify_code hash with
 * (common/codekey.h); kept by the caller, replaced between runs (reload) */
struct codekey_ring;
void wf_run_set_keys(const struct codekey_ring *keys);
/* wf_version_fn - the latest version of workflow name that has state, or NULL */
typedef const struct wf *(*wf_version_fn)(const char *name, const char *state);
/* wf_run_set_versions - where runs find the old versions accounts stay on
 * (an account in a state the newest version removed) */
void wf_run_set_versions(wf_version_fn fn);
/* wf_run_migrate - move the account at akey from a state workflow w no
 * longer has to state to (w's migrate), as a transition would: its
 * writes in out; 0 also when there is nothing to move */
int wf_run_migrate(const struct wf_set *ws, const struct wf *w, struct store *st, const char *akey,
		   int64_t now, struct wf_out *out);
/* wf_run_set_service - whether "ask" asks service name (engine.registry):
 * with it off, ask does nothing and {{asked}} stays unset */
void wf_run_set_service(const char *name, int on);
/* wf_apply - write every record of writes into st (inside the caller's transaction) */
int wf_apply(struct store *st, json_t *writes);

#endif
