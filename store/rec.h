/*
 * rec - the records layer: the kinds of record the engine keeps, their key
 * shapes, their indexed columns, the columns the API never shows and the
 * columns that hold a secret.  Every access to the store goes through it
 * (as OpenSMTPD's queue_backend turns an envelope into backend calls): no
 * other module formats a key.
 *
 * A record is a flat JSON object of string columns; its kind is part of its
 * key ("a:ID" an account) and is also kept in the column "kind".  Keys are
 * opaque to callers: they come from rec_key() and the typed helpers, and go
 * back in through the functions below.  0 or a negative errno everywhere.
 */
#ifndef REGFLOW_REC_H
#define REGFLOW_REC_H

#include "spool.h"
#include "store.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum rec_kind {
	REC_ACCOUNT, /* a:ID          an account */
	REC_TOKEN,   /* t:HASH        a link's token, by the BLAKE2b hash of it */
	REC_CODE,    /* c:PURPOSE:HASH one live code per purpose and target (phone, address) */
	REC_LIMIT,   /* l:KEY         rate-limit counters of a rendered key */
	REC_TIMER,   /* m:ID          a workflow timer of an account */
	REC_JOB,     /* j:ID          a job */
	REC_IDEM,    /* k:FRONT:KEY   an idempotency key: the first job of a front with it */
	REC_OUTBOX,  /* o:ID          a message committed with its state change, until spooled */
	REC_REVIEW,  /* r:ID          a duplicate-id review */
	REC_INBOX,   /* i:ID          an item of an account's inbox */
	REC_HISTORY, /* h:ACCOUNT:ID  an entry of an account's history */
	REC_PHOTO,   /* p:REVIEW      a review's id photo (purged a while after the decision) */
	REC_WFVER,   /* v:NAME@VER    a workflow version and what it is made of */
	REC_NODE,    /* n:NODE        an engine sharing the store: the workflow set it runs */
	REC_NKIND
};

#define REC_KEY_MAX 320

/* rec_index - the indexed columns, for the backends (store_open_*) */
const struct store_index *rec_index(void);
/* rec_open_tc, rec_open_mem - the engine's store on a backend, with the indexes */
int rec_open_tc(const char *path, struct store **out);
int rec_open_mem(struct store **out);
/* rec_open_pg - on PostgreSQL (engine.store = "pg"); rec_pg_migrate - its
 * schema made (regflowctl store migrate) */
int rec_open_pg(const char *conninfo, struct store **out, char *err, size_t n);
int rec_pg_migrate(const char *conninfo, char *err, size_t n);

/* rec_kind_name - "account", "token", ...: the "kind" column */
const char *rec_kind_name(enum rec_kind k);
/* rec_key - the key of a record of kind k with this id, in buf */
const char *rec_key(enum rec_kind k, const char *id, char buf[REC_KEY_MAX]);
/* rec_key_kind - the kind a key names, or -EINVAL */
int rec_key_kind(const char *key);
/* rec_key_id - the id part of a key ("ID" of "a:ID") */
const char *rec_key_id(const char *key);

/* typed keys: an account's, a token's (by the token's hash), a code's */
const char *rec_account_key(const char *id, char buf[REC_KEY_MAX]);
const char *rec_token_key(const char *hash_hex, char buf[REC_KEY_MAX]);
const char *rec_code_key(const char *purpose, const char *target_hash, char buf[REC_KEY_MAX]);

/* rec_stamp - set rec's "kind" column to the kind its key names */
void rec_stamp(const char *key, json_t *rec);
/* rec_get_key - the record at key: -ENOENT if none */
int rec_get_key(struct store *st, const char *key, json_t **out);
/* rec_get - the record of kind k and id; -ENOENT if none or of another kind */
int rec_get(struct store *st, enum rec_kind k, const char *id, json_t **out);
/* rec_put_key - write rec at key (its "kind" column set from the key) */
int rec_put_key(struct store *st, const char *key, json_t *rec);
int rec_put(struct store *st, enum rec_kind k, const char *id, json_t *rec);
/* rec_del_key - delete, its secret columns overwritten in place first so no
 * copy lingers in the file's free space; -ENOENT if there was none */
int rec_del_key(struct store *st, const char *key);
/* rec_replace_key - write rec over a record that held secrets it no longer
 * has (a finished job's arguments): the old secrets are overwritten first */
int rec_replace_key(struct store *st, const char *key, json_t *rec);
/* rec_apply - write every record of writes (key -> record, or null to delete) */
int rec_apply(struct store *st, json_t *writes);

/* rec_find - keys (a new array, sorted) of records of kind k whose indexed col is val */
int rec_find(struct store *st, enum rec_kind k, const char *col, const char *val, json_t **keys);
/* rec_list - keys of every record of kind k */
int rec_list(struct store *st, enum rec_kind k, json_t **keys);
/* rec_of_account - keys of the records of kind k that belong to an account */
int rec_of_account(struct store *st, enum rec_kind k, const char *account, json_t **keys);
/* rec_timers_due - keys of timers due at now or before, earliest first */
int rec_timers_due(struct store *st, int64_t now, int limit, json_t **keys);
/* rec_purge_due - keys of records past their retention at now */
int rec_purge_due(struct store *st, int64_t now, int limit, json_t **keys);
/* rec_next_due - the earliest timer or purge time (INT64_MAX if none) */
int64_t rec_next_due(struct store *st);

/* the job records */
int rec_job_get(struct store *st, const char *id, json_t **out);
int rec_job_put(struct store *st, const char *id, json_t *rec);
/* rec_job_replace - the job's final record over its queued one (arguments scrubbed) */
int rec_job_replace(struct store *st, const char *id, json_t *rec);
int rec_idem_get(struct store *st, const char *front, const char *key, json_t **out);
int rec_idem_put(struct store *st, const char *front, const char *key, json_t *rec);
int rec_account_get(struct store *st, const char *id, json_t **out);

/*
 * the outbox: a message is kept in the spool's own format (spool.h), so
 * that it has one definition from the workflow's send to the gateway
 */
/* rec_outbox_new - the outbox record of m, sent for account; -EINVAL (why in err) */
int rec_outbox_new(const struct spool_msg *m, const char *account, json_t **out, char *err,
		   size_t errlen);
/* rec_outbox_msg - the message an outbox record holds; -EBADMSG (why in err) */
int rec_outbox_msg(const json_t *rec, struct spool_msg *m, char *err, size_t errlen);
/* rec_outbox_key - the key of the outbox record of message id */
const char *rec_outbox_key(const char *id, char buf[REC_KEY_MAX]);

/* rec_history_key - a new history entry's key for account (they sort by time) */
const char *rec_history_key(const char *account, char buf[REC_KEY_MAX]);

/* rec_public - a copy of rec without the columns the API never shows */
json_t *rec_public(enum rec_kind k, const json_t *rec);

/* column helpers */
/* rec_str - a column's string value or NULL */
const char *rec_str(const json_t *rec, const char *col);
/* rec_str0 - a column's string value or "" */
const char *rec_str0(const json_t *rec, const char *col);
/* rec_int - a column parsed as an integer, or def */
int64_t rec_int(const json_t *rec, const char *col, int64_t def);
/* rec_set - set a string column (json_t references are taken care of) */
void rec_set(json_t *rec, const char *col, const char *val);
void rec_set_int(json_t *rec, const char *col, int64_t v);
/* rec_is - 1 if the column equals val */
int rec_is(const json_t *rec, const char *col, const char *val);

#endif
