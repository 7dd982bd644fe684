/*
 * store_pg - the store on PostgreSQL through libpq (issue 13): one table,
 * regflow_records, with the key (byte order: COLLATE "C", as Tokyo
 * Cabinet's), one typed column per indexed column of the records layer
 * (text for the lexical ones, bigint for the numeric ones, each with its
 * index) and the record itself as jsonb.  The schema is created by
 * store_pg_migrate and described in regflow_schema (a version and the
 * column list); a store whose schema is another is refused.
 *
 * A transaction is a PostgreSQL transaction; durability is PostgreSQL's
 * (synchronous commit).  A commit whose outcome is unknown (the connection
 * lost during COMMIT) is settled before anyone is told: each transaction
 * also sets its node's row of regflow_commits to a random number, and
 * after a reconnect that row says whether it was applied.  The password
 * comes from libpq's passfile; a conninfo that holds one is refused.
 *
 * Several engines share the store (issue 13): transactions are
 * SERIALIZABLE, so that two engines' groups that touch the same rows
 * (one subject, one idempotency key, one timer) cannot interleave: one of
 * them fails with a serialisation failure, told as -EDEADLK, and the
 * engine runs it again.  Due timers are claimed FOR UPDATE SKIP LOCKED, so
 * that engines share them instead of colliding.
 *
 * Inside a transaction, puts and deletes are kept (s->wb, which gets read
 * first) and sent together, one INSERT ... SELECT FROM unnest(arrays) and
 * one DELETE ... = ANY(array), before the next read of an index (find,
 * due, scan) or the commit: a group's writes are two round trips, not one
 * a record (intake 2.3x on figure 7).  Each engine holds a
 * session advisory lock on its node number (store_node_op).
 */
#include "store.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define PG_SCHEMA_VERSION 2 /* 2: regflow_commits, a row per node */
#define STR_(x) #x
#define STR(x) STR_(x)

struct store_pg {
	struct store base;
	PGconn *c;
	char *conninfo;
	const struct store_index *ix;
	int in_tx;
	int64_t count, delta; /* records (counted at open), and this transaction's change */
	int64_t commit_no;    /* the random number this transaction writes to regflow_commits */
	int rc;		      /* the last statement's error: -EIO, or -EDEADLK for a conflict */
	int node;	      /* the node this engine holds (STORE_NODE_OWN), or -1 */
	int held;	      /* this session holds it (lost with the connection) */
	int pid;	      /* the session's backend (PQbackendPID) */
	int conflicted;	      /* this transaction failed a serialisation check */
	json_t *wb; /* in a transaction: writes not yet sent, key -> record (null: delete) */
};

#define NODE_LOCK_CLASS 72341006 /* pg_advisory_lock(class, node): the nodes' locks */

static int hold(struct store_pg *s);

static struct store_pg *pg_of(struct store *st)
{
	return (struct store_pg *)st;
}

/* pg_fail - the error, for logs; a serialisation failure or a deadlock
 * (SQLSTATE 40001, 40P01) is -EDEADLK: run the transaction again */
static int pg_fail(struct store_pg *s, PGresult *r, int rc)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	if (state && (!strcmp(state, "40001") || !strcmp(state, "40P01")))
		rc = -EDEADLK;
	/* after a conflict the transaction is aborted: what follows in it
	 * (25P02) is the same conflict, not a failure of the store */
	if (state && s->in_tx && s->conflicted && !strcmp(state, "25P02"))
		rc = -EDEADLK;
	if (rc == -EDEADLK && s->in_tx)
		s->conflicted = 1;
	snprintf(s->base.err, sizeof(s->base.err), "%s",
		 r ? PQresultErrorMessage(r) : PQerrorMessage(s->c));
	s->base.err[strcspn(s->base.err, "\n")] = 0;
	PQclear(r);
	s->rc = rc;
	return rc;
}

