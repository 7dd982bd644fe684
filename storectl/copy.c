/*
 * copy - "regflowctl store copy FROM TO": every record of one store into
 * another, e.g. a Tokyo Cabinet store into PostgreSQL (tc:PATH, pg:CONNINFO)
 * and back, with regflowd stopped.  A target that holds anything is
 * refused; records go over in transactions of a page each; then the target
 * is read back and checked against the source's count and checksum.  A
 * progress bar on a terminal.
 */
#include "rec.h"
#include "storectl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PAGE 2000

/* open_end - "tc:PATH" (a bare path too) or "pg:CONNINFO"; source: the file must exist */
static int open_end(const char *spec, int source, struct store **st, char *err, size_t n)
{
	if (!strncmp(spec, "pg:", 3))
		return rec_open_pg(spec + 3, st, err, n);
	const char *path = !strncmp(spec, "tc:", 3) ? spec + 3 : spec;
	if (source && store_tc_kind(path) != STORE_TC_CURRENT) {
		snprintf(err, n, "%s: no store of this format", path);
		return -ENOENT;
	}
	int rc = rec_open_tc(path, st);
	if (rc < 0) {
		snprintf(err, n, "%s", store_error(*st));
		store_close(*st);
		*st = NULL;
	}
	return rc;
}

static void progress(int64_t done, int64_t total)
{
	if (!isatty(2) || total <= 0)
		return;
	int w = 40, fill = (int)(done * w / total);
	fprintf(stderr, "\r[%.*s%*s] %lld/%lld", fill, "########################################",
		w - fill, "", (long long)done, (long long)total);
	if (done == total)
		fputc('\n', stderr);
}

/* copy_pages - every record, a transaction a page; the source's tally in t */
static int copy_pages(struct store *from, struct store *to, struct tally *t, char *err, size_t n)
{
	json_t *page = NULL, *pair;
	char after[REC_KEY_MAX] = "";
	int64_t total = store_count(from);
	size_t i;
	int rc;
	do {
		json_decref(page);
		if ((rc = store_scan(from, after[0] ? after : NULL, PAGE, &page)) < 0 ||
		    (rc = store_begin(to)) < 0)
			break;
		json_array_foreach(page, i, pair) {
			const char *k = json_string_value(json_array_get(pair, 0));
			if ((rc = store_put(to, k, json_array_get(pair, 1))) < 0)
				break;
			tally_add(t, k, json_array_get(pair, 1));
			snprintf(after, sizeof(after), "%s", k);
		}
		if (rc < 0 || (rc = store_commit(to)) < 0)
			break;
		progress(t->n, total);
	} while (json_array_size(page) > 0);
	json_decref(page);
	if (rc < 0) {
		store_abort(to);
		snprintf(err, n, "%s", store_error(to)[0] ? store_error(to) : store_error(from));
	}
	return rc;
}

int storectl_copy(const char *from, const char *to)
{
	struct store *src = NULL, *dst = NULL;
	struct tally t = {0};
	char err[600];
	int rc = open_end(from, 1, &src, err, sizeof(err));
	if (rc == 0)
		rc = open_end(to, 0, &dst, err, sizeof(err));
	if (rc == 0 && store_count(dst) != 0) {
		snprintf(err, sizeof(err), "%s holds %lld record(s): the target must be empty", to,
			 (long long)store_count(dst));
		rc = -EEXIST;
	}
	if (rc == 0)
		rc = copy_pages(src, dst, &t, err, sizeof(err));
	if (rc == 0)
		rc = tally_check(dst, &t, err, sizeof(err));
	if (rc == 0)
		printf("copied %lld record(s); verified (count and checksum)\n", (long long)t.n);
	else
		fprintf(stderr, "regflowctl: store copy: %s\n", err);
	if (src)
		store_close(src);
	if (dst)
		store_close(dst);
	return rc < 0;
}
