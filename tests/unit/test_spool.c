/*
 * Tests of common/spool: the file format both ways, refusal of CR/LF,
 * idempotent enqueue, clear parse errors, quarantine, modes, masking.
 */
#include "spool.h"
#include "suites.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char spool_dir[64]; /* short: paths built from it cannot truncate */

static void spool_setup(void)
{
	snprintf(spool_dir, sizeof(spool_dir), "/tmp/regflow-unit-spool-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(spool_dir));
	ck_assert_int_eq(spool_init(spool_dir), 0);
}

static void spool_teardown(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", spool_dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* sample - a message with every field set (strings are literals: do not free) */
static struct spool_msg sample(void)
{
	struct spool_msg m = {0};
	id_new(m.id);
	m.channel = "email";
	m.to = "student@example.edu.cn";
	m.from_name = "学信网";
	m.subject = "学信网帐号激活邮件";
	m.body = "您好：\n激活链接 https://a.example/act?t=Zq83kP0aXy\n\n再见\n";
	m.secret = "Zq83kP0aXy";
	m.front = "chsi";
	m.created_ms = 1764400000123;
	m.expires_ms = 1764486400123;
	m.attempts = 2;
	m.next_attempt_ms = 1764400030000;
	m.last_error = "450 4.2.0 try later";
	return m;
}

static int in_state(const char *id, enum spool_state want)
{
	enum spool_state st;
	return spool_find(spool_dir, id, &st) == 0 && st == want;
}

START_TEST(roundtrip)
{
	struct spool_msg m = sample(), p;
	char err[256];
	size_t len, len2;
	char *text = spool_format(&m, &len);

	ck_assert_ptr_nonnull(text);
	ck_assert(strncmp(text, "REGFLOW-SPOOL 1\nid: ", 20) == 0);
	ck_assert_int_eq(spool_parse(text, len, &p, err, sizeof(err)), 0);
	ck_assert_str_eq(p.id, m.id);
	ck_assert_str_eq(p.channel, m.channel);
	ck_assert_str_eq(p.to, m.to);
	ck_assert_str_eq(p.from_name, m.from_name);
	ck_assert_str_eq(p.subject, m.subject);
	ck_assert_str_eq(p.body, m.body);
	ck_assert_str_eq(p.secret, m.secret);
	ck_assert_str_eq(p.front, m.front);
	ck_assert_str_eq(p.last_error, m.last_error);
	ck_assert_ptr_null(p.reply);
	ck_assert(p.created_ms == m.created_ms && p.expires_ms == m.expires_ms);
	ck_assert(p.attempts == 2 && p.next_attempt_ms == m.next_attempt_ms);
	char *again = spool_format(&p, &len2);
	ck_assert_uint_eq(len, len2);
	ck_assert(memcmp(text, again, len) == 0);
	free(again);
	free(text);
	spool_msg_free(&p);

	/* optional fields absent stay absent; an empty body is fine */
	struct spool_msg q = {0};
	id_new(q.id);
	q.channel = "sms";
	q.to = "13800138000";
	q.body = "";
	text = spool_format(&q, &len);
	ck_assert_int_eq(spool_parse(text, len, &p, err, sizeof(err)), 0);
	ck_assert_ptr_null(p.subject);
	ck_assert_ptr_null(p.from_name);
	ck_assert_ptr_null(p.secret);
	ck_assert_str_eq(p.body, "");
	spool_msg_free(&p);
	free(text);
}
END_TEST

/* a check (channel "check") and its answer: the answer line only when set,
 * answered/ a state of its own, an unknown channel refused both ways */
START_TEST(check_and_answer)
{
	struct spool_msg q = {0}, p;
	char err[256];
	size_t len;
	id_new(q.id);
	q.channel = "check";
	q.to = "registry";
	q.account = "01M8K7MX69H6V";
	q.body = "{\"id_no\":\"x\"}";
	char *text = spool_format(&q, &len);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_null(strstr(text, "answer:"));
	free(text);
	q.answer = "mismatch";
	q.body = "";
	text = spool_format(&q, &len);
	ck_assert_ptr_nonnull(strstr(text, "\nanswer: mismatch\n"));
	ck_assert_int_eq(spool_parse(text, len, &p, err, sizeof(err)), 0);
	ck_assert_str_eq(p.answer, "mismatch");
	ck_assert_str_eq(p.channel, "check");
	spool_msg_free(&p);
	free(text);
	ck_assert_int_eq(spool_write(spool_dir, SPOOL_ANSWERED, &q), 0);
	ck_assert(in_state(q.id, SPOOL_ANSWERED));
	ck_assert_str_eq(spool_state_dir(SPOOL_ANSWERED), "answered");
	ck_assert_int_eq(spool_state_parse("answered"), SPOOL_ANSWERED);
	struct spool_stats st;
	ck_assert_int_eq(spool_stats(spool_dir, &st), 0);
	ck_assert_int_eq(st.count[SPOOL_ANSWERED][2], 1);
	q.channel = "fax";
	ck_assert_int_eq(spool_check(&q, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "email, sms or check"));
}
END_TEST

START_TEST(crlf_refused)
{
	struct spool_msg m = sample();
	char **names;
	size_t n;
	char err[128];

	m.subject = "hello\r\nBcc: victim@example.com";
	ck_assert_int_eq(spool_enqueue(spool_dir, &m), -EINVAL);
	m = sample();
	m.to = "a@example.com\nRCPT TO:<b@example.com>";
	ck_assert_int_eq(spool_enqueue(spool_dir, &m), -EINVAL);
	m = sample();
	m.from_name = "学信网\r";
	ck_assert_int_eq(spool_enqueue(spool_dir, &m), -EINVAL);
	ck_assert_int_eq(spool_check(&m, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "from-name"));
	ck_assert_ptr_null(spool_format(&m, NULL));
	m = sample();
	m.channel = "fax";
	ck_assert_int_eq(spool_enqueue(spool_dir, &m), -EINVAL);
	m = sample();
	strcpy(m.id, "not-an-id");
	ck_assert_int_eq(spool_enqueue(spool_dir, &m), -EINVAL);
	ck_assert_int_eq(spool_list(spool_dir, SPOOL_QUEUED, &names, &n), 0);
	ck_assert_uint_eq(n, 0);
	spool_list_free(names, n);
	/* the body may hold line ends: it is not an envelope value */
	m = sample();
	m.body = "line 1\r\nline 2\n";
	ck_assert_int_eq(spool_enqueue(spool_dir, &m), 0);
}
END_TEST

START_TEST(enqueue_idempotent)
{
	struct spool_msg m = sample(), p;
	char err[256], **names;
	size_t n;

	ck_assert_int_eq(spool_enqueue(spool_dir, &m), 0);
	ck_assert(in_state(m.id, SPOOL_QUEUED));
	m.body = "a different body";
	ck_assert_int_eq(spool_enqueue(spool_dir, &m), 0);
	ck_assert_int_eq(spool_load(spool_dir, SPOOL_QUEUED, m.id, &p, err, sizeof(err)), 0);
	ck_assert_str_eq(p.body, sample().body); /* the first one stays */
	spool_msg_free(&p);
	/* once it moved on, enqueueing it again still does nothing */
	ck_assert_int_eq(spool_move(spool_dir, m.id, SPOOL_QUEUED, SPOOL_SENT, 0), 0);
	ck_assert_int_eq(spool_enqueue(spool_dir, &m), 0);
	ck_assert(in_state(m.id, SPOOL_SENT));
	ck_assert_int_eq(spool_list(spool_dir, SPOOL_QUEUED, &names, &n), 0);
	ck_assert_uint_eq(n, 0);
	spool_list_free(names, n);
	/* nothing is left behind in tmp/ */
	char p2[PATH_MAX];
	snprintf(p2, sizeof(p2), "%s/tmp", spool_dir);
	ck_assert_int_eq(rmdir(p2), 0);
}
END_TEST

/* expect_bad - parse must fail with -EBADMSG and an error containing want */
static void expect_bad(const char *text, size_t len, const char *want)
{
	struct spool_msg p;
	char err[256] = "";
	int rc = spool_parse(text, len, &p, err, sizeof(err));
	ck_assert_msg(rc == -EBADMSG, "accepted (want \"%s\")", want);
	ck_assert_msg(strstr(err, want) != NULL, "error \"%s\" lacks \"%s\"", err, want);
}

static char *replace(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	ck_assert_ptr_nonnull(at);
	return xasprintf("%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
}

START_TEST(parse_errors)
{
	struct spool_msg m = sample();
	size_t len;
	char *good = spool_format(&m, &len), *t;

	expect_bad("", 0, "empty file");
	expect_bad("garbage\n\nbody", 13, "not a regflow spool file");
	expect_bad("REGFLOW-SPOOL 2\nid: x\n\n", 23, "unsupported spool format version");
	expect_bad("REGFLOW-SPOOL 1\nid: ", 20, "truncated");
	expect_bad(good, len - 3, "truncated: body has");
	expect_bad(good, (size_t)(strstr(good, "\n\n") - good) + 1, "truncated");
	expect_bad("REGFLOW-SPOOL 1\0x", 17, "NUL");
	t = replace(good, "to: student@example.edu.cn\n", "");
	expect_bad(t, strlen(t), "missing field \"to\"");
	free(t);
	t = replace(good, "created: 1764400000123", "created: yesterday");
	expect_bad(t, strlen(t), "created: not a number");
	free(t);
	t = replace(good, "channel: email", "channel: fax");
	expect_bad(t, strlen(t), "unknown channel");
	free(t);
	t = replace(good, "front: chsi\n", "front: chsi\nfront: yz\n");
	expect_bad(t, strlen(t), "front: repeated");
	free(t);
	t = replace(good, "front: chsi\n", "no colon here\n");
	expect_bad(t, strlen(t), "expected \"name: value\"");
	free(t);
	t = replace(good, "id: ", "id: x");
	expect_bad(t, strlen(t), "id: not a spool id");
	free(t);
	t = replace(good, "再见", "\xff\xfe\xfd\xfc\xfb\xfa");
	expect_bad(t, strlen(t), "not valid UTF-8");
	free(t);
	/* a field from a newer writer is ignored, not an error */
	struct spool_msg p;
	char err[256];
	t = replace(good, "front: chsi\n", "front: chsi\npriority: high\n");
	ck_assert_int_eq(spool_parse(t, strlen(t), &p, err, sizeof(err)), 0);
	spool_msg_free(&p);
	free(t);
	free(good);
}
END_TEST

START_TEST(corrupt_moved_aside)
{
	char p[PATH_MAX], err[256];
	struct spool_msg m;
	struct stat st;
	char id[ID_LEN + 1];
	FILE *f;

	id_new(id);
	for (int round = 0; round < 2; round++) {
		snprintf(p, sizeof(p), "%s/incoming/%s", spool_dir, id);
		f = fopen(p, "w");
		ck_assert_ptr_nonnull(f);
		fputs("REGFLOW-SPOOL 1\nid: ", f); /* half written */
		fclose(f);
		ck_assert_int_eq(spool_load(spool_dir, SPOOL_QUEUED, id, &m, err, sizeof(err)),
				 -EBADMSG);
		ck_assert_ptr_nonnull(strstr(err, "truncated"));
		ck_assert_int_eq(spool_quarantine(spool_dir, SPOOL_QUEUED, id, err), 0);
		ck_assert_int_eq(stat(p, &st), -1);
	}
	/* both copies are kept */
	char **names;
	size_t n;
	ck_assert_int_eq(spool_list(spool_dir, SPOOL_CORRUPT, &names, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(names[0], id);
	spool_list_free(names, n);
	/* corrupt/ is not searched: the engine may enqueue a good copy again */
	ck_assert_int_eq(spool_find(spool_dir, id, NULL), -ENOENT);
	/* an id that does not match the file name is corrupt too */
	struct spool_msg s = sample();
	ck_assert_int_eq(spool_enqueue(spool_dir, &s), 0);
	char p2[PATH_MAX];
	snprintf(p, sizeof(p), "%s/incoming/%s", spool_dir, s.id);
	snprintf(p2, sizeof(p2), "%s/incoming/%s", spool_dir, id);
	ck_assert_int_eq(rename(p, p2), 0);
	ck_assert_int_eq(spool_load(spool_dir, SPOOL_QUEUED, id, &m, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "does not match the file name"));
}
END_TEST

START_TEST(modes_and_states)
{
	struct spool_msg m = sample(), p;
	char path[PATH_MAX], err[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/deferred", spool_dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	ck_assert_int_eq(spool_enqueue(spool_dir, &m), 0);
	snprintf(path, sizeof(path), "%s/incoming/%s", spool_dir, m.id);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(spool_move(spool_dir, m.id, SPOOL_QUEUED, SPOOL_ACTIVE, SPOOL_NOSYNC), 0);
	m.attempts = 3;
	ck_assert_int_eq(spool_write(spool_dir, SPOOL_ACTIVE, &m), 0);
	ck_assert_int_eq(spool_move(spool_dir, m.id, SPOOL_ACTIVE, SPOOL_DEFERRED, 0), 0);
	snprintf(path, sizeof(path), "%s/deferred/%s", spool_dir, m.id);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(spool_load(spool_dir, SPOOL_DEFERRED, m.id, &p, err, sizeof(err)), 0);
	ck_assert_int_eq(p.attempts, 3);
	spool_msg_free(&p);
	ck_assert_int_eq(spool_move(spool_dir, m.id, SPOOL_ACTIVE, SPOOL_SENT, 0), -ENOENT);
	ck_assert_int_eq(spool_state_parse("queued"), SPOOL_QUEUED);
	ck_assert_int_eq(spool_state_parse("incoming"), SPOOL_QUEUED);
	ck_assert_int_eq(spool_state_parse("nope"), -EINVAL);
	ck_assert_str_eq(spool_state_name(SPOOL_QUEUED), "queued");
	ck_assert_str_eq(spool_state_dir(SPOOL_QUEUED), "incoming");
}
END_TEST

START_TEST(list_sorted)
{
	struct spool_msg m = sample();
	char ids[3][ID_LEN + 1];
	char **names;
	size_t n;

	for (int i = 0; i < 3; i++) {
		id_new(m.id);
		strcpy(ids[i], m.id);
		ck_assert_int_eq(spool_enqueue(spool_dir, &m), 0);
		usleep(2000);
	}
	ck_assert_int_eq(spool_list(spool_dir, SPOOL_QUEUED, &names, &n), 0);
	ck_assert_uint_eq(n, 3);
	for (int i = 0; i < 3; i++)
		ck_assert_str_eq(names[i], ids[i]);
	spool_list_free(names, n);
}
END_TEST

START_TEST(mask_secret)
{
	struct spool_msg m = sample(), c;

	m.body = "code 482913, again 482913.";
	m.subject = "your code 482913";
	m.secret = "482913";
	spool_msg_copy(&c, &m);
	spool_mask_secret(&c);
	ck_assert_str_eq(c.body, "code ******, again ******.");
	ck_assert_str_eq(c.subject, "your code ******");
	ck_assert_ptr_null(c.secret);
	spool_msg_free(&c);
	/* a non-ASCII secret: one star per character */
	m.body = "口令：学信网，记住";
	m.secret = "学信网";
	spool_msg_copy(&c, &m);
	spool_mask_secret(&c);
	ck_assert_str_eq(c.body, "口令：***，记住");
	spool_msg_free(&c);
	/* no secret: nothing changes */
	m.secret = NULL;
	spool_msg_copy(&c, &m);
	spool_mask_secret(&c);
	ck_assert_str_eq(c.body, m.body);
	spool_msg_free(&c);
}
END_TEST

START_TEST(error_text_cleaned)
{
	struct spool_msg m = {0};
	spool_set_error(&m, "421 4.3.2 closing\r\nsecond line\n");
	ck_assert_str_eq(m.last_error, "421 4.3.2 closing  second line");
	spool_msg_free(&m);
}
END_TEST

START_TEST(history_and_dlr)
{
	struct spool_msg m = sample(), p, c;
	char err[256];
	size_t len;
	char *text;

	spool_msg_copy(&c, &m);
	free(c.dlr);
	c.dlr = xstrdup("delivered");
	spool_history_add(&c, 1764400001000, "deferred: HTTP 503 busy");
	spool_history_add(&c, 1764400002000, "sent: line\r\nbreak");
	text = spool_format(&c, &len);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_nonnull(strstr(text, "\ndlr: delivered\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nhistory: 1764400001000 deferred: HTTP 503 busy\n"
					   "history: 1764400002000 sent: line  break\n"));
	ck_assert_int_eq(spool_parse(text, len, &p, err, sizeof(err)), 0);
	ck_assert_str_eq(p.dlr, "delivered");
	ck_assert_str_eq(p.history, c.history);
	spool_msg_free(&p);
	free(text);
	/* the history is capped: the oldest lines go, but the first stays */
	for (int i = 0; i < SPOOL_HISTORY_MAX + 5; i++)
		spool_history_add(&c, 1764400003000 + i, "event %d", i);
	int lines = 1;
	for (const char *q = c.history; (q = strchr(q, '\n')); q++)
		lines++;
	ck_assert_int_eq(lines, SPOOL_HISTORY_MAX);
	ck_assert_msg(strncmp(c.history,
			      "1764400001000 deferred: HTTP 503 busy\n"
			      "1764400003006 event 6\n",
			      60) == 0,
		      "%s", c.history);
	ck_assert_ptr_nonnull(strstr(c.history, "event 36"));
	/* a newline inside the history is refused at write time */
	free(c.history);
	c.history = xstrdup("1 a\n\n2 b");
	ck_assert_int_eq(spool_check(&c, err, sizeof(err)), -EINVAL);
	spool_msg_free(&c);
	/* a repeated dlr is an error; an older reader's file without history parses */
	const char *dup = "REGFLOW-SPOOL 1\nid: 01M8K7MX69H6V\nchannel: sms\nto: 1\n"
			  "created: 1\ndlr: a\ndlr: b\nbody-size: 0\n\n";
	ck_assert_int_eq(spool_parse(dup, strlen(dup), &p, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "dlr: repeated"));
}
END_TEST

START_TEST(stats_counts)
{
	struct spool_msg m = sample();
	struct spool_stats st;
	char id2[ID_LEN + 1];

	ck_assert_int_eq(spool_enqueue(spool_dir, &m), 0);
	m.channel = "sms";
	m.to = "13800138000";
	m.dlr = "delivered";
	m.created_ms -= 5000;
	id_new(id2);
	memcpy(m.id, id2, sizeof(id2));
	ck_assert_int_eq(spool_write(spool_dir, SPOOL_SENT, &m), 0);
	ck_assert_int_eq(spool_stats(spool_dir, &st), 0);
	ck_assert_int_eq(st.count[SPOOL_QUEUED][0], 1);
	ck_assert_int_eq(st.count[SPOOL_SENT][1], 1);
	ck_assert_int_eq(st.count[SPOOL_DEFERRED][0] + st.count[SPOOL_DEFERRED][1], 0);
	ck_assert(st.oldest_ms[SPOOL_SENT] == m.created_ms);
	ck_assert_int_eq(st.dlr_delivered, 1);
}
END_TEST

Suite *spool_suite(void)
{
	Suite *s = suite_create("spool");
	TCase *tc = tcase_create("spool");

	tcase_add_checked_fixture(tc, spool_setup, spool_teardown);
	tcase_add_test(tc, roundtrip);
	tcase_add_test(tc, crlf_refused);
	tcase_add_test(tc, enqueue_idempotent);
	tcase_add_test(tc, parse_errors);
	tcase_add_test(tc, corrupt_moved_aside);
	tcase_add_test(tc, modes_and_states);
	tcase_add_test(tc, list_sorted);
	tcase_add_test(tc, mask_secret);
	tcase_add_test(tc, error_text_cleaned);
	tcase_add_test(tc, history_and_dlr);
	tcase_add_test(tc, stats_counts);
	tcase_add_test(tc, check_and_answer);
	suite_add_tcase(s, tc);
	return s;
}
