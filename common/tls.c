/*
 * tls - OpenSSL over memory BIOs for the HTTP server (see tls.h).
 */
#include "tls.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tls_ctx {
	SSL_CTX *ssl;
	int refs;
};

struct tls_conn {
	struct tls_ctx *ctx;
	SSL *ssl;
	BIO *in, *out; /* ciphertext from the peer; ciphertext to it */
	char err[160];
};

static void last_error(char *err, size_t n, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, n, "%s%s%s", what, *buf ? ": " : "", buf);
	ERR_clear_error();
}

int tls_ctx_new(const char *cert_file, const char *key_file, struct tls_ctx **out, char *err,
		size_t n)
{
	char what[600];
	SSL_CTX *s = SSL_CTX_new(TLS_server_method());
	*out = NULL;
	if (!s) {
		last_error(err, n, "cannot make a TLS context");
		return -ENOMEM;
	}
	SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION);
	SSL_CTX_set_options(s, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(s, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(s, cert_file) != 1) {
		snprintf(what, sizeof(what), "%s: not a PEM certificate chain", cert_file);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(s, key_file, SSL_FILETYPE_PEM) != 1) {
		if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
			snprintf(what, sizeof(what), "%s does not belong to the certificate of %s",
				 key_file, cert_file);
		else
			snprintf(what, sizeof(what), "%s: not a PEM private key", key_file);
		goto fail;
	}
	if (SSL_CTX_check_private_key(s) != 1) {
		snprintf(what, sizeof(what), "%s does not belong to the certificate of %s",
			 key_file, cert_file);
		goto fail;
	}
	*out = xcalloc(1, sizeof(**out));
	(*out)->ssl = s;
	(*out)->refs = 1;
	return 0;
fail:
	last_error(err, n, what);
	SSL_CTX_free(s);
	return -EINVAL;
}

struct tls_ctx *tls_ctx_ref(struct tls_ctx *t)
{
	t->refs++;
	return t;
}

void tls_ctx_unref(struct tls_ctx *t)
{
	if (!t || --t->refs > 0)
		return;
	SSL_CTX_free(t->ssl);
	free(t);
}

struct tls_conn *tls_conn_new(struct tls_ctx *t)
{
	struct tls_conn *c = xcalloc(1, sizeof(*c));
	c->ssl = SSL_new(t->ssl);
	c->in = BIO_new(BIO_s_mem());
	c->out = BIO_new(BIO_s_mem());
	if (!c->ssl || !c->in || !c->out)
		fatal("tls: out of memory");
	BIO_set_mem_eof_return(c->in, -1); /* no input yet is "retry", not EOF */
	SSL_set_bio(c->ssl, c->in, c->out);
	SSL_set_accept_state(c->ssl);
	c->ctx = tls_ctx_ref(t);
	return c;
}

void tls_conn_free(struct tls_conn *c)
{
	if (!c)
		return;
	SSL_free(c->ssl); /* and its BIOs */
	tls_ctx_unref(c->ctx);
	free(c);
}

int tls_conn_feed(struct tls_conn *c, const char *data, size_t len)
{
	if (len > 0 && BIO_write(c->in, data, (int)len) != (int)len)
		return -ENOMEM;
	return 0;
}

ssize_t tls_conn_read(struct tls_conn *c, char *buf, size_t n)
{
	int r = SSL_read(c->ssl, buf, (int)(n > 1 << 30 ? 1 << 30 : n));
	if (r > 0)
		return r;
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		return -EPIPE;
	default:
		last_error(c->err, sizeof(c->err), "TLS");
		return -EPROTO;
	}
}

int tls_conn_write(struct tls_conn *c, const char *data, size_t len)
{
	while (len > 0) {
		int r = SSL_write(c->ssl, data, (int)(len > 1 << 30 ? 1 << 30 : len));
		if (r <= 0) {
			last_error(c->err, sizeof(c->err), "TLS write");
			return -EPROTO;
		}
		data += r;
		len -= (size_t)r;
	}
	return 0;
}

void tls_conn_close_notify(struct tls_conn *c)
{
	if (SSL_is_init_finished(c->ssl))
		SSL_shutdown(c->ssl);
	ERR_clear_error();
}

size_t tls_conn_pending(const struct tls_conn *c)
{
	return BIO_ctrl_pending(c->out);
}

size_t tls_conn_take(struct tls_conn *c, char *buf, size_t n)
{
	int r = BIO_read(c->out, buf, (int)(n > 1 << 30 ? 1 << 30 : n));
	return r > 0 ? (size_t)r : 0;
}

const char *tls_conn_error(const struct tls_conn *c)
{
	return c->err;
}
