/*
 * http_harness - the unit tests' HTTP rig (see http_harness.h).
 */
#include "http_harness.h"

#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- client side (its own thread, blocking sockets) ---- */

static int rc_on_begin(http_parser *p)
{
	struct rclient *c = p->data;

	if (c->n < MAXRESP)
		memset(&c->r[c->n], 0, sizeof(c->r[0]));
	c->flen = 0;
	c->in_value = 0;
	return 0;
}

static int rc_on_field(http_parser *p, const char *at, size_t len)
{
	struct rclient *c = p->data;

	if (c->in_value)
		c->flen = 0;
	c->in_value = 0;
	if (c->flen + len < sizeof(c->field)) {
		memcpy(c->field + c->flen, at, len);
		c->flen += len;
	}
	c->field[c->flen] = '\0';
	return 0;
}

static void copy_val(char *dst, size_t n, const char *at, size_t len)
{
	size_t have = strlen(dst);

	if (have + len >= n)
		len = n - have - 1;
	memcpy(dst + have, at, len);
	dst[have + len] = '\0';
}

static int rc_on_value(http_parser *p, const char *at, size_t len)
{
	struct rclient *c = p->data;
	struct resp *r = &c->r[c->n < MAXRESP ? c->n : MAXRESP - 1];

	c->in_value = 1;
	if (strcasecmp(c->field, "Connection") == 0)
		copy_val(r->connection, sizeof(r->connection), at, len);
	else if (strcasecmp(c->field, "Content-Type") == 0)
		copy_val(r->ctype, sizeof(r->ctype), at, len);
	else if (strcasecmp(c->field, "X-Custom") == 0)
		copy_val(r->custom, sizeof(r->custom), at, len);
	else if (strcasecmp(c->field, "Date") == 0)
		r->has_date = 1;
	return 0;
}

static int rc_on_body(http_parser *p, const char *at, size_t len)
{
	struct rclient *c = p->data;
	struct resp *r = &c->r[c->n < MAXRESP ? c->n : MAXRESP - 1];

	if (r->body_len + len >= sizeof(r->body))
		len = sizeof(r->body) - r->body_len - 1;
	memcpy(r->body + r->body_len, at, len);
	r->body_len += len;
	return 0;
}

static int rc_on_complete(http_parser *p)
{
	struct rclient *c = p->data;

	if (c->n < MAXRESP)
		c->r[c->n].status = (int)p->status_code;
	c->n++;
	return 0;
}

static const http_parser_settings rc_settings = {
	.on_message_begin = rc_on_begin,
	.on_header_field = rc_on_field,
	.on_header_value = rc_on_value,
	.on_body = rc_on_body,
	.on_message_complete = rc_on_complete,
};

long http_t_now_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

void http_t_cl_connect(struct rclient *c, int port)
{
	struct sockaddr_in sa;
	int one = 1;

	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(c->fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	http_parser_init(&c->p, HTTP_RESPONSE);
	c->p.data = c;
}

void http_t_cl_send_n(struct rclient *c, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = send(c->fd, s, len, MSG_NOSIGNAL);
		if (n <= 0)
			return; /* the server may have closed: the replies tell */
		s += n;
		len -= (size_t)n;
	}
}

void http_t_cl_send(struct rclient *c, const char *s)
{
	http_t_cl_send_n(c, s, strlen(s));
}

/* cl_read - read until want replies (and EOF if until_eof), or 3 s */
void http_t_cl_read(struct rclient *c, int want, int until_eof)
{
	long deadline = http_t_now_mono_ms() + 3000;
	char buf[4096];

	while ((c->n < want || until_eof) && !c->eof) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		long left = deadline - http_t_now_mono_ms();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return;
		n = recv(c->fd, buf, sizeof(buf), 0);
		if (n <= 0) {
			c->eof = 1;
			http_parser_execute(&c->p, &rc_settings, NULL, 0);
			return;
		}
		http_parser_execute(&c->p, &rc_settings, buf, (size_t)n);
	}
}

void http_t_cl_close(struct rclient *c, int rst)
{
	if (rst) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(c->fd);
	c->fd = -1;
}

static void *client_main(void *arg)
{
	struct tctx *t = arg;

	t->scenario(t);
	for (size_t i = 0; i < sizeof(t->rc) / sizeof(t->rc[0]); i++)
		if (t->rc[i].fd > 0)
			close(t->rc[i].fd);
	uv_async_send(&t->async);
	return NULL;
}

/* ---- server side (the loop thread) ---- */

static void on_stopped(void *arg)
{
	((struct tctx *)arg)->stop_done = 1;
}

static void maybe_stop(struct tctx *t)
{
	if (!t->client_done || t->pending > 0 || t->finished)
		return;
	t->finished = 1;
	uv_close((uv_handle_t *)&t->async, NULL);
	if (!t->stopped) {
		t->stopped = 1;
		http_server_stop(t->srv, on_stopped, t);
	}
}

static void on_async(uv_async_t *a)
{
	struct tctx *t = a->data;

	t->client_done = 1;
	maybe_stop(t);
}

