/*
 * Tests of the workflow language: the shipped workflows load, every fixture
 * in tests/fixtures/wf is refused with its expected file:line: reason, and
 * the activation flow runs on the in-memory store (tokens, expiry, resend,
 * replies) without any daemon.
 */
#include "rec.h"
#include "secret.h"
#include "store.h"
#include "suites.h"
#include "wf.h"
#include "wf_run.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	ck_assert_ptr_nonnull(wf_set_event(ws, "register_email", NULL));
	ck_assert_ptr_nonnull(wf_set_event(ws, "activate", NULL));
	ck_assert_str_eq(wf_message(ws, "ALREADY_ACTIVATED"), "该邮箱已激活，请不要重复操作");
	wf_set_free(ws);
}
END_TEST

/* a version is the hash of what the workflow is made of: the same files
 * give the same version; a message it answers with changes it, one it does
 * not use leaves it */
START_TEST(versions_from_sources)
{
	struct wf_set *a = NULL, *b = NULL;
	struct wf_errs errs = {0};
	ck_assert_int_eq(wf_set_load("workflows", NULL, 0, &a, &errs), 0);
	ck_assert_int_eq(wf_set_load("workflows", NULL, 0, &b, &errs), 0);
	struct wf *wa = (struct wf *)wf_set_find(a, "activation");
	const struct wf *wb = wf_set_find(b, "activation");
	ck_assert_str_eq(wa->version, wb->version);
	ck_assert_uint_eq(strspn(wa->version, "0123456789abcdef"), 16);
	ck_assert_ptr_nonnull(json_object_get(wa->sources, "activation.wf"));
	ck_assert_ptr_nonnull(json_object_get(wa->sources, "templates/activation_mail.txt"));
	char before[17];
	memcpy(before, wa->version, sizeof(before));
	json_object_set_new(a->messages, "PHOTO_FORMAT", json_string("x")); /* not activation's */
	wf_version_make(a, wa);
	ck_assert_str_eq(wa->version, before);
	json_object_set_new(a->messages, "EMAIL_REGISTERED", json_string("x")); /* activation's */
	wf_version_make(a, wa);
	ck_assert_str_ne(wa->version, before);
	wf_set_unref(a);
	wf_set_unref(b);
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

/* outbox_msg - the message an outbox record holds (in the spool's format) */
static void outbox_msg(const json_t *rec, struct spool_msg *m)
{
	char err[256];
	ck_assert_ptr_nonnull(rec);
	ck_assert_msg(rec_outbox_msg(rec, m, err, sizeof(err)) == 0, "outbox: %s", err);
}

static void setup(void)
{
	struct wf_errs errs = {0};
	ck_assert_int_eq(wf_set_load("workflows", NULL, 0, &ws, &errs), 0);
	rec_open_mem(&st);
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
		struct spool_msg m;
		outbox_msg(json_object_get(out.writes,
					   json_string_value(json_array_get(out.outbox, 0))),
			   &m);
		snprintf(tok, SECRET_TOKEN_LEN + 1, "%s", m.secret);
		/* the link in the body carries the token */
		ck_assert_ptr_nonnull(strstr(m.body, m.secret));
		ck_assert_str_eq(m.subject, "学信网帐号激活邮件");
		ck_assert_str_eq(m.from_name, "学信网");
		spool_msg_free(&m);
	}
	if (account && json_object_get(out.result, "account"))
		snprintf(account, 32, "%s",
			 json_string_value(json_object_get(out.result, "account")));
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
	char key[REC_KEY_MAX];
	rec_account_key(acct, key);
	ck_assert_int_eq(rec_get_key(st, key, &rec), 0);
	ck_assert_str_eq(rec_str(rec, "status"), "pending_activation");
	ck_assert_str_eq(rec_str(rec, "email"), "li.lei@example.com");
	/* the password travels with the link: none is the account's before it is used */
	ck_assert_ptr_null(rec_str(rec, "pwhash"));
	json_decref(rec);
	/* the token is stored hashed, never in clear */
	char hex[SECRET_HASH_HEX + 1], tkey[REC_KEY_MAX];
	secret_hash_hex(tok, hex);
	rec_token_key(hex, tkey);
	ck_assert_int_eq(rec_get_key(st, tkey, &rec), 0);
	json_decref(rec);

	CODE_IS(run("register_email", reg("li.lei@example.com"), t0 + 1, NULL, NULL),
		"EMAIL_PENDING_ACTIVATION");
	CODE_IS(run("activate", tok_args("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), t0 + 2,
		    NULL, NULL),
		"CODE_INVALID");
	CODE_IS(run("activate", tok_args(tok), t0 + 3, NULL, NULL), "OK");
	ck_assert_int_eq(rec_get_key(st, key, &rec), 0);
	ck_assert_str_eq(rec_str(rec, "status"), "active");
	ck_assert_str_eq(rec_str(rec, "pwhash"), "$argon2id$fake");
	json_decref(rec);
	CODE_IS(run("activate", tok_args(tok), t0 + 4, NULL, NULL), "ALREADY_ACTIVATED");
	CODE_IS(run("register_email", reg("li.lei@example.com"), t0 + 5, NULL, NULL),
		"EMAIL_REGISTERED");
	/* the pending-registration hijack: a stranger registers the owner's
	 * address first, the owner after him; each registration's link carries
	 * its own password, the earlier link stays live, and the link that is
	 * used decides - the stranger's goes to the owner's mailbox */
	char tok_stranger[64] = "", tok_owner[64] = "";
	CODE_IS(run("register_email",
		    json_pack("{s:s, s:s}", "email", "zhou@example.com", "password",
			      "$argon2id$stranger"),
		    t0, tok_stranger, acct),
		"OK");
	CODE_IS(run("register_email",
		    json_pack("{s:s, s:s}", "email", "zhou@example.com", "password",
			      "$argon2id$owner"),
		    t0 + 1, tok_owner, NULL),
		"EMAIL_PENDING_ACTIVATION");
	ck_assert_str_ne(tok_stranger, tok_owner);
	rec_account_key(acct, key);
	ck_assert_int_eq(rec_get_key(st, key, &rec), 0);
	ck_assert_ptr_null(rec_str(rec, "pwhash"));
	json_decref(rec);
	CODE_IS(run("activate", tok_args(tok_owner), t0 + 2, NULL, NULL), "OK");
	ck_assert_int_eq(rec_get_key(st, key, &rec), 0);
	ck_assert_str_eq(rec_str(rec, "pwhash"), "$argon2id$owner");
	json_decref(rec);
	CODE_IS(run("resend_activation", json_pack("{s:s}", "email", "nobody@example.com"), t0,
		    NULL, NULL),
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
		    t0 + DAY, tok, NULL),
		"OK");
	CODE_IS(run("activate", tok_args(tok), t0 + DAY + 1000, NULL, NULL), "OK");
}
END_TEST

