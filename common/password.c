/*
 * password - Argon2id hashes on libargon2 (see password.h).
 */
#include "password.h"

#include <argon2.h>
#include <errno.h>
#include <sodium.h>
#include <string.h>

#define SALT_LEN 16 /* as libsodium's crypto_pwhash_SALTBYTES */
#define HASH_LEN 32 /* as libsodium's crypto_pwhash_str */

/* OWASP's minimum for Argon2id: m = 19 MiB, t = 2, p = 1 (the default);
 * set once at start, before any thread hashes */
static unsigned long long pw_ops = 2;
static size_t pw_mem = 19u * 1024 * 1024;

int password_params(unsigned long long opslimit, size_t memlimit)
{
	if (opslimit < 2 || memlimit < 19u * 1024 * 1024 || opslimit > UINT32_MAX ||
	    memlimit / 1024 > UINT32_MAX)
		return -EINVAL; /* never below OWASP's minimum */
	pw_ops = opslimit;
	pw_mem = memlimit;
	return 0;
}

int password_hash(const char *pw, char out[PASSWORD_HASH_MAX])
{
	unsigned char salt[SALT_LEN];
	uint32_t t = (uint32_t)pw_ops, m = (uint32_t)(pw_mem / 1024);
	if (argon2_encodedlen(t, m, 1, SALT_LEN, HASH_LEN, Argon2_id) > PASSWORD_HASH_MAX)
		return -EOVERFLOW;
	randombytes_buf(salt, sizeof(salt));
	int rc = argon2id_hash_encoded(t, m, 1, pw, strlen(pw), salt, sizeof(salt), HASH_LEN, out,
				       PASSWORD_HASH_MAX);
	return rc == ARGON2_OK ? 0 : rc == ARGON2_MEMORY_ALLOCATION_ERROR ? -ENOMEM : -EINVAL;
}

int password_verify(const char *stored, const char *pw)
{
	return argon2id_verify(stored, pw, strlen(pw)) == ARGON2_OK ? 0 : -EACCES;
}

int password_needs_rehash(const char *stored)
{
	/* libsodium reads the PHC string's parameters (the same format) */
	return crypto_pwhash_str_needs_rehash(stored, pw_ops, pw_mem) != 0;
}
