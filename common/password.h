/*
 * password - Argon2id password hashes through libargon2, the reference
 * implementation of the Password Hashing Competition's winner (Debian's
 * libargon2-1).
 *
 * Stored as the standard PHC string ($argon2id$v=19$m=...,t=...,p=1$...),
 * the one libsodium's crypto_pwhash_str writes and reads: hashes made
 * before the switch verify unchanged, and either library reads the
 * other's.  Parameters: at least OWASP's minimum (t=2, m=19 MiB, p=1).
 * Chosen over libsodium's crypto_pwhash for speed at the same parameters
 * on these machines (README: 23 ms against 38 ms a hash, and libsodium
 * maps and unmaps its 19 MiB at each hash, a kernel cost paid by every
 * thread of the process).  The salt comes from libsodium's CSPRNG.
 */
#ifndef REGFLOW_PASSWORD_H
#define REGFLOW_PASSWORD_H

#include <stddef.h>

#define PASSWORD_HASH_MAX 128

/* password_hash - Argon2id string for pw; blocking (~25 ms): call off the loop */
int password_hash(const char *pw, char out[PASSWORD_HASH_MAX]);
/* password_verify - 0 if pw matches the stored Argon2id string (constant-
 * time compare), else -EACCES */
int password_verify(const char *stored, const char *pw);
/* password_params - the Argon2id cost of new hashes (at start, before any
 * hashing); -EINVAL below OWASP's minimum (t=2, m=19 MiB) */
int password_params(unsigned long long opslimit, size_t memlimit);
/* password_needs_rehash - 1 if stored was made with other parameters */
int password_needs_rehash(const char *stored);

#endif
