/*
 * listen - the gateway's HTTP side on gateway.listen (engine/http.c):
 *
 *   GET|POST /dlr?id=ID&type=N[&answer=TEXT]   a delivery report (Kannel's dlr-url)
 *   GET /metrics                               Prometheus text
 *   GET /health                                {"status":"ok",...}
 *
 * Reports are written into the message's file in sent/ (the "dlr" field and
 * a history line) by a worker thread, one batch at a time and in arrival
 * order, so two reports for one message never race.  A report for a message
 * still in active/ (its acceptance not yet recorded) waits for the record.
 */
#include "gw.h"
#include "http.h"
#include "log.h"
#include "report.h"
#include "secret.h"
#include "sms.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DLR_MAX_WAITS 50 /* record batches or scans a report waits for its message */

struct gw_dlr {
	struct http_req *req;
	char id[ID_LEN + 1];
	int type;
	char answer[160];
	int rc;	   /* out: 0 recorded, -EAGAIN still active, -ENOENT, ... */
	int waits; /* times it waited for the message to leave active/ */
	int max;   /* reports a message takes (gateway.sms.dlr_max_per_message) */
	char account[ID_LEN + 1], to[64]; /* out: the message's, for the engine */
	char state[16];
	struct gw_dlr *next;
};

struct dlr_job {
	uv_work_t work;
	struct gw *g;
	struct gw_dlr *list;
};

struct metrics_job {
	uv_work_t work;
	struct gw *g;
	struct http_req *req;
	struct spool_stats st;
	int rc;
};

/* gw_dlr_sig - "kid.MAC" for message id: its report URL's proof that the
 * gateway handed it out (keyed BLAKE2b of the id, 128 bits shown) */
int gw_dlr_sig(const struct gw *g, const char *kid, const char *id, char *out, size_t n)
{
	char mac[CODEKEY_HASH_HEX + 1];
	if (!g->keys ||
	    codekey_hash(g->keys, kid ? kid : codekey_current(g->keys), "", id, mac) < 0)
		return -ENOKEY;
	snprintf(out, n, "%s.%.32s", kid ? kid : codekey_current(g->keys), mac);
	return 0;
}

/* dlr_sig_ok - the sig= of a report is the one its id was given */
static int dlr_sig_ok(const struct gw *g, const char *id, const char *sig)
{
	char kid[CODEKEY_ID_MAX], want[CODEKEY_ID_MAX + 40];
	const char *dot = sig ? strchr(sig, '.') : NULL;
	if (!dot || dot == sig || (size_t)(dot - sig) >= sizeof(kid))
		return 0;
	snprintf(kid, sizeof(kid), "%.*s", (int)(dot - sig), sig);
	return gw_dlr_sig(g, kid, id, want, sizeof(want)) == 0 && secret_equal(want, sig);
}

/* dlr_status - Kannel's report type as a word; final ones are not overwritten */
static const char *dlr_status(int type, int *final, int *idx)
{
	*final = 0;
	switch (type) {
	case 1:
		*final = 1, *idx = 0;
		return "delivered";
	case 2:
		*final = 1, *idx = 1;
		return "failed";
	case 4:
		*idx = 2;
		return "buffered";
	case 8:
		*idx = 3;
		return "accepted"; /* by the SMSC */
	case 16:
		*final = 1, *idx = 4;
		return "rejected"; /* by the SMSC */
	default:
		*idx = 5;
		return "unknown";
	}
}

static int dlr_is_final(const char *s)
{
	return s && (!strcmp(s, "delivered") || !strcmp(s, "failed") || !strcmp(s, "rejected"));
}

/* dlr_count - the reports recorded in m's history */
static int dlr_count(const struct spool_msg *m)
{
	int n = 0;
	for (const char *h = m->history; h && (h = strstr(h, " dlr ")); h += 5)
		n++;
	return n;
}

