/*
 * group - one tick of the job queue, one transaction: a short sequence of
 * named phases.
 *
 *   take     the intakes ready (in arrival order), the timers and records due
 *   write    in one transaction: delete what was spooled, write the new
 *            jobs, run queued jobs, fire timers, purge, write the jobs left
 *            queued, commit and sync once (group commit)
 *   ack      the submitters hear "queued" (or a repeated key's first job)
 *   wake     the waiters of the jobs that ran
 *   spool    the group's outbox messages go to the spool
 *
 * A failed transaction aborts the whole group: nobody was told anything,
 * the new jobs' submitters get an error, and the jobs that were already
 * durable stay queued for the next try, a second later.  A transaction
 * that conflicted with another engine's on a shared store (-EDEADLK:
 * PostgreSQL's serialisation failure) is not a failure: the group is put
 * back as it was taken and written again at once, seeing what the other
 * engine committed (a job queued there and run here meanwhile is not run
 * again; a due timer claimed there is not fired here).
 */
#include "jobs_priv.h"
#include "log.h"
#include "rec.h"
#include "wf_run.h"

#include <sodium.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#define RETRY_MS 1000
#define CONFLICT_TRIES 4       /* a group written again at once after a conflict */
#define CONFLICT_BACKOFF_MS 50 /* then taken again after up to this long (random) */

static void group_take(struct jobs *j, struct group *g)
{
	memset(g, 0, sizeof(*g));
	g->now = now_ms();
	g->in = intake_take(j);
	for (struct job *job = g->in; job; job = job->next_in)
		job->in_group = 1;
	g->spool = json_array();
	g->finished = json_array();
	rec_timers_due(j->st, g->now, j->cfg.group_max, &g->due);
	rec_purge_due(j->st, g->now, j->cfg.group_max, &g->purge);
}

static int group_idle(const struct jobs *j, const struct group *g)
{
	return !g->in && !j->run_head && json_array_size(j->outbox_del) == 0 &&
	       json_object_size(j->history) == 0 && json_array_size(g->due) == 0 &&
	       json_array_size(g->purge) == 0;
}

static void group_free(struct group *g)
{
	json_decref(g->history);
	json_decref(g->due);
	json_decref(g->purge);
	json_decref(g->spool);
	json_decref(g->finished);
}

/* collect_outbox - the outbox records a run wrote, for the spool phase */
static void collect_outbox(struct group *g, const struct wf_out *out)
{
	size_t i;
	json_t *k;
	json_array_foreach(out->outbox, i, k)
		json_array_append(g->spool, json_object_get(out->writes, json_string_value(k)));
}

/* unknown_type - the outcome of a job whose workflow a reload removed */
static void unknown_type(struct wf_out *out)
{
	memset(out, 0, sizeof(*out));
	out->failed = 1;
	out->result = json_pack("{s:s, s:s}", "code", "UNKNOWN_TYPE", "message",
				"no workflow handles this job type now");
}

/* job_record - the job's record after its run (its arguments dropped) */
static json_t *job_record(const struct job *job, const struct wf_out *out, int64_t now)
{
	json_t *rec = json_object();
	char *res = json_dumps(out->result, JSON_COMPACT);
	rec_set(rec, "id", job->id);
	rec_set(rec, "type", job->type);
	rec_set(rec, "front", job->front);
	rec_set(rec, "jstate", out->failed ? "failed" : "done");
	rec_set_int(rec, "created", job->created);
	if (job->key)
		rec_set(rec, "key", job->key);
	rec_set(rec, "result", res);
	rec_set_int(rec, "finished", now);
	/* a finished job is answered for the retention period, then purged */
	rec_set_int(rec, "purge", now + job->ws->retention_ms);
	free(res);
	return rec;
}

/* ran_elsewhere - on a shared store, a queued job another engine adopted
 * may have run there: its record, read inside the transaction, says (1:
 * it has, and its view is what waiters here get) */
static int ran_elsewhere(struct jobs *j, struct group *g, struct job *job, int *rc)
{
	json_t *rec = NULL;
	if (job->fresh || job->transient || !store_shared(j->st))
		return 0;
	*rc = rec_job_get(j->st, job->id, &rec);
	if (*rc == -ENOENT || (*rc == 0 && !rec_is(rec, "jstate", "queued"))) {
		j->ran_elsewhere++;
		if (rec) {
			json_decref(job->view);
			job->view = job_view_of(rec);
			json_array_append(g->finished, job->view);
		}
		json_decref(rec);
		*rc = 0;
		return 1;
	}
	json_decref(rec);
	return *rc < 0;
}

