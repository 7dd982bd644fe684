/*
 * nodes - the engines sharing one store (issue 13): each keeps a record
 * n:NODE saying which workflow set it runs (a fingerprint of its workflows'
 * versions) and since when.  An engine whose set differs from a running
 * node's is refused at start; a reload on one node is followed by the
 * others (each reloads its own folder when a running node took a newer
 * set); a node whose files still differ refuses jobs (503) until they
 * match, so that every node gives the answers one engine would.  On a
 * store of one engine (Tokyo Cabinet) all of this is nothing.  Loop thread.
 */
#ifndef REGFLOW_NODES_H
#define REGFLOW_NODES_H

#include "engine.h"

#include <stddef.h>
#include <stdint.h>

#define NODES_PRINT_LEN 16

/* nodes_print - the fingerprint of a set: the versions of its workflows */
void nodes_print(const struct wf_set *ws, char out[NODES_PRINT_LEN + 1]);
/* nodes_start - at start: 0, or -EEXIST (why in err) when a running node
 * runs another set; then this node's record written.  again_ms: how often
 * a node whose files differ from a newer set reloads them */
int nodes_start(struct engine *e, int node, int64_t again_ms, char *err, size_t n);
/* nodes_publish - this node now runs e->ws (after a reload it took) */
void nodes_publish(struct engine *e);
/* nodes_follow - from the sweep: follow a running node's newer set */
void nodes_follow(struct engine *e);
/* nodes_differ - the node whose newer set this one cannot match (-1: none) */
int nodes_differ(void);

#endif
