/*
 * wf_args - checks for job arguments by their declared type, made at the
 * API before a job is accepted, so a bad field is a 400 naming it.
 */
#include "util.h"
#include "wf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* email_check - a practical RFC 5321 mailbox: local@domain.tld, ASCII */
static const char *email_check(const char *s)
{
	const char *at = strchr(s, '@');
	size_t len = strlen(s);

	if (len > 254)
		return "address too long";
	if (!at || strchr(at + 1, '@'))
		return "an address needs exactly one @";
	size_t local = (size_t)(at - s);
	if (local == 0 || local > 64)
		return "bad local part length";
	if (s[0] == '.' || at[-1] == '.' || strstr(s, ".."))
		return "misplaced dot";
	for (const char *p = s; p < at; p++)
		if (!isalnum((unsigned char)*p) && !strchr(".!#$%&'*+/=?^_`{|}~-", *p))
			return "bad character in the local part";
	const char *dom = at + 1, *label = dom, *last_dot = NULL;
	if (!*dom)
		return "missing domain";
	for (const char *p = dom;; p++) {
		if (*p == '.' || *p == 0) {
			size_t l = (size_t)(p - label);
			if (l == 0 || l > 63 || label[0] == '-' || p[-1] == '-')
				return "bad domain label";
			if (*p == 0)
				break;
			last_dot = p;
			label = p + 1;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-')
			return "bad character in the domain";
	}
	if (!last_dot)
		return "the domain needs a dot";
	for (const char *p = last_dot + 1; *p; p++)
		if (!isalpha((unsigned char)*p))
			return "bad top-level domain";
	if (strlen(last_dot + 1) < 2)
		return "bad top-level domain";
	return NULL;
}

static const char *password_check(const char *s)
{
	size_t n = strlen(s);
	if (n < 8)
		return "a password needs at least 8 characters";
	if (n > 128)
		return "a password has at most 128 characters";
	return NULL;
}

static const char *token_check(const char *s)
{
	size_t n = strlen(s);
	if (n < 8 || n > 128)
		return "bad token length";
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return "bad character in token";
	return NULL;
}

static const char *code_check(const char *s)
{
	size_t n = strlen(s);
	if (n < 4 || n > 8)
		return "a code has 4 to 8 digits";
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return "a code has only digits";
	return NULL;
}

/*
 * phone_check - a mainland mobile number: 11 digits starting with a
 * prefix the operators (China Mobile, Unicom, Telecom, Broadnet, MVNOs)
 * have in use.
 */
static const char *phone_check(const char *s)
{
	static const char *prefixes =
		"130 131 132 133 134 135 136 137 138 139 145 146 147 148 149 150 151 152 153 "
		"155 156 157 158 159 162 165 166 167 170 171 172 173 174 175 176 177 178 180 "
		"181 182 183 184 185 186 187 188 189 190 191 192 193 195 196 197 198 199";
	char p[4];
	if (strlen(s) != 11)
		return "a mainland mobile number has 11 digits";
	for (const char *q = s; *q; q++)
		if (!isdigit((unsigned char)*q))
			return "a phone number has only digits";
	memcpy(p, s, 3);
	p[3] = 0;
	if (!strstr(prefixes, p))
		return "not a mainland mobile prefix";
	return NULL;
}

const char *wf_idno_check(const char *no)
{
	static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
	static const char check[] = "10X98765432";
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int sum = 0;
	if (strlen(no) != 18)
		return "a resident id number has 18 characters";
	for (int i = 0; i < 17; i++) {
		if (!isdigit((unsigned char)no[i]))
			return "the first 17 characters are digits";
		sum += (no[i] - '0') * w[i];
	}
	int y = (no[6] - '0') * 1000 + (no[7] - '0') * 100 + (no[8] - '0') * 10 + (no[9] - '0');
	int m = (no[10] - '0') * 10 + (no[11] - '0'), d = (no[12] - '0') * 10 + (no[13] - '0');
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1900 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] ||
	    (m == 2 && d == 29 && !leap))
		return "bad birth date";
	if (y * 10000 + m * 100 + d >
	    (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday)
		return "birth date in the future";
	char c = (char)toupper((unsigned char)no[17]);
	if (c != check[sum % 11])
		return "bad check digit";
	return NULL;
}

