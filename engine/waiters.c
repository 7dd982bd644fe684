/*
 * waiters - ?wait=MS: a request that waits for its job's outcome, woken
 * when a group that ran the job has committed, or answered with the job's
 * view as it stands when its time is up.
 */
#include "jobs_priv.h"
#include "rec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct waiter {
	struct jobs *j;
	char id[ID_LEN + 1];
	jobs_done_fn done;
	void *arg;
	uv_timer_t timer;
	int fired;
	struct waiter *prev, *next;
};

json_t *job_view_of(const json_t *rec)
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
	json_t *rec;
	int rc = rec_job_get(j->st, id, &rec);
	if (rc < 0)
		return rc;
	*view = job_view_of(rec);
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

static int view_final(const json_t *view)
{
	const char *s = json_string_value(json_object_get(view, "state"));
	return s && (!strcmp(s, "done") || !strcmp(s, "failed"));
}

void jobs_wait(struct jobs *j, const char *id, uint64_t timeout_ms, jobs_done_fn done, void *arg)
{
	json_t *view = NULL;
	if (jobs_view(j, id, &view) == 0 && view_final(view)) {
		done(arg, 0, view);
		json_decref(view);
		return;
	}
	json_decref(view);
	struct waiter *w = xcalloc(1, sizeof(*w));
	w->j = j;
	snprintf(w->id, sizeof(w->id), "%s", id);
	w->done = done;
	w->arg = arg;
	uv_timer_init(j->e->loop, &w->timer);
	w->timer.data = w;
	uv_timer_start(&w->timer, waiter_timeout, timeout_ms, 0);
	w->next = j->waiters;
	if (w->next)
		w->next->prev = w;
	j->waiters = w;
}

void waiters_wake(struct jobs *j, const char *id, json_t *view)
{
	struct waiter *w = j->waiters, *next;
	for (; w; w = next) {
		next = w->next;
		if (strcmp(w->id, id) == 0)
			waiter_fire(w, view);
	}
}

void waiters_close(struct jobs *j)
{
	while (j->waiters)
		waiter_timeout(&j->waiters->timer);
}
