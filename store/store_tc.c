/*
 * store_tc - the store on one Tokyo Cabinet B+ tree file (see store.h).
 *
 * Records and their index entries live in the same ordered file, so a
 * group of jobs is one transaction, in one file, with one sync, and a
 * crash can never leave an index behind its records (Tokyo Cabinet's table
 * database keeps one B+ tree file per index and commits them one by one:
 * that cost nine syncs a commit and an index rebuild after every crash).
 *
 *   record         KEY                                  -> columns
 *   lexical index  0x01 COL 0x00 VALUE 0x00 KEY         -> ""
 *   numeric index  0x02 COL 0x00 20 DIGITS 0x00 KEY     -> ""
 *   meta           0x00 NAME                            -> text (the format, the count)
 *
 * Record keys start with a letter, so no record key sorts among the index
 * entries; a value is "name\0value\0" pairs after a version byte.  find is
 * a prefix scan, due a range scan in numeric order; both answer in the
 * B+ tree's order (by key within one value).
 */
#include "buf.h"
#include "log.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tcbdb.h>
#include <tcutil.h>
#include <unistd.h>

#define IX_LEX '\x01'
#define IX_NUM '\x02'
#define REC_V1 '\x01'
#define META_FORMAT "\0format"
#define META_COUNT "\0count"
#define FORMAT "regflow-bptree-1"
#define KEY_MAX 4096

struct store_tc {
	struct store base;
	TCBDB *bdb;
	int in_tx;
	char *path;
	struct store_index ix;
	int64_t count, tx_count; /* records, and their count when the transaction began */
};

static int tc_open(struct store_tc *s);
static int tc_prepare(struct store *st);

static struct store_tc *tc(struct store *st)
{
	return (struct store_tc *)st;
}

static int tc_fail(struct store_tc *s, const char *what)
{
	int ecode = tcbdbecode(s->bdb);
	snprintf(s->base.err, sizeof(s->base.err), "%s: %s", what, tcbdberrmsg(ecode));
	return ecode == TCENOREC ? -ENOENT : -EIO;
}

/* encode - a record's value: a version byte, then "name\0value\0" pairs */
static void encode(json_t *rec, struct buf *b)
{
	const char *name;
	json_t *v;
	buf_add(b, (char[]){REC_V1}, 1);
	json_object_foreach(rec, name, v) {
		if (!json_is_string(v))
			continue;
		buf_add(b, name, strlen(name) + 1);
		buf_add(b, json_string_value(v), json_string_length(v) + 1);
	}
}

/* decode - the record of a value; NULL if it is not one */
static json_t *decode(const char *p, int n)
{
	const char *end = p + n;
	if (n < 1 || *p != REC_V1)
		return NULL;
	json_t *rec = json_object();
	for (p++; p < end;) {
		const char *name = p, *val = memchr(p, 0, (size_t)(end - p));
		const char *next = val ? memchr(val + 1, 0, (size_t)(end - val - 1)) : NULL;
		if (!next) {
			json_decref(rec);
			return NULL;
		}
		json_object_set_new(rec, name, json_string(val + 1));
		p = next + 1;
	}
	return rec;
}

/* ix_key - an index entry: kind, column, value (a lexical string or a
 * number), then the record's key */
static void ix_key(struct buf *b, char kind, const char *col, const char *val, const char *key)
{
	buf_reset(b);
	buf_add(b, &kind, 1);
	buf_add(b, col, strlen(col) + 1);
	if (kind == IX_NUM)
		buf_addf(b, "%020" PRIu64, (uint64_t)strtoll(val, NULL, 10) ^ (UINT64_C(1) << 63));
	else
		buf_adds(b, val);
	buf_add(b, "", 1);
	if (key)
		buf_adds(b, key);
}

/* reindex - move key's index entries from old (NULL: none) to new (NULL: none) */
static int reindex(struct store_tc *s, const char *key, const json_t *old, const json_t *new)
{
	const char *const *lists[2] = {s->ix.lex, s->ix.num};
	struct buf b;
	int rc = 0;
	buf_init(&b, KEY_MAX);
	for (int l = 0; l < 2 && rc == 0; l++)
		for (const char *const *c = lists[l]; *c && rc == 0; c++) {
			const char *ov = json_string_value(json_object_get(old, *c));
			const char *nv = json_string_value(json_object_get(new, *c));
			char kind = l ? IX_NUM : IX_LEX;
			if (ov && nv && !strcmp(ov, nv))
				continue;
			ix_key(&b, kind, *c, ov ? ov : "", key);
			if (ov && !tcbdbout(s->bdb, buf_ptr(&b), (int)b.len) &&
			    tcbdbecode(s->bdb) != TCENOREC)
				rc = tc_fail(s, "index");
			ix_key(&b, kind, *c, nv ? nv : "", key);
			if (rc == 0 && nv && !tcbdbput(s->bdb, buf_ptr(&b), (int)b.len, "", 0))
				rc = tc_fail(s, "index");
		}
	buf_free(&b);
	return rc;
}

