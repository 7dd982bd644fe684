/*
 * conf - libconfig loading, -o overrides and typed getters (see conf.h).
 */
#include "conf.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONF_DEFAULT_FILE "conf/regflow.conf"

int conf_args_getopt(int argc, char **argv, struct conf_args *a)
{
	int opt;
	while ((opt = getopt(argc, argv, "+c:o:h")) != -1)
		if (opt == 'h' || conf_args_add(a, opt, optarg) < 0)
			return -1;
	return optind;
}

int conf_args_add(struct conf_args *a, int opt, const char *arg)
{
	if (opt == 'c') {
		a->file = arg;
		return 0;
	}
	if (opt == 'o' && a->nov < CONF_MAX_OVERRIDES) {
		a->ov[a->nov++] = arg;
		return 0;
	}
	return -EINVAL;
}

static void conf_fail(struct conf *c, const config_setting_t *s, const char *path, const char *fmt,
		      ...) __attribute__((format(printf, 4, 5)));

static void conf_fail(struct conf *c, const config_setting_t *s, const char *path, const char *fmt,
		      ...)
{
	char why[256];
	va_list ap;

	if (c->err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (s && config_setting_source_file(s))
		snprintf(c->err, sizeof(c->err), "%s:%u: %s: %s", config_setting_source_file(s),
			 config_setting_source_line(s), path, why);
	else
		snprintf(c->err, sizeof(c->err), "-o %s: %s", path, why);
}

/* ov_fail - an -o error: "-o what: reason" */
static int ov_fail(struct conf *c, int rc, const char *what, const char *reason)
{
	snprintf(c->err, sizeof(c->err), "-o %s: %s", what, reason);
	return rc;
}

/* ov_set - give an existing scalar setting the value */
static int ov_set(struct conf *c, config_setting_t *s, const char *path, const char *val)
{
	char *end;
	long long v;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		errno = 0;
		v = strtoll(val, &end, 10);
		if (errno || *end || end == val)
			return ov_fail(c, -EINVAL, path, "expected an integer");
		if (config_setting_type(s) == CONFIG_TYPE_INT && (v < INT_MIN || v > INT_MAX))
			return ov_fail(c, -ERANGE, path, "out of range");
		config_setting_set_int64(s, v);
		return 0;
	case CONFIG_TYPE_BOOL:
		if (strcmp(val, "true") != 0 && strcmp(val, "false") != 0)
			return ov_fail(c, -EINVAL, path, "expected true or false");
		config_setting_set_bool(s, strcmp(val, "true") == 0);
		return 0;
	case CONFIG_TYPE_STRING:
		config_setting_set_string(s, val);
		return 0;
	default:
		return ov_fail(c, -EINVAL, path, "not a scalar setting");
	}
}

/* ov_create - create missing groups along the path, then the setting as a string */
static int ov_create(struct conf *c, char *path, const char *val, const char *assign)
{
	config_setting_t *parent = config_root_setting(&c->cfg);
	char *save, *next, *tok = strtok_r(path, ".", &save);
	for (; tok; tok = next) {
		next = strtok_r(NULL, ".", &save);
		config_setting_t *child = config_setting_get_member(parent, tok);
		if (!next) {
			if (child)
				return ov_fail(c, -EINVAL, assign, "not a scalar setting");
			child = config_setting_add(parent, tok, CONFIG_TYPE_STRING);
			if (!child)
				return ov_fail(c, -EINVAL, assign, "bad setting name");
			config_setting_set_string(child, val);
			return 0;
		}
		if (!child)
			child = config_setting_add(parent, tok, CONFIG_TYPE_GROUP);
		if (!child || config_setting_type(child) != CONFIG_TYPE_GROUP) {
			snprintf(c->err, sizeof(c->err), "-o %s: %s is not a group", assign, tok);
			return -EINVAL;
		}
		parent = child;
	}
	return ov_fail(c, -EINVAL, assign, "expected path=value");
}

