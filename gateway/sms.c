/*
 * sms - SMS and checks over HTTP with libcurl multi on the libuv loop (see
 * sms.h).
 *
 * Outcome of a request: HTTP 2xx = accepted (sent; a check: answered when
 * its reply says match or mismatch, else deferred); 408, 429 and 5xx,
 * timeouts, refused or broken connections = deferred; any other 4xx =
 * failed at once (bad credentials, bad number: retrying cannot help).  A
 * check's record never quotes the service's reply beyond its answer: the
 * reply may repeat the id number.
 */
#include "sms.h"
#include "log.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SMS_REPLY_MAX 4096 /* bytes of the provider's answer read (a check's JSON) */

struct sms_sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct sms *s;
	struct sms_sock *prev, *next; /* every open one, to close them at the end */
};

struct sms_req {
	CURL *easy;
	struct gw_item *it;
	char *url, *body;
	size_t body_len;
	char reply[SMS_REPLY_MAX + 1];
	size_t reply_len;
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *hdrs;
	int fallback; /* sent to gateway.sms.fallback_url */
	int probe;    /* the one request trying the primary again */
};

struct sms {
	uv_loop_t *loop;
	const struct sms_svc *v;
	char *dlr_base;
	sms_sign_fn sign;
	CURLM *multi;
	uv_timer_t timer;
	int inflight, open_handles, freeing;
	struct sms_sock *socks;
	CURL **idle; /* easy handles kept for reuse */
	int nidle;
	sms_done_fn done;
	void *data;
	/* the fallback: on while the primary keeps failing, until the hold ends
	 * and one request (the probe) finds the primary answering again */
	int fails;	 /* the primary's transient failures in a row */
	int on_fallback; /* requests go to the fallback */
	int probing;	 /* one request is trying the primary */
	uint64_t hold_until;
	struct sms_counts counts;
};

/* ---- templates ---- */

static char *escape_json(const char *v)
{
	json_t *s = json_string(v);
	char *q = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
	char *out;

	json_decref(s);
	if (!q)
		return xstrdup("");
	out = xstrdup(q + 1); /* strip the quotes */
	out[strlen(out) - 1] = 0;
	free(q);
	return out;
}

static char *escape_url(const char *v)
{
	char *e = curl_easy_escape(NULL, v, 0);
	char *out;

	if (!e)
		fatal("out of memory");
	out = xstrdup(e);
	curl_free(e);
	return out;
}

/* var - the value of {{name}} (nl bytes at name) for m, or NULL if there is
 * none: an SMS's to, text, id, from, ...; a check's id, credentials and the
 * members of its body (a JSON object of strings: name, id_type, id_no) */
static const char *var(const struct sms_svc *v, const struct spool_msg *m, json_t *fields,
		       const char *dlr_url, const char *mask, const char *name, size_t nl)
{
#define IS(s) (nl == strlen(s) && memcmp(name, s, nl) == 0)
	if (IS("id"))
		return m->id;
	if (IS("username"))
		return v->username;
	if (IS("password"))
		return v->password;
	if (v->check) {
		char key[64];
		snprintf(key, sizeof(key), "%.*s", (int)(nl < 63 ? nl : 63), name);
		return json_string_value(json_object_get(fields, key));
	}
	if (IS("to"))
		return m->to;
	if (IS("text"))
		return m->body;
	if (IS("from"))
		return v->from;
	if (IS("dlr_url"))
		return dlr_url;
	if (IS("dlr_mask"))
		return mask;
#undef IS
	return NULL;
}

