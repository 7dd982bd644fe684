/*
 * regflowctl - the operator's tool.
 *
 *   regflowctl [-c FILE] [-o path=value]... VERB [ARGS]
 *   regflowctl --help | help [VERB] | VERB --help
 *
 * Verbs are a table (as OpenSMTPD's smtpctl): name, arguments, one line
 * of help, more lines for "VERB --help", and the function; the usage is
 * made from it.  Verbs that need the interpreter or a store backend run
 * as helper programs of their own, so regflowctl links neither.
 */
#include "conf.h"
#include "ctl.h"
#include "engine_cmd.h"
#include "graph_cmd.h"
#include "log.h"
#include "spool_cmd.h"
#include "wfcheck.h"

#include "util.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct verb {
	const char *name, *args, *help;
	const char *more; /* further lines for VERB --help, or NULL */
	int (*fn)(struct conf *c, int argc, char **argv);
	const char *helper; /* or a program of its own, beside regflowctl */
};

static const struct verb verbs[] = {
	{"check", "[--strict] [FILES]", "validate workflow files (file:line: reason)",
	 "  With no FILES, every *.wf of engine.workflows and its messages.conf,\n"
	 "  exactly as regflowd would load them; exit status 1 on any error.\n"
	 "  Warnings: a state nothing enters, an event no reachable state takes,\n"
	 "  a template never sent, a message never answered with (no FILES);\n"
	 "  --strict makes them errors.\n",
	 ctl_check, NULL},
	{"graph", "FILE|NAME", "a workflow as Graphviz dot (states, events, guards, timers)",
	 "  FILE: a .wf file (messages.conf from engine.workflows); NAME: a workflow\n"
	 "  of engine.workflows.  The start state is entered from a point, final\n"
	 "  states are doubled, timers dashed; an event's limits are on its first\n"
	 "  edge.  dot -Tsvg renders it; make docs does so for docs/workflows/.\n",
	 ctl_graph, NULL},
	{"reload", "[--front NAME]",
	 "reload regflowd's tokens, certificate, code keys and workflows",
	 "  POST /v1/reload with the token of NAME (default ops; the admin role).\n"
	 "  A set with errors is refused (exit 1, with the errors) and the running\n"
	 "  set stays.  Accounts in a state the new versions removed stay on the\n"
	 "  version they entered it under, or move where a new version's\n"
	 "  migrate = { ... } says; both are listed.  Without such a token:\n"
	 "  SIGHUP by engine.pid_file, whose outcome only the engine's log says.\n",
	 ctl_reload, NULL},
	{"workflows", "[--front NAME] [--json] [show NAME@VERSION]",
	 "the workflows' versions, with the accounts and timers on each",
	 "  Each workflow's versions, oldest first: the version (a hash of its\n"
	 "  file, body files and messages), when it was first loaded, the accounts\n"
	 "  and timers running on it, the current one marked (GET /v1/workflows,\n"
	 "  default --front ops: the admin role).  show NAME@VERSION prints that\n"
	 "  version's file as it was loaded.\n",
	 ctl_workflows, NULL},
	{"enqueue", "[--front NAME] FILE|-", "send NDJSON jobs in batches, a result line per input",
	 "  One job a line, {\"type\", \"args\", \"key\"?}, as POST /v1/jobs/batch takes\n"
	 "  them; the token is the front's from api.tokens_file (the first one\n"
	 "  without --front).  A bad line is reported alone, with its number.\n",
	 ctl_enqueue, NULL},
	{"account", "[--front NAME] [--json] ID | find ... | history ID",
	 "an account: as the engine shows it; looked up; its history",
	 "  ID                     the account as the engine shows it, with its inbox\n"
	 "  find --email X|--phone X|--idno X [--name N] [--after ID]\n"
	 "                         the help desk's look-up, masked (default --front helpdesk)\n"
	 "  history ID             every job, state change and message of the account\n"
	 "                         (default --front helpdesk: the token needs that role)\n",
	 ctl_account, NULL},
	{"spool", "COMMAND [--json]", "look at and steer the spool", NULL, ctl_spool, NULL},
	{"store", "migrate | find COLUMN VALUE | copy FROM TO | backup",
	 "the store (engine.db or PostgreSQL), with regflowd stopped",
	 "  migrate   an older regflow's store into the current format: written\n"
	 "            beside it, verified (count, checksum), renamed into place; the\n"
	 "            old files are kept as NAME.old-tct*.\n"
	 "  find      the keys of the records whose indexed COLUMN (email, phone,\n"
	 "            idno, account, kind, jstate) is VALUE.\n"
	 "  copy      every record of FROM into the empty TO, each tc:PATH or\n"
	 "            pg:CONNINFO (Tokyo Cabinet into PostgreSQL and back), verified\n"
	 "            by count and checksum; a progress bar on a terminal.  With\n"
	 "            engine.store = \"pg\", migrate makes the PostgreSQL schema.\n"
	 "  backup    while regflowd runs: it copies its Tokyo Cabinet store,\n"
	 "            consistently, into engine.backup_dir (POST /v1/backup, the\n"
	 "            ops token: admin).\n",
	 ctl_store_backup, "regflowctl-store"},
	{"simulate", "FILE|DIR SCENARIO", "a dry run: a scenario of jobs and clock steps",
	 "  Runs SCENARIO (one job a line, \"[@FRONT] TYPE name=value ...\", or a\n"
	 "  clock step \"+25h\"; {{token}}, {{code}}, {{account}}: the latest) against\n"
	 "  the workflow FILE (or every file of DIR) on an in-memory store and\n"
	 "  prints each reply, state change and message (secrets ******).\n"
	 "  Nothing live is touched.\n",
	 NULL, "regflowctl-simulate"},
	{"dkim", "keygen DOMAIN SELECTOR FILE [--ed25519]",
	 "a DKIM signing key (0600) and its DNS TXT record",
	 "  RSA 2048 (or Ed25519) made with OpenSSL into FILE, never over an existing\n"
	 "  file; prints the record for SELECTOR._domainkey.DOMAIN and the\n"
	 "  gateway.dkim settings.  (Debian's libopendkim leaks with Ed25519 keys: the\n"
	 "  gateway refuses them until it is fixed; opendkim-genkey does the same job.)\n",
	 ctl_dkim, NULL},
	{"bounce", "[RECIPIENT] < DSN",
	 "record a bounce (Postfix pipe: argv=... bounce ${recipient})",
	 "  The recipient (else the bounce's To:) is the mail's return path,\n"
	 "  bounce+ID.KID.MAC@domain; a failed delivery status (RFC 3464) moves the\n"
	 "  message to bounced/ with its status and diagnostic and tells the engine.\n"
	 "  Exit 0 recorded, 67 not ours or forged, 65 no delivery status, 75 retry.\n",
	 ctl_bounce, NULL},
	{"key", "list | rotate", "the code key file (engine.code_key_file)",
	 "  list      each key's id and creation time (never the key); the last\n"
	 "            hashes new codes, the others check the codes made with them.\n"
	 "  rotate    append a fresh key (0600); regflowctl reload makes regflowd\n"
	 "            use it for new codes.\n",
	 ctl_key, NULL},
	{"help", "[VERB]", "this text, or one verb's", NULL, NULL, NULL},
};

