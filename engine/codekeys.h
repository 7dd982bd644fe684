/*
 * codekeys - the engine's code keys (common/codekey.h): found or made at
 * start, beside a database that needs them, and re-read on SIGHUP.
 */
#ifndef REGFLOW_CODEKEYS_H
#define REGFLOW_CODEKEYS_H

#include "codekey.h"
#include "store.h"

/*
 * codekeys_open - load path; a missing file is created (0600) unless the
 * database holds codes hashed with a key, when the engine must not start
 * (those codes could never be checked): then -ENOKEY with the reason in err.
 */
int codekeys_open(struct store *st, const char *path, struct codekey_ring **out, char *err,
		  size_t n);
/* codekeys_reload - *ring replaced by path's keys; on error the old stay */
int codekeys_reload(const char *path, struct codekey_ring **ring, char *err, size_t n);

#endif
