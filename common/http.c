/*
 * http - HTTP/1.1 server on libuv with http_parser (see http.h): the
 * listener, connections and writing; requests and parsing are in
 * http_req.c.
 *
 * A connection reads into a fixed buffer and parses one request at a time:
 * the parser is paused at the end of each message and the request handed to
 * the handler; bytes of pipelined requests wait in the buffer (reading stops
 * when it is full) until the reply has been queued.  Errors are answered
 * with a short JSON body, then the connection is shut down and drained for a
 * moment ("lingering close") so that the client sees the reply, not a reset.
 *
 * With TLS (common/tls.h) the socket's bytes go through the connection's
 * TLS state first: ciphertext read is fed in and the plaintext it gives is
 * what the parser reads, a reply is encrypted before it is queued.
 */
#include "http_priv.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "util.h"

static const char *const http_days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const http_months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static void conn_process(struct http_conn *c);
static void conn_close(struct http_conn *c);
static void conn_finish(struct http_conn *c);
static void conn_idle(struct http_conn *c);

static void http_date(char *buf, size_t n)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, n, "%s, %02d %s %04d %02d:%02d:%02d GMT", http_days[tm.tm_wday % 7],
		 tm.tm_mday, http_months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		 tm.tm_sec);
}

/* ---- writing ---- */

static void on_write(uv_write_t *req, int status)
{
	struct http_write *w = (struct http_write *)req;
	struct http_conn *c = w->conn;

	free(w);
	if (status < 0) {
		if (status != UV_ECANCELED)
			log_debug("http: write: %s", uv_strerror(status));
		conn_close(c);
	}
}

static void queue_write(struct http_conn *c, struct http_write *w, size_t len);

/* tls_flush - queue the ciphertext TLS has for the peer (handshake, replies) */
static void tls_flush(struct http_conn *c)
{
	size_t n;
	while (c->state != CONN_CLOSING && (n = tls_conn_pending(c->tls)) > 0) {
		struct http_write *w = xmalloc(sizeof(*w) + n);
		queue_write(c, w, tls_conn_take(c->tls, w->data, n));
	}
}

/* conn_write - queue w (allocated by the caller) on c; takes it */
void http_conn_write(struct http_conn *c, struct http_write *w, size_t len)
{
	if (c->tls) {
		int rc = tls_conn_write(c->tls, w->data, len);
		free(w);
		if (rc < 0) {
			log_debug("http: %s", tls_conn_error(c->tls));
			conn_close(c);
			return;
		}
		tls_flush(c);
		return;
	}
	queue_write(c, w, len);
}

static void queue_write(struct http_conn *c, struct http_write *w, size_t len)
{
	int rc;

	w->conn = c;
	w->buf = uv_buf_init(w->data, (unsigned int)len);
	rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &w->buf, 1, on_write);
	if (rc < 0) {
		log_debug("http: write: %s", uv_strerror(rc));
		free(w);
		conn_close(c);
	}
}

/* conn_send - format the head of a reply, append body and queue it */
static void conn_send(struct http_conn *c, int status, const char *ctype, const char *extra,
		      size_t extra_len, int keep, int no_body, const char *body, size_t len)
{
	char date[64], head[1024];
	struct http_write *w;
	int hn;
	size_t total;
	int bodiless = status == 204 || status == 304;

	http_date(date, sizeof(date));
	hn = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nDate: %s\r\n%s%s%s", status,
		      http_status_text(status), date, ctype ? "Content-Type: " : "",
		      ctype ? ctype : "", ctype ? "\r\n" : "");
	if (hn < 0 || (size_t)hn >= sizeof(head))
		hn = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nDate: %s\r\n", status,
			      http_status_text(status), date);
	if (!bodiless)
		hn += snprintf(head + hn, sizeof(head) - (size_t)hn, "Content-Length: %zu\r\n",
			       len);
	hn += snprintf(head + hn, sizeof(head) - (size_t)hn, "Connection: %s\r\n",
		       keep ? "keep-alive" : "close");
	if (bodiless || no_body)
		len = 0;
	total = (size_t)hn + extra_len + 2 + len;
	w = xmalloc(sizeof(*w) + total);
	memcpy(w->data, head, (size_t)hn);
	if (extra_len)
		memcpy(w->data + hn, extra, extra_len);
	memcpy(w->data + hn + extra_len, "\r\n", 2);
	if (len)
		memcpy(w->data + hn + extra_len + 2, body, len);
	http_conn_write(c, w, total);
}