START_TEST(resend_revokes_old_token)
{
	char old[64] = "", fresh[64] = "";
	int64_t t0 = 1800000000000LL;
	CODE_IS(run("register_email", reg("wang@example.com"), t0, old, NULL), "OK");
	CODE_IS(run("resend_activation", json_pack("{s:s}", "email", "wang@example.com"), t0 + 1000,
		    fresh, NULL),
		"OK");
	/* one mail a minute per address */
	CODE_IS(run("resend_activation", json_pack("{s:s}", "email", "wang@example.com"), t0 + 2000,
		    NULL, NULL),
		"RATE_LIMITED");
	ck_assert_str_ne(old, fresh);
	CODE_IS(run("activate", tok_args(old), t0 + 2, NULL, NULL), "CODE_INVALID");
	CODE_IS(run("activate", tok_args(fresh), t0 + 3, NULL, NULL), "OK");
}
END_TEST

START_TEST(arg_checks)
{
	ck_assert_ptr_null(wf_arg_check("email", "li.lei@mail.tsinghua.edu.cn"));
	const char *bad[] = {"plain",
			     "a@b",
			     "@example.com",
			     "a@@example.com",
			     "a..b@example.com",
			     "a@-example.com",
			     "a@example.c0m",
			     "a b@example.com",
			     "a@example.com\r\nBcc: x@y.z",
			     NULL};
	for (int i = 0; bad[i]; i++)
		ck_assert_msg(wf_arg_check("email", bad[i]) != NULL, "accepted %s", bad[i]);
	ck_assert_ptr_nonnull(wf_arg_check("password", "short"));
	ck_assert_ptr_null(wf_arg_check("password", "long enough"));
	ck_assert_ptr_nonnull(wf_arg_check("token", "abc$def12345"));
}
END_TEST