/* dlr_apply - worker: record one report in the message's file */
static void dlr_apply(const char *dir, struct gw_dlr *d)
{
	struct spool_msg m;
	enum spool_state st;
	char err[256];
	int final, idx;
	const char *status = dlr_status(d->type, &final, &idx);

	d->rc = spool_find(dir, d->id, &st);
	if (d->rc < 0)
		return;
	snprintf(d->state, sizeof(d->state), "%s", spool_state_name(st));
	if (st == SPOOL_ACTIVE) {
		d->rc = -EAGAIN;
		return;
	}
	/* only sent/ and failed/ are left alone by the gateway and the tools */
	if (st != SPOOL_SENT && st != SPOOL_FAILED) {
		d->rc = -EBUSY;
		return;
	}
	d->rc = spool_load(dir, st, d->id, &m, err, sizeof(err));
	if (d->rc < 0)
		return;
	if (strcmp(m.channel, "sms") != 0) {
		d->rc = -EPROTO; /* an e-mail has no delivery reports */
	} else if (dlr_is_final(m.dlr)) {
		d->rc = -EALREADY; /* the outcome is known: nothing rewrites it */
	} else if (dlr_count(&m) >= d->max) {
		d->rc = -EMLINK;
	}
	if (d->rc < 0) {
		spool_msg_free(&m);
		return;
	}
	free(m.dlr);
	m.dlr = xstrdup(status);
	snprintf(d->account, sizeof(d->account), "%s", m.account ? m.account : "");
	snprintf(d->to, sizeof(d->to), "%s", m.to ? m.to : "");
	spool_history_add(&m, now_ms(), "dlr %d %s%s%s", d->type, status, d->answer[0] ? ": " : "",
			  d->answer);
	d->rc = spool_write(dir, st, &m);
	spool_msg_free(&m);
}

static void dlr_work_cb(uv_work_t *w)
{
	struct dlr_job *j = (struct dlr_job *)w;

	for (struct gw_dlr *d = j->list; d; d = d->next)
		dlr_apply(j->g->c.spool_dir, d);
}

static void dlr_reply(struct gw_dlr *d, int status, const char *text)
{
	if (d->req)
		http_respond(d->req, status, "text/plain; charset=utf-8", text, strlen(text));
	d->req = NULL;
}

static void dlr_kick(struct gw *g);

/* report_undelivered - an SMS that will not arrive, to the engine */
static void report_undelivered(struct gw *g, const struct gw_dlr *d, const char *word)
{
	struct spool_msg m = {.channel = "sms", .to = (char *)d->to, .account = (char *)d->account};
	char detail[200];
	snprintf(m.id, sizeof(m.id), "%s", d->id);
	snprintf(detail, sizeof(detail), "dlr %d %s%s%s", d->type, word, d->answer[0] ? ": " : "",
		 d->answer);
	report_add(g->report, &m, "undelivered", detail);
}

static void dlr_after_cb(uv_work_t *w, int status)
{
	struct dlr_job *j = (struct dlr_job *)w;
	struct gw *g = j->g;
	struct gw_dlr *d = j->list, *next;
	int final, idx;

	g->dlr_running = 0;
	for (; d; d = next) {
		next = d->next;
		const char *word = dlr_status(d->type, &final, &idx);
		if (d->rc == -EAGAIN && !g->stopping && d->waits < DLR_MAX_WAITS) {
			d->next = g->dlr_wait; /* order among waiting ones: see gw_dlr_retry */
			g->dlr_wait = d;
			continue;
		}
		if (d->rc == 0) {
			g->counts.dlr[idx]++;
			log_info("%s: sms dlr %d %s%s%s", d->id, d->type, word,
				 d->answer[0] ? ": " : "", d->answer);
			if (final && idx != 0) /* failed or rejected: the workflows may act */
				report_undelivered(g, d, word);
			dlr_reply(d, 200, "recorded\n");
		} else if (d->rc == -ENOENT) {
			log_warn("%s: sms dlr %d %s for a message not in the spool", d->id, d->type,
				 word);
			dlr_reply(d, 404, "no such message\n");
		} else if (d->rc == -EBUSY || d->rc == -EAGAIN) {
			log_warn("%s: sms dlr %d %s not recorded: the message is %s", d->id,
				 d->type, word, d->state);
			dlr_reply(d, d->rc == -EAGAIN ? 503 : 200, "not recorded\n");
		} else if (d->rc == -EPROTO || d->rc == -EALREADY || d->rc == -EMLINK) {
			static const char *const why[] = {"not an SMS",
							  "its outcome is recorded already",
							  "too many reports for it"};
			const char *reason = why[d->rc == -EPROTO ? 0 : d->rc == -EALREADY ? 1 : 2];
			log_warn("%s: sms dlr %d %s refused: %s", d->id, d->type, word, reason);
			char text[96];
			snprintf(text, sizeof(text), "refused: %s\n", reason);
			dlr_reply(d, d->rc == -EMLINK ? 429 : 409, text);
		} else {
			log_err("%s: sms dlr %d %s not recorded: %s", d->id, d->type, word,
				strerror(-d->rc));
			dlr_reply(d, 500, "not recorded\n");
		}
		free(d);
	}
	free(j);
	if (g->stopping)
		gw_dlr_retry(g);
	else
		dlr_kick(g);
	gw_maybe_done(g);
}