/* run - a statement with text parameters; the result (the caller clears), or NULL (err set) */
static PGresult *run(struct store_pg *s, const char *sql, int n, const char *const *params)
{
	PGresult *r = PQexecParams(s->c, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType t = PQresultStatus(r);
	if (t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK)
		return r;
	pg_fail(s, r, -EIO);
	return NULL; /* why: s->rc */
}

/* exec_ok - statements without parameters (several at once allowed) */
static int exec_ok(struct store_pg *s, const char *sql)
{
	PGresult *r = PQexec(s->c, sql);
	if (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK) {
		PQclear(r);
		return 0;
	}
	return pg_fail(s, r, -EIO);
}

/* columns - the schema's column list, as regflow_schema records it */
static char *columns(const struct store_index *ix)
{
	size_t n = 1;
	for (int i = 0; ix->lex[i]; i++)
		n += strlen(ix->lex[i]) + 8;
	for (int i = 0; ix->num[i]; i++)
		n += strlen(ix->num[i]) + 8;
	char *s = calloc(1, n);
	if (!s)
		return NULL;
	for (int i = 0; ix->lex[i]; i++)
		sprintf(s + strlen(s), "t:%s ", ix->lex[i]);
	for (int i = 0; ix->num[i]; i++)
		sprintf(s + strlen(s), "n:%s ", ix->num[i]);
	return s;
}

static int col_known(const char *const *list, const char *col)
{
	for (int i = 0; list[i]; i++)
		if (!strcmp(list[i], col))
			return 1;
	return 0;
}

/* counted - a record more or fewer: at once outside a transaction, at its
 * commit inside one (store_count is asked by every health probe: no
 * count(*) of a big table each time) */
static void counted(struct store_pg *s, int d)
{
	if (s->in_tx)
		s->delta += d;
	else
		s->count += d;
}

static int pg_get(struct store *st, const char *key, json_t **out)
{
	struct store_pg *s = pg_of(st);
	const char *p[] = {key};
	json_t *w = s->in_tx ? json_object_get(s->wb, key) : NULL;
	if (w) { /* this transaction's own write, not sent yet */
		*out = json_is_null(w) ? NULL : json_deep_copy(w);
		return *out ? 0 : -ENOENT;
	}
	PGresult *r = run(s, "SELECT rec FROM regflow_records WHERE key = $1", 1, p);
	*out = NULL;
	if (!r)
		return s->rc;
	int rc = -ENOENT;
	if (PQntuples(r) == 1) {
		*out = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
		rc = *out ? 0 : -EBADMSG;
	}
	PQclear(r);
	return rc;
}

/* upsert - the statement that writes a record and its indexed columns */
static char *upsert_sql(const struct store_index *ix, int *nparams)
{
	char cols[1024] = "key, rec", vals[512] = "$1, $2::jsonb", set[1024] = "rec = EXCLUDED.rec";
	int n = 2;
	for (int k = 0; k < 2; k++) {
		const char *const *list = k ? ix->num : ix->lex;
		for (int i = 0; list[i]; i++) {
			n++;
			snprintf(cols + strlen(cols), sizeof(cols) - strlen(cols), ", c_%s",
				 list[i]);
			snprintf(vals + strlen(vals), sizeof(vals) - strlen(vals), ", $%d%s", n,
				 k ? "::bigint" : "");
			snprintf(set + strlen(set), sizeof(set) - strlen(set),
				 ", c_%s = EXCLUDED.c_%s", list[i], list[i]);
		}
	}
	*nparams = n;
	size_t len = strlen(cols) + strlen(vals) + strlen(set) + 128;
	char *sql = malloc(len);
	if (sql)
		snprintf(sql, len,
			 "INSERT INTO regflow_records (%s) VALUES (%s) ON CONFLICT (key) DO UPDATE "
			 "SET %s RETURNING (xmax = 0)",
			 cols, vals, set);
	return sql;
}

/* col_values - the indexed columns' values of rec, after key and text, in
 * p (NULL: not in that index); nums holds the numbers' text; the count */
static int col_values(const struct store_index *ix, const char *key, const char *text,
		      const json_t *rec, const char **p, char nums[16][24])
{
	int i = 2, nn = 0;
	p[0] = key;
	p[1] = text;
	for (int k = 0; ix->lex[k]; k++)
		p[i++] = json_string_value(json_object_get(rec, ix->lex[k]));
	for (int k = 0; ix->num[k]; k++) {
		const char *v = json_string_value(json_object_get(rec, ix->num[k]));
		char *end = NULL;
		long long x = v ? strtoll(v, &end, 10) : 0;
		if (v && *v && end && !*end && nn < 16) { /* a number; else not in the index */
			snprintf(nums[nn], sizeof(nums[nn]), "%lld", x);
			p[i++] = nums[nn++];
		} else {
			p[i++] = NULL;
		}
	}
	return i;
}

static int pg_put(struct store *st, const char *key, json_t *rec)
{
	struct store_pg *s = pg_of(st);
	const char *p[64];
	char nums[16][24];
	int n = 0;
	if (s->in_tx) { /* sent with the transaction's next read of an index, or its commit */
		json_object_set_new(s->wb, key, json_deep_copy(rec));
		return 0;
	}
	char *sql = upsert_sql(s->ix, &n), *text = json_dumps(rec, JSON_COMPACT);
	col_values(s->ix, key, text, rec, p, nums);
	int rc = -ENOMEM;
	if (sql && text) {
		PGresult *r = run(s, sql, n, p);
		rc = r ? 0 : s->rc;
		if (r && PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "t"))
			counted(s, 1); /* a new key, not an update */
		PQclear(r);
	}
	free(sql);
	free(text);
	return rc;
}

