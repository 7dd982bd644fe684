/*
 * wfcheck - validate workflow files (see check.h).
 */
#include "wfcheck.h"
#include "wf.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ctl_check(struct conf *c, int argc, char **argv)
{
	const char *dir = conf_str(c, "engine.workflows", "workflows");
	struct wf_errs errs = {0};
	struct wf_set *ws = NULL;
	char *dcopy = NULL;

	if (conf_error(c)) {
		fprintf(stderr, "%s\n", conf_error(c));
		return 1;
	}
	/* files named: messages.conf comes from engine.workflows; each file's
	 * templates from beside it */
	int rc = wf_set_load(dir, argc > 0 ? argv : NULL, argc, &ws, &errs);
	for (int i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.v[i]);
	if (rc == 0) {
		int nt = 0;
		for (int i = 0; i < ws->n; i++)
			nt += ws->wfs[i]->ntrans;
		printf("%d workflow(s), %d transition(s): ok\n", ws->n, nt);
	} else {
		fprintf(stderr, "%d error(s)\n", errs.n);
	}
	wf_errs_free(&errs);
	wf_set_free(ws);
	free(dcopy);
	return rc == 0 ? 0 : 1;
}
