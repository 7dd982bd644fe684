/*
 * gw - the event-loop half of the gateway (see gw.h): watch incoming/,
 * claim messages into active/, form batches and hand them to worker
 * threads, keep the deferred index and its timer, back off a dead relay,
 * stop cleanly on SIGINT/SIGTERM.
 */
#include "gw.h"
#include "http.h"
#include "log.h"
#include "report.h"
#include "sms.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* a file younger than this that does not parse may still be being written */
#define GW_GRACE_MS 2000
#define GW_TMP_MAX_AGE_MS (24 * 3600 * 1000LL)

/* ---- pending: names seen in incoming/, claimed oldest first ---- */

static void pending_push(struct gw *g, const char *name)
{
	if (g->npending == g->cappending) {
		if (g->head > 0) { /* reuse the consumed front first */
			memmove(g->pending, g->pending + g->head,
				(g->npending - g->head) * sizeof(*g->pending));
			g->npending -= g->head;
			g->head = 0;
		}
		if (g->npending == g->cappending) {
			g->cappending = g->cappending ? g->cappending * 2 : 256;
			g->pending = xrealloc(g->pending, g->cappending * sizeof(*g->pending));
		}
	}
	g->pending[g->npending++] = xstrdup(name);
}

static void pending_clear(struct gw *g)
{
	for (size_t i = g->head; i < g->npending; i++)
		free(g->pending[i]);
	g->npending = g->head = 0;
}

/* pending_rescan - the incoming/ listing becomes the pending list */
static void pending_rescan(struct gw *g)
{
	char **names;
	size_t n;
	int rc = spool_list(g->c.spool_dir, SPOOL_QUEUED, &names, &n);

	if (rc < 0) {
		log_err("spool: cannot list incoming/: %s", strerror(-rc));
		return;
	}
	pending_clear(g);
	for (size_t i = 0; i < n; i++)
		pending_push(g, names[i]);
	spool_list_free(names, n);
}

/* ---- the deferred index, sorted by id ---- */