struct defer {
	uv_timer_t timer;
	struct http_req *req;
	struct tctx *t;
	char tag[32];
};

static void defer_closed(uv_handle_t *h)
{
	free(h->data);
}

static void on_defer(uv_timer_t *tm)
{
	struct defer *d = tm->data;
	char out[64];
	int n = snprintf(out, sizeof(out), "deferred %s", d->tag);

	d->t->gone = http_req_gone(d->req);
	http_respond(d->req, 200, "text/plain", out, (size_t)n);
	uv_close((uv_handle_t *)&d->timer, defer_closed);
	d->t->pending--;
	maybe_stop(d->t);
}

void http_t_defer_reply(struct tctx *t, struct http_req *r, uint64_t ms)
{
	struct defer *d = calloc(1, sizeof(*d));
	char tag[32];

	d->req = r;
	d->t = t;
	if (http_req_query_param(r, "tag", tag, sizeof(tag)))
		snprintf(d->tag, sizeof(d->tag), "%s", tag);
	uv_timer_init(&t->loop, &d->timer);
	d->timer.data = d;
	uv_timer_start(&d->timer, on_defer, ms, 0);
	t->pending++;
}

static void handler(struct http_req *r, void *data)
{
	struct tctx *t = data;
	char out[1200], a[64], b[64], c[64], d[64];
	int n;

	t->calls++;
	if (strncmp(r->path, "/echo", 5) == 0) {
		n = snprintf(out, sizeof(out), "%s %s|%s|%.*s", r->method, r->path, r->query,
			     (int)(r->body_len > 1000 ? 1000 : r->body_len), r->body);
		http_respond(r, 200, "text/plain", out, (size_t)n);
	} else if (strcmp(r->path, "/defer") == 0) {
		http_t_defer_reply(
			t, r,
			http_req_query_param(r, "ms", a, sizeof(a)) ? strtoul(a, NULL, 10) : 50);
	} else if (strcmp(r->path, "/hdr") == 0) {
		const char *v = http_req_header(r, "x-test");
		const char *m = http_req_header(r, "X-Missing");
		n = snprintf(out, sizeof(out), "%s %s", v ? v : "NULL", m ? m : "NULL");
		http_respond(r, 200, "text/plain", out, (size_t)n);
	} else if (strcmp(r->path, "/q") == 0) {
		const char *va = http_req_query_param(r, "name", a, sizeof(a));
		const char *vb = http_req_query_param(r, "flag", b, sizeof(b));
		const char *vc = http_req_query_param(r, "bad", c, sizeof(c));
		const char *vd = http_req_query_param(r, "missing", d, sizeof(d));
		char tiny[3];
		const char *ve = http_req_query_param(r, "name", tiny, sizeof(tiny));
		n = snprintf(out, sizeof(out), "[%s][%s][%s][%s][%s]", va ? va : "NULL",
			     vb ? vb : "NULL", vc ? vc : "NULL", vd ? vd : "NULL",
			     ve ? ve : "NULL");
		http_respond(r, 200, "text/plain", out, (size_t)n);
	} else if (strcmp(r->path, "/extra") == 0) {
		t->hdr_rc[0] = http_respond_header(r, "X-Custom", "yes");
		t->hdr_rc[1] = http_respond_header(r, "X-Bad", "a\r\nInjected: 1");
		t->hdr_rc[2] = http_respond_header(r, "Content-Length", "5");
		t->hdr_rc[3] = http_respond_header(r, "Connection", "close");
		http_respond(r, 201, "application/json", "{}", 2);
	} else if (strcmp(r->path, "/stop") == 0) {
		/* stop from inside a handler while holding the request */
		t->stopped = 1;
		http_server_stop(t->srv, on_stopped, t);
		http_t_defer_reply(t, r, 50);
	} else {
		http_respond(r, 404, "application/json", "{}", 2);
	}
}

/* run - serve until the scenario is over and every handle is closed */
void http_t_run(struct tctx *t, const struct http_limits *lim, void (*scenario)(struct tctx *))
{
	pthread_t th;

	ck_assert_int_eq(uv_loop_init(&t->loop), 0);
	ck_assert_int_eq(http_server_start(&t->loop, "127.0.0.1:0", lim, handler, t, &t->srv), 0);
	t->port = http_server_port(t->srv);
	ck_assert_int_gt(t->port, 0);
	t->scenario = scenario;
	uv_async_init(&t->loop, &t->async, on_async);
	t->async.data = t;
	ck_assert_int_eq(pthread_create(&th, NULL, client_main, t), 0);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	pthread_join(th, NULL);
	ck_assert_int_eq(t->stop_done, 1);
	ck_assert_int_eq(uv_loop_close(&t->loop), 0);
}

struct tctx *http_t_tctx_new(void)
{
	struct tctx *t = calloc(1, sizeof(*t));

	for (size_t i = 0; i < sizeof(t->rc) / sizeof(t->rc[0]); i++)
		t->rc[i].fd = -1;
	return t;
}

/* ---- scenarios and tests ---- */
