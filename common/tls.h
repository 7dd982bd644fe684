/*
 * tls - TLS for a server's connections with OpenSSL, over memory BIOs, so
 * that the event loop (libuv) keeps the socket: ciphertext read from the
 * socket is fed in, plaintext comes out; plaintext written goes in, and the
 * ciphertext to send (handshake records included) is taken out.
 *
 * TLS 1.2 at least; OpenSSL's default ciphers and curves.  The certificate
 * file is a PEM chain (the server's first), the key a PEM private key.
 */
#ifndef REGFLOW_TLS_H
#define REGFLOW_TLS_H

#include <stddef.h>
#include <sys/types.h>

struct tls_ctx;
struct tls_conn;

/* tls_ctx_new - a server context from PEM files; -EINVAL with why in err */
int tls_ctx_new(const char *cert_file, const char *key_file, struct tls_ctx **out, char *err,
		size_t n);
/* tls_ctx_ref / tls_ctx_unref - a context lives while a connection uses it */
struct tls_ctx *tls_ctx_ref(struct tls_ctx *t);
void tls_ctx_unref(struct tls_ctx *t);

struct tls_conn *tls_conn_new(struct tls_ctx *t);
void tls_conn_free(struct tls_conn *c);
/* tls_conn_feed - ciphertext from the peer */
int tls_conn_feed(struct tls_conn *c, const char *data, size_t len);
/* tls_conn_read - plaintext into buf: > 0 bytes, 0 none yet (more input
 * needed, or the handshake goes on), -EPIPE the peer closed, -EPROTO a
 * TLS error (tls_conn_error says which) */
ssize_t tls_conn_read(struct tls_conn *c, char *buf, size_t n);
/* tls_conn_write - plaintext to send (all of it, or -EPROTO) */
int tls_conn_write(struct tls_conn *c, const char *data, size_t len);
/* tls_conn_close_notify - the TLS close_notify alert, before a FIN */
void tls_conn_close_notify(struct tls_conn *c);
/* tls_conn_pending - ciphertext bytes waiting to be sent */
size_t tls_conn_pending(const struct tls_conn *c);
/* tls_conn_take - up to n bytes of that ciphertext into buf: how many */
size_t tls_conn_take(struct tls_conn *c, char *buf, size_t n);
/* tls_conn_error - the last TLS error, for a debug log */
const char *tls_conn_error(const struct tls_conn *c);

#endif
