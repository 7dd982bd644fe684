/*
 * secret - tokens, hashes and password hashing on libsodium (see secret.h).
 */
#include "secret.h"
#include "log.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

/* OWASP's minimum for Argon2id: m = 19 MiB, t = 2, p = 1 (the default);
 * set once at start, before any thread hashes */
static unsigned long long pw_ops = 2;
static size_t pw_mem = 19u * 1024 * 1024;

int secret_password_params(unsigned long long opslimit, size_t memlimit)
{
	if (opslimit < 2 || memlimit < 19u * 1024 * 1024)
		return -EINVAL; /* never below OWASP's minimum */
	pw_ops = opslimit;
	pw_mem = memlimit;
	return 0;
}

void secret_token_new(char out[SECRET_TOKEN_LEN + 1])
{
	unsigned char raw[32];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(out, SECRET_TOKEN_LEN + 1, raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
}

void secret_hash_hex(const char *s, char out[SECRET_HASH_HEX + 1])
{
	unsigned char h[32];
	crypto_generichash(h, sizeof(h), (const unsigned char *)s, strlen(s), NULL, 0);
	sodium_bin2hex(out, SECRET_HASH_HEX + 1, h, sizeof(h));
}

int secret_equal(const char *a, const char *b)
{
	size_t n = strlen(a);
	if (n != strlen(b))
		return 0;
	return sodium_memcmp(a, b, n) == 0;
}

int secret_password_hash(const char *pw, char out[SECRET_PWHASH_MAX])
{
	char buf[crypto_pwhash_STRBYTES];
	_Static_assert(crypto_pwhash_STRBYTES <= SECRET_PWHASH_MAX, "pwhash buffer");
	if (crypto_pwhash_str_alg(buf, pw, strlen(pw), pw_ops, pw_mem,
				  crypto_pwhash_ALG_ARGON2ID13) != 0)
		return -ENOMEM;
	memcpy(out, buf, sizeof(buf));
	return 0;
}

int secret_password_verify(const char *stored, const char *pw)
{
	return crypto_pwhash_str_verify(stored, pw, strlen(pw)) == 0 ? 0 : -EACCES;
}

int secret_password_needs_rehash(const char *stored)
{
	return crypto_pwhash_str_needs_rehash(stored, pw_ops, pw_mem) != 0;
}
