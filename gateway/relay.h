/*
 * relay - one blocking SMTP session (libesmtp) that hands a batch of
 * ready-made messages to the relay, with STARTTLS and AUTH when configured.
 * Called from a worker thread, never from the event loop.
 */
#ifndef REGFLOW_RELAY_H
#define REGFLOW_RELAY_H

#include <stddef.h>
#include <stdint.h>

enum relay_starttls {
	RELAY_STARTTLS_NO,     /* never, even when offered */
	RELAY_STARTTLS_TRY,    /* when the relay offers it; a bad certificate still refuses */
	RELAY_STARTTLS_REQUIRE /* no TLS, no mail */
};

struct relay_tls; /* the TLS client context every session shares (relay_tls_new) */

struct relay_conf {
	const char *hostport; /* "host:port" */
	const char *from;     /* envelope sender */
	const char *helo;     /* NULL: libesmtp's default (the host name) */
	int64_t timeout_ms;   /* every protocol timeout */
	enum relay_starttls starttls;
	struct relay_tls *tls; /* NULL when starttls is RELAY_STARTTLS_NO */
	const char *username;  /* NULL or "": no AUTH */
	const char *password;
};

struct relay_item {
	const char *to;		 /* one recipient */
	const char *return_path; /* MAIL FROM (VERP: names the message); NULL: the relay's from */
	const char *text;	 /* the message, CRLF line ends, NUL-terminated */
	int code;		 /* out: 2xx sent, 4xx/5xx the reply that decided, 0 never tried */
	char reply[256];	 /* out: the server's reply or the local error */
};

/* relay_starttls_parse - "no", "try" or "require"; -EINVAL for anything else */
int relay_starttls_parse(const char *s, enum relay_starttls *out);

/*
 * relay_tls_new - the shared TLS context: trust ca_file (or the system's
 * CAs when NULL or ""), expect the relay's host name or address from
 * hostport, and refuse a certificate that does not verify unless verify
 * is 0.  0, or a negative errno with err set.
 */
int relay_tls_new(struct relay_tls **out, const char *hostport, int verify, const char *ca_file,
		  char *err, size_t errlen);
/* relay_tls_free - after the last session that used it */
void relay_tls_free(struct relay_tls *t);

/*
 * relay_session - deliver items in one session.  Returns 0, or -EHOSTDOWN
 * when the relay could not be used at all (connect refused, greeting
 * timeout, 421, no STARTTLS when required, a refused certificate, no
 * authentication when a username is set unless it said 5xx): every item
 * not sent then has the same reply.  A message goes out only over TLS when
 * TLS is required, and only after the relay accepted AUTH when a username
 * is set; otherwise the session is dropped before the message's end.
 */
int relay_session(const struct relay_conf *rc, struct relay_item *items, size_t n);

#endif
