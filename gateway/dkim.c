/*
 * dkim - signing outgoing mail with libopendkim (see dkim.h).
 */
#include "dkim.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <opendkim/dkim.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct dkim_key {
	char *domain, *selector;
	char *pem; /* the private key, sodium_malloc'd */
	size_t pem_len;
	dkim_alg_t alg;
};

struct dkim_signer {
	DKIM_LIB *lib;
	struct dkim_key *keys;
	int n;
};

/* the headers signed (those a receiver shows, and the MIME ones) */
static const char *const signed_headers[] = {"from",
					     "to",
					     "subject",
					     "date",
					     "message-id",
					     "reply-to",
					     "mime-version",
					     "content-type",
					     "content-transfer-encoding",
					     "auto-submitted",
					     NULL};

/* read_key - the PEM file, its algorithm from its type (RSA or Ed25519) */
static int read_key(const char *path, struct dkim_key *k, char *err, size_t n)
{
	char *text = NULL;
	size_t len = 0;
	int rc = file_read(path, 64 * 1024, &text, &len);
	if (rc < 0) {
		snprintf(err, n, "%s: %s", path, strerror(-rc));
		return rc;
	}
	BIO *bio = BIO_new_mem_buf(text, (int)len);
	EVP_PKEY *pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	int type = pk ? EVP_PKEY_base_id(pk) : 0;
	if (pk && type == EVP_PKEY_RSA && EVP_PKEY_bits(pk) < 1024)
		type = -1;
	EVP_PKEY_free(pk);
	if (type != EVP_PKEY_RSA && type != EVP_PKEY_ED25519) {
		snprintf(err, n, "%s: %s", path,
			 type == -1 ? "an RSA key shorter than 1024 bits"
				    : "not a PEM RSA or Ed25519 private key");
		sodium_memzero(text, len);
		free(text);
		return -EINVAL;
	}
	k->alg = type == EVP_PKEY_RSA ? DKIM_SIGN_RSASHA256 : DKIM_SIGN_ED25519SHA256;
	k->pem = sodium_malloc(len + 1);
	if (!k->pem)
		fatal("out of memory");
	memcpy(k->pem, text, len + 1);
	k->pem_len = len;
	sodium_memzero(text, len);
	free(text);
	return 0;
}

/*
 * The library's allocations go through these, so a probe signature can count
 * what a signature leaves behind: Debian 12's libopendkim (2.11.0~beta2) frees
 * an ed25519 signature's key only for RSA in dkim_free, leaking about 1.3 KB a
 * message (fixed upstream in OpenDKIM pull request #321).
 */
struct blocks {
	void *p[256]; /* a probe's blocks still held (beyond 256: not counted) */
	long n;
};

static void *lib_malloc(void *closure, size_t n)
{
	struct blocks *b = closure;
	void *p = malloc(n);
	if (p && b && b->n < (long)(sizeof(b->p) / sizeof(b->p[0])))
		b->p[b->n++] = p;
	return p;
}

/* the library also frees through here some blocks it did not allocate here */
static void lib_free(void *closure, void *p)
{
	struct blocks *b = closure;
	for (long i = 0; p && b && i < b->n; i++)
		if (b->p[i] == p) {
			b->p[i] = b->p[--b->n];
			break;
		}
	free(p);
}

static const char probe_msg[] = "From: probe@probe.invalid\r\nTo: probe@probe.invalid\r\n"
				"Subject: probe\r\n\r\nprobe\r\n";

/* probe_key - sign a probe with k: the key works, and nothing is left unfreed */
static int probe_key(const struct dkim_signer *s, const struct dkim_key *k, char *err,
		     size_t errlen)
{
	struct blocks held = {.n = 0};
	DKIM_STAT st = DKIM_STAT_OK;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	DKIM *d = dkim_sign(s->lib, (const unsigned char *)"probe", &held, (dkim_sigkey_t)k->pem,
			    (const unsigned char *)k->selector, (const unsigned char *)k->domain,
			    DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, k->alg, -1, &st);
	if (d && st == DKIM_STAT_OK &&
	    (st = dkim_chunk(d, (unsigned char *)probe_msg, sizeof(probe_msg) - 1)) ==
		    DKIM_STAT_OK &&
	    (st = dkim_chunk(d, NULL, 0)) == DKIM_STAT_OK &&
	    (st = dkim_eom(d, NULL)) == DKIM_STAT_OK)
		st = dkim_getsighdr_d(d, strlen(DKIM_SIGNHEADER) + 2, &sig, &siglen);
	if (st != DKIM_STAT_OK) {
		snprintf(err, errlen, "DKIM key for %s cannot sign: %s%s%s", k->domain,
			 dkim_getresultstr(st), d && dkim_geterror(d) ? ": " : "",
			 d && dkim_geterror(d) ? dkim_geterror(d) : "");
		if (d)
			dkim_free(d);
		return -EINVAL;
	}
	dkim_free(d);
	if (held.n) {
		snprintf(err, errlen,
			 "DKIM key for %s: this libopendkim leaves %ld block(s) of every %s "
			 "signature unfreed (its ed25519 leak, fixed upstream in OpenDKIM #321); "
			 "use an RSA key until the library is fixed",
			 k->domain, held.n,
			 k->alg == DKIM_SIGN_ED25519SHA256 ? "ed25519-sha256" : "rsa-sha256");
		return -EINVAL;
	}
	return 0;
}