/* dlr_kick - start a worker on every queued report, if none runs */
static void dlr_kick(struct gw *g)
{
	struct dlr_job *j;

	if (g->dlr_running || !g->dlrq)
		return;
	j = xcalloc(1, sizeof(*j));
	j->g = g;
	j->list = g->dlrq;
	g->dlrq = NULL;
	g->dlr_running = 1;
	if (uv_queue_work(g->loop, &j->work, dlr_work_cb, dlr_after_cb) < 0)
		fatal("uv_queue_work failed");
}

/* dlr_enqueue - append d to the queue (arrival order is kept) */
static void dlr_enqueue(struct gw *g, struct gw_dlr *d)
{
	struct gw_dlr **pp = &g->dlrq;

	while (*pp)
		pp = &(*pp)->next;
	d->next = NULL;
	*pp = d;
}

void gw_dlr_retry(struct gw *g)
{
	struct gw_dlr *d = g->dlr_wait, *rev = NULL, *next;

	g->dlr_wait = NULL;
	for (; d; d = next) { /* the list was built newest first */
		next = d->next;
		d->next = rev;
		rev = d;
	}
	for (d = rev; d; d = next) {
		next = d->next;
		if (g->stopping) {
			dlr_reply(d, 503, "stopping\n");
			free(d);
			continue;
		}
		d->waits++;
		dlr_enqueue(g, d);
	}
	if (g->stopping) {
		while ((d = g->dlrq)) {
			g->dlrq = d->next;
			dlr_reply(d, 503, "stopping\n");
			free(d);
		}
		return;
	}
	dlr_kick(g);
}

static void handle_dlr(struct gw *g, struct http_req *req)
{
	char id[32], type[16], answer[400], sig[64];
	struct gw_dlr *d;
	char *end;
	long t;

	if (!http_req_query_param(req, "id", id, sizeof(id)) || !id_valid(id) ||
	    !http_req_query_param(req, "type", type, sizeof(type))) {
		http_respond(req, 400, "text/plain", "need id=ID&type=N\n", 18);
		return;
	}
	/* only the URL this gateway handed out for this very message */
	if (!dlr_sig_ok(g, id, http_req_query_param(req, "sig", sig, sizeof(sig)))) {
		log_warn("%s: sms dlr refused: no or a wrong signature", id);
		http_respond(req, 403, "text/plain", "refused: not this message's report URL\n",
			     40);
		return;
	}
	int64_t now = now_ms();
	if (now - g->dlr_window_ms >= 1000) {
		g->dlr_window_ms = now;
		g->dlr_in_window = 0;
	}
	if (++g->dlr_in_window > g->c.dlr_rate) {
		http_respond_header(req, "Retry-After", "1");
		http_respond(req, 429, "text/plain", "too many reports: retry\n", 24);
		return;
	}
	t = strtol(type, &end, 10);
	if (end == type || *end || t < 0 || t > 1024) {
		http_respond(req, 400, "text/plain", "bad type\n", 9);
		return;
	}
	d = xcalloc(1, sizeof(*d));
	d->req = req;
	d->type = (int)t;
	d->max = g->c.dlr_max_per_msg;
	memcpy(d->id, id, ID_LEN + 1); /* id_valid: exactly ID_LEN characters */
	/* the SMSC's own words, cut short (whole characters are not needed: history cleans) */
	if (http_req_query_param(req, "answer", answer, sizeof(answer))) {
		answer[sizeof(d->answer) - 1] = 0;
		memcpy(d->answer, answer, strlen(answer) + 1);
	}
	dlr_enqueue(g, d);
	dlr_kick(g);
}

/* ---- metrics ---- */

static void metrics_work_cb(uv_work_t *w)
{
	struct metrics_job *j = (struct metrics_job *)w;
	j->rc = spool_stats(j->g->c.spool_dir, &j->st);
}

