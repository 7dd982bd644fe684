/*
 * jobs - intake, group commit, execution and waiters (see jobs.h).
 *
 * One "tick" is one transaction: it writes the jobs taken in since the last
 * tick, runs queued jobs through their workflows, commits and syncs once,
 * then acknowledges the submitters, wakes the waiters and moves the outbox
 * to the spool.  A failed commit aborts the whole group: nobody was told
 * anything, and the jobs run again on the next tick.
 */
#include "jobs.h"
#include "log.h"
#include "secret.h"
#include "spool.h"
#include "util.h"
#include "wf_run.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct intake {
	struct jobs *j;
	char *front, *type, *key;
	json_t *args;
	jobs_done_fn done;
	void *arg;
	char id[ID_LEN + 1];
	int rc;
	int hashing;	/* waiting for its password hash: later intakes wait too */
	int dup;	/* its key named an earlier job: that job is the answer */
	uv_work_t work; /* password hashing off the loop */
	struct intake *next;
};

struct runnable {
	char id[ID_LEN + 1];
	struct runnable *next;
};

struct waiter {
	struct jobs *j;
	char id[ID_LEN + 1];
	jobs_done_fn done;
	void *arg;
	uv_timer_t timer;
	int fired;
	struct waiter *prev, *next;
};

struct jobs {
	uv_loop_t *loop;
	struct store *st;
	const struct wf_set *ws;
	struct jobs_cfg cfg;
	uv_timer_t tick; /* 0 ms timer: the next loop turn */
	uv_timer_t retry;
	uv_timer_t timers; /* the next workflow timer due */
	int tick_armed;
	struct intake *in_head, **in_tail;
	struct runnable *run_head, **run_tail;
	int nrun;
	struct waiter *waiters;
	json_t *outbox_del;   /* outbox keys spooled, to delete in the next tick */
	json_t *outbox_retry; /* committed outbox records the spool refused for now */
	uv_timer_t spool_retry;
	int hashing; /* intakes whose password is being hashed */
	int64_t done_total, failed_total, commits, commit_fail, timers_fired, purged;
	int closing;
	int handles_closed;
	int degraded; /* the last transaction failed: retry on a timer only */
};

static void jobs_arm(struct jobs *j);
static void timers_arm(struct jobs *j);
static void intake_cancel(struct intake *in);
static void jobs_free_if_idle(struct jobs *j);

static void runq_push(struct jobs *j, const char *id)
{
	struct runnable *r = xcalloc(1, sizeof(*r));
	memcpy(r->id, id, ID_LEN + 1);
	*j->run_tail = r;
	j->run_tail = &r->next;
	j->nrun++;
}

static void job_key(const char *id, char *buf, size_t n)
{
	snprintf(buf, n, "j:%s", id);
}

/* view_of - the API's view of a job record */
static json_t *view_of(const json_t *rec)
{
	json_t *v = json_object();
	json_object_set_new(v, "id", json_string(rec_str(rec, "id")));
	json_object_set_new(v, "type", json_string(rec_str(rec, "type")));
	json_object_set_new(v, "state", json_string(rec_str(rec, "jstate")));
	const char *res = rec_str(rec, "result");
	if (res && *res) {
		json_t *r = json_loads(res, 0, NULL);
		if (r)
			json_object_set_new(v, "result", r);
	}
	return v;
}

int jobs_view(struct jobs *j, const char *id, json_t **view)
{
	char key[32];
	json_t *rec;
	job_key(id, key, sizeof(key));
	int rc = store_get(j->st, key, &rec);
	if (rc < 0)
		return rc;
	*view = view_of(rec);
	json_decref(rec);
	return 0;
}

static void waiter_closed(uv_handle_t *h)
{
	free(h->data);
}