static int pg_del(struct store *st, const char *key)
{
	struct store_pg *s = pg_of(st);
	const char *p[] = {key};
	json_t *w = s->in_tx ? json_object_get(s->wb, key) : NULL;
	if (w) { /* written in this transaction: deleted with the others at the flush */
		int was = !json_is_null(w);
		json_object_set_new(s->wb, key, json_null());
		return was ? 0 : -ENOENT;
	}
	PGresult *r = run(s, "DELETE FROM regflow_records WHERE key = $1", 1, p);
	if (!r)
		return s->rc;
	int rc = strcmp(PQcmdTuples(r), "0") ? 0 : -ENOENT;
	PQclear(r);
	if (rc == 0)
		counted(s, -1);
	return rc;
}

/* arr_add - one element of a PostgreSQL array literal (NULL: NULL) */
static void arr_add(FILE *f, int first, const char *v)
{
	fputs(first ? "{" : ",", f);
	if (!v) {
		fputs("NULL", f);
		return;
	}
	fputc('"', f);
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			fputc('\\', f);
		fputc(*v, f);
	}
	fputc('"', f);
}

/* upsert_many_sql - the transaction's puts as one statement: a column an array */
static char *upsert_many_sql(const struct store_index *ix, int *ncols)
{
	char cols[1024] = "key, rec", arrs[1024] = "$1::text[], $2::jsonb[]",
	     set[1024] = "rec = EXCLUDED.rec";
	int n = 2;
	for (int k = 0; k < 2; k++) {
		const char *const *list = k ? ix->num : ix->lex;
		for (int i = 0; list[i]; i++) {
			n++;
			snprintf(cols + strlen(cols), sizeof(cols) - strlen(cols), ", c_%s",
				 list[i]);
			snprintf(arrs + strlen(arrs), sizeof(arrs) - strlen(arrs), ", $%d::%s[]", n,
				 k ? "bigint" : "text");
			snprintf(set + strlen(set), sizeof(set) - strlen(set),
				 ", c_%s = EXCLUDED.c_%s", list[i], list[i]);
		}
	}
	*ncols = n;
	return xasprintf("INSERT INTO regflow_records (%s) SELECT * FROM unnest(%s) ON CONFLICT "
			 "(key) DO UPDATE SET %s RETURNING (xmax = 0)",
			 cols, arrs, set);
}

