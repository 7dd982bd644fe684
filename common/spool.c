/*
 * spool - the spool file format and its state directories (see spool.h,
 * docs/spool.md).  Everything here is synchronous file I/O; the gateway
 * calls the slow parts (fsync) from worker threads.
 */
#include "spool.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const state_dirs[SPOOL_NSTATE] = {"incoming", "active",   "deferred",
						     "hold",	 "failed",   "sent",
						     "bounced",	 "answered", "corrupt"};
static const char *const state_names[SPOOL_NSTATE] = {
	"queued", "active", "deferred", "hold", "failed", "sent", "bounced", "answered", "corrupt"};

int spool_channel_index(const char *channel)
{
	static const char *const names[SPOOL_NCHANNEL] = {"email", "sms", "check"};
	for (int i = 0; i < SPOOL_NCHANNEL; i++)
		if (!strcmp(channel, names[i]))
			return i;
	return -1;
}

const char *spool_state_dir(enum spool_state st)
{
	return st < SPOOL_NSTATE ? state_dirs[st] : "?";
}

const char *spool_state_name(enum spool_state st)
{
	return st < SPOOL_NSTATE ? state_names[st] : "?";
}

int spool_state_parse(const char *name)
{
	for (int i = 0; i < SPOOL_NSTATE; i++)
		if (strcmp(name, state_names[i]) == 0 || strcmp(name, state_dirs[i]) == 0)
			return i;
	return -EINVAL;
}