/* metrics_fallback - the second SMS gateway's figures, when there is one */
static void metrics_fallback(const struct gw *g, FILE *f)
{
	if (!g->sms || !*g->c.sms_fallback_url)
		return;
	struct sms_counts k = sms_counts(g->sms);
	fprintf(f,
		"# HELP regflow_sms_fallback_active 1 while SMS go to "
		"gateway.sms.fallback_url.\n"
		"# TYPE regflow_sms_fallback_active gauge\n"
		"regflow_sms_fallback_active %d\n"
		"# HELP regflow_sms_fallback_requests_total SMS requests sent to the "
		"fallback.\n"
		"# TYPE regflow_sms_fallback_requests_total counter\n"
		"regflow_sms_fallback_requests_total %llu\n"
		"# HELP regflow_sms_fallback_switches_total Times the primary was given "
		"up.\n"
		"# TYPE regflow_sms_fallback_switches_total counter\n"
		"regflow_sms_fallback_switches_total %llu\n",
		k.on_fallback, (unsigned long long)k.fallback_requests,
		(unsigned long long)k.fallback_switches);
}

static void metrics_after_cb(uv_work_t *w, int status)
{
	struct metrics_job *j = (struct metrics_job *)w;
	const struct gw *g = j->g;
	static const char *const chans[SPOOL_NCHANNEL] = {"email", "sms", "check"};
	static const char *const outs[4] = {"sent", "deferred", "failed", "answered"};
	static const char *const dlrs[6] = {"delivered", "failed",   "buffered",
					    "accepted",	 "rejected", "unknown"};
	int64_t now = now_ms();
	char *text = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&text, &n);

	if (!f)
		fatal("out of memory");
	if (j->rc < 0) {
		fclose(f);
		free(text);
		http_respond(j->req, 500, "text/plain", "cannot read the spool\n", 22);
		free(j);
		return;
	}
	fprintf(f, "# HELP regflow_spool_messages Messages in the spool by state and channel.\n"
		   "# TYPE regflow_spool_messages gauge\n");
	for (int st = 0; st < SPOOL_NSTATE; st++)
		for (int ch = 0; ch < SPOOL_NCHANNEL; ch++)
			if (st != SPOOL_CORRUPT)
				fprintf(f,
					"regflow_spool_messages{state=\"%s\",channel=\"%s\"} %ld\n",
					spool_state_name((enum spool_state)st), chans[ch],
					j->st.count[st][ch]);
	fprintf(f, "# HELP regflow_spool_unreadable Files that do not parse, by state.\n"
		   "# TYPE regflow_spool_unreadable gauge\n");
	for (int st = 0; st < SPOOL_NSTATE; st++)
		fprintf(f, "regflow_spool_unreadable{state=\"%s\"} %ld\n",
			spool_state_name((enum spool_state)st), j->st.unreadable[st]);
	fprintf(f, "# HELP regflow_spool_oldest_age_seconds Age of the oldest message by state.\n"
		   "# TYPE regflow_spool_oldest_age_seconds gauge\n");
	for (int st = 0; st < SPOOL_NSTATE; st++)
		if (j->st.oldest_ms[st])
			fprintf(f, "regflow_spool_oldest_age_seconds{state=\"%s\"} %.3f\n",
				spool_state_name((enum spool_state)st),
				(double)(now - j->st.oldest_ms[st]) / 1000.0);
	fprintf(f,
		"# HELP regflow_sms_dlr_messages Sent SMS by their last delivery report.\n"
		"# TYPE regflow_sms_dlr_messages gauge\n"
		"regflow_sms_dlr_messages{dlr=\"delivered\"} %ld\n"
		"regflow_sms_dlr_messages{dlr=\"failed\"} %ld\n",
		j->st.dlr_delivered, j->st.dlr_failed);
	fprintf(f, "# HELP regflow_gateway_outcomes_total Delivery outcomes since start.\n"
		   "# TYPE regflow_gateway_outcomes_total counter\n");
	for (int ch = 0; ch < SPOOL_NCHANNEL; ch++)
		for (int o = ch == 2; o < (ch == 2 ? 4 : 3);
		     o++) /* a check is answered, not sent */
			fprintf(f,
				"regflow_gateway_outcomes_total{channel=\"%s\",outcome=\"%s\"} "
				"%ld\n",
				chans[ch], outs[o], g->counts.outcome[ch][o]);
	fprintf(f, "# HELP regflow_gateway_dlr_total Delivery reports recorded since start.\n"
		   "# TYPE regflow_gateway_dlr_total counter\n");
	for (int i = 0; i < 6; i++)
		fprintf(f, "regflow_gateway_dlr_total{status=\"%s\"} %ld\n", dlrs[i],
			g->counts.dlr[i]);
	fprintf(f,
		"# HELP regflow_gateway_inflight Work in progress.\n"
		"# TYPE regflow_gateway_inflight gauge\n"
		"regflow_gateway_inflight{kind=\"smtp_sessions\"} %d\n"
		"regflow_gateway_inflight{kind=\"sms_requests\"} %d\n"
		"# HELP regflow_gateway_relay_paused 1 while the SMTP relay is backed off.\n"
		"# TYPE regflow_gateway_relay_paused gauge\n"
		"regflow_gateway_relay_paused %d\n",
		g->inflight, g->sms ? sms_inflight(g->sms) : 0, g->relay_until > now);
	metrics_fallback(g, f);
	if (fclose(f) != 0)
		fatal("out of memory");
	http_respond(j->req, 200, "text/plain; version=0.0.4; charset=utf-8", text, n);
	free(text);
	free(j);
}