#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

static const struct verb *verb_of(const char *name)
{
	for (size_t i = 0; i < NVERBS; i++)
		if (!strcmp(verbs[i].name, name))
			return &verbs[i];
	return NULL;
}

static void usage_line(FILE *f, const struct verb *v)
{
	fprintf(f, "usage: regflowctl %s%s%s\n", v->name, *v->args ? " " : "", v->args);
}

int ctl_usage(const char *name)
{
	const struct verb *v = verb_of(name);
	if (v)
		usage_line(stderr, v);
	return CTL_USAGE;
}

/* verb_help - "VERB --help" */
static void verb_help(const struct verb *v)
{
	if (!strcmp(v->name, "spool")) {
		ctl_spool_help(stdout);
		return;
	}
	usage_line(stdout, v);
	printf("  %s\n", v->help);
	if (v->more)
		fputs(v->more, stdout);
}

static void usage(FILE *f)
{
	char left[64];
	fprintf(f, "usage: regflowctl [-c FILE] [-o path=value]... VERB [ARGS]\nverbs:\n");
	for (size_t i = 0; i < NVERBS; i++) {
		snprintf(left, sizeof(left), "%s %s", verbs[i].name, verbs[i].args);
		fprintf(f, "  %-36s %s\n", left, verbs[i].help);
	}
	fprintf(f, "\"regflowctl VERB --help\" says more of one verb.\n");
}