static int spool_path(char *buf, size_t n, const char *dir, const char *sub, const char *name)
{
	int w = name ? snprintf(buf, n, "%s/%s/%s", dir, sub, name)
		     : snprintf(buf, n, "%s/%s", dir, sub);
	return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

int spool_init(const char *dir)
{
	char p[PATH_MAX];
	int rc = mkdir_p(dir, 0700);

	for (int i = -1; rc == 0 && i < SPOOL_NSTATE; i++) {
		rc = spool_path(p, sizeof(p), dir, i < 0 ? "tmp" : state_dirs[i], NULL);
		if (rc == 0 && mkdir(p, 0700) < 0 && errno != EEXIST)
			rc = -errno;
	}
	return rc;
}

/* utf8_valid - well-formed UTF-8 without NUL (no overlongs, no surrogates) */
static int utf8_valid(const unsigned char *s, size_t n)
{
	for (size_t i = 0, len; i < n; i += len)
		if ((len = utf8_char_len(s + i, n - i)) == 0)
			return 0;
	return 1;
}

/* the envelope's string fields, in file order, with where they live */
struct field {
	const char *name;
	size_t off;
	int required;
};
#define FIELD(n, member, req)                                                                      \
	{                                                                                          \
		n, offsetof(struct spool_msg, member), req                                         \
	}
static const struct field str_fields[] = {
	FIELD("channel", channel, 1),
	FIELD("to", to, 1),
	FIELD("from-name", from_name, 0),
	FIELD("subject", subject, 0),
	FIELD("front", front, 0),
	FIELD("last-error", last_error, 0),
	FIELD("secret", secret, 0),
	FIELD("reply", reply, 0),
	FIELD("dlr", dlr, 0),
	FIELD("account", account, 0),
	FIELD("answer", answer, 0),
};
#define NSTR (sizeof(str_fields) / sizeof(str_fields[0]))

static char **str_at(struct spool_msg *m, size_t i)
{
	return (char **)((char *)m + str_fields[i].off);
}

static const char *str_get(const struct spool_msg *m, size_t i)
{
	return *(char *const *)((const char *)m + str_fields[i].off);
}

int spool_check(const struct spool_msg *m, char *err, size_t errlen)
{
	if (!id_valid(m->id)) {
		snprintf(err, errlen, "id: not a spool id");
		return -EINVAL;
	}
	if (!m->channel || spool_channel_index(m->channel) < 0) {
		snprintf(err, errlen, "channel: must be email, sms or check");
		return -EINVAL;
	}
	if (!m->to || !*m->to) {
		snprintf(err, errlen, "to: missing");
		return -EINVAL;
	}
	if (!m->body || !utf8_valid((const unsigned char *)m->body, strlen(m->body))) {
		snprintf(err, errlen, "body: missing or not UTF-8");
		return -EINVAL;
	}
	for (size_t i = 0; i < NSTR; i++) {
		const char *v = str_get(m, i);
		if (!v)
			continue;
		/* a CR or LF would start a new envelope line: header injection */
		if (strpbrk(v, "\r\n")) {
			snprintf(err, errlen, "%s: contains CR or LF", str_fields[i].name);
			return -EINVAL;
		}
		if (!utf8_valid((const unsigned char *)v, strlen(v))) {
			snprintf(err, errlen, "%s: not UTF-8", str_fields[i].name);
			return -EINVAL;
		}
	}
	if (m->history) {
		const char *h = m->history;
		if (strchr(h, '\r') || !*h || h[strlen(h) - 1] == '\n' || strstr(h, "\n\n") ||
		    !utf8_valid((const unsigned char *)h, strlen(h))) {
			snprintf(err, errlen, "history: empty line, CR or not UTF-8");
			return -EINVAL;
		}
	}
	if (m->attempts < 0 || m->created_ms < 0 || m->expires_ms < 0 || m->next_attempt_ms < 0 ||
	    m->delivered_ms < 0) {
		snprintf(err, errlen, "negative number in the envelope");
		return -EINVAL;
	}
	return 0;
}

char *spool_format(const struct spool_msg *m, size_t *len)
{
	char err[128];
	char *buf = NULL;
	size_t n = 0;
	FILE *f;

	if (spool_check(m, err, sizeof(err)) < 0)
		return NULL;
	f = open_memstream(&buf, &n);
	if (!f)
		fatal("out of memory");
	fprintf(f, "%s\nid: %s\n", SPOOL_MAGIC, m->id);
	for (size_t i = 0; i < 5; i++) /* channel .. front */
		fprintf(f, "%s:%s%s\n", str_fields[i].name, str_get(m, i) ? " " : "",
			str_get(m, i) ? str_get(m, i) : "");
	fprintf(f, "created: %lld\nexpires: %lld\nattempts: %d\nnext-attempt: %lld\n",
		(long long)m->created_ms, (long long)m->expires_ms, m->attempts,
		(long long)m->next_attempt_ms);
	for (size_t i = 5; i < NSTR; i++) /* last-error, secret, reply, dlr, account, answer */
		if (str_get(m, i) || strcmp(str_fields[i].name, "answer")) /* only a check's */
			fprintf(f, "%s:%s%s\n", str_fields[i].name, str_get(m, i) ? " " : "",
				str_get(m, i) ? str_get(m, i) : "");
	fprintf(f, "delivered: %lld\n", (long long)m->delivered_ms);
	for (const char *h = m->history; h && *h;) {
		size_t l = strcspn(h, "\n");
		fprintf(f, "history: %.*s\n", (int)l, h);
		h += l + (h[l] == '\n');
	}
	fprintf(f, "body-size: %zu\n\n%s", strlen(m->body), m->body);
	if (fclose(f) != 0)
		fatal("out of memory");
	if (len)
		*len = n;
	return buf;
}

static int parse_num(const char *v, int64_t *out)
{
	char *end;
	if (*v < '0' || *v > '9')
		return -EINVAL;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = x;
	return 0;
}

/* the state of one spool_parse */
struct sparse {
	struct spool_msg m;
	int64_t nums[6]; /* by num_names; -1: not seen (for those required) */
	unsigned seen;	 /* a bit per field: repeats are refused */
	int lineno;
	char *err;
	size_t errlen;
};

static const char *const num_names[] = {"created",	"expires",   "attempts",
					"next-attempt", "delivered", "body-size"};

static int pfail(struct sparse *sp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int pfail(struct sparse *sp, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sp->err, sp->errlen, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

/* field_once - mark field bit seen: -EBADMSG if it was already */
static int field_once(struct sparse *sp, int bit, const char *name)
{
	if (sp->seen & (1u << bit))
		return pfail(sp, "line %d: %s: repeated", sp->lineno, name);
	sp->seen |= 1u << bit;
	return 0;
}

/* parse_field - one "name: value" line of the envelope; takes val */
static int parse_field(struct sparse *sp, const char *name, size_t nlen, char *val)
{
	int rc = 0;
	if (nlen == 7 && !memcmp(name, "history", 7)) {
		/* the one field that repeats: one line per event, oldest first */
		if (*val) {
			char *h = sp->m.history ? xasprintf("%s\n%s", sp->m.history, val)
						: xstrdup(val);
			free(sp->m.history);
			sp->m.history = h;
		}
	} else if (nlen == 2 && !memcmp(name, "id", 2)) {
		if ((rc = field_once(sp, 0, "id")) == 0 && !id_valid(val))
			rc = pfail(sp, "line %d: id: not a spool id", sp->lineno);
		if (rc == 0)
			memcpy(sp->m.id, val, ID_LEN + 1);
	} else {
		for (size_t i = 0; i < NSTR; i++)
			if (strlen(str_fields[i].name) == nlen &&
			    !memcmp(name, str_fields[i].name, nlen)) {
				if ((rc = field_once(sp, 1 + (int)i, str_fields[i].name)) == 0 &&
				    *val) {
					*str_at(&sp->m, i) = val;
					return 0;
				}
				break;
			}
		for (size_t i = 0; i < 6; i++)
			if (strlen(num_names[i]) == nlen && !memcmp(name, num_names[i], nlen)) {
				if ((rc = field_once(sp, 1 + (int)NSTR + (int)i, num_names[i])) ==
					    0 &&
				    parse_num(val, &sp->nums[i]) < 0)
					rc = pfail(sp, "line %d: %s: not a number", sp->lineno,
						   num_names[i]);
				break;
			}
		/* anything else is a newer writer's field: ignored */
	}
	free(val);
	return rc;
}

/* parse_envelope - the "name: value" lines up to the blank line; *body after it */
static int parse_envelope(struct sparse *sp, const char *p, const char *end, const char **body)
{
	for (;;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		sp->lineno++;
		if (!nl)
			return pfail(
				sp,
				"truncated: line %d: the envelope does not end with a blank line",
				sp->lineno);
		if (nl == p) {
			*body = nl + 1;
			return 0;
		}
		const char *colon = memchr(p, ':', (size_t)(nl - p));
		if (!colon || colon == p)
			return pfail(sp, "line %d: expected \"name: value\"", sp->lineno);
		const char *v = colon + 1;
		if (v < nl && *v == ' ')
			v++;
		char *val = strndup(v, (size_t)(nl - v));
		if (!val)
			fatal("out of memory");
		if (memchr(val, '\r', strlen(val)) ||
		    !utf8_valid((const unsigned char *)val, strlen(val))) {
			free(val);
			return pfail(sp, "line %d: value is not clean UTF-8 text", sp->lineno);
		}
		int rc = parse_field(sp, p, (size_t)(colon - p), val);
		if (rc < 0)
			return rc;
		p = nl + 1;
	}
}

/* parse_magic - the first line: this format's magic and version */
static int parse_magic(struct sparse *sp, const char *text, size_t len)
{
	size_t ml = strlen(SPOOL_MAGIC);
	if (len == 0)
		return pfail(sp, "empty file");
	if (memchr(text, 0, len))
		return pfail(sp, "contains a NUL byte");
	if (len >= ml + 1 && memcmp(text, SPOOL_MAGIC, ml) == 0 && text[ml] == '\n')
		return 0;
	if (len > 14 && memcmp(text, "REGFLOW-SPOOL ", 14) == 0)
		return pfail(sp, "line 1: unsupported spool format version");
	return pfail(sp, "line 1: not a regflow spool file (expected \"%s\")", SPOOL_MAGIC);
}

/* parse_complete - what every message must have, and the body */
static int parse_complete(struct sparse *sp, const char *p, const char *end)
{
	if (!(sp->seen & 1u))
		return pfail(sp, "missing field \"id\"");
	for (size_t i = 0; i < NSTR; i++)
		if (str_fields[i].required && !str_get(&sp->m, i))
			return pfail(sp, "missing field \"%s\"", str_fields[i].name);
	if (sp->nums[0] < 0)
		return pfail(sp, "missing field \"created\"");
	if (sp->nums[5] < 0)
		return pfail(sp, "missing field \"body-size\"");
	if (spool_channel_index(sp->m.channel) < 0)
		return pfail(sp, "channel: unknown channel \"%.32s\"", sp->m.channel);
	if ((int64_t)(end - p) != sp->nums[5])
		return pfail(sp, "truncated: body has %lld bytes, body-size says %lld",
			     (long long)(end - p), (long long)sp->nums[5]);
	if (!utf8_valid((const unsigned char *)p, (size_t)(end - p)))
		return pfail(sp, "body is not valid UTF-8");
	if (sp->nums[2] > INT_MAX)
		return pfail(sp, "attempts: out of range");
	sp->m.body = strndup(p, (size_t)(end - p));
	if (!sp->m.body)
		fatal("out of memory");
	sp->m.created_ms = sp->nums[0];
	sp->m.expires_ms = sp->nums[1];
	sp->m.attempts = (int)sp->nums[2];
	sp->m.next_attempt_ms = sp->nums[3];
	sp->m.delivered_ms = sp->nums[4];
	return 0;
}

int spool_parse(const char *text, size_t len, struct spool_msg *out, char *err, size_t errlen)
{
	struct sparse sp = {
		.nums = {-1, 0, 0, 0, 0, -1}, .lineno = 1, .err = err, .errlen = errlen};
	const char *body = NULL;
	int rc = parse_magic(&sp, text, len);
	if (rc == 0)
		rc = parse_envelope(&sp, text + strlen(SPOOL_MAGIC) + 1, text + len, &body);
	if (rc == 0)
		rc = parse_complete(&sp, body, text + len);
	if (rc < 0) {
		spool_msg_free(&sp.m);
		return rc;
	}
	*out = sp.m;
	return 0;
}

void spool_msg_free(struct spool_msg *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < NSTR; i++) {
		free(*str_at(m, i));
		*str_at(m, i) = NULL;
	}
	free(m->body);
	free(m->history);
	m->body = m->history = NULL;
}

void spool_msg_copy(struct spool_msg *dst, const struct spool_msg *src)
{
	*dst = *src;
	for (size_t i = 0; i < NSTR; i++)
		*str_at(dst, i) = str_get(src, i) ? xstrdup(str_get(src, i)) : NULL;
	dst->body = src->body ? xstrdup(src->body) : NULL;
	dst->history = src->history ? xstrdup(src->history) : NULL;
}

void spool_history_add(struct spool_msg *m, int64_t at_ms, const char *fmt, ...)
{
	char text[600];
	va_list ap;
	size_t n, lines = 1;
	char *h;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (n = 0; text[n]; n++)
		if ((unsigned char)text[n] < 0x20 || text[n] == 0x7f)
			text[n] = ' ';
	if (!utf8_valid((const unsigned char *)text, n)) /* a cut in a character */
		for (char *q = text; *q; q++)
			if ((unsigned char)*q >= 0x80)
				*q = '?';
	h = m->history ? xasprintf("%s\n%lld %s", m->history, (long long)at_ms, text)
		       : xasprintf("%lld %s", (long long)at_ms, text);
	for (const char *q = h; (q = strchr(q, '\n')); q++)
		lines++;
	while (lines-- > SPOOL_HISTORY_MAX) {
		/* drop the oldest but the first (the message's start stays, and
		 * the latest: a flood of reports cannot push out how it began) */
		char *nl = strchr(h, '\n'), *nl2 = nl ? strchr(nl + 1, '\n') : NULL;
		if (!nl2)
			break;
		memmove(nl + 1, nl2 + 1, strlen(nl2 + 1) + 1);
	}
	free(m->history);
	m->history = h;
}

/* mask_in - replace each occurrence of secret in *s by one '*' per character */
static void mask_in(char *s, const char *secret)
{
	size_t sl = strlen(secret), chars = 0;
	for (size_t i = 0; i < sl; i++)
		chars += ((unsigned char)secret[i] & 0xC0) != 0x80;
	for (char *hit = strstr(s, secret); hit; hit = strstr(hit + chars, secret)) {
		/* the mask is never longer than the secret, so this shrinks in place */
		memset(hit, '*', chars);
		memmove(hit + chars, hit + sl, strlen(hit + sl) + 1);
	}
}

void spool_mask_secret(struct spool_msg *m)
{
	if (m->secret && *m->secret) {
		if (m->body)
			mask_in(m->body, m->secret);
		if (m->subject)
			mask_in(m->subject, m->secret);
	}
	if (m->secret)
		sodium_memzero(m->secret, strlen(m->secret));
	free(m->secret);
	m->secret = NULL;
}

void spool_set_error(struct spool_msg *m, const char *text)
{
	char *c = xstrdup(text && *text ? text : "unknown error");
	size_t n = strlen(c);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f)
			c[i] = ' ';
	while (n > 0 && c[n - 1] == ' ')
		c[--n] = 0;
	if (n > 500) /* keep the envelope line readable */
		c[500] = 0;
	/* the cut or a server's bytes may leave broken UTF-8: keep ASCII then */
	if (!utf8_valid((const unsigned char *)c, strlen(c)))
		for (char *q = c; *q; q++)
			if ((unsigned char)*q >= 0x80)
				*q = '?';
	free(m->last_error);
	m->last_error = c;
}

/* write_tmp - the file for m in tmp/, fsynced and closed; its path in tmp */
/* write_tmp_fd - m into a new file under tmp/; with keep, its descriptor
 * is left open and unsynced in *keep (the caller syncs a batch at once) */
static int write_tmp_fd(const char *dir, const struct spool_msg *m, char *tmp, size_t tn, int *keep)
{
	char name[64];
	size_t len, off = 0;
	char *text;
	int fd, rc = 0;

	snprintf(name, sizeof(name), "%s.%d.%08x", m->id, (int)getpid(), randombytes_random());
	if ((rc = spool_path(tmp, tn, dir, "tmp", name)) < 0)
		return rc;
	text = spool_format(m, &len);
	if (!text)
		return -EINVAL;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = -errno;
			goto out;
		}
		off += (size_t)w;
	}
	if (keep) {
		*keep = fd;
		fd = -1;
	} else if (fsync(fd) < 0) {
		rc = -errno;
	}
