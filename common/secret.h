/*
 * secret - tokens and codes, through libsodium.
 *
 * Tokens come from the CSPRNG (randombytes), are shown once to the user in
 * a message and stored only as a BLAKE2b hash.  Passwords: password.h.
 */
#ifndef REGFLOW_SECRET_H
#define REGFLOW_SECRET_H

#include <stddef.h>

#define SECRET_TOKEN_LEN 43 /* 256 bits, base64url without padding */
#define SECRET_HASH_HEX 64

/* secret_token_new - a fresh 256-bit URL-safe token */
void secret_token_new(char out[SECRET_TOKEN_LEN + 1]);
/* secret_hash_hex - BLAKE2b-256 of s as lower-case hex, the stored form */
void secret_hash_hex(const char *s, char out[SECRET_HASH_HEX + 1]);
/* secret_equal - constant-time comparison of two equal-length strings */
int secret_equal(const char *a, const char *b);

#endif
