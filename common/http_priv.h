/*
 * http_priv - what the HTTP server's two files share: the server, a
 * connection, a queued write.  Private to http.c (connections, writing,
 * the listener) and http_req.c (requests, parsing).
 */
#ifndef REGFLOW_HTTP_PRIV_H
#define REGFLOW_HTTP_PRIV_H

#include "http.h"
#include "tls.h"

#include <http_parser.h>
#include <jansson.h>

#define HTTP_INBUF 16384       /* read buffer per connection */
#define HTTP_EXTRA_MAX 4096    /* extra reply headers per request */
#define HTTP_LINGER_MS 2000    /* drain after the last reply */
#define HTTP_OVERFLOW_CONNS 64 /* past max_conns + this: close unanswered */

#define HTTP_DEF_MAX_BODY (1024 * 1024)
#define HTTP_DEF_MAX_HEADER (16 * 1024)
#define HTTP_DEF_MAX_CONNS 1024
#define HTTP_DEF_IDLE_MS 60000
#define HTTP_DEF_HEADER_MS 10000
#define HTTP_DEF_BODY_MS 30000
#define HTTP_DEF_PER_CLIENT 256

enum conn_state { CONN_OPEN, CONN_DRAINING, CONN_CLOSING };

struct http_server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	struct http_limits lim;
	http_handler_fn fn;
	void *data;
	struct http_conn *conns;
	int nconns;	    /* including those closing */
	int nclosing;	    /* of them, closing */
	json_t *per_client; /* address -> its open connections */
	int port;
	int stopping;
	int listener_closed;
	void (*done)(void *);
	void *done_arg;
};

struct http_conn {
	struct http_server *srv;
	struct http_conn *prev, *next;
	uv_tcp_t tcp;
	uv_timer_t timer; /* idle, write and linger deadlines */
	uv_shutdown_t shut;
	http_parser parser;
	enum conn_state state;
	int handles_open;
	int reading;
	int read_eof;
	int in_process;
	int err_status; /* set by a parser callback that failed */
	const char *err_msg;
	struct http_req *cur;	 /* being parsed */
	struct http_req *active; /* with the handler */
	char *in;
	size_t in_off, in_len;
	const char *exec_end; /* the end of the bytes the parser is given */
	uint64_t deadline;    /* loop ms by which the request being read must be in (0: none) */
	uint64_t idle_since;  /* loop ms it became idle between requests (0: busy) */
	char peer[64];	      /* the client's address, counted in per_client */
	struct tls_conn *tls; /* NULL: plain */
	char *raw;	      /* TLS: the ciphertext read */
	int tls_seen;	      /* TLS: the first bytes have come */
};

struct http_write {
	uv_write_t req;
	struct http_conn *conn;
	uv_buf_t buf;
	char data[];
};

/* http_req.c */
struct http_req *http_req_new(void);
void http_req_free(struct http_req *r);
/* http_req_framing - before the parser sees data: a chunk's CRLF that
 * began in earlier bytes must go on here; 0, or -1 with the error set */
int http_req_framing(struct http_conn *c, const char *data, size_t len);
/* http_hdr_value_ok - 1 if v may be sent as a header value (no CR, LF, NUL) */
int http_hdr_value_ok(const char *v);
/* the parser's callbacks: they build conn->cur */
extern const http_parser_settings http_parser_callbacks;

/* http.c */
/* http_conn_write - queue w (allocated by the caller) on c; takes it */
void http_conn_write(struct http_conn *c, struct http_write *w, size_t len);

#endif
