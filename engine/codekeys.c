/*
 * codekeys - the engine's code keys at start and on reload (codekeys.h).
 */
#include "codekeys.h"
#include "log.h"
#include "rec.h"
#include "util.h"
#include "wf_run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* keyed_codes - 1 if some code record carries a key id, 0 if none; or -errno */
static int keyed_codes(struct store *st)
{
	json_t *keys = NULL, *k, *r;
	size_t i;
	int rc = rec_list(st, REC_CODE, &keys), found = 0;
	json_array_foreach(keys, i, k) {
		if (rc < 0 || found)
			break;
		if ((rc = rec_get_key(st, json_string_value(k), &r)) == 0) {
			found = rec_str(r, "kid") != NULL;
			json_decref(r);
		} else if (rc == -ENOENT) {
			rc = 0;
		}
	}
	json_decref(keys);
	return rc < 0 ? rc : found;
}

int codekeys_open(struct store *st, const char *path, struct codekey_ring **out, char *err,
		  size_t n)
{
	int rc = codekey_load(path, out, err, n);
	if (rc != -ENOENT)
		goto out;
	if ((rc = keyed_codes(st)) != 0) {
		snprintf(err, n,
			 rc < 0 ? "%s: missing, and the database cannot be read to see whether it "
				  "needs it"
				: "%s: missing, and the database holds codes hashed with it: "
				  "restore "
				  "the file (it is kept apart from the database and its backups)",
			 path);
		return -ENOKEY;
	}
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	if (slash) { /* its folder, as the database's: the engine's user's alone */
		*slash = 0;
		if (*dir)
			mkdir_p(dir, 0700);
	}
	free(dir);
	if ((rc = codekey_create(path, err, n)) < 0)
		goto out;
	log_info("created the code key file %s (0600): back it up apart from the database", path);
	rc = codekey_load(path, out, err, n);
out:
	if (rc == 0)
		wf_run_set_keys(*out);
	return rc;
}

int codekeys_reload(const char *path, struct codekey_ring **ring, char *err, size_t n)
{
	struct codekey_ring *r = NULL;
	int rc = codekey_load(path, &r, err, n);
	if (rc < 0)
		return rc;
	wf_run_set_keys(r);
	codekey_free(*ring);
	*ring = r;
	return 0;
}