static void json_escape(char *out, size_t n, const char *s)
{
	size_t o = 0;

	for (; *s && o + 7 < n; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = (char)ch;
		} else if (ch < 0x20) {
			o += (size_t)snprintf(out + o, n - o, "\\u%04x", ch);
		} else {
			out[o++] = (char)ch;
		}
	}
	out[o] = '\0';
}

/* conn_fail - answer a protocol error with a JSON body, then close */
static void conn_fail(struct http_conn *c, int status, const char *code, const char *msg)
{
	char esc[256], body[512];
	int n;

	json_escape(esc, sizeof(esc), msg);
	n = snprintf(body, sizeof(body),
		     "{\"error\":{\"code\":\"%s\",\"message\":\"%s\",\"field\":null}}", code, esc);
	if (n < 0 || (size_t)n >= sizeof(body))
		n = 0;
	conn_send(c, status, "application/json", NULL, 0, 0, 0, body, (size_t)n);
	conn_finish(c);
}

void http_respond(struct http_req *r, int status, const char *content_type, const char *body,
		  size_t len)
{
	struct http_conn *c = r->conn;
	int keep;

	if (c && c->active != r) {
		log_err("http: reply to a request that is not the connection's own");
		c = NULL;
	}
	if (!c || c->state != CONN_OPEN) {
		if (c)
			c->active = NULL;
		http_req_free(r);
		return;
	}
	if (status < 200 || status > 599) {
		log_err("http: handler answered status %d; sending 500", status);
		status = 500;
	}
	if (content_type &&
	    (!http_hdr_value_ok(content_type) || !*content_type || strlen(content_type) > 256)) {
		log_err("http: bad content type from handler");
		content_type = "application/octet-stream";
	}
	keep = r->keep_alive;
	conn_send(c, status, content_type, r->extra, r->extra_len, keep, r->head, body, len);
	c->active = NULL;
	http_req_free(r);
	if (c->state != CONN_OPEN)
		return; /* the write failed */
	if (!keep) {
		conn_finish(c);
		return;
	}
	conn_idle(c);
	conn_process(c);
}

/* ---- connections ---- */

static void server_maybe_done(struct http_server *s)
{
	if (!s->stopping || !s->listener_closed || s->nconns > 0)
		return;
	if (s->done)
		s->done(s->done_arg);
	tls_ctx_unref(s->lim.tls);
	json_decref(s->per_client);
	free(s);
}

/* client_count - the connections from addr, after adding delta */
static int client_count(struct http_server *s, const char *addr, int delta)
{
	if (!*addr)
		return 0;
	int n = (int)json_integer_value(json_object_get(s->per_client, addr)) + delta;
	if (n > 0)
		json_object_set_new(s->per_client, addr, json_integer(n));
	else
		json_object_del(s->per_client, addr);
	return n;
}

/* evict_idle - slots run short: the connection idle longest between
 * requests makes room (a keep-alive a client may reopen); 1 if one went */
static int evict_idle(struct http_server *s)
{
	struct http_conn *oldest = NULL;
	for (struct http_conn *c = s->conns; c; c = c->next)
		if (c->state == CONN_OPEN && c->idle_since && !c->active && !c->deadline &&
		    c->in_len == 0 && (!oldest || c->idle_since < oldest->idle_since))
			oldest = c;
	if (!oldest)
		return 0;
	conn_close(oldest);
	return 1;
}

static void on_conn_closed(uv_handle_t *h)
{
	struct http_conn *c = h->data;
	struct http_server *s = c->srv;

	if (--c->handles_open > 0)
		return;
	s->nclosing--;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	http_req_free(c->cur);
	client_count(s, c->peer, -1);
	tls_conn_free(c->tls);
	free(c->raw);
	free(c->in);
	free(c);
	s->nconns--;
	server_maybe_done(s);
}

