/*
 * intake - jobs on their way in: a submitted job joins the intake list; if
 * its event takes a password, the password is replaced by its Argon2id hash
 * on the hash pool's threads first (the clear password is never written);
 * a photo is decoded and re-encoded there too (photo.h), off the loop.
 * A group takes every intake that is ready, in arrival order, and writes
 * them (intake_write) inside its transaction.  Order is kept per subject
 * (the account, phone, address or token the job names): a job waits for an
 * earlier one still hashing only when both name the same subject, so a
 * send_code is never stuck behind other people's registrations.
 */
#include "jobs_priv.h"
#include "password.h"
#include "photo.h"
#include "rec.h"
#include "secret.h"
#include "wf_verify.h"

#include <sodium.h>

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* typed_arg - 1 if the event takes an argument of type the job carries */
static int typed_arg(const struct wf_event *ev, const json_t *args, const char *type)
{
	const char *name;
	json_t *v;
	json_object_foreach(ev->args, name, v)
		if (!strcmp(json_string_value(v), type) && json_object_get(args, name))
			return 1;
	return 0;
}

/* pool_args - 1 if the job has work for the hash pool: a password to hash
 * or check, or a photo to decode and re-encode (photo.h) */
static int pool_args(const struct wf_event *ev, const json_t *args)
{
	return ev->verify || typed_arg(ev, args, "password") || typed_arg(ev, args, "photo");
}

/* verify_work - the password check: its outcome in the arguments (see
 * wf_verify.h), the clear password wiped and dropped */
static void verify_work(struct job *job)
{
	const char *stored = job->verify_hash ? job->verify_hash : job->j->dummy_hash;
	json_t *pw = json_object_get(job->args, job->ev->verify);
	const char *text = json_string_value(pw);
	char digest[65], hash[PASSWORD_HASH_MAX];
	int ok = text && password_verify(stored, text) == 0 && job->verify_hash;
	json_object_set_new(job->args, "%verified", json_string(ok ? "1" : "0"));
	wf_verify_digest(job->verify_hash, digest);
	json_object_set_new(job->args, "%hash", json_string(digest));
	if (ok && password_needs_rehash(stored) && password_hash(text, hash) == 0)
		json_object_set_new(job->args, "%rehash", json_string(hash));
	if (text)
		sodium_memzero((char *)text, strlen(text));
	json_object_del(job->args, job->ev->verify);
}

/* hash_work - thread pool: the job's passwords become Argon2id strings (and
 * a password check is made); reads only the job's own arguments and its
 * event (kept alive by its set) */
static void hash_work(struct hash_task *t)
{
	struct job *job = (struct job *)((char *)t - offsetof(struct job, hash));
	const char *name;
	json_t *v;
	if (job->ev->verify)
		verify_work(job);
	json_object_foreach(job->ev->args, name, v) {
		const char *pw = json_string_value(json_object_get(job->args, name));
		char hash[PASSWORD_HASH_MAX];
		if (!strcmp(json_string_value(v), "photo") &&
		    photo_args_normalize(job->args, name) < 0) {
			job->rc = -ENOMEM;
			return;
		}
		if (strcmp(json_string_value(v), "password") != 0 || !pw)
			continue;
		if (password_hash(pw, hash) < 0) {
			job->rc = -ENOMEM;
			return;
		}
		json_object_set_new(job->args, name, json_string(hash));
	}
}

/* subject_key - "by=value" of the first subject argument the job carries
 * (as the event's subject lookup takes it), case-folded; NULL: none */
