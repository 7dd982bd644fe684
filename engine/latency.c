/*
 * latency - job latency histograms per type and result code (latency.h).
 */
#include "latency.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* bucket bounds in ms: fine where a cheap job answers, coarse past a second */
static const int64_t bounds[] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
#define NB (sizeof(bounds) / sizeof(bounds[0]))

struct hist {
	char *type, *code;
	int64_t n[NB + 1]; /* per bucket, the last one +Inf (not cumulative here) */
	int64_t count, sum_ms;
	struct hist *next;
};

struct latency {
	struct hist *head;
	int nhist;
};

#define MAX_SERIES 512 /* type x code pairs kept; past it they count as "other" */

struct latency *latency_new(void)
{
	return xcalloc(1, sizeof(struct latency));
}

void latency_free(struct latency *l)
{
	if (!l)
		return;
	for (struct hist *h = l->head, *next; h; h = next) {
		next = h->next;
		free(h->type);
		free(h->code);
		free(h);
	}
	free(l);
}

static struct hist *series(struct latency *l, const char *type, const char *code)
{
	for (struct hist *h = l->head; h; h = h->next)
		if (!strcmp(h->type, type) && !strcmp(h->code, code))
			return h;
	if (l->nhist >= MAX_SERIES && strcmp(type, "other"))
		return series(l, "other", "other");
	struct hist *h = xcalloc(1, sizeof(*h));
	h->type = xstrdup(type);
	h->code = xstrdup(code);
	h->next = l->head;
	l->head = h;
	l->nhist++;
	return h;
}

void latency_observe(struct latency *l, const char *type, const char *code, int64_t ms)
{
	struct hist *h = series(l, type ? type : "", code ? code : "");
	size_t b = 0;
	if (ms < 0)
		ms = 0;
	while (b < NB && ms > bounds[b])
		b++;
	h->n[b]++;
	h->count++;
	h->sum_ms += ms;
}

void latency_print(const struct latency *l, FILE *f, const char *name)
{
	fprintf(f,
		"# HELP %s Jobs from submission to result, by type and result code.\n"
		"# TYPE %s histogram\n",
		name, name);
	for (const struct hist *h = l->head; h; h = h->next) {
		int64_t cum = 0;
		for (size_t b = 0; b <= NB; b++) {
			cum += h->n[b];
			if (b < NB)
				fprintf(f, "%s_bucket{type=\"%s\",code=\"%s\",le=\"%g\"} %lld\n",
					name, h->type, h->code, (double)bounds[b] / 1000.0,
					(long long)cum);
			else
				fprintf(f, "%s_bucket{type=\"%s\",code=\"%s\",le=\"+Inf\"} %lld\n",
					name, h->type, h->code, (long long)cum);
		}
		fprintf(f, "%s_sum{type=\"%s\",code=\"%s\"} %.3f\n", name, h->type, h->code,
			(double)h->sum_ms / 1000.0);
		fprintf(f, "%s_count{type=\"%s\",code=\"%s\"} %lld\n", name, h->type, h->code,
			(long long)h->count);
	}
}