/* conn_close - close at once; a request with the handler becomes an orphan */
static void conn_close(struct http_conn *c)
{
	if (c->state == CONN_CLOSING)
		return;
	c->state = CONN_CLOSING;
	c->srv->nclosing++;
	if (c->active) {
		c->active->conn = NULL;
		c->active = NULL;
	}
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
	uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void on_timer(uv_timer_t *t)
{
	struct http_conn *c = t->data;
	if (c->state == CONN_OPEN && c->deadline && !c->active &&
	    uv_now(c->srv->loop) >= c->deadline) {
		/* a request that took too long to arrive (nginx's client_header_timeout) */
		c->deadline = 0;
		conn_fail(c, 408, "REQUEST_TIMEOUT",
			  c->cur && c->cur->hdr_state == 3 ? "the request body took too long"
							   : "the request headers took too long");
		return;
	}
	conn_close(c);
}

/* conn_idle - (re)arm the idle deadline, never past the deadline of the
 * request being read; none while the handler has a request */
static void conn_idle(struct http_conn *c)
{
	if (c->state != CONN_OPEN || c->active)
		return;
	uint64_t now = uv_now(c->srv->loop), ms = c->srv->lim.idle_timeout_ms;
	if (c->deadline)
		ms = c->deadline > now ? (c->deadline - now < ms ? c->deadline - now : ms) : 1;
	uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct http_conn *c = h->data;

	if (c->state == CONN_DRAINING)
		*buf = uv_buf_init(c->in, HTTP_INBUF); /* discarded */
	else if (c->tls)
		*buf = uv_buf_init(c->raw, HTTP_INBUF); /* ciphertext, fed to TLS */
	else
		*buf = uv_buf_init(c->in + c->in_len, (unsigned int)(HTTP_INBUF - c->in_len));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

/* conn_reading - read while there is room (or to drain), not after EOF */
static void conn_reading(struct http_conn *c)
{
	int want;

	if (c->state == CONN_CLOSING || c->read_eof)
		return;
	want = c->state == CONN_DRAINING || c->in_len < HTTP_INBUF;
	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
			conn_close(c);
			return;
		}
		c->reading = 1;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct http_conn *c = req->data;

	if (c->state == CONN_CLOSING)
		return;
	if (status < 0 || c->read_eof)
		conn_close(c);
	else
		uv_timer_start(&c->timer, on_timer, HTTP_LINGER_MS, 0);
}

/*
 * conn_finish - no more requests: send FIN once the replies are out, then
 * drain what the client still sends for a moment, so it sees the reply.
 */
static void conn_finish(struct http_conn *c)
{
	if (c->state != CONN_OPEN)
		return;
	if (c->tls) {
		tls_conn_close_notify(c->tls);
		tls_flush(c);
		if (c->state != CONN_OPEN)
			return;
	}
	c->state = CONN_DRAINING;
	c->shut.data = c;
	if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
		conn_close(c);
		return;
	}
	/* the replies must leave within the idle timeout, the drain is shorter */
	uv_timer_start(&c->timer, on_timer, c->srv->lim.idle_timeout_ms, 0);
	conn_reading(c);
}

static void conn_parse_error(struct http_conn *c, enum http_errno err)
{
	char msg[160];

	if (c->err_status == 413) {
		snprintf(msg, sizeof(msg), "request body larger than %zu bytes",
			 c->srv->lim.max_body);
		conn_fail(c, 413, "BODY_TOO_LARGE", msg);
	} else if (c->err_status == 431 || err == HPE_HEADER_OVERFLOW) {
		snprintf(msg, sizeof(msg), "request line and headers larger than %zu bytes",
			 c->srv->lim.max_header);
		conn_fail(c, 431, "HEADER_TOO_LARGE", msg);
	} else if (c->err_status) {
		conn_fail(c, c->err_status, "BAD_REQUEST", c->err_msg);
	} else {
		snprintf(msg, sizeof(msg), "malformed HTTP request: %s",
			 http_errno_description(err));
		conn_fail(c, 400, "BAD_REQUEST", msg);
	}
}

/* conn_dispatch - hand the parsed request to the handler */
static void conn_dispatch(struct http_conn *c)
{
	struct http_req *r = c->cur;

	c->cur = NULL;
	r->conn = c;
	c->active = r;
	uv_timer_stop(&c->timer);
	c->srv->fn(r, c->srv->data);
}

/*
 * conn_process - parse buffered bytes while no request is with the handler.
 * Not reentrant: a handler answering at once lets the loop here go on.
 */
/*
 * tls_pull - the plaintext TLS has, into the free end of the buffer; the
 * handshake's replies queued.  How many bytes came, or -1 if the
 * connection is done for.
 */
static ssize_t tls_pull(struct http_conn *c)
{
	ssize_t n = 1, got = 0;
	if (c->in_off > 0 && c->in_off >= c->in_len)
		c->in_off = c->in_len = 0;
	while (c->state == CONN_OPEN && c->in_len < HTTP_INBUF && n > 0) {
		n = tls_conn_read(c->tls, c->in + c->in_len, HTTP_INBUF - c->in_len);
		if (n > 0) {
			c->in_len += (size_t)n;
			got += n;
		}
	}
	tls_flush(c);
	if (n == -EPIPE) {
		c->read_eof = 1; /* close_notify: the client has said all it will */
	} else if (n < 0) {
		log_debug("http: %s", tls_conn_error(c->tls));
		conn_close(c);
		return -1;
	}
	return got;
}

