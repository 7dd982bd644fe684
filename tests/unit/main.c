/*
 * Unit-test runner: every suite from suites.h, each test forked and timed
 * out by check.  "make unit" runs it; check prints the summary line.
 */
#include "codekey.h"
#include "suites.h"
#include "wf_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <sodium.h>

void unit_code_keys(void)
{
	static struct codekey_ring *keys;
	char dir[] = "/tmp/rfunitkeyXXXXXX", path[64], err[256];
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/code.key", dir);
	if (codekey_create(path, err, sizeof(err)) < 0 ||
	    codekey_load(path, &keys, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	unlink(path);
	rmdir(dir);
	wf_run_set_keys(keys);
}

typedef Suite *(*suite_fn)(void);

static suite_fn suites[] = {
#define S(x) x,
#include "suite_list.h"
#undef S
};

int main(void)
{
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 2;
	unit_code_keys();
	sr = srunner_create(NULL);
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		srunner_add_suite(sr, suites[i]());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