int sms_expand(const char *tmpl, const struct spool_msg *m, const struct sms_svc *sv,
	       const char *dlr_url, int escape, char **out, char *err, size_t errlen)
{
	char mask[16];
	json_t *fields = sv->check ? json_loads(m->body, 0, NULL) : NULL;
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	const char *p = tmpl;
	int rc = 0;

	if (!f)
		fatal("out of memory");
	snprintf(mask, sizeof(mask), "%d", *dlr_url ? sv->dlr_mask : 0);
	while (*p) {
		const char *open = strstr(p, "{{"), *close, *v = NULL;
		if (!open) {
			fputs(p, f);
			break;
		}
		fwrite(p, 1, (size_t)(open - p), f);
		close = strstr(open + 2, "}}");
		if (!close) {
			snprintf(err, errlen, "unterminated {{ in template");
			rc = -EINVAL;
			break;
		}
		size_t nl = (size_t)(close - open - 2);
		v = var(sv, m, fields, dlr_url, mask, open + 2, nl);
		if (!v) {
			snprintf(err, errlen, "unknown template variable {{%.*s}}",
				 (int)(nl > 32 ? 32 : nl), open + 2);
			rc = -EINVAL;
			break;
		}
		char *e = escape == 'j' ? escape_json(v) : escape_url(v);
		fputs(e, f);
		sodium_memzero(e, strlen(e)); /* the text holds the code */
		free(e);
		p = close + 2;
	}
	json_decref(fields);
	if (fclose(f) != 0)
		fatal("out of memory");
	if (rc < 0) {
		sodium_memzero(buf, n);
		free(buf);
		buf = NULL;
	}
	*out = buf;
	return rc;
}

/* ---- curl on the loop ---- */

static void check_done(struct sms *s);
static void on_sock_closed(uv_handle_t *h);

static void sock_close(struct sms_sock *ss)
{
	struct sms *s = ss->s;

	uv_poll_stop(&ss->poll);
	if (ss->prev)
		ss->prev->next = ss->next;
	else
		s->socks = ss->next;
	if (ss->next)
		ss->next->prev = ss->prev;
	uv_close((uv_handle_t *)&ss->poll, on_sock_closed);
}

static void on_sock_closed(uv_handle_t *h)
{
	struct sms_sock *ss = h->data;
	struct sms *s = ss->s;

	s->open_handles--;
	free(ss);
	if (s->freeing && s->open_handles == 0)
		free(s);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct sms_sock *ss = h->data;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(ss->s->multi, ss->fd, flags, &running);
	check_done(ss->s);
}

static int sock_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct sms *s = userp;
	struct sms_sock *ss = socketp;
	int ev = 0;

	if (what == CURL_POLL_REMOVE) {
		if (ss) {
			curl_multi_assign(s->multi, fd, NULL);
			sock_close(ss);
		}
		return 0;
	}
	if (!ss) {
		ss = xcalloc(1, sizeof(*ss));
		ss->fd = fd;
		ss->s = s;
		if (uv_poll_init_socket(s->loop, &ss->poll, fd) < 0) {
			free(ss);
			return -1;
		}
		ss->poll.data = ss;
		ss->next = s->socks;
		if (s->socks)
			s->socks->prev = ss;
		s->socks = ss;
		s->open_handles++;
		curl_multi_assign(s->multi, fd, ss);
	}
	if (what & CURL_POLL_IN)
		ev |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		ev |= UV_WRITABLE;
	uv_poll_start(&ss->poll, ev, on_poll);
	return 0;
}

static void on_timeout(uv_timer_t *t)
{
	struct sms *s = t->data;
	int running;

	curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(s);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct sms *s = userp;

	/* 0 ms stays 0 ms (the next loop turn): 1 ms would cap a connection near 850/s */
	if (timeout_ms < 0)
		uv_timer_stop(&s->timer);
	else
		uv_timer_start(&s->timer, on_timeout, (uint64_t)timeout_ms, 0);
	return 0;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct sms_req *r = userdata;
	size_t n = size * nmemb, room = SMS_REPLY_MAX - r->reply_len;

	memcpy(r->reply + r->reply_len, ptr, n < room ? n : room);
	r->reply_len += n < room ? n : room;
	r->reply[r->reply_len] = 0;
	return n; /* the rest is read and dropped: the connection stays usable */
}