static char *subject_key(const struct wf_event *ev, const json_t *args)
{
	char *bys = ev->by ? xstrdup(ev->by) : NULL, *save = NULL, *out = NULL;
	for (char *one = bys ? strtok_r(bys, "|", &save) : NULL; one && !out;
	     one = strtok_r(NULL, "|", &save)) {
		const char *v = json_string_value(json_object_get(args, wf_by_arg(one)));
		if (!v)
			continue;
		out = xasprintf("%s=%s", one, v);
		for (char *p = out; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	free(bys);
	return out;
}

int jobs_hashes(const struct wf_event *ev, const json_t *args)
{
	return pool_args(ev, args);
}

static void intake_unlink(struct jobs *j, struct job *job)
{
	struct job **pp = &j->in_head;
	while (*pp && *pp != job)
		pp = &(*pp)->next_in;
	if (*pp) {
		*pp = job->next_in;
		j->nintake--;
	}
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
	jobs_hashing_count(j, job->front, -1);
	job->hashing = 0;
	if (j->closing || t->cancelled) {
		intake_unlink(j, job);
		intake_cancel(job);
		jobs_free_if_idle(j);
		return;
	}
	jobs_arm_soon(j); /* one commit for the hashes that end close together */
}

static void hash_start(struct jobs *j, struct job *job)
{
	hashpool_submit(j->hashes, &job->hash);
}

static void delay_closed(uv_handle_t *h)
{
	free(h);
}

static void delay_done(uv_timer_t *t)
{
	struct job *job = t->data;
	uv_close((uv_handle_t *)t, delay_closed);
	job->delay = NULL;
	hash_start(job->j, job);
}

/* locked_out - a lockout answers at once, with no hashing: the one failure code */
static void locked_out(struct jobs *j, struct job *job)
{
	json_t *view = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "id", job->id, "type", job->type,
				 "state", "done", "result", "code", "LOGIN_FAILED", "message",
				 wf_message(job->ws, "LOGIN_FAILED"));
	job->done(job->arg, 0, view);
	json_decref(view);
	j->locked_out++;
}

/* verify_setup - before any hashing: is the key locked out? how long must
 * it wait? which hash to check?  0, or 1 when answered already */
static int verify_setup(struct jobs *j, struct job *job)
{
	struct wf_peek pk;
	if (wf_verify_peek(job->ws, job->ev, j->st, job->args, job->front, now_ms(), &pk) < 0)
		return 0; /* the store: the run will say (its reads fail the same way) */
	if (pk.locked) {
		wf_peek_free(&pk);
		locked_out(j, job);
		return 1;
	}
	job->verify_hash = pk.hash;
	if (pk.delay_ms > 0) {
		job->delay = xcalloc(1, sizeof(*job->delay));
		uv_timer_init(j->e->loop, job->delay);
		job->delay->data = job;
		uv_timer_start(job->delay, delay_done, (uint64_t)pk.delay_ms, 0);
	}
	return 0;
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
	job->transient = !ev->durable;
	job->skey = subject_key(ev, args);
	job->submitted_ms = now_ms();
	if (job->transient)
		id_new(job->id); /* a name for its answer; it is never written */
	if (ev->verify && verify_setup(j, job)) {
		job_free(job);
		return;
	}
	*j->in_tail = job;
	j->in_tail = &job->next_in;
	j->nintake++;
	if (pool_args(ev, args)) {
		job->hash.work = hash_work;
		job->hash.done = hash_done;
		snprintf(job->hash.group, sizeof(job->hash.group), "%s", front);
		job->hashing = 1;
		j->hashing++;
		jobs_hashing_count(j, front, 1);
		if (!job->delay)
			hash_start(j, job);
		return;
	}
	jobs_arm(j);
}

struct job *intake_take(struct jobs *j)
{
	struct job *taken = NULL, **ttail = &taken, **pp = &j->in_head;
	json_t *blocked = NULL; /* subjects with an earlier job still hashing */
	while (*pp) {
		struct job *job = *pp;
		int wait = job->hashing;
		if (!wait && job->skey && blocked)
			wait = json_object_get(blocked, job->skey) != NULL;
		if (wait) {
			if (job->skey) {
				if (!blocked)
					blocked = json_object();
				json_object_set_new(blocked, job->skey, json_true());
			}
			pp = &job->next_in;
			continue;
		}
		*pp = job->next_in;
		job->next_in = NULL;
		*ttail = job;
		ttail = &job->next_in;
		j->nintake--;
	}
	j->in_tail = pp;
	json_decref(blocked);
	return taken;
}

void intake_untake(struct jobs *j, struct job *taken)
{
	struct job **tail = &taken;
	if (!taken)
		return;
	for (; *tail; tail = &(*tail)->next_in) {
		(*tail)->in_group = 0;
		j->nintake++;
	}
	*tail = j->in_head;
	if (!j->in_head)
		j->in_tail = tail;
	j->in_head = taken;
}

/* intake_one - a new job joins the run queue, or its key names the first job */
static int intake_one(struct jobs *j, struct job *job, int64_t now)
{
	json_t *rec;
	int rc = -ENOENT;
	if (job->rc < 0)
		return 0;     /* its hashing failed: answered below, nothing written */
	if (job->transient) { /* never written: no key, no record; it runs and answers */
		job->fresh = 1;
		runq_push(j, job);
		return 0;
	}
	if (job->key && (rc = rec_idem_get(j->st, job->front, job->key, &rec)) == 0) {
		job->dup = 1;
		snprintf(job->id, sizeof(job->id), "%s", rec_str0(rec, "job"));
		json_decref(rec);
		return 0;
	}
	if (job->key && rc != -ENOENT) /* the store failed (or conflicted): not "absent" */
		return rc;
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
		if (job->hashing && !job->delay) {
			pp = &job->next_in;
			continue;
		}
		if (job->delay) { /* waiting for its slowdown: never started */
			uv_close((uv_handle_t *)job->delay, delay_closed);
			job->delay = NULL;
			job->hashing = 0;
			j->hashing--;
			jobs_hashing_count(j, job->front, -1);
		}
		*pp = job->next_in;
		j->nintake--;
		intake_cancel(job);
	}
	j->in_tail = pp;
}
