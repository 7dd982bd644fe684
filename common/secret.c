/*
 * secret - tokens and hashes on libsodium (see secret.h).
 */
#include "secret.h"
#include "log.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

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
