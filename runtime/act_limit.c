/*
 * act_limit - rate limits and blacklists written as data: fixed-window
 * counters per rendered key, each rule "max per period" refusing with
 * RATE_LIMITED; every request, refused or not, counts toward the
 * blacklist rule, and crossing it blacklists the key for a while.  The
 * counters are kept whatever the rest of the transition does.
 */
#include "util.h"
#include "wf_acts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t jint(const json_t *o, const char *name)
{
	return (int64_t)json_integer_value(json_object_get(o, name));
}

/* window_read - rule i's fixed window in a limit record ("start:count"),
 * started afresh when its period has passed */
static void window_read(const json_t *r, size_t i, int64_t per, int64_t now, long long *start,
			long long *n)
{
	char col[32];
	snprintf(col, sizeof(col), "w%zu", i);
	const char *w = rec_str(r, col);
	*start = 0;
	*n = 0;
	if (w && sscanf(w, "%lld:%lld", start, n) != 2)
		*start = *n = 0;
	if (now - *start >= per) {
		*start = now;
		*n = 0;
	}
}

/* blacklist_count - count this request toward the blacklist window: 1 if
 * it crosses the line (the key is then blacklisted) */
static int blacklist_count(struct wf_ctx *c, json_t *r, const json_t *bl)
{
	int64_t start = rec_int(r, "bl_start", 0), n = rec_int(r, "bl_count", 0);
	if (c->now - start >= jint(bl, "per")) {
		start = c->now;
		n = 0;
	}
	n++;
	rec_set_int(r, "bl_start", start);
	rec_set_int(r, "bl_count", n);
	if (n <= jint(bl, "max"))
		return 0;
	rec_set_int(r, "blacklisted_until", c->now + jint(bl, "for"));
	return 1;
}

/* rules_check - RATE_LIMITED if a window is full, else count this request in each */
static int rules_check(struct wf_ctx *c, json_t *r, const json_t *rules)
{
	json_t *rule;
	size_t i;
	long long start, n;
	json_array_foreach(rules, i, rule) {
		window_read(r, i, jint(rule, "per"), c->now, &start, &n);
		if (n >= jint(rule, "max"))
			return wf_ctx_fail(c, "RATE_LIMITED");
	}
	json_array_foreach(rules, i, rule) {
		char col[32], buf[64];
		window_read(r, i, jint(rule, "per"), c->now, &start, &n);
		snprintf(col, sizeof(col), "w%zu", i);
		snprintf(buf, sizeof(buf), "%lld:%lld", start, n + 1);
		rec_set(r, col, buf);
	}
	return 0;
}

/* keep_for - the longest window or blacklist still running: a key nobody
 * uses any more is purged after it and the retention period */
static int64_t keep_for(struct wf_ctx *c, const json_t *r, const json_t *rules, const json_t *bl)
{
	int64_t keep = 0;
	json_t *rule;
	size_t i;
	json_array_foreach(rules, i, rule)
		if (jint(rule, "per") > keep)
			keep = jint(rule, "per");
	if (bl && jint(bl, "per") > keep)
		keep = jint(bl, "per");
	if (rec_int(r, "blacklisted_until", 0) - c->now > keep)
		keep = rec_int(r, "blacklisted_until", 0) - c->now;
	return keep;
}

int act_limit(struct wf_ctx *c, const struct wf_action *a)
{
	char *k = wf_render(c->vars, wf_p_str(a, "key"));
	char key[REC_KEY_MAX];
	json_t *rules = json_object_get(a->p, "rules");
	json_t *bl = json_object_get(a->p, "blacklist");
	int rc = 0;

	rec_key(REC_LIMIT, k, key);
	free(k);
	json_t *r = wf_ctx_copy(c, key);
	if (!r)
		r = json_object();
	/* a blacklisted key, or this request crosses the blacklist's line */
	if (c->now < rec_int(r, "blacklisted_until", 0) || (bl && blacklist_count(c, r, bl)))
		rc = wf_ctx_fail(c, "BLACKLISTED");
	else
		rc = rules_check(c, r, rules);
	rec_set_int(r, "purge", c->now + keep_for(c, r, rules, bl) + c->ws->retention_ms);
	wf_ctx_put(c, key, r, 1);
	json_decref(r);
	/* over = "mark": not a failure; {{limited}} says so to later actions */
	if (rc == WF_ACT_FAILED && wf_p_str(a, "over") && !strcmp(wf_p_str(a, "over"), "mark")) {
		c->failed = 0;
		c->code = NULL;
		json_object_set_new(c->vars, "limited", json_string("1"));
		return 0;
	}
	return rc;
}