int dkim_signer_open(const struct dkim_key_conf *keys, int n, struct dkim_signer **out, char *err,
		     size_t errlen)
{
	struct dkim_signer *s = xcalloc(1, sizeof(*s));
	*out = NULL;
	s->keys = xcalloc((size_t)(n > 0 ? n : 1), sizeof(*s->keys));
	for (int i = 0; i < n; i++) {
		struct dkim_key *k = &s->keys[s->n];
		if (!keys[i].domain || !*keys[i].domain || !keys[i].selector ||
		    !*keys[i].selector || !keys[i].key_file || !*keys[i].key_file) {
			snprintf(err, errlen,
				 "a DKIM key needs a domain, a selector and a key_file");
			goto fail;
		}
		if (read_key(keys[i].key_file, k, err, errlen) < 0)
			goto fail;
		k->domain = xstrdup(keys[i].domain);
		k->selector = xstrdup(keys[i].selector);
		s->n++;
	}
	if (s->n) {
		s->lib = dkim_init(lib_malloc, lib_free);
		if (!s->lib) {
			snprintf(err, errlen, "libopendkim cannot initialise");
			goto fail;
		}
		/* the option takes the array itself (its size: that of a char **) */
		if (dkim_options(s->lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, (void *)signed_headers,
				 sizeof(char **)) != DKIM_STAT_OK) {
			snprintf(err, errlen, "libopendkim refused the list of headers to sign");
			goto fail;
		}
		for (int i = 0; i < s->n; i++)
			if (probe_key(s, &s->keys[i], err, errlen) < 0)
				goto fail;
	}
	*out = s;
	return 0;
fail:
	dkim_signer_free(s);
	return -EINVAL;
}

void dkim_signer_free(struct dkim_signer *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->n; i++) {
		free(s->keys[i].domain);
		free(s->keys[i].selector);
		sodium_free(s->keys[i].pem);
	}
	free(s->keys);
	if (s->lib)
		dkim_close(s->lib);
	free(s);
}

int dkim_signer_count(const struct dkim_signer *s)
{
	return s ? s->n : 0;
}

static const struct dkim_key *key_for(const struct dkim_signer *s, const char *from_addr)
{
	const char *at = from_addr ? strrchr(from_addr, '@') : NULL;
	for (int i = 0; at && s && i < s->n; i++)
		if (!strcasecmp(s->keys[i].domain, at + 1))
			return &s->keys[i];
	return NULL;
}

char *dkim_sign_text(const struct dkim_signer *s, const char *from_addr, const char *text,
		     size_t len, size_t *outlen, char *err, size_t errlen)
{
	const struct dkim_key *k = key_for(s, from_addr);
	DKIM_STAT st = DKIM_STAT_OK;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	char *out = NULL;
	if (!k) {
		out = xmalloc(len + 1);
		memcpy(out, text, len);
		out[len] = 0;
		*outlen = len;
		return out;
	}
	DKIM *d = dkim_sign(s->lib, (const unsigned char *)"regflow", NULL, (dkim_sigkey_t)k->pem,
			    (const unsigned char *)k->selector, (const unsigned char *)k->domain,
			    DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, k->alg, -1, &st);
	if (!d || st != DKIM_STAT_OK)
		goto fail;
	if ((st = dkim_chunk(d, (unsigned char *)text, len)) != DKIM_STAT_OK ||
	    (st = dkim_chunk(d, NULL, 0)) != DKIM_STAT_OK ||
	    (st = dkim_eom(d, NULL)) != DKIM_STAT_OK ||
	    (st = dkim_getsighdr_d(d, strlen(DKIM_SIGNHEADER) + 2, &sig, &siglen)) != DKIM_STAT_OK)
		goto fail;
	out = xasprintf("%s: %.*s\r\n%.*s", DKIM_SIGNHEADER, (int)siglen, sig, (int)len, text);
	*outlen = strlen(out);
	dkim_free(d);
	return out;
fail:
	snprintf(err, errlen, "DKIM signing for %s: %s%s%s", k->domain, dkim_getresultstr(st),
		 d && dkim_geterror(d) ? ": " : "", d && dkim_geterror(d) ? dkim_geterror(d) : "");
	if (d)
		dkim_free(d);
	return NULL;
}