/* run_job - run one job inside the transaction; its record is written once */
static int run_job(struct jobs *j, struct group *g, struct job *job)
{
	struct wf_out out;
	int rc = 0;
	if (ran_elsewhere(j, g, job, &rc))
		return rc;
	if (job->ws != j->e->ws) /* a reload since it came in: run on the current set */
		job_use_set(job, j->e->ws);
	if (job->ev)
		rc = wf_run_job(job->ws, job->ev, j->st, job->args, job->front, job->id, g->now,
				&out);
	else
		unknown_type(&out);
	if (rc == 0)
		rc = rec_apply(j->st, out.writes);
	if (rc < 0)
		goto out;
	json_t *rec = job_record(job, &out, g->now);
	/* a job that waited on disk had its arguments (a token, a code, a
	 * password hash) written: they are overwritten, not just dropped; a
	 * transient one (a login) is never written */
	if (job->transient)
		rc = 0;
	else if (job->fresh)
		rc = rec_job_put(j->st, job->id, rec);
	else
		rc = rec_job_replace(j->st, job->id, rec);
	if (rc == 0) {
		collect_outbox(g, &out);
		json_decref(job->view);
		job->view = job_view_of(rec);
		json_array_append(g->finished, job->view);
	}
	json_decref(rec);
out:
	wf_out_free(&out);
	return rc;
}

static int phase_run(struct jobs *j, struct group *g)
{
	struct job *job = j->run_head;
	for (; job && g->nran < j->cfg.group_max; job = job->next_run, g->nran++) {
		int rc = run_job(j, g, job);
		if (rc < 0) {
			if (rc != -EDEADLK) /* (a conflict: the group is written again) */
				log_err("job %s: %s", job->id, store_error(j->st));
			return rc;
		}
	}
	return 0;
}

/* phase_queued - the new jobs this group did not run are written queued,
 * with their arguments (the password already hashed) */