static size_t def_pos(const struct gw *g, const char *id, int *found)
{
	size_t lo = 0, hi = g->ndef;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(g->def[mid].id, id);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

static void def_set(struct gw *g, const char *id, int64_t due)
{
	int found;
	size_t i = def_pos(g, id, &found);

	if (!found) {
		if (g->ndef == g->capdef) {
			g->capdef = g->capdef ? g->capdef * 2 : 256;
			g->def = xrealloc(g->def, g->capdef * sizeof(*g->def));
		}
		memmove(g->def + i + 1, g->def + i, (g->ndef - i) * sizeof(*g->def));
		g->ndef++;
		snprintf(g->def[i].id, sizeof(g->def[i].id), "%s", id);
	}
	g->def[i].due = due;
}

/* def_rebuild - sync the index with deferred/, reading only files it lacks */
static void def_rebuild(struct gw *g)
{
	struct gw_deferred *old = g->def;
	size_t nold = g->ndef, j = 0;
	char **names, err[256];
	size_t n;

	if (spool_list(g->c.spool_dir, SPOOL_DEFERRED, &names, &n) < 0)
		return;
	g->def = NULL;
	g->ndef = g->capdef = 0;
	for (size_t i = 0; i < n; i++) {
		struct spool_msg m;
		int rc;
		while (j < nold && strcmp(old[j].id, names[i]) < 0)
			j++;
		if (j < nold && strcmp(old[j].id, names[i]) == 0) {
			def_set(g, names[i], old[j].due);
			continue;
		}
		if (!id_valid(names[i])) {
			spool_quarantine(g->c.spool_dir, SPOOL_DEFERRED, names[i],
					 "file name is not a spool id");
			continue;
		}
		rc = spool_load(g->c.spool_dir, SPOOL_DEFERRED, names[i], &m, err, sizeof(err));
		if (rc == -EBADMSG || rc == -EFBIG)
			spool_quarantine(g->c.spool_dir, SPOOL_DEFERRED, names[i], err);
		if (rc < 0)
			continue;
		def_set(g, names[i], m.next_attempt_ms);
		spool_msg_free(&m);
	}
	spool_list_free(names, n);
	free(old);
}

static void due_cb(uv_timer_t *t);

/* def_run - move due messages back to incoming/ and arm the timer for the next */
static void def_run(struct gw *g)
{
	int64_t now = now_ms(), next = INT64_MAX;
	size_t k = 0;

	for (size_t i = 0; i < g->ndef; i++) {
		struct gw_deferred *d = &g->def[i];
		if (d->due > now || g->stopping) {
			if (d->due < next)
				next = d->due;
			g->def[k++] = *d;
			continue;
		}
		int rc = spool_move(g->c.spool_dir, d->id, SPOOL_DEFERRED, SPOOL_QUEUED,
				    SPOOL_NOSYNC);
		if (rc == 0)
			pending_push(g, d->id);
		else if (rc != -ENOENT) /* ENOENT: an operator moved it */
			log_err("spool: cannot move deferred/%s back: %s", d->id, strerror(-rc));
	}
	g->ndef = k;
	if (g->stopping)
		return;
	if (next == INT64_MAX)
		uv_timer_stop(&g->due_timer);
	else
		uv_timer_start(&g->due_timer, due_cb, (uint64_t)(next > now ? next - now : 0), 0);
}

/* ---- claiming and batches ---- */

/* claim - load incoming/<name> and move it to active/; 1 if it is ours now */
static int claim(struct gw *g, const char *name, struct gw_item *it)
{
	const char *dir = g->c.spool_dir;
	char p[PATH_MAX], err[256];
	struct stat sb;
	int rc, young;

	snprintf(p, sizeof(p), "%s/incoming/%s", dir, name);
	if (stat(p, &sb) < 0)
		return 0; /* already taken, or one of our own moves */
	young = now_ms() - ((int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000) <
		GW_GRACE_MS;
	if (!S_ISREG(sb.st_mode) || !id_valid(name)) {
		if (!young)
			spool_quarantine(dir, SPOOL_QUEUED, name,
					 S_ISREG(sb.st_mode) ? "file name is not a spool id"
							     : "not a regular file");
		return 0;
	}
	memset(it, 0, sizeof(*it));
	rc = spool_load(dir, SPOOL_QUEUED, name, &it->m, err, sizeof(err));
	if (rc == -EBADMSG || rc == -EFBIG) {
		/* a young file may still be being copied in: the rescan looks again */
		if (!young)
			spool_quarantine(dir, SPOOL_QUEUED, name, err);
		return 0;
	}
	if (rc < 0) {
		if (rc != -ENOENT)
			log_err("spool: cannot read incoming/%s: %s", name, strerror(-rc));
		return 0;
	}
	rc = spool_move(dir, name, SPOOL_QUEUED, SPOOL_ACTIVE, SPOOL_NOSYNC);
	if (rc < 0) {
		if (rc != -ENOENT)
			log_err("spool: cannot move incoming/%s to active/: %s", name,
				strerror(-rc));
		spool_msg_free(&it->m);
		return 0;
	}
	return 1;
}

static void work_cb(uv_work_t *w)
{
	deliver_batch((struct gw_batch *)w);
}

static void gw_close_all(struct gw *g);
static void dispatch(struct gw *g);
static void after_work_cb(uv_work_t *w, int status);

static void log_outcome(const struct gw_item *it)
{
	const struct spool_msg *m = &it->m;
	char dur[32];

	switch (it->outcome) {
	case GW_SENT:
		log_info("%s: %s to=%s sent attempts=%d: %s", m->id, m->channel, m->to, m->attempts,
			 it->why);
		break;
	case GW_FAIL:
		log_warn("%s: %s to=%s failed attempts=%d: %s", m->id, m->channel, m->to,
			 m->attempts, it->why);
		break;
	case GW_DEFER:
		duration_format(m->next_attempt_ms - now_ms(), dur, sizeof(dur));
		log_info("%s: %s to=%s deferred attempts=%d next in %s: %s", m->id, m->channel,
			 m->to, m->attempts, dur, it->why);
		break;
	case GW_ANSWER:
		log_info("%s: %s to=%s answered attempts=%d: %s", m->id, m->channel, m->to,
			 m->attempts, it->why);
		break;
	}
}

/* ---- the in-memory queues of claimed messages (all of them in active/) ---- */

static void q_push(struct gw_item ***q, size_t *n, size_t *cap, struct gw_item *it)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*q = xrealloc(*q, *cap * sizeof(**q));
	}
	(*q)[(*n)++] = it;
}

