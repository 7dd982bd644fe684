/*
 * migrate - "regflowctl store migrate": the store of an older regflow (a
 * table database with an index file per column) into the current format
 * (one B+ tree file, indexes as records).  The old file is never changed:
 * the new one is written beside it, verified (record count and a checksum
 * of every record, old and new, must agree), then renamed into place; the
 * old files are kept under NAME.old-tct.  Outbox records are rewritten in
 * the spool's format on the way.
 */
#include "log.h"
#include "rec.h"
#include "storectl.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BATCH 5000

/* outbox_v2 - an old outbox record (one column per field) in the spool's format */
static json_t *outbox_v2(const json_t *old, char *err, size_t errlen)
{
	struct spool_msg m = {0};
	json_t *rec = NULL;
	snprintf(m.id, sizeof(m.id), "%s", rec_str0(old, "id"));
	m.channel = (char *)rec_str(old, "channel");
	m.to = (char *)rec_str(old, "to");
	m.from_name = (char *)rec_str(old, "from_name");
	m.subject = (char *)rec_str(old, "subject");
	m.body = (char *)rec_str(old, "body");
	m.secret = (char *)rec_str(old, "secret");
	m.front = (char *)rec_str(old, "front");
	m.created_ms = rec_int(old, "created", 0);
	m.expires_ms = rec_int(old, "expires", 0);
	if (rec_outbox_new(&m, rec_str(old, "account"), &rec, err, errlen) < 0)
		return NULL;
	return rec;
}

struct copy {
	struct store *to;
	struct tally t;
	int64_t in_tx;
	char err[256];
};

static int copy_one(const char *key, json_t *rec, void *arg)
{
	struct copy *c = arg;
	json_t *out = json_incref(rec);
	int rc;
	if (rec_key_kind(key) == REC_OUTBOX && !rec_str(rec, "msg")) {
		json_decref(out);
		if (!(out = outbox_v2(rec, c->err, sizeof(c->err)))) {
			log_warn("outbox %s: cannot be read (%s); left out", key, c->err);
			c->err[0] = 0;
			return 0;
		}
	}
	if (c->in_tx == 0 && (rc = store_begin(c->to)) < 0)
		goto out;
	rec_stamp(key, out);
	tally_add(&c->t, key, out);
	if ((rc = store_put(c->to, key, out)) < 0)
		goto out;
	if (++c->in_tx == BATCH) {
		c->in_tx = 0;
		rc = store_commit(c->to);
	}
out:
	if (rc < 0)
		snprintf(c->err, sizeof(c->err), "%.60s: %.180s", key, store_error(c->to));
	json_decref(out);
	return rc;
}

/* verify - the new file holds exactly what was copied */
static int verify(const char *path, const struct tally *want, char *err, size_t errlen)
{
	struct store *st;
	int rc = rec_open_tc(path, &st);
	if (rc < 0) {
		snprintf(err, errlen, "%s", store_error(st));
		store_close(st);
		return rc;
	}
	rc = tally_check(st, want, err, errlen);
	store_close(st);
	return rc;
}

/* keep_old - rename the old file and its index files to NAME.old-tct* */
static int keep_old(const char *path)
{
	char *d = xstrdup(path), *dir = dirname(d), *b = xstrdup(path), *base = basename(b);
	DIR *dp = opendir(dir);
	struct dirent *de;
	int rc = 0;
	size_t bl = strlen(base);
	while (dp && rc == 0 && (de = readdir(dp)) != NULL) {
		if (strncmp(de->d_name, base, bl) != 0 || (de->d_name[bl] && de->d_name[bl] != '.'))
			continue;
		if (strstr(de->d_name + bl, ".old-tct") || strstr(de->d_name + bl, ".migrating"))
			continue;
		char *from = xasprintf("%s/%s", dir, de->d_name);
		char *to = xasprintf("%s/%s.old-tct%s", dir, base, de->d_name + bl);
		if (rename(from, to) < 0)
			rc = -errno;
		free(from);
		free(to);
	}
	if (dp)
		closedir(dp);
	fsync_dir(dir);
	free(d);
	free(b);
	return rc;
}

int storectl_migrate(const char *path)
{
	struct copy c = {0};
	char *tmp = xasprintf("%s.migrating", path), err[512] = "";
	int kind = store_tc_kind(path), rc;
	if (kind == STORE_TC_CURRENT) {
		printf("%s: already in the current format; nothing to do\n", path);
		free(tmp);
		return 0;
	}
	if (kind != STORE_TC_OLD) {
		fprintf(stderr, "regflowctl: store migrate: %s: %s\n", path,
			kind == STORE_TC_NONE ? "no such file" : "not a regflow store");
		free(tmp);
		return 1;
	}
	unlink(tmp);
	if ((rc = rec_open_tc(tmp, &c.to)) < 0) {
		fprintf(stderr, "regflowctl: store migrate: %s\n", store_error(c.to));
		goto fail;
	}
	rc = store_tct_each(path, copy_one, &c, c.err, sizeof(c.err));
	if (rc == 0 && c.in_tx)
		rc = store_commit(c.to);
	store_close(c.to);
	if (rc < 0) {
		fprintf(stderr, "regflowctl: store migrate: %s\n",
			c.err[0] ? c.err : strerror(-rc));
		goto fail;
	}
	if ((rc = verify(tmp, &c.t, err, sizeof(err))) < 0 || (rc = keep_old(path)) < 0) {
		fprintf(stderr, "regflowctl: store migrate: %s\n", err[0] ? err : strerror(-rc));
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		fprintf(stderr, "regflowctl: store migrate: %s: %s\n", path, strerror(errno));
		goto fail;
	}
	printf("%s: %lld record(s) migrated and verified; the old files are kept as %s.old-tct*\n",
	       path, (long long)c.t.n, path);
	free(tmp);
	return 0;
fail:
	unlink(tmp);
	free(tmp);
	return 1;
}
