/*
 * dkim - DKIM signatures (RFC 6376) on outgoing mail, with libopendkim:
 * relaxed/relaxed, rsa-sha256 or ed25519-sha256 (RFC 8463) by the key's
 * type, the headers that matter signed.  One key per signing domain; the
 * key is chosen by the From address's domain.
 */
#ifndef REGFLOW_GW_DKIM_H
#define REGFLOW_GW_DKIM_H

#include <stddef.h>

struct dkim_signer;

/* a signing domain: its selector and the PEM private key file */
struct dkim_key_conf {
	const char *domain, *selector, *key_file;
};

/* dkim_signer_open - the keys (read and checked now: a key that is missing
 * or unreadable is an error here, never unsigned mail later); n may be 0 */
int dkim_signer_open(const struct dkim_key_conf *keys, int n, struct dkim_signer **out, char *err,
		     size_t errlen);
void dkim_signer_free(struct dkim_signer *s);
/* dkim_signer_count - how many domains sign */
int dkim_signer_count(const struct dkim_signer *s);
/*
 * dkim_sign_text - text (a whole RFC 5322 message, CRLF lines) with a
 * DKIM-Signature header in front, if a key signs from_addr's domain (else
 * a copy); NULL with why in err if signing failed.  Thread-safe.
 */
char *dkim_sign_text(const struct dkim_signer *s, const char *from_addr, const char *text,
		     size_t len, size_t *outlen, char *err, size_t errlen);

#endif