/* set_outcome - the item's outcome, with the secret masked out of the text */
static void set_outcome(struct gw_item *it, enum gw_outcome o, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_outcome(struct gw_item *it, enum gw_outcome o, const char *fmt, ...)
{
	va_list ap;
	const char *secret = it->m.secret;

	va_start(ap, fmt);
	vsnprintf(it->why, sizeof(it->why), fmt, ap);
	va_end(ap);
	if (secret && *secret)
		for (char *hit = strstr(it->why, secret); hit; hit = strstr(hit, secret))
			memset(hit, '*', strlen(secret));
	it->outcome = o;
	it->decided = 1;
	it->tried = 1;
}

static void req_free(struct sms *s, struct sms_req *r)
{
	if (r->url) {
		sodium_memzero(r->url, strlen(r->url));
		free(r->url);
	}
	if (r->body) {
		sodium_memzero(r->body, r->body_len);
		free(r->body);
	}
	curl_slist_free_all(r->hdrs);
	if (r->easy) {
		curl_easy_reset(r->easy);
		s->idle = xrealloc(s->idle, (size_t)(s->nidle + 1) * sizeof(*s->idle));
		s->idle[s->nidle++] = r->easy;
	}
	free(r);
}

/* answer_at - the value at path ("a.b" walks objects) of a JSON reply, as
 * text in out ("" when there is none: not JSON, missing, not a scalar) */
static void answer_at(const char *reply, size_t len, const char *path, char *out, size_t n)
{
	json_t *root = json_loadb(reply, len, 0, NULL), *x = root;
	char *walk = xstrdup(path), *save = NULL;
	out[0] = 0;
	for (char *k = strtok_r(walk, ".", &save); k && x; k = strtok_r(NULL, ".", &save))
		x = json_object_get(x, k);
	if (json_is_string(x))
		snprintf(out, n, "%s", json_string_value(x));
	else if (json_is_boolean(x))
		snprintf(out, n, "%s", json_is_true(x) ? "true" : "false");
	else if (json_is_integer(x))
		snprintf(out, n, "%lld", (long long)json_integer_value(x));
	free(walk);
	json_decref(root);
}

/* check_classify - a check's HTTP answer: 2xx with the answer field saying
 * match or mismatch is the answer; anything else is retried or refused */
static void check_classify(const struct sms_svc *v, struct sms_req *r, long code)
{
	struct gw_item *it = r->it;
	char said[64];
	if (code < 200 || code >= 300) {
		int final = code >= 400 && code < 500 && code != 408 && code != 429;
		set_outcome(it, final ? GW_FAIL : GW_DEFER, "%s: HTTP %ld", v->name, code);
		return;
	}
	answer_at(r->reply, r->reply_len, v->answer, said, sizeof(said));
	const char *a = !strcmp(said, v->match)	     ? "match"
			: !strcmp(said, v->mismatch) ? "mismatch"
						     : NULL;
	if (!a) {
		set_outcome(it, GW_DEFER, "%s: HTTP %ld without an answer at \"%s\" (%s)", v->name,
			    code, v->answer, *said ? "not match or mismatch" : "none");
		return;
	}
	snprintf(it->answer, sizeof(it->answer), "%s", a);
	set_outcome(it, GW_ANSWER, "%s: HTTP %ld %s", v->name, code, a);
}

static void classify(struct sms *s, struct sms_req *r, CURLcode res)
{
	struct gw_item *it = r->it;
	long code = 0;
	char *reply = r->reply;

	if (res != CURLE_OK) {
		set_outcome(it, GW_DEFER, "%s: %s", s->v->name,
			    r->errbuf[0] ? r->errbuf : curl_easy_strerror(res));
		return;
	}
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
	if (s->v->check) {
		check_classify(s->v, r, code);
		return;
	}
	/* one line of the provider's answer is plenty for the record */
	reply[strcspn(reply, "\r\n")] = 0;
	if (code >= 200 && code < 300)
		set_outcome(it, GW_SENT, "HTTP %ld %s", code, reply);
	else if (code >= 400 && code < 500 && code != 408 && code != 429)
		set_outcome(it, GW_FAIL, "HTTP %ld %s", code, reply);
	else
		set_outcome(it, GW_DEFER, "HTTP %ld %s", code, reply);
}

/* note_fallback - the record says which gateway took (or refused) it */
static void note_fallback(struct gw_item *it)
{
	static const char tag[] = "fallback: ";
	size_t n = strnlen(it->why, sizeof(it->why) - sizeof(tag));
	memmove(it->why + sizeof(tag) - 1, it->why, n);
	memcpy(it->why, tag, sizeof(tag) - 1);
	it->why[n + sizeof(tag) - 1] = 0;
}

/* use_fallback - where r goes: the fallback, or the primary (r->probe: as
 * the one request trying it again) */
static int use_fallback(struct sms *s, struct sms_req *r)
{
	if (!s->on_fallback)
		return 0;
	if (!s->probing && uv_now(s->loop) >= s->hold_until) {
		s->probing = r->probe = 1;
		return 0;
	}
	return 1;
}

/* fallback_learn - a finished request's lesson about the primary */
static void fallback_learn(struct sms *s, const struct sms_req *r)
{
	const struct sms_svc *c = s->v;
	int transient = r->it->outcome == GW_DEFER;
	if (!*c->fallback_url || r->fallback)
		return;
	if (s->on_fallback) { /* only the probe says; others were sent before the switch */
		if (!r->probe)
			return;
		s->probing = 0;
		if (transient) {
			s->hold_until = uv_now(s->loop) + (uint64_t)c->fallback_hold_ms;
			return;
		}
		s->on_fallback = 0;
		s->fails = 0;
		s->counts.fallback_back++;
		log_info("sms: %s answers again: back from the fallback", c->url);
		return;
	}
	s->fails = transient ? s->fails + 1 : 0;
	if (s->fails >= c->fallback_after) {
		s->on_fallback = 1;
		s->hold_until = uv_now(s->loop) + (uint64_t)c->fallback_hold_ms;
		s->counts.fallback_switches++;
		log_warn(
			"sms: %s failed %d time(s) in a row (%s): using the fallback %s for %lldms",
			c->url, s->fails, r->it->why, c->fallback_url,
			(long long)c->fallback_hold_ms);
	}
}

static void check_done(struct sms *s)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(s->multi, &left))) {
		struct sms_req *r = NULL;
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *easy = msg->easy_handle;
		CURLcode res = msg->data.result;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
		classify(s, r, res);
		fallback_learn(s, r);
		if (r->fallback) {
			s->counts.fallback_requests++;
			note_fallback(r->it);
		}
		curl_multi_remove_handle(s->multi, easy);
		struct gw_item *it = r->it;
		req_free(s, r);
		s->inflight--;
		s->done(s->data, it);
	}
}

