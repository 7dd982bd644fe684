/*
 * mime - the RFC 5322 message text for an e-mail (see mime.h).  libesmtp
 * sends exactly these bytes; it adds no header we already carry.
 */
#include "mime.h"
#include "buf.h"
#include "log.h"
#include "util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EW_CHUNK 39 /* raw bytes per encoded-word: 52 base64 chars, 64 with the frame */

int mime_addr_valid(const char *addr)
{
	const char *at = strchr(addr, '@');
	size_t n = strlen(addr);

	if (!at || at == addr || !at[1] || strchr(at + 1, '@') || n > 254)
		return 0;
	if (addr[0] == '.' || at[-1] == '.' || at[1] == '.' || addr[n - 1] == '.')
		return 0;
	for (const char *p = addr; *p; p++) {
		unsigned char c = (unsigned char)*p;
		/* no spaces, controls or the characters that end or quote an address */
		if (c <= 0x20 || c >= 0x7f || strchr("<>()[]\\,;:\"", c))
			return 0;
	}
	return 1;
}

static int printable_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

/* encoded_words - RFC 2047 B words of <= EW_CHUNK bytes, cut at UTF-8 boundaries */
static char *encoded_words(const char *s)
{
	size_t n = strlen(s), off = 0;
	char b64[sodium_base64_ENCODED_LEN(EW_CHUNK, sodium_base64_VARIANT_ORIGINAL)];
	struct buf out;

	buf_init(&out, BUF_UNLIMITED);
	while (off < n) {
		size_t k = n - off > EW_CHUNK ? EW_CHUNK : n - off;
		/* never split a character: back up to a lead byte */
		while (k > 1 && off + k < n && ((unsigned char)s[off + k] & 0xC0) == 0x80)
			k--;
		sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)s + off, k,
				  sodium_base64_VARIANT_ORIGINAL);
		/* folded between words; decoders drop the fold */
		buf_addf(&out, "%s=?UTF-8?B?%s?=", off > 0 ? "\r\n " : "", b64);
		off += k;
	}
	return buf_take(&out, NULL);
}

char *mime_header_text(const char *s)
{
	if (printable_ascii(s) && strlen(s) <= 900)
		return xstrdup(s);
	return encoded_words(s);
}

/* display_name - a From phrase: quoted string for ASCII, encoded-words otherwise */
static char *display_name(const char *s)
{
	if (!printable_ascii(s) || strlen(s) > 200)
		return encoded_words(s);
	char *q = xmalloc(strlen(s) * 2 + 3), *o = q;
	*o++ = '"';
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			*o++ = '\\';
		*o++ = *s;
	}
	*o++ = '"';
	*o = 0;
	return q;
}

char *mime_base64_lines(const void *data, size_t len)
{
	size_t b64len = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	char *b64 = xmalloc(b64len), *out, *o;
	size_t n;

	sodium_bin2base64(b64, b64len, data, len, sodium_base64_VARIANT_ORIGINAL);
	n = strlen(b64);
	out = o = xmalloc(n + (n / 76 + 1) * 2 + 1);
	for (size_t i = 0; i < n; i += 76) {
		size_t k = n - i > 76 ? 76 : n - i;
		memcpy(o, b64 + i, k);
		o += k;
		*o++ = '\r';
		*o++ = '\n';
	}
	*o = 0;
	free(b64);
	return out;
}

/* crlf_text - the body with every line end (LF, CRLF or lone CR) as CRLF */
static char *crlf_text(const char *s, size_t *len)
{
	size_t n = strlen(s);
	char *out = xmalloc(n * 2 + 1), *o = out;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r' || s[i] == '\n') {
			if (s[i] == '\r' && s[i + 1] == '\n')
				i++;
			*o++ = '\r';
			*o++ = '\n';
		} else {
			*o++ = s[i];
		}
	}
	*o = 0;
	*len = (size_t)(o - out);
	return out;
}

/* rfc5322_date - "Tue, 01 Dec 2026 08:30:00 +0000", without the locale */
static void rfc5322_date(int64_t ms, char *buf, size_t n)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const mons[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(buf, n, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
		 mons[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

char *mime_build(const struct spool_msg *m, const char *from_addr, int64_t date_ms, size_t *len)
{
	char date[64], host[256];
	const char *domain = strchr(from_addr, '@');
	char *name = m->from_name && *m->from_name ? display_name(m->from_name) : NULL;
	char *subject = mime_header_text(m->subject ? m->subject : "");
	size_t blen;
	char *body = crlf_text(m->body ? m->body : "", &blen);
	char *b64 = mime_base64_lines(body, blen);
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	if (!f)
		fatal("out of memory");
	if (domain && domain[1]) {
		domain++;
	} else {
		if (gethostname(host, sizeof(host)) < 0 || !host[0])
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = 0;
		domain = host;
	}
	rfc5322_date(date_ms, date, sizeof(date));
	/* folded before the address when the line would pass 78 characters */
	if (name)
		fprintf(f, "From: %s%s<%s>\r\n", name,
			strlen(name) + strlen(from_addr) + 9 > 78 ? "\r\n " : " ", from_addr);
	else
		fprintf(f, "From: %s\r\n", from_addr);
	fprintf(f,
		"To: %s\r\n"
		"Subject: %s\r\n"
		"Date: %s\r\n"
		"Message-ID: <%s@%s>\r\n"
		"Auto-Submitted: auto-generated\r\n"
		"MIME-Version: 1.0\r\n"
		"Content-Type: text/plain; charset=UTF-8\r\n"
		"Content-Transfer-Encoding: base64\r\n"
		"\r\n"
		"%s",
		m->to, subject, date, m->id, domain, b64);
	fclose(f);
	/* the body held the secret in clear */
	sodium_memzero(body, blen);
	free(body);
	free(b64);
	free(name);
	free(subject);
	if (len)
		*len = n;
	return buf;
}
