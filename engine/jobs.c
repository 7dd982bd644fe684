/*
 * jobs - the job queue's life: open (recovery of what a crash left),
 * arming of the next group and of the next timer, statistics, close.  The
 * work is in intake.c, group.c, waiters.c and outbox.c (see jobs_priv.h).
 */
#include "jobs_priv.h"
#include "log.h"
#include "password.h"
#include "rec.h"
#include "secret.h"

#include <sodium.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TIMER_CHECK_MS 10000 /* at most this long between looks at the clock */
/* the hash threads yield the core to the loop: measured on 2 cores at 4x the
 * sustainable register rate (tests/bench/overload.py), nice 5 let send_code
 * wait 600 ms (p99) behind hashes, nice 19 41 ms, SCHED_IDLE 29 ms but 20%
 * fewer hashes (any other process then starves them) */
#define HASH_NICE 19

void job_free(struct job *job)
{
	json_decref(job->args);
	json_decref(job->view);
	free(job->verify_hash);
	wf_set_unref(job->ws);
	free(job->front);
	free(job->type);
	free(job->key);
	free(job->skey);
	free(job);
}

void job_use_set(struct job *job, struct wf_set *ws)
{
	wf_set_unref(job->ws);
	job->ws = wf_set_ref(ws);
	job->ev = wf_set_event(ws, job->type, job->args);
}

void runq_push(struct jobs *j, struct job *job)
{
	job->next_run = NULL;
	job->queued = 1;
	*j->run_tail = job;
	j->run_tail = &job->next_run;
	j->nrun++;
}

void jobs_history(struct jobs *j, const char *account, const char *what, json_t *fields)
{
	char key[REC_KEY_MAX];
	int64_t now = now_ms();
	if (j->closing || !account || !id_valid(account)) {
		json_decref(fields);
		return;
	}
	rec_set(fields, "account", account);
	rec_set(fields, "what", what);
	rec_set_int(fields, "at", now);
	if (j->e->ws->history_ms > 0)
		rec_set_int(fields, "purge", now + j->e->ws->history_ms);
	json_object_set_new(j->history, rec_history_key(account, key), fields);
	jobs_arm(j);
}

void jobs_arm(struct jobs *j)
{
	if (j->closing || (j->tick_armed && !j->tick_soon))
		return;
	j->tick_armed = 1;
	j->tick_soon = 0;
	uv_timer_start(&j->tick, group_tick, 0, 0);
}

void jobs_arm_soon(struct jobs *j)
{
	if (j->tick_armed || j->closing)
		return;
	if (!j->cfg.commit_delay_ms || !j->hashing) {
		jobs_arm(j);
		return;
	}
	j->tick_armed = 1;
	j->tick_soon = 1;
	uv_timer_start(&j->tick, group_tick, j->cfg.commit_delay_ms, 0);
}

static void timers_due(uv_timer_t *t)
{
	jobs_arm(t->data);
}

void jobs_timers_arm(struct jobs *j)
{
	if (j->closing || j->degraded) /* the retry timer brings the queue back */
		return;
	/* at most TIMER_CHECK_MS away, so that a change of the wall clock is noticed */
	int64_t d = rec_next_due(j->st) - now_ms();
	uint64_t delay = d <= 0 ? 0 : d < TIMER_CHECK_MS ? (uint64_t)d : TIMER_CHECK_MS;
	uv_timer_start(&j->timers, timers_due, delay, 0);
}

json_t *jobs_stats(struct jobs *j)
{
	json_t *st = json_pack(
		"{s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "queued", j->nrun, "hashing",
		j->hashing, "done", (json_int_t)j->done_total, "failed",
		(json_int_t)j->failed_total, "commits", (json_int_t)j->commits, "commit_failures",
		(json_int_t)j->commit_fail, "timers_fired", (json_int_t)j->timers_fired, "records",
		(json_int_t)store_count(j->st), "purged", (json_int_t)j->purged, "spooling",
		(json_int_t)j->spooling_msgs);
	json_object_set_new(st, "hashed", json_integer(hashpool_done(j->hashes)));
	json_object_set_new(st, "locked_out", json_integer(j->locked_out));
	json_object_set_new(st, "conflicts", json_integer(j->conflicts));
	json_object_set_new(st, "conflict_backoffs", json_integer(j->backoffs));
	json_object_set_new(st, "ran_elsewhere", json_integer(j->ran_elsewhere));
	json_object_set_new(st, "adopted", json_integer(j->adopted));
	/* outbox records still in the database: on their way to the spool,
	 * refused by it for now, or spooled with their delete not yet committed */
	json_object_set_new(st, "outbox",
			    json_integer(j->spooling_msgs +
					 (json_int_t)json_array_size(j->outbox_retry) +
					 (json_int_t)json_array_size(j->outbox_del)));
	json_object_set_new(st, "admission", jobs_admission(j));
	return st;
}

