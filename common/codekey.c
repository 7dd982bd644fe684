/*
 * codekey - the key file short codes are hashed with (see codekey.h).
 * Keys come from libsodium's CSPRNG and live in sodium_malloc'd memory
 * (guard pages, no swap where mlock is allowed), wiped when freed.
 */
#include "codekey.h"
#include "log.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define KEY_BYTES 32
#define MAX_KEYS 64

struct codekey {
	char id[CODEKEY_ID_MAX];
	int64_t created;
	unsigned char key[KEY_BYTES];
};

struct codekey_ring {
	struct codekey *keys; /* sodium_malloc */
	int n;
};

static int id_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= CODEKEY_ID_MAX)
		return 0;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s))
			return 0;
	return 1;
}

/* parse_line - "ID HEX CREATED" into k; NULL or why */
static const char *parse_line(char *line, struct codekey *k)
{
	char *save = NULL, *id = strtok_r(line, " \t", &save), *hex = strtok_r(NULL, " \t", &save);
	char *when = strtok_r(NULL, " \t", &save), *end = NULL;
	size_t bin = 0;
	if (!id || !hex || !when || strtok_r(NULL, " \t", &save))
		return "expected \"ID HEX CREATED\"";
	if (!id_ok(id))
		return "the id is 1 to 15 of a-z and 0-9";
	if (strlen(hex) != 2 * KEY_BYTES ||
	    sodium_hex2bin(k->key, sizeof(k->key), hex, strlen(hex), NULL, &bin, NULL) != 0 ||
	    bin != KEY_BYTES)
		return "the key is 64 hex digits (32 bytes)";
	errno = 0;
	long long t = strtoll(when, &end, 10);
	if (errno || *end || t < 0)
		return "the creation time is a Unix time";
	snprintf(k->id, sizeof(k->id), "%s", id);
	k->created = t;
	return NULL;
}

static int parse(const char *path, char *text, struct codekey_ring *r, char *err, size_t n)
{
	int lineno = 0;
	for (char *l = text, *next; l && *l; l = next) {
		lineno++;
		if ((next = strchr(l, '\n')))
			*next++ = 0;
		while (isspace((unsigned char)*l))
			l++;
		if (!*l || *l == '#')
			continue;
		if (r->n == MAX_KEYS) {
			snprintf(err, n, "%s: more than %d keys", path, MAX_KEYS);
			return -EINVAL;
		}
		const char *why = parse_line(l, &r->keys[r->n]);
		for (int i = 0; !why && i < r->n; i++)
			if (!strcmp(r->keys[i].id, r->keys[r->n].id))
				why = "this id is used already";
		if (why) {
			snprintf(err, n, "%s:%d: %s", path, lineno, why);
			return -EINVAL;
		}
		r->n++;
	}
	if (r->n == 0) {
		snprintf(err, n, "%s: no key in the file", path);
		return -EINVAL;
	}
	return 0;
}