/* get_raw - the record at key as the file holds it, or NULL */
static json_t *get_raw(struct store_tc *s, const char *key)
{
	int n;
	const char *v = tcbdbget3(s->bdb, key, (int)strlen(key), &n);
	return v ? decode(v, n) : NULL;
}

static int tc_get(struct store *st, const char *key, json_t **out)
{
	struct store_tc *s = tc(st);
	if (!*key || (unsigned char)*key < 0x20)
		return -ENOENT; /* index entries and meta are no records */
	*out = get_raw(s, key);
	if (*out)
		return 0;
	return tc_fail(s, "get") == -ENOENT ? -ENOENT : -EIO;
}

static int tc_put(struct store *st, const char *key, json_t *rec)
{
	struct store_tc *s = tc(st);
	struct buf b;
	json_t *old = get_raw(s, key);
	int rc = reindex(s, key, old, rec);
	buf_init(&b, BUF_UNLIMITED);
	encode(rec, &b);
	if (rc == 0 && !tcbdbput(s->bdb, key, (int)strlen(key), buf_ptr(&b), (int)b.len))
		rc = tc_fail(s, "put");
	if (rc == 0 && !old)
		s->count++;
	buf_free(&b);
	json_decref(old);
	return rc;
}

static int tc_del(struct store *st, const char *key)
{
	struct store_tc *s = tc(st);
	json_t *old = get_raw(s, key);
	int rc;
	if (!old)
		return -ENOENT;
	rc = reindex(s, key, old, NULL);
	if (rc == 0 && !tcbdbout(s->bdb, key, (int)strlen(key)))
		rc = tc_fail(s, "delete");
	if (rc == 0)
		s->count--;
	json_decref(old);
	return rc;
}

/* scan_ix - the record keys of the index entries from prefix on, while
 * more(entry value) holds; sorted as the file is */
static int scan_ix(struct store_tc *s, const struct buf *prefix, int limit, int64_t max,
		   json_t **keys)
{
	BDBCUR *cur = tcbdbcurnew(s->bdb);
	const char *p = buf_ptr(prefix);
	size_t plen = prefix->len, vlen = (unsigned char)p[0] == IX_NUM ? 20 : 0;
	*keys = json_array();
	if (!tcbdbcurjump(cur, p, (int)plen)) {
		tcbdbcurdel(cur);
		return 0;
	}
	do {
		int ksz;
		const char *k = tcbdbcurkey3(cur, &ksz);
		if (!k || (size_t)ksz < plen + vlen + 1 || memcmp(k, p, plen) != 0)
			break;
		if (vlen) { /* numeric: stop past max */
			uint64_t v = strtoull(k + plen, NULL, 10) ^ (UINT64_C(1) << 63);
			if ((int64_t)v > max)
				break;
		}
		const char *rk = k + plen + vlen + (vlen ? 1 : 0);
		json_array_append_new(*keys, json_stringn(rk, (size_t)(k + ksz - rk)));
	} while ((limit <= 0 || (int)json_array_size(*keys) < limit) && tcbdbcurnext(cur));
	tcbdbcurdel(cur);
	return 0;
}

static int tc_find(struct store *st, const char *col, const char *val, int limit, json_t **keys)
{
	struct buf b;
	buf_init(&b, KEY_MAX);
	ix_key(&b, IX_LEX, col, val, NULL);
	int rc = scan_ix(tc(st), &b, limit, 0, keys);
	buf_free(&b);
	return rc;
}

static int tc_due(struct store *st, const char *col, int64_t max, int limit, json_t **keys)
{
	struct buf b;
	buf_init(&b, KEY_MAX);
	buf_add(&b, (char[]){IX_NUM}, 1);
	buf_add(&b, col, strlen(col) + 1);
	int rc = scan_ix(tc(st), &b, limit, max, keys);
	buf_free(&b);
	return rc;
}

