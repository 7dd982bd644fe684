/*
 * dkim_cmd - "regflowctl dkim keygen DOMAIN SELECTOR FILE [--ed25519]": a
 * DKIM signing key made with OpenSSL (RSA 2048, or Ed25519), written 0600
 * to FILE (never over an existing one), and the DNS TXT record to publish
 * at SELECTOR._domainkey.DOMAIN printed (RFC 6376; RFC 8463 for Ed25519:
 * the raw 32-byte key).  Then gateway.dkim.* names the file.
 */
#include "ctl.h"
#include "engine_cmd.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* public_b64 - the p= of the record: the DER SubjectPublicKeyInfo (RSA) or
 * the raw key (Ed25519), base64 */
static char *public_b64(EVP_PKEY *k, int ed)
{
	unsigned char raw[64], *der = NULL;
	size_t n = sizeof(raw);
	int len = 0;
	if (ed) {
		if (EVP_PKEY_get_raw_public_key(k, raw, &n) != 1)
			return NULL;
	} else if ((len = i2d_PUBKEY(k, &der)) <= 0) {
		return NULL;
	}
	const unsigned char *bin = ed ? raw : der;
	size_t blen = ed ? n : (size_t)len;
	size_t cap = sodium_base64_ENCODED_LEN(blen, sodium_base64_VARIANT_ORIGINAL);
	char *out = xmalloc(cap);
	sodium_bin2base64(out, cap, bin, blen, sodium_base64_VARIANT_ORIGINAL);
	OPENSSL_free(der);
	return out;
}

static int write_key(EVP_PKEY *k, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	int ok = PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1;
	ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
	fclose(f);
	if (!ok)
		unlink(path);
	return ok ? 0 : -EIO;
}

/* print_record - the zone file line: a TXT string holds 255 bytes at most,
 * so the record is split into strings (resolvers join them) */
static void print_record(const char *domain, const char *selector, const char *path, int ed,
			 const char *p)
{
	printf("%s (0600): the private key; publish this TXT record:\n"
	       "%s._domainkey.%s. IN TXT ( \"v=DKIM1; k=%s; p=\"",
	       path, selector, domain, ed ? "ed25519" : "rsa");
	for (size_t i = 0, n = strlen(p); i < n; i += 250)
		printf(" \"%.250s\"", p + i);
	printf(" )\nthen in regflow.conf: gateway.dkim = { domain = \"%s\"; selector = \"%s\"; "
	       "key_file = \"%s\"; };\n",
	       domain, selector, path);
}

static int keygen(const char *domain, const char *selector, const char *path, int ed)
{
	EVP_PKEY *k = ed ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
			 : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	char *p = k ? public_b64(k, ed) : NULL;
	int rc = p ? write_key(k, path) : -ENOMEM;
	if (rc < 0)
		fprintf(stderr, "regflowctl: dkim keygen: %s: %s\n", path,
			rc == -EEXIST ? "exists already (a key is never overwritten)"
				      : strerror(-rc));
	else
		print_record(domain, selector, path, ed, p);
	free(p);
	EVP_PKEY_free(k);
	return rc < 0 ? 1 : 0;
}

int ctl_dkim(struct conf *c, int argc, char **argv)
{
	int ed = argc == 5 && !strcmp(argv[4], "--ed25519");
	(void)c;
	if (argc < 4 || argc > 5 || strcmp(argv[0], "keygen") || (argc == 5 && !ed) ||
	    !strchr(argv[1], '.') || strpbrk(argv[1], " \"\\;") || strpbrk(argv[2], " .\"\\;"))
		return ctl_usage("dkim");
	return keygen(argv[1], argv[2], argv[3], ed);
}