static void conn_process(struct http_conn *c)
{
	ssize_t pulled = 0;
	if (c->in_process)
		return;
	c->in_process = 1;
again:
	if (c->tls && c->state == CONN_OPEN && !c->active && (pulled = tls_pull(c)) < 0) {
		c->in_process = 0;
		return;
	}
	while (c->state == CONN_OPEN && !c->active && c->in_off < c->in_len) {
		c->exec_end = c->in + c->in_len;
		if (http_req_framing(c, c->in + c->in_off, c->in_len - c->in_off) < 0) {
			conn_parse_error(c, HPE_UNKNOWN);
			break;
		}
		size_t n = http_parser_execute(&c->parser, &http_parser_callbacks,
					       c->in + c->in_off, c->in_len - c->in_off);
		enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);

		c->in_off += n;
		if (err == HPE_PAUSED) {
			http_parser_pause(&c->parser, 0);
			conn_dispatch(c);
		} else if (err != HPE_OK) {
			conn_parse_error(c, err);
		} else if (c->parser.upgrade) {
			/* the rest is another protocol, which we do not speak */
			c->in_off = c->in_len;
		} else if (n == 0) {
			break;
		}
	}
	if (c->state == CONN_CLOSING) {
		c->in_process = 0;
		return;
	}
	if (c->state == CONN_DRAINING || c->in_off >= c->in_len) {
		c->in_off = c->in_len = 0;
	} else if (c->in_off > 0) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	if (c->state == CONN_OPEN && !c->active && c->in_len == 0 && !c->deadline && !c->idle_since)
		c->idle_since = uv_now(c->srv->loop) + 1; /* between requests: evictable */
	/* TLS may hold plaintext that did not fit: parse it before reading on */
	if (c->tls && c->state == CONN_OPEN && !c->active && c->in_len < HTTP_INBUF && pulled > 0)
		goto again;
	c->in_process = 0;
	if (c->state == CONN_OPEN && !c->active && c->read_eof)
		conn_finish(c); /* the client has said all it will */
	conn_reading(c);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct http_conn *c = st->data;

	if (nread == 0 || c->state == CONN_CLOSING)
		return;
	if (nread == UV_EOF) {
		c->read_eof = 1;
		uv_read_stop(st);
		c->reading = 0;
		if (c->state == CONN_DRAINING)
			conn_close(c);
		else
			conn_process(c);
		return;
	}
	if (nread < 0) {
		if (nread != UV_ECONNRESET)
			log_debug("http: read: %s", uv_strerror((int)nread));
		conn_close(c);
		return;
	}
	if (c->state == CONN_DRAINING)
		return;
	if (c->tls && !c->tls_seen++ && c->raw[0] != 0x16) {
		/* not a TLS handshake record: most likely plain HTTP; say so in it */
		tls_conn_free(c->tls);
		c->tls = NULL;
		conn_fail(c, 400, "TLS_REQUIRED", "this port speaks TLS only: use https://");
		return;
	}
	if (c->tls) {
		if (tls_conn_feed(c->tls, c->raw, (size_t)nread) < 0) {
			conn_close(c);
			return;
		}
	} else {
		c->in_len += (size_t)nread;
	}
	conn_idle(c);
	conn_process(c);
}

/* ---- the server ---- */

/* peer_name - the client's address, without the port */
static void peer_name(struct http_conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	c->peer[0] = 0;
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET6)
		uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof(c->peer));
	else
		uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof(c->peer));
}

static void on_connection(uv_stream_t *ls, int status)
{
	struct http_server *s = ls->data;
	struct http_conn *c;

	if (status < 0) {
		log_warn("http: accept: %s", uv_strerror(status));
		return;
	}
	if (s->stopping)
		return;
	c = xcalloc(1, sizeof(*c));
	c->srv = s;
	uv_tcp_init(s->loop, &c->tcp);
	uv_timer_init(s->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->handles_open = 2;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	c->in = xmalloc(HTTP_INBUF);
	if (s->lim.tls) {
		c->tls = tls_conn_new(s->lim.tls);
		c->raw = xmalloc(HTTP_INBUF);
	}
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	if (uv_accept(ls, (uv_stream_t *)&c->tcp) < 0 ||
	    s->nconns > s->lim.max_conns + HTTP_OVERFLOW_CONNS) {
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	peer_name(c);
	if (client_count(s, c->peer, 1) > s->lim.max_per_client) {
		conn_fail(c, 503, "OVERLOADED", "too many connections from this address");
		return;
	}
	if (s->nconns - s->nclosing > s->lim.max_conns && !evict_idle(s)) {
		conn_fail(c, 503, "OVERLOADED", "too many connections");
		return;
	}
	conn_idle(c);
	conn_reading(c);
}

/* parse_hostport - "host:port", "[v6]:port", ":port" or "*:port" */
static int parse_hostport(const char *hp, struct sockaddr_storage *ss)
{
	char host[128];
	const char *colon = strrchr(hp, ':');
	size_t hl;
	char *end;
	long port;

	if (!colon || !colon[1])
		return -EINVAL;
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535)
		return -EINVAL;
	hl = (size_t)(colon - hp);
	if (hl >= 2 && hp[0] == '[' && hp[hl - 1] == ']') {
		if (hl - 2 >= sizeof(host))
			return -EINVAL;
		memcpy(host, hp + 1, hl - 2);
		host[hl - 2] = '\0';
		return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss);
	}
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, hp, hl);
	host[hl] = '\0';
	if (!*host || strcmp(host, "*") == 0)
		strcpy(host, "0.0.0.0");
	return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss);
}

