/*
 * regflowctl - the operator's tool.
 *
 *   regflowctl [-c FILE] [-o path=value]... COMMAND [ARGS]
 *
 * Commands are a table of "verb" -> function (as OpenSMTPD's smtpctl).
 */
#include "conf.h"
#include "engine_cmd.h"
#include "log.h"
#include "spool_cmd.h"
#include "wfcheck.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct {
	const char *verb;
	int (*fn)(struct conf *c, int argc, char **argv);
	const char *help;
} commands[] = {
	{"enqueue", ctl_enqueue, "enqueue [--front NAME] FILE  send NDJSON jobs in batches"},
	{"account", ctl_account,
	 "account [--json] ID   an account as the engine shows it, with its inbox"},
	{"reload", ctl_reload, "reload               ask regflowd to reload its workflows"},
	{"check", ctl_check,
	 "check [FILES]        validate workflow files (default: engine.workflows)"},
	{"spool", ctl_spool,
	 "spool list|show ID|find RECIPIENT|retry ID|--all|hold ID|release ID|"
	 "delete ID|stats [--json]\n"
	 "                       look at and steer the spool (\"spool help\" for more)"},
};

static void usage(void)
{
	fprintf(stderr,
		"usage: regflowctl [-c FILE] [-o path=value]... COMMAND [ARGS]\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(stderr, "  %s\n", commands[i].help);
	exit(2);
}

int main(int argc, char **argv)
{
	struct conf_args ca = {0};
	struct conf c;
	int opt;

	log_init("regflowctl", LOG_WARN);
	/* "+" stops at the command word: its own options are its own */
	while ((opt = getopt(argc, argv, "+c:o:h")) != -1)
		if (conf_args_add(&ca, opt, optarg) < 0)
			usage();
	if (optind >= argc)
		usage();
	if (sodium_init() < 0)
		return 1;
	if (conf_open(&c, &ca) < 0) {
		fprintf(stderr, "regflowctl: %s\n", conf_error(&c));
		return 1;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[optind], commands[i].verb) == 0) {
			int rc = commands[i].fn(&c, argc - optind - 1, argv + optind + 1);
			conf_close(&c);
			return rc;
		}
	fprintf(stderr, "regflowctl: unknown command \"%s\"\n", argv[optind]);
	usage();
}
