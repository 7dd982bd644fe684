/*
 * test_http - the HTTP server against real sockets on 127.0.0.1.
 *
 * Each test runs a server on port 0 in its own loop; a client thread with
 * blocking sockets plays a scenario (raw bytes out, replies parsed with
 * http_parser in response mode) and records what it saw; the test checks
 * the record after the loop has closed every handle.
 */
#include "suites.h"

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

#include <http_parser.h>
#include <uv.h>

#include "http.h"

#define MAXRESP 8

struct resp {
	int status;
	char body[1024];
	size_t body_len;
	char connection[32];
	char ctype[64];
	char custom[32];
	int has_date;
};

/* one client connection and the replies read on it */
struct rclient {
	int fd;
	http_parser p;
	struct resp r[MAXRESP];
	int n;	 /* complete replies */
	int eof; /* the server closed */
	char field[64];
	size_t flen;
	int in_value;
};

struct tctx {
	uv_loop_t loop;
	uv_async_t async;
	struct http_server *srv;
	int port;
	void (*scenario)(struct tctx *);
	int client_done, pending, finished, stopped, stop_done;
	/* seen by the server side */
	int calls;
	int gone;
	int hdr_rc[4];
	/* seen by the client side */
	struct rclient rc[3];
	long elapsed_ms;
};

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

static long now_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void cl_connect(struct rclient *c, int port)
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

static void cl_send_n(struct rclient *c, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = send(c->fd, s, len, MSG_NOSIGNAL);
		if (n <= 0)
			return; /* the server may have closed: the replies tell */
		s += n;
		len -= (size_t)n;
	}
}

static void cl_send(struct rclient *c, const char *s)
{
	cl_send_n(c, s, strlen(s));
}

/* cl_read - read until want replies (and EOF if until_eof), or 3 s */
static void cl_read(struct rclient *c, int want, int until_eof)
{
	long deadline = now_mono_ms() + 3000;
	char buf[4096];

	while ((c->n < want || until_eof) && !c->eof) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		long left = deadline - now_mono_ms();
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

static void cl_close(struct rclient *c, int rst)
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
	for (int i = 0; i < 3; i++)
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

static void defer_reply(struct tctx *t, struct http_req *r, uint64_t ms)
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
		defer_reply(t, r,
			    http_req_query_param(r, "ms", a, sizeof(a)) ? strtoul(a, NULL, 10)
									: 50);
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
		defer_reply(t, r, 50);
	} else {
		http_respond(r, 404, "application/json", "{}", 2);
	}
}

/* run - serve until the scenario is over and every handle is closed */
static void run(struct tctx *t, const struct http_limits *lim, void (*scenario)(struct tctx *))
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

static struct tctx *tctx_new(void)
{
	struct tctx *t = calloc(1, sizeof(*t));

	for (int i = 0; i < 3; i++)
		t->rc[i].fd = -1;
	return t;
}

/* ---- scenarios and tests ---- */

static void sc_get(struct tctx *t)
{
	cl_connect(&t->rc[0], t->port);
	cl_send(&t->rc[0], "GET /echo/a%20b?x=1&y=%41 HTTP/1.1\r\nHost: t\r\n\r\n");
	cl_read(&t->rc[0], 1, 0);
}

START_TEST(test_get)
{
	struct tctx *t = tctx_new();
	struct resp *r = &t->rc[0].r[0];

	run(t, NULL, sc_get);
	ck_assert_int_eq(t->rc[0].n, 1);
	ck_assert_int_eq(r->status, 200);
	ck_assert_str_eq(r->body, "GET /echo/a b|x=1&y=%41|");
	ck_assert_str_eq(r->connection, "keep-alive");
	ck_assert_str_eq(r->ctype, "text/plain");
	ck_assert_int_eq(r->has_date, 1);
	free(t);
}
END_TEST

static void sc_post(struct tctx *t)
{
	cl_connect(&t->rc[0], t->port);
	cl_send(&t->rc[0], "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello");
	usleep(20000);
	cl_send(&t->rc[0], " world");
	cl_read(&t->rc[0], 1, 0);
}