out:
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0 && fd >= 0)
		unlink(tmp);
	if (text)
		sodium_memzero(text, len); /* it holds the secret */
	free(text);
	return rc;
}

static int write_tmp(const char *dir, const struct spool_msg *m, char *tmp, size_t tn)
{
	return write_tmp_fd(dir, m, tmp, tn, NULL);
}

/*
 * write_batch - the files of a batch under tmp/ (tmps[i]), all written
 * first, then made durable together by one syncfs() of the spool's file
 * system (as PostgreSQL's syncfs option): one journal commit for the batch,
 * where a fsync a file cost one each.  Items with rcs[i] != 0 are skipped;
 * a failure sets rcs[i] (and its file is gone).
 */
static void write_batch(const char *dir, const struct spool_msg *ms, size_t n,
			char (*tmps)[PATH_MAX], int *rcs)
{
	int *fds = xcalloc(n ? n : 1, sizeof(int));
	for (size_t i = 0; i < n; i++) {
		fds[i] = -1;
		if (rcs[i] == 0)
			rcs[i] = write_tmp_fd(dir, &ms[i], tmps[i], PATH_MAX, &fds[i]);
	}
	int synced = 1, err = 0;
	for (size_t i = 0; i < n && synced; i++)
		if (fds[i] >= 0) {
			if (syncfs(fds[i]) < 0)
				err = -errno;
			synced = 0;
		}
	for (size_t i = 0; i < n; i++) {
		if (fds[i] < 0)
			continue;
		if (err && rcs[i] == 0)
			rcs[i] = err;
		if (close(fds[i]) < 0 && rcs[i] == 0)
			rcs[i] = -errno;
		if (rcs[i] < 0)
			unlink(tmps[i]);
	}
	free(fds);
}