/* fire_due - fire every timer due at now, as the job queue does */
static int fire_due(int64_t now)
{
	json_t *keys = NULL, *k;
	size_t i;
	int n = 0;
	ck_assert_int_eq(rec_timers_due(st, now, 0, &keys), 0);
	json_array_foreach(keys, i, k) {
		struct wf_out out;
		ck_assert_int_eq(wf_fire_timer(ws, st, json_string_value(k), now, &out), 0);
		ck_assert_int_eq(wf_apply(st, out.writes), 0);
		wf_out_free(&out);
		n++;
	}
	json_decref(keys);
	return n;
}

static const char *acct_state(const char *acct, const char *wf)
{
	static char buf[64];
	char key[REC_KEY_MAX], col[64];
	json_t *rec;
	rec_account_key(acct, key);
	snprintf(col, sizeof(col), "wf.%s", wf);
	ck_assert_int_eq(rec_get_key(st, key, &rec), 0);
	snprintf(buf, sizeof(buf), "%s", rec_str(rec, col) ? rec_str(rec, col) : "");
	json_decref(rec);
	return buf;
}

START_TEST(timer_moves_to_expired_and_is_cancelled_on_leave)
{
	char tok[64] = "", acct[32] = "", acct2[32] = "";
	int64_t t0 = 1800000000000LL;
	CODE_IS(run("register_email", reg("zhao@example.com"), t0, tok, acct), "OK");
	ck_assert_str_eq(acct_state(acct, "activation"), "pending");
	ck_assert_int_eq(fire_due(t0 + DAY - 1), 0); /* not yet */
	ck_assert_int_eq(fire_due(t0 + DAY), 1);
	ck_assert_str_eq(acct_state(acct, "activation"), "expired");
	CODE_IS(run("activate", tok_args(tok), t0 + DAY + 1, NULL, NULL), "CODE_EXPIRED");
	CODE_IS(run("register_email", reg("zhao@example.com"), t0 + DAY + 2, NULL, NULL),
		"EMAIL_PENDING_ACTIVATION");
	/* activated before the day is out: the timer is cancelled with the state */
	CODE_IS(run("register_email", reg("qian@example.com"), t0, tok, acct2), "OK");
	CODE_IS(run("activate", tok_args(tok), t0 + 1000, NULL, NULL), "OK");
	json_t *keys, *t;
	ck_assert_int_eq(rec_timers_due(st, INT64_MAX, 0, &keys), 0);
	/* one left: zhao's new day (registering again mailed a new link);
	 * zhao's first fired, qian's was cancelled */
	ck_assert_int_eq(json_array_size(keys), 1);
	ck_assert_int_eq(rec_get_key(st, json_string_value(json_array_get(keys, 0)), &t), 0);
	ck_assert_str_eq(rec_str(t, "account"), acct);
	ck_assert_int_eq(rec_int(t, "due", 0), t0 + DAY + 2 + DAY);
	json_decref(t);
	json_decref(keys);
	ck_assert_str_eq(acct_state(acct2, "activation"), "active");
}
END_TEST

START_TEST(stale_timer_is_dropped)
{
	char acct[32] = "";
	int64_t t0 = 1800000000000LL;
	CODE_IS(run("register_email", reg("sun@example.com"), t0, NULL, acct), "OK");
	/* an operator-edited record: the account left the state behind the engine's back */
	char key[REC_KEY_MAX];
	json_t *rec;
	rec_account_key(acct, key);
	rec_get_key(st, key, &rec);
	rec_set(rec, "wf.activation", "active");
	rec_put_key(st, key, rec);
	json_decref(rec);
	ck_assert_int_eq(fire_due(t0 + DAY), 1);
	ck_assert_str_eq(acct_state(acct, "activation"), "active");
	ck_assert_int_eq(fire_due(t0 + 2 * DAY), 0); /* gone */
}
END_TEST

static json_t *code_req(const char *phone)
{
	return json_pack("{s:s, s:s}", "phone", phone, "purpose", "register");
}