/* flush_puts - the buffered records written, one statement */
static int flush_puts(struct store_pg *s)
{
	int ncols = 0, rc = 0;
	char *sql = upsert_many_sql(s->ix, &ncols);
	char *texts[64] = {0};
	size_t lens[64];
	FILE *fs[64];
	const char *key;
	json_t *rec;
	size_t row = 0;
	for (int c = 0; c < ncols; c++)
		fs[c] = open_memstream(&texts[c], &lens[c]);
	json_object_foreach(s->wb, key, rec) {
		const char *p[64];
		char nums[16][24];
		if (json_is_null(rec))
			continue;
		char *text = json_dumps(rec, JSON_COMPACT);
		col_values(s->ix, key, text, rec, p, nums);
		for (int c = 0; c < ncols; c++)
			arr_add(fs[c], row == 0, p[c]);
		free(text);
		row++;
	}
	for (int c = 0; c < ncols; c++) {
		fputs(row ? "}" : "{}", fs[c]);
		fclose(fs[c]);
	}
	if (row) {
		PGresult *r = run(s, sql, ncols, (const char *const *)texts);
		if (!r)
			rc = s->rc;
		for (int i = 0; r && i < PQntuples(r); i++)
			if (!strcmp(PQgetvalue(r, i, 0), "t"))
				counted(s, 1); /* a new key, not an update */
		PQclear(r);
	}
	for (int c = 0; c < ncols; c++)
		free(texts[c]);
	free(sql);
	return rc;
}

/* flush_dels - the buffered deletes, one statement */
static int flush_dels(struct store_pg *s)
{
	char *keys = NULL;
	size_t len = 0, n = 0;
	const char *key;
	json_t *rec;
	FILE *f = open_memstream(&keys, &len);
	json_object_foreach(s->wb, key, rec)
		if (json_is_null(rec))
			arr_add(f, n++ == 0, key);
	fputs(n ? "}" : "{}", f);
	fclose(f);
	int rc = 0;
	if (n) {
		const char *p[] = {keys};
		PGresult *r =
			run(s, "DELETE FROM regflow_records WHERE key = ANY($1::text[])", 1, p);
		if (r)
			counted(s, -atoi(PQcmdTuples(r)));
		else
			rc = s->rc;
		PQclear(r);
	}
	free(keys);
	return rc;
}

/* flush - the transaction's buffered writes sent (before a read of an
 * index or the commit): two statements however many records */
static int flush(struct store_pg *s)
{
	int rc = 0;
	if (json_object_size(s->wb) == 0)
		return 0;
	if ((rc = flush_puts(s)) == 0)
		rc = flush_dels(s);
	json_object_clear(s->wb);
	return rc;
}

static json_t *keys_of(PGresult *r)
{
	json_t *keys = json_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_array_append_new(keys, json_string(PQgetvalue(r, i, 0)));
	return keys;
}

static int select_keys(struct store_pg *s, const char *sql, const char *v, int limit, json_t **keys)
{
	char lim[24];
	snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 2147483647);
	const char *p[] = {v, lim};
	PGresult *r = run(s, sql, 2, p);
	*keys = NULL;
	if (!r)
		return s->rc;
	*keys = keys_of(r);
	PQclear(r);
	return 0;
}

static int pg_find(struct store *st, const char *col, const char *val, int limit, json_t **keys)
{
	struct store_pg *s = pg_of(st);
	char sql[256];
	int rc = flush(s);
	if (rc < 0) {
		*keys = NULL;
		return rc;
	}
	if (!col_known(s->ix->lex, col)) {
		*keys = NULL;
		return -EINVAL;
	}
	snprintf(sql, sizeof(sql),
		 "SELECT key FROM regflow_records WHERE c_%s = $1 ORDER BY key LIMIT $2::int", col);
	return select_keys(s, sql, val, limit, keys);
}