static void waiter_fire(struct waiter *w, json_t *view)
{
	if (w->fired)
		return;
	w->fired = 1;
	if (w->prev)
		w->prev->next = w->next;
	else
		w->j->waiters = w->next;
	if (w->next)
		w->next->prev = w->prev;
	uv_timer_stop(&w->timer);
	w->done(w->arg, 0, view);
	uv_close((uv_handle_t *)&w->timer, waiter_closed);
}

static void waiter_timeout(uv_timer_t *t)
{
	struct waiter *w = t->data;
	json_t *view = NULL;
	if (jobs_view(w->j, w->id, &view) < 0)
		view = json_pack("{s:s, s:s}", "id", w->id, "state", "queued");
	waiter_fire(w, view);
	json_decref(view);
}

void jobs_wait(struct jobs *j, const char *id, uint64_t timeout_ms, jobs_done_fn done, void *arg)
{
	json_t *view = NULL;
	if (jobs_view(j, id, &view) == 0) {
		const char *s = json_string_value(json_object_get(view, "state"));
		if (s && (!strcmp(s, "done") || !strcmp(s, "failed"))) {
			done(arg, 0, view);
			json_decref(view);
			return;
		}
		json_decref(view);
	}
	struct waiter *w = xcalloc(1, sizeof(*w));
	w->j = j;
	snprintf(w->id, sizeof(w->id), "%s", id);
	w->done = done;
	w->arg = arg;
	uv_timer_init(j->loop, &w->timer);
	w->timer.data = w;
	uv_timer_start(&w->timer, waiter_timeout, timeout_ms, 0);
	w->next = j->waiters;
	if (w->next)
		w->next->prev = w;
	j->waiters = w;
}

static void wake_waiters(struct jobs *j, const char *id, json_t *view)
{
	struct waiter *w = j->waiters, *next;
	for (; w; w = next) {
		next = w->next;
		if (strcmp(w->id, id) == 0)
			waiter_fire(w, view);
	}
}

/* outbox_to_spool - hand a committed outbox record to the spool */
static int outbox_to_spool(struct jobs *j, const json_t *rec)
{
	struct spool_msg m;
	memset(&m, 0, sizeof(m));
	snprintf(m.id, sizeof(m.id), "%s", rec_str(rec, "id") ? rec_str(rec, "id") : "");
	m.channel = (char *)rec_str(rec, "channel");
	m.to = (char *)rec_str(rec, "to");
	m.from_name = (char *)rec_str(rec, "from_name");
	m.subject = (char *)rec_str(rec, "subject");
	m.body = (char *)rec_str(rec, "body");
	m.secret = (char *)rec_str(rec, "secret");
	m.front = (char *)rec_str(rec, "front");
	m.created_ms = rec_int(rec, "created", 0);
	m.expires_ms = rec_int(rec, "expires", 0);
	int rc = spool_enqueue(j->cfg.spool_dir, &m);
	if (rc < 0)
		log_err("outbox %s: cannot spool: %s", m.id, strerror(-rc));
	return rc;
}

static void spool_retry_due(uv_timer_t *t);

/* spool_or_retry - hand a committed outbox record to the spool; if the spool
 * cannot take it now (disk full), try again every few seconds */
static void spool_or_retry(struct jobs *j, json_t *m)
{
	if (outbox_to_spool(j, m) == 0) {
		json_array_append_new(j->outbox_del, json_sprintf("o:%s", rec_str(m, "id")));
		return;
	}
	json_array_append(j->outbox_retry, m);
	if (!j->closing && !uv_is_active((uv_handle_t *)&j->spool_retry))
		uv_timer_start(&j->spool_retry, spool_retry_due, 5000, 0);
}

static void spool_retry_due(uv_timer_t *t)
{
	struct jobs *j = t->data;
	json_t *again = j->outbox_retry, *m;
	size_t i;
	j->outbox_retry = json_array();
	json_array_foreach(again, i, m)
		spool_or_retry(j, m);
	json_decref(again);
	if (json_array_size(j->outbox_del))
		jobs_arm(j);
}