/* ---- the public side ---- */

struct sms *sms_new(uv_loop_t *loop, const struct sms_svc *gc, const char *dlr_base,
		    sms_done_fn done, void *data)
{
	struct sms *s = xcalloc(1, sizeof(*s));

	s->loop = loop;
	s->v = gc;
	s->dlr_base = xstrdup(dlr_base);
	s->done = done;
	s->data = data;
	s->multi = curl_multi_init();
	if (!s->multi)
		fatal("curl_multi_init failed");
	curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, s);
	curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, s);
	curl_multi_setopt(s->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)gc->max_inflight);
	curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, (long)gc->max_inflight);
	uv_timer_init(loop, &s->timer);
	s->timer.data = s;
	s->open_handles = 1;
	return s;
}

int sms_room(const struct sms *s)
{
	return s->v->max_inflight - s->inflight;
}

int sms_inflight(const struct sms *s)
{
	return s->inflight;
}

void sms_set_sign(struct sms *s, sms_sign_fn fn)
{
	s->sign = fn;
}

/* dlr_url_for - the delivery-report URL for message id ("" if none): its
 * id, and right after it the signature that makes it this message's */
static char *dlr_url_for(const struct sms *s, const char *id)
{
	const char *at = strstr(s->dlr_base, "{{id}}");
	char sig[64] = "";

	if (!*s->dlr_base)
		return xstrdup("");
	if (!at)
		return xstrdup(s->dlr_base);
	if (s->sign && s->sign(s->data, id, sig, sizeof(sig)) < 0)
		sig[0] = 0;
	return xasprintf("%.*s%s%s%s%s", (int)(at - s->dlr_base), s->dlr_base, id,
			 *sig ? "&sig=" : "", sig, at + 6);
}