int spool_find(const char *dir, const char *id, enum spool_state *st)
{
	char p[PATH_MAX];
	struct stat sb;

	for (int i = 0; i < SPOOL_NSTATE; i++) {
		if (i == SPOOL_CORRUPT)
			continue;
		if (spool_path(p, sizeof(p), dir, state_dirs[i], id) < 0)
			return -ENAMETOOLONG;
		if (stat(p, &sb) == 0) {
			if (st)
				*st = (enum spool_state)i;
			return 0;
		}
	}
	return -ENOENT;
}

int spool_enqueue(const char *dir, const struct spool_msg *m)
{
	char tmp[PATH_MAX], dst[PATH_MAX], err[128];
	int rc;

	if ((rc = spool_check(m, err, sizeof(err))) < 0)
		return rc;
	if (spool_find(dir, m->id, NULL) == 0)
		return 0;
	if ((rc = spool_path(dst, sizeof(dst), dir, state_dirs[SPOOL_QUEUED], m->id)) < 0)
		return rc;
	if ((rc = write_tmp(dir, m, tmp, sizeof(tmp))) < 0)
		return rc;
	/* link() never replaces: a concurrent enqueue of the same id is a no-op */
	if (link(tmp, dst) < 0 && errno != EEXIST)
		rc = -errno;
	unlink(tmp);
	if (rc == 0 && spool_path(dst, sizeof(dst), dir, state_dirs[SPOOL_QUEUED], NULL) == 0)
		rc = fsync_dir(dst);
	return rc;
}

