/*
 * rec - the records layer over the store (see rec.h): the one place where
 * record kinds, key shapes, indexes, hidden and secret columns are known.
 */
#include "rec.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Indexed columns, and what each serves: email, phone, idno, login - subject
 * lookups and uniqueness; account - an account's tokens, codes, timers,
 * inbox items; jstate - queued jobs at start; kind - every record of a kind
 * (the outbox at start, the reviews); due - the next timer; purge - records
 * past their retention.
 */
static const char *const lex_cols[] = {"kind",	 "email",   "phone", "idno",
				       "jstate", "account", "login", NULL};
static const char *const num_cols[] = {"due", "purge", NULL};
static const struct store_index indexes = {lex_cols, num_cols};

static const char *const no_cols[] = {NULL};

struct kind_def {
	const char *name;
	char prefix;
	const char *const *hidden; /* never shown by the API */
	const char *const *secret; /* overwritten in place before the record goes */
};

#define COLS(...) ((const char *const[]){__VA_ARGS__, NULL})

static const struct kind_def kinds[REC_NKIND] = {
	[REC_ACCOUNT] = {"account", 'a', COLS("kind", "pwhash", "idno"), COLS("pwhash")},
	[REC_TOKEN] = {"token", 't', COLS("kind", "pwhash"), COLS("pwhash")},
	[REC_CODE] = {"code", 'c', COLS("kind", "hash", "salt"), COLS("hash", "salt")},
	[REC_LIMIT] = {"limit", 'l', COLS("kind"), no_cols},
	[REC_TIMER] = {"timer", 'm', COLS("kind"), no_cols},
	[REC_JOB] = {"job", 'j', COLS("kind", "args"), COLS("args")},
	[REC_IDEM] = {"idem", 'k', COLS("kind"), no_cols},
	[REC_OUTBOX] = {"outbox", 'o', COLS("kind", "msg"), COLS("msg")},
	[REC_REVIEW] = {"review", 'r', COLS("kind", "photo"), COLS("photo", "idno", "name")},
	[REC_INBOX] = {"inbox", 'i', COLS("kind"), COLS("text", "data")},
	[REC_HISTORY] = {"history", 'h', COLS("kind"), no_cols},
	[REC_PHOTO] = {"photo", 'p', COLS("kind"), COLS("photo")},
	[REC_WFVER] = {"wfversion", 'v', COLS("kind"), no_cols},
	[REC_NODE] = {"node", 'n', COLS("kind"), no_cols},
};

const struct store_index *rec_index(void)
{
	return &indexes;
}

int rec_open_tc(const char *path, struct store **out)
{
	return store_open_tc(path, &indexes, out);
}

int rec_open_mem(struct store **out)
{
	return store_open_mem(&indexes, out);
}

int rec_open_pg(const char *conninfo, struct store **out, char *err, size_t n)
{
	return store_open_pg(conninfo, &indexes, out, err, n);
}

int rec_pg_migrate(const char *conninfo, char *err, size_t n)
{
	return store_pg_migrate(conninfo, &indexes, err, n);
}

const char *rec_kind_name(enum rec_kind k)
{
	return k < REC_NKIND ? kinds[k].name : "?";
}

const char *rec_key(enum rec_kind k, const char *id, char buf[REC_KEY_MAX])
{
	snprintf(buf, REC_KEY_MAX, "%c:%s", kinds[k].prefix, id ? id : "");
	return buf;
}

int rec_key_kind(const char *key)
{
	if (!key || !key[0] || key[1] != ':')
		return -EINVAL;
	for (int k = 0; k < REC_NKIND; k++)
		if (kinds[k].prefix == key[0])
			return k;
	return -EINVAL;
}

const char *rec_key_id(const char *key)
{
	return rec_key_kind(key) < 0 ? key : key + 2;
}

const char *rec_account_key(const char *id, char buf[REC_KEY_MAX])
{
	return rec_key(REC_ACCOUNT, id, buf);
}

const char *rec_token_key(const char *hash_hex, char buf[REC_KEY_MAX])
{
	return rec_key(REC_TOKEN, hash_hex, buf);
}

