/*
 * secret - tokens, codes and password hashes, all through libsodium.
 *
 * Tokens come from the CSPRNG (randombytes), are shown once to the user in
 * a message and stored only as a BLAKE2b hash; passwords are Argon2id
 * strings with at least OWASP's minimum parameters (t=2, m=19 MiB, p=1).
 */
#ifndef REGFLOW_SECRET_H
#define REGFLOW_SECRET_H

#include <stddef.h>

#define SECRET_TOKEN_LEN 43 /* 256 bits, base64url without padding */
#define SECRET_HASH_HEX 64
#define SECRET_PWHASH_MAX 128

/* secret_token_new - a fresh 256-bit URL-safe token */
void secret_token_new(char out[SECRET_TOKEN_LEN + 1]);
/* secret_hash_hex - BLAKE2b-256 of s as lower-case hex, the stored form */
void secret_hash_hex(const char *s, char out[SECRET_HASH_HEX + 1]);
/* secret_equal - constant-time comparison of two equal-length strings */
int secret_equal(const char *a, const char *b);
/* secret_password_hash - Argon2id string for pw; blocking (~50 ms): call off the loop */
int secret_password_hash(const char *pw, char out[SECRET_PWHASH_MAX]);
/* secret_password_verify - 0 if pw matches the stored Argon2id string, else -EACCES */
int secret_password_verify(const char *stored, const char *pw);
/* secret_password_params - the Argon2id cost of new hashes (at start, before
 * any hashing); -EINVAL below OWASP's minimum (t=2, m=19 MiB) */
int secret_password_params(unsigned long long opslimit, size_t memlimit);
/* secret_password_needs_rehash - 1 if stored was made with other parameters */
int secret_password_needs_rehash(const char *stored);

#endif