int spool_enqueue_batch(const char *dir, const struct spool_msg *ms, size_t n, int *rcs)
{
	char dst[PATH_MAX], err[128];
	char(*tmps)[PATH_MAX] = xcalloc(n ? n : 1, PATH_MAX);
	int linked = 0, rc;
	int *skip = xcalloc(n ? n : 1, sizeof(int)); /* there already: taken once */

	for (size_t i = 0; i < n; i++) {
		rcs[i] = spool_check(&ms[i], err, sizeof(err));
		if (rcs[i] == 0 && spool_find(dir, ms[i].id, NULL) == 0)
			skip[i] = rcs[i] = 1; /* not written; reported as done below */
	}
	write_batch(dir, ms, n, tmps, rcs);
	for (size_t i = 0; i < n; i++) {
		if (skip[i])
			rcs[i] = 0;
		if (skip[i] || rcs[i] < 0)
			continue;
		if ((rcs[i] = spool_path(dst, sizeof(dst), dir, state_dirs[SPOOL_QUEUED],
					 ms[i].id)) == 0) {
			/* link() never replaces: a concurrent enqueue of the same id is a no-op */
			if (link(tmps[i], dst) < 0 && errno != EEXIST)
				rcs[i] = -errno;
			else
				linked++;
		}
		unlink(tmps[i]);
	}
	free(skip);
	free(tmps);
	if (!linked)
		return 0;
	/* one directory sync makes every link of the batch durable */
	if ((rc = spool_path(dst, sizeof(dst), dir, state_dirs[SPOOL_QUEUED], NULL)) == 0)
		rc = fsync_dir(dst);
	for (size_t i = 0; rc < 0 && i < n; i++)
		if (rcs[i] == 0)
			rcs[i] = rc;
	return 0;
}