/* q_take - the first k items of q as one array of values for a batch */
static struct gw_item *q_take(struct gw_item **q, size_t *n, size_t k)
{
	struct gw_item *items = xcalloc(k ? k : 1, sizeof(*items));

	for (size_t i = 0; i < k; i++) {
		items[i] = *q[i];
		free(q[i]);
	}
	memmove(q, q + k, (*n - k) * sizeof(*q));
	*n -= k;
	return items;
}

/* q_requeue - stopping: claimed but not started, back to incoming/ for the next run */
static void q_requeue(struct gw *g, struct gw_item **q, size_t *n)
{
	for (size_t i = 0; i < *n; i++) {
		spool_move(g->c.spool_dir, q[i]->m.id, SPOOL_ACTIVE, SPOOL_QUEUED, SPOOL_NOSYNC);
		spool_msg_free(&q[i]->m);
		free(q[i]);
	}
	*n = 0;
}

static void count_outcome(struct gw *g, const struct gw_item *it)
{
	int ch = spool_channel_index(it->m.channel);
	int o = it->outcome == GW_SENT	  ? 0
		: it->outcome == GW_DEFER ? 1
		: it->outcome == GW_FAIL  ? 2
					  : 3;
	g->counts.outcome[ch][o]++;
}

static void queue_batch(struct gw *g, struct gw_batch *b)
{
	b->gw = g;
	b->report = g->report;
	b->conf = &g->c;
	b->tls = g->smtp_tls;
	b->dkim = g->dkim;
	b->keys = g->keys;
	b->relay_until = g->relay_until;
	b->relay_paused = g->relay_until > now_ms();
	snprintf(b->relay_error, sizeof(b->relay_error), "%s", g->relay_error);
	int rc = uv_queue_work(g->loop, &b->work, work_cb, after_work_cb);
	if (rc < 0) /* cannot happen with a valid loop; the files stay in active/ */
		fatal("uv_queue_work: %s", uv_strerror(rc));
}

/* flush_record - hand the decided SMS to a worker, which rewrites and moves their files */
static void flush_record(struct gw *g)
{
	if (g->recording || g->ndoneq == 0)
		return;
	struct gw_batch *b = xcalloc(1, sizeof(*b));
	b->n = g->ndoneq;
	b->items = q_take(g->doneq, &g->ndoneq, b->n);
	b->record_only = 1;
	g->recording = 1;
	queue_batch(g, b);
}

static void after_work_cb(uv_work_t *w, int status)
{
	struct gw_batch *b = (struct gw_batch *)w;
	struct gw *g = b->gw;
	char dur[32];

	if (b->record_only)
		g->recording = 0;
	else
		g->inflight--;
	for (size_t i = 0; i < b->n; i++) {
		log_outcome(&b->items[i]);
		count_outcome(g, &b->items[i]);
		if (b->items[i].outcome == GW_DEFER)
			def_set(g, b->items[i].m.id, b->items[i].m.next_attempt_ms);
		spool_msg_free(&b->items[i].m);
	}
	if (b->relay_used && b->relay_down) {
		g->relay_failures++;
		int64_t d = gw_backoff(&g->c, g->relay_failures);
		g->relay_until = now_ms() + d;
		snprintf(g->relay_error, sizeof(g->relay_error), "%s", b->relay_error);
		duration_format(d, dur, sizeof(dur));
		log_warn("relay %s unavailable (%s): e-mail paused for %s", g->c.relay,
			 b->relay_error, dur);
	} else if (b->relay_used && g->relay_failures) {
		log_info("relay %s reachable again", g->c.relay);
		g->relay_failures = 0;
		g->relay_until = 0;
	}
	int record = b->record_only;
	free(b->items);
	free(b);
	flush_record(g);
	if (record)
		gw_dlr_retry(g);
	if (g->stopping) {
		gw_maybe_done(g);
		return;
	}
	def_run(g);
	dispatch(g);
}

