/*
 * http_harness - the unit tests' HTTP rig: a server on port 0 in its own
 * loop, a client thread with blocking sockets that plays a scenario and
 * records the replies (http_parser in response mode).  test_http.c and
 * test_http_strict.c use it.
 */
#ifndef REGFLOW_TEST_HTTP_HARNESS_H
#define REGFLOW_TEST_HTTP_HARNESS_H

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
	struct rclient rc[8];
	long elapsed_ms;
};

/* client side (the scenario's thread) */
void http_t_cl_connect(struct rclient *c, int port);
void http_t_cl_send_n(struct rclient *c, const char *s, size_t len);
void http_t_cl_send(struct rclient *c, const char *s);
void http_t_cl_read(struct rclient *c, int want, int until_eof);
void http_t_cl_close(struct rclient *c, int rst);
/* http_t_run - serve with lim (NULL: defaults) while scenario plays, until all is closed */
void http_t_run(struct tctx *t, const struct http_limits *lim, void (*scenario)(struct tctx *));
struct tctx *http_t_tctx_new(void);
void http_t_defer_reply(struct tctx *t, struct http_req *r, uint64_t ms);
long http_t_now_mono_ms(void);

#endif
