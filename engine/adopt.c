/*
 * adopt - several engines on one store (issue 13).  Each engine runs the
 * jobs it queued and spools the messages it committed; whose a record is
 * comes from its id (ids name their node: id_new) or, once adopted, from
 * its "node" column.  An engine that dies leaves its queued jobs and its
 * outbox records to the others: every engine.pg.sweep each engine looks at
 * the queued jobs and outbox records that are not its own, and for each
 * node they name that no engine holds (store_node_op TRY) it takes that
 * node, makes the records its own in one transaction, gives the node back,
 * and runs and spools them as a start recovers its own.  A job adopted
 * from an engine that was only cut off runs once all the same (a run reads
 * the job's record inside its transaction: group.c); its messages may go
 * twice, as around any crash.  Timers belong to no engine: any engine's
 * group claims those due (store_pg.c).
 */
#include "jobs_priv.h"
#include "log.h"
#include "nodes.h"
#include "rec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADOPT_TRIES 8	    /* a transaction that conflicted, tried again at most */
#define FULL_SWEEP_EVERY 30 /* sweeps: then every node's records are looked at */

/* owner_of - the node whose record this is */
static int owner_of(const json_t *rec)
{
	const char *n = rec_str(rec, "node");
	return n ? atoi(n) : id_node(rec_str0(rec, "id"));
}

int adopt_mine(const struct jobs *j, const json_t *rec)
{
	return !store_shared(j->st) || owner_of(rec) == j->cfg.node;
}

/* still_theirs - the record is what it was when seen: a queued job or an
 * outbox message of node */
static int still_theirs(const json_t *rec, int kind, int node)
{
	if (owner_of(rec) != node)
		return 0;
	return kind != REC_JOB || rec_is(rec, "jstate", "queued");
}

/* foreign - keys (of kind) whose records are other nodes': node -> [key] */
static int foreign(struct jobs *j, int kind, json_t *by_node)
{
	json_t *keys = NULL, *k;
	size_t i;
	int rc = kind == REC_JOB ? rec_find(j->st, REC_JOB, "jstate", "queued", &keys)
				 : rec_list(j->st, REC_OUTBOX, &keys);
	if (rc < 0)
		return rc;
	json_array_foreach(keys, i, k) {
		const char *key = json_string_value(k);
		json_t *rec = NULL;
		if (rec_get_key(j->st, key, &rec) == 0 && owner_of(rec) != j->cfg.node) {
			char n[16];
			snprintf(n, sizeof(n), "%d", owner_of(rec));
			if (!json_object_get(by_node, n))
				json_object_set_new(by_node, n, json_array());
			json_array_append_new(json_object_get(by_node, n),
					      json_pack("[s, i]", key, kind));
		}
		json_decref(rec);
	}
	json_decref(keys);
	return 0;
}

/* make_mine - in one transaction: the node's records (still its) become
 * this engine's; the records taken, in *taken */
static int make_mine(struct jobs *j, int node, json_t *items, json_t **taken)
{
	size_t i;
	json_t *it;
	int rc;
	*taken = json_array();
	if ((rc = store_begin(j->st)) < 0)
		return rc;
	json_array_foreach(items, i, it) {
		const char *key = json_string_value(json_array_get(it, 0));
		int kind = (int)json_integer_value(json_array_get(it, 1));
		json_t *rec = NULL;
		rc = rec_get_key(j->st, key, &rec);
		if (rc == -ENOENT) { /* gone meanwhile: run or spooled */
			rc = 0;
			continue;
		}
		if (rc == 0 && still_theirs(rec, kind, node)) {
			rec_set_int(rec, "node", j->cfg.node);
			if ((rc = rec_put_key(j->st, key, rec)) == 0)
				json_array_append_new(*taken, json_pack("[o, i]", rec, kind));
			else
				json_decref(rec);
		} else {
			json_decref(rec);
		}
		if (rc < 0)
			break;
	}
	if (rc < 0 || (rc = store_commit(j->st)) == -EAGAIN)
		rc = rc == -EAGAIN ? 0 : rc;
	if (rc < 0) {
		store_abort(j->st);
		json_array_clear(*taken);
	}
	return rc;
}

/* settle - the transaction failed, perhaps only as far as this engine
 * knows (the connection lost in its commit): the records it made this
 * engine's, read again, are run and spooled here (nobody else would:
 * they are no longer the dead node's) */
