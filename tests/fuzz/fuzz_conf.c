/*
 * fuzz_conf - conf_open on an arbitrary configuration file and -o
 * overrides, then the typed getters (libFuzzer; make fuzz).
 *
 * Input: the file's text, then after the first NUL byte the overrides,
 * NUL-separated, as "-o path=value" would pass them (at most
 * CONF_MAX_OVERRIDES).  The file is written to a temp directory; inputs
 * holding a libconfig @include are skipped (libconfig would open the path).
 *
 * Invariants: no crash or leak; a refusal says why; when every override is
 * accepted, each setting named by one reads back as the value given (the
 * last one for a path): a string as is, an integer as strtoll reads it, a
 * boolean as true/false (for paths of setting names and dots); the
 * getters never crash on any path.
 */
#include "conf.h"
#include "fuzz.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

FUZZ_LIBCONFIG_LEAK

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_*-"

static char dir[PATH_MAX], path[PATH_MAX + 16];

static void rm_dir(void)
{
	unlink(path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char tmpl[PATH_MAX];
	const char *tmp = getenv("TMPDIR");
	snprintf(tmpl, sizeof(tmpl), "%s/fuzz_conf.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	log_init("fuzz_conf", LOG_ERR);
	if (!mkdtemp(tmpl) || !realpath(tmpl, dir))
		exit(1);
	snprintf(path, sizeof(path), "%s/regflow.conf", dir);
	atexit(rm_dir);
	return 0;
}

/* canon - the path as a lookup reads it: names split at dots, empty ones skipped */
static void canon(const char *p, size_t n, char *out, size_t outn)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 2 < outn;) {
		while (i < n && p[i] == '.')
			i++;
		if (i >= n)
			break;
		if (o)
			out[o++] = '.';
		while (i < n && p[i] != '.' && o + 1 < outn)
			out[o++] = p[i++];
	}
	out[o] = 0;
}

static void check_reads_back(struct conf *c, const char *ov, const char *const *all, int nall,
			     int idx)
{
	const char *eq = strchr(ov, '=');
	char key[300], other[300], p[256];
	size_t plen = (size_t)(eq - ov);

	canon(ov, plen, key, sizeof(key));
	for (int j = idx + 1; j < nall; j++) { /* a later override of the same setting wins */
		const char *e2 = strchr(all[j], '=');
		canon(all[j], (size_t)(e2 - all[j]), other, sizeof(other));
		if (!strcmp(key, other))
			return;
	}
	memcpy(p, ov, plen);
	p[plen] = 0;
	const char *v = eq + 1;
	config_setting_t *s = config_lookup(&c->cfg, p);
	if (!s) {
		fprintf(stderr, "fuzz_conf: -o %s was accepted but %s is not there\n", ov, p);
		abort();
	}
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_STRING:
		if (strcmp(config_setting_get_string(s), v) != 0) {
			fprintf(stderr, "fuzz_conf: -o %s: %s reads \"%s\"\n", ov, p,
				config_setting_get_string(s));
			abort();
		}
		CHECK(strcmp(conf_str(c, p, "def"), v) == 0);
		break;
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: {
		long long want = strtoll(v, NULL, 10), got = config_setting_get_int64(s);
		if (got != want) {
			fprintf(stderr, "fuzz_conf: -o %s: %s reads %lld\n", ov, p, got);
			abort();
		}
		CHECK(conf_int(c, p, -1) == want);
		break;
	}
	case CONFIG_TYPE_BOOL:
		CHECK(config_setting_get_bool(s) == !strcmp(v, "true"));
		CHECK(conf_bool(c, p, -1) == !strcmp(v, "true"));
		break;
	default:
		fprintf(stderr, "fuzz_conf: -o %s was accepted but %s is not a scalar\n", ov, p);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_args a;
	struct conf c;
	char *ovs[CONF_MAX_OVERRIDES];
	int nov = 0;

	if (size > 64 * 1024)
		return 0;
	for (size_t i = 0; i + 8 <= size; i++)
		if (data[i] == '@' && strncasecmp((const char *)data + i, "@include", 8) == 0)
			return 0;
	const uint8_t *nul = memchr(data, 0, size);
	size_t flen = nul ? (size_t)(nul - data) : size;
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, flen, f) != flen || fclose(f) != 0)
		abort();
	memset(&a, 0, sizeof(a));
	CHECK(conf_args_add(&a, 'c', path) == 0);
	CHECK(conf_args_add(&a, 'x', "y") == -EINVAL);
	for (const uint8_t *p = nul ? nul + 1 : NULL; p && p < data + size;) {
		const uint8_t *end = memchr(p, 0, (size_t)(data + size - p));
		size_t n = end ? (size_t)(end - p) : (size_t)(data + size - p);
		if (nov == CONF_MAX_OVERRIDES)
			break;
		ovs[nov] = xmalloc(n + 1);
		memcpy(ovs[nov], p, n);
		ovs[nov][n] = 0;
		CHECK(conf_args_add(&a, 'o', ovs[nov]) == 0);
		nov++;
		p += n + 1;
	}
	int rc = conf_open(&c, &a);
	if (rc != 0) {
		CHECK(rc == -EINVAL && conf_error(&c) != NULL);
	} else {
		CHECK(conf_error(&c) == NULL);
		/* read-back holds for paths of setting names and dots; libconfig's
		 * lookup also takes '/', ':' and "[N]", which conf.c does not split on */
		int plain = 1;
		for (int i = 0; i < nov; i++) {
			size_t plen = (size_t)(strchr(ovs[i], '=') - ovs[i]);
			plain &= strspn(ovs[i], NAME_CHARS ".") == plen;
		}
		for (int i = 0; i < nov && plain; i++)
			check_reads_back(&c, ovs[i], (const char *const *)ovs, nov, i);
		/* the getters on every path given, whatever their types */
		for (int i = 0; i < nov; i++) {
			char p[256];
			size_t plen = (size_t)(strchr(ovs[i], '=') - ovs[i]);
			memcpy(p, ovs[i], plen);
			p[plen] = 0;
			(void)conf_str(&c, p, "");
			(void)conf_int(&c, p, 0);
			(void)conf_bool(&c, p, 0);
			int64_t ms = conf_duration(&c, p, "30s");
			CHECK(ms >= 0);
		}
		static const char *paths[] = {"engine.listen",	   "engine.group_commit",
					      "gateway.retry.max", "gateway.smtp.connections",
					      "log.level",	   "x"};
		for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
			(void)conf_str(&c, paths[i], "");
			(void)conf_int(&c, paths[i], 0);
			(void)conf_bool(&c, paths[i], 0);
			CHECK(conf_duration(&c, paths[i], "1h") >= 0);
		}
	}
	conf_close(&c);
	for (int i = 0; i < nov; i++)
		free(ovs[i]);
	return 0;
}