const char *rec_code_key(const char *purpose, const char *target_hash, char buf[REC_KEY_MAX])
{
	snprintf(buf, REC_KEY_MAX, "%c:%s:%s", kinds[REC_CODE].prefix, purpose, target_hash);
	return buf;
}

const char *rec_outbox_key(const char *id, char buf[REC_KEY_MAX])
{
	return rec_key(REC_OUTBOX, id, buf);
}

/* idem_key - "k:FRONT:KEY" */
static const char *idem_key(const char *front, const char *key, char buf[REC_KEY_MAX])
{
	snprintf(buf, REC_KEY_MAX, "%c:%s:%s", kinds[REC_IDEM].prefix, front, key);
	return buf;
}

int rec_get_key(struct store *st, const char *key, json_t **out)
{
	return store_get(st, key, out);
}

int rec_get(struct store *st, enum rec_kind k, const char *id, json_t **out)
{
	char key[REC_KEY_MAX];
	int rc = store_get(st, rec_key(k, id, key), out);
	if (rc == 0 && !rec_is(*out, "kind", kinds[k].name)) {
		json_decref(*out);
		*out = NULL;
		return -ENOENT;
	}
	return rc;
}

void rec_stamp(const char *key, json_t *rec)
{
	int k = rec_key_kind(key);
	if (k >= 0 && !rec_is(rec, "kind", kinds[k].name))
		rec_set(rec, "kind", kinds[k].name);
}

int rec_put_key(struct store *st, const char *key, json_t *rec)
{
	if (rec_key_kind(key) < 0)
		return -EINVAL;
	rec_stamp(key, rec);
	return store_put(st, key, rec);
}

int rec_put(struct store *st, enum rec_kind k, const char *id, json_t *rec)
{
	char key[REC_KEY_MAX];
	return rec_put_key(st, rec_key(k, id, key), rec);
}

/* scrub - overwrite the record's secret columns in place with filler of the
 * same size: 1 if there was one to overwrite, 0 if not, or -errno */
static int scrub(struct store *st, const char *key)
{
	int k = rec_key_kind(key), n = 0, rc;
	json_t *rec;
	if (k < 0 || !kinds[k].secret[0])
		return 0;
	if ((rc = store_get(st, key, &rec)) < 0)
		return rc;
	for (const char *const *c = kinds[k].secret; *c; c++) {
		size_t len = json_string_length(json_object_get(rec, *c));
		if (len == 0)
			continue;
		char *fill = xmalloc(len + 1);
		memset(fill, 'x', len);
		fill[len] = 0;
		rec_set(rec, *c, fill);
		free(fill);
		n++;
	}
	rc = n ? store_put(st, key, rec) : 0;
	json_decref(rec);
	return rc < 0 ? rc : n > 0;
}

int rec_del_key(struct store *st, const char *key)
{
	int rc = scrub(st, key);
	if (rc < 0)
		return rc;
	return store_del(st, key);
}

int rec_replace_key(struct store *st, const char *key, json_t *rec)
{
	int rc = scrub(st, key);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	return rec_put_key(st, key, rec);
}

int rec_apply(struct store *st, json_t *writes)
{
	const char *key;
	json_t *rec;
	json_object_foreach(writes, key, rec) {
		int rc = json_is_null(rec) ? rec_del_key(st, key) : rec_put_key(st, key, rec);
		if (rc < 0 && rc != -ENOENT)
			return rc;
	}
	return 0;
}

/* only_kind - keep the keys of kind k (the kind is in the key) */
static void only_kind(json_t *keys, enum rec_kind k)
{
	for (size_t i = json_array_size(keys); i-- > 0;)
		if (rec_key_kind(json_string_value(json_array_get(keys, i))) != (int)k)
			json_array_remove(keys, i);
}

int rec_find(struct store *st, enum rec_kind k, const char *col, const char *val, json_t **keys)
{
	int rc = store_find(st, col, val, 0, keys);
	if (rc == 0)
		only_kind(*keys, k);
	return rc;
}

int rec_list(struct store *st, enum rec_kind k, json_t **keys)
{
	return rec_find(st, k, "kind", kinds[k].name, keys);
}

int rec_of_account(struct store *st, enum rec_kind k, const char *account, json_t **keys)
{
	return rec_find(st, k, "account", account ? account : "", keys);
}