/* sms_done_cb - an HTTP request ended: record it, and keep the client busy */
static void sms_done_cb(void *data, struct gw_item *it)
{
	struct gw *g = data;

	q_push(&g->doneq, &g->ndoneq, &g->capdoneq, it);
	flush_record(g);
	dispatch(g); /* no-op when called from inside dispatch */
}

/* dkim_open - the signing keys of gateway.dkim, read now */
static int dkim_open(struct gw *g)
{
	char err[512];
	if (dkim_signer_open(g->c.dkim_keys, g->c.ndkim, &g->dkim, err, sizeof(err)) < 0) {
		log_err("gateway.dkim: %s", err);
		return -EINVAL;
	}
	if (g->c.ndkim)
		log_info("DKIM: %d signing domain(s)", g->c.ndkim);
	return 0;
}

/* sign_dlr - the signature of a message's report URL */
static int sign_dlr(void *data, const char *id, char *out, size_t n)
{
	return gw_dlr_sig(data, NULL, id, out, n);
}

/* gw_keys_open - gateway.key_file, made (0600) when missing */
static int gw_keys_open(struct gw *g)
{
	const char *path = g->c.key_file;
	char err[512], *dir = xstrdup(path), *slash = strrchr(dir, '/');
	if (slash) {
		*slash = 0;
		if (*dir)
			mkdir_p(dir, 0700);
	}
	free(dir);
	int rc = codekey_load(path, &g->keys, err, sizeof(err));
	if (rc == -ENOENT && (rc = codekey_create(path, err, sizeof(err))) == 0) {
		log_info("created the gateway key file %s (0600)", path);
		rc = codekey_load(path, &g->keys, err, sizeof(err));
	}
	if (rc < 0)
		log_err("gateway.key_file %s", err);
	return rc;
}

/* route - where a claimed message waits: the HTTP client, or a worker batch */
static void route(struct gw *g, struct gw_item *it)
{
	const struct spool_msg *m = &it->m;
	int64_t now = now_ms();
	int expired = (m->expires_ms && now >= m->expires_ms) ||
		      (g->c.lifetime_ms && now - m->created_ms > g->c.lifetime_ms);

	/* an expired SMS rides a batch, whose worker fails it without sending */
	if (g->sms && !expired && strcmp(m->channel, "sms") == 0)
		q_push(&g->smsq, &g->nsmsq, &g->capsmsq, it);
	else if (g->reg && !expired && strcmp(m->channel, "check") == 0)
		q_push(&g->chkq, &g->nchkq, &g->capchkq, it);
	else
		q_push(&g->mailq, &g->nmailq, &g->capmailq, it);
}

/* checks claimed and waiting for the registry at most: a slow registry
 * holds back e-mail and SMS only past this backlog */
#define GW_CHECKQ_MAX 4096

/* submit_ready - start the queued requests an HTTP client has room for */
static int submit_ready(struct sms *s, struct gw_item **q, size_t *n)
{
	int started = 0;
	while (s && *n && sms_room(s) > 0) {
		struct gw_item *it = q[0];
		memmove(q, q + 1, (*n - 1) * sizeof(*q));
		(*n)--;
		sms_submit(s, it);
		started = 1;
	}
	return started;
}