static int pg_due(struct store *st, const char *col, int64_t max, int limit, json_t **keys)
{
	struct store_pg *s = pg_of(st);
	char sql[256], v[24];
	int rc = flush(s);
	if (rc < 0) {
		*keys = NULL;
		return rc;
	}
	if (!col_known(s->ix->num, col)) {
		*keys = NULL;
		return -EINVAL;
	}
	snprintf(v, sizeof(v), "%" PRId64, max);
	/* inside a transaction the rows are claimed: another engine's group
	 * takes the next ones instead of the same */
	snprintf(sql, sizeof(sql),
		 "SELECT key FROM regflow_records WHERE c_%s <= $1::bigint ORDER BY c_%s, key "
		 "LIMIT $2::int%s",
		 col, col, s->in_tx ? " FOR UPDATE SKIP LOCKED" : "");
	return select_keys(s, sql, v, limit, keys);
}

static int pg_scan(struct store *st, const char *after, int limit, json_t **out)
{
	struct store_pg *s = pg_of(st);
	char lim[24];
	int rc = flush(s);
	*out = NULL;
	if (rc < 0)
		return rc;
	snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 2147483647);
	const char *p[] = {after ? after : "", lim};
	PGresult *r = run(s,
			  "SELECT key, rec FROM regflow_records WHERE key > $1 ORDER BY key "
			  "LIMIT $2::int",
			  2, p);
	*out = NULL;
	if (!r)
		return s->rc;
	*out = json_array();
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *rec = json_loads(PQgetvalue(r, i, 1), 0, NULL);
		if (rec)
			json_array_append_new(*out, json_pack("[s, o]", PQgetvalue(r, i, 0), rec));
	}
	PQclear(r);
	return 0;
}

static int pg_begin(struct store *st)
{
	struct store_pg *s = pg_of(st);
	int rc = hold(s);
	if (rc < 0)
		return rc;
	if (exec_ok(s, "BEGIN ISOLATION LEVEL SERIALIZABLE") < 0)
		return s->rc;
	s->in_tx = 1;
	s->conflicted = 0;
	s->delta = 0;
	return 0;
}

/* reconnect - a new session (the node's lock is the old one's until taken again) */
static int reconnect(struct store_pg *s)
{
	PQreset(s->c);
	s->in_tx = 0;
	s->held = 0;
	json_object_clear(s->wb);
	if (PQstatus(s->c) != CONNECTION_OK)
		return pg_fail(s, NULL, -EIO);
	s->pid = PQbackendPID(s->c);
	return 0;
}

/* end_old - the session before a reconnect may live on in the server (its
 * end of the connection not yet seen closed), in the middle of its
 * transaction, holding the node: if it still holds the node it is ended,
 * and waited for (5 s), so that its transaction is over */
static int end_old(struct store_pg *s, int old)
{
	char pid[16], node[16];
	snprintf(pid, sizeof(pid), "%d", old);
	snprintf(node, sizeof(node), "%d", s->node);
	const char *p[] = {pid, node};
	PGresult *r = run(
		s,
		"SELECT pg_terminate_backend(pid, 5000) FROM pg_locks WHERE locktype = "
		"'advisory' AND classid = " STR(NODE_LOCK_CLASS) " AND objid = $2::int "
								 "AND granted AND pid = $1::int",
		2, p);
	int ok = r && (PQntuples(r) == 0 || !strcmp(PQgetvalue(r, 0, 0), "t"));
	PQclear(r);
	return ok ? 0 : -EIO;
}

/* applied - after a lost connection: did the transaction numbered n commit?
 * (1, 0, or -EIO: unknown) */
static int applied(struct store_pg *s, int64_t n)
{
	int old = s->pid;
	if (reconnect(s) < 0 || end_old(s, old) < 0)
		return -EIO;
	hold(s); /* if busy (an engine adopting it), taken before the next transaction */
	char node[16];
	snprintf(node, sizeof(node), "%d", s->node);
	const char *p[] = {node};
	PGresult *r = run(s, "SELECT n FROM regflow_commits WHERE node = $1::int", 1, p);
	if (!r || PQntuples(r) != 1) {
		PQclear(r);
		return -EIO;
	}
	int64_t got = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return got == n ? 1 : 0;
}