/* run_one - run a queued job inside the open transaction */
static int run_one(struct jobs *j, const char *id, json_t *spool_after, json_t *finished)
{
	char key[32];
	json_t *rec = NULL, *args = NULL;
	struct wf_out out = {0};
	int rc;

	job_key(id, key, sizeof(key));
	rc = store_get(j->st, key, &rec);
	if (rc < 0)
		return rc == -ENOENT ? 0 : rc;
	if (strcmp(rec_str(rec, "jstate"), "queued") != 0)
		goto out; /* done already (a duplicate in the run queue) */
	args = json_loads(rec_str(rec, "args") ? rec_str(rec, "args") : "{}", 0, NULL);
	if (!args)
		args = json_object();
	rc = wf_run(j->ws, j->st, rec_str(rec, "type"), args, rec_str(rec, "front"), now_ms(),
		    &out);
	if (rc == -ENOENT) { /* its workflow was removed by a reload */
		out.failed = 1;
		out.result = json_pack("{s:s, s:s}", "code", "UNKNOWN_TYPE", "message",
				       "no workflow handles this job type now");
		rc = 0;
	}
	if (rc < 0)
		goto out;
	if (out.writes) {
		rc = wf_apply(j->st, out.writes);
		if (rc < 0)
			goto out;
	}
	char *res = json_dumps(out.result, JSON_COMPACT);
	rec_set(rec, "jstate", out.failed ? "failed" : "done");
	rec_set(rec, "result", res);
	rec_set_int(rec, "finished", now_ms());
	/* a finished job is answered for the retention period, then purged */
	rec_set_int(rec, "purge", now_ms() + j->ws->retention_ms);
	free(res);
	/* the job has done its work: its arguments (a token, a code, a password
	 * hash) are scrubbed from the file, not just dropped */
	json_object_del(rec, "args");
	rc = store_scrub(j->st, key);
	if (rc == 0)
		rc = store_put(j->st, key, rec);
	if (rc < 0)
		goto out;
	size_t i;
	json_t *ok;
	json_array_foreach(out.outbox, i, ok)
		json_array_append(spool_after, json_object_get(out.writes, json_string_value(ok)));
	json_array_append_new(finished, view_of(rec));
	if (out.failed)
		j->failed_total++;
	else
		j->done_total++;
out:
	wf_out_free(&out);
	json_decref(args);
	json_decref(rec);
	return rc;
}

/* fire_one - a due workflow timer, inside the open transaction */
static int fire_one(struct jobs *j, const char *key, int64_t now, json_t *spool_after)
{
	struct wf_out out = {0};
	int rc = wf_fire_timer(j->ws, j->st, key, now, &out);
	if (rc < 0)
		return rc;
	rc = wf_apply(j->st, out.writes);
	size_t i;
	json_t *ok;
	json_array_foreach(out.outbox, i, ok)
		json_array_append(spool_after, json_object_get(out.writes, json_string_value(ok)));
	j->timers_fired++;
	wf_out_free(&out);
	return rc;
}

static void timers_due(uv_timer_t *t)
{
	jobs_arm(t->data);
}

/* timers_arm - wake up when the earliest timer falls due (at most 10 s away,
 * so that a change of the wall clock is noticed) */
static void timers_arm(struct jobs *j)
{
	json_t *keys = NULL, *rec = NULL;
	uint64_t delay = 10000;
	if (j->closing || j->degraded) /* the retry timer brings the queue back */
		return;
	static const char *cols[] = {"due", "purge"};
	for (int c = 0; c < 2; c++) {
		if (j->st->ops->due(j->st, cols[c], INT64_MAX, 1, &keys) == 0 &&
		    json_array_size(keys) == 1 &&
		    store_get(j->st, json_string_value(json_array_get(keys, 0)), &rec) == 0) {
			int64_t d = rec_int(rec, cols[c], 0) - now_ms();
			delay = d <= 0 ? 0 : (uint64_t)d < delay ? (uint64_t)d : delay;
		}
		json_decref(rec);
		json_decref(keys);
		rec = keys = NULL;
	}
	uv_timer_start(&j->timers, timers_due, delay, 0);
}