void jobs_metrics(struct jobs *j, FILE *f)
{
	json_t *adm = jobs_admission(j), *r = json_object_get(adm, "refused"), *v;
	const char *reason;
	fprintf(f, "# HELP regflow_jobs_refused_total Jobs refused by admission control, by "
		   "reason.\n# TYPE regflow_jobs_refused_total counter\n");
	json_object_foreach(r, reason, v)
		fprintf(f, "regflow_jobs_refused_total{reason=\"%s\"} %lld\n", reason,
			(long long)json_integer_value(v));
	fprintf(f,
		"# HELP regflow_queue_depth Jobs waiting, by queue.\n"
		"# TYPE regflow_queue_depth gauge\n"
		"regflow_queue_depth{queue=\"hashing\"} %d\n"
		"regflow_queue_depth{queue=\"intake\"} %d\n"
		"regflow_queue_depth{queue=\"run\"} %d\n"
		"# HELP regflow_queue_bound Admission bounds.\n"
		"# TYPE regflow_queue_bound gauge\n"
		"regflow_queue_bound{queue=\"hashing\"} %lld\n"
		"regflow_queue_bound{queue=\"jobs\"} %d\n"
		"# HELP regflow_disk_short 1 while the database's disk is below its reserve.\n"
		"# TYPE regflow_disk_short gauge\nregflow_disk_short %d\n",
		j->hashing, j->nintake, j->nrun,
		(long long)json_integer_value(json_object_get(adm, "hash_bound")), j->cfg.queue_max,
		j->disk_full);
	json_decref(adm);
	latency_print(j->lat, f, "regflow_job_duration_seconds");
}

json_t *jobs_store_calls(struct jobs *j)
{
	const int64_t *n = j->st->calls;
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "get", (json_int_t)n[STORE_GET], "put",
			 (json_int_t)n[STORE_PUT], "del", (json_int_t)n[STORE_DEL], "find",
			 (json_int_t)n[STORE_FIND], "due", (json_int_t)n[STORE_DUE], "commit",
			 (json_int_t)n[STORE_COMMIT]);
}

struct job *job_recovered(struct jobs *j, const json_t *rec)
{
	struct job *job = xcalloc(1, sizeof(*job));
	job->j = j;
	snprintf(job->id, sizeof(job->id), "%s", rec_str0(rec, "id"));
	job->front = xstrdup(rec_str0(rec, "front"));
	job->type = xstrdup(rec_str0(rec, "type"));
	job->key = rec_str(rec, "key") ? xstrdup(rec_str(rec, "key")) : NULL;
	job->created = rec_int(rec, "created", 0);
	job->submitted_ms = now_ms();
	job->args = json_loads(rec_str0(rec, "args"), 0, NULL);
	if (!json_is_object(job->args)) {
		json_decref(job->args);
		job->args = json_object();
	}
	job_use_set(job, j->e->ws);
	return job;
}

/* queue_recover - the jobs acknowledged and not yet run, oldest first */
static int queue_recover(struct jobs *j)
{
	json_t *keys = NULL, *k;
	size_t i, n = 0;
	int rc = rec_find(j->st, REC_JOB, "jstate", "queued", &keys);
	if (rc < 0)
		return rc;
	json_array_foreach(keys, i, k) {
		json_t *rec;
		if ((rc = rec_get_key(j->st, json_string_value(k), &rec)) < 0)
			break;
		if (adopt_mine(j, rec)) { /* another engine's: its own, or the sweep's */
			runq_push(j, job_recovered(j, rec));
			n++;
		}
		json_decref(rec);
	}
	if (n)
		log_info("recovered %zu queued job(s)", n);
	json_decref(keys);
	return rc;
}

static void timer_init(struct jobs *j, uv_timer_t *t)
{
	uv_timer_init(j->e->loop, t);
	t->data = j;
}

