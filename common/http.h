/*
 * http - a small embeddable HTTP/1.1 server on a libuv loop.
 *
 * Parsing is http_parser's; this module adds connections, limits, keep-alive,
 * pipelining (one request at a time per connection, answered in order) and
 * deferred replies.  It knows nothing of JSON or of regflow: the engine's job
 * API and the gateway's delivery-report listener both sit on top of it.
 *
 * Ownership: a request is handed to the handler and belongs to it until
 * http_respond(), which must be called exactly once, possibly much later.
 * The request outlives its connection: if the client goes away or the
 * server stops meanwhile, http_respond() only frees it.
 */
#ifndef REGFLOW_HTTP_H
#define REGFLOW_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "buf.h"

struct http_server;
struct http_conn;

struct http_header {
	const char *name;
	const char *value;
};

/* One request; every pointer stays valid until http_respond(). */
struct http_req {
	const char *method; /* "GET", "POST", ... */
	const char *url;    /* the raw request target */
	const char *path;   /* percent-decoded path without query, e.g. "/v1/jobs/ABC" */
	const char *query;  /* raw query string, "" if none */
	const char *body;   /* de-chunked, NUL-terminated, "" if none */
	size_t body_len;
	int http_major, http_minor;
	void *user; /* free for the handler */

	/* private */
	struct http_conn *conn; /* NULL once the connection is gone */
	struct http_header *hdrs;
	size_t nhdrs;
	struct buf urlb;   /* the raw target */
	char *pathbuf;	   /* decoded path \0 raw query \0 */
	size_t head_bytes; /* request line + headers + trailers seen */
	struct buf hdrb;   /* "name\0value\0" pairs */
	int hdr_state;	   /* 0 none yet, 1 in a name, 2 in a value, 3 done */
	int value_split;   /* the last value piece ended the bytes parsed: more may follow */
	int crlf_pending;  /* bytes of a chunk's closing CRLF still to see (strict framing) */
	struct buf bodyb;
	char *extra; /* extra response headers, "Name: value\r\n" */
	size_t extra_len;
	int keep_alive;
	int head; /* HEAD: answer without a body */
};

typedef void (*http_handler_fn)(struct http_req *req, void *data);

/* Zero in any field means its default (shown). */
struct http_limits {
	size_t max_body;	    /* 1 MiB; larger bodies get 413 */
	size_t max_header;	    /* 16 KiB for request line + headers; 431 */
	int max_conns;		    /* 1024; more get 503 and are closed */
	uint64_t idle_timeout_ms;   /* 60 s without a byte while no request is pending */
	uint64_t header_timeout_ms; /* 10 s for a request's line and headers, all of them */
	uint64_t body_timeout_ms;   /* 30 s for its body, once the headers are in */
	int max_per_client;	    /* 256 connections from one address; more get 503 */
	struct tls_ctx *tls; /* NULL: plain HTTP; else TLS (common/tls.h), a reference taken */
};

/*
 * http_server_start - listen on hostport ("127.0.0.1:7800", "[::1]:80";
 * port 0 = ephemeral) and call fn(req, data) for each complete request.
 * lim may be NULL for the defaults.  0 or a negative errno.
 */
int http_server_start(uv_loop_t *loop, const char *hostport, const struct http_limits *lim,
		      http_handler_fn fn, void *data, struct http_server **out);
/* http_server_set_tls - new connections use t (a reference taken; a
 * certificate renewed without a restart); those open keep theirs */
void http_server_set_tls(struct http_server *s, struct tls_ctx *t);
/* http_server_port - the bound port (useful after port 0) */
int http_server_port(const struct http_server *s);
/*
 * http_server_stop - close the listener and every connection, then call
 * done(arg) (may be NULL) once all handles are closed and free the server.
 * Requests still held by handlers become orphans; respond to them as usual.
 * Safe to call from inside a handler.
 */
void http_server_stop(struct http_server *s, void (*done)(void *), void *arg);

/* http_req_header - value of the first header called name (any case), or NULL */
const char *http_req_header(const struct http_req *r, const char *name);
/*
 * http_req_query_param - percent-decoded ('+' is a space) value of the first
 * query parameter called name, copied to buf; "" for a bare "name".  NULL if
 * absent, if it does not fit in n bytes, or if it decodes to a NUL.
 */
const char *http_req_query_param(const struct http_req *r, const char *name, char *buf, size_t n);
/* http_req_gone - 1 if the connection has gone; the reply will be dropped */
int http_req_gone(const struct http_req *r);

/*
 * http_respond_header - add a header to the coming reply.  -EINVAL for CR,
 * LF or NUL, a bad name, or a header the server writes itself (Content-Length,
 * Date, Content-Type, Transfer-Encoding); "Connection: close" closes after
 * the reply.  -E2BIG past 4 KiB of extra headers.
 */
int http_respond_header(struct http_req *r, const char *name, const char *value);
/*
 * http_respond - send the reply and free the request; exactly once per
 * request.  Adds Content-Length, Connection, Date and Content-Type (if
 * content_type is not NULL).  The body is copied.
 */
void http_respond(struct http_req *r, int status, const char *content_type, const char *body,
		  size_t len);
/* http_status_text - "Not Found" for 404; "Unknown" for codes it lacks */
const char *http_status_text(int status);

#endif