static void settle(struct jobs *j, json_t *items, json_t *taken)
{
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it) {
		int kind = (int)json_integer_value(json_array_get(it, 1));
		json_t *rec = NULL;
		if (rec_get_key(j->st, json_string_value(json_array_get(it, 0)), &rec) == 0 &&
		    still_theirs(rec, kind, j->cfg.node))
			json_array_append_new(taken, json_pack("[O, i]", rec, kind));
		json_decref(rec);
	}
}

/* take_node - a dead node's records: made this engine's, then run and spooled */
static int take_node(struct jobs *j, int node, json_t *items)
{
	json_t *taken = NULL, *t, *msgs = json_array();
	size_t i;
	int rc, tries = 0;
	while ((rc = make_mine(j, node, items, &taken)) == -EDEADLK && ++tries < ADOPT_TRIES) {
		json_decref(taken);
		j->conflicts++;
	}
	if (rc < 0) {
		log_err("node %d: its queued work not adopted now: %s", node, store_error(j->st));
		if (rc != -EDEADLK)
			settle(j, items, taken);
	}
	json_array_foreach(taken, i, t) {
		json_t *rec = json_array_get(t, 0);
		if (json_integer_value(json_array_get(t, 1)) == REC_JOB)
			runq_push(j, job_recovered(j, rec));
		else
			json_array_append(msgs, rec);
	}
	if (json_array_size(taken)) {
		log_info(
			"adopted %zu queued job(s) and message(s) of node %d, which is not running",
			json_array_size(taken), node);
		j->adopted += (int64_t)json_array_size(taken);
	}
	outbox_spool_all(j, msgs);
	json_decref(msgs);
	json_decref(taken);
	return rc;
}

/* dead_unswept - 1 if a node that is not running may have records left:
 * one not looked at since it was last seen running (j->swept: the dead
 * nodes whose records are all adopted; no engine writes as a node it does
 * not hold); every FULL_SWEEP_EVERY sweeps, 1 anyway (ids of nodes that
 * never wrote a node record, a node alive between two sweeps) */
static int dead_unswept(struct jobs *j, uint32_t *dead)
{
	json_t *keys = NULL, *k;
	size_t i;
	*dead = 0;
	if (rec_list(j->st, REC_NODE, &keys) < 0)
		return 1;
	json_array_foreach(keys, i, k) {
		int node = atoi(json_string_value(k) + 2); /* "n:NODE" */
		if (node < 0 || node > 31 || node == j->cfg.node)
			continue;
		int rc = store_node(j->st, node, STORE_NODE_TRY);
		if (rc == 0) {
			store_node(j->st, node, STORE_NODE_FREE);
			*dead |= 1u << node;
		} else if (rc == -EBUSY) {
			j->swept &= ~(1u << node);
		}
	}
	json_decref(keys);
	return (*dead & ~j->swept) != 0 || ++j->sweeps % FULL_SWEEP_EVERY == 0;
}

static void sweep(uv_timer_t *t)
{
	struct jobs *j = t->data;
	json_t *by_node = json_object(), *items;
	const char *n;
	uint32_t dead = 0, left = 0;
	if (j->closing)
		goto out;
	if (!dead_unswept(j, &dead))
		goto tail;
	if (foreign(j, REC_JOB, by_node) < 0 || foreign(j, REC_OUTBOX, by_node) < 0)
		goto out; /* the store is away: the next sweep */
	json_object_foreach(by_node, n, items) {
		int node = atoi(n);
		if (node < 0 || store_node(j->st, node, STORE_NODE_TRY) < 0)
			continue; /* alive (or the store away) */
		if (take_node(j, node, items) < 0 && node <= 31)
			left |= 1u << node;
		store_node(j->st, node, STORE_NODE_FREE);
	}
	j->swept |= dead & ~left;
tail:
	if (j->run_head)
		jobs_arm(j);
	jobs_timers_arm(j); /* timers other engines made */
	nodes_follow(j->e); /* a reload on another node */
out:
	json_decref(by_node);
}

void adopt_start(struct jobs *j)
{
	if (store_shared(j->st) && j->cfg.sweep_ms)
		uv_timer_start(&j->sweep, sweep, j->cfg.sweep_ms, j->cfg.sweep_ms);
}
