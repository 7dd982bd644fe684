/*
 * key_cmd - "regflowctl key list | rotate": the code key file of
 * engine.code_key_file (common/codekey.h).  list shows each key's id and
 * age, never the key; rotate appends a fresh key, which hashes new codes
 * once regflowd re-reads the file (regflowctl reload), while the older keys
 * go on checking the codes made with them.
 */
#include "codekey.h"
#include "ctl.h"
#include "engine_cmd.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *key_file(struct conf *c)
{
	return conf_str(c, "engine.code_key_file", "var/regflow.key");
}

static int key_list(struct conf *c)
{
	struct codekey_ring *r = NULL;
	char err[512], when[32];
	if (codekey_load(key_file(c), &r, err, sizeof(err)) < 0) {
		fprintf(stderr, "regflowctl: %s\n", err);
		return 1;
	}
	printf("%-8s %-20s %s\n", "ID", "CREATED (UTC)", "USE");
	for (int i = 0; i < codekey_count(r); i++) {
		time_t t = (time_t)codekey_created(r, i);
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		printf("%-8s %-20s %s\n", codekey_id(r, i), when,
		       i == codekey_count(r) - 1 ? "new codes" : "checks older codes");
	}
	codekey_free(r);
	return 0;
}

static int key_rotate(struct conf *c)
{
	char err[512], kid[CODEKEY_ID_MAX];
	if (codekey_rotate(key_file(c), kid, err, sizeof(err)) < 0) {
		fprintf(stderr, "regflowctl: %s\n", err);
		return 1;
	}
	printf("added key %s to %s: new codes use it after regflowctl reload; drop an old\n"
	       "line once no code made with it can be live (its validity and attempts)\n",
	       kid, key_file(c));
	return 0;
}

int ctl_key(struct conf *c, int argc, char **argv)
{
	if (argc == 1 && !strcmp(argv[0], "list"))
		return key_list(c);
	if (argc == 1 && !strcmp(argv[0], "rotate"))
		return key_rotate(c);
	return ctl_usage("key");
}
