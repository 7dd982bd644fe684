/*
 * spool_cmd - "regflowctl spool list [--json]": every queued, active,
 * deferred, held and failed message, sorted by id (= by age), as a table
 * or as one JSON object a line (like postqueue -j).  Read-only: a file
 * that does not parse is reported on stderr and left where it is.
 */
#include "spool_cmd.h"
#include "spool.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct row {
	enum spool_state st;
	struct spool_msg m;
};

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int c = strcmp(x->m.id, y->m.id);
	return c ? c : (int)x->st - (int)y->st;
}

static void spool_usage(void)
{
	fprintf(stderr, "usage: regflowctl spool list [--json]\n");
}

/* load_rows - every message in the listed states; *bad counts unreadable files */
static int load_rows(const char *dir, struct row **rows, size_t *n, int *bad)
{
	static const enum spool_state states[] = {SPOOL_QUEUED, SPOOL_ACTIVE, SPOOL_DEFERRED,
						  SPOOL_HOLD, SPOOL_FAILED};
	size_t cap = 0;
	char err[256];

	*rows = NULL;
	*n = 0;
	for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++) {
		char **names;
		size_t nn;
		int rc = spool_list(dir, states[s], &names, &nn);
		if (rc < 0) {
			fprintf(stderr, "regflowctl: spool %s/%s: %s\n", dir,
				spool_state_dir(states[s]), strerror(-rc));
			return rc;
		}
		for (size_t i = 0; i < nn; i++) {
			struct spool_msg m;
			rc = spool_load(dir, states[s], names[i], &m, err, sizeof(err));
			if (rc == -ENOENT) /* moved on while we looked */
				continue;
			if (rc < 0) {
				fprintf(stderr, "regflowctl: spool %s/%s: %s\n", spool_state_dir(states[s]),
					names[i], err[0] ? err : strerror(-rc));
				(*bad)++;
				continue;
			}
			if (*n == cap) {
				cap = cap ? cap * 2 : 64;
				*rows = xrealloc(*rows, cap * sizeof(**rows));
			}
			(*rows)[*n].st = states[s];
			(*rows)[*n].m = m;
			(*n)++;
		}
		spool_list_free(names, nn);
	}
	if (*n)
		qsort(*rows, *n, sizeof(**rows), row_cmp);
	return 0;
}

/* coarse - "3d4h", "12m", "5s": the two largest units of a duration */
static void coarse(int64_t ms, char *buf, size_t n)
{
	char full[64];
	int units = 0;
	size_t o = 0;

	duration_format(ms < 1000 ? 0 : ms - ms % 1000, full, sizeof(full));
	for (const char *p = full; *p && o + 1 < n; p++) {
		buf[o++] = *p;
		if (*p >= 'a' && *p <= 'z' && ++units == 2)
			break;
	}
	buf[o] = 0;
}

static void print_json(const struct row *r)
{
	const struct spool_msg *m = &r->m;
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:s?, s:I, s:s?, s:s?}", "id",
			      m->id, "channel", m->channel, "to", m->to, "state",
			      spool_state_name(r->st), "attempts", m->attempts, "created",
			      (json_int_t)m->created_ms, "next_attempt",
			      (json_int_t)m->next_attempt_ms, "last_error", m->last_error,
			      "expires", (json_int_t)m->expires_ms, "front", m->front, "subject",
			      m->subject);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (s)
		printf("%s\n", s);
	free(s);
	json_decref(o);
}

static void print_row(const struct row *r, int64_t now)
{
	const struct spool_msg *m = &r->m;
	char age[32], when[32], note[600];

	coarse(now - m->created_ms, age, sizeof(age));
	switch (r->st) {
	case SPOOL_ACTIVE:
		snprintf(note, sizeof(note), "being delivered");
		break;
	case SPOOL_DEFERRED:
		if (m->next_attempt_ms > now)
			coarse(m->next_attempt_ms - now, when, sizeof(when));
		snprintf(note, sizeof(note), "%s%s: %s", m->next_attempt_ms > now ? "next in " : "due",
			 m->next_attempt_ms > now ? when : "", m->last_error ? m->last_error : "");
		break;
	default:
		snprintf(note, sizeof(note), "%s", m->last_error ? m->last_error : "-");
		break;
	}
	printf("%-13s  %-8s  %-5s  %-30s  %4d  %6s  %s\n", m->id, spool_state_name(r->st),
	       m->channel, m->to, m->attempts, age, note);
}

static int spool_cmd_list(struct conf *c, int argc, char **argv)
{
	const char *dir = conf_str(c, "spool.dir", "spool");
	struct row *rows;
	size_t n;
	int json = 0, bad = 0;
	int64_t now = now_ms();

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0) {
			json = 1;
		} else {
			spool_usage();
			return 2;
		}
	}
	if (conf_error(c)) {
		fprintf(stderr, "regflowctl: %s\n", conf_error(c));
		return 1;
	}
	if (load_rows(dir, &rows, &n, &bad) < 0)
		return 1;
	if (!json && n == 0)
		printf("spool is empty: nothing queued, active, deferred, held or failed\n");
	if (!json && n > 0)
		printf("%-13s  %-8s  %-5s  %-30s  %4s  %6s  %s\n", "ID", "STATE", "CHAN", "TO", "ATT",
		       "AGE", "NEXT ATTEMPT / LAST ERROR");
	for (size_t i = 0; i < n; i++) {
		if (json)
			print_json(&rows[i]);
		else
			print_row(&rows[i], now);
		spool_msg_free(&rows[i].m);
	}
	free(rows);
	if (bad)
		fprintf(stderr, "regflowctl: %d spool file(s) could not be read (see above)\n", bad);
	return 0;
}

int ctl_spool(struct conf *c, int argc, char **argv)
{
	if (argc >= 1 && strcmp(argv[0], "list") == 0)
		return spool_cmd_list(c, argc, argv);
	spool_usage();
	return 2;
}