int spool_record_batch(const char *dir, const struct spool_msg *ms, const enum spool_state *to,
		       size_t n, int *rcs)
{
	char dst[PATH_MAX];
	char(*tmps)[PATH_MAX] = xcalloc(n ? n : 1, PATH_MAX);
	unsigned synced = 0; /* a bit per state directory that needs its sync */

	for (size_t i = 0; i < n; i++)
		rcs[i] = 0;
	write_batch(dir, ms, n, tmps, rcs);
	for (size_t i = 0; i < n; i++) {
		if (rcs[i] < 0 ||
		    (rcs[i] = spool_path(dst, sizeof(dst), dir, state_dirs[to[i]], ms[i].id)) < 0) {
			if (tmps[i][0])
				unlink(tmps[i]);
			continue;
		}
		if (rename(tmps[i], dst) < 0) {
			rcs[i] = -errno;
			unlink(tmps[i]);
			continue;
		}
		synced |= 1u << to[i];
	}
	free(tmps);
	for (int st = 0; st < SPOOL_NSTATE; st++) {
		if (!(synced & (1u << st)) ||
		    spool_path(dst, sizeof(dst), dir, state_dirs[st], NULL))
			continue;
		int rc = fsync_dir(dst);
		for (size_t i = 0; rc < 0 && i < n; i++)
			if (rcs[i] == 0 && to[i] == (enum spool_state)st)
				rcs[i] = rc;
	}
	/* the copies in active/ go once the outcomes are durable; one left by a
	 * crash is recognised at start (spool_leftover) and removed */
	for (size_t i = 0; i < n; i++)
		if (rcs[i] == 0 && to[i] != SPOOL_ACTIVE &&
		    spool_path(dst, sizeof(dst), dir, state_dirs[SPOOL_ACTIVE], ms[i].id) == 0)
			unlink(dst);
	return 0;
}

