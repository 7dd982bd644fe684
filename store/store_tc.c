/*
 * store_tc - the store on a Tokyo Cabinet table database (see store.h).
 *
 * One file holds every record kind so that a workflow step, the job record
 * and the outbox messages it produces commit in one transaction.  commit
 * syncs the file: callers group many jobs per transaction (group commit).
 */
#include "log.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <tctdb.h>
#include <tcutil.h>
#include <unistd.h>

struct store_tc {
	struct store base;
	TCTDB *tdb;
	int in_tx;
	char *path;
	struct store_index ix;
};

static int tc_open(struct store_tc *s);

/* fsync_dir_of - make a file's creation or removal durable */
static void fsync_dir_of(const char *path)
{
	char *d = xstrdup(path), *slash = strrchr(d, '/');
	if (slash)
		*slash = 0;
	fsync_dir(slash ? d : ".");
	free(d);
}

static int tc_fail(struct store_tc *s, const char *what)
{
	int ecode = tctdbecode(s->tdb);
	snprintf(s->base.err, sizeof(s->base.err), "%s: %s", what, tctdberrmsg(ecode));
	return ecode == TCENOREC ? -ENOENT : -EIO;
}

static int tc_get(struct store *st, const char *key, json_t **out)
{
	struct store_tc *s = (struct store_tc *)st;
	TCMAP *cols = tctdbget(s->tdb, key, (int)strlen(key));
	const char *name;

	if (!cols)
		return tc_fail(s, "get") == -ENOENT ? -ENOENT : -EIO;
	json_t *rec = json_object();
	tcmapiterinit(cols);
	while ((name = tcmapiternext2(cols)) != NULL)
		json_object_set_new(rec, name, json_string(tcmapget2(cols, name)));
	tcmapdel(cols);
	*out = rec;
	return 0;
}

static int tc_put(struct store *st, const char *key, json_t *rec)
{
	struct store_tc *s = (struct store_tc *)st;
	TCMAP *cols = tcmapnew2(16);
	const char *name;
	json_t *v;
	int rc = 0;

	json_object_foreach(rec, name, v) {
		if (json_is_string(v))
			tcmapput2(cols, name, json_string_value(v));
	}
	if (!tctdbput(s->tdb, key, (int)strlen(key), cols))
		rc = tc_fail(s, "put");
	tcmapdel(cols);
	return rc;
}

static int tc_del(struct store *st, const char *key)
{
	struct store_tc *s = (struct store_tc *)st;
	if (!tctdbout(s->tdb, key, (int)strlen(key)))
		return tc_fail(s, "delete");
	return 0;
}

static json_t *tc_keys(TCLIST *res)
{
	json_t *keys = json_array();
	for (int i = 0; i < tclistnum(res); i++)
		json_array_append_new(keys, json_string(tclistval2(res, i)));
	tclistdel(res);
	return keys;
}

static int tc_find(struct store *st, const char *col, const char *val, int limit, json_t **keys)
{
	struct store_tc *s = (struct store_tc *)st;
	TDBQRY *q = tctdbqrynew(s->tdb);
	tctdbqryaddcond(q, col, TDBQCSTREQ, val);
	tctdbqrysetorder(q, "", TDBQOSTRASC); /* by primary key: ids sort by time */
	if (limit > 0)
		tctdbqrysetlimit(q, limit, 0);
	*keys = tc_keys(tctdbqrysearch(q));
	tctdbqrydel(q);
	return 0;
}

static int tc_due(struct store *st, const char *col, int64_t max, int limit, json_t **keys)
{
	struct store_tc *s = (struct store_tc *)st;
	char buf[32];
	TDBQRY *q = tctdbqrynew(s->tdb);
	snprintf(buf, sizeof(buf), "%lld", (long long)max);
	tctdbqryaddcond(q, col, TDBQCNUMLE, buf);
	tctdbqrysetorder(q, col, TDBQONUMASC);
	if (limit > 0)
		tctdbqrysetlimit(q, limit, 0);
	*keys = tc_keys(tctdbqrysearch(q));
	tctdbqrydel(q);
	return 0;
}

static int tc_begin(struct store *st)
{
	struct store_tc *s = (struct store_tc *)st;
	if (!tctdbtranbegin(s->tdb))
		return tc_fail(s, "begin");
	s->in_tx = 1;
	return 0;
}