static void handle_health(struct gw *g, struct http_req *req)
{
	json_t *o =
		json_pack("{s:s, s:i, s:i, s:s, s:s}", "status", "ok", "smtp_sessions", g->inflight,
			  "sms_requests", g->sms ? sms_inflight(g->sms) : 0, "relay",
			  !*g->c.relay		      ? "sink"
			  : g->relay_until > now_ms() ? "paused"
						      : "ok",
			  "sms",
			  !g->sms			   ? "sink"
			  : sms_counts(g->sms).on_fallback ? "fallback"
							   : "http");
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	if (!s)
		fatal("out of memory");
	http_respond(req, 200, "application/json", s, strlen(s));
	free(s);
}

static void handle(struct http_req *req, void *data)
{
	struct gw *g = data;
	int get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");

	if (g->stopping) {
		http_respond(req, 503, "text/plain", "stopping\n", 9);
	} else if (!strcmp(req->path, "/dlr") && (get || !strcmp(req->method, "POST"))) {
		handle_dlr(g, req);
	} else if (!strcmp(req->path, "/metrics") && get) {
		struct metrics_job *j = xcalloc(1, sizeof(*j));
		j->g = g;
		j->req = req;
		if (uv_queue_work(g->loop, &j->work, metrics_work_cb, metrics_after_cb) < 0)
			fatal("uv_queue_work failed");
	} else if ((!strcmp(req->path, "/health") || !strcmp(req->path, "/v1/health")) && get) {
		handle_health(g, req);
	} else if (!strcmp(req->path, "/dlr") || !strcmp(req->path, "/metrics") ||
		   !strcmp(req->path, "/health")) {
		http_respond(req, 405, "text/plain", "method not allowed\n", 19);
	} else {
		http_respond(req, 404, "text/plain", "not found\n", 10);
	}
}

int gw_listen_start(struct gw *g)
{
	int rc = http_server_start(g->loop, g->c.listen, NULL, handle, g, &g->http);

	if (rc < 0) {
		log_err("gateway.listen %s: %s", g->c.listen, uv_strerror(rc));
		return rc;
	}
	log_info("listening on %s (delivery reports, /metrics, /health), port %d", g->c.listen,
		 http_server_port(g->http));
	return 0;
}

char *gw_dlr_base(struct gw *g)
{
	char host[256];
	const char *colon;

	if (*g->c.sms_dlr_url)
		return xstrdup(g->c.sms_dlr_url);
	if (!g->http)
		return xstrdup("");
	colon = strrchr(g->c.listen, ':');
	snprintf(host, sizeof(host), "%.*s", (int)(colon - g->c.listen), g->c.listen);
	/* a wildcard address is not somewhere to call back: use loopback */
	if (!*host || !strcmp(host, "0.0.0.0") || !strcmp(host, "*"))
		snprintf(host, sizeof(host), "127.0.0.1");
	else if (!strcmp(host, "[::]"))
		snprintf(host, sizeof(host), "[::1]");
	return xasprintf("http://%s:%d/dlr?id={{id}}&type=%%d&answer=%%A", host,
			 http_server_port(g->http));
}
