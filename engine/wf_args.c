/*
 * wf_args - checks for job arguments by their declared type, made at the
 * API before a job is accepted, so a bad field is a 400 naming it.
 */
#include "util.h"
#include "wf.h"

#include <ctype.h>
#include <string.h>

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

/* phone_check - a mainland mobile number: 11 digits, 1[3-9]x */
static const char *phone_check(const char *s)
{
	if (strlen(s) != 11 || s[0] != '1' || s[1] < '3' || s[1] > '9')
		return "not a mainland mobile number (11 digits, 13x-19x)";
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return "a phone number has only digits";
	return NULL;
}

static const char *account_check(const char *s)
{
	return id_valid(s) ? NULL : "not an account id";
}

static const struct {
	const char *type;
	const char *(*check)(const char *);
} arg_types[] = {
	{"email", email_check}, {"password", password_check}, {"token", token_check},
	{"code", code_check},   {"phone", phone_check},       {"account", account_check},
	{"string", NULL},
};

int wf_arg_type_known(const char *type)
{
	for (size_t i = 0; i < sizeof(arg_types) / sizeof(arg_types[0]); i++)
		if (strcmp(arg_types[i].type, type) == 0)
			return 1;
	return 0;
}

const char *wf_arg_check(const char *type, const char *value)
{
	if (!value)
		return "missing";
	if (strpbrk(value, "\r\n") && strcmp(type, "string"))
		return "line break in value";
	if (strlen(value) > 4096)
		return "value too long";
	for (size_t i = 0; i < sizeof(arg_types) / sizeof(arg_types[0]); i++)
		if (strcmp(arg_types[i].type, type) == 0)
			return arg_types[i].check ? arg_types[i].check(value) : NULL;
	return "unknown argument type";
}