static int phase_queued(struct jobs *j, struct group *g)
{
	struct job *job = j->run_head;
	for (int n = 0; job && n < g->nran; n++)
		job = job->next_run;
	for (; job; job = job->next_run) {
		if (!job->fresh || job->transient) /* a login waits in memory only */
			continue;
		json_t *rec = json_object();
		char *a = json_dumps(job->args, JSON_COMPACT);
		rec_set(rec, "id", job->id);
		rec_set(rec, "type", job->type);
		rec_set(rec, "front", job->front);
		rec_set(rec, "jstate", "queued");
		rec_set_int(rec, "created", job->created);
		rec_set(rec, "args", a);
		if (job->key)
			rec_set(rec, "key", job->key);
		free(a);
		int rc = rec_job_put(j->st, job->id, rec);
		json_decref(rec);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int phase_timers(struct jobs *j, struct group *g)
{
	size_t i;
	json_t *k;
	json_array_foreach(g->due, i, k) {
		struct wf_out out;
		int rc = wf_fire_timer(j->e->ws, j->st, json_string_value(k), g->now, &out);
		if (rc == 0)
			rc = rec_apply(j->st, out.writes);
		if (rc == 0)
			collect_outbox(g, &out);
		wf_out_free(&out);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* phase_purge - records past their retention: their secrets scrubbed, then gone */
static int phase_purge(struct jobs *j, struct group *g)
{
	size_t i;
	json_t *k;
	json_array_foreach(g->purge, i, k) {
		int rc = rec_del_key(j->st, json_string_value(k));
		if (rc < 0 && rc != -ENOENT)
			return rc;
	}
	return 0;
}

static int phase_commit(struct jobs *j)
{
	int rc = store_commit(j->st);
	if (rc == -EAGAIN) { /* written, but the disk would not sync: say so, go on */
		log_err("store: committed but not synced to disk: %s", store_error(j->st));
		rc = 0;
	}
	return rc;
}

/* claim_due - on a shared store the due timers and records are taken again
 * inside the transaction, claimed (FOR UPDATE SKIP LOCKED): what another
 * engine's group holds now is left to it */
static int claim_due(struct jobs *j, struct group *g)
{
	int rc = 0;
	if (!store_shared(j->st))
		return 0;
	if (json_array_size(g->due)) {
		json_decref(g->due);
		g->due = NULL;
		rc = rec_timers_due(j->st, g->now, j->cfg.group_max, &g->due);
	}
	if (rc == 0 && json_array_size(g->purge)) {
		json_decref(g->purge);
		g->purge = NULL;
		rc = rec_purge_due(j->st, g->now, j->cfg.group_max, &g->purge);
	}
	return rc;
}

static int group_write(struct jobs *j, struct group *g)
{
	int rc;
	if ((rc = store_begin(j->st)) < 0 || (rc = claim_due(j, g)) < 0)
		return rc;
	g->history = j->history; /* taken: kept if the group fails, written if not */
	j->history = json_object();
	if ((rc = rec_apply(j->st, g->history)) < 0 || (rc = outbox_delete(j)) < 0 ||
	    (rc = intake_write(j, g)) < 0 || (rc = phase_run(j, g)) < 0 ||
	    (rc = phase_timers(j, g)) < 0 || (rc = phase_purge(j, g)) < 0 ||
	    (rc = phase_queued(j, g)) < 0)
		return rc;
	return phase_commit(j);
}

/* runq_drop_fresh - the new jobs leave the run queue (their records were
 * not written) */
static void runq_drop_fresh(struct jobs *j)
{
	struct job **pp = &j->run_head;
	while (*pp) {
		if ((*pp)->fresh) {
			(*pp)->queued = 0;
			*pp = (*pp)->next_run;
			j->nrun--;
		} else {
			pp = &(*pp)->next_run;
		}
	}
	j->run_tail = pp;
}

/* group_reset - after a conflict: the transaction rolled back, the group
 * is made as it was taken (nobody was told anything yet), to write again */
static void group_reset(struct jobs *j, struct group *g)
{
	store_abort(j->st);
	j->conflicts++;
	if (g->history) {
		json_object_update_missing(j->history, g->history);
		json_decref(g->history);
		g->history = NULL;
	}
	struct job *job = j->run_head;
	for (int n = 0; job && n < g->nran; n++, job = job->next_run) {
		json_decref(job->view);
		job->view = NULL;
	}
	runq_drop_fresh(j);
	for (job = g->in; job; job = job->next_in)
		job->dup = 0;
	g->nran = 0;
	json_array_clear(g->spool);
	json_array_clear(g->finished);
}

/* group_back_off - conflicts again and again (engines' groups on the same
 * rows): not a failure, nobody is told anything; the group goes back as
 * it came (its intakes at the head of the queue) and the next tick comes
 * after a random while, so that the engines' groups stop meeting */
static void group_back_off(struct jobs *j, struct group *g)
{
	group_reset(j, g);
	intake_untake(j, g->in);
	g->in = NULL;
	j->backoffs++;
	j->tick_armed = 1; /* new jobs wait for this tick */
	uv_timer_start(&j->tick, group_tick, 1 + randombytes_uniform(CONFLICT_BACKOFF_MS), 0);
}

/* group_done - the group is durable: count it, drop what ran */
static void group_done(struct jobs *j, struct group *g)
{
	j->commits++;
	j->timers_fired += (int64_t)json_array_size(g->due);
	j->purged += (int64_t)json_array_size(g->purge);
	json_array_clear(j->outbox_del);
	for (int n = 0; n < g->nran; n++) {
		struct job *job = j->run_head;
		j->run_head = job->next_run;
		j->nrun--;
		job->queued = 0;
		const char *state = json_string_value(json_object_get(job->view, "state"));
		if (state && !strcmp(state, "failed"))
			j->failed_total++;
		else
			j->done_total++;
		latency_observe(j->lat, job->type,
				json_string_value(json_object_get(
					json_object_get(job->view, "result"), "code"))
					?: state,
				g->now - job->submitted_ms);
		if (job->transient && job->done && !job->in_group) {
			job->done(job->arg, 0, job->view); /* its answer waited for its run */
			job->done = NULL;
		}
		if (!job->done) /* not an intake of this group: nobody else holds it */
			job_free(job);
	}
	if (!j->run_head)
		j->run_tail = &j->run_head;
	for (struct job *job = j->run_head; job; job = job->next_run)
		job->fresh = 0;
}

/* group_ack - a new job is "queued" to its submitter (SPEC: accepted, on
 * disk), even if it ran in this very group; a repeated key gets the first
 * job as it stands */
static void group_ack(struct jobs *j, struct group *g)
{
	struct job *job = g->in, *next;
	for (; job; job = next) {
		json_t *view = NULL;
		next = job->next_in;
		job->in_group = 0;
		if (job->transient && job->rc == 0 && !job->view)
			continue; /* not run yet: answered when it has run */
		if (job->rc < 0) {
			job->done(job->arg, job->rc, NULL);
		} else if (job->transient) {
			job->done(job->arg, 0, job->view);
		} else {
			if (!job->dup || jobs_view(j, job->id, &view) < 0)
				view = json_pack("{s:s, s:s}", "id", job->id, "state", "queued");
			job->done(job->arg, 0, view);
			json_decref(view);
		}
		job->done = NULL;
		if (!job->queued)
			job_free(job);
	}
	g->in = NULL;
}

/* group_wake_spool - waiters first, then the spool: the messages are safe
 * in the committed outbox already, and a reply must not take longer
 * because its job sent a message (recovery answers the same whether or not
 * an account exists) */
static void group_wake_spool(struct jobs *j, struct group *g)
{
	size_t i;
	json_t *v;
	json_array_foreach(g->finished, i, v)
		waiters_wake(j, json_string_value(json_object_get(v, "id")), v);
	outbox_spool_all(j, g->spool);
}

/* group_failed - nothing of the group was written: its new jobs leave the
 * run queue and their submitters get an error (503); the store is opened
 * again (a database that stopped on a write error stays stopped until
 * then) and the queue tries again on a timer only */
static void group_failed(struct jobs *j, struct group *g, int rc)
{
	j->commit_fail++;
	j->degraded = 1;
	log_err("store: transaction failed (%s): %s; new jobs get 503 until it works again",
		strerror(-rc), store_error(j->st));
	store_abort(j->st);
	if (g->history) /* the entries wait for the next group */
		json_object_update_missing(j->history, g->history);
	if (store_reopen(j->st) < 0)
		log_err("store: reopen failed: %s", store_error(j->st));
	runq_drop_fresh(j);
	for (struct job *job = g->in, *next; job; job = next) {
		next = job->next_in;
		job->done(job->arg, -EIO, NULL);
		job_free(job);
	}
	g->in = NULL;
	uv_timer_start(&j->retry, group_tick, j->cfg.retry_ms ? j->cfg.retry_ms : RETRY_MS, 0);
}

/* disk_free_mib - free space (for us) on the database's disk, or -1 unknown */
static int64_t disk_free_mib(const struct jobs *j)
{
	struct statvfs sv;
	char *dir = xstrdup(j->cfg.db_path ? j->cfg.db_path : "."), *slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	int rc = statvfs(slash ? (*dir ? dir : "/") : ".", &sv);
	free(dir);
	if (rc < 0)
		return -1;
	return (int64_t)((unsigned long long)sv.f_bavail * sv.f_frsize / (1024 * 1024));
}

/*
 * disk_short - before each transaction (as Postfix's queue_minfree): with
 * less free space than engine.disk_reserve_mib, or a store not ready to
 * write safely, nothing is written: new jobs are refused (503), the jobs
 * already durable wait, and the check comes back on a timer.
 */
static int disk_short(struct jobs *j)
{
	int64_t free_mib = disk_free_mib(j);
	int short_now = (free_mib >= 0 && free_mib < j->cfg.disk_reserve_mib) ||
			(j->disk_full && store_prepare(j->st) < 0);
	if (short_now && !j->disk_full)
		log_err("store: %lld MiB free on the database's disk, below the reserve of %lld "
			"MiB: new jobs refused (503) until there is room",
			(long long)free_mib, (long long)j->cfg.disk_reserve_mib);
	else if (!short_now && j->disk_full)
		log_info("store: %lld MiB free on the database's disk again: taking jobs",
			 (long long)free_mib);
	j->disk_full = short_now;
	return short_now;
}

/* refuse_intakes - the disk is short: the intakes ready are told so, unwritten */
static void refuse_intakes(struct jobs *j)
{
	for (struct job *job = intake_take(j), *next; job; job = next) {
		next = job->next_in;
		job->done(job->arg, -ENOSPC, NULL);
		job_free(job);
	}
}

void group_tick(uv_timer_t *t)
{
	struct jobs *j = t->data;
	struct group g;
	j->tick_armed = 0;
	j->tick_soon = 0;
	j->degraded = 0; /* this tick tries the store again */
	if (disk_short(j)) {
		refuse_intakes(j);
		j->degraded = 1; /* no busy loop: the retry timer comes back */
		uv_timer_start(&j->retry, group_tick, (uint64_t)j->cfg.disk_check_ms, 0);
		return;
	}
	group_take(j, &g);
	if (!group_idle(j, &g)) {
		int rc, tries = 0;
		while ((rc = group_write(j, &g)) == -EDEADLK && ++tries < CONFLICT_TRIES)
			group_reset(j, &g);
		if (rc == -EDEADLK) {
			group_back_off(j, &g);
			group_free(&g);
			return;
		}
		if (rc < 0) {
			group_failed(j, &g, rc);
		} else {
			group_done(j, &g);
			group_ack(j, &g);
			group_wake_spool(j, &g);
		}
	}
	group_free(&g);
	/* after a failure only the retry timer comes back: no busy loop */
	if (!j->degraded &&
	    (j->run_head || (j->in_head && !j->in_head->hashing) || json_object_size(j->history)))
		jobs_arm(j);
	else if (json_array_size(j->outbox_del))
		outbox_delete_later(j); /* (not when degraded: with the retry) */
	if (!json_array_size(j->outbox_del))
		uv_timer_stop(&j->outbox_later);
	jobs_timers_arm(j);
}
