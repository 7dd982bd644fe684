/*
 * reload - a new workflow set takes over at once (issue 14: versions
 * replace the refusal of sets that drop states still in use).  Then a walk
 * of the accounts and timers, a slice a loop turn so the engine goes on
 * answering, counts who stays on which version and moves the accounts of
 * removed states that a new version's migrate = { ... } names, each slice's
 * moves one transaction.  The same walk, without moves, counts accounts and
 * timers per version for GET /v1/workflows.
 */
#ifndef REGFLOW_RELOAD_H
#define REGFLOW_RELOAD_H

#include "engine.h"
#include "wf.h"

#include <jansson.h>

/* reload_done_fn - rc 0: the set runs (report: pinned, migrated); <0 not */
typedef void (*reload_done_fn)(void *arg, int rc, json_t *report);

/*
 * reload_start - make ws (the caller's reference, taken; NULL: the running
 * set, at start) current, its versions recorded, then walk and migrate;
 * done is called once, at the walk's end.  -EBUSY (done not called) while
 * another reload or count walks.
 */
int reload_start(struct engine *e, struct wf_set *ws, reload_done_fn done, void *arg);
/* reload_count - the walk alone: done's report {"counts": {"NAME@VERSION": {accounts, timers}}} */
int reload_count(struct engine *e, reload_done_fn done, void *arg);

#endif
