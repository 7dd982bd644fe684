/*
 * jobs - the engine's job queue: intake, group commit, execution, waiters,
 * outbox.
 *
 * A submitted job is written to the store and committed (synced) before
 * its submitter hears "queued": nothing acknowledged is lost.  Jobs run in
 * order on the loop; many intakes and runs share one transaction and one
 * sync (group commit).  Outbox messages commit with the state change that
 * made them and reach the spool after the commit; at start the queue and
 * the outbox are re-driven (the spool takes a message id once).
 */
#ifndef REGFLOW_JOBS_H
#define REGFLOW_JOBS_H

#include "engine.h"
#include "wf.h"

#include <jansson.h>
#include <stdio.h>

struct jobs;

/* jobs_done_fn - rc 0 with the job's view {"id","type","state","result"?}, or -errno */
typedef void (*jobs_done_fn)(void *arg, int rc, json_t *view);

struct jobs_cfg {
	const char *spool_dir;
	int group_max;		  /* jobs per transaction */
	uint64_t retry_ms;	  /* after a failed transaction; 0: 1 s */
	int hash_threads;	  /* password hashes at once; 0: one per core */
	int64_t deadline_ms;	  /* admission: the work a queue takes must be done within it */
	int queue_max;		  /* admission: jobs taken and not yet run, at most */
	int64_t disk_check_ms;	  /* how often the free space is looked at when short */
	int64_t disk_reserve_mib; /* free space kept on the database's disk */
	const char *db_path;	  /* where that disk is */
	int node;		  /* engine.node (a shared store: whose queued work is whose) */
	uint64_t sweep_ms;	  /* a shared store: how often dead engines' work is looked for */
	uint64_t commit_delay_ms; /* a hashed job's group waits this long for the other hashes */
};

/* why a job was refused (admit.c) */
enum admit_reason { ADMIT_HASHING, ADMIT_QUEUE, ADMIT_DISK, ADMIT_WORKFLOWS, ADMIT_NREASONS };
struct admit_refusal {
	enum admit_reason reason;
	int retry_s; /* Retry-After */
};

/* jobs_open - the queue on e's store; queued jobs and outbox messages a
 * crash left are recovered */
int jobs_open(struct engine *e, const struct jobs_cfg *cfg, struct jobs **out);
/*
 * jobs_submit - accept a job of event ev (of the current set), its args
 * validated by the caller (copied); passwords are hashed off the loop
 * first.  done runs once the job is durable (or failed to be).  A key
 * already used by this front returns the first job instead.
 */
void jobs_submit(struct jobs *j, const struct wf_event *ev, const char *front, json_t *args,
		 const char *key, jobs_done_fn done, void *arg);
/*
 * jobs_admit - 0 if a job of ev from front can be taken now; -EAGAIN (why
 * and when to retry in out) when its queue is full.  Call before
 * jobs_submit, for each job (admit.c).
 */
int jobs_admit(struct jobs *j, const struct wf_event *ev, const char *front, const json_t *args,
	       struct admit_refusal *out);
const char *jobs_refusal_name(enum admit_reason r);
/* jobs_admission - the bounds, depths and refusals, for health and metrics */
json_t *jobs_admission(struct jobs *j);
/* jobs_history - an entry for an account's history (fields taken: what,
 * by, ...), written with the next group: a staff look-up, a delivery's
 * outcome.  Not acknowledged: lost only if the engine dies before it */
void jobs_history(struct jobs *j, const char *account, const char *what, json_t *fields);
/* jobs_wait - done(view) when the job has finished, or after timeout_ms */
void jobs_wait(struct jobs *j, const char *id, uint64_t timeout_ms, jobs_done_fn done, void *arg);
/* jobs_view - the job's current view, or -ENOENT */
int jobs_view(struct jobs *j, const char *id, json_t **view);
/* jobs_stats - counts for health and metrics */
json_t *jobs_stats(struct jobs *j);
/* jobs_metrics - the queue's histograms and refusals as Prometheus text */
void jobs_metrics(struct jobs *j, FILE *f);
/* jobs_store_calls - the store's operations since start, by kind */
json_t *jobs_store_calls(struct jobs *j);
/* jobs_close - stop: pending submitters are told -ECANCELED; j is freed
 * once the last password hash running on the thread pool is done */
void jobs_close(struct jobs *j);

#endif
