/*
 * http_req - one HTTP request: its parts as http_parser reports them
 * (request line, headers, body, each capped), their accessors for the
 * handler, and the extra headers of its reply (see http.h).
 */
#include "http_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* pct_decode - decode s[0..len) into out (NUL-terminated): its length, or
 * -EINVAL for a bad escape, a NUL or no room */
static long pct_decode(const char *s, size_t len, char *out, size_t outn, int plus)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		int ch = (unsigned char)s[i];
		if (ch == '%') {
			int hi, lo;
			if (len - i < 3)
				return -EINVAL;
			hi = hexval((unsigned char)s[i + 1]);
			lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			ch = hi * 16 + lo;
			i += 2;
		} else if (plus && ch == '+') {
			ch = ' ';
		}
		if (ch == 0 || o + 1 >= outn)
			return -EINVAL;
		out[o++] = (char)ch;
	}
	if (outn == 0)
		return -EINVAL;
	out[o] = '\0';
	return (long)o;
}

static int is_tchar(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* hdr_value_ok - no CR, LF, NUL or other control byte except TAB */
int http_hdr_value_ok(const char *v)
{
	for (; *v; v++)
		if (((unsigned char)*v < 0x20 && *v != '\t') || *v == 0x7f)
			return 0;
	return 1;
}

static const struct {
	int code;
	const char *text;
} http_reasons[] = {
	{100, "Continue"},
	{200, "OK"},
	{201, "Created"},
	{202, "Accepted"},
	{204, "No Content"},
	{301, "Moved Permanently"},
	{302, "Found"},
	{304, "Not Modified"},
	{400, "Bad Request"},
	{401, "Unauthorized"},
	{403, "Forbidden"},
	{404, "Not Found"},
	{405, "Method Not Allowed"},
	{408, "Request Timeout"},
	{409, "Conflict"},
	{410, "Gone"},
	{411, "Length Required"},
	{413, "Payload Too Large"},
	{415, "Unsupported Media Type"},
	{422, "Unprocessable Entity"},
	{429, "Too Many Requests"},
	{431, "Request Header Fields Too Large"},
	{500, "Internal Server Error"},
	{501, "Not Implemented"},
	{502, "Bad Gateway"},
	{503, "Service Unavailable"},
	{504, "Gateway Timeout"},
};

const char *http_status_text(int status)
{
	for (size_t i = 0; i < sizeof(http_reasons) / sizeof(http_reasons[0]); i++)
		if (http_reasons[i].code == status)
			return http_reasons[i].text;
	return "Unknown";
}

struct http_req *http_req_new(void)
{
	struct http_req *r = xcalloc(1, sizeof(*r));

	r->method = "";
	r->url = r->path = r->query = r->body = "";
	return r;
}

void http_req_free(struct http_req *r)
{
	if (!r)
		return;
	free(r->hdrs);
	buf_free(&r->urlb);
	free(r->pathbuf);
	buf_free(&r->hdrb);
	buf_free(&r->bodyb);
	free(r->extra);
	free(r);
}

const char *http_req_header(const struct http_req *r, const char *name)
{
	for (size_t i = 0; i < r->nhdrs; i++)
		if (strcasecmp(r->hdrs[i].name, name) == 0)
			return r->hdrs[i].value;
	return NULL;
}

const char *http_req_query_param(const struct http_req *r, const char *name, char *buf, size_t n)
{
	const char *s = r->query;
	char key[256];

	while (*s) {
		size_t seglen = strcspn(s, "&");
		const char *eq = memchr(s, '=', seglen);
		size_t klen = eq ? (size_t)(eq - s) : seglen;

		if (pct_decode(s, klen, key, sizeof(key), 1) >= 0 && strcmp(key, name) == 0) {
			if (!eq) {
				if (n == 0)
					return NULL;
				buf[0] = '\0';
				return buf;
			}
			if (pct_decode(eq + 1, seglen - klen - 1, buf, n, 1) < 0)
				return NULL;
			return buf;
		}
		s += seglen;
		if (*s == '&')
			s++;
	}
	return NULL;
}

int http_req_gone(const struct http_req *r)
{
	return r->conn == NULL;
}

int http_respond_header(struct http_req *r, const char *name, const char *value)
{
	static const char *const managed[] = {"Content-Length", "Date", "Content-Type",
					      "Transfer-Encoding"};
	if (!*name || !http_hdr_value_ok(value))
		return -EINVAL;
	for (const char *p = name; *p; p++)
		if (!is_tchar((unsigned char)*p))
			return -EINVAL;
	for (size_t i = 0; i < sizeof(managed) / sizeof(managed[0]); i++)
		if (strcasecmp(name, managed[i]) == 0)
			return -EINVAL;
	if (strcasecmp(name, "Connection") == 0) {
		if (strcasecmp(value, "close") != 0)
			return -EINVAL;
		r->keep_alive = 0;
		return 0;
	}
	if (r->extra_len + strlen(name) + strlen(value) + 4 > HTTP_EXTRA_MAX)
		return -E2BIG;
	if (!r->extra)
		r->extra = xmalloc(HTTP_EXTRA_MAX + 1);
	r->extra_len += (size_t)snprintf(r->extra + r->extra_len, HTTP_EXTRA_MAX + 1 - r->extra_len,
					 "%s: %s\r\n", name, value);
	return 0;
}

/* ---- parser callbacks: build c->cur ---- */

static int cb_fail(struct http_conn *c, int status, const char *msg)
{
	c->err_status = status;
	c->err_msg = msg;
	return -1;
}

/* head_count - account n more bytes of request line and headers */
static int head_count(struct http_conn *c, size_t n)
{
	struct http_req *r = c->cur;

	r->head_bytes += n;
	if (r->head_bytes > c->srv->lim.max_header)
		return cb_fail(c, 431, "request line and headers too large");
	return 0;
}

static int on_message_begin(http_parser *p)
{
	struct http_conn *c = p->data;

	http_req_free(c->cur);
	c->cur = http_req_new();
	/* the whole head must be in by then, however slowly it drips */
	c->deadline = uv_now(c->srv->loop) + c->srv->lim.header_timeout_ms;
	c->idle_since = 0;
	/* head_count bounds the head; the separators of the last header fit too */
	buf_init(&c->cur->urlb, c->srv->lim.max_header);
	buf_init(&c->cur->hdrb, c->srv->lim.max_header + 4);
	buf_init(&c->cur->bodyb, c->srv->lim.max_body);
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	struct http_req *r = c->cur;

	if (head_count(c, len) < 0)
		return -1;
	/* head_count bounds the length */
	buf_add(&r->urlb, at, len);
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	struct http_req *r = c->cur;

	if (head_count(c, len) < 0)
		return -1;
	if (r->hdr_state == 3)
		return 0; /* a trailer: counted, not kept */
	/* RFC 9112 5.1: no whitespace between a field name and its colon */
	if (memchr(at, ' ', len) || memchr(at, '\t', len))
		return cb_fail(c, 400, "whitespace in a header name");
	if (r->hdr_state != 1) {
		if (r->hdr_state == 2)
			buf_add(&r->hdrb, "", 1);
		r->nhdrs++;
		r->hdr_state = 1;
	}
	if (buf_add(&r->hdrb, at, len) < 0)
		return cb_fail(c, 431, "request headers too large");
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	struct http_req *r = c->cur;

	if (head_count(c, len) < 0)
		return -1;
	if (r->hdr_state == 3)
		return 0;
	/* a second piece of one value not split by the end of the bytes: the
	 * parser joined a folded line (obs-fold, RFC 9112 5.2) */
	if (r->hdr_state == 2 && !r->value_split)
		return cb_fail(c, 400, "a header folded over lines (obs-fold)");
	r->value_split = at + len == c->exec_end;
	if (r->hdr_state == 1)
		buf_add(&r->hdrb, "", 1);
	r->hdr_state = 2;
	if (buf_add(&r->hdrb, at, len) < 0)
		return cb_fail(c, 431, "request headers too large");
	return 0;
}

/* index_headers - end the last header and point hdrs into hdrbuf (fixed from now on) */
static int index_headers(struct http_conn *c, struct http_req *r)
{
	size_t off = 0, i = 0;
	const char *hb = buf_ptr(&r->hdrb);

	if (r->hdr_state == 1 && buf_add(&r->hdrb, "\0", 2) < 0)
		return -1;
	if (r->hdr_state == 2 && buf_add(&r->hdrb, "", 1) < 0)
		return -1;
	r->hdr_state = 3;
	if (!r->nhdrs)
		return 0;
	r->hdrs = xcalloc(r->nhdrs, sizeof(*r->hdrs));
	while (i < r->nhdrs && off < r->hdrb.len) {
		const char *name = hb + off;
		off += strnlen(name, r->hdrb.len - off) + 1;
		if (off >= r->hdrb.len)
			break;
		r->hdrs[i].name = name;
		r->hdrs[i].value = hb + off;
		off += strnlen(hb + off, r->hdrb.len - off) + 1;
		i++;
	}
	r->nhdrs = i;
	return 0;
}

/* split_target - decode the path and keep the raw query */
static int split_target(struct http_req *r, int is_connect)
{
	struct http_parser_url u;
	const char *path = "/", *query = "";
	size_t plen = 1, qlen = 0;
	long n;

	r->url = buf_ptr(&r->urlb);
	http_parser_url_init(&u);
	if (http_parser_parse_url(r->url, r->urlb.len, is_connect, &u) != 0)
		return -EINVAL;
	if (u.field_set & (1 << UF_PATH)) {
		path = r->url + u.field_data[UF_PATH].off;
		plen = u.field_data[UF_PATH].len;
	}
	if (u.field_set & (1 << UF_QUERY)) {
		query = r->url + u.field_data[UF_QUERY].off;
		qlen = u.field_data[UF_QUERY].len;
	}
	r->pathbuf = xmalloc(plen + qlen + 2);
	n = pct_decode(path, plen, r->pathbuf, plen + 1, 0);
	if (n < 0)
		return -EINVAL;
	memcpy(r->pathbuf + n + 1, query, qlen);
	r->pathbuf[n + 1 + qlen] = '\0';
	r->path = r->pathbuf;
	r->query = r->pathbuf + n + 1;
	return 0;
}

static size_t count_header(const struct http_req *r, const char *name)
{
	size_t n = 0;
	for (size_t i = 0; i < r->nhdrs; i++)
		n += strcasecmp(r->hdrs[i].name, name) == 0;
	return n;
}

/* host_check - RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one before */
static int host_check(const struct http_req *r, const http_parser *p)
{
	size_t n = count_header(r, "Host");
	if (n > 1 || (n == 0 && p->http_major == 1 && p->http_minor >= 1))
		return -1;
	return 0;
}

static void send_continue(struct http_conn *c)
{
	static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
	struct http_write *w = xmalloc(sizeof(*w) + sizeof(msg));

	memcpy(w->data, msg, sizeof(msg) - 1);
	http_conn_write(c, w, sizeof(msg) - 1);
}

static int on_headers_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	struct http_req *r = c->cur;
	const char *expect;
	int has_len = (p->flags & F_CONTENTLENGTH) != 0;
	int chunked = (p->flags & F_CHUNKED) != 0;

	if (r->hdr_state == 3)
		return 0;
	c->deadline = uv_now(c->srv->loop) + c->srv->lim.body_timeout_ms;
	if (index_headers(c, r) < 0)
		return cb_fail(c, 431, "request headers too large");
	if (split_target(r, p->method == HTTP_CONNECT) < 0)
		return cb_fail(c, 400, "invalid request target");
	if (host_check(r, p) < 0)
		return cb_fail(c, 400,
			       r->nhdrs && count_header(r, "Host") > 1
				       ? "more than one Host header"
				       : "an HTTP/1.1 request without a Host header");
	r->method = http_method_str((enum http_method)p->method);
	r->http_major = p->http_major;
	r->http_minor = p->http_minor;
	r->keep_alive = http_should_keep_alive(p) && !p->upgrade;
	r->head = p->method == HTTP_HEAD;
	if (has_len && p->content_length > c->srv->lim.max_body)
		return cb_fail(c, 413, "request body too large");
	if (has_len && p->content_length > 0) {
		/* up to 64 KiB ahead; beyond, memory follows the bytes received */
		buf_reserve(&r->bodyb,
			    p->content_length < 65536 ? (size_t)p->content_length : 65536);
	}
	expect = http_req_header(r, "Expect");
	if (expect && strcasecmp(expect, "100-continue") == 0 && p->http_major == 1 &&
	    p->http_minor >= 1 && (chunked || (has_len && p->content_length > 0)))
		send_continue(c);
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	struct http_req *r = c->cur;

	if (buf_add(&r->bodyb, at, len) < 0)
		return cb_fail(c, 413, "request body too large");
	if ((p->flags & F_CHUNKED) && p->content_length == 0) {
		/* the chunk's data ends here: CRLF must follow (the lenient parser
		 * would take any two bytes, then read on as a chunk size) */
		r->crlf_pending = 2;
		return http_req_framing(c, at + len, (size_t)(c->exec_end - (at + len)));
	}
	return 0;
}

int http_req_framing(struct http_conn *c, const char *data, size_t len)
{
	struct http_req *r = c->cur;
	while (r && r->crlf_pending > 0 && len > 0) {
		if (*data != "\r\n"[2 - r->crlf_pending])
			return cb_fail(c, 400, "a chunk's data runs past its size");
		r->crlf_pending--;
		data++;
		len--;
	}
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	struct http_req *r = c->cur;

	r->body = buf_ptr(&r->bodyb);
	r->body_len = r->bodyb.len;
	c->deadline = 0;
	/* one request at a time: conn_process hands it over, then resumes */
	http_parser_pause(p, 1);
	return 0;
}

const http_parser_settings http_parser_callbacks = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};
