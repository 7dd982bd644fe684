/*
 * fuzz_args - the API's argument checks on arbitrary strings (libFuzzer;
 * make fuzz): wf_arg_check for every type (plain and optional "type?"),
 * the input taken as a type name too, wf_idno_check against an
 * independent GB 11643 check, and wf_mask into small buffers.
 *
 * Invariants: no crash; a value holding CR or LF is never accepted (photo
 * aside: its base64 may be wrapped, and wf_args.c checks it before the
 * line-break rule on purpose; it never reaches a header or envelope line);
 * what a type accepts has that type's shape.
 */
#include "fuzz.h"
#include "util.h"
#include "wf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const types[] = {"email",   "password", "token", "code",  "phone",
				    "account", "photo",	   "id_no", "string"};
#define NTYPES (sizeof(types) / sizeof(types[0]))

static int all_in(const char *s, const char *set, int alnum)
{
	for (; *s; s++)
		if (!(alnum && isalnum((unsigned char)*s)) && !strchr(set, *s))
			return 0;
	return 1;
}

static int all_digits(const char *s)
{
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* shape_ok - what an accepted value of this type must look like */
static int shape_ok(const char *type, const char *v)
{
	size_t n = strlen(v);
	if (!strcmp(type, "photo"))
		return n > 0 && all_in(v, "+/=\r\n", 1);
	if (strpbrk(v, "\r\n") || n > 4096)
		return 0;
	if (!strcmp(type, "email")) {
		const char *at = strchr(v, '@');
		return at && !strchr(at + 1, '@') && n <= 254 && at != v &&
		       all_in(v, ".!#$%&'*+/=?^_`{|}~-@", 1) && strchr(at, '.');
	}
	if (!strcmp(type, "password"))
		return n >= 8 && n <= 128;
	if (!strcmp(type, "token"))
		return n >= 8 && n <= 128 && all_in(v, "-_", 1);
	if (!strcmp(type, "code"))
		return n >= 4 && n <= 8 && all_digits(v);
	if (!strcmp(type, "phone"))
		return n == 11 && all_digits(v) && v[0] == '1';
	if (!strcmp(type, "account"))
		return id_valid(v);
	if (!strcmp(type, "id_no"))
		return n >= 1 && n <= 32 && all_in(v, "-", 1);
	return 1; /* string */
}

/* idno_ref - GB 11643-1999 written from the standard, not from wf_args.c */
static int idno_ref(const char *no)
{
	int sum = 0, y, m, d, mdays;
	if (strlen(no) != 18)
		return 0;
	for (int i = 0; i < 17; i++) {
		if (no[i] < '0' || no[i] > '9')
			return 0;
		/* weight 2^(17-i) mod 11 (ISO 7064 MOD 11-2) */
		int w = 1;
		for (int k = 0; k < 17 - i; k++)
			w = w * 2 % 11;
		sum += (no[i] - '0') * w;
	}
	int c = (12 - sum % 11) % 11;
	char want = c == 10 ? 'X' : (char)('0' + c);
	if (toupper((unsigned char)no[17]) != want)
		return 0;
	if (sscanf(no + 6, "%4d", &y) != 1 || sscanf(no + 10, "%2d", &m) != 1 ||
	    sscanf(no + 12, "%2d", &d) != 1)
		return 0;
	if (y < 1900 || m < 1 || m > 12 || d < 1)
		return 0;
	if (m == 2)
		mdays = ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0) ? 29 : 28;
	else
		mdays = (m == 4 || m == 6 || m == 9 || m == 11) ? 30 : 31;
	if (d > mdays)
		return 0;
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	return y * 10000 + m * 100 + d <=
	       (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *v = xmalloc(size + 1), opt[40];
	memcpy(v, data, size);
	v[size] = 0; /* a JSON string from the API has no NUL: the value ends at the first */

	for (size_t i = 0; i < NTYPES; i++) {
		const char *why = wf_arg_check(types[i], v);
		if (!why) {
			if (strcmp(types[i], "photo") != 0)
				CHECK(!strpbrk(v, "\r\n"));
			if (!shape_ok(types[i], v)) {
				fprintf(stderr,
					"fuzz_args: %s accepted a value of the wrong shape\n",
					types[i]);
				abort();
			}
		}
		snprintf(opt, sizeof(opt), "%s?", types[i]);
		CHECK(same(why, wf_arg_check(opt, v)));
		CHECK(wf_arg_type_known(types[i]) && wf_arg_type_known(opt));
	}
	CHECK(wf_arg_check("string", NULL) != NULL);

	/* the input as a type name (new types included): a known one refuses
	 * line breaks, an unknown one everything */
	char base[64];
	wf_arg_base(v, base, sizeof(base));
	const char *why = wf_arg_check(v, "x");
	if (wf_arg_type_known(v)) {
		CHECK(!why || strcmp(why, "unknown argument type") != 0);
		if (strcmp(base, "photo") != 0) {
			CHECK(wf_arg_check(v, "13800138000\r\nx") != NULL);
			CHECK(wf_arg_check(v, "li.lei@example.com\n") != NULL);
		}
	} else {
		CHECK(why && !strcmp(why, "unknown argument type"));
	}

	/* resident id numbers */
	const char *idwhy = wf_idno_check(v);
	if ((idwhy == NULL) != idno_ref(v)) {
		fprintf(stderr, "fuzz_args: wf_idno_check says %s, the reference says %s\n",
			idwhy ? idwhy : "valid", idno_ref(v) ? "valid" : "invalid");
		abort();
	}

	/* masking never writes past its buffer and always terminates */
	static const size_t sizes[] = {1, 2, 4, 16, 128};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *out = xmalloc(sizes[i]);
		wf_mask(v, out, sizes[i]);
		CHECK(memchr(out, 0, sizes[i]) != NULL);
		free(out);
	}
	free(v);
	return 0;
}
