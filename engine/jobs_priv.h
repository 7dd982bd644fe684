/*
 * jobs_priv - what the job queue's files share: the queue, a job in
 * memory, one group (one transaction).  Private to intake.c, group.c,
 * waiters.c, outbox.c and jobs.c.
 *
 * A job lives in memory from its submission until it has run and its
 * submitter has been answered; it carries its resolved event (and a
 * reference to the set it came from) the whole way, and its arguments are
 * parsed once.  Two lists hold jobs: the intake (submitted, maybe still
 * hashing, not yet written) and the run queue (written, or being written
 * in the current group, and not yet run).
 */
#ifndef REGFLOW_JOBS_PRIV_H
#define REGFLOW_JOBS_PRIV_H

#include "hashpool.h"
#include "jobs.h"
#include "latency.h"
#include "util.h"

struct job {
	struct jobs *j;
	char id[ID_LEN + 1];
	char *front, *type, *key;
	char *skey; /* its subject in the arguments ("email=a@b"); NULL: none */
	json_t *args;
	struct wf_set *ws;	   /* the set ev belongs to (a reference) */
	const struct wf_event *ev; /* NULL: no workflow takes it any more */
	jobs_done_fn done;	   /* the submitter, until answered; NULL for a recovered job */
	void *arg;
	int64_t created;
	int64_t submitted_ms;  /* when it was submitted (or recovered): its latency */
	int rc;		       /* <0: its intake failed (hashing): answered with it */
	int hashing;	       /* waiting for its password hash: later intakes wait too */
	int dup;	       /* its key named an earlier job (id): that job is the answer */
	int fresh;	       /* in the run queue, but its record not yet on disk */
	int queued;	       /* in the run queue */
	int transient;	       /* not durable (a login): never written, answered with its result */
	int in_group;	       /* an intake of the group being written */
	char *verify_hash;     /* with a password check: the stored hash (NULL: the dummy's) */
	uv_timer_t *delay;     /* with a password check: the slowdown's wait */
	json_t *view;	       /* after its run: the view waiters get */
	struct hash_task hash; /* password hashing off the loop */
	struct job *next_in;   /* intake list */
	struct job *next_run;
};

/* one group: the work of one transaction */
struct group {
	struct job *in;	  /* intakes taken, in arrival order */
	int nran;	  /* jobs run from the head of the run queue */
	json_t *due;	  /* timer keys due */
	json_t *purge;	  /* keys past their retention */
	json_t *spool;	  /* outbox records committed by this group */
	json_t *finished; /* views of the jobs that ran */
	json_t *history;  /* the history entries this group writes */
	int64_t now;
};

struct waiter;

struct jobs {
	struct engine *e;
	struct store *st;
	struct jobs_cfg cfg;
	uv_timer_t tick; /* 0 ms timer: the next loop turn */
	uv_timer_t retry;
	uv_timer_t timers; /* the next workflow timer or purge due */
	uv_timer_t spool_retry;
	uv_timer_t outbox_later; /* the spooled records' deletes, if no group comes first */
	int tick_armed;
	int tick_soon; /* the armed tick waits engine.commit_delay (jobs_arm_soon) */
	struct job *in_head, **in_tail;
	struct job *run_head, **run_tail;
	int nrun;
	struct waiter *waiters;
	struct hashpool *hashes;
	char dummy_hash[128]; /* checked for a login nobody has: the same work, the same time */
	int64_t locked_out;   /* password checks refused by a lockout, without hashing */
	json_t *outbox_del;   /* outbox keys spooled, to delete in the next group */
	json_t *history;      /* key -> history entry, written with the next group */
	json_t *outbox_retry; /* committed outbox records the spool refused for now */
	int hashing;	      /* intakes whose password is being hashed */
	json_t *hashing_by;   /* front -> its intakes hashing */
	int nintake;	      /* jobs in the intake list */
	int64_t backoffs;     /* groups taken again later after repeated conflicts */
	int64_t refused[ADMIT_NREASONS];
	int disk_full;	       /* free space below the reserve: new jobs refused */
	struct latency *lat;   /* job latencies by type and result code */
	int spooling;	       /* batches of messages on their way to the spool */
	int64_t spooling_msgs; /* the messages in them */
	int64_t done_total, failed_total, commits, commit_fail, timers_fired, purged;
	int64_t conflicts;     /* groups written again after another engine's (shared store) */
	int64_t ran_elsewhere; /* queued jobs found run by another engine */
	int64_t adopted;       /* queued jobs and messages adopted from dead engines */
	uv_timer_t sweep;      /* a shared store: the look for dead engines' work */
	uint32_t swept;	       /* dead nodes whose records are all adopted (adopt.c) */
	int64_t sweeps;
	int closing;
	int handles_closed;
	int degraded; /* the last transaction failed: retry on a timer only */
};

/* jobs.c */
/* jobs_arm - a group on the next loop turn (sooner than a jobs_arm_soon's) */
void jobs_arm(struct jobs *j);
/* jobs_arm_soon - a group within engine.commit_delay if hashes are still
 * running (their jobs then share its commit, as PostgreSQL's commit_delay
 * with commit_siblings), else on the next loop turn */
void jobs_arm_soon(struct jobs *j);
/* jobs_timers_arm - wake up when the earliest timer or purge falls due */
void jobs_timers_arm(struct jobs *j);
void job_free(struct job *job);
/* job_use_set - point the job at ws (resolving its event there) */
void job_use_set(struct job *job, struct wf_set *ws);
void runq_push(struct jobs *j, struct job *job);
void jobs_free_if_idle(struct jobs *j);

/* adopt.c */
/* adopt_mine - 1 if the queued job's or outbox record's work is this
 * engine's (always, on a store of one engine) */
int adopt_mine(const struct jobs *j, const json_t *rec);
/* adopt_start - a shared store: the sweep for dead engines' work */
void adopt_start(struct jobs *j);
/* job_recovered - a queued job read back from the store (jobs.c) */
struct job *job_recovered(struct jobs *j, const json_t *rec);

/* admit.c */
/* jobs_hashing_count - front has delta more (fewer) intakes hashing */
void jobs_hashing_count(struct jobs *j, const char *front, int delta);

/* intake.c */
/* jobs_hashes - 1 if a job of ev with args has a password to hash or check */
int jobs_hashes(const struct wf_event *ev, const json_t *args);
/* intake_take - detach the intakes ready to be written, in arrival order */
struct job *intake_take(struct jobs *j);
/* intake_untake - taken intakes (none answered) back at the head, in order */
void intake_untake(struct jobs *j, struct job *taken);
/* intake_write - inside the group's transaction: records and keys of new jobs */
int intake_write(struct jobs *j, struct group *g);
/* intake_cancel_all - at close: those not hashing are told -ECANCELED now */
void intake_cancel_all(struct jobs *j);

/* group.c */
void group_tick(uv_timer_t *t);

/* waiters.c */
json_t *job_view_of(const json_t *rec);
void waiters_wake(struct jobs *j, const char *id, json_t *view);
void waiters_close(struct jobs *j);

/* outbox.c */
/* outbox_spool_all - hand committed outbox records (an array) to the spool,
 * off the loop; their records are deleted once the spool has them */
void outbox_spool_all(struct jobs *j, json_t *recs);
/* outbox_delete_later - a group for the spooled records' deletes, unless one comes first */
void outbox_delete_later(struct jobs *j);
/* outbox_delete - inside a transaction: the records spooled since the last one */
int outbox_delete(struct jobs *j);
int outbox_recover(struct jobs *j);

#endif