void wf_mask(const char *id, char *out, size_t n)
{
	const char *at = strchr(id, '@');
	if (at) { /* li***@example.com: two characters of the mailbox stay */
		size_t keep = (size_t)(at - id) > 2 ? 2 : 1;
		snprintf(out, n, "%.*s***%s", (int)keep, id, at);
	} else { /* 186********: the operator prefix stays */
		size_t len = strlen(id);
		snprintf(out, n, "%.3s", id);
		for (size_t i = 3; i < len && i + 1 < n; i++) {
			out[i] = '*';
			out[i + 1] = 0;
		}
	}
}

/* photo_check - base64 of at most 1 MiB; size and format are the workflow's to judge */
static const char *photo_check(const char *s)
{
	size_t n = strlen(s);
	if (n == 0)
		return "empty photo";
	if (n > (1 << 20) * 4 / 3 + 4)
		return "photo too large for the API";
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("+/=\r\n", *s))
			return "the photo must be base64";
	return NULL;
}

const char *wf_arg_base(const char *type, char *buf, size_t n)
{
	snprintf(buf, n, "%s", type);
	size_t l = strlen(buf);
	if (l > 0 && buf[l - 1] == '?')
		buf[l - 1] = 0;
	return buf;
}

int wf_arg_optional(const char *type)
{
	size_t l = strlen(type);
	return l > 0 && type[l - 1] == '?';
}

/* idno_check - an id number of any type: letters, digits and '-' (the
 * resident id's own rules are the workflow's check_id) */
static const char *idno_arg_check(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 32)
		return "an id number has 1 to 32 characters";
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-')
			return "an id number has letters, digits and '-' only";
	return NULL;
}

/* idtype_check - the name of an id type (which names exist is id_types.conf's) */
static const char *idtype_check(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 31)
		return "an id type has 1 to 31 characters";
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_')
			return "an id type has a-z, 0-9 and _ only";
	return NULL;
}

/* secret_check - a password to verify: never stored, so only its length */
static const char *secret_check(const char *s)
{
	size_t n = strlen(s);
	return n == 0 ? "empty" : n > 128 ? "at most 128 characters" : NULL;
}

/* login_check - what an account registered with: an address, a phone, a username */
static const char *login_check(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 254)
		return "1 to 254 characters";
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f)
			return "no spaces or control characters";
	return NULL;
}

/* ip_check - an IPv4 or IPv6 address as the front saw it */
static const char *ip_check(const char *s)
{
	unsigned char buf[16];
	if (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1)
		return NULL;
	return "not an IPv4 or IPv6 address";
}

static const char *account_check(const char *s)
{
	return id_valid(s) ? NULL : "not an account id";
}

static const struct {
	const char *type;
	const char *(*check)(const char *);
} arg_types[] = {
	{"email", email_check},	   {"password", password_check}, {"token", token_check},
	{"code", code_check},	   {"phone", phone_check},	 {"account", account_check},
	{"photo", photo_check},	   {"id_no", idno_arg_check},	 {"string", NULL},
	{"caller", NULL}, /* the caller's token name: set by the engine, never by the caller */
	{"secret", secret_check},  {"login", login_check},	 {"ip", ip_check},
	{"id_type", idtype_check},
};

int wf_arg_hidden(const char *type_)
{
	char type[32];
	wf_arg_base(type_ ? type_ : "", type, sizeof(type));
	return !strcmp(type, "password") || !strcmp(type, "secret");
}

int wf_arg_type_known(const char *type_)
{
	char type[32];
	wf_arg_base(type_, type, sizeof(type));
	for (size_t i = 0; i < sizeof(arg_types) / sizeof(arg_types[0]); i++)
		if (strcmp(arg_types[i].type, type) == 0)
			return 1;
	return 0;
}

const char *wf_arg_check(const char *type_, const char *value)
{
	char type[32];
	wf_arg_base(type_, type, sizeof(type));
	if (!value)
		return "missing";
	if (strcmp(type, "photo") == 0)
		return photo_check(value);
	if (strpbrk(value, "\r\n"))
		return "line break in value";
	if (strlen(value) > 4096)
		return "value too long";
	for (size_t i = 0; i < sizeof(arg_types) / sizeof(arg_types[0]); i++)
		if (strcmp(arg_types[i].type, type) == 0)
			return arg_types[i].check ? arg_types[i].check(value) : NULL;
	return "unknown argument type";
}
