/*
 * util - durations, clocks, ids and careful file I/O (see util.h).
 */
#include "util.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int duration_parse(const char *s, int64_t *ms)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {{"ms", 1},	     {"s", 1000},     {"m", 60000},
		     {"h", 3600000}, {"d", 86400000}, {"w", 7 * 86400000LL}};
	int64_t total = 0;
	int parts = 0;

	if (!s || !*s)
		return -EINVAL;
	while (*s) {
		char *end;
		size_t i, ulen = 0;
		if (*s < '0' || *s > '9')
			return -EINVAL;
		errno = 0;
		long long v = strtoll(s, &end, 10);
		if (errno || end == s)
			return -EINVAL;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			ulen = strlen(units[i].unit);
			/* "ms" must win over "m" */
			if (strncmp(end, units[i].unit, ulen) == 0 &&
			    !(ulen == 1 && end[0] == 'm' && end[1] == 's'))
				break;
		}
		if (i == sizeof(units) / sizeof(units[0]))
			return -EINVAL;
		if (v > INT64_MAX / units[i].ms / 2 || total > INT64_MAX / 2 - v * units[i].ms)
			return -ERANGE;
		total += v * units[i].ms;
		s = end + ulen;
		parts++;
	}
	*ms = total;
	return parts ? 0 : -EINVAL;
}

void duration_format(int64_t ms, char *buf, size_t n)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
	size_t off = 0;

	if (ms <= 0) {
		snprintf(buf, n, "0s");
		return;
	}
	buf[0] = 0;
	for (size_t i = 0; i < 5 && off < n; i++) {
		if (ms >= units[i].ms) {
			off += (size_t)snprintf(buf + off, n - off, "%lld%s",
						(long long)(ms / units[i].ms), units[i].unit);
			ms %= units[i].ms;
		}
	}
}

int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
static int id_node_no; /* id_set_node */

void id_new(char out[ID_LEN + 1])
{
	/* 48 bits of time, the node's digit, then 10 bits that start at a
	 * random point each millisecond and count up: ids from one process are
	 * unique and increasing even at hundreds of thousands a second (the
	 * time borrows from the next millisecond when the counter runs out) */
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static uint64_t last_t, last_r;
	uint64_t t = (uint64_t)now_ms() & 0xFFFFFFFFFFFFULL, r;

	if (sodium_init() < 0)
		fatal("libsodium cannot initialise");
	pthread_mutex_lock(&mu);
	if (t <= last_t) {
		t = last_t;
		r = last_r + 1;
		if (r >= (1u << 10)) {
			t++;
			r = randombytes_uniform(1u << 9);
		}
	} else {
		r = randombytes_uniform(1u << 9);
	}
	last_t = t;
	last_r = r;
	pthread_mutex_unlock(&mu);
	/* digits 0..9 hold 48 bits of time (with 2 spare high bits), 10 the
	 * node, 11..12 the count */
	for (int i = 9; i >= 0; i--) {
		out[i] = crockford[t & 31];
		t >>= 5;
	}
	for (int i = 12; i >= 11; i--) {
		out[i] = crockford[r & 31];
		r >>= 5;
	}
	out[10] = crockford[id_node_no];
	out[ID_LEN] = 0;
}

void id_set_node(int node)
{
	id_node_no = node >= 0 && node < ID_NODES ? node : 0;
}

int id_node(const char *id)
{
	if (!id || !id_valid(id))
		return -1;
	return (int)(strchr(crockford, id[10]) - crockford);
}

int id_valid(const char *s)
{
	size_t i;
	for (i = 0; s[i]; i++)
		if (!strchr(crockford, s[i]))
			return 0;
	return i == ID_LEN;
}

int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	int rc = 0;
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int file_write_atomic(const char *path, const void *data, size_t len, int mode)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	const char *p = data;
	int fd, rc = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) < 0) {
		rc = -errno;
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = -errno;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		rc = -errno;
		goto out;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	rc = fsync_dir(slash ? dir : ".");
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlink(tmp);
	return rc;
}

int file_read(const char *path, size_t max, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if ((size_t)st.st_size > max) {
		rc = -EFBIG;
		goto out;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	buf[got] = 0;
	*out = buf;
	buf = NULL;
	if (len)
		*len = got;
out:
	free(buf);
	close(fd);
	return rc;
}

int mkdir_p(const char *dir, int mode)
{
	char buf[PATH_MAX];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, dir, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, (mode_t)mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, (mode_t)mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		fatal("out of memory (%zu bytes)", n);
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p)
		fatal("out of memory");
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		fatal("out of memory (%zu bytes)", n);
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		fatal("out of memory");
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		fatal("out of memory");
	va_end(ap);
	return s;
}

size_t utf8_char_len(const unsigned char *s, size_t n)
{
	static const struct {
		unsigned mask, lead, len;
		uint32_t min;
	} forms[] = {{0xe0, 0xc0, 2, 0x80}, {0xf0, 0xe0, 3, 0x800}, {0xf8, 0xf0, 4, 0x10000}};
	if (s[0] > 0 && s[0] < 0x80)
		return 1;
	for (size_t f = 0; f < 3; f++) {
		if ((s[0] & forms[f].mask) != forms[f].lead)
			continue;
		size_t len = forms[f].len;
		if (len > n)
			return 0;
		uint32_t cp = s[0] & (0x7fu >> len);
		for (size_t i = 1; i < len; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i] & 0x3f);
		}
		if (cp < forms[f].min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		return len;
	}
	return 0;
}

char *utf8_clip(const char *s, size_t max)
{
	size_t n = strnlen(s ? s : "", max), o = 0;
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	char *out = xmalloc(n + 1);
	for (size_t i = 0; i < n;) {
		size_t len = utf8_char_len(p + i, n - i);
		size_t need = p[i] >= 0xf0 ? 4 : p[i] >= 0xe0 ? 3 : p[i] >= 0xc2 ? 2 : 1;
		if (len == 0 && need > n - i)
			break; /* a character the cut split: dropped */
		if (len == 0) {
			out[o++] = '?';
			i++;
			continue;
		}
		memcpy(out + o, p + i, len);
		o += len;
		i += len;
	}
	out[o] = 0;
	return out;
}