static int tc_commit(struct store *st)
{
	struct store_tc *s = (struct store_tc *)st;
	s->in_tx = 0;
	if (!tctdbtrancommit(s->tdb))
		return tc_fail(s, "commit");
	if (!tctdbsync(s->tdb)) {
		tc_fail(s, "sync");
		return -EAGAIN;
	}
	return 0;
}

static int tc_reopen(struct store *st)
{
	struct store_tc *s = (struct store_tc *)st;
	if (s->in_tx)
		tctdbtranabort(s->tdb);
	s->in_tx = 0;
	tctdbclose(s->tdb);
	tctdbdel(s->tdb);
	return tc_open(s);
}

static int tc_abort(struct store *st)
{
	struct store_tc *s = (struct store_tc *)st;
	s->in_tx = 0;
	if (!tctdbtranabort(s->tdb))
		return tc_fail(s, "abort");
	return 0;
}

static int64_t tc_count(struct store *st)
{
	return (int64_t)tctdbrnum(((struct store_tc *)st)->tdb);
}

/* clean_marker - "<db>.clean": present only while the database is closed
 * after a clean shutdown */
static char *clean_marker(const struct store_tc *s)
{
	return xasprintf("%s.clean", s->path);
}

static void tc_close(struct store *st)
{
	struct store_tc *s = (struct store_tc *)st;
	if (s->in_tx)
		tctdbtranabort(s->tdb);
	if (tctdbclose(s->tdb)) {
		char *m = clean_marker(s);
		int fd = open(m, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
		free(m);
	}
	tctdbdel(s->tdb);
	free(s->path);
	free(s);
}

static const struct store_ops tc_ops = {
	.name = "tokyocabinet",
	.get = tc_get,
	.put = tc_put,
	.del = tc_del,
	.find = tc_find,
	.due = tc_due,
	.begin = tc_begin,
	.commit = tc_commit,
	.reopen = tc_reopen,
	.abort = tc_abort,
	.count = tc_count,
	.close = tc_close,
};

int store_open_tc(const char *path, const struct store_index *ix, struct store **out)
{
	struct store_tc *s = xcalloc(1, sizeof(*s));
	s->base.ops = &tc_ops;
	s->path = xstrdup(path);
	s->ix = *ix;
	*out = &s->base;
	return tc_open(s);
}

static int tc_open(struct store_tc *s)
{
	const char *const *lex = s->ix.lex, *const *num = s->ix.num;
	const char *path = s->path;

	s->tdb = tctdbnew();
	tctdbsetmutex(s->tdb);
	/* large bucket array and caches: the working set is accounts by index */
	tctdbtune(s->tdb, 1 << 20, -1, -1, TDBTLARGE);
	tctdbsetcache(s->tdb, 0, 4096, 1024);
	tctdbsetxmsiz(s->tdb, 64 << 20);
	if (!tctdbopen(s->tdb, path, TDBOWRITER | TDBOCREAT | TDBOLCKNB)) {
		int ecode = tctdbecode(s->tdb);
		snprintf(s->base.err, sizeof(s->base.err), "%s: %s%s", path, tctdberrmsg(ecode),
			 ecode == TCELOCK ? " (another process has it open)" : "");
		return ecode == TCELOCK ? -EBUSY : -EIO;
	}
	/*
	 * Tokyo Cabinet commits the records first and each index file after
	 * them, one by one: a crash in between leaves an index behind its
	 * records (an outbox message or a queued job the index does not find).
	 * The indexes are derived data, so after anything but a clean shutdown
	 * they are rebuilt from the records.
	 */
	char *marker = clean_marker(s);
	int clean = access(marker, F_OK) == 0;
	unlink(marker);
	fsync_dir_of(marker);
	free(marker);
	if (!clean && tctdbrnum(s->tdb) > 0) {
		log_warn("%s: not closed cleanly: rebuilding its indexes from %llu records", path,
			 (unsigned long long)tctdbrnum(s->tdb));
		for (int i = 0; lex[i]; i++)
			tctdbsetindex(s->tdb, lex[i], TDBITVOID);
		for (int i = 0; num[i]; i++)
			tctdbsetindex(s->tdb, num[i], TDBITVOID);
	}
	for (int i = 0; lex[i]; i++)
		tctdbsetindex(s->tdb, lex[i], TDBITLEXICAL | TDBITKEEP);
	for (int i = 0; num[i]; i++)
		tctdbsetindex(s->tdb, num[i], TDBITDECIMAL | TDBITKEEP);
	return 0;
}
