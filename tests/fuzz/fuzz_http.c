/*
 * fuzz_http - the HTTP server (engine/http.c on http_parser) fed arbitrary
 * bytes through a real loopback TCP connection (libFuzzer; make fuzz).
 *
 * Two servers run on one libuv loop for the whole process: default limits,
 * and small ones (64-byte bodies, 512-byte heads).  Each input is one
 * connection; its first byte chooses how it goes, the rest is what the
 * client sends:
 *   bits 0-1  0: the handler answers at once; 1: on the next loop turn;
 *             2: the client resets the connection first (orphan replies)
 *   bit 2     the small-limits server
 *   bit 3     the client writes in pieces of (bits 4-7) + 1 bytes, the
 *             loop running between them
 * The handler echoes the body, adds each "X-Echo-NAME: v" request header
 * as a reply header NAME (http_respond_header decides), takes its status
 * from X-Status and content type from X-Type, and reads query parameters
 * into buffers of several sizes.
 *
 * Invariants: no crash, leak or hang (the connection ends within 10 s of
 * the last byte); every request handed over is well formed (a method, a
 * path, NUL-terminated body of at most the server's limit, headers that
 * http_req_header finds); every reply starts "HTTP/1.1 ".
 */
#include "fuzz.h"
#include "http.h"
#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SMALL_BODY 64
#define SMALL_HEAD 512
#define MAX_PENDING 256

static uv_loop_t loop;
static struct http_server *srv[2];
static int port[2];
static size_t max_body[2] = {1024 * 1024, SMALL_BODY};
static int mode; /* bits 0-1 of the input's first byte */
static struct http_req *pending[MAX_PENDING];
static int npending;

static const char *const param_names[] = {"id", "type", "answer", "wait", "a", ""};

static void answer(struct http_req *r)
{
	char ctype[300];
	const char *st = http_req_header(r, "X-Status");
	const char *ty = http_req_header(r, "X-Type");
	int status = st ? atoi(st) : 200;

	for (size_t i = 0; i < r->nhdrs; i++) {
		const char *n = r->hdrs[i].name;
		if (strncasecmp(n, "X-Echo-", 7) == 0)
			(void)http_respond_header(r, n + 7, r->hdrs[i].value);
	}
	if (http_req_header(r, "X-Close"))
		CHECK(http_respond_header(r, "Connection", "close") == 0);
	snprintf(ctype, sizeof(ctype), "%s", ty ? ty : "application/json");
	http_respond(r, status, ty && !*ty ? NULL : ctype, r->body, r->body_len);
}

static void handler(struct http_req *r, void *data)
{
	int which = (int)(intptr_t)data;
	char buf[256];

	CHECK(r->method && *r->method);
	CHECK(r->url && r->path && r->query && r->body);
	CHECK(strlen(r->url) < SMALL_HEAD * 64);
	CHECK(r->body[r->body_len] == 0);
	CHECK(r->body_len <= max_body[which]);
	CHECK(!http_req_gone(r));
	for (size_t i = 0; i < r->nhdrs; i++) {
		CHECK(r->hdrs[i].name && r->hdrs[i].value);
		CHECK(http_req_header(r, r->hdrs[i].name) != NULL);
	}
	for (size_t i = 0; i < sizeof(param_names) / sizeof(param_names[0]); i++) {
		static const size_t sizes[] = {0, 1, 8, sizeof(buf)};
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			const char *v = http_req_query_param(r, param_names[i], buf, sizes[k]);
			CHECK(!v || (v == buf && strlen(v) < sizes[k]));
		}
	}
	if (mode == 0) {
		answer(r);
		return;
	}
	CHECK(npending < MAX_PENDING); /* one request at a time per connection */
	pending[npending++] = r;
}

static void answer_pending(void)
{
	int n = npending;
	npending = 0;
	for (int i = 0; i < n; i++)
		answer(pending[i]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct http_limits small = {.max_body = SMALL_BODY, .max_header = SMALL_HEAD};

	log_init("fuzz_http",
		 (enum log_level)(LOG_ERR + 1)); /* misuse by X-Status, X-Type is logged */
	if (uv_loop_init(&loop) != 0 ||
	    http_server_start(&loop, "127.0.0.1:0", NULL, handler, (void *)0, &srv[0]) < 0 ||
	    http_server_start(&loop, "127.0.0.1:0", &small, handler, (void *)1, &srv[1]) < 0) {
		fprintf(stderr, "fuzz_http: cannot start the servers\n");
		exit(1);
	}
	port[0] = http_server_port(srv[0]);
	port[1] = http_server_port(srv[1]);
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* pump - one turn of the server's loop, then wait a moment for the client's socket */
static int pump(int fd, short events)
{
	struct pollfd p = {.fd = fd, .events = events};
	uv_run(&loop, UV_RUN_NOWAIT);
	if (mode == 1)
		answer_pending();
	return fd >= 0 && events ? poll(&p, 1, 1) > 0 ? p.revents : 0 : 0;
}

/* reset - close at once with an RST: no TIME_WAIT, and the server sees a reset */
static void reset(int fd)
{
	struct linger l = {.l_onoff = 1, .l_linger = 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in sa;
	char rbuf[65536];
	size_t off = 0, got = 0;
	int fd, shut = 0, eof = 0;

	if (size < 1 || size > (1 << 20))
		return 0;
	mode = data[0] & 3;
	if (mode == 3)
		mode = 0;
	int which = (data[0] >> 2) & 1;
	size_t piece = (data[0] & 8) ? (size_t)(data[0] >> 4) + 1 : size;
	data++, size--;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port[which]);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		fprintf(stderr, "fuzz_http: connect: %s\n", strerror(errno));
		abort();
	}
	double last = now_s();
	while (!eof) {
		short ev = POLLIN | (off < size ? POLLOUT : 0);
		int rev = pump(fd, ev);
		if ((rev & POLLOUT) && off < size) {
			size_t n = size - off < piece ? size - off : piece;
			ssize_t w = send(fd, data + off, n, MSG_NOSIGNAL);
			if (w > 0)
				off += (size_t)w, last = now_s();
			else if (w < 0 && errno != EAGAIN)
				break; /* the server closed on us: fine */
		}
		if (off == size && !shut) {
			if (mode == 2) {
				/* let the requests reach the handler, then go away */
				for (int i = 0; i < 20; i++)
					pump(-1, 0);
				break;
			}
			shutdown(fd, SHUT_WR);
			shut = 1;
		}
		if (rev & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = recv(fd, rbuf, sizeof(rbuf), 0);
			if (r > 0) {
				if (got == 0 && r >= 9)
					CHECK(memcmp(rbuf, "HTTP/1.1 ", 9) == 0);
				got += (size_t)r, last = now_s();
			} else if (r == 0 || errno != EAGAIN) {
				eof = 1;
			}
		}
		if (now_s() - last > 10) {
			fprintf(stderr,
				"fuzz_http: the connection is still open 10 s after the last "
				"byte (mode %d, %zu of %zu bytes sent, %zu received)\n",
				mode, off, size, got);
			abort();
		}
	}
	reset(fd);
	/* let the server see the end of the connection and close it; then the
	 * orphans of mode 2 are answered (their connection is gone) */
	for (int i = 0; i < 20; i++)
		pump(-1, 0);
	answer_pending();
	for (int i = 0; i < 5; i++)
		pump(-1, 0);
	return 0;
}
