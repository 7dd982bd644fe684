/*
 * store - the engine's storage behind a small function table.
 *
 * A record is a flat JSON object whose values are strings, stored under a
 * string key.  Some columns are indexed: exact match on lexical columns,
 * "value <= max" on numeric ones; which columns those are is the records
 * layer's to say (rec.h), and it is the only caller of these functions: no
 * other module formats a key or reaches a backend.  Tokyo Cabinet serves
 * production (store_tc.c); an in-memory table serves fast unit tests
 * (store_mem.c); store_fault.c wraps either and fails on purpose.
 *
 * Every function returns 0 or a negative errno.
 */
#ifndef REGFLOW_STORE_H
#define REGFLOW_STORE_H

#include <errno.h>
#include <jansson.h>
#include <stdint.h>

/* store_index - the indexed columns a backend keeps (NULL-terminated lists) */
struct store_index {
	const char *const *lex; /* exact match */
	const char *const *num; /* decimal integers: "<= max", smallest first */
};

struct store;

struct store_ops {
	const char *name;
	/* get - a new reference to the record, or -ENOENT */
	int (*get)(struct store *st, const char *key, json_t **out);
	int (*put)(struct store *st, const char *key, json_t *rec);
	/* del - -ENOENT if there was no such record */
	int (*del)(struct store *st, const char *key);
	/* find - keys (a new JSON array, sorted) whose col equals val; limit 0 = all */
	int (*find)(struct store *st, const char *col, const char *val, int limit, json_t **keys);
	/* due - keys whose numeric col is <= max, smallest first */
	int (*due)(struct store *st, const char *col, int64_t max, int limit, json_t **keys);
	/* scan - up to limit records with keys after after (NULL: from the
	 * first), in key order: a new array of [key, record] pairs */
	int (*scan)(struct store *st, const char *after, int limit, json_t **out);
	int (*begin)(struct store *st);
	/* commit - make the transaction durable (synced to disk for Tokyo Cabinet);
	 * -EAGAIN: committed, but the sync to disk failed; -EDEADLK: not
	 * committed, it conflicted with another engine's (any call inside a
	 * transaction may say so): abort and run it again */
	int (*commit)(struct store *st);
	/* reopen - after a failed transaction: close and open again (a backend
	 * that stopped on a write error, e.g. a full disk, starts afresh) */
	int (*reopen)(struct store *st);
	int (*abort)(struct store *st);
	/* count - number of records */
	int64_t (*count)(struct store *st);
	/* prepare - before writing after the disk was short of space: 0 when
	 * writes can only fail with an error (never fault); NULL: always */
	int (*prepare)(struct store *st);
	/* backup - a consistent copy of the whole store into the file path, while
	 * it is in use (between transactions); NULL: not this backend's to do */
	int (*backup)(struct store *st, const char *path);
	/* node - engines sharing one store (NULL: a store only one engine
	 * opens): see store_node_op */
	int (*node)(struct store *st, int node, int op);
	void (*close)(struct store *st);
};

/*
 * store_node_op - the nodes of engines sharing a store (issue 13): each
 * engine holds its node for as long as it runs (OWN: taken again after a
 * reconnect; -EBUSY while another engine holds it); a node nobody holds is
 * a dead engine's, whose queued work another engine adopts while it holds
 * that node (TRY: 0 taken, -EBUSY alive elsewhere; FREE: given back)
 */
enum store_node_op { STORE_NODE_OWN, STORE_NODE_TRY, STORE_NODE_FREE };

/* the operations counted (per job type in make bench, in /metrics) */
enum store_op { STORE_GET, STORE_PUT, STORE_DEL, STORE_FIND, STORE_DUE, STORE_COMMIT, STORE_NOPS };

struct store {
	const struct store_ops *ops;
	char err[256];		   /* last backend error, for logs */
	int shared;		   /* several engines may share it (store_node_op) */
	int64_t calls[STORE_NOPS]; /* operations since open */
};

/* store_open_tc - open (create) the Tokyo Cabinet database at path; -EPROTO
 * (why in err) for a file of an older format, which is never changed */
