/*
 * outbox - committed messages on their way to the spool.  A workflow's
 * send writes an outbox record (the message in the spool's format) in the
 * transaction of the state change that made it; after the commit it is
 * handed to the spool under its own id and its record deleted in the next
 * group.  A spool that cannot take it now (a full disk) is tried again
 * every few seconds; at start every outbox record left is re-driven (the
 * spool takes an id once).
 */
#include "jobs_priv.h"
#include "log.h"
#include "rec.h"

#include <errno.h>
#include <string.h>

#define SPOOL_RETRY_MS 5000

/* to_spool - hand a committed outbox record to the spool */
static int to_spool(struct jobs *j, const json_t *rec)
{
	struct spool_msg m;
	char err[256];
	int rc = rec_outbox_msg(rec, &m, err, sizeof(err));
	if (rc < 0) {
		log_err("outbox %s: unreadable: %s", rec_str0(rec, "id"), err);
		return rc;
	}
	rc = spool_enqueue(j->cfg.spool_dir, &m);
	if (rc < 0)
		log_err("outbox %s: cannot spool: %s", m.id, strerror(-rc));
	spool_msg_free(&m);
	return rc;
}

static void spool_retry_due(uv_timer_t *t)
{
	struct jobs *j = t->data;
	json_t *again = j->outbox_retry, *m;
	size_t i;
	j->outbox_retry = json_array();
	json_array_foreach(again, i, m)
		outbox_spool(j, m);
	json_decref(again);
	if (json_array_size(j->outbox_del))
		jobs_arm(j);
}

void outbox_spool(struct jobs *j, json_t *rec)
{
	char key[REC_KEY_MAX];
	if (to_spool(j, rec) == 0) {
		json_array_append_new(j->outbox_del,
				      json_string(rec_outbox_key(rec_str0(rec, "id"), key)));
		return;
	}
	json_array_append(j->outbox_retry, rec);
	if (!j->closing && !uv_is_active((uv_handle_t *)&j->spool_retry))
		uv_timer_start(&j->spool_retry, spool_retry_due, SPOOL_RETRY_MS, 0);
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
	json_t *keys = NULL, *k;
	size_t i;
	int rc = rec_list(j->st, REC_OUTBOX, &keys);
	if (rc < 0)
		return rc;
	json_array_foreach(keys, i, k) {
		json_t *rec;
		if (rec_get_key(j->st, json_string_value(k), &rec) == 0) {
			outbox_spool(j, rec);
			json_decref(rec);
		}
	}
	if (json_array_size(keys))
		log_info("re-drove %zu outbox message(s) to the spool", json_array_size(keys));
	json_decref(keys);
	return 0;
}
