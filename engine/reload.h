/*
 * reload - a new workflow set takes over only if it keeps every workflow
 * and state in which accounts or timers still live: those are counted (a
 * walk of the accounts and timers, a slice a loop turn, so the engine goes
 * on answering) and the set is refused with the counts, unless forced.
 * A forced set leaves such timers parked (runtime/wf_run.c): they fire when
 * their workflow comes back.
 */
#ifndef REGFLOW_RELOAD_H
#define REGFLOW_RELOAD_H

#include "engine.h"
#include "wf.h"

#include <jansson.h>

/* reload_done_fn - rc 0: the set runs; -EEXIST: refused (report says why) */
typedef void (*reload_done_fn)(void *arg, int rc, json_t *report);

/*
 * reload_start - check ws (the caller's reference, taken) against the
 * running set, then make it current or refuse it; done is called once,
 * perhaps at once.  -EBUSY (done not called) while another reload is checked.
 */
int reload_start(struct engine *e, struct wf_set *ws, int force, reload_done_fn done, void *arg);

#endif
