/*
 * store - record helpers shared by every store backend (see store.h).
 */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_scrub(struct store *st, const char *key)
{
	json_t *rec, *v;
	const char *col;
	int rc = store_get(st, key, &rec);
	if (rc < 0)
		return rc;
	json_object_foreach(rec, col, v) {
		size_t n = json_string_length(v);
		char *fill = malloc(n + 1);
		if (!fill)
			continue;
		memset(fill, 'x', n);
		fill[n] = 0;
		json_object_set_new(rec, col, json_string(fill));
		free(fill);
	}
	rc = store_put(st, key, rec);
	json_decref(rec);
	return rc;
}

const char *rec_str(const json_t *rec, const char *col)
{
	return json_string_value(json_object_get(rec, col));
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
