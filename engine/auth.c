/*
 * auth - bearer tokens of the web fronts (see auth.h).
 *
 * Each token is kept as BLAKE2b(token) keyed with a random per-process key.
 * A check hashes the presented token once, then compares it with every
 * entry using sodium_memcmp and picks the match without branching on it,
 * so the time taken does not depend on which entry (if any) matched.
 */
#include "auth.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <sodium.h>

#include "util.h"

#define AUTH_FILE_MAX (1024 * 1024)
#define AUTH_HASH_LEN crypto_generichash_BYTES

struct auth_entry {
	struct auth_id id;
	unsigned char hash[AUTH_HASH_LEN];
};

static const char *const role_names[] = {"front",    "office",	"reviewer",
					 "helpdesk", "gateway", "admin"};

unsigned auth_role_parse(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++)
		if (strlen(role_names[i]) == len && !strncmp(role_names[i], name, len))
			return 1u << i;
	return 0;
}

const char *auth_role_name(unsigned role)
{
	for (size_t i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++)
		if (role == 1u << i)
			return role_names[i];
	return "?";
}

/* parse_roles - "front,office": their bits, or 0 for an unknown one */
static unsigned parse_roles(const char *s, size_t len)
{
	unsigned roles = 0;
	for (size_t i = 0; i < len;) {
		size_t n = 0;
		while (i + n < len && s[i + n] != ',')
			n++;
		unsigned r = auth_role_parse(s + i, n);
		if (!r)
			return 0;
		roles |= r;
		i += n + 1;
	}
	return roles;
}

struct auth {
	unsigned char key[crypto_generichash_KEYBYTES];
	struct auth_entry *e;
	size_t n, cap;
};

static void auth_hash(const struct auth *a, const char *tok, size_t len,
		      unsigned char out[AUTH_HASH_LEN])
{
	crypto_generichash(out, AUTH_HASH_LEN, (const unsigned char *)tok, len, a->key,
			   sizeof(a->key));
}

static int name_ok(const char *s, size_t len)
{
	if (len == 0 || len > AUTH_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
}

/* token_ok - visible ASCII only, so it survives an HTTP header unchanged */
static int token_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

/* parse_line - one "name token [roles]" line into a new entry; NULL or the reason */
static const char *parse_line(struct auth *a, char *line)
{
	static const char ws[] = " \t";
	char *name, *tok, *roles;
	size_t nlen, tlen, rlen;
	unsigned rbits = AUTH_FRONT;
	struct auth_entry *e;
	unsigned char h[AUTH_HASH_LEN];

	name = line + strspn(line, ws);
	nlen = strcspn(name, ws);
	tok = name + nlen;
	tok += strspn(tok, ws);
	tlen = strcspn(tok, ws);
	if (tlen == 0)
		return "expected \"front-name token [roles]\"";
	roles = tok + tlen + strspn(tok + tlen, ws);
	rlen = strcspn(roles, ws);
	if (roles[rlen + strspn(roles + rlen, ws)] != '\0')
		return "extra text after the roles";
	if (rlen && !(rbits = parse_roles(roles, rlen)))
		return "unknown role (front, office, reviewer, helpdesk, gateway, admin; "
		       "comma-separated)";
	if (!name_ok(name, nlen))
		return "bad front name (letters, digits, '.', '_', '-'; at most 64)";
	if (tlen < AUTH_TOKEN_MIN)
		return "token too short (at least 16 characters)";
	if (tlen > AUTH_TOKEN_MAX)
		return "token too long (at most 512 characters)";
	if (!token_ok(tok, tlen))
		return "token has a control or non-ASCII character";
	auth_hash(a, tok, tlen, h);
	for (size_t i = 0; i < a->n; i++)
		if (sodium_memcmp(a->e[i].hash, h, sizeof(h)) == 0)
			return "duplicate token";
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 8;
		a->e = xrealloc(a->e, a->cap * sizeof(*a->e));
	}
	e = &a->e[a->n++];
	memcpy(e->id.name, name, nlen);
	e->id.name[nlen] = '\0';
	e->id.roles = rbits;
	memcpy(e->hash, h, sizeof(h));
	sodium_memzero(h, sizeof(h));
	return NULL;
}

int auth_load(const char *file, struct auth **out, char *err, size_t errlen)
{
	struct auth *a = NULL;
	char *text = NULL, *line, *next;
	size_t len;
	int rc, lineno = 0;

	*out = NULL;
	if (sodium_init() < 0) {
		snprintf(err, errlen, "%s: libsodium failed to start", file);
		return -EIO;
	}
	rc = file_read(file, AUTH_FILE_MAX, &text, &len);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", file, strerror(-rc));
		return rc;
	}
	a = xcalloc(1, sizeof(*a));
	randombytes_buf(a->key, sizeof(a->key));
	if (memchr(text, '\0', len)) {
		snprintf(err, errlen, "%s: contains a NUL byte", file);
		rc = -EINVAL;
		goto out;
	}
	for (line = text; line; line = next) {
		const char *why;
		size_t l;

		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		l = strlen(line);
		if (l && line[l - 1] == '\r')
			line[--l] = '\0';
		line += strspn(line, " \t");
		if (!*line || *line == '#')
			continue;
		why = parse_line(a, line);
		if (why) {
			snprintf(err, errlen, "%s:%d: %s", file, lineno, why);
			rc = -EINVAL;
			goto out;
		}
	}
	if (a->n == 0) {
		snprintf(err, errlen, "%s: no tokens", file);
		rc = -EINVAL;
		goto out;
	}
	*out = a;
	a = NULL;
out:
	sodium_memzero(text, len);
	free(text);
	auth_free(a);
	return rc;
}

void auth_free(struct auth *a)
{
	if (!a)
		return;
	if (a->e) {
		sodium_memzero(a->e, a->cap * sizeof(*a->e));
		free(a->e);
	}
	sodium_memzero(a, sizeof(*a));
	free(a);
}

size_t auth_count(const struct auth *a)
{
	return a ? a->n : 0;
}

const struct auth_id *auth_check(const struct auth *a, const char *authorization)
{
	unsigned char h[AUTH_HASH_LEN];
	const char *tok;
	size_t tlen;
	size_t found = 0; /* index + 1 of the match, 0 for none */

	if (!a || !authorization)
		return NULL;
	tok = authorization + strspn(authorization, " \t");
	if (strncasecmp(tok, "Bearer", 6) != 0 || (tok[6] != ' ' && tok[6] != '\t'))
		return NULL;
	tok += 6;
	tok += strspn(tok, " \t");
	tlen = strcspn(tok, " \t");
	if (tok[tlen + strspn(tok + tlen, " \t")] != '\0')
		return NULL;
	if (tlen < AUTH_TOKEN_MIN || tlen > AUTH_TOKEN_MAX)
		return NULL;
	auth_hash(a, tok, tlen, h);
	for (size_t i = 0; i < a->n; i++) {
		/* all ones when equal, zero otherwise: no branch on the outcome */
		size_t eq = (size_t)0 - (size_t)(sodium_memcmp(a->e[i].hash, h, sizeof(h)) + 1);
		found |= eq & (i + 1);
	}
	sodium_memzero(h, sizeof(h));
	return found ? &a->e[found - 1].id : NULL;
}

const char *auth_check_mode(const char *file, char *buf, size_t n)
{
	struct stat sb;
	if (stat(file, &sb) < 0 || (sb.st_mode & 077) == 0)
		return NULL;
	snprintf(buf, n, "%s: readable by others (mode %03o): chmod 600 it", file,
		 (unsigned)(sb.st_mode & 0777));
	return buf;
}
