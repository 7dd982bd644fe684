/*
 * test_rec - the records layer: key shapes and kinds, lookups filtered by
 * kind, the columns the API never shows, the outbox message in the spool's
 * format, and secrets overwritten before a record goes (read back from the
 * Tokyo Cabinet file itself).
 */
#include "rec.h"
#include "suites.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

START_TEST(keys_name_their_kind)
{
	char key[REC_KEY_MAX];
	ck_assert_str_eq(rec_account_key("01ABC", key), "a:01ABC");
	ck_assert_int_eq(rec_key_kind(key), REC_ACCOUNT);
	ck_assert_str_eq(rec_key_id(key), "01ABC");
	ck_assert_str_eq(rec_code_key("bind", "ff00", key), "c:bind:ff00");
	ck_assert_int_eq(rec_key_kind(key), REC_CODE);
	for (int k = 0; k < REC_NKIND; k++) {
		rec_key((enum rec_kind)k, "x", key);
		ck_assert_int_eq(rec_key_kind(key), k);
	}
	ck_assert_int_eq(rec_key_kind("zz"), -EINVAL);
	ck_assert_int_eq(rec_key_kind("q:1"), -EINVAL);
}
END_TEST

START_TEST(find_and_get_keep_to_a_kind)
{
	struct store *st;
	json_t *r = json_pack("{s:s}", "account", "A1"), *keys, *got;
	ck_assert_int_eq(rec_open_mem(&st), 0);
	ck_assert_int_eq(rec_put(st, REC_TOKEN, "t1", r), 0);
	ck_assert_int_eq(rec_put(st, REC_TIMER, "m1", r), 0);
	ck_assert_int_eq(rec_put(st, REC_INBOX, "i1", r), 0);
	ck_assert_int_eq(rec_of_account(st, REC_TIMER, "A1", &keys), 0);
	ck_assert_int_eq(json_array_size(keys), 1);
	ck_assert_str_eq(json_string_value(json_array_get(keys, 0)), "m:m1");
	json_decref(keys);
	/* the kind column is the key's, whatever the caller wrote */
	ck_assert_int_eq(rec_get(st, REC_TIMER, "m1", &got), 0);
	ck_assert_str_eq(rec_str(got, "kind"), "timer");
	json_decref(got);
	ck_assert_int_eq(rec_get(st, REC_ACCOUNT, "m1", &got), -ENOENT);
	ck_assert_int_eq(rec_put_key(st, "nokind", r), -EINVAL);
	json_decref(r);
	store_close(st);
}
END_TEST

START_TEST(public_views_hide_what_never_leaves)
{
	json_t *a = json_pack("{s:s, s:s, s:s, s:s}", "id", "A", "pwhash", "$argon2id$x", "idno",
			      "110101199003070000", "kind", "account");
	json_t *p = rec_public(REC_ACCOUNT, a);
	ck_assert_ptr_null(json_object_get(p, "pwhash"));
	ck_assert_ptr_null(json_object_get(p, "idno"));
	ck_assert_ptr_null(json_object_get(p, "kind"));
	ck_assert_str_eq(rec_str(p, "id"), "A");
	ck_assert_ptr_nonnull(json_object_get(a, "pwhash")); /* a copy */
	json_decref(p);
	json_decref(a);
}
END_TEST

START_TEST(outbox_holds_the_spool_message)
{
	struct spool_msg m = {0}, back;
	json_t *rec;
	char err[128];
	id_new(m.id);
	m.channel = "sms";
	m.to = "13800138000";
	m.body = "验证码 123456";
	m.secret = "123456";
	m.created_ms = 1000;
	m.expires_ms = 2000;
	ck_assert_int_eq(rec_outbox_new(&m, "ACCT", &rec, err, sizeof(err)), 0);
	ck_assert_str_eq(rec_str(rec, "account"), "ACCT");
	ck_assert_int_eq(rec_outbox_msg(rec, &back, err, sizeof(err)), 0);
	ck_assert_str_eq(back.id, m.id);
	ck_assert_str_eq(back.body, m.body);
	ck_assert_str_eq(back.secret, "123456");
	ck_assert_int_eq(back.expires_ms, 2000);
	spool_msg_free(&back);
	json_decref(rec);
	/* a message the spool would refuse is refused here, with why */
	m.to = "";
	ck_assert_int_eq(rec_outbox_new(&m, "ACCT", &rec, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "to"));
}
END_TEST

/* file_has - 1 if any file of the database holds text */
static int file_has(const char *dir, const char *text)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "grep -rqa '%s' %s", text, dir);
	return system(cmd) == 0;
}

START_TEST(secrets_are_overwritten_before_a_record_goes)
{
	char dir[64], path[128];
	struct store *st;
	snprintf(dir, sizeof(dir), "/tmp/rfrecXXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/r.tct", dir);
	ck_assert_int_eq(rec_open_tc(path, &st), 0);
	json_t *job = json_pack("{s:s, s:s, s:s}", "id", "J1", "jstate", "queued", "args",
				"{\"code\":\"SECRETCODE9\"}");
	json_t *ob = json_pack("{s:s, s:s}", "id", "O1", "msg", "SECRETLINK7");
	ck_assert_int_eq(store_begin(st), 0);
	ck_assert_int_eq(rec_job_put(st, "J1", job), 0);
	ck_assert_int_eq(rec_put(st, REC_OUTBOX, "O1", ob), 0);
	ck_assert_int_eq(store_commit(st), 0);
	/* the job's final record replaces the queued one; the outbox record goes */
	json_object_del(job, "args");
	rec_set(job, "jstate", "done");
	ck_assert_int_eq(store_begin(st), 0);
	ck_assert_int_eq(rec_job_replace(st, "J1", job), 0);
	char key[REC_KEY_MAX];
	ck_assert_int_eq(rec_del_key(st, rec_outbox_key("O1", key)), 0);
	ck_assert_int_eq(store_commit(st), 0);
	store_close(st);
	ck_assert_int_eq(file_has(dir, "SECRETCODE9"), 0);
	ck_assert_int_eq(file_has(dir, "SECRETLINK7"), 0);
	json_decref(job);
	json_decref(ob);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

Suite *rec_suite(void)
{
	Suite *s = suite_create("rec");
	TCase *t = tcase_create("records");
	tcase_add_test(t, keys_name_their_kind);
	tcase_add_test(t, find_and_get_keep_to_a_kind);
	tcase_add_test(t, public_views_hide_what_never_leaves);
	tcase_add_test(t, outbox_holds_the_spool_message);
	tcase_add_test(t, secrets_are_overwritten_before_a_record_goes);
	suite_add_tcase(s, t);
	return s;
}