int codekey_load(const char *path, struct codekey_ring **out, char *err, size_t n)
{
	struct stat sb;
	char *text = NULL;
	size_t len = 0;
	int rc;
	*out = NULL;
	if (stat(path, &sb) < 0) {
		snprintf(err, n, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (sb.st_mode & 077) {
		snprintf(err, n, "%s: others may read it (mode %04o): chmod 600 it", path,
			 (unsigned)(sb.st_mode & 07777));
		return -EPERM;
	}
	if ((rc = file_read(path, 64 * 1024, &text, &len)) < 0) {
		snprintf(err, n, "%s: %s", path, strerror(-rc));
		return rc;
	}
	struct codekey_ring *r = xcalloc(1, sizeof(*r));
	r->keys = sodium_malloc(sizeof(struct codekey) * MAX_KEYS);
	if (!r->keys)
		fatal("out of memory");
	rc = parse(path, text, r, err, n);
	sodium_memzero(text, len);
	free(text);
	if (rc < 0) {
		codekey_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void codekey_free(struct codekey_ring *r)
{
	if (!r)
		return;
	sodium_free(r->keys); /* wipes */
	free(r);
}

/* with_new_key - the file's text with a fresh key line (id kid) added */
static char *with_new_key(const char *old, const char *kid)
{
	unsigned char key[KEY_BYTES];
	char hex[2 * KEY_BYTES + 1];
	randombytes_buf(key, sizeof(key));
	sodium_bin2hex(hex, sizeof(hex), key, sizeof(key));
	char *s = xasprintf("%s%s %s %lld\n", old, kid, hex, (long long)time(NULL));
	sodium_memzero(key, sizeof(key));
	sodium_memzero(hex, sizeof(hex));
	return s;
}

static int write_keys(const char *path, char *text, char *err, size_t n)
{
	int rc = file_write_atomic(path, text, strlen(text), 0600);
	if (rc < 0)
		snprintf(err, n, "%s: cannot write it: %s", path, strerror(-rc));
	sodium_memzero(text, strlen(text));
	free(text);
	return rc;
}

int codekey_create(const char *path, char *err, size_t n)
{
	struct stat sb;
	if (stat(path, &sb) == 0) {
		snprintf(err, n, "%s: exists already", path);
		return -EEXIST;
	}
	return write_keys(path,
			  with_new_key("# regflow code keys: ID HEX CREATED; the last hashes new "
				       "codes.  Keep it 0600 and out of database backups.\n",
				       "k1"),
			  err, n);
}

int codekey_rotate(const char *path, char kid[CODEKEY_ID_MAX], char *err, size_t n)
{
	struct codekey_ring *r = NULL;
	char *text = NULL;
	size_t len = 0;
	int rc = codekey_load(path, &r, err, n), next = 0;
	if (rc < 0)
		return rc;
	for (int i = 0; i < r->n; i++)
		if (r->keys[i].id[0] == 'k' && atoi(r->keys[i].id + 1) > next)
			next = atoi(r->keys[i].id + 1);
	codekey_free(r);
	snprintf(kid, CODEKEY_ID_MAX, "k%d", next + 1);
	if ((rc = file_read(path, 64 * 1024, &text, &len)) < 0) {
		snprintf(err, n, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (len && text[len - 1] != '\n') {
		snprintf(err, n, "%s: the last line has no newline; fix the file first", path);
		free(text);
		return -EINVAL;
	}
	char *s = with_new_key(text, kid);
	sodium_memzero(text, len);
	free(text);
	return write_keys(path, s, err, n);
}

const char *codekey_current(const struct codekey_ring *r)
{
	return r->keys[r->n - 1].id;
}

int codekey_count(const struct codekey_ring *r)
{
	return r ? r->n : 0;
}

const char *codekey_id(const struct codekey_ring *r, int i)
{
	return r->keys[i].id;
}

int64_t codekey_created(const struct codekey_ring *r, int i)
{
	return r->keys[i].created;
}

int codekey_hash(const struct codekey_ring *r, const char *kid, const char *salt_hex,
		 const char *code, char out[CODEKEY_HASH_HEX + 1])
{
	unsigned char salt[16], h[32];
	size_t sl = 0;
	crypto_generichash_state st;
	const struct codekey *k = NULL;
	for (int i = 0; r && kid && i < r->n && !k; i++)
		if (!strcmp(r->keys[i].id, kid))
			k = &r->keys[i];
	if (!k)
		return -ENOKEY;
	sodium_hex2bin(salt, sizeof(salt), salt_hex, strlen(salt_hex), NULL, &sl, NULL);
	crypto_generichash_init(&st, k->key, sizeof(k->key), sizeof(h));
	crypto_generichash_update(&st, salt, sl);
	crypto_generichash_update(&st, (const unsigned char *)code, strlen(code));
	crypto_generichash_final(&st, h, sizeof(h));
	sodium_bin2hex(out, CODEKEY_HASH_HEX + 1, h, sizeof(h));
	sodium_memzero(&st, sizeof(st));
	return 0;
}