/* take_intake - write a new job (or find the first one of its key) */
static int take_intake(struct jobs *j, struct intake *in)
{
	char kkey[300], jkey[32];
	json_t *rec;
	int rc;

	if (in->rc < 0)
		return 0; /* its hashing failed: reported below, nothing written */
	if (in->key) {
		snprintf(kkey, sizeof(kkey), "k:%s:%s", in->front, in->key);
		if (store_get(j->st, kkey, &rec) == 0) {
			in->dup = 1;
			snprintf(in->id, sizeof(in->id), "%s", rec_str(rec, "job"));
			json_decref(rec);
			return 0;
		}
	}
	id_new(in->id);
	job_key(in->id, jkey, sizeof(jkey));
	rec = json_object();
	rec_set(rec, "kind", "job");
	rec_set(rec, "id", in->id);
	rec_set(rec, "type", in->type);
	rec_set(rec, "front", in->front);
	rec_set(rec, "jstate", "queued");
	rec_set_int(rec, "created", now_ms());
	char *a = json_dumps(in->args, JSON_COMPACT);
	rec_set(rec, "args", a);
	free(a);
	if (in->key)
		rec_set(rec, "key", in->key);
	rc = store_put(j->st, jkey, rec);
	json_decref(rec);
	if (rc == 0 && in->key) {
		rec = json_pack("{s:s, s:s}", "kind", "idem", "job", in->id);
		rec_set_int(rec, "purge", now_ms() + j->ws->retention_ms);
		rc = store_put(j->st, kkey, rec);
		json_decref(rec);
	}
	if (rc == 0)
		runq_push(j, in->id);
	return rc;
}

static void intake_free(struct intake *in)
{
	json_decref(in->args);
	free(in->front);
	free(in->type);
	free(in->key);
	free(in);
}