static json_t *reg_phone(const char *phone, const char *code)
{
	return json_pack("{s:s, s:s, s:s}", "phone", phone, "code", code, "password",
			 "$argon2id$x");
}

/* sent_code - the code of the newest SMS in the outbox */
static void sent_code(char *out)
{
	json_t *keys, *k, *m = NULL;
	size_t i;
	ck_assert_int_eq(rec_list(st, REC_OUTBOX, &keys), 0);
	ck_assert_int_gt(json_array_size(keys), 0);
	json_array_foreach(keys, i, k) {
		json_decref(m);
		rec_get_key(st, json_string_value(k), &m);
	}
	struct spool_msg msg;
	outbox_msg(m, &msg);
	ck_assert_str_eq(msg.channel, "sms");
	snprintf(out, 16, "%s", msg.secret);
	ck_assert_int_eq(strlen(out), 6);
	ck_assert_ptr_nonnull(strstr(msg.body, out));
	spool_msg_free(&msg);
	json_decref(m);
	json_decref(keys);
}

START_TEST(phone_code_flow)
{
	char code[16], acct[32] = "";
	int64_t t0 = 1800000000000LL;
	CODE_IS(run("send_code", code_req("13800138000"), t0, NULL, acct), "OK");
	sent_code(code);
	char wrong[16];
	snprintf(wrong, sizeof(wrong), "%06d", (atoi(code) + 1) % 1000000);
	CODE_IS(run("register_phone", reg_phone("13800138000", wrong), t0 + 1, NULL, NULL),
		"CODE_INVALID");
	CODE_IS(run("register_phone", reg_phone("13800138000", code), t0 + 2, NULL, NULL), "OK");
	/* single use */
	CODE_IS(run("register_phone", reg_phone("13800138000", code), t0 + 3, NULL, NULL),
		"PHONE_REGISTERED");
	CODE_IS(run("send_code", code_req("13800138000"), t0 + 120000, NULL, NULL),
		"PHONE_REGISTERED");
	CODE_IS(run("register_phone", reg_phone("13900139000", code), t0, NULL, NULL),
		"CODE_INVALID");
}
END_TEST

START_TEST(code_attempts_and_expiry)
{
	char code[16];
	int64_t t0 = 1800000000000LL;
	CODE_IS(run("send_code", code_req("13700137000"), t0, NULL, NULL), "OK");
	sent_code(code);
	for (int i = 0; i < 4; i++)
		CODE_IS(run("register_phone", reg_phone("13700137000", "000000"), t0 + i, NULL,
			    NULL),
			strcmp(code, "000000") ? "CODE_INVALID" : "OK");
	if (strcmp(code, "000000") == 0)
		return; /* one in a million */
	CODE_IS(run("register_phone", reg_phone("13700137000", "000000"), t0 + 5, NULL, NULL),
		"CODE_ATTEMPTS_EXCEEDED");
	/* locked: even the right code no longer works */
	CODE_IS(run("register_phone", reg_phone("13700137000", code), t0 + 6, NULL, NULL),
		"CODE_ATTEMPTS_EXCEEDED");
	/* a new code after a minute; after a day it has lapsed */
	CODE_IS(run("send_code", code_req("13700137000"), t0 + 60000, NULL, NULL), "OK");
	sent_code(code);
	ck_assert_int_eq(fire_due(t0 + 60000 + DAY), 1);
	CODE_IS(run("register_phone", reg_phone("13700137000", code), t0 + 60000 + DAY, NULL, NULL),
		"CODE_EXPIRED");
}
END_TEST