static int put_count(struct store_tc *s)
{
	char n[32];
	int len = snprintf(n, sizeof(n), "%" PRId64, s->count);
	if (!tcbdbput(s->bdb, META_COUNT, (int)sizeof(META_COUNT) - 1, n, len))
		return tc_fail(s, "count");
	return 0;
}

static int tc_begin(struct store *st)
{
	struct store_tc *s = tc(st);
	if (!tcbdbtranbegin(s->bdb))
		return tc_fail(s, "begin");
	s->in_tx = 1;
	s->tx_count = s->count;
	return 0;
}

static int tc_commit(struct store *st)
{
	struct store_tc *s = tc(st);
	int rc = s->count != s->tx_count ? put_count(s) : 0;
	if (rc < 0)
		return rc;
	if (!tcbdbtrancommit(s->bdb))
		return tc_fail(s, "commit");
	s->in_tx = 0;
	if (!tcbdbsync(s->bdb)) {
		tc_fail(s, "sync");
		return -EAGAIN;
	}
	return 0;
}

static int tc_abort(struct store *st)
{
	struct store_tc *s = tc(st);
	s->in_tx = 0;
	s->count = s->tx_count;
	if (!tcbdbtranabort(s->bdb))
		return tc_fail(s, "abort");
	return 0;
}

static int tc_reopen(struct store *st)
{
	struct store_tc *s = tc(st);
	if (s->in_tx)
		tcbdbtranabort(s->bdb);
	s->in_tx = 0;
	tcbdbclose(s->bdb);
	tcbdbdel(s->bdb);
	return tc_open(s);
}

static int64_t tc_count(struct store *st)
{
	return tc(st)->count;
}

static int tc_scan(struct store *st, const char *after, int limit, json_t **out)
{
	struct store_tc *s = tc(st);
	BDBCUR *cur = tcbdbcurnew(s->bdb);
	*out = json_array();
	/* records start at the first key from "A" on (after the meta and index entries) */
	int ok = after && *after ? tcbdbcurjump(cur, after, (int)strlen(after))
				 : tcbdbcurjump(cur, "!", 1);
	while (ok && (limit <= 0 || (int)json_array_size(*out) < limit)) {
		int ksz, vsz;
		const char *k = tcbdbcurkey3(cur, &ksz);
		const char *v = k ? tcbdbcurval3(cur, &vsz) : NULL;
		if (!k || !v)
			break;
		json_t *rec = decode(v, vsz);
		if (rec &&
		    !(after && (size_t)ksz == strlen(after) && !memcmp(k, after, (size_t)ksz)))
			json_array_append_new(*out, json_pack("[s%, o]", k, (size_t)ksz, rec));
		else
			json_decref(rec);
		ok = tcbdbcurnext(cur);
	}
	tcbdbcurdel(cur);
	return 0;
}

static void tc_close(struct store *st)
{
	struct store_tc *s = tc(st);
	if (s->in_tx)
		tcbdbtranabort(s->bdb);
	tcbdbclose(s->bdb);
	tcbdbdel(s->bdb);
	free(s->path);
	free(s);
}

/* tc_backup - tcbdbcopy: the file synchronised and held still while copied
 * (path is absolute: a leading '@' would make Tokyo Cabinet run a command) */
static int tc_backup(struct store *st, const char *path)
{
	struct store_tc *s = (struct store_tc *)st;
	if (s->in_tx)
		return -EBUSY;
	if (path[0] != '/') {
		snprintf(st->err, sizeof(st->err), "backup: %s: not an absolute path", path);
		return -EINVAL;
	}
	if (!tcbdbcopy(s->bdb, path)) {
		snprintf(st->err, sizeof(st->err), "backup: %s", tcbdberrmsg(tcbdbecode(s->bdb)));
		return -EIO;
	}
	return 0;
}

