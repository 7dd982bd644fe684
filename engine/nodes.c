/*
 * nodes - the engines sharing one store and the workflow set each runs
 * (see nodes.h).  A node is alive while an engine holds its lock
 * (store_node_op); only live nodes' records count.
 */
#include "nodes.h"
#include "log.h"
#include "rec.h"
#include "util.h"

#include <sodium.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WRITE_TRIES 8 /* a write that conflicted, tried again at most */

static struct {
	int node;			/* this engine's (-1: a store of one engine) */
	int64_t since;			/* when this node took the set it runs */
	int differ;			/* a live node with a newer set this one lacks (-1: none) */
	char want[NODES_PRINT_LEN + 1]; /* its set */
	int64_t want_since;
	int following;	  /* a reload to follow it is on its way */
	int leader;	  /* the node it follows */
	int64_t tried_ms; /* when the last one started */
	int64_t again_ms; /* a node whose files differ reloads them again after */
} me = {.node = -1, .differ = -1};

static int by_name(const void *a, const void *b)
{
	return strcmp((*(struct wf *const *)a)->name, (*(struct wf *const *)b)->name);
}

void nodes_print(const struct wf_set *ws, char out[NODES_PRINT_LEN + 1])
{
	struct wf **v = xcalloc((size_t)ws->n + 1, sizeof(*v));
	crypto_generichash_state h;
	unsigned char d[NODES_PRINT_LEN / 2];
	memcpy(v, ws->wfs, sizeof(*v) * (size_t)ws->n);
	qsort(v, (size_t)ws->n, sizeof(*v), by_name);
	crypto_generichash_init(&h, NULL, 0, sizeof(d));
	for (int i = 0; i < ws->n; i++) {
		crypto_generichash_update(&h, (const unsigned char *)v[i]->name,
					  strlen(v[i]->name) + 1);
		crypto_generichash_update(&h, (const unsigned char *)v[i]->version,
					  strlen(v[i]->version) + 1);
	}
	crypto_generichash_final(&h, d, sizeof(d));
	sodium_bin2hex(out, NODES_PRINT_LEN + 1, d, sizeof(d));
	free(v);
}

/* alive - 1 if an engine holds node now */
static int alive(struct engine *e, int node)
{
	int rc = store_node(e->st, node, STORE_NODE_TRY);
	if (rc == 0)
		store_node(e->st, node, STORE_NODE_FREE);
	return rc == -EBUSY;
}

/* newest_other - the live node (not this one) whose set differs from
 * print and is the newest taken after since (INT64_MIN: any); -1 if none */
static int newest_other(struct engine *e, const char *print, int64_t since, char out[17],
			int64_t *out_since)
{
	json_t *keys = NULL, *k;
	size_t i;
	int best = -1;
	if (rec_list(e->st, REC_NODE, &keys) < 0)
		return -1;
	json_array_foreach(keys, i, k) {
		json_t *rec = NULL;
		if (rec_get_key(e->st, json_string_value(k), &rec) < 0)
			continue;
		int node = (int)rec_int(rec, "node", -1);
		int64_t s = rec_int(rec, "since", 0);
		if (node >= 0 && node != me.node && strcmp(rec_str0(rec, "set"), print) != 0 &&
		    s > since && alive(e, node)) {
			best = node;
			since = s;
			snprintf(out, NODES_PRINT_LEN + 1, "%s", rec_str0(rec, "set"));
			*out_since = s;
		}
		json_decref(rec);
	}
	json_decref(keys);
	return best;
}

/* write_self - this node's record: the set it runs, since when */
static int write_self(struct engine *e, const char *print)
{
	char id[16], key[REC_KEY_MAX];
	int rc = 0;
	snprintf(id, sizeof(id), "%d", me.node);
	json_t *rec = json_object();
	rec_set_int(rec, "node", me.node);
	rec_set(rec, "set", print);
	rec_set_int(rec, "since", me.since);
	rec_set_int(rec, "pid", (int64_t)getpid());
	rec_key(REC_NODE, id, key);
	for (int tries = 0; tries < WRITE_TRIES; tries++) {
		if ((rc = store_begin(e->st)) == 0 && (rc = rec_put_key(e->st, key, rec)) == 0)
			rc = store_commit(e->st);
		if (rc == -EAGAIN)
			rc = 0;
		if (rc != -EDEADLK)
			break;
		store_abort(e->st);
	}
	if (rc < 0) {
		store_abort(e->st);
		log_err("node %d: its record not written: %s", me.node, store_error(e->st));
	}
	json_decref(rec);
	return rc;
}

int nodes_start(struct engine *e, int node, int64_t again_ms, char *err, size_t n)
{
	char print[NODES_PRINT_LEN + 1], theirs[NODES_PRINT_LEN + 1];
	int64_t since;
	if (!store_shared(e->st))
		return 0;
	me.node = node;
	me.again_ms = again_ms;
	nodes_print(e->ws, print);
	int other = newest_other(e, print, INT64_MIN, theirs, &since);
	if (other >= 0) {
		snprintf(err, n,
			 "node %d runs other workflows (set %s) than these (set %s): start with "
			 "the same workflow files as the running nodes, or reload them with these "
			 "first (the others follow a reload)",
			 other, theirs, print);
		return -EEXIST;
	}
	me.since = now_ms();
	return write_self(e, print);
}

void nodes_publish(struct engine *e)
{
	char print[NODES_PRINT_LEN + 1];
	if (me.node < 0)
		return;
	nodes_print(e->ws, print);
	if (!me.following)
		me.since = now_ms(); /* an operator's reload: the set the others follow */
	else if (!strcmp(print, me.want)) {
		me.since = me.want_since; /* followed: as new as the one followed */
		me.differ = -1; /* jobs taken again at once, not after the reload's walk */
	}
	write_self(e, print);
}

static void followed(void *arg, int rc, json_t *report)
{
	struct engine *e = arg;
	char print[NODES_PRINT_LEN + 1];
	me.following = 0;
	nodes_print(e->ws, print);
	if (strcmp(print, me.want) != 0) {
		log_err("node %d: the workflows here (set %s) differ from node %d's (set %s), "
			"which a reload made current: jobs are refused (503) until these files are "
			"the same (tried again every %lld ms)",
			me.node, print, me.leader, me.want, (long long)me.again_ms);
		me.differ = me.leader; /* (nodes_publish did not clear it, or not for this set) */
		return;
	}
	log_info("node %d: now runs the workflows of node %d (set %s)", me.node, me.leader, print);
	me.differ = -1;
}

void nodes_follow(struct engine *e)
{
	char print[NODES_PRINT_LEN + 1], theirs[NODES_PRINT_LEN + 1];
	int64_t since = 0;
	if (me.node < 0 || me.following)
		return;
	nodes_print(e->ws, print);
	int other = newest_other(e, print, me.since, theirs, &since);
	if (other < 0) {
		me.differ = -1;
		return;
	}
	int64_t now = now_ms();
	if (other == me.differ && !strcmp(theirs, me.want) && now - me.tried_ms < me.again_ms)
		return;
	if (other != me.differ || strcmp(theirs, me.want))
		log_info("node %d took other workflows (set %s): reloading ours to follow", other,
			 theirs);
	me.differ = me.leader = other;
	snprintf(me.want, sizeof(me.want), "%s", theirs);
	me.want_since = since;
	me.tried_ms = now;
	me.following = 1;
	e->reload(e, 0, followed, e);
}

int nodes_differ(void)
{
	return me.differ;
}
