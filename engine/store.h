/*
 * store - the engine's storage behind a small function table.
 *
 * A record is a flat JSON object whose values are strings, stored under a
 * string key ("a:ID" account, "t:HASH" token, "j:ID" job, "k:FRONT:KEY"
 * idempotency key, "o:ID" outbox message).  Some columns are indexed:
 * exact match on STORE_LEX_INDEX columns, "value <= max" on STORE_NUM_INDEX.
 * Tokyo Cabinet's table database serves production (store_tc.c); an
 * in-memory table serves fast unit tests of the workflow logic (store_mem.c).
 */
#ifndef REGFLOW_STORE_H
#define REGFLOW_STORE_H

#include <jansson.h>
#include <stdint.h>

#define STORE_LEX_INDEX                                                                            \
	{                                                                                          \
		"kind", "email", "phone", "idno", "jstate", "account", NULL                        \
	}
#define STORE_NUM_INDEX                                                                            \
	{                                                                                          \
		"due", "purge", NULL                                                               \
	}

struct store;

struct store_ops {
	const char *name;
	/* get - a new reference to the record, or -ENOENT */
	int (*get)(struct store *st, const char *key, json_t **out);
	int (*put)(struct store *st, const char *key, json_t *rec);
	int (*del)(struct store *st, const char *key);
	/* find - keys (a new JSON array, sorted) whose col equals val; limit 0 = all */
	int (*find)(struct store *st, const char *col, const char *val, int limit, json_t **keys);
	/* due - keys whose numeric col is <= max, smallest first */
	int (*due)(struct store *st, const char *col, int64_t max, int limit, json_t **keys);
	int (*begin)(struct store *st);
	/* commit - make the transaction durable (synced to disk for Tokyo Cabinet);
	 * -EAGAIN: committed, but the sync to disk failed */
	int (*commit)(struct store *st);
	/* reopen - after a failed transaction: close and open again (a backend
	 * that stopped on a write error, e.g. a full disk, starts afresh) */
	int (*reopen)(struct store *st);
	int (*abort)(struct store *st);
	/* count - number of records */
	int64_t (*count)(struct store *st);
	void (*close)(struct store *st);
};

struct store {
	const struct store_ops *ops;
	char err[256]; /* last backend error, for logs */
};

/* store_open_tc - open (create) the Tokyo Cabinet table database at path */
int store_open_tc(const char *path, struct store **out);
/* store_open_mem - an empty in-memory store */
int store_open_mem(struct store **out);

static inline int store_get(struct store *st, const char *key, json_t **out)
{
	return st->ops->get(st, key, out);
}
static inline int store_put(struct store *st, const char *key, json_t *rec)
{
	return st->ops->put(st, key, rec);
}
static inline int store_del(struct store *st, const char *key)
{
	return st->ops->del(st, key);
}
static inline int store_find(struct store *st, const char *col, const char *val, int limit,
			     json_t **keys)
{
	return st->ops->find(st, col, val, limit, keys);
}
static inline void store_close(struct store *st)
{
	if (st)
		st->ops->close(st);
}

/*
 * store_scrub - overwrite a record in place with filler of the same size,
 * so that a secret it held (a mail body with a link, a job's arguments) does
 * not linger in the file's free space once the record is deleted or shrunk
 */
int store_scrub(struct store *st, const char *key);

/* rec_str - a column's string value or NULL */
const char *rec_str(const json_t *rec, const char *col);
/* rec_int - a column parsed as an integer, or def */
int64_t rec_int(const json_t *rec, const char *col, int64_t def);
/* rec_set - set a string column (json_t references are taken care of) */
void rec_set(json_t *rec, const char *col, const char *val);
void rec_set_int(json_t *rec, const char *col, int64_t v);

#endif