/* dispatch - claim messages while there is room, start SMS requests and worker batches */
static void dispatch(struct gw *g)
{
	/* a relay being probed after a failure gets one session, not a storm */
	int max = g->relay_failures ? 1 : g->c.connections;
	size_t smsq_max = (size_t)g->c.sms_max_inflight;
	int progress = 1;

	if (g->dispatching)
		return;
	g->dispatching = 1;
	while (progress && !g->stopping) {
		progress = 0;
		progress |= submit_ready(g->sms, g->smsq, &g->nsmsq);
		progress |= submit_ready(g->reg, g->chkq, &g->nchkq);
		/* a full batch of e-mail ready, or an HTTP client full: stop claiming */
		while (g->head < g->npending && g->nmailq < (size_t)g->c.batch &&
		       g->nsmsq < smsq_max && g->nchkq < GW_CHECKQ_MAX) {
			char *name = g->pending[g->head++];
			struct gw_item *it = xcalloc(1, sizeof(*it));
			int mine = claim(g, name, it);
			free(name);
			if (!mine) {
				free(it);
				continue;
			}
			route(g, it);
			progress = 1;
			if ((g->nsmsq && sms_room(g->sms) > 0) ||
			    (g->nchkq && sms_room(g->reg) > 0))
				break; /* start it now */
		}
		if (g->head == g->npending)
			g->head = g->npending = 0;
		while (g->inflight < max && g->nmailq) {
			struct gw_batch *b = xcalloc(1, sizeof(*b));
			b->n = g->nmailq < (size_t)g->c.batch ? g->nmailq : (size_t)g->c.batch;
			b->items = q_take(g->mailq, &g->nmailq, b->n);
			queue_batch(g, b);
			g->inflight++;
			progress = 1;
		}
	}
	g->dispatching = 0;
}

void gw_maybe_done(struct gw *g)
{
	if (!g->stopping || g->inflight || g->recording || g->ndoneq ||
	    (g->sms && sms_inflight(g->sms)) || (g->reg && sms_inflight(g->reg)) || g->dlr_running)
		return;
	sms_free(g->sms);
	sms_free(g->reg);
	g->sms = g->reg = NULL;
	report_close(g->report); /* no batch is left to tell it anything */
	g->report = NULL;
}

/* ---- housekeeping at start and on the scan timer ---- */

static void recover_active(struct gw *g)
{
	char **names;
	size_t n, moved = 0;

	if (spool_list(g->c.spool_dir, SPOOL_ACTIVE, &names, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		char p[PATH_MAX];
		/* its outcome was recorded before the crash: the active copy is spare */
		if (spool_leftover(g->c.spool_dir, names[i])) {
			snprintf(p, sizeof(p), "%s/active/%s", g->c.spool_dir, names[i]);
			unlink(p);
			continue;
		}
		moved += spool_move(g->c.spool_dir, names[i], SPOOL_ACTIVE, SPOOL_QUEUED, 0) == 0;
	}
	if (moved)
		log_warn("spool: %zu message(s) left in active/ by an earlier run queued again "
			 "(they may be delivered twice)",
			 moved);
	spool_list_free(names, n);
}

/* remove_old - unlink files in <spool>/<sub> not modified for max_age_ms */
static void remove_old(const char *spool_dir, const char *sub, int64_t max_age_ms)
{
	char p[PATH_MAX];
	struct stat sb;
	struct dirent *de;
	size_t gone = 0;
	int64_t now = now_ms();
	DIR *d;

	snprintf(p, sizeof(p), "%s/%s", spool_dir, sub);
	if (!(d = opendir(p)))
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s/%s", spool_dir, sub, de->d_name);
		if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode) &&
		    now - (int64_t)sb.st_mtim.tv_sec * 1000 > max_age_ms && unlink(p) == 0)
			gone++;
	}
	closedir(d);
	if (gone)
		log_info("spool: purged %zu old file(s) from %s/", gone, sub);
}

