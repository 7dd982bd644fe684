/*
 * test_codekey - the code key file: made 0600, refused when others may
 * read it or when a line is garbage (by its line), rotated by appending a
 * key, and each key giving its own hashes; the hash of an unknown key id is
 * refused rather than made with another key.
 */
#include "codekey.h"
#include "suites.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64], path[128];

static void mk(void)
{
	snprintf(dir, sizeof(dir), "/tmp/rfkeyXXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/code.key", dir);
}

static void rm(void)
{
	unlink(path);
	rmdir(dir);
}

static void put(const char *text, int mode)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	chmod(path, (mode_t)mode);
}

START_TEST(created_0600_and_rotated)
{
	char err[256], kid[CODEKEY_ID_MAX], h1[65], h2[65], h3[65];
	struct codekey_ring *r = NULL;
	struct stat sb;
	mk();
	ck_assert_int_eq(codekey_load(path, &r, err, sizeof(err)), -ENOENT);
	ck_assert_int_eq(codekey_create(path, err, sizeof(err)), 0);
	ck_assert_int_eq(codekey_create(path, err, sizeof(err)), -EEXIST);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	ck_assert_int_eq(codekey_load(path, &r, err, sizeof(err)), 0);
	ck_assert_int_eq(codekey_count(r), 1);
	ck_assert_str_eq(codekey_current(r), "k1");
	ck_assert_int_eq(codekey_hash(r, "k1", "00112233445566778899aabbccddeeff", "123456", h1),
			 0);
	ck_assert_int_eq(codekey_hash(r, "k2", "00112233445566778899aabbccddeeff", "123456", h2),
			 -ENOKEY);
	codekey_free(r);

	ck_assert_int_eq(codekey_rotate(path, kid, err, sizeof(err)), 0);
	ck_assert_str_eq(kid, "k2");
	ck_assert_int_eq(codekey_load(path, &r, err, sizeof(err)), 0);
	ck_assert_int_eq(codekey_count(r), 2);
	ck_assert_str_eq(codekey_current(r), "k2");
	/* the old key still gives the old hash; the new one another */
	ck_assert_int_eq(codekey_hash(r, "k1", "00112233445566778899aabbccddeeff", "123456", h2),
			 0);
	ck_assert_str_eq(h1, h2);
	ck_assert_int_eq(codekey_hash(r, "k2", "00112233445566778899aabbccddeeff", "123456", h3),
			 0);
	ck_assert_str_ne(h1, h3);
	/* the salt and the code both count */
	ck_assert_int_eq(codekey_hash(r, "k1", "ff112233445566778899aabbccddeeff", "123456", h2),
			 0);
	ck_assert_str_ne(h1, h2);
	ck_assert_int_eq(codekey_hash(r, "k1", "00112233445566778899aabbccddeeff", "123457", h2),
			 0);
	ck_assert_str_ne(h1, h2);
	codekey_free(r);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	rm();
}
END_TEST

START_TEST(refused_with_the_reason)
{
	static const char key[] =
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char err[256], text[512];
	struct codekey_ring *r = NULL;
	const struct {
		const char *text, *want;
	} bad[] = {
		{"", "no key in the file"},
		{"# only a comment\n\n", "no key in the file"},
		{"k1 00ff 1700000000\n", ":1: the key is 64 hex digits (32 bytes)"},
		{"\nK1 %s 1700000000\n", ":2: the id is 1 to 15 of a-z and 0-9"},
		{"k1 %s\n", ":1: expected \"ID HEX CREATED\""},
		{"k1 %s yesterday\n", ":1: the creation time is a Unix time"},
		{"k1 %s 1700000000\nk1 %s 1700000001\n", ":2: this id is used already"},
	};
	mk();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), bad[i].text, key, key);
		put(text, 0600);
		ck_assert_int_eq(codekey_load(path, &r, err, sizeof(err)), -EINVAL);
		ck_assert_msg(strstr(err, bad[i].want), "%s: wanted \"%s\", got \"%s\"", text,
			      bad[i].want, err);
	}
	snprintf(text, sizeof(text), "k7 %s 1700000000\n", key);
	put(text, 0640);
	ck_assert_int_eq(codekey_load(path, &r, err, sizeof(err)), -EPERM);
	ck_assert_msg(strstr(err, "others may read it (mode 0640)"), "%s", err);
	chmod(path, 0600);
	ck_assert_int_eq(codekey_load(path, &r, err, sizeof(err)), 0);
	ck_assert_str_eq(codekey_id(r, 0), "k7");
	ck_assert_int_eq(codekey_created(r, 0), 1700000000);
	codekey_free(r);
	char kid[CODEKEY_ID_MAX];
	ck_assert_int_eq(codekey_rotate(path, kid, err, sizeof(err)), 0);
	ck_assert_str_eq(kid, "k8");
	rm();
}
END_TEST

Suite *codekey_suite(void)
{
	Suite *s = suite_create("codekey");
	TCase *t = tcase_create("keys");
	tcase_add_test(t, created_0600_and_rotated);
	tcase_add_test(t, refused_with_the_reason);
	suite_add_tcase(s, t);
	return s;
}