static int pg_commit(struct store *st)
{
	struct store_pg *s = pg_of(st);
	char n[24], node[16];
	uint64_t x = 0;
	if (getrandom(&x, sizeof(x), 0) != sizeof(x))
		x = (uint64_t)s->commit_no + 1;
	s->commit_no = (int64_t)(x >> 1);
	snprintf(n, sizeof(n), "%" PRId64, s->commit_no);
	snprintf(node, sizeof(node), "%d", s->node);
	const char *p[] = {n, node};
	int rc = flush(s);
	/* the node's own row: engines' transactions do not touch each other's */
	PGresult *r =
		rc < 0 ? NULL
		       : run(s, "UPDATE regflow_commits SET n = $1::bigint WHERE node = $2::int", 2,
			     p);
	PQclear(r);
	if (!r) {
		rc = s->rc;
		exec_ok(s, "ROLLBACK");
		s->in_tx = 0;
		return rc;
	}
	r = PQexec(s->c, "COMMIT");
	s->in_tx = 0;
	if (PQresultStatus(r) == PGRES_COMMAND_OK) {
		PQclear(r);
		s->count += s->delta;
		return 0;
	}
	if (PQstatus(s->c) == CONNECTION_OK) /* refused: not applied (a conflict?) */
		return pg_fail(s, r, -EIO);
	PQclear(r);
	/* the outcome is unknown: settle it before anyone is answered */
	int was = applied(s, s->commit_no);
	if (was == 1) {
		s->count += s->delta;
		return 0;
	}
	return pg_fail(s, NULL, -EIO);
}

/* rollback - the session's transaction, if it has one (a ROLLBACK outside
 * one is a server WARNING, which libpq prints on stderr) */
static int rollback(struct store_pg *s)
{
	return PQtransactionStatus(s->c) == PQTRANS_IDLE ? 0 : exec_ok(s, "ROLLBACK");
}

static int pg_abort(struct store *st)
{
	struct store_pg *s = pg_of(st);
	s->in_tx = 0;
	json_object_clear(s->wb);
	return rollback(s);
}

/* count_all - count(*), once at open */
static int64_t count_all(struct store_pg *s)
{
	PGresult *r = run(s, "SELECT count(*) FROM regflow_records", 0, NULL);
	int64_t n = r ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
	PQclear(r);
	return n;
}

/* node_lock - take (pg_try_advisory_lock) or give back a node's session
 * lock: 0, -EBUSY (another session holds it), or -EIO */
static int node_lock(struct store_pg *s, int node, int take)
{
	char n[16];
	snprintf(n, sizeof(n), "%d", node);
	const char *p[] = {n};
	PGresult *r = run(s,
			  take ? "SELECT pg_try_advisory_lock(" STR(NODE_LOCK_CLASS) ", $1::int)"
			       : "SELECT pg_advisory_unlock(" STR(NODE_LOCK_CLASS) ", $1::int)",
			  1, p);
	int got = r && PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "t");
	PQclear(r);
	if (!r)
		return s->rc;
	if (take && !got)
		snprintf(s->base.err, sizeof(s->base.err),
			 "node %d is held by another regflowd on this database (engine.node must "
			 "differ between engines)",
			 node);
	return got || !take ? 0 : -EBUSY;
}

/* commit_row - the row the node's transactions number (regflow_commits) */
static int commit_row(struct store_pg *s)
{
	char node[16];
	snprintf(node, sizeof(node), "%d", s->node);
	const char *p[] = {node};
	PGresult *r = run(s,
			  "INSERT INTO regflow_commits VALUES ($1::int, 0) ON CONFLICT (node) DO "
			  "NOTHING",
			  1, p);
	PQclear(r);
	return r ? 0 : s->rc;
}

static int pg_node(struct store *st, int node, int op)
{
	struct store_pg *s = pg_of(st);
	if (node < 0)
		return -EINVAL;
	if (op == STORE_NODE_FREE)
		return node == s->node ? -EINVAL : node_lock(s, node, 0);
	int rc = node_lock(s, node, 1);
	if (rc == 0 && op == STORE_NODE_OWN) {
		s->node = node;
		s->held = 1;
		rc = commit_row(s);
	}
	return rc;
}

