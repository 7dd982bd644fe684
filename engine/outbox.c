/*
 * outbox - committed messages on their way to the spool.  A workflow's
 * send writes an outbox record (the message in the spool's format) in the
 * transaction of the state change that made it; after the commit the
 * group's messages go to the spool together, on libuv's thread pool (each
 * file written and synced, linked into incoming/, the folder synced once),
 * and their records are deleted in a later group (the next one that comes,
 * or one of their own OUTBOX_DELETE_MS later).  A spool that cannot take
 * a message now (a full disk) gets it again every few seconds; at start
 * every outbox record left is re-driven (the spool takes an id once).
 */
#include "jobs_priv.h"
#include "log.h"
#include "rec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SPOOL_RETRY_MS 5000
/* a spooled record's delete waits for the next group, or this long: under
 * load it rides in a group of jobs (no commit of its own, half the
 * commits of a registration); idle, it is written this much later (the
 * spool takes an id once, so a crash before it re-drives a copy for nothing) */
#define OUTBOX_DELETE_MS 100

/* one batch on the thread pool: plain copies, nothing of the loop's */
struct spool_batch {
	uv_work_t work;
	struct jobs *j;
	size_t n;
	char **texts; /* the records' messages, in the spool's format */
	char **ids;
	int *rcs;
};

static void batch_work(uv_work_t *w)
{
	struct spool_batch *b = w->data;
	struct spool_msg *ms = xcalloc(b->n + 1, sizeof(*ms));
	int *parsed = xcalloc(b->n + 1, sizeof(*parsed));
	char err[256];
	size_t k = 0;
	for (size_t i = 0; i < b->n; i++) {
		b->rcs[i] = spool_parse(b->texts[i], strlen(b->texts[i]), &ms[k], err, sizeof(err));
		if (b->rcs[i] == 0)
			parsed[k++] = (int)i;
	}
	int *rcs = xcalloc(k + 1, sizeof(*rcs));
	spool_enqueue_batch(b->j->cfg.spool_dir, ms, k, rcs);
	for (size_t i = 0; i < k; i++) {
		b->rcs[parsed[i]] = rcs[i];
		spool_msg_free(&ms[i]);
	}
	free(rcs);
	free(parsed);
	free(ms);
}

static void batch_free(struct spool_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->texts[i]);
		free(b->ids[i]);
	}
	free(b->texts);
	free(b->ids);
	free(b->rcs);
	free(b);
}

static void spool_retry_due(uv_timer_t *t);

/* retry_later - a record the spool did not take now */
static void retry_later(struct jobs *j, const char *id, const char *text)
{
	json_array_append_new(j->outbox_retry, json_pack("{s:s, s:s}", "id", id, "msg", text));
	if (!j->closing && !uv_is_active((uv_handle_t *)&j->spool_retry))
		uv_timer_start(&j->spool_retry, spool_retry_due, SPOOL_RETRY_MS, 0);
}

static void batch_done(uv_work_t *w, int status)
{
	struct spool_batch *b = w->data;
	struct jobs *j = b->j;
	char key[REC_KEY_MAX];
	j->spooling--;
	j->spooling_msgs -= (int64_t)b->n;
	for (size_t i = 0; i < b->n; i++) {
		int rc = status < 0 ? status : b->rcs[i];
		if (rc == 0 && j->closing)
			continue; /* spooled: its record goes at the next start */
		if (rc == 0) {
			json_array_append_new(j->outbox_del,
					      json_string(rec_outbox_key(b->ids[i], key)));
			continue;
		}
		log_err("outbox %s: cannot spool: %s", b->ids[i], strerror(-rc));
		if (!j->closing) /* (at a stop it stays in the outbox: re-driven at start) */
			retry_later(j, b->ids[i], b->texts[i]);
	}
	batch_free(b);
	if (j->closing)
		jobs_free_if_idle(j);
	else if (json_array_size(j->outbox_del))
		outbox_delete_later(j);
}

static void outbox_later_due(uv_timer_t *t)
{
	struct jobs *j = t->data;
	if (!j->degraded) /* else the retry timer's group deletes them */
		jobs_arm(j);
}

void outbox_delete_later(struct jobs *j)
{
	if (!j->closing && !j->degraded && !uv_is_active((uv_handle_t *)&j->outbox_later))
		uv_timer_start(&j->outbox_later, outbox_later_due, OUTBOX_DELETE_MS, 0);
}

void outbox_spool_all(struct jobs *j, json_t *recs)
{
	size_t n = json_array_size(recs), i;
	json_t *rec;
	if (n == 0)
		return;
	struct spool_batch *b = xcalloc(1, sizeof(*b));
	b->j = j;
	b->texts = xcalloc(n, sizeof(char *));
	b->ids = xcalloc(n, sizeof(char *));
	b->rcs = xcalloc(n, sizeof(int));
	json_array_foreach(recs, i, rec) {
		b->ids[b->n] = xstrdup(rec_str0(rec, "id"));
		b->texts[b->n++] = xstrdup(rec_str0(rec, "msg"));
	}
	b->work.data = b;
	j->spooling++;
	j->spooling_msgs += (int64_t)b->n;
	uv_queue_work(j->e->loop, &b->work, batch_work, batch_done);
}

static void spool_retry_due(uv_timer_t *t)
{
	struct jobs *j = t->data;
	json_t *again = j->outbox_retry;
	j->outbox_retry = json_array();
	outbox_spool_all(j, again);
	json_decref(again);
}

int outbox_delete(struct jobs *j)
{
	size_t i;
	json_t *k;
	json_array_foreach(j->outbox_del, i, k) {
		/* the body carries a link or a code: rec_del leaves no copy in the file */
		int rc = rec_del_key(j->st, json_string_value(k));
		if (rc < 0 && rc != -ENOENT)
			return rc;
	}
	return 0;
}

int outbox_recover(struct jobs *j)
{
	json_t *keys = NULL, *k, *recs = json_array();
	size_t i;
	int rc = rec_list(j->st, REC_OUTBOX, &keys);
	if (rc < 0) {
		json_decref(recs);
		return rc;
	}
	json_array_foreach(keys, i, k) {
		json_t *rec;
		if (rec_get_key(j->st, json_string_value(k), &rec) < 0)
			continue;
		if (adopt_mine(j, rec)) /* (another engine's: its own, or the sweep's) */
			json_array_append(recs, rec);
		json_decref(rec);
	}
	if (json_array_size(recs))
		log_info("re-drove %zu outbox message(s) to the spool", json_array_size(recs));
	outbox_spool_all(j, recs);
	json_decref(recs);
	json_decref(keys);
	return 0;
}