/*
 * ignore_sigpipe - a client that has gone must cost an EPIPE, not the
 * process; a handler the program installed itself is left alone.
 */
static void ignore_sigpipe(void)
{
	struct sigaction sa;

	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
		sa.sa_handler = SIG_IGN;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = 0;
		sigaction(SIGPIPE, &sa, NULL);
	}
}

static void on_listener_closed(uv_handle_t *h)
{
	struct http_server *s = h->data;

	s->listener_closed = 1;
	server_maybe_done(s);
}

int http_server_start(uv_loop_t *loop, const char *hostport, const struct http_limits *lim,
		      http_handler_fn fn, void *data, struct http_server **out)
{
	struct http_server *s;
	struct sockaddr_storage ss;
	int namelen = sizeof(ss);
	int rc;

	*out = NULL;
	ignore_sigpipe();
	memset(&ss, 0, sizeof(ss));
	rc = parse_hostport(hostport, &ss);
	if (rc < 0)
		return rc;
	s = xcalloc(1, sizeof(*s));
	s->loop = loop;
	s->fn = fn;
	s->data = data;
	if (lim)
		s->lim = *lim;
	if (s->lim.tls)
		tls_ctx_ref(s->lim.tls);
	if (!s->lim.max_body)
		s->lim.max_body = HTTP_DEF_MAX_BODY;
	if (!s->lim.max_header)
		s->lim.max_header = HTTP_DEF_MAX_HEADER;
	if (s->lim.max_conns <= 0)
		s->lim.max_conns = HTTP_DEF_MAX_CONNS;
	if (!s->lim.idle_timeout_ms)
		s->lim.idle_timeout_ms = HTTP_DEF_IDLE_MS;
	if (!s->lim.header_timeout_ms)
		s->lim.header_timeout_ms = HTTP_DEF_HEADER_MS;
	if (!s->lim.body_timeout_ms)
		s->lim.body_timeout_ms = HTTP_DEF_BODY_MS;
	if (s->lim.max_per_client <= 0)
		s->lim.max_per_client = HTTP_DEF_PER_CLIENT;
	s->per_client = json_object();
	rc = uv_tcp_init(loop, &s->listener);
	if (rc < 0) {
		tls_ctx_unref(s->lim.tls);
		json_decref(s->per_client);
		free(s);
		return rc;
	}
	s->listener.data = s;
	rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
	if (rc < 0)
		goto out;
	rc = uv_listen((uv_stream_t *)&s->listener, 511, on_connection);
	if (rc < 0)
		goto out;
	rc = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &namelen);
	if (rc < 0)
		goto out;
	s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						 : ((struct sockaddr_in *)&ss)->sin_port);
	*out = s;
out:
	if (rc < 0) {
		/* freed once the loop has closed the handle */
		s->stopping = 1;
		uv_close((uv_handle_t *)&s->listener, on_listener_closed);
	}
	return rc;
}

void http_server_set_tls(struct http_server *s, struct tls_ctx *t)
{
	tls_ctx_unref(s->lim.tls);
	s->lim.tls = t ? tls_ctx_ref(t) : NULL;
}

int http_server_port(const struct http_server *s)
{
	return s->port;
}

void http_server_stop(struct http_server *s, void (*done)(void *), void *arg)
{
	if (s->stopping)
		return;
	s->stopping = 1;
	s->done = done;
	s->done_arg = arg;
	uv_close((uv_handle_t *)&s->listener, on_listener_closed);
	for (struct http_conn *c = s->conns; c; c = c->next)
		conn_close(c);
}
