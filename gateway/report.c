/*
 * report - outcomes to the engine (see report.h).  Workers add under a
 * mutex; a timer on the loop takes a batch and POSTs it on libuv's pool
 * with a blocking libcurl handle; a batch that fails goes back.  The
 * answers of checks are not queued: the worker reads them from answered/
 * at each POST and removes their files once the engine has taken them.
 */
#include "report.h"
#include "gw.h"
#include "log.h"
#include "tokens.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REPORT_MAX 20000    /* outcomes waiting at most */
#define REPORT_BATCH 500    /* outcomes a POST */
#define REPORT_EVERY_MS 500 /* how often the timer looks */

struct report {
	uv_loop_t *loop;
	uv_timer_t timer;
	uv_work_t work;
	pthread_mutex_t mu;
	json_t *queue;	 /* outcomes waiting */
	json_t *sending; /* the batch on the pool */
	int busy, closing, closed, ok;
	long dropped;
	long status;	  /* the last POST's HTTP status (0: no answer) */
	int fails;	  /* POSTs refused or unanswered in a row */
	uint64_t next_ms; /* then the next one waits until this loop time */
	json_t *answers;  /* the answered checks of this POST (their files go once taken) */
	char url[512], auth[700], ca[512], spool[512];
};

int report_open(uv_loop_t *loop, const struct gw_conf *c, struct report **out)
{
	char name[128], tok[600];
	*out = NULL;
	if (!*c->engine_url)
		return 0;
	int rc = tokens_lookup(c->tokens_file, c->engine_front, name, tok, sizeof(tok));
	if (rc < 0) {
		log_err("gateway.engine: no token for \"%s\" in %s (%s)", c->engine_front,
			c->tokens_file, strerror(-rc));
		return rc;
	}
	struct report *r = xcalloc(1, sizeof(*r));
	r->loop = loop;
	r->queue = json_array();
	pthread_mutex_init(&r->mu, NULL);
	snprintf(r->url, sizeof(r->url), "%s/v1/outcomes", c->engine_url);
	snprintf(r->auth, sizeof(r->auth), "Authorization: Bearer %s", tok);
	snprintf(r->ca, sizeof(r->ca), "%s", c->engine_ca);
	snprintf(r->spool, sizeof(r->spool), "%s", c->spool_dir);
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	*out = r;
	return 0;
}

void report_add(struct report *r, const struct spool_msg *m, const char *state, const char *detail)
{
	if (!r || !m->account || !*m->account)
		return;
	json_t *o =
		json_pack("{s:s, s:s, s:s}", "id", m->id, "account", m->account, "state", state);
	if (detail && *detail) { /* a relay's or an SMSC's words: cut at a character */
		char *clip = utf8_clip(detail, 300);
		json_object_set_new(o, "detail", json_string(clip));
		free(clip);
	}
	if (m->channel)
		json_object_set_new(o, "channel", json_string(m->channel));
	if (m->to)
		json_object_set_new(o, "to", json_string(m->to));
	pthread_mutex_lock(&r->mu);
	if (json_array_size(r->queue) >= REPORT_MAX) {
		json_array_remove(r->queue, 0);
		r->dropped++;
	}
	json_array_append_new(r->queue, o);
	pthread_mutex_unlock(&r->mu);
}

static size_t discard(char *p, size_t sz, size_t n, void *arg)
{
	return sz * n;
}

/* answer_of - the outcome that tells the engine a check's answer */
static json_t *answer_of(const struct spool_msg *m)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", m->id, "account", m->account,
			      "state", "answered", "channel", m->channel, "to", m->to, "answer",
			      m->answer);
	if (m->last_error && *m->last_error) {
		char *clip = utf8_clip(m->last_error, 300);
		json_object_set_new(o, "detail", json_string(clip));
		free(clip);
	}
	return o;
}

/* read_answers - the answered checks waiting in answered/ (worker thread) */
static json_t *read_answers(const char *dir)
{
	json_t *out = json_array();
	char **names, err[256];
	size_t n;
	if (spool_list(dir, SPOOL_ANSWERED, &names, &n) < 0)
		return out;
	for (size_t i = 0; i < n && json_array_size(out) < REPORT_BATCH; i++) {
		struct spool_msg m;
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/active/%s", dir, names[i]);
		if (access(p, F_OK) == 0)
			continue; /* being recorded: told once its copy in active/ is gone */
		int rc = spool_load(dir, SPOOL_ANSWERED, names[i], &m, err, sizeof(err));
		if (rc < 0 && rc != -EBADMSG && rc != -EFBIG)
			continue; /* ENOENT, or a passing error (EMFILE, EIO): the next POST */
		if (rc < 0 || !m.answer || !m.account) {
			spool_quarantine(dir, SPOOL_ANSWERED, names[i],
					 rc < 0 ? err
						: "an answered check without answer or account");
			if (rc == 0)
				spool_msg_free(&m);
			continue;
		}
		json_array_append_new(out, answer_of(&m));
		spool_msg_free(&m);
	}
	spool_list_free(names, n);
	return out;
}

