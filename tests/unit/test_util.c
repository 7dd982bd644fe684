/*
 * Tests of common/util (durations, ids, atomic files), common/password
 * (Argon2id strings) and common/conf (libconfig loading, -o overrides,
 * file:line errors).
 */
#include "conf.h"
#include "password.h"
#include "suites.h"
#include "util.h"

#include <sodium.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

START_TEST(duration_units)
{
	int64_t ms;
	ck_assert_int_eq(duration_parse("30s", &ms), 0);
	ck_assert_int_eq(ms, 30000);
	ck_assert_int_eq(duration_parse("15m", &ms), 0);
	ck_assert_int_eq(ms, 900000);
	ck_assert_int_eq(duration_parse("2h", &ms), 0);
	ck_assert_int_eq(ms, 7200000);
	ck_assert_int_eq(duration_parse("1d", &ms), 0);
	ck_assert_int_eq(ms, 86400000);
	ck_assert_int_eq(duration_parse("250ms", &ms), 0);
	ck_assert_int_eq(ms, 250);
	ck_assert_int_eq(duration_parse("1h30m", &ms), 0);
	ck_assert_int_eq(ms, 5400000);
}
END_TEST

START_TEST(duration_garbage)
{
	int64_t ms;
	const char *bad[] = {"",  "s", "10", "10x", "-5s", "1.5h", "1d ", "99999999999999999999d",
			     NULL};
	for (int i = 0; bad[i]; i++)
		ck_assert_msg(duration_parse(bad[i], &ms) < 0, "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(duration_format_roundtrip)
{
	char buf[32];
	duration_format(5400000, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1h30m");
	duration_format(0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "0s");
}
END_TEST

START_TEST(ids_sort_and_differ)
{
	char a[ID_LEN + 1], b[ID_LEN + 1];
	id_new(a);
	usleep(2000);
	id_new(b);
	ck_assert_int_eq(strlen(a), ID_LEN);
	ck_assert(id_valid(a));
	ck_assert(strcmp(a, b) < 0);
	ck_assert(!strpbrk(a, "ILOU"));
	ck_assert(!id_valid("short"));
	ck_assert(!id_valid("0123456789ABU"));
}
END_TEST

START_TEST(ids_unique_in_a_burst)
{
	/* a batch creates hundreds of ids in one millisecond: all distinct, increasing */
	enum { N = 200000 };
	char(*ids)[ID_LEN + 1] = malloc(sizeof(*ids) * N);
	for (int i = 0; i < N; i++)
		id_new(ids[i]);
	for (int i = 1; i < N; i++)
		ck_assert_msg(strcmp(ids[i - 1], ids[i]) < 0, "%s then %s", ids[i - 1], ids[i]);
	free(ids);
}
END_TEST

START_TEST(ids_name_their_node)
{
	/* two nodes making ids in the same millisecond never make the same one,
	 * and each id says which node made it (issue 13: spool ids name the node) */
	char a[ID_LEN + 1], b[ID_LEN + 1];
	id_set_node(7);
	id_new(a);
	id_set_node(31);
	id_new(b);
	id_set_node(0);
	ck_assert_int_eq(id_node(a), 7);
	ck_assert_int_eq(id_node(b), 31);
	ck_assert(a[10] != b[10]);
	ck_assert_int_eq(id_node("short"), -1);
	id_set_node(99); /* out of range: node 0 */
	id_new(a);
	ck_assert_int_eq(id_node(a), 0);
}
END_TEST

START_TEST(atomic_write_mode)
{
	char dir[] = "/tmp/rfutilXXXXXX", path[64], *text;
	struct stat st;
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	ck_assert_int_eq(file_write_atomic(path, "hello", 5, 0600), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(file_read(path, 100, &text, NULL), 0);
	ck_assert_str_eq(text, "hello");
	free(text);
	ck_assert_int_eq(file_read(path, 2, &text, NULL), -EFBIG);
	unlink(path);
	rmdir(dir);
}
END_TEST

static char *write_tmp(const char *text)
{
	char *path = strdup("/tmp/rfconfXXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

START_TEST(conf_overrides)
{
	char *path =
		write_tmp("engine = {\n  listen = \"127.0.0.1:7800\";\n  group_commit = 5;\n};\n");
	struct conf_args a = {0};
	struct conf c;
	conf_args_add(&a, 'c', path);
	conf_args_add(&a, 'o', "engine.listen=127.0.0.1:0");
	conf_args_add(&a, 'o', "engine.group_commit=9");
	conf_args_add(&a, 'o', "gateway.smtp.relay=127.0.0.1:25");
	ck_assert_int_eq(conf_open(&c, &a), 0);
	ck_assert_str_eq(conf_str(&c, "engine.listen", "x"), "127.0.0.1:0");
	ck_assert_int_eq(conf_int(&c, "engine.group_commit", 0), 9);
	ck_assert_str_eq(conf_str(&c, "gateway.smtp.relay", ""), "127.0.0.1:25");
	ck_assert_str_eq(conf_str(&c, "missing.thing", "dflt"), "dflt");
	ck_assert_ptr_null(conf_error(&c));
	conf_close(&c);
	unlink(path);
	free(path);
}
END_TEST

/* conf_known - the unknown-setting check on text (and -o overrides); "" or the error */
static void conf_known(const char *text, const char *ov, const char *want)
{
	static const struct conf_item items[] = {
		{"engine.listen", CONF_STR, "", 0, 0, 0},
		{"engine.group_commit", CONF_INT, "1", 1, 9, 0},
		{"engine.tls.certificate", CONF_STR, "", 0, 0, 0},
		{NULL, 0, NULL, 0, 0, 0},
	};
	static const char *const own[] = {"engine", NULL};
	char *path = write_tmp(text), full[512];
	struct conf_args a = {0};
	struct conf c;
	conf_args_add(&a, 'c', path);
	if (ov)
		conf_args_add(&a, 'o', ov);
	ck_assert_int_eq(conf_open(&c, &a), 0);
	int rc = conf_check_known(&c, items, own);
	if (!*want) {
		ck_assert_msg(rc == 0, "%s: refused: %s", text, conf_error(&c));
	} else {
		if (want[0] != '-')
			snprintf(full, sizeof(full), "%s:%s", path, want);
		ck_assert_int_eq(rc, -EINVAL);
		ck_assert_str_eq(conf_error(&c), want[0] == '-' ? want : full);
	}
	conf_close(&c);
	unlink(path);
	free(path);
}

START_TEST(conf_unknown_settings_refused)
{
	conf_known("engine = { listen = \"x\"; tls = { certificate = \"c\"; }; };\n"
		   "log = { level = \"info\"; };\nspool = { dir = \"s\"; };\n",
		   NULL, "");
	/* another program's section is its own to check */
	conf_known("gateway = { smtp = { relya = \"x\"; }; };\n", NULL, "");
	conf_known("engine = {\n  lisen = \"x\";\n};\n", NULL,
		   "2: engine.lisen: unknown setting (did you mean engine.listen?)");
	conf_known("engine = {\n  tls = { certifcate = \"c\"; };\n};\n", NULL,
		   "2: engine.tls.certifcate: unknown setting (did you mean "
		   "engine.tls.certificate?)");
	conf_known("engine = {\n  frobnicate = 1;\n};\n", NULL,
		   "2: engine.frobnicate: unknown setting");
	conf_known("log = {\n  levle = \"x\";\n};\n", NULL,
		   "2: log.levle: unknown setting (did you mean log.level?)");
	conf_known("\nengnie = { listen = \"x\"; };\n", NULL,
		   "2: engnie: unknown section (log, spool, api, engine, gateway, ctl)");
	conf_known("", "engine.group_comit=5",
		   "-o engine.group_comit: unknown setting (did you mean engine.group_commit?)");
}
END_TEST

START_TEST(conf_a_directory_is_not_a_file)
{
	struct conf_args a = {0};
	struct conf c;
	conf_args_add(&a, 'c', "/tmp");
	ck_assert_int_lt(conf_open(&c, &a), 0);
	ck_assert_str_eq(conf_error(&c), "/tmp: a directory, not a configuration file");
	conf_close(&c);
}
END_TEST

START_TEST(conf_errors_name_the_line)
{
	char *path = write_tmp("engine = {\n  listen = 7800;\n  group_commit = \"many\";\n};\n");
	struct conf_args a = {0};
	struct conf c;
	char want[256];
	conf_args_add(&a, 'c', path);
	ck_assert_int_eq(conf_open(&c, &a), 0);
	conf_str(&c, "engine.listen", "x");
	snprintf(want, sizeof(want), "%s:2: engine.listen: expected a string", path);
	ck_assert_str_eq(conf_error(&c), want);
	conf_close(&c);
	unlink(path);
	free(path);

	path = write_tmp("engine = {\n  listen = \"a\"\n  x = ;\n};\n");
	memset(&a, 0, sizeof(a));
	conf_args_add(&a, 'c', path);
	ck_assert_int_lt(conf_open(&c, &a), 0);
	snprintf(want, sizeof(want), "%s:3: ", path);
	ck_assert_msg(strncmp(conf_error(&c), want, strlen(want)) == 0, "got %s", conf_error(&c));
	conf_close(&c);
	unlink(path);
	free(path);

	memset(&a, 0, sizeof(a));
	conf_args_add(&a, 'c', "/nonexistent/regflow.conf");
	ck_assert_int_lt(conf_open(&c, &a), 0);
	ck_assert_ptr_nonnull(strstr(conf_error(&c), "cannot read"));
	conf_close(&c);

	memset(&a, 0, sizeof(a));
	conf_args_add(&a, 'o', "novalue");
	ck_assert_int_lt(conf_open(&c, &a), 0);
	ck_assert_ptr_nonnull(strstr(conf_error(&c), "expected path=value"));
	conf_close(&c);
}
END_TEST

START_TEST(conf_override_checks)
{
	/* found by make fuzz: an int out of range read back as 0; '/' paths */
	char *path = write_tmp("engine = { group_commit = 5; };\n");
	const char *bad[] = {"engine.group_commit=177777777777777772", "engine/group_commit=7",
			     "engine:x=1", NULL};
	for (int i = 0; bad[i]; i++) {
		struct conf_args a = {0};
		struct conf c;
		conf_args_add(&a, 'c', path);
		conf_args_add(&a, 'o', bad[i]);
		ck_assert_msg(conf_open(&c, &a) < 0, "accepted -o %s", bad[i]);
		ck_assert_ptr_nonnull(conf_error(&c));
		conf_close(&c);
	}
	unlink(path);
	free(path);
	int64_t ms;
	ck_assert_int_eq(duration_parse("4611686018427387903ms4611686018427387903ms", &ms),
			 -ERANGE);
}
END_TEST

START_TEST(conf_bad_duration)
{
	char *path = write_tmp("gateway = { retry = { min = \"soon\"; }; };\n");
	struct conf_args a = {0};
	struct conf c;
	conf_args_add(&a, 'c', path);
	ck_assert_int_eq(conf_open(&c, &a), 0);
	ck_assert_int_eq(conf_duration(&c, "gateway.retry.min", "30s"), 30000);
	ck_assert_ptr_nonnull(strstr(conf_error(&c), ":1: gateway.retry.min: bad duration"));
	conf_close(&c);
	unlink(path);
	free(path);
}
END_TEST

/* hashes made by libsodium (before the switch to libargon2) verify, and
 * libsodium reads ours: the same PHC string; a wrong password, garbage or
 * another algorithm's string is -EACCES; new hashes have the set cost */
START_TEST(password_strings_are_libsodiums)
{
	char ours[PASSWORD_HASH_MAX], theirs[crypto_pwhash_STRBYTES];
	ck_assert_int_eq(password_hash("correct horse 学信网", ours), 0);
	ck_assert_ptr_nonnull(strstr(ours, "$argon2id$v=19$m=19456,t=2,p=1$"));
	ck_assert_int_eq(password_verify(ours, "correct horse 学信网"), 0);
	ck_assert_int_eq(password_verify(ours, "correct horse"), -EACCES);
	ck_assert_int_eq(crypto_pwhash_str_verify(ours, "correct horse 学信网",
						  strlen("correct horse 学信网")),
			 0);
	ck_assert_int_eq(
		crypto_pwhash_str_alg(theirs, "pw", 2, 2, 19u << 20, crypto_pwhash_ALG_ARGON2ID13),
		0);
	ck_assert_int_eq(password_verify(theirs, "pw"), 0);
	ck_assert_int_eq(password_verify(theirs, "pW"), -EACCES);
	ck_assert_int_eq(password_verify("$argon2id$v=19$m=19456,t=2,p=1$garbage", "pw"), -EACCES);
	ck_assert_int_eq(password_verify("", "pw"), -EACCES);
	ck_assert_int_eq(password_needs_rehash(ours), 0);
	ck_assert_int_eq(password_params(1, 19u << 20), -EINVAL); /* below OWASP */
	ck_assert_int_eq(password_params(3, 19u << 20), 0);
	ck_assert_int_eq(password_needs_rehash(ours), 1);
	ck_assert_int_eq(password_hash("x", ours), 0);
	ck_assert_ptr_nonnull(strstr(ours, ",t=3,"));
	ck_assert_int_eq(password_params(2, 19u << 20), 0);
}
END_TEST

Suite *util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *t = tcase_create("util");
	tcase_add_test(t, duration_units);
	tcase_add_test(t, duration_garbage);
	tcase_add_test(t, duration_format_roundtrip);
	tcase_add_test(t, ids_sort_and_differ);
	tcase_add_test(t, ids_unique_in_a_burst);
	tcase_add_test(t, ids_name_their_node);
	tcase_add_test(t, atomic_write_mode);
	tcase_add_test(t, password_strings_are_libsodiums);
	suite_add_tcase(s, t);
	return s;
}

Suite *conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *t = tcase_create("conf");
	tcase_add_test(t, conf_overrides);
	tcase_add_test(t, conf_errors_name_the_line);
	tcase_add_test(t, conf_bad_duration);
	tcase_add_test(t, conf_override_checks);
	tcase_add_test(t, conf_unknown_settings_refused);
	tcase_add_test(t, conf_a_directory_is_not_a_file);
	suite_add_tcase(s, t);
	return s;
}