static void scan_cb(uv_timer_t *t)
{
	struct gw *g = t->data;
	char p[PATH_MAX];
	struct stat sb;
	int64_t now = now_ms(), purge_every = g->c.sent_keep_ms / 4;

	pending_rescan(g);
	snprintf(p, sizeof(p), "%s/deferred", g->c.spool_dir);
	if (stat(p, &sb) == 0) {
		int64_t mt = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
		if (mt != g->def_mtime_ns) {
			g->def_mtime_ns = mt;
			def_rebuild(g);
		}
	}
	if (purge_every > 3600 * 1000)
		purge_every = 3600 * 1000;
	if (now - g->last_purge_ms >= purge_every) {
		g->last_purge_ms = now;
		remove_old(g->c.spool_dir, "sent", g->c.sent_keep_ms);
	}
	gw_dlr_retry(g);
	def_run(g);
	dispatch(g);
}

static void due_cb(uv_timer_t *t)
{
	struct gw *g = t->data;
	def_run(g);
	dispatch(g);
}

static void watch_cb(uv_fs_event_t *h, const char *filename, int events, int status)
{
	struct gw *g = h->data;
	char p[PATH_MAX];

	if (status < 0) {
		log_warn("watching incoming/: %s (the rescan still runs)", uv_strerror(status));
		return;
	}
	if (!filename) { /* events were lost: look at everything */
		pending_rescan(g);
	} else if (filename[0] != '.') {
		snprintf(p, sizeof(p), "%s/incoming/%s", g->c.spool_dir, filename);
		if (access(p, F_OK) == 0) /* not one of our moves out */
			pending_push(g, filename);
	}
	dispatch(g);
}

static void close_cb(uv_handle_t *h)
{
	struct gw *g = h->data;
	g->open_handles--;
}

static void gw_close_all(struct gw *g)
{
	uv_handle_t *hs[] = {(uv_handle_t *)&g->watch, (uv_handle_t *)&g->scan_timer,
			     (uv_handle_t *)&g->due_timer, (uv_handle_t *)&g->sigint,
			     (uv_handle_t *)&g->sigterm};
	for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++)
		if (!uv_is_closing(hs[i]))
			uv_close(hs[i], close_cb);
	/* the report is closed in gw_maybe_done: batches in flight still tell it */
}

static void signal_cb(uv_signal_t *s, int signum)
{
	struct gw *g = s->data;

	if (g->stopping)
		return;
	g->stopping = 1;
	log_info("stopping on signal %d: %d batch(es) and %d SMS request(s) in flight finish first "
		 "(a second signal aborts; active/ is requeued at the next start)",
		 signum, g->inflight, g->sms ? sms_inflight(g->sms) : 0);
	gw_close_all(g);
	if (g->http) {
		http_server_stop(g->http, NULL, NULL);
		g->http = NULL;
	}
	q_requeue(g, g->mailq, &g->nmailq);
	q_requeue(g, g->smsq, &g->nsmsq);
	q_requeue(g, g->chkq, &g->nchkq);
	gw_dlr_retry(g); /* answers the waiting reports: we are going */
	gw_maybe_done(g);
}

/* log_started - what the gateway delivers to, said once at start */
static void log_started(const struct gw_conf *c)
{
	if (*c->sms_url)
		log_info("sms: %s %s, up to %d request(s) in flight", c->sms_method, c->sms_url,
			 c->sms_max_inflight);
	if (*c->registry.url)
		log_info("registry: %s %s, up to %d check(s) in flight", c->registry.method,
			 c->registry.url, c->registry.max_inflight);
	if (*c->relay)
		log_info("started: spool %s, relay %s, %d session(s) of up to %d message(s), "
			 "STARTTLS %s%s%s%s",
			 c->spool_dir, c->relay, c->connections, c->batch,
			 c->smtp_starttls == RELAY_STARTTLS_NO	  ? "no"
			 : c->smtp_starttls == RELAY_STARTTLS_TRY ? "try"
								  : "require",
			 c->smtp_starttls == RELAY_STARTTLS_NO ? ""
			 : c->smtp_tls_verify		       ? " (certificate verified)"
							       : " (certificate NOT verified)",
			 *c->smtp_username ? ", AUTH as " : "", c->smtp_username);
	else
		log_info("started: spool %s, no relay: e-mail to the file sink %s", c->spool_dir,
			 c->sink_dir);
}

