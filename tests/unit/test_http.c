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
#include "http_harness.h"

static void sc_get(struct tctx *t)
{
	http_t_cl_connect(&t->rc[0], t->port);
	http_t_cl_send(&t->rc[0], "GET /echo/a%20b?x=1&y=%41 HTTP/1.1\r\nHost: t\r\n\r\n");
	http_t_cl_read(&t->rc[0], 1, 0);
}

START_TEST(test_get)
{
	struct tctx *t = http_t_tctx_new();
	struct resp *r = &t->rc[0].r[0];

	http_t_run(t, NULL, sc_get);
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
	http_t_cl_connect(&t->rc[0], t->port);
	http_t_cl_send(&t->rc[0],
		       "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello");
	usleep(20000);
	http_t_cl_send(&t->rc[0], " world");
	http_t_cl_read(&t->rc[0], 1, 0);
}

START_TEST(test_post_body)
{
	struct tctx *t = http_t_tctx_new();

	http_t_run(t, NULL, sc_post);
	ck_assert_int_eq(t->rc[0].n, 1);
	ck_assert_int_eq(t->rc[0].r[0].status, 200);
	ck_assert_str_eq(t->rc[0].r[0].body, "POST /echo||hello world");
	free(t);
}
END_TEST

static void sc_keepalive(struct tctx *t)
{
	struct rclient *c = &t->rc[0];

	http_t_cl_connect(c, t->port);
	http_t_cl_send(c, "GET /echo?n=1 HTTP/1.1\r\nHost: t\r\n\r\n");
	http_t_cl_read(c, 1, 0);
	http_t_cl_send(c, "GET /echo?n=2 HTTP/1.1\r\nHost: t\r\n\r\n");
	http_t_cl_read(c, 2, 0);
	/* HTTP/1.0 keeps the connection only when asked */
	c = &t->rc[1];
	http_t_cl_connect(c, t->port);
	http_t_cl_send(c, "GET /echo?n=3 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	http_t_cl_read(c, 1, 0);
	http_t_cl_send(c, "GET /echo?n=4 HTTP/1.0\r\n\r\n");
	http_t_cl_read(c, 2, 1);
}

START_TEST(test_keepalive)
{
	struct tctx *t = http_t_tctx_new();

	http_t_run(t, NULL, sc_keepalive);
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
	http_t_cl_connect(&t->rc[0], t->port);
	http_t_cl_send(&t->rc[0], "GET /defer?ms=80&tag=a HTTP/1.1\r\nHost: t\r\n\r\n"
				  "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyz"
				  "GET /defer?ms=1&tag=c HTTP/1.1\r\nHost: t\r\n\r\n"
				  "GET /echo?last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
				  "GET /echo?never HTTP/1.1\r\nHost: t\r\n\r\n");
	http_t_cl_read(&t->rc[0], 4, 1);
}

START_TEST(test_pipeline)
{
	struct tctx *t = http_t_tctx_new();
	struct rclient *c = &t->rc[0];

	http_t_run(t, NULL, sc_pipeline);
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
	http_t_cl_connect(&t->rc[0], t->port);
	http_t_cl_send(
		&t->rc[0],
		"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
	usleep(20000);
	http_t_cl_send(&t->rc[0], "lo\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
	http_t_cl_read(&t->rc[0], 1, 0);
}

START_TEST(test_chunked)
{
	struct tctx *t = http_t_tctx_new();

	http_t_run(t, NULL, sc_chunked);
	ck_assert_int_eq(t->rc[0].n, 1);
	ck_assert_str_eq(t->rc[0].r[0].body, "POST /echo||hello world");
	free(t);
}
END_TEST

static void sc_expect(struct tctx *t)
{
	struct rclient *c = &t->rc[0];

	http_t_cl_connect(c, t->port);
	http_t_cl_send(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: "
			  "100-continue\r\n\r\n");
	http_t_cl_read(c, 1, 0);
	http_t_cl_send(c, "hello");
	http_t_cl_read(c, 2, 0);
}

START_TEST(test_expect_continue)
{
	struct tctx *t = http_t_tctx_new();

	http_t_run(t, NULL, sc_expect);
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

	http_t_cl_connect(&t->rc[0], t->port);
	http_t_cl_send(
		&t->rc[0],
		"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\nsome of it");
	http_t_cl_read(&t->rc[0], 1, 1);
	/* chunked: found out while reading the body */
	memset(chunk, 'x', sizeof(chunk));
	http_t_cl_connect(&t->rc[1], t->port);
	http_t_cl_send(
		&t->rc[1],
		"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n12c\r\n");
	http_t_cl_send_n(&t->rc[1], chunk, sizeof(chunk));
	http_t_cl_send(&t->rc[1], "\r\n0\r\n\r\n");
	http_t_cl_read(&t->rc[1], 1, 1);
	/* Expect: 100-continue gets the 413 instead of the 100 */
	http_t_cl_connect(&t->rc[2], t->port);
	http_t_cl_send(&t->rc[2], "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: "
				  "101\r\nExpect: 100-continue\r\n\r\n");
	http_t_cl_read(&t->rc[2], 1, 1);
}

START_TEST(test_body_too_large)
{
	struct tctx *t = http_t_tctx_new();
	struct http_limits lim = {.max_body = 100};

	http_t_run(t, &lim, sc_too_large);
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
	http_t_cl_connect(&t->rc[0], t->port);
	http_t_cl_send(&t->rc[0], "GET /echo HTTP/x.1\r\n\r\n");
	http_t_cl_read(&t->rc[0], 1, 1);
	http_t_cl_connect(&t->rc[1], t->port);
	http_t_cl_send(&t->rc[1], "GET /echo HTTP/1.1\r\nHost: t\r\nContent-Length: "
				  "1\r\nContent-Length: 2\r\n\r\nab");
	http_t_cl_read(&t->rc[1], 1, 1);
	http_t_cl_connect(&t->rc[2], t->port);
	http_t_cl_send(&t->rc[2], "GET /a%zz HTTP/1.1\r\nHost: t\r\n\r\n");
	http_t_cl_read(&t->rc[2], 1, 1);
}

START_TEST(test_malformed)
{
	struct tctx *t = http_t_tctx_new();

	http_t_run(t, NULL, sc_malformed);
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
	http_t_cl_connect(&t->rc[0], t->port);
	http_t_cl_send(&t->rc[0], "GET /echo HTTP/1.1\r\nHost: t\r\nX-Big: ");
	http_t_cl_send(&t->rc[0], big);
	http_t_cl_send(&t->rc[0], "\r\n\r\n");
	http_t_cl_read(&t->rc[0], 1, 1);
	http_t_cl_connect(&t->rc[1], t->port);
	http_t_cl_send(&t->rc[1], "GET /echo?");
	http_t_cl_send(&t->rc[1], big);
	http_t_cl_send(&t->rc[1], " HTTP/1.1\r\nHost: t\r\n\r\n");
	http_t_cl_read(&t->rc[1], 1, 1);
	/* just under the limit is fine */
	http_t_cl_connect(&t->rc[2], t->port);
	big[900] = '\0';
	http_t_cl_send(&t->rc[2], "GET /echo HTTP/1.1\r\nHost: t\r\nX-Big: ");
	http_t_cl_send(&t->rc[2], big);
	http_t_cl_send(&t->rc[2], "\r\n\r\n");
	http_t_cl_read(&t->rc[2], 1, 0);
}

START_TEST(test_header_too_large)
{
	struct tctx *t = http_t_tctx_new();
	struct http_limits lim = {.max_header = 1024};

	http_t_run(t, &lim, sc_header_large);
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
	long t0 = http_t_now_mono_ms();

	http_t_cl_connect(&t->rc[0], t->port);
	http_t_cl_send(&t->rc[0], "GET /defer?ms=150&tag=x HTTP/1.1\r\nHost: t\r\n\r\n");
	http_t_cl_read(&t->rc[0], 1, 0);
	t->elapsed_ms = http_t_now_mono_ms() - t0;
	http_t_cl_send(&t->rc[0], "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
	http_t_cl_read(&t->rc[0], 2, 0);
}

START_TEST(test_deferred)
{
	struct tctx *t = http_t_tctx_new();

	http_t_run(t, NULL, sc_deferred);
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
	http_t_cl_connect(&t->rc[0], t->port);
	http_t_cl_send(&t->rc[0], "GET /defer?ms=150 HTTP/1.1\r\nHost: t\r\n\r\nGET /echo "
				  "HTTP/1.1\r\nHost: t\r\n\r\n");
	usleep(20000);
	http_t_cl_close(&t->rc[0], 1);
}

START_TEST(test_disconnect_reset)
{
	struct tctx *t = http_t_tctx_new();

	http_t_run(t, NULL, sc_disconnect);
	ck_assert_int_eq(t->calls, 1);
	ck_assert_int_eq(t->gone, 1);
	free(t);
}
END_TEST

static void sc_disconnect_fin(struct tctx *t)
{
	http_t_cl_connect(&t->rc[0], t->port);
	http_t_cl_send(&t->rc[0], "GET /defer?ms=100 HTTP/1.1\r\nHost: t\r\n\r\nGET /defer?ms=100 "
				  "HTTP/1.1\r\nHost: t\r\n\r\n");
	usleep(20000);
	http_t_cl_close(&t->rc[0], 0);
	usleep(300000);
}

START_TEST(test_disconnect_fin)
{
	struct tctx *t = http_t_tctx_new();

	http_t_run(t, NULL, sc_disconnect_fin);
	ck_assert_int_ge(t->calls, 1);
	free(t);
}
END_TEST

static void sc_halfclose(struct tctx *t)
{
	http_t_cl_connect(&t->rc[0], t->port);
	http_t_cl_send(&t->rc[0], "GET /defer?ms=50&tag=h HTTP/1.1\r\nHost: t\r\n\r\nGET /echo "
				  "HTTP/1.1\r\nHost: t\r\n\r\n");
	shutdown(t->rc[0].fd, SHUT_WR);
	http_t_cl_read(&t->rc[0], 2, 1);
}

START_TEST(test_halfclose)
{
	struct tctx *t = http_t_tctx_new();

	http_t_run(t, NULL, sc_halfclose);
	ck_assert_int_eq(t->rc[0].n, 2);
	ck_assert_str_eq(t->rc[0].r[0].body, "deferred h");
	ck_assert_str_eq(t->rc[0].r[1].body, "GET /echo||");
	ck_assert_int_eq(t->rc[0].eof, 1);
	free(t);
}
END_TEST

static void sc_query(struct tctx *t)
{
	http_t_cl_connect(&t->rc[0], t->port);
	http_t_cl_send(&t->rc[0], "GET /q?x=1&name=J%C3%BCrgen+M%20x&flag&bad=%zz&name=second "
				  "HTTP/1.1\r\nHost: t\r\n\r\n");
	http_t_cl_read(&t->rc[0], 1, 0);
}

START_TEST(test_query_param)
{
	struct tctx *t = http_t_tctx_new();

	http_t_run(t, NULL, sc_query);
	ck_assert_int_eq(t->rc[0].n, 1);
	ck_assert_str_eq(t->rc[0].r[0].body, "[J\xc3\xbcrgen M x][][NULL][NULL][NULL]");
	free(t);
}
END_TEST

static void sc_header(struct tctx *t)
{
	http_t_cl_connect(&t->rc[0], t->port);
	http_t_cl_send(&t->rc[0],
		       "GET /hdr HTTP/1.1\r\nHost: t\r\nX-TEST: Value 1\r\nX-Other:\r\n\r\n");
	http_t_cl_read(&t->rc[0], 1, 0);
}

START_TEST(test_header_lookup)
{
	struct tctx *t = http_t_tctx_new();

	http_t_run(t, NULL, sc_header);
	ck_assert_int_eq(t->rc[0].n, 1);
	ck_assert_str_eq(t->rc[0].r[0].body, "Value 1 NULL");
	free(t);
}
END_TEST

static void sc_extra(struct tctx *t)
{
	http_t_cl_connect(&t->rc[0], t->port);
	http_t_cl_send(&t->rc[0], "GET /extra HTTP/1.1\r\nHost: t\r\n\r\n");
	http_t_cl_read(&t->rc[0], 1, 1);
}

START_TEST(test_extra_headers)
{
	struct tctx *t = http_t_tctx_new();
	struct resp *r = &t->rc[0].r[0];

	http_t_run(t, NULL, sc_extra);
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
	long t0 = http_t_now_mono_ms();

	http_t_cl_connect(&t->rc[0], t->port);
	http_t_cl_read(&t->rc[0], 0, 1);
	t->elapsed_ms = http_t_now_mono_ms() - t0;
}

START_TEST(test_idle_timeout)
{
	struct tctx *t = http_t_tctx_new();
	struct http_limits lim = {.idle_timeout_ms = 200};

	http_t_run(t, &lim, sc_idle);
	ck_assert_int_eq(t->rc[0].eof, 1);
	ck_assert_int_eq(t->rc[0].n, 0);
	ck_assert_int_ge(t->elapsed_ms, 150);
	ck_assert_int_lt(t->elapsed_ms, 2000);
	free(t);
}
END_TEST

/* slots short: an idle keep-alive goes first; a connection mid-request never does */
static void sc_max_conns(struct tctx *t)
{
	http_t_cl_connect(&t->rc[0], t->port);
	http_t_cl_send(&t->rc[0], "GET /echo?a HTTP/1.1\r\nHost: t\r\n\r\n");
	http_t_cl_read(&t->rc[0], 1, 0);
	/* rc[0] idles between requests: it makes room for rc[1] */
	http_t_cl_connect(&t->rc[1], t->port);
	http_t_cl_send(&t->rc[1], "GET /echo?b HTTP/1.1\r\nHost: t\r\n");
	http_t_cl_read(&t->rc[0], 1, 1);
	/* rc[1] is mid-request: rc[2] is refused */
	http_t_cl_connect(&t->rc[2], t->port);
	http_t_cl_read(&t->rc[2], 1, 1);
	http_t_cl_send(&t->rc[1], "\r\n");
	http_t_cl_read(&t->rc[1], 1, 0);
}

START_TEST(test_max_conns)
{
	struct tctx *t = http_t_tctx_new();
	struct http_limits lim = {.max_conns = 1};

	http_t_run(t, &lim, sc_max_conns);
	ck_assert_int_eq(t->rc[0].n, 1);
	ck_assert_int_eq(t->rc[0].eof, 1); /* evicted, idle */
	ck_assert_int_eq(t->rc[1].n, 1);
	ck_assert_str_eq(t->rc[1].r[0].body, "GET /echo|b|");
	ck_assert_int_eq(t->rc[2].n, 1);
	ck_assert_int_eq(t->rc[2].r[0].status, 503);
	ck_assert_int_eq(t->rc[2].eof, 1);
	ck_assert_int_eq(t->calls, 2);
	free(t);
}
END_TEST

/* a head that drips in, byte by byte, is cut off at the header deadline */
static void sc_slow_head(struct tctx *t)
{
	static const char head[] =
		"GET /echo HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaa";
	long t0 = http_t_now_mono_ms();
	http_t_cl_connect(&t->rc[0], t->port);
	for (size_t i = 0; i < sizeof(head) - 1 && http_t_now_mono_ms() - t0 < 3000; i++) {
		http_t_cl_send_n(&t->rc[0], head + i, 1);
		usleep(50 * 1000); /* a byte every 50 ms: the idle timer alone never fires */
	}
	http_t_cl_read(&t->rc[0], 1, 1);
	t->elapsed_ms = http_t_now_mono_ms() - t0;
	/* a body as slow */
	http_t_cl_connect(&t->rc[1], t->port);
	http_t_cl_send(&t->rc[1], "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n");
	for (int i = 0; i < 40; i++) {
		http_t_cl_send_n(&t->rc[1], "x", 1);
		usleep(50 * 1000);
	}
	http_t_cl_read(&t->rc[1], 1, 1);
}

START_TEST(test_slow_client_cut_off)
{
	struct tctx *t = http_t_tctx_new();
	struct http_limits lim = {
		.idle_timeout_ms = 1000, .header_timeout_ms = 400, .body_timeout_ms = 400};

	http_t_run(t, &lim, sc_slow_head);
	ck_assert_int_eq(t->rc[0].n, 1);
	ck_assert_int_eq(t->rc[0].r[0].status, 408);
	ck_assert_ptr_nonnull(strstr(t->rc[0].r[0].body, "headers took too long"));
	ck_assert_int_eq(t->rc[0].eof, 1);
	ck_assert_int_eq(t->rc[1].n, 1);
	ck_assert_int_eq(t->rc[1].r[0].status, 408);
	ck_assert_ptr_nonnull(strstr(t->rc[1].r[0].body, "body took too long"));
	ck_assert_int_eq(t->calls, 0);
	free(t);
}
END_TEST

/* connections from one address beyond max_per_client are refused */
static void sc_per_client(struct tctx *t)
{
	for (int i = 0; i < 3; i++)
		http_t_cl_connect(&t->rc[i], t->port);
	http_t_cl_read(&t->rc[2], 1, 1);
	http_t_cl_send(&t->rc[0], "GET /echo?a HTTP/1.1\r\nHost: t\r\n\r\n");
	http_t_cl_read(&t->rc[0], 1, 0);
}

START_TEST(test_per_client_cap)
{
	struct tctx *t = http_t_tctx_new();
	struct http_limits lim = {.max_per_client = 2};

	http_t_run(t, &lim, sc_per_client);
	ck_assert_int_eq(t->rc[2].n, 1);
	ck_assert_int_eq(t->rc[2].r[0].status, 503);
	ck_assert_ptr_nonnull(strstr(t->rc[2].r[0].body, "from this address"));
	ck_assert_int_eq(t->rc[0].r[0].status, 200);
	free(t);
}
END_TEST

static void sc_stop(struct tctx *t)
{
	http_t_cl_connect(&t->rc[0], t->port);
	http_t_cl_send(&t->rc[0], "GET /stop HTTP/1.1\r\nHost: t\r\n\r\n");
	http_t_cl_read(&t->rc[0], 1, 1);
}

START_TEST(test_stop_with_pending)
{
	struct tctx *t = http_t_tctx_new();

	http_t_run(t, NULL, sc_stop);
	ck_assert_int_eq(t->rc[0].n, 0);
	ck_assert_int_eq(t->rc[0].eof, 1);
	ck_assert_int_eq(t->gone, 1);
	free(t);
}
END_TEST

/* RFC 9112 framing the lenient parser would take: each a 400, then closed */
static const struct {
	const char *req, *why;
} strict_cases[] = {
	{"GET /echo HTTP/1.1\r\nHost : t\r\n\r\n", "whitespace in a header name"},
	{"GET /echo HTTP/1.1\r\nHost: t\r\nX-A: one\r\n two\r\n\r\n",
	 "a header folded over lines (obs-fold)"},
	{"GET /echo HTTP/1.1\r\n\r\n", "an HTTP/1.1 request without a Host header"},
	{"GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "more than one Host header"},
	{"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
	 "5\r\nhelloabc\r\n0\r\n\r\n",
	 "a chunk's data runs past its size"},
};
#define NSTRICT (sizeof(strict_cases) / sizeof(strict_cases[0]))

static void sc_strict(struct tctx *t)
{
	for (size_t i = 0; i < NSTRICT; i++) {
		http_t_cl_connect(&t->rc[i], t->port);
		http_t_cl_send(&t->rc[i], strict_cases[i].req);
		http_t_cl_read(&t->rc[i], 1, 1);
	}
	/* the chunk overrun again, its CRLF split over two writes */
	http_t_cl_connect(&t->rc[NSTRICT], t->port);
	http_t_cl_send(&t->rc[NSTRICT], "POST /echo HTTP/1.1\r\nHost: t\r\n"
					"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r");
	http_t_cl_send(&t->rc[NSTRICT], "X\r\n0\r\n\r\n");
	http_t_cl_read(&t->rc[NSTRICT], 1, 1);
	/* and HTTP/1.0 without Host is fine */
	http_t_cl_connect(&t->rc[NSTRICT + 1], t->port);
	http_t_cl_send(&t->rc[NSTRICT + 1], "GET /echo HTTP/1.0\r\n\r\n");
	http_t_cl_read(&t->rc[NSTRICT + 1], 1, 1);
}

START_TEST(test_strict_framing)
{
	struct tctx *t = http_t_tctx_new();

	http_t_run(t, NULL, sc_strict);
	for (size_t i = 0; i <= NSTRICT; i++) {
		const char *why = strict_cases[i < NSTRICT ? i : NSTRICT - 1].why;
		ck_assert_int_eq(t->rc[i].n, 1);
		ck_assert_msg(t->rc[i].r[0].status == 400, "case %zu: %d %s", i,
			      t->rc[i].r[0].status, t->rc[i].r[0].body);
		ck_assert_msg(strstr(t->rc[i].r[0].body, why), "case %zu: %s", i,
			      t->rc[i].r[0].body);
		ck_assert_int_eq(t->rc[i].eof, 1);
	}
	ck_assert_int_eq(t->rc[NSTRICT + 1].r[0].status, 200);
	ck_assert_int_eq(t->calls, 1);
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
			static const char start[] =
				"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3";
			memcpy(buf, start, n < sizeof(start) - 1 ? n : sizeof(start) - 1);
		}
		http_t_cl_connect(&c, t->port);
		http_t_cl_send_n(&c, buf, n);
		http_t_cl_read(&c, 1, 0);
		if (c.n == 1 && c.r[0].status != 400 && c.r[0].status != 431)
			t->calls += 1000;
		http_t_cl_close(&c, i % 2);
	}
}

START_TEST(test_garbage)
{
	struct tctx *t = http_t_tctx_new();
	struct http_limits lim = {.idle_timeout_ms = 100};

	http_t_run(t, &lim, sc_garbage);
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
	tcase_add_test(tc, test_strict_framing);
	tcase_add_test(tc, test_slow_client_cut_off);
	tcase_add_test(tc, test_per_client_cap);
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