START_TEST(rate_limit_then_blacklist)
{
	int64_t t0 = 1800000000000LL, t = t0;
	CODE_IS(run("send_code", code_req("13600136000"), t, NULL, NULL), "OK");
	CODE_IS(run("send_code", code_req("13600136000"), t + 1000, NULL, NULL), "RATE_LIMITED");
	/* another phone is not affected */
	CODE_IS(run("send_code", code_req("13600136001"), t + 1000, NULL, NULL), "OK");
	/* one a minute, at most five an hour */
	for (int i = 1; i < 5; i++)
		CODE_IS(run("send_code", code_req("13600136000"), t + i * 60000, NULL, NULL), "OK");
	CODE_IS(run("send_code", code_req("13600136000"), t + 5 * 60000, NULL, NULL),
		"RATE_LIMITED");
	/* that was the 7th request; the 8th to 10th are refused too, the 11th
	 * in a day blacklists the phone */
	for (int i = 7; i <= 9; i++)
		CODE_IS(run("send_code", code_req("13600136000"), t + i * 60000, NULL, NULL),
			"RATE_LIMITED");
	CODE_IS(run("send_code", code_req("13600136000"), t + 10 * 60000, NULL, NULL),
		"BLACKLISTED");
	/* still blacklisted hours later, even though the hourly window has passed */
	CODE_IS(run("send_code", code_req("13600136000"), t + 5 * 3600000, NULL, NULL),
		"BLACKLISTED");
	/* and free again a day later */
	CODE_IS(run("send_code", code_req("13600136000"), t + 10 * 60000 + DAY, NULL, NULL), "OK");
}
END_TEST