START_TEST(test_post_body)
{
	struct tctx *t = tctx_new();

	run(t, NULL, sc_post);
	ck_assert_int_eq(t->rc[0].n, 1);
	ck_assert_int_eq(t->rc[0].r[0].status, 200);
	ck_assert_str_eq(t->rc[0].r[0].body, "POST /echo||hello world");
	free(t);
}
END_TEST

static void sc_keepalive(struct tctx *t)
{
	struct rclient *c = &t->rc[0];

	cl_connect(c, t->port);
	cl_send(c, "GET /echo?n=1 HTTP/1.1\r\nHost: t\r\n\r\n");
	cl_read(c, 1, 0);
	cl_send(c, "GET /echo?n=2 HTTP/1.1\r\nHost: t\r\n\r\n");
	cl_read(c, 2, 0);
	/* HTTP/1.0 keeps the connection only when asked */
	c = &t->rc[1];
	cl_connect(c, t->port);
	cl_send(c, "GET /echo?n=3 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	cl_read(c, 1, 0);
	cl_send(c, "GET /echo?n=4 HTTP/1.0\r\n\r\n");
	cl_read(c, 2, 1);
}

START_TEST(test_keepalive)
{
	struct tctx *t = tctx_new();

	run(t, NULL, sc_keepalive);
	ck_assert_int_eq(t->rc[0].n, 2);
	ck_assert_str_eq(t->rc[0].r[0].body, "GET /echo|n=1|");
	ck_assert_str_eq(t->rc[0].r[1].body, "GET /echo|n=2|");
	ck_assert_int_eq(t->rc[0].eof, 0);
	ck_assert_int_eq(t->rc[1].n, 2);
	ck_assert_str_eq(t->rc[1].r[0].connection, "keep-alive");
	ck_assert_str_eq(t->rc[1].r[1].body, "GET /echo|n=4|");
	ck_assert_str_eq(t->rc[1].r[1].connection, "close");
	ck_assert_int_eq(t->rc[1].eof, 1);
	ck_assert_int_eq(t->calls, 4);
	free(t);
}
END_TEST

static void sc_pipeline(struct tctx *t)
{
	cl_connect(&t->rc[0], t->port);
	cl_send(&t->rc[0], "GET /defer?ms=80&tag=a HTTP/1.1\r\nHost: t\r\n\r\n"
			   "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"
			   "GET /defer?ms=1&tag=c HTTP/1.1\r\nHost: t\r\n\r\n"
			   "GET /echo?last HTTP/1.1\r\nConnection: close\r\n\r\n"
			   "GET /echo?never HTTP/1.1\r\n\r\n");
	cl_read(&t->rc[0], 4, 1);
}

START_TEST(test_pipeline)
{
	struct tctx *t = tctx_new();
	struct rclient *c = &t->rc[0];

	run(t, NULL, sc_pipeline);
	ck_assert_int_eq(c->n, 4);
	ck_assert_str_eq(c->r[0].body, "deferred a");
	ck_assert_str_eq(c->r[1].body, "POST /echo||xyz");
	ck_assert_str_eq(c->r[2].body, "deferred c");
	ck_assert_str_eq(c->r[3].body, "GET /echo|last|");
	ck_assert_str_eq(c->r[3].connection, "close");
	ck_assert_int_eq(c->eof, 1);
	ck_assert_int_eq(t->calls, 4);
	free(t);
}
END_TEST

static void sc_chunked(struct tctx *t)
{
	cl_connect(&t->rc[0], t->port);
	cl_send(&t->rc[0], "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
	usleep(20000);
	cl_send(&t->rc[0], "lo\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
	cl_read(&t->rc[0], 1, 0);
}

START_TEST(test_chunked)
{
	struct tctx *t = tctx_new();

	run(t, NULL, sc_chunked);
	ck_assert_int_eq(t->rc[0].n, 1);
	ck_assert_str_eq(t->rc[0].r[0].body, "POST /echo||hello world");
	free(t);
}
END_TEST

static void sc_expect(struct tctx *t)
{
	struct rclient *c = &t->rc[0];

	cl_connect(c, t->port);
	cl_send(c, "POST /echo HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
	cl_read(c, 1, 0);
	cl_send(c, "hello");
	cl_read(c, 2, 0);
}

START_TEST(test_expect_continue)
{
	struct tctx *t = tctx_new();

	run(t, NULL, sc_expect);
	ck_assert_int_eq(t->rc[0].n, 2);
	ck_assert_int_eq(t->rc[0].r[0].status, 100);
	ck_assert_int_eq(t->rc[0].r[1].status, 200);
	ck_assert_str_eq(t->rc[0].r[1].body, "POST /echo||hello");
	free(t);
}
END_TEST

static void sc_too_large(struct tctx *t)
{
	char chunk[300];

	cl_connect(&t->rc[0], t->port);
	cl_send(&t->rc[0], "POST /echo HTTP/1.1\r\nContent-Length: 100000000\r\n\r\nsome of it");
	cl_read(&t->rc[0], 1, 1);
	/* chunked: found out while reading the body */
	memset(chunk, 'x', sizeof(chunk));
	cl_connect(&t->rc[1], t->port);
	cl_send(&t->rc[1], "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n12c\r\n");
	cl_send_n(&t->rc[1], chunk, sizeof(chunk));
	cl_send(&t->rc[1], "\r\n0\r\n\r\n");
	cl_read(&t->rc[1], 1, 1);
	/* Expect: 100-continue gets the 413 instead of the 100 */
	cl_connect(&t->rc[2], t->port);
	cl_send(&t->rc[2],
		"POST /echo HTTP/1.1\r\nContent-Length: 101\r\nExpect: 100-continue\r\n\r\n");
	cl_read(&t->rc[2], 1, 1);
}

START_TEST(test_body_too_large)
{
	struct tctx *t = tctx_new();
	struct http_limits lim = {.max_body = 100};

	run(t, &lim, sc_too_large);
	for (int i = 0; i < 3; i++) {
		struct rclient *c = &t->rc[i];
		ck_assert_int_eq(c->n, 1);
		ck_assert_int_eq(c->r[0].status, 413);
		ck_assert_ptr_nonnull(
			strstr(c->r[0].body, "{\"error\":{\"code\":\"BODY_TOO_LARGE\""));
		ck_assert_ptr_nonnull(strstr(c->r[0].body, "\"field\":null}}"));
		ck_assert_str_eq(c->r[0].ctype, "application/json");
		ck_assert_str_eq(c->r[0].connection, "close");
		ck_assert_int_eq(c->eof, 1);
	}
	ck_assert_int_eq(t->calls, 0);
	free(t);
}
END_TEST

static void sc_malformed(struct tctx *t)
{
	cl_connect(&t->rc[0], t->port);
	cl_send(&t->rc[0], "GET /echo HTTP/x.1\r\n\r\n");
	cl_read(&t->rc[0], 1, 1);
	cl_connect(&t->rc[1], t->port);
	cl_send(&t->rc[1],
		"GET /echo HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab");
	cl_read(&t->rc[1], 1, 1);
	cl_connect(&t->rc[2], t->port);
	cl_send(&t->rc[2], "GET /a%zz HTTP/1.1\r\n\r\n");
	cl_read(&t->rc[2], 1, 1);
}

START_TEST(test_malformed)
{
	struct tctx *t = tctx_new();

	run(t, NULL, sc_malformed);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(t->rc[i].n, 1);
		ck_assert_msg(t->rc[i].r[0].status == 400, "case %d: %d %s", i,
			      t->rc[i].r[0].status, t->rc[i].r[0].body);
		ck_assert_ptr_nonnull(strstr(t->rc[i].r[0].body, "\"code\":\"BAD_REQUEST\""));
		ck_assert_int_eq(t->rc[i].eof, 1);
	}
	ck_assert_ptr_nonnull(
		strstr(t->rc[0].r[0].body, http_errno_description(HPE_INVALID_VERSION)));
	ck_assert_ptr_nonnull(strstr(t->rc[2].r[0].body, "invalid request target"));
	ck_assert_int_eq(t->calls, 0);
	free(t);
}
END_TEST

static void sc_header_large(struct tctx *t)
{
	char big[3000];

	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cl_connect(&t->rc[0], t->port);
	cl_send(&t->rc[0], "GET /echo HTTP/1.1\r\nX-Big: ");
	cl_send(&t->rc[0], big);
	cl_send(&t->rc[0], "\r\n\r\n");
	cl_read(&t->rc[0], 1, 1);
	cl_connect(&t->rc[1], t->port);
	cl_send(&t->rc[1], "GET /echo?");
	cl_send(&t->rc[1], big);
	cl_send(&t->rc[1], " HTTP/1.1\r\n\r\n");
	cl_read(&t->rc[1], 1, 1);
	/* just under the limit is fine */
	cl_connect(&t->rc[2], t->port);
	big[900] = '\0';
	cl_send(&t->rc[2], "GET /echo HTTP/1.1\r\nX-Big: ");
	cl_send(&t->rc[2], big);
	cl_send(&t->rc[2], "\r\n\r\n");
	cl_read(&t->rc[2], 1, 0);
}

START_TEST(test_header_too_large)
{
	struct tctx *t = tctx_new();
	struct http_limits lim = {.max_header = 1024};

	run(t, &lim, sc_header_large);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(t->rc[i].n, 1);
		ck_assert_int_eq(t->rc[i].r[0].status, 431);
		ck_assert_ptr_nonnull(strstr(t->rc[i].r[0].body, "HEADER_TOO_LARGE"));
		ck_assert_int_eq(t->rc[i].eof, 1);
	}
	ck_assert_int_eq(t->rc[2].r[0].status, 200);
	ck_assert_int_eq(t->calls, 1);
	free(t);
}
END_TEST

static void sc_deferred(struct tctx *t)
{
	long t0 = now_mono_ms();

	cl_connect(&t->rc[0], t->port);
	cl_send(&t->rc[0], "GET /defer?ms=150&tag=x HTTP/1.1\r\n\r\n");
	cl_read(&t->rc[0], 1, 0);
	t->elapsed_ms = now_mono_ms() - t0;
	cl_send(&t->rc[0], "GET /echo HTTP/1.1\r\n\r\n");
	cl_read(&t->rc[0], 2, 0);
}

START_TEST(test_deferred)
{
	struct tctx *t = tctx_new();

	run(t, NULL, sc_deferred);
	ck_assert_int_eq(t->rc[0].n, 2);
	ck_assert_str_eq(t->rc[0].r[0].body, "deferred x");
	ck_assert_str_eq(t->rc[0].r[1].body, "GET /echo||");
	ck_assert_int_ge(t->elapsed_ms, 140);
	ck_assert_int_eq(t->gone, 0);
	free(t);
}
END_TEST

static void sc_disconnect(struct tctx *t)
{
	cl_connect(&t->rc[0], t->port);
	cl_send(&t->rc[0], "GET /defer?ms=150 HTTP/1.1\r\n\r\nGET /echo HTTP/1.1\r\n\r\n");
	usleep(20000);
	cl_close(&t->rc[0], 1);
}

START_TEST(test_disconnect_reset)
{
	struct tctx *t = tctx_new();

	run(t, NULL, sc_disconnect);
	ck_assert_int_eq(t->calls, 1);
	ck_assert_int_eq(t->gone, 1);
	free(t);
}
END_TEST

static void sc_disconnect_fin(struct tctx *t)
{
	cl_connect(&t->rc[0], t->port);
	cl_send(&t->rc[0], "GET /defer?ms=100 HTTP/1.1\r\n\r\nGET /defer?ms=100 HTTP/1.1\r\n\r\n");
	usleep(20000);
	cl_close(&t->rc[0], 0);
	usleep(300000);
}

START_TEST(test_disconnect_fin)
{
	struct tctx *t = tctx_new();

	run(t, NULL, sc_disconnect_fin);
	ck_assert_int_ge(t->calls, 1);
	free(t);
}
END_TEST

static void sc_halfclose(struct tctx *t)
{
	cl_connect(&t->rc[0], t->port);
	cl_send(&t->rc[0], "GET /defer?ms=50&tag=h HTTP/1.1\r\n\r\nGET /echo HTTP/1.1\r\n\r\n");
	shutdown(t->rc[0].fd, SHUT_WR);
	cl_read(&t->rc[0], 2, 1);
}

START_TEST(test_halfclose)
{
	struct tctx *t = tctx_new();

	run(t, NULL, sc_halfclose);
	ck_assert_int_eq(t->rc[0].n, 2);
	ck_assert_str_eq(t->rc[0].r[0].body, "deferred h");
	ck_assert_str_eq(t->rc[0].r[1].body, "GET /echo||");
	ck_assert_int_eq(t->rc[0].eof, 1);
	free(t);
}
END_TEST

static void sc_query(struct tctx *t)
{
	cl_connect(&t->rc[0], t->port);
	cl_send(&t->rc[0],
		"GET /q?x=1&name=J%C3%BCrgen+M%20x&flag&bad=%zz&name=second HTTP/1.1\r\n\r\n");
	cl_read(&t->rc[0], 1, 0);
}

START_TEST(test_query_param)
{
	struct tctx *t = tctx_new();

	run(t, NULL, sc_query);
	ck_assert_int_eq(t->rc[0].n, 1);
	ck_assert_str_eq(t->rc[0].r[0].body, "[J\xc3\xbcrgen M x][][NULL][NULL][NULL]");
	free(t);
}
END_TEST

static void sc_header(struct tctx *t)
{
	cl_connect(&t->rc[0], t->port);
	cl_send(&t->rc[0], "GET /hdr HTTP/1.1\r\nHost: t\r\nX-TEST: Value 1\r\nX-Other:\r\n\r\n");
	cl_read(&t->rc[0], 1, 0);
}

START_TEST(test_header_lookup)
{
	struct tctx *t = tctx_new();

	run(t, NULL, sc_header);
	ck_assert_int_eq(t->rc[0].n, 1);
	ck_assert_str_eq(t->rc[0].r[0].body, "Value 1 NULL");
	free(t);
}
END_TEST

static void sc_extra(struct tctx *t)
{
	cl_connect(&t->rc[0], t->port);
	cl_send(&t->rc[0], "GET /extra HTTP/1.1\r\n\r\n");
	cl_read(&t->rc[0], 1, 1);
}

START_TEST(test_extra_headers)
{
	struct tctx *t = tctx_new();
	struct resp *r = &t->rc[0].r[0];

	run(t, NULL, sc_extra);
	ck_assert_int_eq(t->hdr_rc[0], 0);
	ck_assert_int_eq(t->hdr_rc[1], -EINVAL);
	ck_assert_int_eq(t->hdr_rc[2], -EINVAL);
	ck_assert_int_eq(t->hdr_rc[3], 0);
	ck_assert_int_eq(r->status, 201);
	ck_assert_str_eq(r->custom, "yes");
	ck_assert_str_eq(r->connection, "close");
	ck_assert_str_eq(r->body, "{}");
	ck_assert_int_eq(t->rc[0].eof, 1);
	free(t);
}
END_TEST

static void sc_idle(struct tctx *t)
{
	long t0 = now_mono_ms();

	cl_connect(&t->rc[0], t->port);
	cl_read(&t->rc[0], 0, 1);
	t->elapsed_ms = now_mono_ms() - t0;
}

START_TEST(test_idle_timeout)
{
	struct tctx *t = tctx_new();
	struct http_limits lim = {.idle_timeout_ms = 200};

	run(t, &lim, sc_idle);
	ck_assert_int_eq(t->rc[0].eof, 1);
	ck_assert_int_eq(t->rc[0].n, 0);
	ck_assert_int_ge(t->elapsed_ms, 150);
	ck_assert_int_lt(t->elapsed_ms, 2000);
	free(t);
}
END_TEST

static void sc_max_conns(struct tctx *t)
{
	cl_connect(&t->rc[0], t->port);
	cl_send(&t->rc[0], "GET /echo?a HTTP/1.1\r\n\r\n");
	cl_read(&t->rc[0], 1, 0);
	cl_connect(&t->rc[1], t->port);
	cl_send(&t->rc[1], "GET /echo?b HTTP/1.1\r\n\r\n");
	cl_read(&t->rc[1], 1, 1);
	cl_send(&t->rc[0], "GET /echo?c HTTP/1.1\r\n\r\n");
	cl_read(&t->rc[0], 2, 0);
}

START_TEST(test_max_conns)
{
	struct tctx *t = tctx_new();
	struct http_limits lim = {.max_conns = 1};

	run(t, &lim, sc_max_conns);
	ck_assert_int_eq(t->rc[0].n, 2);
	ck_assert_str_eq(t->rc[0].r[1].body, "GET /echo|c|");
	ck_assert_int_eq(t->rc[1].n, 1);
	ck_assert_int_eq(t->rc[1].r[0].status, 503);
	ck_assert_int_eq(t->rc[1].eof, 1);
	ck_assert_int_eq(t->calls, 2);
	free(t);
}
END_TEST

static void sc_stop(struct tctx *t)
{
	cl_connect(&t->rc[0], t->port);
	cl_send(&t->rc[0], "GET /stop HTTP/1.1\r\n\r\n");
	cl_read(&t->rc[0], 1, 1);
}

START_TEST(test_stop_with_pending)
{
	struct tctx *t = tctx_new();

	run(t, NULL, sc_stop);
	ck_assert_int_eq(t->rc[0].n, 0);
	ck_assert_int_eq(t->rc[0].eof, 1);
	ck_assert_int_eq(t->gone, 1);
	free(t);
}
END_TEST

static void sc_garbage(struct tctx *t)
{
	unsigned int seed = 12345;
	char buf[512];

	for (int i = 0; i < 60; i++) {
		struct rclient c;
		size_t n = (size_t)(rand_r(&seed) % sizeof(buf)) + 1;

		for (size_t k = 0; k < n; k++)
			buf[k] = (char)rand_r(&seed);
		if (i % 3 == 0) { /* a plausible start, then noise */
			static const char start[] = "POST /echo HTTP/1.1\r\nContent-Length: 3";
			memcpy(buf, start, n < sizeof(start) - 1 ? n : sizeof(start) - 1);
		}
		cl_connect(&c, t->port);
		cl_send_n(&c, buf, n);
		cl_read(&c, 1, 0);
		if (c.n == 1 && c.r[0].status != 400 && c.r[0].status != 431)
			t->calls += 1000;
		cl_close(&c, i % 2);
	}
}

START_TEST(test_garbage)
{
	struct tctx *t = tctx_new();
	struct http_limits lim = {.idle_timeout_ms = 100};

	run(t, &lim, sc_garbage);
	ck_assert_int_lt(t->calls, 1000);
	free(t);
}
END_TEST

Suite *http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("server");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_get);
	tcase_add_test(tc, test_post_body);
	tcase_add_test(tc, test_keepalive);
	tcase_add_test(tc, test_pipeline);
	tcase_add_test(tc, test_chunked);
	tcase_add_test(tc, test_expect_continue);
	tcase_add_test(tc, test_body_too_large);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_header_too_large);
	tcase_add_test(tc, test_deferred);
	tcase_add_test(tc, test_disconnect_reset);
	tcase_add_test(tc, test_disconnect_fin);
	tcase_add_test(tc, test_halfclose);
	tcase_add_test(tc, test_query_param);
	tcase_add_test(tc, test_header_lookup);
	tcase_add_test(tc, test_extra_headers);
	tcase_add_test(tc, test_idle_timeout);
	tcase_add_test(tc, test_max_conns);
	tcase_add_test(tc, test_stop_with_pending);
	tcase_add_test(tc, test_garbage);
	suite_add_tcase(s, tc);
	return s;
}