/* hold - before a transaction: the engine's node is this session's (after
 * a reconnect it may have been busy: an engine adopting its work) */
static int hold(struct store_pg *s)
{
	if (s->node < 0 || s->held)
		return 0;
	int rc = node_lock(s, s->node, 1);
	s->held = rc == 0;
	return rc;
}

static int pg_reopen(struct store *st)
{
	struct store_pg *s = pg_of(st);
	s->in_tx = 0;
	json_object_clear(s->wb);
	/* a session still up keeps its node: rolled back, not reconnected (a
	 * new session would give the node up, and another engine could adopt
	 * this one's queued work meanwhile) */
	if (PQstatus(s->c) == CONNECTION_OK && rollback(s) == 0)
		return hold(s);
	/* a new session: the node is taken again (while it was away, another
	 * engine may have adopted its queued work: a job runs once all the
	 * same, as runs check the job's record) */
	int rc = reconnect(s);
	if (rc == 0)
		rc = hold(s);
	if (rc == 0) /* and the count read again: a commit lost with the connection */
		s->count = count_all(s);
	return rc;
}

static int64_t pg_count(struct store *st)
{
	return pg_of(st)->count;
}

static void pg_close(struct store *st)
{
	struct store_pg *s = pg_of(st);
	PQfinish(s->c);
	json_decref(s->wb);
	free(s->conninfo);
	free(s);
}

static const struct store_ops pg_ops = {
	.name = "pg",
	.get = pg_get,
	.put = pg_put,
	.del = pg_del,
	.find = pg_find,
	.due = pg_due,
	.scan = pg_scan,
	.begin = pg_begin,
	.commit = pg_commit,
	.reopen = pg_reopen,
	.abort = pg_abort,
	.count = pg_count,
	.prepare = NULL,
	.node = pg_node,
	.close = pg_close,
};

/* connect - libpq's connection; a conninfo with a password is refused */
static int connect_pg(const char *conninfo, PGconn **out, char *err, size_t n)
{
	char *e = NULL;
	PQconninfoOption *o = PQconninfoParse(conninfo, &e);
	*out = NULL;
	if (!o) {
		snprintf(err, n, "engine.pg.conninfo: %s", e ? e : "cannot be parsed");
		PQfreemem(e);
		return -EINVAL;
	}
	for (PQconninfoOption *i = o; i->keyword; i++)
		if (!strcmp(i->keyword, "password") && i->val && *i->val) {
			PQconninfoFree(o);
			snprintf(err, n,
				 "engine.pg.conninfo: holds a password: put it in a password file "
				 "(passfile=..., mode 0600), never in the configuration");
			return -EINVAL;
		}
	PQconninfoFree(o);
	*out = PQconnectdb(conninfo);
	if (PQstatus(*out) != CONNECTION_OK) {
		snprintf(err, n, "PostgreSQL: %s", PQerrorMessage(*out));
		err[strcspn(err, "\n")] = 0;
		PQfinish(*out);
		*out = NULL;
		return -EIO;
	}
	return 0;
}