static void tick(uv_timer_t *t)
{
	struct jobs *j = t->data;
	struct intake *ins = j->in_head, *in, *next;
	json_t *spool_after = json_array(), *finished = json_array();
	int rc, ran = 0;

	j->tick_armed = 0;
	j->degraded = 0; /* this tick tries the store again */
	/* take the intakes in arrival order, up to the first still hashing:
	 * jobs for one account keep their order */
	struct intake **cut = &j->in_head;
	while (*cut && !(*cut)->hashing)
		cut = &(*cut)->next;
	ins = NULL;
	if (cut != &j->in_head) { /* detach the ready prefix */
		ins = j->in_head;
		j->in_head = *cut;
		*cut = NULL;
		if (!j->in_head)
			j->in_tail = &j->in_head;
	}
	int64_t now = now_ms();
	json_t *due = NULL, *purge = NULL;
	j->st->ops->due(j->st, "due", now, j->cfg.group_max, &due);
	j->st->ops->due(j->st, "purge", now, j->cfg.group_max, &purge);
	if (!ins && !j->run_head && json_array_size(j->outbox_del) == 0 &&
	    json_array_size(due) == 0 && json_array_size(purge) == 0)
		goto out;

	rc = j->st->ops->begin(j->st);
	if (rc < 0)
		goto failed;
	size_t i;
	json_t *k;
	json_array_foreach(j->outbox_del, i, k) {
		/* the body carries a link or a code: leave no copy in the file */
		store_scrub(j->st, json_string_value(k));
		store_del(j->st, json_string_value(k));
	}
	for (in = ins; in; in = in->next)
		if ((rc = take_intake(j, in)) < 0)
			goto failed;
	struct runnable *r = j->run_head;
	while (r && ran < j->cfg.group_max) {
		if ((rc = run_one(j, r->id, spool_after, finished)) < 0) {
			log_err("job %s: %s", r->id, j->st->err);
			goto failed;
		}
		ran++;
		r = r->next;
	}
	json_t *tk;
	json_array_foreach(due, i, tk)
		if ((rc = fire_one(j, json_string_value(tk), now, spool_after)) < 0)
			goto failed;
	/* records past their retention: scrubbed, then gone */
	json_array_foreach(purge, i, tk) {
		store_scrub(j->st, json_string_value(tk));
		store_del(j->st, json_string_value(tk));
		j->purged++;
	}
	rc = j->st->ops->commit(j->st);
	if (rc == -EAGAIN) /* written, but the disk would not sync: say so, go on */
		log_err("store: committed but not synced to disk: %s", j->st->err);
	else if (rc < 0)
		goto failed;
	j->commits++;
	json_array_clear(j->outbox_del);
	/* the group is durable: drop what ran, tell everyone */
	for (int n = 0; n < ran; n++) {
		struct runnable *d = j->run_head;
		j->run_head = d->next;
		free(d);
		j->nrun--;
	}
	if (!j->run_head)
		j->run_tail = &j->run_head;
	for (in = ins; in; in = next) {
		next = in->next;
		json_t *view = NULL;
		if (in->rc < 0) {
			in->done(in->arg, in->rc, NULL);
			intake_free(in);
			continue;
		}
		/* a new job is "queued" to its submitter (SPEC: accepted, on disk),
		 * even if it ran in this very group; a repeated key gets the first
		 * job as it stands */
		if (!in->dup || jobs_view(j, in->id, &view) < 0)
			view = json_pack("{s:s, s:s}", "id", in->id, "state", "queued");
		in->done(in->arg, 0, view);
		json_decref(view);
		intake_free(in);
	}
	ins = NULL;
	json_t *v;
	json_array_foreach(finished, i, v)
		wake_waiters(j, json_string_value(json_object_get(v, "id")), v);
	/* replies first, then the spool: the messages are safe in the committed
	 * outbox already, and a reply must not take longer because its job sent
	 * a message (recovery answers the same whether or not an account exists) */
	json_t *m;
	json_array_foreach(spool_after, i, m)
		spool_or_retry(j, m);
	goto out;

failed:
	j->commit_fail++;
	j->degraded = 1;
	log_err("store: transaction failed (%s): %s; new jobs get 503 until it works again",
		strerror(-rc), j->st->err);
	j->st->ops->abort(j->st);
	/* a database that stopped on a write error (a full disk) stays stopped
	 * until it is opened again */
	if (j->st->ops->reopen(j->st) < 0)
		log_err("store: reopen failed: %s", j->st->err);
	/* intakes were not durable: their submitters get an error (503) */
	for (in = ins; in; in = next) {
		next = in->next;
		/* take_intake may have queued it before the failure: forget it */
		in->done(in->arg, -EIO, NULL);
		intake_free(in);
	}
	ins = NULL;
	/* jobs queued by this failed group are not in the store: rebuild the run queue */
	{
		struct runnable *d = j->run_head, *dn;
		for (; d; d = dn) {
			dn = d->next;
			free(d);
		}
		j->run_head = NULL;
		j->run_tail = &j->run_head;
		j->nrun = 0;
		json_t *keys = NULL;
		if (store_find(j->st, "jstate", "queued", 0, &keys) == 0) {
			json_t *kk;
			json_array_foreach(keys, i, kk)
				runq_push(j, json_string_value(kk) + 2);
		}
		json_decref(keys);
	}
	uv_timer_start(&j->retry, tick, 1000, 0); /* try again in a second */
out:
	json_decref(due);
	json_decref(purge);
	json_decref(spool_after);
	json_decref(finished);
	/* after a failure only the retry timer comes back: no busy loop */
	if (!j->degraded &&
	    (j->run_head || (j->in_head && !j->in_head->hashing) || json_array_size(j->outbox_del)))
		jobs_arm(j);
	timers_arm(j);
}