int spool_leftover(const char *dir, const char *id)
{
	char p[PATH_MAX];
	struct stat sb;
	for (int st = 0; st < SPOOL_NSTATE; st++)
		if (st != SPOOL_ACTIVE && st != SPOOL_QUEUED && st != SPOOL_CORRUPT &&
		    spool_path(p, sizeof(p), dir, state_dirs[st], id) == 0 && stat(p, &sb) == 0)
			return 1;
	return 0;
}

int spool_write(const char *dir, enum spool_state st, const struct spool_msg *m)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	int rc;

	if ((rc = spool_path(dst, sizeof(dst), dir, state_dirs[st], m->id)) < 0)
		return rc;
	if ((rc = write_tmp(dir, m, tmp, sizeof(tmp))) < 0)
		return rc;
	if (rename(tmp, dst) < 0) {
		rc = -errno;
		unlink(tmp);
		return rc;
	}
	spool_path(dst, sizeof(dst), dir, state_dirs[st], NULL);
	return fsync_dir(dst);
}

int spool_load(const char *dir, enum spool_state st, const char *name, struct spool_msg *m,
	       char *err, size_t errlen)
{
	char p[PATH_MAX];
	char *text = NULL;
	size_t len = 0;
	int rc;

	err[0] = 0;
	if ((rc = spool_path(p, sizeof(p), dir, state_dirs[st], name)) < 0)
		return rc;
	rc = file_read(p, SPOOL_MAX_FILE, &text, &len);
	if (rc == -EFBIG) {
		snprintf(err, errlen, "larger than %d bytes", SPOOL_MAX_FILE);
		return rc;
	}
	if (rc < 0)
		return rc;
	rc = spool_parse(text, len, m, err, errlen);
	if (rc == 0 && strcmp(m->id, name) != 0) {
		snprintf(err, errlen, "id %s does not match the file name", m->id);
		spool_msg_free(m);
		rc = -EBADMSG;
	}
	sodium_memzero(text, len);
	free(text);
	return rc;
}

