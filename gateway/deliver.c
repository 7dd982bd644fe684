/*
 * deliver - the worker-thread half of the gateway: decide each message of
 * a batch (expired, relay, sink), run at most one SMTP session for the
 * batch's e-mail, then rewrite each file and move it to sent/, deferred/,
 * failed/ or (a check) answered/.  Touches only its batch; the loop thread logs the outcome.
 */
#include "gw.h"
#include "log.h"
#include "mime.h"
#include "relay.h"
#include "report.h"
#include "sink.h"
#include "verp.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int64_t gw_backoff(const struct gw_conf *c, int attempts)
{
	int64_t d = c->retry_min_ms > 0 ? c->retry_min_ms : 1000;

	for (int i = 1; i < attempts && d < c->retry_max_ms; i++)
		d *= 2;
	if (d > c->retry_max_ms)
		d = c->retry_max_ms;
	/* +-10% so that messages deferred together do not come back together */
	d = d * (90 + (int64_t)randombytes_uniform(21)) / 100;
	if (d > c->retry_max_ms)
		d = c->retry_max_ms;
	return d > 0 ? d : 1;
}

/* decide - set the outcome; tried: a delivery attempt was made (counts in attempts) */
static void decide(struct gw_item *it, enum gw_outcome o, int tried, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void decide(struct gw_item *it, enum gw_outcome o, int tried, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(it->why, sizeof(it->why), fmt, ap);
	va_end(ap);
	it->outcome = o;
	it->decided = 1;
	it->tried = tried;
}

/* sms_send - deliver one SMS; the file sink for now, libcurl (Kannel sendsms) next */
static void sms_send(const struct gw_conf *c, struct gw_item *it)
{
	char where[PATH_MAX];
	int rc;

	if (*c->sms_url) {
		decide(it, GW_DEFER, 0, "SMS over HTTP (gateway.sms.url) is not implemented yet");
		return;
	}
	rc = sink_sms(c->sink_dir, &it->m, where, sizeof(where));
	if (rc < 0)
		decide(it, GW_DEFER, 1, "sink %s: %s", where, strerror(-rc));
	else
		decide(it, GW_SENT, 1, "sink %s", where);
}

/* signed_mail - the message's text, DKIM-signed when a key signs its From
 * domain; NULL (why in err) if signing failed: it is not sent unsigned */
char *gw_verp(const struct gw_conf *c, const struct codekey_ring *keys, const char *id)
{
	const char *at = strrchr(c->from, '@');
	if (!c->verp)
		return NULL;
	return verp_make(keys, *c->bounce_domain ? c->bounce_domain : at ? at + 1 : NULL, id);
}

static char *signed_mail(const struct gw_batch *b, struct gw_item *it, int64_t now, size_t *len,
			 char *err, size_t n)
{
	size_t raw_len;
	char *raw = mime_build(&it->m, b->conf->from, now, &raw_len);
	if (!dkim_signer_count(b->dkim)) {
		*len = raw_len;
		return raw;
	}
	char *text = dkim_sign_text(b->dkim, b->conf->from, raw, raw_len, len, err, n);
	sodium_memzero(raw, raw_len); /* it held the secret */
	free(raw);
	return text;
}

/* email_to_sink - no relay configured: the message as an .eml file */
static void email_to_sink(const struct gw_batch *b, struct gw_item *it, int64_t now)
{
	const struct gw_conf *c = b->conf;
	char where[PATH_MAX], err[256];
	size_t len;
	char *text = signed_mail(b, it, now, &len, err, sizeof(err));
	if (!text) {
		decide(it, GW_DEFER, 1, "%s", err);
		return;
	}
	int rc = sink_eml(c->sink_dir, it->m.id, text, len, where, sizeof(where));

	sodium_memzero(text, len);
	free(text);
	if (rc < 0)
		decide(it, GW_DEFER, 1, "sink %s: %s", where, strerror(-rc));
	else
		decide(it, GW_SENT, 1, "sink %s", where);
}

/* relay_batch - one SMTP session for every undecided e-mail of the batch */
static void relay_batch(struct gw_batch *b, int64_t now)
{
	const struct gw_conf *c = b->conf;
	struct relay_item *ri = xcalloc(b->n, sizeof(*ri));
	size_t *idx = xcalloc(b->n, sizeof(*idx)), nri = 0;
	char **texts = xcalloc(b->n, sizeof(*texts));
	size_t *lens = xcalloc(b->n, sizeof(*lens));
	struct relay_conf rc = {.hostport = c->relay,
				.from = c->from,
				.helo = c->helo,
				.timeout_ms = c->timeout_ms,
				.starttls = c->smtp_starttls,
				.tls = b->tls,
				.username = c->smtp_username,
				.password = c->smtp_password};

	for (size_t i = 0; i < b->n; i++) {
		struct gw_item *it = &b->items[i];
		if (it->decided || strcmp(it->m.channel, "email") != 0)
			continue;
		char err[256];
		texts[nri] = signed_mail(b, it, now, &lens[nri], err, sizeof(err));
		if (!texts[nri]) {
			decide(it, GW_DEFER, 1, "%s", err);
			continue;
		}
		ri[nri].to = it->m.to;
		ri[nri].return_path = gw_verp(c, b->keys, it->m.id);
		ri[nri].text = texts[nri];
		idx[nri++] = i;
	}
	if (nri) {
		b->relay_used = 1;
		b->relay_down = relay_session(&rc, ri, nri) == -EHOSTDOWN;
		snprintf(b->relay_error, sizeof(b->relay_error), "%s", ri[0].reply);
	}
	for (size_t k = 0; k < nri; k++) {
		struct gw_item *it = &b->items[idx[k]];
		int code = ri[k].code;
		if (code >= 200 && code < 300)
			decide(it, GW_SENT, 1, "%s", ri[k].reply);
		else if (code >= 500)
			decide(it, GW_FAIL, 1, "%s", ri[k].reply);
		else
			decide(it, GW_DEFER, 1, "%s", ri[k].reply);
		sodium_memzero(texts[k], lens[k]);
		free(texts[k]);
		free((char *)ri[k].return_path);
	}
	free(ri);
	free(idx);
	free(texts);
	free(lens);
}

/* answered - a check with its answer ("error": the service refused it, or
 * it expired) for the engine; its fields (the id number) are no longer
 * needed and go */
static enum spool_state answered(struct gw_item *it, int64_t now)
{
	struct spool_msg *m = &it->m;
	free(m->answer);
	m->answer = xstrdup(it->outcome == GW_ANSWER ? it->answer : "error");
	sodium_memzero(m->body, strlen(m->body));
	m->body[0] = 0;
	m->delivered_ms = now;
	m->next_attempt_ms = 0;
	return SPOOL_ANSWERED;
}

/* outcome - the message as its outcome leaves it, and the state it goes to */
static enum spool_state outcome(struct gw_batch *b, struct gw_item *it, int64_t now)
{
	const struct gw_conf *c = b->conf;
	struct spool_msg *m = &it->m;

	if (it->tried)
		m->attempts++;
	spool_history_add(m, now, "%s%s: %s",
			  it->outcome == GW_SENT     ? "sent"
			  : it->outcome == GW_FAIL   ? "failed"
			  : it->outcome == GW_ANSWER ? "answered"
						     : "deferred",
			  it->tried ? "" : " (not tried)", it->why);
	spool_set_error(m, it->why);
	if (it->outcome == GW_ANSWER || (it->outcome == GW_FAIL && !strcmp(m->channel, "check")))
		return answered(it, now);
	if (it->outcome == GW_SENT) {
		spool_mask_secret(m);
		m->delivered_ms = now;
		free(m->reply); /* the sanitised text is kept as the reply */
		m->reply = m->last_error;
		m->last_error = NULL;
		m->next_attempt_ms = 0;
		return SPOOL_SENT;
	}
	if (it->outcome == GW_FAIL) {
		m->next_attempt_ms = 0;
		return SPOOL_FAILED;
	}
	if (it->tried)
		m->next_attempt_ms = now + gw_backoff(c, m->attempts);
	else if (!strcmp(m->channel, "check")) /* no registry here: not before a restart */
		m->next_attempt_ms = now + c->retry_max_ms;
	else /* the relay is backing off: come back when it is tried again */
		m->next_attempt_ms =
			b->relay_until + randombytes_uniform((uint32_t)(c->retry_min_ms / 2 + 1));
	/* never later than the message can still be sent: it then expires */
	if (m->expires_ms && m->next_attempt_ms > m->expires_ms)
		m->next_attempt_ms = m->expires_ms;
	if (c->lifetime_ms && m->next_attempt_ms > m->created_ms + c->lifetime_ms)
		m->next_attempt_ms = m->created_ms + c->lifetime_ms + 1;
	return SPOOL_DEFERRED;
}

/* unrecorded - an outcome the spool would not take (a full disk) */
static void unrecorded(const char *dir, const struct spool_msg *m, enum spool_state to, int rc)
{
	log_err("spool: %s: cannot record outcome in %s/: %s", m->id, spool_state_dir(to),
		strerror(-rc));
	if (to == SPOOL_SENT) {
		/* delivered: a second copy must not go out, nor an unmasked record stay */
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/active/%s", dir, m->id);
		unlink(p);
	} else if (to == SPOOL_ANSWERED) { /* the question stays, to be asked again */
		spool_move(dir, m->id, SPOOL_ACTIVE, SPOOL_DEFERRED, 0);
	} else {
		spool_move(dir, m->id, SPOOL_ACTIVE, to, 0);
	}
}

/* finish - every item's outcome written, synced once per state folder, and
 * its file out of active/ */
static void finish(struct gw_batch *b, int64_t now)
{
	struct spool_msg *ms = xcalloc(b->n + 1, sizeof(*ms));
	enum spool_state *to = xcalloc(b->n + 1, sizeof(*to));
	int *rcs = xcalloc(b->n + 1, sizeof(*rcs));
	for (size_t i = 0; i < b->n; i++) {
		to[i] = outcome(b, &b->items[i], now);
		ms[i] = b->items[i].m; /* a shallow copy: the item keeps its strings */
	}
	spool_record_batch(b->conf->spool_dir, ms, to, b->n, rcs);
	for (size_t i = 0; i < b->n; i++) {
		if (rcs[i] < 0)
			unrecorded(b->conf->spool_dir, &ms[i], to[i], rcs[i]);
		if (to[i] != SPOOL_ANSWERED) /* an answer is told from its file (report.c) */
			report_add(b->report, &ms[i], spool_state_name(to[i]), b->items[i].why);
	}
	free(ms);
	free(to);
	free(rcs);
}

void deliver_batch(struct gw_batch *b)
{
	const struct gw_conf *c = b->conf;
	int64_t now = now_ms();
	char dur[32];

	for (size_t i = 0; i < b->n; i++) {
		struct gw_item *it = &b->items[i];
		struct spool_msg *m = &it->m;

		if (it->decided) /* an SMS the HTTP client has sent or not */
			continue;
		if (m->expires_ms && now >= m->expires_ms) {
			decide(it, GW_FAIL, 0,
			       "expired: its expiry passed before it could be delivered");
		} else if (c->lifetime_ms && now - m->created_ms > c->lifetime_ms) {
			duration_format(c->lifetime_ms, dur, sizeof(dur));
			decide(it, GW_FAIL, 0,
			       "expired: not delivered within %s (gateway.retry.lifetime)", dur);
		} else if (strcmp(m->channel, "sms") == 0) {
			sms_send(c, it);
		} else if (strcmp(m->channel, "check") == 0) { /* no client took it */
			decide(it, GW_DEFER, 0,
			       "no %s service configured here (gateway.registry.url): it waits",
			       m->to);
		} else if (!mime_addr_valid(m->to)) {
			decide(it, GW_FAIL, 0, "bad recipient address");
		} else if (!*c->relay) {
			email_to_sink(b, it, now);
		} else if (b->relay_paused) {
			decide(it, GW_DEFER, 0, "not tried: relay paused after: %s",
			       b->relay_error[0] ? b->relay_error : "a failure");
		}
	}
	if (*c->relay)
		relay_batch(b, now);
	finish(b, now_ms());
}