START_TEST(guards_choose_transition)
{
	/* a workflow written for the test: the first guarded transition that holds wins */
	char dir[] = "/tmp/rfwfXXXXXX", path[128];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/g.wf", dir);
	FILE *f = fopen(path, "w");
	fputs("workflow = \"g\"; start = \"a\";\n"
	      "states = { a = { }; };\n"
	      "events = { register_email = { args = { email = \"email\"; password = \"password\"; "
	      "};"
	      " subject = { by = \"email\"; missing = \"create\"; }; }; };\n"
	      "transitions = (\n"
	      " { on = \"register_email\"; from = \"a\"; when = { field = \"nick\"; set = true; };"
	      "   do = ( { action = \"reply\"; code = \"EMAIL_REGISTERED\"; } ); },\n"
	      " { on = \"register_email\"; from = \"a\";"
	      "   do = ( { action = \"set\"; field = \"nick\"; value = \"{{email}}\"; } ); }\n"
	      ");\n",
	      f);
	fclose(f);
	struct wf_set *g = NULL;
	struct wf_errs errs = {0};
	char *files[] = {path};
	int rc = wf_set_load("workflows", files, 1, &g, &errs);
	for (int i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.v[i]);
	ck_assert_int_eq(rc, 0);
	struct wf_out out;
	json_t *args = reg("g@example.com");
	ck_assert_int_eq(wf_run(g, st, "register_email", args, "www", 1, &out), 0);
	ck_assert_str_eq(json_string_value(json_object_get(out.result, "code")), "OK");
	wf_apply(st, out.writes);
	wf_out_free(&out);
	ck_assert_int_eq(wf_run(g, st, "register_email", args, "www", 2, &out), 0);
	ck_assert_str_eq(json_string_value(json_object_get(out.result, "code")),
			 "EMAIL_REGISTERED");
	wf_out_free(&out);
	json_decref(args);
	wf_set_free(g);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(resident_id_numbers)
{
	/* real-looking numbers: Beijing Chaoyang 1949, Shenzhen 1990, Nanjing 2000, Chengdu leap
	 * day */
	const char *good[] = {"11010519491231002X", "11010519491231002x", "440304199001011233",
			      "320106200012294566", "510108198402290120", NULL};
	for (int i = 0; good[i]; i++)
		ck_assert_msg(wf_idno_check(good[i]) == NULL, "%s refused: %s", good[i],
			      wf_idno_check(good[i]));
	const struct {
		const char *no, *why;
	} bad[] = {
		{"110105194912310021", "bad check digit"},
		{"440304199001011234", "bad check digit"},
		{"11010519491231002", "a resident id number has 18 characters"},
		{"110105194912310020X", "a resident id number has 18 characters"},
		{"110105490101001",
		 "a resident id number has 18 characters"}, /* old 15-digit form */
		{"11010519491331002X", "bad birth date"},   /* month 13 */
		{"510108198302290129", "bad birth date"},   /* 1983 not a leap year */
		{"110105189901010015", "bad birth date"},   /* before 1900 */
		{"110105209901010014", "birth date in the future"},
		{"1101051949123100AX", "the first 17 characters are digits"},
		{"", "a resident id number has 18 characters"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = wf_idno_check(bad[i].no);
		ck_assert_msg(why && !strcmp(why, bad[i].why), "%s: wanted \"%s\", got \"%s\"",
			      bad[i].no, bad[i].why, why ? why : "(accepted)");
	}
}
END_TEST

/* shipped_id_types - the shipped list: each type takes its own numbers, not the others' */
START_TEST(shipped_id_types)
{
	struct wf_set *s = NULL;
	struct wf_errs errs = {0};
	ck_assert_int_eq(wf_set_load("workflows", NULL, 0, &s, &errs), 0);
	const struct {
		const char *type, *no;
		int ok;
	} cases[] = {
		{"resident", "11010519491231002X", 1},
		{"resident", "110105194912310021", 0}, /* check digit */
		{"resident", "E12345678", 0},
		{"hmt_residence", "810000199408230021", 1},
		{"hmt_residence", "11010519491231002X", 0}, /* a mainland region */
		{"hmt_residence", "810000199408230022", 0}, /* check digit */
		{"passport", "E12345678", 1},
		{"passport", "EA1234567", 1},
		{"passport", "E123", 0}, /* too short */
		{"passport", "E1234567-8", 0},
		{"hk_macao_permit", "H12345678", 1},
		{"hk_macao_permit", "M1234567890", 1},
		{"hk_macao_permit", "K12345678", 0},
		{"hk_macao_permit", "H1234567", 0},
		{"taiwan_permit", "12345678", 1},
		{"taiwan_permit", "1234567890", 1},
		{"taiwan_permit", "123456789", 0},
		{"taiwan_permit", "T1234567", 0},
		{"foreign_permanent", "USA110012345678", 1},
		{"foreign_permanent", "93311019900101123X", 1},
		{"foreign_permanent", "US1100123456789", 0},
		{"foreign_permanent", "E12345678", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct wf_idtype *t = wf_idtype_find(s, cases[i].type);
		ck_assert_msg(t, "%s is not listed", cases[i].type);
		const char *why = wf_idtype_check(t, cases[i].no);
		ck_assert_msg((why == NULL) == cases[i].ok, "%s %s: %s", cases[i].type, cases[i].no,
			      why ? why : "accepted");
	}
	ck_assert_ptr_null(wf_idtype_find(s, "driving_licence"));
	char *names = wf_idtype_names(s);
	ck_assert_str_eq(names, "resident, hmt_residence, passport, hk_macao_permit, "
				"taiwan_permit, foreign_permanent");
	free(names);
	wf_set_free(s);
}
END_TEST

/* load_dir - a workflow directory of these files; 0 or -EINVAL with the first error */
static int load_dir(const char *idtypes, const char *wf, char *err, size_t n)
{
	char dir[] = "/tmp/rfidXXXXXX", path[128];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	const char *names[] = {"messages.conf", "id_types.conf", "x.wf"};
	const char *texts[] = {"messages = { OK = \"\"; };\n", idtypes, wf};
	for (int i = 0; i < 3; i++) {
		if (!texts[i])
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		FILE *f = fopen(path, "w");
		fputs(texts[i], f);
		fclose(f);
	}
	struct wf_set *s = NULL;
	struct wf_errs errs = {0};
	int rc = wf_set_load(dir, NULL, 0, &s, &errs);
	snprintf(err, n, "%s", errs.n ? strstr(errs.v[0], "/") + strlen(dir) : "");
	wf_errs_free(&errs);
	wf_set_free(s);
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
	return rc;
}

START_TEST(id_types_refused_with_line)
{
	static const char *wf = "workflow = \"x\"; start = \"a\"; states = { a = { }; };\n"
				"events = { set_basic_info = { args = { account = \"account\"; "
				"id_type = \"id_type\"; };\n"
				" subject = { by = \"account\"; missing = \"NOT_FOUND\"; }; }; };\n"
				"transitions = ( );\n";
	const struct {
		const char *conf, *want;
	} bad[] = {
		{NULL, "/x.wf:2: id types are used here but"},
		{"id_types = ( );\n", "/id_types.conf:1: missing list \"id_types\""},
		{"id_types = (\n { name = \"p\"; title = \"P\"; pattern = \"[A-Z\"; } );\n",
		 "/id_types.conf:2: id type \"p\": bad pattern \"[A-Z\":"},
		{"id_types = (\n { name = \"p\"; title = \"P\"; rule = \"luhn\"; } );\n",
		 "/id_types.conf:2: id type \"p\": unknown rule \"luhn\" (gb11643)"},
		{"id_types = (\n { name = \"p\"; title = \"P\"; } );\n",
		 "/id_types.conf:2: id type \"p\": needs a pattern, a rule or both"},
		{"id_types = (\n { name = \"Pass port\"; title = \"P\"; rule = \"gb11643\"; } );\n",
		 "/id_types.conf:2: id type \"Pass port\": a name is 1 to 31 of a-z, 0-9 and _"},
		{"id_types = (\n { name = \"p\"; title = \"P\"; rule = \"gb11643\"; },\n"
		 " { name = \"p\"; title = \"Q\"; rule = \"gb11643\"; } );\n",
		 "/id_types.conf:3: id type \"p\" is listed already (line 2)"},
		{"id_types = (\n { name = \"p\"; title = \"P\"; rule = \"gb11643\"; format = 1; } "
		 ");\n",
		 "/id_types.conf:2: "},
	};
	char err[512];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(load_dir(bad[i].conf, wf, err, sizeof(err)), -EINVAL);
		ck_assert_msg(!strncmp(err, bad[i].want, strlen(bad[i].want)),
			      "wanted \"%s\", got \"%s\"", bad[i].want, err);
	}
	ck_assert_int_eq(load_dir("id_types = (\n { name = \"p\"; title = \"P\"; "
				  "pattern = \"[0-9]{4}\"; } );\n",
				  wf, err, sizeof(err)),
			 0);
}
END_TEST

START_TEST(mainland_mobile_numbers)
{
	const char *good[] = {"13800138000", "15912345678", "18612345678",
			      "19912345678", "16612345678", "17012345678",
			      "14712345678", "19212345678", NULL};
	for (int i = 0; good[i]; i++)
		ck_assert_msg(wf_arg_check("phone", good[i]) == NULL, "%s refused", good[i]);
	const char *bad[] = {"1380013800",
			     /* 10 digits */ "138001380000", /* 12 */
			     "12345678901",
			     /* no 12x prefix */ "10012345678",
			     "14012345678",
			     "15412345678",
			     "19412345678",
			     "+8613800138000",
			     "1380013800a",
			     "138 0013 800",
			     "",
			     NULL};
	for (int i = 0; bad[i]; i++)
		ck_assert_msg(wf_arg_check("phone", bad[i]) != NULL, "%s accepted", bad[i]);
}
END_TEST

START_TEST(masking)
{
	char buf[64];
	wf_mask("18612345678", buf, sizeof(buf));
	ck_assert_str_eq(buf, "186********");
	wf_mask("li.lei@example.com", buf, sizeof(buf));
	ck_assert_str_eq(buf, "li***@example.com");
	wf_mask("a@example.com", buf, sizeof(buf));
	ck_assert_str_eq(buf, "a***@example.com");
}
END_TEST

Suite *wf_suite(void)
{
	Suite *s = suite_create("wf");
	TCase *t = tcase_create("load");
	tcase_add_test(t, shipped_workflows_load);
	tcase_add_test(t, fixtures_refused_with_line);
	tcase_add_test(t, versions_from_sources);
	tcase_add_test(t, arg_checks);
	tcase_add_test(t, resident_id_numbers);
	tcase_add_test(t, shipped_id_types);
	tcase_add_test(t, id_types_refused_with_line);
	tcase_add_test(t, mainland_mobile_numbers);
	tcase_add_test(t, masking);
	suite_add_tcase(s, t);
	t = tcase_create("run");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, activation_flow);
	tcase_add_test(t, token_expires_after_a_day);
	tcase_add_test(t, resend_revokes_old_token);
	tcase_add_test(t, timer_moves_to_expired_and_is_cancelled_on_leave);
	tcase_add_test(t, stale_timer_is_dropped);
	tcase_add_test(t, phone_code_flow);
	tcase_add_test(t, code_attempts_and_expiry);
	tcase_add_test(t, rate_limit_then_blacklist);
	tcase_add_test(t, guards_choose_transition);
	suite_add_tcase(s, t);
	return s;
}