int spool_move(const char *dir, const char *id, enum spool_state from, enum spool_state to,
	       int flags)
{
	char a[PATH_MAX], b[PATH_MAX];
	int rc;

	if ((rc = spool_path(a, sizeof(a), dir, state_dirs[from], id)) < 0 ||
	    (rc = spool_path(b, sizeof(b), dir, state_dirs[to], id)) < 0)
		return rc;
	if (rename(a, b) < 0)
		return -errno;
	if (flags & SPOOL_NOSYNC)
		return 0;
	spool_path(b, sizeof(b), dir, state_dirs[to], NULL);
	return fsync_dir(b);
}

int spool_quarantine(const char *dir, enum spool_state st, const char *name, const char *why)
{
	char a[PATH_MAX], b[PATH_MAX];
	struct stat sb;
	int rc;

	if ((rc = spool_path(a, sizeof(a), dir, state_dirs[st], name)) < 0 ||
	    (rc = spool_path(b, sizeof(b), dir, state_dirs[SPOOL_CORRUPT], name)) < 0)
		return rc;
	if (stat(b, &sb) == 0) { /* keep an earlier corrupt file of that name */
		size_t n = strlen(b);
		snprintf(b + n, sizeof(b) - n, ".%lld", (long long)now_ms());
	}
	if (rename(a, b) < 0) {
		rc = -errno;
		log_err("spool: %s/%s is corrupt (%s) and cannot be moved aside: %s",
			state_dirs[st], name, why, strerror(-rc));
		return rc;
	}
	log_warn("spool: %s/%s moved to corrupt/: %s", state_dirs[st], name, why);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int spool_list(const char *dir, enum spool_state st, char ***names, size_t *n)
{
	char p[PATH_MAX];
	struct dirent *de;
	char **v = NULL;
	size_t cnt = 0, cap = 0;
	DIR *d;
	int rc;

	*names = NULL;
	*n = 0;
	if ((rc = spool_path(p, sizeof(p), dir, state_dirs[st], NULL)) < 0)
		return rc;
	if (!(d = opendir(p))) {
		/* answered/ is younger than older spools: until a daemon of this
		 * version has started on one (spool_init), it is empty */
		if (errno == ENOENT && st == SPOOL_ANSWERED)
			return 0;
		return -errno;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 64;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[cnt++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_str);
	*names = v;
	*n = cnt;
	return 0;
}

void spool_list_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int spool_stats(const char *dir, struct spool_stats *out)
{
	char err[256];

	memset(out, 0, sizeof(*out));
	for (int st = 0; st < SPOOL_NSTATE; st++) {
		char **names;
		size_t n;
		int rc = spool_list(dir, (enum spool_state)st, &names, &n);
		if (rc < 0)
			return rc;
		for (size_t i = 0; i < n; i++) {
			struct spool_msg m;
			if (st == SPOOL_CORRUPT) {
				out->unreadable[st]++;
				continue;
			}
			rc = spool_load(dir, (enum spool_state)st, names[i], &m, err, sizeof(err));
			if (rc == -ENOENT) /* moved on while we looked */
				continue;
			if (rc < 0) {
				out->unreadable[st]++;
				continue;
			}
			out->count[st][spool_channel_index(m.channel)]++;
			if (!out->oldest_ms[st] || m.created_ms < out->oldest_ms[st])
				out->oldest_ms[st] = m.created_ms;
			if (st == SPOOL_SENT && m.dlr && strcmp(m.dlr, "delivered") == 0)
				out->dlr_delivered++;
			else if (st == SPOOL_SENT && m.dlr && strcmp(m.dlr, "failed") == 0)
				out->dlr_failed++;
			spool_msg_free(&m);
		}
		spool_list_free(names, n);
	}
	return 0;
}
