/*
 * test_auth - the API tokens file and the bearer check.
 */
#include "suites.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"

#define TOK_A "aaaaBBBBccccDDDD1234"
#define TOK_C "cccc-review-0123456789"

/* name_of - the front a header names, or NULL */
static const char *name_of(const struct auth *a, const char *hdr)
{
	const struct auth_id *who = auth_check(a, hdr);
	return who ? who->name : NULL;
}
#define TOK_B "z9-Y8_x7.W6~v5+u4/t3="

/* write_tmp - a temporary tokens file holding text; the caller unlinks it */
static char *write_tmp(const char *text)
{
	static char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/tmp/regflow-auth-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static int load(const char *text, struct auth **a, char *err, size_t n)
{
	char *path = write_tmp(text);
	int rc = auth_load(path, a, err, n);

	/* messages name the file: make them comparable */
	if (rc < 0 && strncmp(err, path, strlen(path)) == 0)
		memmove(err, err + strlen(path), strlen(err + strlen(path)) + 1);
	unlink(path);
	return rc;
}

START_TEST(test_good)
{
	struct auth *a;
	char err[256] = "";

	ck_assert_int_eq(load("# fronts\n\n  chsi " TOK_A "\r\n"
			      "zbbm\t" TOK_B "   \n"
			      "chsi  0123456789abcdef0123\n",
			      &a, err, sizeof(err)),
			 0);
	ck_assert_uint_eq(auth_count(a), 3);
	ck_assert_str_eq(name_of(a, "Bearer " TOK_A), "chsi");
	ck_assert_str_eq(name_of(a, "bearer   " TOK_B " "), "zbbm");
	ck_assert_str_eq(name_of(a, "Bearer 0123456789abcdef0123"), "chsi");
	auth_free(a);
}
END_TEST

START_TEST(test_wrong)
{
	struct auth *a;
	char err[256];

	ck_assert_int_eq(load("chsi " TOK_A "\n", &a, err, sizeof(err)), 0);
	ck_assert_ptr_null(auth_check(a, "Bearer aaaaBBBBccccDDDD1235"));
	ck_assert_ptr_null(auth_check(a, "Bearer " TOK_A "x"));
	ck_assert_ptr_null(auth_check(a, "Bearer aaaaBBBBccccDDDD123"));
	ck_assert_ptr_null(auth_check(a, "Bearer short"));
	ck_assert_ptr_null(auth_check(a, "Bearer " TOK_A " extra"));
	/* no Bearer, other schemes, nothing */
	ck_assert_ptr_null(auth_check(a, TOK_A));
	ck_assert_ptr_null(auth_check(a, "Basic " TOK_A));
	ck_assert_ptr_null(auth_check(a, "Bearer" TOK_A));
	ck_assert_ptr_null(auth_check(a, "Bearer "));
	ck_assert_ptr_null(auth_check(a, ""));
	ck_assert_ptr_null(auth_check(a, NULL));
	ck_assert_ptr_null(auth_check(NULL, "Bearer " TOK_A));
	auth_free(a);
	auth_free(NULL);
}
END_TEST

START_TEST(test_malformed)
{
	struct auth *a = (struct auth *)1;
	char err[256];

	ck_assert_int_eq(load("# c\nchsi " TOK_A "\nlonely\n", &a, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(a);
	ck_assert_str_eq(err, ":3: expected \"front-name token [roles]\"");
	ck_assert_int_eq(load("a " TOK_A " front extra\n", &a, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, ":1: extra text after the roles");
	ck_assert_int_eq(load("a " TOK_A " front,boss\n", &a, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err,
			 ":1: unknown role (front, office, reviewer, helpdesk, gateway, admin; "
			 "comma-separated)");
	ck_assert_int_eq(load("\n\nbad/name " TOK_A "\n", &a, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, ":3: bad front name (letters, digits, '.', '_', '-'; at most 64)");
	ck_assert_int_eq(load("x " TOK_A "\ny " TOK_A "\n", &a, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, ":2: duplicate token");
	ck_assert_int_eq(load("x tok\xc3\xa9nnnnnnnnnnnnnnn\n", &a, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, ":1: token has a control or non-ASCII character");
	ck_assert_int_eq(load("# only comments\n\n", &a, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, ": no tokens");
	ck_assert_int_eq(auth_load("/nonexistent/tokens", &a, err, sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "/nonexistent/tokens: No such file or directory");
}
END_TEST

START_TEST(test_short)
{
	struct auth *a;
	char err[256];

	ck_assert_int_eq(load("chsi " TOK_A "\nzbbm 0123456789abcde\n", &a, err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, ":2: token too short (at least 16 characters)");
	ck_assert_int_eq(load("zbbm 0123456789abcdef\n", &a, err, sizeof(err)), 0);
	ck_assert_str_eq(name_of(a, "Bearer 0123456789abcdef"), "zbbm");
	auth_free(a);
}
END_TEST

START_TEST(test_roles)
{
	struct auth *a;
	char err[256];
	ck_assert_int_eq(load("chsi " TOK_A "\nkefu07 " TOK_C " reviewer,helpdesk\nops " TOK_B
			      " admin\n",
			      &a, err, sizeof(err)),
			 0);
	const struct auth_id *w = auth_check(a, "Bearer " TOK_A);
	ck_assert_uint_eq(w->roles, AUTH_FRONT); /* none written: front */
	ck_assert(auth_may(w, AUTH_FRONT) && !auth_may(w, AUTH_REVIEWER));
	w = auth_check(a, "Bearer " TOK_C);
	ck_assert(auth_may(w, AUTH_REVIEWER) && auth_may(w, AUTH_HELPDESK));
	ck_assert(!auth_may(w, AUTH_FRONT) && !auth_may(w, AUTH_GATEWAY));
	w = auth_check(a, "Bearer " TOK_B);
	ck_assert(auth_may(w, AUTH_GATEWAY) && auth_may(w, AUTH_OFFICE)); /* admin: all */
	ck_assert(!auth_may(NULL, AUTH_FRONT));
	auth_free(a);
}
END_TEST

Suite *auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("tokens");

	tcase_add_test(tc, test_good);
	tcase_add_test(tc, test_wrong);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_short);
	tcase_add_test(tc, test_roles);
	suite_add_tcase(s, tc);
	return s;
}