int store_pg_migrate(const char *conninfo, const struct store_index *ix, char *err, size_t n)
{
	PGconn *c;
	int rc = connect_pg(conninfo, &c, err, n);
	if (rc < 0)
		return rc;
	char *cols = columns(ix), sql[4096];
	struct store_pg tmp = {.c = c, .ix = ix};
	snprintf(
		sql, sizeof(sql),
		"CREATE TABLE IF NOT EXISTS regflow_schema (version int NOT NULL, columns text NOT "
		"NULL);"
		"DROP TABLE IF EXISTS regflow_commit;" /* version 1's single row */
		"CREATE TABLE IF NOT EXISTS regflow_commits (node int PRIMARY KEY, n bigint NOT "
		"NULL);"
		"CREATE TABLE IF NOT EXISTS regflow_records (key text COLLATE \"C\" PRIMARY KEY, "
		"rec jsonb NOT NULL");
	for (int i = 0; ix->lex[i]; i++)
		snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql), ", c_%s text", ix->lex[i]);
	for (int i = 0; ix->num[i]; i++)
		snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql), ", c_%s bigint", ix->num[i]);
	snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql), ");");
	for (int i = 0; ix->lex[i]; i++)
		snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql),
			 "CREATE INDEX IF NOT EXISTS regflow_records_%s ON regflow_records (c_%s, "
			 "key) "
			 "WHERE c_%s IS NOT NULL;",
			 ix->lex[i], ix->lex[i], ix->lex[i]);
	for (int i = 0; ix->num[i]; i++)
		snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql),
			 "CREATE INDEX IF NOT EXISTS regflow_records_%s ON regflow_records (c_%s, "
			 "key) "
			 "WHERE c_%s IS NOT NULL;",
			 ix->num[i], ix->num[i], ix->num[i]);
	rc = exec_ok(&tmp, "BEGIN") || exec_ok(&tmp, sql) ? -EIO : 0;
	if (rc == 0) {
		char ver[16];
		snprintf(ver, sizeof(ver), "%d", PG_SCHEMA_VERSION);
		const char *p[] = {ver, cols};
		PGresult *r = run(&tmp,
				  "INSERT INTO regflow_schema SELECT $1::int, $2 WHERE NOT EXISTS "
				  "(SELECT 1 FROM regflow_schema)",
				  2, p);
		PQclear(r);
		if (r) /* a version 1 schema: the same columns, now one commit row a node */
			r = run(&tmp,
				"UPDATE regflow_schema SET version = $1::int WHERE version = 1 AND "
				"columns = $2",
				2, p);
		PQclear(r);
		rc = r && exec_ok(&tmp, "COMMIT") == 0 ? 0 : -EIO;
	}
	if (rc < 0)
		snprintf(err, n, "PostgreSQL: %s", tmp.base.err);
	free(cols);
	PQfinish(c);
	return rc;
}

/* schema_ok - the store's schema is this program's: 0, or -EPROTO (why in err) */
static int schema_ok(struct store_pg *s, char *err, size_t n)
{
	PGresult *r = run(s, "SELECT version, columns FROM regflow_schema", 0, NULL);
	char *cols = columns(s->ix);
	int rc = 0;
	if (!r || PQntuples(r) != 1)
		rc = -ENOENT;
	else if (atoi(PQgetvalue(r, 0, 0)) != PG_SCHEMA_VERSION ||
		 strcmp(PQgetvalue(r, 0, 1), cols ? cols : ""))
		rc = -EPROTO;
	if (rc == -ENOENT)
		snprintf(err, n,
			 "the database has no regflow schema: run regflowctl store migrate "
			 "(engine.store = \"pg\")");
	else if (rc < 0)
		snprintf(err, n,
			 "the database's regflow schema (version %s) is not this "
			 "program's (version %d): refused",
			 PQgetvalue(r, 0, 0), PG_SCHEMA_VERSION);
	PQclear(r);
	free(cols);
	return rc;
}

int store_open_pg(const char *conninfo, const struct store_index *ix, struct store **out, char *err,
		  size_t n)
{
	PGconn *c;
	*out = NULL;
	int rc = connect_pg(conninfo, &c, err, n);
	if (rc < 0)
		return rc;
	struct store_pg *s = calloc(1, sizeof(*s));
	if (!s) {
		PQfinish(c);
		return -ENOMEM;
	}
	s->base.ops = &pg_ops;
	s->base.shared = 1;
	s->wb = json_object();
	s->c = c;
	s->ix = ix;
	s->conninfo = strdup(conninfo);
	s->pid = PQbackendPID(c);
	s->node = -1; /* a tool's: until an engine takes its node */
	if ((rc = schema_ok(s, err, n)) < 0 || (rc = commit_row(s)) < 0) {
		if (rc == -EIO)
			snprintf(err, n, "PostgreSQL: %s", s->base.err);
		pg_close(&s->base);
		return rc;
	}
	s->count = count_all(s);
	*out = &s->base;
	return 0;
}