void sms_submit(struct sms *s, struct gw_item *it)
{
	const struct sms_svc *c = s->v;
	struct sms_req *r = xcalloc(1, sizeof(*r));
	char err[128], *query = NULL, *dlr = dlr_url_for(s, it->m.id);
	int post = strcasecmp(c->method, "POST") == 0;

	r->it = it;
	s->inflight++;
	/* the templates were checked at start: an error here is a bug in the message */
	if (sms_expand(c->query, &it->m, c, dlr, 'u', &query, err, sizeof(err)) < 0 ||
	    (post &&
	     sms_expand(c->body, &it->m, c, dlr, strstr(c->content_type, "json") ? 'j' : 'u',
			&r->body, err, sizeof(err)) < 0)) {
		set_outcome(it, GW_FAIL, "%s request: %s", c->name, err);
		goto fail;
	}
	r->fallback = use_fallback(s, r);
	const char *base = r->fallback ? c->fallback_url : c->url;
	r->url = *query ? xasprintf("%s%c%s", base, strchr(base, '?') ? '&' : '?', query)
			: xstrdup(base);
	sodium_memzero(query, strlen(query));
	free(query);
	query = NULL;
	r->easy = s->nidle ? s->idle[--s->nidle] : curl_easy_init();
	if (!r->easy)
		fatal("curl_easy_init failed");
	curl_easy_setopt(r->easy, CURLOPT_URL, r->url);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
	curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "regflow-gw");
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	if (post) {
		char *ct = xasprintf("Content-Type: %s", c->content_type);
		r->hdrs = curl_slist_append(NULL, ct);
		free(ct);
		r->body_len = strlen(r->body);
		curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, (long)r->body_len);
	}
	if (curl_multi_add_handle(s->multi, r->easy) != CURLM_OK) {
		set_outcome(it, GW_DEFER, "%s request: curl_multi_add_handle failed", c->name);
		goto fail;
	}
	free(dlr);
	return;
fail:
	if (r->probe) /* never sent: the next request probes instead */
		s->probing = 0;
	free(query);
	free(dlr);
	req_free(s, r);
	s->inflight--;
	s->done(s->data, it);
}

static void on_timer_closed(uv_handle_t *h)
{
	struct sms *s = h->data;

	s->open_handles--;
	if (s->open_handles == 0)
		free(s);
}

struct sms_counts sms_counts(const struct sms *s)
{
	struct sms_counts k = s->counts;
	k.on_fallback = s->on_fallback;
	return k;
}

void sms_free(struct sms *s)
{
	if (!s)
		return;
	/* closes cached connections: their poll handles are closed through sock_cb */
	curl_multi_cleanup(s->multi);
	for (int i = 0; i < s->nidle; i++)
		curl_easy_cleanup(s->idle[i]);
	free(s->idle);
	free(s->dlr_base);
	while (s->socks) /* any curl did not hand back */
		sock_close(s->socks);
	s->freeing = 1;
	uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}
