/*
 * find - "regflowctl store find COLUMN VALUE": the keys of the records
 * whose indexed column has a value, read from the file while regflowd is
 * stopped (it holds the only lock while it runs) - for operators and for
 * the tests that look at what a crash left.
 */
#include "rec.h"
#include "storectl.h"

#include <stdio.h>

/* print_found - the keys whose col is val, one a line */
static int print_found(struct store *st, const char *col, const char *val)
{
	json_t *keys = NULL, *k;
	size_t i;
	int rc = store_find(st, col, val, 0, &keys);
	json_array_foreach(keys, i, k)
		printf("%s\n", json_string_value(k));
	json_decref(keys);
	store_close(st);
	return rc < 0;
}

int storectl_find(const char *path, const char *col, const char *val)
{
	struct store *st;
	if (store_tc_kind(path) != STORE_TC_CURRENT) {
		fprintf(stderr, "regflowctl: store find: %s: no store of this format\n", path);
		return 1;
	}
	if (rec_open_tc(path, &st) < 0) {
		fprintf(stderr, "regflowctl: store find: %s\n", store_error(st));
		store_close(st);
		return 1;
	}
	return print_found(st, col, val);
}

int storectl_find_pg(const char *conninfo, const char *col, const char *val)
{
	struct store *st;
	char err[600];
	if (rec_open_pg(conninfo, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "regflowctl: store find: %s\n", err);
		return 1;
	}
	return print_found(st, col, val);
}