/* run_helper - exec the verb's own program (beside this one) with the same
 * -c and -o and the verb's arguments; an exit status if it cannot be run */
static int run_helper(const struct verb *v, const struct conf_args *ca, int argc, char **argv)
{
	char self[4096], *args[2 * CONF_MAX_OVERRIDES + 8];
	int n = 0;
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len <= 0) {
		fprintf(stderr, "regflowctl: cannot find where regflowctl is\n");
		return 1;
	}
	self[len] = 0;
	char *slash = strrchr(self, '/');
	char *path = xasprintf("%.*s/%s", slash ? (int)(slash - self) : 1, slash ? self : ".",
			       v->helper);
	args[n++] = path;
	if (ca->file) {
		args[n++] = "-c";
		args[n++] = (char *)ca->file;
	}
	for (int i = 0; i < ca->nov; i++) {
		args[n++] = "-o";
		args[n++] = (char *)ca->ov[i];
	}
	for (int i = 0; i < argc && n < (int)(sizeof(args) / sizeof(args[0])) - 1; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	execv(path, args);
	fprintf(stderr, "regflowctl: %s: %s\n", path, strerror(errno));
	free(path);
	return 1;
}

static int is_help(const char *a)
{
	return !strcmp(a, "--help") || !strcmp(a, "-h");
}

/* help - "help", "help VERB", "--help": on stdout, exit status 0 */
static int help(int argc, char **argv)
{
	const struct verb *v = argc > 0 ? verb_of(argv[0]) : NULL;
	if (argc > 0 && !v) {
		fprintf(stderr, "regflowctl: unknown verb \"%s\"\n", argv[0]);
		usage(stderr);
		return CTL_USAGE;
	}
	if (v)
		verb_help(v);
	else
		usage(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	struct conf_args ca = {0};
	struct conf c;
	int opt;

	log_init("regflowctl", LOG_WARN);
	/* --help before the verb (after any -c / -o) */
	int first = 1;
	while (first + 1 < argc && (!strcmp(argv[first], "-c") || !strcmp(argv[first], "-o")))
		first += 2;
	if (first < argc && !strcmp(argv[first], "--help"))
		return help(0, NULL);
	/* "+" stops at the verb: its own options are its own */
	while ((opt = getopt(argc, argv, "+c:o:h")) != -1) {
		if (opt == 'h')
			return help(0, NULL);
		if (conf_args_add(&ca, opt, optarg) < 0) {
			usage(stderr);
			return CTL_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CTL_USAGE;
	}
	const struct verb *v = verb_of(argv[optind]);
	int vargc = argc - optind - 1;
	char **vargv = argv + optind + 1;
	if (!v) {
		fprintf(stderr, "regflowctl: unknown verb \"%s\"\n", argv[optind]);
		usage(stderr);
		return CTL_USAGE;
	}
	if (vargc > 0 && is_help(vargv[0]))
		return help(1, argv + optind);
	/* "store backup" asks the running engine (the API); the other store
	 * verbs need the backend, which only the helper links */
	if (v->helper && (!v->fn || vargc == 0 || strcmp(vargv[0], "backup")))
		return run_helper(v, &ca, vargc, vargv);
	if (!v->fn)
		return help(vargc, vargv);
	if (sodium_init() < 0)
		return 1;
	static const struct conf_item ctl_settings[] = {
		{"ctl.ca_file", CONF_STR, "", 0, 0, 0},
		{NULL, 0, NULL, 0, 0, 0},
	};
	static const char *const own[] = {"ctl", NULL};
	if (conf_open(&c, &ca) < 0 || conf_check_known(&c, ctl_settings, own) < 0) {
		fprintf(stderr, "regflowctl: %s\n", conf_error(&c));
		return 1;
	}
	int rc = v->fn(&c, vargc, vargv);
	conf_close(&c);
	return rc;
}