int rec_timers_due(struct store *st, int64_t now, int limit, json_t **keys)
{
	return store_due(st, "due", now, limit, keys);
}

int rec_purge_due(struct store *st, int64_t now, int limit, json_t **keys)
{
	return store_due(st, "purge", now, limit, keys);
}

int64_t rec_next_due(struct store *st)
{
	int64_t next = INT64_MAX;
	for (const char *const *c = num_cols; *c; c++) {
		json_t *keys = NULL, *rec = NULL;
		if (store_due(st, *c, INT64_MAX, 1, &keys) == 0 && json_array_size(keys) == 1 &&
		    store_get(st, json_string_value(json_array_get(keys, 0)), &rec) == 0) {
			int64_t d = rec_int(rec, *c, INT64_MAX);
			if (d < next)
				next = d;
		}
		json_decref(rec);
		json_decref(keys);
	}
	return next;
}

int rec_job_get(struct store *st, const char *id, json_t **out)
{
	return rec_get(st, REC_JOB, id, out);
}

int rec_job_put(struct store *st, const char *id, json_t *rec)
{
	return rec_put(st, REC_JOB, id, rec);
}

int rec_job_replace(struct store *st, const char *id, json_t *rec)
{
	char key[REC_KEY_MAX];
	return rec_replace_key(st, rec_key(REC_JOB, id, key), rec);
}

int rec_idem_get(struct store *st, const char *front, const char *key, json_t **out)
{
	char k[REC_KEY_MAX];
	return store_get(st, idem_key(front, key, k), out);
}

int rec_idem_put(struct store *st, const char *front, const char *key, json_t *rec)
{
	char k[REC_KEY_MAX];
	return rec_put_key(st, idem_key(front, key, k), rec);
}

int rec_account_get(struct store *st, const char *id, json_t **out)
{
	return rec_get(st, REC_ACCOUNT, id, out);
}

int rec_outbox_new(const struct spool_msg *m, const char *account, json_t **out, char *err,
		   size_t errlen)
{
	size_t len;
	char *text;
	if (spool_check(m, err, errlen) < 0 || !(text = spool_format(m, &len)))
		return -EINVAL;
	json_t *rec = json_object();
	rec_set(rec, "kind", kinds[REC_OUTBOX].name);
	rec_set(rec, "id", m->id);
	rec_set(rec, "account", account);
	rec_set_int(rec, "created", m->created_ms);
	rec_set(rec, "msg", text);
	free(text);
	*out = rec;
	return 0;
}

int rec_outbox_msg(const json_t *rec, struct spool_msg *m, char *err, size_t errlen)
{
	const char *text = rec_str(rec, "msg");
	if (!text) {
		snprintf(err, errlen, "outbox record without a message");
		return -EBADMSG;
	}
	return spool_parse(text, strlen(text), m, err, errlen);
}

const char *rec_history_key(const char *account, char buf[REC_KEY_MAX])
{
	char id[ID_LEN + 1];
	id_new(id);
	snprintf(buf, REC_KEY_MAX, "%c:%s:%s", kinds[REC_HISTORY].prefix, account, id);
	return buf;
}

json_t *rec_public(enum rec_kind k, const json_t *rec)
{
	json_t *out = json_deep_copy(rec);
	for (const char *const *c = kinds[k].hidden; *c; c++)
		json_object_del(out, *c);
	return out;
}

const char *rec_str(const json_t *rec, const char *col)
{
	return json_string_value(json_object_get(rec, col));
}

const char *rec_str0(const json_t *rec, const char *col)
{
	const char *v = rec_str(rec, col);
	return v ? v : "";
}

int64_t rec_int(const json_t *rec, const char *col, int64_t def)
{
	const char *v = rec_str(rec, col);
	char *end;
	if (!v || !*v)
		return def;
	long long n = strtoll(v, &end, 10);
	return *end ? def : (int64_t)n;
}

void rec_set(json_t *rec, const char *col, const char *val)
{
	json_object_set_new(rec, col, json_string(val ? val : ""));
}

void rec_set_int(json_t *rec, const char *col, int64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	rec_set(rec, col, buf);
}

int rec_is(const json_t *rec, const char *col, const char *val)
{
	const char *v = rec_str(rec, col);
	return v && strcmp(v, val) == 0;
}
