/*
 * Unit-test runner: every suite from suites.h, each test forked and timed
 * out by check.  "make unit" runs it; check prints the summary line.
 */
#include "suites.h"

#include <stdlib.h>

#include <sodium.h>

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
	sr = srunner_create(NULL);
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		srunner_add_suite(sr, suites[i]());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