/* forget_answers - the engine has taken them: their files go (they named
 * who was checked) */
static void forget_answers(const char *dir, json_t *answers)
{
	size_t i;
	json_t *o;
	char p[PATH_MAX];
	json_array_foreach(answers, i, o) {
		snprintf(p, sizeof(p), "%s/answered/%s", dir,
			 json_string_value(json_object_get(o, "id")));
		unlink(p);
	}
	if (json_array_size(answers)) {
		snprintf(p, sizeof(p), "%s/answered", dir);
		fsync_dir(p);
	}
}

static void post_work(uv_work_t *w)
{
	struct report *r = w->data;
	r->answers = read_answers(r->spool);
	if (!json_array_size(r->sending) && !json_array_size(r->answers)) {
		r->ok = 1;
		return;
	}
	json_t *all = json_copy(r->sending);
	json_array_extend(all, r->answers);
	json_t *o = json_pack("{s:o}", "outcomes", all);
	char *body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	struct curl_slist *h = curl_slist_append(NULL, r->auth);
	h = curl_slist_append(h, "Content-Type: application/json");
	CURL *c = curl_easy_init();
	long status = 0;
	curl_easy_setopt(c, CURLOPT_URL, r->url);
	if (*r->ca)
		curl_easy_setopt(c, CURLOPT_CAINFO, r->ca);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	r->ok = curl_easy_perform(c) == CURLE_OK &&
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200;
	r->status = status;
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	free(body);
	if (r->ok)
		forget_answers(r->spool, r->answers);
}

static void maybe_free(struct report *r)
{
	if (!r->closed || r->busy)
		return;
	json_decref(r->queue);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* backoff - a refused or unanswered POST: the next waits, doubling to a
 * minute, and the operator is told (at the first and every doubling) */
static void backoff(struct report *r)
{
	if (r->ok) {
		if (r->fails)
			log_info("gateway.engine: %s takes the outcomes again", r->url);
		r->fails = 0;
		return;
	}
	r->fails++;
	uint64_t wait = (uint64_t)REPORT_EVERY_MS << (r->fails < 7 ? r->fails : 7);
	if (wait > 60000)
		wait = 60000;
	r->next_ms = uv_now(r->loop) + wait;
	if ((r->fails & (r->fails - 1)) == 0) {
		char what[32] = "no answer";
		if (r->status)
			snprintf(what, sizeof(what), "HTTP %ld", r->status);
		log_warn("gateway.engine: %s: %s (%d time(s) in a row): outcomes and answers wait, "
			 "next try in %llu ms",
			 r->url, what, r->fails, (unsigned long long)wait);
	}
}

static void post_done(uv_work_t *w, int status)
{
	struct report *r = w->data;
	r->busy = 0;
	json_decref(r->answers);
	r->answers = NULL;
	backoff(r);
	if (!r->ok && !r->closing) { /* back in front, for the next try */
		pthread_mutex_lock(&r->mu);
		json_array_extend(r->sending, r->queue);
		json_decref(r->queue);
		r->queue = r->sending;
		r->sending = NULL;
		pthread_mutex_unlock(&r->mu);
	}
	json_decref(r->sending);
	r->sending = NULL;
	maybe_free(r);
}

static void tick(uv_timer_t *t)
{
	struct report *r = t->data;
	if (r->busy || r->closing || uv_now(r->loop) < r->next_ms)
		return;
	pthread_mutex_lock(&r->mu);
	size_t n = json_array_size(r->queue);
	r->sending = json_array(); /* empty too: the worker looks for answers */
	if (n) {
		for (size_t i = 0; i < n && i < REPORT_BATCH; i++)
			json_array_append(r->sending, json_array_get(r->queue, i));
		for (size_t i = 0; i < n && i < REPORT_BATCH; i++)
			json_array_remove(r->queue, 0);
	}
	long dropped = r->dropped;
	r->dropped = 0;
	pthread_mutex_unlock(&r->mu);
	if (dropped)
		log_warn("gateway.engine: %ld outcome report(s) dropped (the engine did not take "
			 "them)",
			 dropped);
	r->busy = 1;
	r->work.data = r;
	uv_queue_work(r->loop, &r->work, post_work, post_done);
}

void report_start(struct report *r)
{
	if (r)
		uv_timer_start(&r->timer, tick, REPORT_EVERY_MS, REPORT_EVERY_MS);
}

static void closed_cb(uv_handle_t *h)
{
	struct report *r = h->data;
	r->closed = 1;
	maybe_free(r);
}

void report_close(struct report *r)
{
	if (!r || r->closing)
		return;
	r->closing = 1;
	uv_close((uv_handle_t *)&r->timer, closed_cb);
}