int store_open_tc(const char *path, const struct store_index *ix, struct store **out);
/* store_tc_kind - what the file at path is */
enum store_tc_kind {
	STORE_TC_NONE,	  /* no file (or an empty one) */
	STORE_TC_CURRENT, /* a B+ tree file: this format */
	STORE_TC_OLD	  /* a table database: the format of an older regflow */
};
/* store_tc_kind - the kind, or -EBADMSG for a file that is not Tokyo Cabinet's */
int store_tc_kind(const char *path);

/* store_each_fn - one record of a walk (0 goes on, <0 stops the walk with it) */
typedef int (*store_each_fn)(const char *key, json_t *rec, void *arg);
/* store_tct_each - every record of a store of the older format (a table
 * database), opened read-only; -EBUSY while regflowd has it open */
int store_tct_each(const char *path, store_each_fn fn, void *arg, char *err, size_t errlen);
/* store_open_pg - the store on PostgreSQL (store_pg.c); -EPROTO or -ENOENT
 * (why in err) for a schema that is not this program's, or none */
int store_open_pg(const char *conninfo, const struct store_index *ix, struct store **out, char *err,
		  size_t errlen);
/* store_pg_migrate - create the schema (idempotent) */
int store_pg_migrate(const char *conninfo, const struct store_index *ix, char *err, size_t errlen);
/* store_open_mem - an empty in-memory store */
int store_open_mem(const struct store_index *ix, struct store **out);

/*
 * store_open_fault - wrap inner (which the wrapper then owns): the nth call
 * (1 = the next) of operation op ("put", "get", "del", "find", "due",
 * "begin", "commit", "sync") fails with rc; "sync" makes a commit return
 * -EAGAIN after committing.  For unit tests of every failure path.
 */
int store_open_fault(struct store *inner, struct store **out);
void store_fault_set(struct store *st, const char *op, int nth, int rc);
/* store_fault_times - the armed call and the times - 1 calls of it after fail */
void store_fault_times(struct store *st, int times);
/* store_fault_calls - how many times op was called since the wrapper opened */
int store_fault_calls(struct store *st, const char *op);
/* store_fault_shared - the wrapper says it is shared (as PostgreSQL's
 * store), with every other node alive, for the tests of the engines' rules */
void store_fault_shared(struct store *st, int on);

static inline int store_get(struct store *st, const char *key, json_t **out)
{
	st->calls[STORE_GET]++;
	return st->ops->get(st, key, out);
}
static inline int store_put(struct store *st, const char *key, json_t *rec)
{
	st->calls[STORE_PUT]++;
	return st->ops->put(st, key, rec);
}
static inline int store_del(struct store *st, const char *key)
{
	st->calls[STORE_DEL]++;
	return st->ops->del(st, key);
}
static inline int store_find(struct store *st, const char *col, const char *val, int limit,
			     json_t **keys)
{
	st->calls[STORE_FIND]++;
	return st->ops->find(st, col, val, limit, keys);
}
static inline int store_due(struct store *st, const char *col, int64_t max, int limit,
			    json_t **keys)
{
	st->calls[STORE_DUE]++;
	return st->ops->due(st, col, max, limit, keys);
}
static inline int store_scan(struct store *st, const char *after, int limit, json_t **out)
{
	return st->ops->scan(st, after, limit, out);
}
static inline int store_begin(struct store *st)
{
	return st->ops->begin(st);
}
static inline int store_commit(struct store *st)
{
	st->calls[STORE_COMMIT]++;
	return st->ops->commit(st);
}
static inline int store_backup(struct store *st, const char *path)
{
	return st->ops->backup ? st->ops->backup(st, path) : -ENOTSUP;
}
/* store_shared - 1 if several engines may share the store */
static inline int store_shared(const struct store *st)
{
	return st->shared;
}
static inline int store_node(struct store *st, int node, enum store_node_op op)
{
	return st->ops->node ? st->ops->node(st, node, (int)op) : -ENOTSUP;
}
static inline int store_abort(struct store *st)
{
	return st->ops->abort(st);
}
static inline int store_reopen(struct store *st)
{
	return st->ops->reopen(st);
}
static inline int64_t store_count(struct store *st)
{
	return st->ops->count(st);
}
static inline int store_prepare(struct store *st)
{
	return st->ops->prepare ? st->ops->prepare(st) : 0;
}
static inline const char *store_error(const struct store *st)
{
	return st->err;
}
static inline void store_close(struct store *st)
{
	if (st)
		st->ops->close(st);
}

#endif