/* conf_override_one - "a.b.c=value": set an existing scalar or create a string */
static int conf_override_one(struct conf *c, const char *assign)
{
	const char *eq = strchr(assign, '=');
	char path[256];

	if (!eq || eq == assign || (size_t)(eq - assign) >= sizeof(path))
		return ov_fail(c, -EINVAL, assign, "expected path=value");
	memcpy(path, assign, (size_t)(eq - assign));
	path[eq - assign] = 0;
	/* a dotted path only: libconfig would also split on '/' and ':' */
	for (const char *p = path; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.'))
			return ov_fail(c, -EINVAL, path, "bad setting path");
	config_setting_t *s = config_lookup(&c->cfg, path);
	return s ? ov_set(c, s, path, eq + 1) : ov_create(c, path, eq + 1, assign);
}

int conf_open(struct conf *c, const struct conf_args *a)
{
	memset(c, 0, sizeof(*c));
	config_init(&c->cfg);
	c->file = a ? a->file : NULL;
	if (!c->file && access(CONF_DEFAULT_FILE, R_OK) == 0)
		c->file = CONF_DEFAULT_FILE;
	if (c->file) {
		char dir[1024];
		snprintf(dir, sizeof(dir), "%s", c->file);
		char *slash = strrchr(dir, '/');
		if (slash) {
			*slash = 0;
			config_set_include_dir(&c->cfg, dir);
		}
		struct stat sb;
		if (stat(c->file, &sb) == 0 && !S_ISREG(sb.st_mode)) {
			snprintf(c->err, sizeof(c->err), "%s: %s, not a configuration file",
				 c->file,
				 S_ISDIR(sb.st_mode) ? "a directory" : "not a regular file");
			return -EINVAL;
		}
		errno = 0;
		if (config_read_file(&c->cfg, c->file) != CONFIG_TRUE) {
			if (config_error_type(&c->cfg) == CONFIG_ERR_FILE_IO)
				snprintf(c->err, sizeof(c->err), "%s: cannot read: %s", c->file,
					 errno ? strerror(errno) : "not a readable file");
			else
				snprintf(c->err, sizeof(c->err), "%s:%d: %s",
					 config_error_file(&c->cfg) ? config_error_file(&c->cfg)
								    : c->file,
					 config_error_line(&c->cfg), config_error_text(&c->cfg));
			return -EINVAL;
		}
	}
	for (int i = 0; a && i < a->nov; i++)
		if (conf_override_one(c, a->ov[i]) < 0)
			return -EINVAL;
	return 0;
}

void conf_close(struct conf *c)
{
	config_destroy(&c->cfg);
}

const char *conf_error(const struct conf *c)
{
	return c->err[0] ? c->err : NULL;
}

const char *conf_str(struct conf *c, const char *path, const char *def)
{
	config_setting_t *s = config_lookup(&c->cfg, path);
	if (!s)
		return def;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		conf_fail(c, s, path, "expected a string");
		return def;
	}
	return config_setting_get_string(s);
}

long long conf_int(struct conf *c, const char *path, long long def)
{
	config_setting_t *s = config_lookup(&c->cfg, path);
	if (!s)
		return def;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return config_setting_get_int64(s);
	case CONFIG_TYPE_STRING: { /* an override creates strings */
		const char *v = config_setting_get_string(s);
		char *end;
		errno = 0;
		long long n = strtoll(v, &end, 10);
		if (!errno && *v && !*end)
			return n;
		break;
	}
	default:
		break;
	}
	conf_fail(c, s, path, "expected an integer");
	return def;
}

int conf_bool(struct conf *c, const char *path, int def)
{
	config_setting_t *s = config_lookup(&c->cfg, path);
	if (!s)
		return def;
	if (config_setting_type(s) == CONFIG_TYPE_BOOL)
		return config_setting_get_bool(s);
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		const char *v = config_setting_get_string(s);
		if (strcmp(v, "true") == 0)
			return 1;
		if (strcmp(v, "false") == 0)
			return 0;
	}
	conf_fail(c, s, path, "expected true or false");
	return def;
}

int64_t conf_duration(struct conf *c, const char *path, const char *def)
{
	const char *v = conf_str(c, path, def);
	int64_t ms = 0;
	if (duration_parse(v, &ms) < 0) {
		conf_fail(c, config_lookup(&c->cfg, path), path,
			  "bad duration \"%s\" (use e.g. 250ms, 30s, 15m, 2h, 1d)", v);
		duration_parse(def, &ms);
	}
	return ms;
}