static const struct store_ops tc_ops = {
	.name = "tokyocabinet",
	.get = tc_get,
	.put = tc_put,
	.del = tc_del,
	.find = tc_find,
	.due = tc_due,
	.scan = tc_scan,
	.begin = tc_begin,
	.commit = tc_commit,
	.reopen = tc_reopen,
	.abort = tc_abort,
	.count = tc_count,
	.prepare = tc_prepare,
	.backup = tc_backup,
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

int store_tc_kind(const char *path)
{
	unsigned char h[64];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return STORE_TC_NONE;
	ssize_t n = read(fd, h, sizeof(h));
	close(fd);
	if (n <= 0)
		return STORE_TC_NONE;
	if (n < 33 || memcmp(h, "ToKyO CaBiNeT", 13) != 0)
		return -EBADMSG;
	return h[32] == 1 /* TCDBTBTREE */ ? STORE_TC_CURRENT : STORE_TC_OLD;
}

/* check_format - a new file gets the format mark; another is refused */
static int check_format(struct store_tc *s, int fresh)
{
	int n;
	const char *f = tcbdbget3(s->bdb, META_FORMAT, (int)sizeof(META_FORMAT) - 1, &n);
	if (!f && fresh) {
		if (!tcbdbput(s->bdb, META_FORMAT, (int)sizeof(META_FORMAT) - 1, FORMAT,
			      (int)strlen(FORMAT)) ||
		    !tcbdbsync(s->bdb))
			return tc_fail(s, "format");
		return 0;
	}
	if (!f || n != (int)strlen(FORMAT) || memcmp(f, FORMAT, (size_t)n) != 0) {
		snprintf(s->base.err, sizeof(s->base.err),
			 "%s: not a regflow store of this version (%.*s)", s->path, f ? n : 4,
			 f ? f : "none");
		return -EPROTO;
	}
	const char *c = tcbdbget3(s->bdb, META_COUNT, (int)sizeof(META_COUNT) - 1, &n);
	s->count = c ? strtoll(c, NULL, 10) : 0;
	return 0;
}

/*
 * tc_prepare - give every page of the file real blocks.  Tokyo Cabinet
 * writes its bucket array through a mapping of the file, which it makes
 * sparse: on a full disk, the first write to a hole would be a SIGBUS.
 * With the holes filled, only write()s reach new blocks, and those fail
 * with ENOSPC.  -errno (ENOSPC on a full disk): writing is not safe yet.
 *
 * Through Tokyo Cabinet's own descriptor (its header declares the struct):
 * opening and closing the file again would drop the process's fcntl lock
 * on it, and a second engine could then open the same database.
 */
static int tc_prepare(struct store *st)
{
	struct store_tc *s = (struct store_tc *)st;
	struct stat sb;
	int fd = s->bdb && s->bdb->hdb ? s->bdb->hdb->fd : -1, rc = 0;
	if (fd < 0)
		return -EBADF;
	if (fstat(fd, &sb) < 0)
		rc = -errno;
	else if (sb.st_size > 0 && (rc = posix_fallocate(fd, 0, sb.st_size)) != 0)
		rc = rc == EOPNOTSUPP || rc == EINVAL ? 0 : -rc; /* a file system without it */
	if (rc < 0)
		snprintf(s->base.err, sizeof(s->base.err), "%s: cannot give its pages blocks: %s",
			 s->path, strerror(-rc));
	return rc;
}

static int tc_open(struct store_tc *s)
{
	int kind = store_tc_kind(s->path);
	if (kind == STORE_TC_OLD) {
		snprintf(s->base.err, sizeof(s->base.err),
			 "%s: a database of an older regflow (one file per index); it is never "
			 "changed in place: stop regflowd and run \"regflowctl store migrate\"",
			 s->path);
		return -EPROTO;
	}
	if (kind < 0) {
		snprintf(s->base.err, sizeof(s->base.err), "%s: not a Tokyo Cabinet file", s->path);
		return kind;
	}
	s->bdb = tcbdbnew();
	/* leaves of 128 records and a small cache: each transaction walks every
	 * cached page (256 leaves and 128 nodes measured fastest, 1.25x of 2048/512) */
	tcbdbtune(s->bdb, 128, 256, 1 << 18, -1, -1, BDBTLARGE);
	tcbdbsetcache(s->bdb, 256, 128);
	tcbdbsetxmsiz(s->bdb, 0);
	if (!tcbdbopen(s->bdb, s->path, BDBOWRITER | BDBOCREAT | BDBOLCKNB)) {
		int ecode = tcbdbecode(s->bdb);
		snprintf(s->base.err, sizeof(s->base.err), "%s: %s%s", s->path, tcbdberrmsg(ecode),
			 ecode == TCELOCK ? " (another process has it open)" : "");
		return ecode == TCELOCK ? -EBUSY : -EIO;
	}
	int rc = check_format(s, kind == STORE_TC_NONE);
	if (rc == 0)
		tc_prepare(&s->base); /* on a full disk the engine starts, and waits */
	return rc;
}
