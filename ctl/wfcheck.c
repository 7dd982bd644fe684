/*
 * wfcheck - validate workflow files (see check.h).
 */
#include "wfcheck.h"
#include "wf.h"
#include "wflint.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ctl_check(struct conf *c, int argc, char **argv)
{
	const char *dir = conf_str(c, "engine.workflows", "workflows");
	struct wf_errs errs = {0}, warns = {0};
	struct wf_set *ws = NULL;
	char *dcopy = NULL;

	if (conf_error(c)) {
		fprintf(stderr, "%s\n", conf_error(c));
		return 1;
	}
	int strict = argc > 0 && !strcmp(argv[0], "--strict");
	argc -= strict;
	argv += strict;
	/* files named: messages.conf comes from engine.workflows; each file's
	 * templates from beside it */
	int rc = wf_set_load(dir, argc > 0 ? argv : NULL, argc, &ws, &errs);
	for (int i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.v[i]);
	int nw = rc == 0 ? wf_lint(ws, argc == 0, &warns) : 0;
	for (int i = 0; i < warns.n; i++)
		fprintf(stderr, "%s\n", warns.v[i]);
	if (rc == 0 && !(strict && nw)) {
		int nt = 0;
		for (int i = 0; i < ws->n; i++)
			nt += ws->wfs[i]->ntrans;
		printf("%d workflow(s), %d transition(s): ok", ws->n, nt);
		printf(nw ? ", %d warning(s)\n" : "\n", nw);
	} else if (rc == 0) {
		fprintf(stderr, "%d warning(s), errors with --strict\n", nw);
		rc = -1;
	} else {
		fprintf(stderr, "%d error(s)\n", errs.n);
	}
	wf_errs_free(&errs);
	wf_errs_free(&warns);
	wf_set_free(ws);
	free(dcopy);
	return rc == 0 ? 0 : 1;
}