/* read_item - one row of a settings table into its field of dst */
static void read_item(struct conf *c, const struct conf_item *it, char *dst)
{
	config_setting_t *s = config_lookup(&c->cfg, it->path);
	long long v = 0;
	switch (it->type) {
	case CONF_STR:
		*(const char **)(dst + it->off) = conf_str(c, it->path, it->def);
		return;
	case CONF_BOOL:
		*(int *)(dst + it->off) = conf_bool(c, it->path, !strcmp(it->def, "true"));
		return;
	case CONF_INT:
		v = conf_int(c, it->path, strtoll(it->def, NULL, 10));
		*(long long *)(dst + it->off) = v;
		break;
	case CONF_DUR:
		v = conf_duration(c, it->path, it->def);
		*(int64_t *)(dst + it->off) = v;
		break;
	case CONF_INT32:
		v = conf_int(c, it->path, strtoll(it->def, NULL, 10));
		*(int *)(dst + it->off) = v < INT_MIN ? INT_MIN : v > INT_MAX ? INT_MAX : (int)v;
		break;
	case CONF_OWN:
		return;
	}
	if ((it->min || it->max) && (v < it->min || v > it->max) && !c->err[0]) {
		if (it->type == CONF_DUR) {
			char lo[32], hi[32];
			duration_format(it->min, lo, sizeof(lo));
			duration_format(it->max, hi, sizeof(hi));
			conf_fail(c, s, it->path, "must be between %s and %s", lo, hi);
		} else {
			conf_fail(c, s, it->path, "must be between %lld and %lld", it->min,
				  it->max);
		}
	}
}

/* the sections of the one file, and the settings more than one program reads */
static const char *const sections[] = {"log", "spool", "api", "engine", "gateway", "ctl", NULL};
static const char *const shared_sections[] = {"log", "spool", "api", NULL};
static const char *const shared[] = {"log.level", "spool.dir", "api.tokens_file", NULL};

static int in_list(const char *const *l, const char *s)
{
	for (; *l; l++)
		if (!strcmp(*l, s))
			return 1;
	return 0;
}

/* distance - Levenshtein distance of a and b, for "did you mean"; capped */
static int distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	int row[128];
	if (la >= 127 || lb >= 127)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		int diag = row[0];
		row[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			int up = row[j], best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

/* nearest - the known setting closest to path (within 3 edits), or NULL */
static const char *nearest(const struct conf_item *items, const char *path)
{
	const char *best = NULL;
	int bd = 4;
	for (const struct conf_item *it = items; it->path; it++)
		if (distance(it->path, path) < bd)
			bd = distance(it->path, path), best = it->path;
	for (const char *const *s = shared; *s; s++)
		if (distance(*s, path) < bd)
			bd = distance(*s, path), best = *s;
	return best;
}

static int known(const struct conf_item *items, const char *path)
{
	for (const struct conf_item *it = items; it->path; it++)
		if (!strcmp(it->path, path))
			return 1;
	return in_list(shared, path);
}

/* check_tree - every setting under s that this program reads must be known */
static void check_tree(struct conf *c, config_setting_t *s, const char *prefix,
		       const struct conf_item *items, const char *const *own)
{
	for (int i = 0; i < config_setting_length(s) && !c->err[0]; i++) {
		config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
		char path[256];
		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "",
			 config_setting_name(m));
		if (!*prefix && !in_list(sections, path)) {
			conf_fail(c, m, path,
				  "unknown section (log, spool, api, engine, gateway, ctl)");
			return;
		}
		const char *top = *prefix ? prefix : path;
		char first[64];
		snprintf(first, sizeof(first), "%.*s", (int)strcspn(top, "."), top);
		if (!in_list(own, first) && !in_list(shared_sections, first))
			continue; /* another program's */
		if (config_setting_type(m) == CONFIG_TYPE_GROUP && !known(items, path)) {
			check_tree(c, m, path, items, own);
		} else if (!known(items, path)) {
			const char *near = nearest(items, path);
			if (near)
				conf_fail(c, m, path, "unknown setting (did you mean %s?)", near);
			else
				conf_fail(c, m, path, "unknown setting");
		}
	}
}

int conf_check_known(struct conf *c, const struct conf_item *items, const char *const *own)
{
	check_tree(c, config_root_setting(&c->cfg), "", items, own);
	return c->err[0] ? -EINVAL : 0;
}

int conf_read(struct conf *c, const struct conf_item *items, void *dst)
{
	for (const struct conf_item *it = items; it->path; it++)
		read_item(c, it, dst);
	return c->err[0] ? -EINVAL : 0;
}
