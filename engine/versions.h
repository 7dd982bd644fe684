/*
 * versions - the versions of the workflows (issue 14, docs/workflows.md):
 * each workflow loaded is recorded in the store as v:NAME@VERSION with the
 * time it was first loaded and the text of everything it is made of (its
 * file, its body files, messages.conf, id_types.conf, its states); an
 * account in a state the newest version removed runs on the latest version
 * that had the state (it ran on each newest version while they had it),
 * found here: from the sets loaded since start, or loaded again from its
 * record (after a restart).  Loop thread only.
 */
#ifndef REGFLOW_VERSIONS_H
#define REGFLOW_VERSIONS_H

#include "engine.h"

#include <jansson.h>

/* versions_init - the runs find old versions through versions_find */
void versions_init(struct engine *e);
/* versions_record - every workflow of ws recorded (new ones written, in one
 * transaction) and ws kept for the accounts that will stay on it */
int versions_record(struct engine *e, struct wf_set *ws);
/* versions_find - the latest recorded version of workflow name that has
 * state (the one an account in it last ran on), loaded or loaded from the
 * store; NULL if none (or it would not load) */
const struct wf *versions_find(const char *name, const char *state);
/* versions_of_state - its version, or NULL */
const char *versions_of_state(const char *name, const char *state);
/* versions_list - the records of the versions of name (NULL: all), without
 * their texts, oldest first: [{name, version, loaded}] */
json_t *versions_list(struct engine *e, const char *name);
/* versions_text - the workflow file of name@version as it was loaded, or NULL */
char *versions_text(struct engine *e, const char *name, const char *version);
/* versions_free - at the end */
void versions_free(void);

#endif
