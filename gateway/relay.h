/*
 * relay - one blocking SMTP session (libesmtp) that hands a batch of
 * ready-made messages to the relay.  Called from a worker thread, never
 * from the event loop.
 */
#ifndef REGFLOW_RELAY_H
#define REGFLOW_RELAY_H

#include <stddef.h>
#include <stdint.h>

struct relay_conf {
	const char *hostport; /* "host:port" */
	const char *from;     /* envelope sender */
	const char *helo;     /* NULL: libesmtp's default (the host name) */
	int64_t timeout_ms;   /* every protocol timeout */
};

struct relay_item {
	const char *to;	  /* one recipient */
	const char *text; /* the message, CRLF line ends, NUL-terminated */
	int code;	  /* out: 2xx sent, 4xx/5xx the reply that decided, 0 never tried */
	char reply[256];  /* out: the server's reply or the local error */
};

/*
 * relay_session - deliver items in one session.  Returns 0, or -EHOSTDOWN
 * when the relay could not be spoken to at all (connect refused, greeting
 * timeout, 421): every item then has code 0 and the same reply.
 */
int relay_session(const struct relay_conf *rc, struct relay_item *items, size_t n);

#endif