int jobs_open(struct engine *e, const struct jobs_cfg *cfg, struct jobs **out)
{
	struct jobs *j = xcalloc(1, sizeof(*j));
	int rc;

	j->e = e;
	j->st = e->st;
	j->cfg = *cfg;
	if (j->cfg.group_max <= 0)
		j->cfg.group_max = 256;
	if (j->cfg.deadline_ms <= 0)
		j->cfg.deadline_ms = 2000;
	if (j->cfg.queue_max <= 0)
		j->cfg.queue_max = 20000;
	if (j->cfg.disk_check_ms <= 0)
		j->cfg.disk_check_ms = 1000;
	j->hashing_by = json_object();
	j->lat = latency_new();
	j->in_tail = &j->in_head;
	j->run_tail = &j->run_head;
	j->outbox_del = json_array();
	j->outbox_retry = json_array();
	j->history = json_object();
	rc = hashpool_open(e->loop,
			   cfg->hash_threads > 0 ? cfg->hash_threads
						 : (int)uv_available_parallelism(),
			   HASH_NICE, &j->hashes);
	if (rc < 0) {
		log_err("cannot start the password hash threads: %s", strerror(-rc));
		json_decref(j->hashing_by);
		latency_free(j->lat);
		free(j);
		return rc;
	}
	/* a login of nobody checks this hash: the same Argon2id work as a real one */
	unsigned char pw[32];
	char pwhex[65];
	randombytes_buf(pw, sizeof(pw));
	sodium_bin2hex(pwhex, sizeof(pwhex), pw, sizeof(pw));
	if (password_hash(pwhex, j->dummy_hash) < 0)
		fatal("cannot make the dummy password hash");
	sodium_memzero(pwhex, sizeof(pwhex));
	timer_init(j, &j->tick);
	timer_init(j, &j->retry);
	timer_init(j, &j->timers);
	timer_init(j, &j->spool_retry);
	timer_init(j, &j->outbox_later);
	timer_init(j, &j->sweep);
	rc = spool_init(cfg->spool_dir);
	if (rc < 0) {
		log_err("spool %s: %s", cfg->spool_dir, strerror(-rc));
		goto fail;
	}
	/* re-drive what a crash left: committed outbox messages, then queued jobs */
	if ((rc = outbox_recover(j)) < 0 || (rc = queue_recover(j)) < 0)
		goto fail;
	adopt_start(j);
	jobs_arm(j);
	*out = j;
	return 0;
fail:
	jobs_close(j); /* freed once its timers are closed */
	*out = NULL;
	return rc;
}

/* jobs_free_if_idle - j goes once its timers are closed and no hash is running */
void jobs_free_if_idle(struct jobs *j)
{
	if (j->closing && j->handles_closed && j->hashing == 0 && j->spooling == 0) {
		latency_free(j->lat);
		free(j);
	}
}

/* jobs_closed - the last timer is closed: the loop no longer knows j */
static void jobs_closed(uv_handle_t *h)
{
	struct jobs *j = h->data;
	j->handles_closed = 1;
	jobs_free_if_idle(j);
}

void jobs_close(struct jobs *j)
{
	if (!j)
		return;
	j->closing = 1;
	uv_close((uv_handle_t *)&j->tick, NULL);
	uv_close((uv_handle_t *)&j->timers, NULL);
	uv_close((uv_handle_t *)&j->spool_retry, NULL);
	uv_close((uv_handle_t *)&j->outbox_later, NULL);
	uv_close((uv_handle_t *)&j->sweep, NULL);
	uv_close((uv_handle_t *)&j->retry, jobs_closed);
	waiters_close(j);
	intake_cancel_all(j);
	hashpool_close(j->hashes); /* those still hashing are told now */
	while (j->run_head) {
		struct job *job = j->run_head;
		j->run_head = job->next_run;
		if (job->done) /* a login waiting for its run: never answered otherwise */
			job->done(job->arg, -ECANCELED, NULL);
		job_free(job);
	}
	json_decref(j->outbox_del);
	j->outbox_del = NULL;
	json_decref(j->history);
	j->history = NULL;
	/* (records the spool refused stay in the outbox: re-driven at start) */
	json_decref(j->outbox_retry);
	j->outbox_retry = NULL;
	json_decref(j->hashing_by);
	j->hashing_by = NULL;
}
