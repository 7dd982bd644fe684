/*
 * store_mem - an in-memory store for unit tests of the workflow logic.
 *
 * Same semantics as store_tc (see store.h) with linear scans instead of
 * indexes; a transaction keeps a copy of the table to restore on abort.
 */
#include "store.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct store_mem {
	struct store base;
	json_t *tab;  /* key -> record */
	json_t *undo; /* copy of tab taken at begin, or NULL */
};

static int mem_get(struct store *st, const char *key, json_t **out)
{
	json_t *rec = json_object_get(((struct store_mem *)st)->tab, key);
	if (!rec)
		return -ENOENT;
	*out = json_deep_copy(rec);
	return 0;
}

static int mem_put(struct store *st, const char *key, json_t *rec)
{
	json_object_set_new(((struct store_mem *)st)->tab, key, json_deep_copy(rec));
	return 0;
}

static int mem_del(struct store *st, const char *key)
{
	return json_object_del(((struct store_mem *)st)->tab, key) == 0 ? 0 : -ENOENT;
}

/* col_str, col_int - a column's string, or its number (0 if none) */
static const char *col_str(const json_t *rec, const char *col)
{
	return json_string_value(json_object_get(rec, col));
}

static int64_t col_int(const json_t *rec, const char *col)
{
	const char *v = col_str(rec, col);
	return v ? (int64_t)strtoll(v, NULL, 10) : 0;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* mem_select - keys matching a predicate, sorted by key (or by num when numeric) */
static json_t *mem_select(struct store_mem *s, const char *col, const char *eq, const int64_t *max,
			  int limit)
{
	size_t n = json_object_size(s->tab), k = 0;
	const char **keys = xcalloc(n + 1, sizeof(*keys));
	const char *key;
	json_t *rec, *out = json_array();

	json_object_foreach(s->tab, key, rec) {
		const char *v = col_str(rec, col);
		if (!v)
			continue;
		if ((eq && strcmp(v, eq) == 0) || (max && strtoll(v, NULL, 10) <= *max))
			keys[k++] = key;
	}
	qsort(keys, k, sizeof(*keys), key_cmp);
	if (max) { /* stable insertion sort by numeric value */
		for (size_t i = 1; i < k; i++) {
			const char *cur = keys[i];
			int64_t cv = col_int(json_object_get(s->tab, cur), col);
			size_t j = i;
			while (j > 0 && col_int(json_object_get(s->tab, keys[j - 1]), col) > cv) {
				keys[j] = keys[j - 1];
				j--;
			}
			keys[j] = cur;
		}
	}
	for (size_t i = 0; i < k && (limit <= 0 || (int)i < limit); i++)
		json_array_append_new(out, json_string(keys[i]));
	free(keys);
	return out;
}

static int mem_find(struct store *st, const char *col, const char *val, int limit, json_t **keys)
{
	*keys = mem_select((struct store_mem *)st, col, val, NULL, limit);
	return 0;
}

static int mem_due(struct store *st, const char *col, int64_t max, int limit, json_t **keys)
{
	*keys = mem_select((struct store_mem *)st, col, NULL, &max, limit);
	return 0;
}

static int mem_scan(struct store *st, const char *after, int limit, json_t **out)
{
	struct store_mem *s = (struct store_mem *)st;
	size_t n = json_object_size(s->tab), k = 0;
	const char **keys = xcalloc(n + 1, sizeof(*keys));
	const char *key;
	json_t *rec;
	json_object_foreach(s->tab, key, rec)
		if (!after || strcmp(key, after) > 0)
			keys[k++] = key;
	qsort(keys, k, sizeof(*keys), key_cmp);
	*out = json_array();
	for (size_t i = 0; i < k && (limit <= 0 || (int)i < limit); i++)
		json_array_append_new(
			*out, json_pack("[s, O]", keys[i], json_object_get(s->tab, keys[i])));
	free(keys);
	return 0;
}

static int mem_begin(struct store *st)
{
	struct store_mem *s = (struct store_mem *)st;
	if (s->undo)
		return -EBUSY;
	s->undo = json_deep_copy(s->tab);
	return 0;
}

static int mem_commit(struct store *st)
{
	struct store_mem *s = (struct store_mem *)st;
	json_decref(s->undo);
	s->undo = NULL;
	return 0;
}

static int mem_reopen(struct store *st)
{
	return 0;
}

static int mem_abort(struct store *st)
{
	struct store_mem *s = (struct store_mem *)st;
	if (!s->undo)
		return -EINVAL;
	json_decref(s->tab);
	s->tab = s->undo;
	s->undo = NULL;
	return 0;
}

static int64_t mem_count(struct store *st)
{
	return (int64_t)json_object_size(((struct store_mem *)st)->tab);
}

static void mem_close(struct store *st)
{
	struct store_mem *s = (struct store_mem *)st;
	json_decref(s->tab);
	json_decref(s->undo);
	free(s);
}

static const struct store_ops mem_ops = {
	.name = "memory",
	.get = mem_get,
	.put = mem_put,
	.del = mem_del,
	.find = mem_find,
	.due = mem_due,
	.scan = mem_scan,
	.begin = mem_begin,
	.commit = mem_commit,
	.reopen = mem_reopen,
	.abort = mem_abort,
	.count = mem_count,
	.close = mem_close,
};

int store_open_mem(const struct store_index *ix, struct store **out)
{
	struct store_mem *s = xcalloc(1, sizeof(*s));
	s->base.ops = &mem_ops;
	s->tab = json_object();
	*out = &s->base;
	return 0;
}
