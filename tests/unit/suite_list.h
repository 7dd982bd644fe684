/* suite_list - X-macro list of the suites main.c runs (declared in suites.h) */
S(util_suite)
S(conf_suite)
S(store_suite)
S(wf_suite)
S(http_suite)
S(auth_suite)
S(spool_suite)
S(mime_suite)
