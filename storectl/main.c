/*
 * regflowctl-store - the store verbs of regflowctl, as a program of their
 * own: regflowctl runs it for "regflowctl store ...", so that regflowctl
 * links no store backend.
 *
 *   regflowctl-store [-c FILE] [-o path=value]... migrate
 *   regflowctl-store [-c FILE] [-o path=value]... find COLUMN VALUE
 */
#include "conf.h"
#include "log.h"
#include "rec.h"
#include "storectl.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int usage(void)
{
	fprintf(stderr, "usage: regflowctl store migrate | find COLUMN VALUE | copy FROM TO\n"
			"  migrate   an older regflow's store (engine.db) into the current "
			"format:\n"
			"            written beside it, verified, renamed into place; the old "
			"files kept\n"
			"  find      the keys of the records whose indexed COLUMN is VALUE "
			"(regflowd stopped)\n"
			"  copy      every record of FROM into the empty TO (tc:PATH or "
			"pg:CONNINFO),\n"
			"            verified by count and checksum (regflowd stopped)\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct conf_args ca = {0};
	struct conf c;
	int rc;

	log_init("regflowctl", LOG_WARN);
	if (conf_args_getopt(argc, argv, &ca) < 0)
		return usage();
	if (optind >= argc || !strcmp(argv[optind], "--help"))
		return optind < argc ? (usage(), 0) : usage();
	if (sodium_init() < 0)
		return 1;
	if (conf_open(&c, &ca) < 0) {
		fprintf(stderr, "regflowctl: %s\n", conf_error(&c));
		return 1;
	}
	const char *db = conf_str(&c, "engine.db", "var/regflow.tct");
	const char *kind = conf_str(&c, "engine.store", "tc");
	if (conf_error(&c)) {
		fprintf(stderr, "regflowctl: %s\n", conf_error(&c));
		rc = 1;
	} else if (!strcmp(kind, "pg") && !strcmp(argv[optind], "migrate") && optind + 1 == argc) {
		char err[600];
		rc = rec_pg_migrate(conf_str(&c, "engine.pg.conninfo", ""), err, sizeof(err));
		if (rc < 0)
			fprintf(stderr, "regflowctl: store migrate: %s\n", err);
		else
			printf("PostgreSQL: the regflow schema is in place (version 1)\n");
		rc = rc < 0;
	} else if (!strcmp(argv[optind], "migrate") && optind + 1 == argc) {
		rc = storectl_migrate(db);
	} else if (!strcmp(kind, "pg") && !strcmp(argv[optind], "find") && optind + 3 == argc) {
		rc = storectl_find_pg(conf_str(&c, "engine.pg.conninfo", ""), argv[optind + 1],
				      argv[optind + 2]);
	} else if (!strcmp(argv[optind], "copy") && optind + 3 == argc) {
		rc = storectl_copy(argv[optind + 1], argv[optind + 2]);
	} else if (!strcmp(argv[optind], "find") && optind + 3 == argc) {
		rc = storectl_find(db, argv[optind + 1], argv[optind + 2]);
	} else {
		rc = usage();
	}
	conf_close(&c);
	return rc;
}