static void jobs_arm(struct jobs *j)
{
	if (j->tick_armed || j->closing)
		return;
	j->tick_armed = 1;
	uv_timer_start(&j->tick, tick, 0, 0);
}

static void hash_work(uv_work_t *w)
{
	struct intake *in = w->data;
	const char *name;
	json_t *v;
	const struct wf_event *ev = wf_set_event(in->j->ws, in->type, in->args);
	if (!ev)
		return;
	json_object_foreach(ev->args, name, v) {
		if (strcmp(json_string_value(v), "password") != 0)
			continue;
		const char *pw = json_string_value(json_object_get(in->args, name));
		char hash[SECRET_PWHASH_MAX];
		if (!pw)
			continue;
		if (secret_password_hash(pw, hash) < 0) {
			in->rc = -ENOMEM;
			return;
		}
		json_object_set_new(in->args, name, json_string(hash));
	}
}

static void intake_queue(struct jobs *j, struct intake *in)
{
	*j->in_tail = in;
	j->in_tail = &in->next;
	jobs_arm(j);
}

static void hash_done(uv_work_t *w, int status)
{
	struct intake *in = w->data;
	struct jobs *j = in->j;
	j->hashing--;
	in->hashing = 0;
	if (status < 0 || in->rc < 0) /* take_intake skips it and reports the error */
		in->rc = status < 0 ? status : in->rc;
	if (j->closing) {
		struct intake **pp = &j->in_head;
		while (*pp && *pp != in)
			pp = &(*pp)->next;
		if (*pp)
			*pp = in->next;
		intake_cancel(in);
		jobs_free_if_idle(j);
		return;
	}
	jobs_arm(j);
}

void jobs_submit(struct jobs *j, const char *front, const char *type, json_t *args, const char *key,
		 jobs_done_fn done, void *arg)
{
	struct intake *in = xcalloc(1, sizeof(*in));
	const struct wf_event *ev = wf_set_event(j->ws, type, args);
	const char *name;
	json_t *v;
	int needs_hash = 0;

	in->j = j;
	in->front = xstrdup(front);
	in->type = xstrdup(type);
	in->key = key ? xstrdup(key) : NULL;
	in->args = json_deep_copy(args);
	in->done = done;
	in->arg = arg;
	if (ev)
		json_object_foreach(ev->args, name, v)
			if (!strcmp(json_string_value(v), "password") &&
			    json_object_get(args, name))
				needs_hash = 1;
	if (!needs_hash) {
		intake_queue(j, in);
		return;
	}
	in->work.data = in;
	in->hashing = 1;
	j->hashing++;
	intake_queue(j, in);
	uv_queue_work(j->loop, &in->work, hash_work, hash_done);
}

json_t *jobs_stats(struct jobs *j)
{
	return json_pack("{s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "queued", j->nrun,
			 "hashing", j->hashing, "done", (json_int_t)j->done_total, "failed",
			 (json_int_t)j->failed_total, "commits", (json_int_t)j->commits,
			 "commit_failures", (json_int_t)j->commit_fail, "timers_fired",
			 (json_int_t)j->timers_fired, "records",
			 (json_int_t)j->st->ops->count(j->st), "purged", (json_int_t)j->purged);
}

void jobs_set_workflows(struct jobs *j, const struct wf_set *ws)
{
	j->ws = ws;
}