/* clients_open - the HTTP clients: SMS (gateway.sms.url), checks (gateway.registry.url) */
static void clients_open(struct gw *g)
{
	if (*g->c.sms_url) {
		char *base = gw_dlr_base(g);
		g->sms = sms_new(g->loop, &g->c.sms, base, sms_done_cb, g);
		sms_set_sign(g->sms, sign_dlr);
		free(base);
	}
	if (*g->c.registry.url)
		g->reg = sms_new(g->loop, &g->c.registry, "", sms_done_cb, g);
}

int gw_start(struct gw *g, uv_loop_t *loop, const struct gw_conf *c)
{
	char p[PATH_MAX];
	int rc;

	memset(g, 0, sizeof(*g));
	g->loop = loop;
	g->c = *c;
	if ((rc = spool_init(c->spool_dir)) < 0) {
		log_err("spool %s: %s", c->spool_dir, strerror(-rc));
		return rc;
	}
	if ((!*c->relay || !*c->sms_url) && (rc = mkdir_p(c->sink_dir, 0700)) < 0) {
		log_err("sink %s: %s", c->sink_dir, strerror(-rc));
		return rc;
	}
	if (*c->relay && c->smtp_starttls != RELAY_STARTTLS_NO) {
		char err[256];
		if ((rc = relay_tls_new(&g->smtp_tls, c->relay, c->smtp_tls_verify, c->smtp_ca_file,
					err, sizeof(err))) < 0) {
			log_err("%s", err);
			return rc;
		}
	}
	if ((rc = dkim_open(g)) < 0 || (rc = gw_keys_open(g)) < 0)
		return rc;
	if (*c->listen && (rc = gw_listen_start(g)) < 0)
		return rc;
	if ((rc = report_open(loop, c, &g->report)) < 0)
		return rc;
	report_start(g->report);
	clients_open(g);
	recover_active(g);
	remove_old(c->spool_dir, "tmp", GW_TMP_MAX_AGE_MS);
	g->last_purge_ms = now_ms();
	remove_old(c->spool_dir, "sent", c->sent_keep_ms);

	uv_timer_init(loop, &g->scan_timer);
	uv_timer_init(loop, &g->due_timer);
	uv_fs_event_init(loop, &g->watch);
	uv_signal_init(loop, &g->sigint);
	uv_signal_init(loop, &g->sigterm);
	g->scan_timer.data = g->due_timer.data = g->watch.data = g;
	g->sigint.data = g->sigterm.data = g;
	g->open_handles = 5;
	snprintf(p, sizeof(p), "%s/incoming", c->spool_dir);
	if ((rc = uv_fs_event_start(&g->watch, watch_cb, p, 0)) < 0)
		log_warn("cannot watch %s (%s): new messages wait for the rescan", p,
			 uv_strerror(rc));
	uv_signal_start(&g->sigint, signal_cb, SIGINT);
	uv_signal_start(&g->sigterm, signal_cb, SIGTERM);
	uv_timer_start(&g->scan_timer, scan_cb, (uint64_t)c->scan_ms, (uint64_t)c->scan_ms);

	scan_cb(&g->scan_timer); /* the deferred index, the queue, the first batches */
	log_started(c);
	return 0;
}

void gw_free(struct gw *g)
{
	q_requeue(g, g->mailq, &g->nmailq);
	q_requeue(g, g->smsq, &g->nsmsq);
	q_requeue(g, g->chkq, &g->nchkq);
	free(g->mailq);
	free(g->smsq);
	free(g->chkq);
	free(g->doneq);
	pending_clear(g);
	free(g->pending);
	free(g->def);
	g->pending = NULL;
	g->def = NULL;
	relay_tls_free(g->smtp_tls); /* every worker has finished */
	codekey_free(g->keys);
	dkim_signer_free(g->dkim);
	g->smtp_tls = NULL;
}
