/*
 * Tests of the workflow language: the shipped workflows load, every fixture
 * in tests/fixtures/wf is refused with its expected file:line: reason, and
 * the activation flow runs on the in-memory store (tokens, expiry, resend,
 * replies) without any daemon.
 */
#include "secret.h"
#include "store.h"
#include "suites.h"
#include "wf.h"
#include "wf_run.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURES "tests/fixtures/wf"
#define DAY 86400000LL

START_TEST(shipped_workflows_load)
{
	struct wf_set *ws = NULL;
	struct wf_errs errs = {0};
	int rc = wf_set_load("workflows", NULL, 0, &ws, &errs);
	for (int i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.v[i]);
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(wf_set_event(ws, "register_email"));
	ck_assert_ptr_nonnull(wf_set_event(ws, "activate"));
	ck_assert_str_eq(wf_message(ws, "ALREADY_ACTIVATED"), "该邮箱已激活，请不要重复操作");
	wf_set_free(ws);
}
END_TEST

START_TEST(fixtures_refused_with_line)
{
	DIR *d = opendir(FIXTURES);
	struct dirent *de;
	int n = 0;
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		char path[512], *text = NULL, want[1100];
		if (!strstr(de->d_name, ".wf"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", FIXTURES, de->d_name);
		FILE *f = fopen(path, "r");
		ck_assert_ptr_nonnull(f);
		char line[512];
		ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
		fclose(f);
		ck_assert_msg(strncmp(line, "# expect: ", 10) == 0, "%s: no expect line", path);
		line[strcspn(line, "\n")] = 0;
		snprintf(want, sizeof(want), "%s:%s", path, line + 10);
		struct wf_set *ws = NULL;
		struct wf_errs errs = {0};
		char *files[] = {path};
		int rc = wf_set_load("workflows", files, 1, &ws, &errs);
		ck_assert_msg(rc < 0, "%s was accepted", path);
		int found = 0;
		for (int i = 0; i < errs.n; i++)
			if (strncmp(errs.v[i], want, strlen(want)) == 0)
				found = 1;
		ck_assert_msg(found, "%s: wanted \"%s\", got \"%s\"", path, want,
			      errs.n ? errs.v[0] : "(none)");
		wf_errs_free(&errs);
		free(text);
		n++;
	}
	closedir(d);
	ck_assert_int_ge(n, 8);
}
END_TEST

static struct wf_set *ws;
static struct store *st;

static void setup(void)
{
	struct wf_errs errs = {0};
	ck_assert_int_eq(wf_set_load("workflows", NULL, 0, &ws, &errs), 0);
	store_open_mem(&st);
}

static void teardown(void)
{
	wf_set_free(ws);
	store_close(st);
}

/* run - one job; returns the result code, leaves the clear token of the
 * first outbox message (if any) in tok */
static char *run(const char *type, json_t *args, int64_t now, char *tok, char *account)
{
	struct wf_out out;
	ck_assert_int_eq(wf_run(ws, st, type, args, "www", now, &out), 0);
	ck_assert_int_eq(wf_apply(st, out.writes), 0);
	if (tok && json_array_size(out.outbox) > 0) {
		json_t *m = json_object_get(out.writes, json_string_value(json_array_get(out.outbox, 0)));
		snprintf(tok, SECRET_TOKEN_LEN + 1, "%s", rec_str(m, "secret"));
		/* the link in the body carries the token */
		ck_assert_ptr_nonnull(strstr(rec_str(m, "body"), rec_str(m, "secret")));
		ck_assert_str_eq(rec_str(m, "subject"), "学信网帐号激活邮件");
		ck_assert_str_eq(rec_str(m, "from_name"), "学信网");
	}
	if (account && json_object_get(out.result, "account"))
		snprintf(account, 32, "%s", json_string_value(json_object_get(out.result, "account")));
	char *code = strdup(json_string_value(json_object_get(out.result, "code")));
	wf_out_free(&out);
	json_decref(args);
	return code;
}

#define CODE_IS(expr, want)                                                                        \
	do {                                                                                       \
		char *c_ = (expr);                                                                 \
		ck_assert_str_eq(c_, want);                                                        \
		free(c_);                                                                          \
	} while (0)

static json_t *reg(const char *email)
{
	return json_pack("{s:s, s:s}", "email", email, "password", "$argon2id$fake");
}

static json_t *tok_args(const char *t)
{
	return json_pack("{s:s}", "token", t);
}

START_TEST(activation_flow)
{
	char tok[64] = "", acct[32] = "";
	json_t *rec;
	int64_t t0 = 1800000000000LL;

	CODE_IS(run("register_email", reg("Li.Lei@Example.com"), t0, tok, acct), "OK");
	ck_assert_int_eq(strlen(tok), SECRET_TOKEN_LEN);
	char key[40];
	snprintf(key, sizeof(key), "a:%s", acct);
	ck_assert_int_eq(store_get(st, key, &rec), 0);
	ck_assert_str_eq(rec_str(rec, "status"), "pending_activation");
	ck_assert_str_eq(rec_str(rec, "email"), "li.lei@example.com");
	ck_assert_str_eq(rec_str(rec, "pwhash"), "$argon2id$fake");
	json_decref(rec);
	/* the token is stored hashed, never in clear */
	char hex[SECRET_HASH_HEX + 1], tkey[80];
	secret_hash_hex(tok, hex);
	snprintf(tkey, sizeof(tkey), "t:%s", hex);
	ck_assert_int_eq(store_get(st, tkey, &rec), 0);
	json_decref(rec);

	CODE_IS(run("register_email", reg("li.lei@example.com"), t0 + 1, NULL, NULL),
		"EMAIL_PENDING_ACTIVATION");
	CODE_IS(run("activate", tok_args("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), t0 + 2, NULL, NULL),
		"CODE_INVALID");
	CODE_IS(run("activate", tok_args(tok), t0 + 3, NULL, NULL), "OK");
	ck_assert_int_eq(store_get(st, key, &rec), 0);
	ck_assert_str_eq(rec_str(rec, "status"), "active");
	json_decref(rec);
	CODE_IS(run("activate", tok_args(tok), t0 + 4, NULL, NULL), "ALREADY_ACTIVATED");
	CODE_IS(run("register_email", reg("li.lei@example.com"), t0 + 5, NULL, NULL),
		"EMAIL_REGISTERED");
	CODE_IS(run("resend_activation", json_pack("{s:s}", "email", "nobody@example.com"), t0, NULL, NULL),
		"NOT_FOUND");
}
END_TEST

START_TEST(token_expires_after_a_day)
{
	char tok[64] = "";
	int64_t t0 = 1800000000000LL;
	CODE_IS(run("register_email", reg("han.meimei@example.com"), t0, tok, NULL), "OK");
	CODE_IS(run("activate", tok_args(tok), t0 + DAY, NULL, NULL), "CODE_EXPIRED");
	/* still pending: a resend gives a fresh link that works */
	CODE_IS(run("resend_activation", json_pack("{s:s}", "email", "han.meimei@example.com"),
		    t0 + DAY, tok, NULL), "OK");
	CODE_IS(run("activate", tok_args(tok), t0 + DAY + 1000, NULL, NULL), "OK");
}
END_TEST

START_TEST(resend_revokes_old_token)
{
	char old[64] = "", fresh[64] = "";
	int64_t t0 = 1800000000000LL;
	CODE_IS(run("register_email", reg("wang@example.com"), t0, old, NULL), "OK");
	CODE_IS(run("resend_activation", json_pack("{s:s}", "email", "wang@example.com"), t0 + 1,
		    fresh, NULL), "OK");
	ck_assert_str_ne(old, fresh);
	CODE_IS(run("activate", tok_args(old), t0 + 2, NULL, NULL), "CODE_INVALID");
	CODE_IS(run("activate", tok_args(fresh), t0 + 3, NULL, NULL), "OK");
}
END_TEST

START_TEST(arg_checks)
{
	ck_assert_ptr_null(wf_arg_check("email", "li.lei@mail.tsinghua.edu.cn"));
	const char *bad[] = {"plain", "a@b", "@example.com", "a@@example.com", "a..b@example.com",
			     "a@-example.com", "a@example.c0m", "a b@example.com", "a@example.com\r\nBcc: x@y.z", NULL};
	for (int i = 0; bad[i]; i++)
		ck_assert_msg(wf_arg_check("email", bad[i]) != NULL, "accepted %s", bad[i]);
	ck_assert_ptr_nonnull(wf_arg_check("password", "short"));
	ck_assert_ptr_null(wf_arg_check("password", "long enough"));
	ck_assert_ptr_nonnull(wf_arg_check("token", "abc$def12345"));
}
END_TEST

Suite *wf_suite(void)
{
	Suite *s = suite_create("wf");
	TCase *t = tcase_create("load");
	tcase_add_test(t, shipped_workflows_load);
	tcase_add_test(t, fixtures_refused_with_line);
	tcase_add_test(t, arg_checks);
	suite_add_tcase(s, t);
	t = tcase_create("run");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, activation_flow);
	tcase_add_test(t, token_expires_after_a_day);
	tcase_add_test(t, resend_revokes_old_token);
	suite_add_tcase(s, t);
	return s;
}