int jobs_open(uv_loop_t *loop, struct store *st, const struct wf_set *ws,
	      const struct jobs_cfg *cfg, struct jobs **out)
{
	struct jobs *j = xcalloc(1, sizeof(*j));
	json_t *keys = NULL;
	size_t i;
	json_t *k;
	int rc;

	j->loop = loop;
	j->st = st;
	j->ws = ws;
	j->cfg = *cfg;
	if (j->cfg.group_max <= 0)
		j->cfg.group_max = 256;
	j->in_tail = &j->in_head;
	j->run_tail = &j->run_head;
	j->outbox_del = json_array();
	uv_timer_init(loop, &j->tick);
	j->tick.data = j;
	uv_timer_init(loop, &j->retry);
	j->retry.data = j;
	uv_timer_init(loop, &j->timers);
	j->timers.data = j;
	uv_timer_init(loop, &j->spool_retry);
	j->spool_retry.data = j;
	j->outbox_retry = json_array();

	rc = spool_init(cfg->spool_dir);
	if (rc < 0) {
		log_err("spool %s: %s", cfg->spool_dir, strerror(-rc));
		goto fail;
	}
	/* re-drive what a crash left: committed outbox messages, then queued jobs */
	rc = store_find(st, "kind", "outbox", 0, &keys);
	if (rc < 0)
		goto fail;
	json_array_foreach(keys, i, k) {
		json_t *rec;
		if (store_get(st, json_string_value(k), &rec) == 0) {
			spool_or_retry(j, rec);
			json_decref(rec);
		}
	}
	if (json_array_size(keys))
		log_info("re-drove %zu outbox message(s) to the spool", json_array_size(keys));
	json_decref(keys);
	keys = NULL;
	rc = store_find(st, "jstate", "queued", 0, &keys);
	if (rc < 0)
		goto fail;
	json_array_foreach(keys, i, k)
		runq_push(j, json_string_value(k) + 2);
	if (json_array_size(keys))
		log_info("recovered %zu queued job(s)", json_array_size(keys));
	json_decref(keys);
	jobs_arm(j);
	*out = j;
	return 0;
fail:
	json_decref(keys);
	json_decref(j->outbox_del);
	free(j);
	return rc;
}

/* jobs_free_if_idle - j goes once its timers are closed and no hash is running */
static void jobs_free_if_idle(struct jobs *j)
{
	if (j->closing && j->handles_closed && j->hashing == 0)
		free(j);
}

/* jobs_closed - the last timer is closed: the loop no longer knows j */
static void jobs_closed(uv_handle_t *h)
{
	struct jobs *j = h->data;
	j->handles_closed = 1;
	jobs_free_if_idle(j);
}

/* intake_cancel - a job that was never written: its submitter hears so */
static void intake_cancel(struct intake *in)
{
	in->done(in->arg, -ECANCELED, NULL);
	intake_free(in);
}

void jobs_close(struct jobs *j)
{
	if (!j)
		return;
	j->closing = 1;
	uv_timer_stop(&j->tick);
	uv_timer_stop(&j->retry);
	uv_timer_stop(&j->timers);
	uv_timer_stop(&j->spool_retry);
	uv_close((uv_handle_t *)&j->tick, NULL);
	uv_close((uv_handle_t *)&j->timers, NULL);
	uv_close((uv_handle_t *)&j->spool_retry, NULL);
	uv_close((uv_handle_t *)&j->retry, jobs_closed);
	while (j->waiters)
		waiter_timeout(&j->waiters->timer);
	/* intakes not yet written are cancelled; those still hashing are
	 * cancelled when their hash is done (the thread pool cannot be stopped) */
	struct intake **pp = &j->in_head;
	while (*pp) {
		struct intake *in = *pp;
		if (in->hashing) {
			pp = &in->next;
			continue;
		}
		*pp = in->next;
		intake_cancel(in);
	}
	j->in_tail = pp;
	struct runnable *r = j->run_head, *n;
	for (; r; r = n) {
		n = r->next;
		free(r);
	}
	j->run_head = NULL;
	json_decref(j->outbox_del);
	j->outbox_del = NULL;
	/* (records the spool refused stay in the outbox: re-driven at start) */
	json_decref(j->outbox_retry);
	j->outbox_retry = NULL;
}
