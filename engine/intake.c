/*
 * intake - jobs on their way in: a submitted job joins the intake list; if
 * its event takes a password, the password is replaced by its Argon2id hash
 * on libuv's thread pool first (the clear password is never written).  A
 * group takes the intakes in arrival order, up to the first still hashing,
 * and writes them (intake_write) inside its transaction.
 */
#include "jobs_priv.h"
#include "rec.h"
#include "secret.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* password_args - 1 if the event takes a password the job carries */
static int password_args(const struct wf_event *ev, const json_t *args)
{
	const char *name;
	json_t *v;
	json_object_foreach(ev->args, name, v)
		if (!strcmp(json_string_value(v), "password") && json_object_get(args, name))
			return 1;
	return 0;
}

/* hash_work - thread pool: the job's passwords become Argon2id strings;
 * reads only the job's own arguments and its event (kept alive by its set) */
static void hash_work(struct hash_task *t)
{
	struct job *job = (struct job *)((char *)t - offsetof(struct job, hash));
	const char *name;
	json_t *v;
	json_object_foreach(job->ev->args, name, v) {
		const char *pw = json_string_value(json_object_get(job->args, name));
		char hash[SECRET_PWHASH_MAX];
		if (strcmp(json_string_value(v), "password") != 0 || !pw)
			continue;
		if (secret_password_hash(pw, hash) < 0) {
			job->rc = -ENOMEM;
			return;
		}
		json_object_set_new(job->args, name, json_string(hash));
	}
}

static void intake_unlink(struct jobs *j, struct job *job)
{
	struct job **pp = &j->in_head;
	while (*pp && *pp != job)
		pp = &(*pp)->next_in;
	if (*pp)
		*pp = job->next_in;
	j->in_tail = &j->in_head;
	while (*j->in_tail)
		j->in_tail = &(*j->in_tail)->next_in;
}

/* intake_cancel - a job that was never written: its submitter hears so */
static void intake_cancel(struct job *job)
{
	job->done(job->arg, -ECANCELED, NULL);
	job_free(job);
}

static void hash_done(struct hash_task *t)
{
	struct job *job = (struct job *)((char *)t - offsetof(struct job, hash));
	struct jobs *j = job->j;
	j->hashing--;
	job->hashing = 0;
	if (j->closing || t->cancelled) {
		intake_unlink(j, job);
		intake_cancel(job);
		jobs_free_if_idle(j);
		return;
	}
	jobs_arm(j);
}

void jobs_submit(struct jobs *j, const struct wf_event *ev, const char *front, json_t *args,
		 const char *key, jobs_done_fn done, void *arg)
{
	struct job *job = xcalloc(1, sizeof(*job));
	job->j = j;
	job->front = xstrdup(front);
	job->type = xstrdup(ev->name);
	job->key = key ? xstrdup(key) : NULL;
	job->args = json_deep_copy(args);
	job->ws = wf_set_ref(j->e->ws);
	job->ev = ev;
	job->done = done;
	job->arg = arg;
	*j->in_tail = job;
	j->in_tail = &job->next_in;
	if (password_args(ev, args)) {
		job->hash.work = hash_work;
		job->hash.done = hash_done;
		snprintf(job->hash.group, sizeof(job->hash.group), "%s", front);
		job->hashing = 1;
		j->hashing++;
		hashpool_submit(j->hashes, &job->hash);
		return;
	}
	jobs_arm(j);
}

struct job *intake_take(struct jobs *j)
{
	struct job **cut = &j->in_head, *taken = NULL;
	/* up to the first still hashing: jobs for one account keep their order */
	while (*cut && !(*cut)->hashing)
		cut = &(*cut)->next_in;
	if (cut == &j->in_head)
		return NULL;
	taken = j->in_head;
	j->in_head = *cut;
	*cut = NULL;
	if (!j->in_head)
		j->in_tail = &j->in_head;
	return taken;
}

/* intake_one - a new job joins the run queue, or its key names the first job */
static int intake_one(struct jobs *j, struct job *job, int64_t now)
{
	json_t *rec;
	int rc;
	if (job->rc < 0)
		return 0; /* its hashing failed: answered below, nothing written */
	if (job->key && rec_idem_get(j->st, job->front, job->key, &rec) == 0) {
		job->dup = 1;
		snprintf(job->id, sizeof(job->id), "%s", rec_str0(rec, "job"));
		json_decref(rec);
		return 0;
	}
	id_new(job->id);
	job->created = now;
	if (job->key) {
		rec = json_pack("{s:s}", "job", job->id);
		rec_set_int(rec, "purge", now + job->ws->retention_ms);
		rc = rec_idem_put(j->st, job->front, job->key, rec);
		json_decref(rec);
		if (rc < 0)
			return rc;
	}
	job->fresh = 1; /* its record is written once, by the group (run or queued) */
	runq_push(j, job);
	return 0;
}

int intake_write(struct jobs *j, struct group *g)
{
	for (struct job *job = g->in; job; job = job->next_in) {
		int rc = intake_one(j, job, g->now);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void intake_cancel_all(struct jobs *j)
{
	/* those still hashing are cancelled when their hash is done (the
	 * thread pool cannot be stopped) */
	struct job **pp = &j->in_head;
	while (*pp) {
		struct job *job = *pp;
		if (job->hashing) {
			pp = &job->next_in;
			continue;
		}
		*pp = job->next_in;
		intake_cancel(job);
	}
	j->in_tail = pp;
}
