/*
 * suites - every unit-test suite, one per module; main.c runs them all.
 * Add a line here when you add tests/unit/test_<module>.c.
 */
#ifndef REGFLOW_TEST_SUITES_H
#define REGFLOW_TEST_SUITES_H
#include <check.h>

Suite *util_suite(void);
Suite *conf_suite(void);
Suite *spool_suite(void);
Suite *http_suite(void);
Suite *auth_suite(void);
Suite *store_suite(void);
Suite *wf_suite(void);
Suite *engine_suite(void);
Suite *jobs_suite(void);
Suite *rec_suite(void);
Suite *mime_suite(void);
Suite *sms_suite(void);
Suite *codekey_suite(void);

/* unit_code_keys - a fresh code key file under /tmp, the keys the workflow
 * runs hash codes with (main.c, before any suite) */
void unit_code_keys(void);

#endif
