/*
 * relay - one libesmtp session per batch (see relay.h).
 *
 * smtp_start_session()'s return value says little (LIBRARY-NOTES): each
 * message's fate is read from its reverse-path, recipient and transfer
 * statuses; a code of 0 means the step was never reached.
 *
 * libesmtp is lenient where we must not be: without STARTTLS (when not
 * required) it goes on in clear, and after an AUTH that failed or that the
 * relay does not offer it sends the mail unauthenticated.  So:
 *  - the AUTH context is attached only once TLS is up (SMTP_EV_STARTTLS_OK):
 *    the password never crosses the network in clear;
 *  - the protocol monitor follows the relay's answers to STARTTLS and AUTH
 *    (libesmtp keeps them to itself); it copies nothing we write;
 *  - the message callback hands over no byte of a message unless the
 *    session is as configured (TLS when required, authenticated when a
 *    username is set).  Refusing makes libesmtp drop the connection before
 *    the BDAT chunk or inside DATA before the final ".", so the relay never
 *    holds a message (MAIL FROM and RCPT TO may have gone out);
 *  - afterwards every message not accepted gets the reason, so the operator
 *    reads "535 ... authentication failed" rather than "554 relay denied".
 */
#include "relay.h"

/* <openssl/ssl.h> first: <libesmtp.h> declares smtp_starttls_set_ctx only then */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <auth-client.h>
#include <libesmtp.h>

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct relay_tls {
	SSL_CTX *ctx;
	int verify;
};

/* the command whose answer the monitor is waiting for */
enum pending { PEND_NONE, PEND_STARTTLS, PEND_AUTH };

/* sess - what the callbacks of one session learn */
struct sess {
	const struct relay_conf *rc;
	auth_context_t auth; /* attached to the session once TLS is up */
	int want_auth;
	int tls_accepted;  /* the relay said 220 to STARTTLS: the handshake follows */
	int tls_up;	   /* SMTP_EV_STARTTLS_OK */
	int auth_tried;	   /* an AUTH command went out */
	int authenticated; /* the relay answered AUTH with 2xx */
	enum pending pending;
	char line[512]; /* the relay's answer to the pending command, as it arrives */
	size_t nline;
	int refuse_code;   /* the relay's code behind the refusal (AUTH or STARTTLS), or 0 */
	char refused[256]; /* why the session may not carry mail; first reason wins */
};

/* body - the message callback's view of one message */
struct body {
	struct sess *s;
	const char *text;
	size_t len;
	int given;
};

static pthread_once_t auth_once = PTHREAD_ONCE_INIT;

static void auth_init(void)
{
	auth_client_init();
}

int relay_starttls_parse(const char *s, enum relay_starttls *out)
{
	if (strcmp(s, "no") == 0)
		*out = RELAY_STARTTLS_NO;
	else if (strcmp(s, "try") == 0)
		*out = RELAY_STARTTLS_TRY;
	else if (strcmp(s, "require") == 0)
		*out = RELAY_STARTTLS_REQUIRE;
	else
		return -EINVAL;
	return 0;
}

/* relay_host - the host part of "host:port" or "[v6]:port" */
static int relay_host(const char *hostport, char *host, size_t n)
{
	const char *b = hostport, *e = strrchr(hostport, ':');

	if (!e)
		e = hostport + strlen(hostport);
	if (*b == '[' && e > b + 1 && e[-1] == ']') {
		b++;
		e--;
	}
	if (e == b || (size_t)(e - b) >= n)
		return -EINVAL;
	memcpy(host, b, (size_t)(e - b));
	host[e - b] = 0;
	return 0;
}

/* ssl_error - OpenSSL's last error in this thread, or dflt */
static const char *ssl_error(char *buf, size_t n, const char *dflt)
{
	unsigned long e = ERR_peek_last_error();

	if (!e)
		return dflt;
	ERR_error_string_n(e, buf, n);
	return buf;
}

int relay_tls_new(struct relay_tls **out, const char *hostport, int verify, const char *ca_file,
		  char *err, size_t errlen)
{
	struct relay_tls *t = calloc(1, sizeof(*t));
	char host[256], why[256];
	unsigned char addr[16];
	X509_VERIFY_PARAM *param;
	int rc = -EINVAL;

	*out = NULL;
	ERR_clear_error();
	if (!t || !(t->ctx = SSL_CTX_new(TLS_client_method()))) {
		snprintf(err, errlen, "cannot create a TLS context: %s",
			 ssl_error(why, sizeof(why), "out of memory"));
		rc = -ENOMEM;
		goto fail;
	}
	t->verify = verify;
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	/* TLS 1.2 at most: a TLS 1.3 server sends its session tickets after the
	 * handshake, and libesmtp 1.1 takes them for the answer to the EHLO it
	 * has not flushed yet, then waits out the whole timeout (measured with
	 * Postfix 3.7: most sessions stalled 5 s, then failed) */
	SSL_CTX_set_max_proto_version(t->ctx, TLS1_2_VERSION);
	/* the handshake always completes; the event callback then accepts or
	 * refuses the certificate with a reason we can put in last-error */
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
	if (ca_file && *ca_file) {
		if (SSL_CTX_load_verify_locations(t->ctx, ca_file, NULL) != 1) {
			snprintf(err, errlen, "gateway.smtp.ca_file %s: %s", ca_file,
				 ssl_error(why, sizeof(why), "no certificate in it"));
			goto fail;
		}
	} else if (verify && SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
		snprintf(err, errlen, "cannot load the system's CA certificates: %s",
			 ssl_error(why, sizeof(why), "unknown error"));
		goto fail;
	}
	/* the name (or address) check is OpenSSL's, part of the verify result:
	 * libesmtp's own check ignores IP addresses in subjectAltName */
	if (relay_host(hostport, host, sizeof(host)) < 0) {
		snprintf(err, errlen, "gateway.smtp.relay: no host in \"%s\"", hostport);
		goto fail;
	}
	param = SSL_CTX_get0_param(t->ctx);
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1) {
		if (X509_VERIFY_PARAM_set1_ip_asc(param, host) != 1)
			rc = -ENOMEM;
	} else if (X509_VERIFY_PARAM_set1_host(param, host, 0) != 1) {
		rc = -ENOMEM;
	}
	if (rc == -ENOMEM) {
		snprintf(err, errlen, "cannot set the expected TLS name \"%s\"", host);
		goto fail;
	}
	*out = t;
	return 0;
fail:
	relay_tls_free(t);
	ERR_clear_error();
	return rc;
}

void relay_tls_free(struct relay_tls *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

/* refuse - record why this session may carry no mail (the first reason wins) */
static void refuse(struct sess *s, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void refuse(struct sess *s, int code, const char *fmt, ...)
{
	va_list ap;

	if (s->refused[0])
		return;
	va_start(ap, fmt);
	vsnprintf(s->refused, sizeof(s->refused), fmt, ap);
	va_end(ap);
	s->refuse_code = code;
}

/* clean_reply - "535 5.7.8 text" without CR/LF */
static void clean_reply(char *buf)
{
	for (char *p = buf; *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	for (size_t l = strlen(buf); l > 0 && buf[l - 1] == ' '; l--)
		buf[l - 1] = 0;
}

/* auth_refusal - why an unauthenticated session may not carry mail */
static void auth_refusal(struct sess *s)
{
	const struct relay_conf *rc = s->rc;

	if (!s->tls_up)
		refuse(s, 0,
		       "relay %s: no TLS session, and AUTH (gateway.smtp.username) is only "
		       "done over TLS: not sent unauthenticated",
		       rc->hostport);
	else if (!s->auth_tried)
		refuse(s, 0,
		       "relay %s offers no AUTH mechanism we can use (PLAIN, LOGIN) after "
		       "STARTTLS: not sent unauthenticated",
		       rc->hostport);
	else
		refuse(s, 0, "relay %s did not complete AUTH as %s: not sent unauthenticated",
		       rc->hostport, rc->username);
}

/* answer - one complete line of the relay's answer to the pending command */
static void answer(struct sess *s)
{
	const struct relay_conf *rc = s->rc;
	char *l = s->line;
	int code;

	if (s->nline < 3 || l[0] < '2' || l[0] > '5')
		return;
	code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
	if (s->nline > 3 && l[3] == '-')
		return; /* more lines follow */
	if (s->pending == PEND_AUTH && code == 334)
		return; /* a challenge: libesmtp answers it, the verdict comes later */
	clean_reply(l);
	if (s->pending == PEND_AUTH) {
		if (code >= 200 && code < 300)
			s->authenticated = 1;
		else
			refuse(s, code, "relay %s refused AUTH as %s: %s", rc->hostport,
			       rc->username, l);
	} else if (code == 220) {
		s->tls_accepted = 1;
	} else {
		refuse(s, 0, "relay %s refused STARTTLS: %s", rc->hostport, l);
	}
	s->pending = PEND_NONE;
}

/* is_command - buf (what libesmtp writes) starts with the SMTP command cmd */
static int is_command(const char *buf, int len, const char *cmd)
{
	size_t n = strlen(cmd);

	return len >= (int)n && strncasecmp(buf, cmd, n) == 0;
}

/* on_monitor - libesmtp's protocol monitor: notes STARTTLS and AUTH and their answers */
static void on_monitor(const char *buf, int len, int writing, void *arg)
{
	struct sess *s = arg;

	if (writing == SMTP_CB_WRITING) {
		/* only the command word: an AUTH line carries credentials */
		if (is_command(buf, len, "STARTTLS\r\n")) {
			s->pending = PEND_STARTTLS;
			s->nline = 0;
		} else if (is_command(buf, len, "AUTH ")) {
			s->pending = PEND_AUTH;
			s->auth_tried = 1;
			s->nline = 0;
		}
		return;
	}
	if (writing != SMTP_CB_READING)
		return;
	for (int i = 0; i < len && s->pending != PEND_NONE; i++) {
		if (s->nline < sizeof(s->line) - 1)
			s->line[s->nline++] = buf[i];
		if (buf[i] != '\n')
			continue;
		s->line[s->nline] = 0;
		answer(s);
		s->nline = 0;
	}
}

/* on_event - libesmtp's events: TLS up, certificate checks, no STARTTLS */
static void on_event(smtp_session_t session, int event, void *arg, ...)
{
	struct sess *s = arg;
	const struct relay_conf *rc = s->rc;
	int verify = rc->tls && rc->tls->verify;
	va_list ap;
	long result;
	int *ok, bits;

	va_start(ap, arg);
	switch (event) {
	case SMTP_EV_STARTTLS_OK:
		s->tls_up = 1;
		/* from now on the relay may see the password */
		if (s->want_auth)
			smtp_auth_set_context(session, s->auth);
		break;
	case SMTP_EV_EXTNA_STARTTLS:
		refuse(s, 0,
		       "relay %s does not offer STARTTLS (gateway.smtp.starttls = require): "
		       "not sent in clear",
		       rc->hostport);
		break;
	case SMTP_EV_INVALID_PEER_CERTIFICATE:
		result = va_arg(ap, long);
		ok = va_arg(ap, int *);
		*ok = !verify;
		if (verify)
			refuse(s, 0,
			       "relay %s: TLS certificate refused: %s (see gateway.smtp.ca_file, "
			       "gateway.smtp.tls_verify)",
			       rc->hostport, X509_verify_cert_error_string(result));
		break;
	case SMTP_EV_WRONG_PEER_CERTIFICATE:
		/* libesmtp's own name check; OpenSSL's (in the verify result above,
		 * which had to pass) is the one that counts */
		ok = va_arg(ap, int *);
		*ok = 1;
		break;
	case SMTP_EV_NO_PEER_CERTIFICATE:
		ok = va_arg(ap, int *);
		*ok = !verify;
		if (verify)
			refuse(s, 0, "relay %s: TLS without a certificate", rc->hostport);
		break;
	case SMTP_EV_WEAK_CIPHER:
		bits = va_arg(ap, int);
		ok = va_arg(ap, int *);
		*ok = 0;
		refuse(s, 0, "relay %s: TLS cipher too weak (%d bits)", rc->hostport, bits);
		break;
	case SMTP_EV_NO_CLIENT_CERTIFICATE:
	case SMTP_EV_UNUSABLE_CLIENT_CERTIFICATE:
	case SMTP_EV_UNUSABLE_CA_LIST:
		/* libesmtp's own files under $HOME: unusable ones stop the session */
		refuse(s, 0, "relay %s: libesmtp's client certificate files are unusable",
		       rc->hostport);
		break;
	default:
		break;
	}
	va_end(ap);
}

/* on_interact - the credentials, asked for by the PLAIN and LOGIN plugins */
static int on_interact(auth_client_request_t req, char **result, int fields, void *arg)
{
	const struct relay_conf *rc = arg;

	for (int i = 0; i < fields; i++) {
		if (req[i].flags & AUTH_USER)
			result[i] = (char *)rc->username;
		else if (req[i].flags & AUTH_PASS)
			result[i] = (char *)rc->password;
		else
			result[i] = (char *)"";
	}
	return 1;
}

/* session_ok - may this session carry a message?  Records why not. */
static int session_ok(struct sess *s)
{
	if (s->rc->starttls == RELAY_STARTTLS_REQUIRE && !s->tls_up) {
		refuse(s, 0, "relay %s: no TLS session (gateway.smtp.starttls = require): not sent",
		       s->rc->hostport);
		return 0;
	}
	if (s->want_auth && !s->authenticated) {
		auth_refusal(s);
		return 0;
	}
	return !s->refused[0];
}

/* on_body - the message callback: the text in one piece, or nothing at all */
static const char *on_body(void **ctx, int *len, void *arg)
{
	struct body *b = arg;

	(void)ctx;  /* stays NULL: libesmtp would free() it */
	if (!len) { /* rewind */
		b->given = 0;
		return NULL;
	}
	if (!session_ok(b->s)) {
		/* An error makes libesmtp drop the connection in mid-DATA, before
		 * the final ".".  Refused in the header part, libesmtp 1.1 leaks
		 * its 1 KiB header buffer; so first an empty header block (no byte
		 * of the message: libesmtp adds only Date, From, To, Message-Id
		 * from the envelope), then the error in the body part. */
		if (b->given != 2) {
			b->given = 2;
			*len = 2;
			return "\r\n";
		}
		errno = EACCES;
		*len = 0;
		return NULL;
	}
	if (b->given) {
		*len = 0;
		return NULL;
	}
	b->given = 1;
	*len = (int)b->len;
	return b->text;
}

/* status_text - "450 4.5.0 text" without CR/LF */
static void status_text(const smtp_status_t *st, char *buf, size_t n)
{
	snprintf(buf, n, "%d %s", st->code, st->text ? st->text : "");
	clean_reply(buf);
}

/* session_error - why the session stopped, from libesmtp's thread-local errno */
static void session_error(struct sess *s, char *buf, size_t n)
{
	int e = smtp_errno();
	char why[128], tmp[128];

	if (s->tls_accepted && !s->tls_up) {
		snprintf(buf, n, "relay %s: TLS handshake failed: %s", s->rc->hostport,
			 ssl_error(why, sizeof(why), "connection closed"));
		return;
	}
	if (e < 0)
		snprintf(why, sizeof(why), "%s", strerror_r(-e, tmp, sizeof(tmp)));
	else if (e == 0)
		snprintf(why, sizeof(why), "session ended early");
	else
		smtp_strerror(e, why, sizeof(why));
	snprintf(buf, n, "relay %s: %s", s->rc->hostport, why);
}

static int is2xx(int code)
{
	return code >= 200 && code < 300;
}

/* session_setup - server, name, timeouts, TLS, AUTH and the callbacks */
static int session_setup(smtp_session_t ss, struct sess *s)
{
	static const int which[] = {Timeout_GREETING, Timeout_ENVELOPE, Timeout_DATA,
				    Timeout_TRANSFER, Timeout_DATA2};
	const struct relay_conf *rc = s->rc;

	if (!smtp_set_server(ss, rc->hostport))
		return -EINVAL;
	if (rc->helo && *rc->helo)
		smtp_set_hostname(ss, rc->helo);
	for (size_t i = 0; i < sizeof(which) / sizeof(which[0]); i++)
		smtp_set_timeout(ss, which[i] | Timeout_OVERRIDE_RFC2822_MINIMUM,
				 rc->timeout_ms > 1000 ? (long)rc->timeout_ms : 1000);
	smtp_set_eventcb(ss, on_event, s);
	smtp_set_monitorcb(ss, on_monitor, s, 0);
	if (rc->starttls != RELAY_STARTTLS_NO && rc->tls) {
		if (!smtp_starttls_set_ctx(ss, rc->tls->ctx) ||
		    !smtp_starttls_enable(ss, rc->starttls == RELAY_STARTTLS_REQUIRE
						      ? Starttls_REQUIRED
						      : Starttls_ENABLED))
			return -EINVAL;
	}
	if (s->want_auth) {
		pthread_once(&auth_once, auth_init);
		/* attached in on_event once TLS is up, never before */
		if (!(s->auth = auth_create_context()))
			return -ENOMEM;
		/* without this PLAIN and LOGIN are skipped and the mail goes out
		 * unauthenticated (LIBRARY-NOTES) */
		auth_set_mechanism_flags(s->auth, AUTH_PLUGIN_PLAIN, 0);
		auth_set_interact_cb(s->auth, on_interact, (void *)rc);
	}
	return 0;
}

/* the messages of one session, as libesmtp holds them */
struct batch {
	smtp_message_t *msgs;
	smtp_recipient_t *rcpts;
	struct body *bodies;
};

/* add_messages - every item as a message of the session; -ENOMEM */
static int add_messages(smtp_session_t ss, struct sess *s, struct batch *b,
			struct relay_item *items, size_t n)
{
	b->msgs = calloc(n, sizeof(*b->msgs));
	b->rcpts = calloc(n, sizeof(*b->rcpts));
	b->bodies = calloc(n, sizeof(*b->bodies));
	if (!b->msgs || !b->rcpts || !b->bodies)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		b->bodies[i] = (struct body){s, items[i].text, strlen(items[i].text), 0};
		b->msgs[i] = smtp_add_message(ss);
		const char *rp = items[i].return_path ? items[i].return_path : s->rc->from;
		if (!b->msgs[i] || !smtp_set_reverse_path(b->msgs[i], rp) ||
		    !(b->rcpts[i] = smtp_add_recipient(b->msgs[i], items[i].to)) ||
		    !smtp_set_messagecb(b->msgs[i], on_body, &b->bodies[i]))
			return -ENOMEM;
	}
	return 0;
}

/* outcome - item i's code and reply after the session; 1 if it was a 421 */
static int outcome(const struct sess *s, const struct batch *b, size_t i, struct relay_item *item,
		   const char *err)
{
	const smtp_status_t *rp = smtp_reverse_path_status(b->msgs[i]);
	const smtp_status_t *rs = smtp_recipient_status(b->rcpts[i]);
	const smtp_status_t *ts = smtp_message_transfer_status(b->msgs[i]);
	const smtp_status_t *decided = NULL;

	if (rp && rp->code && !is2xx(rp->code))
		decided = rp;
	else if (rs && rs->code && !is2xx(rs->code))
		decided = rs;
	else if (ts && ts->code)
		decided = ts; /* 2xx here: the relay took the message */
	if (decided && (is2xx(decided->code) || !s->refused[0])) {
		item->code = decided->code;
		status_text(decided, item->reply, sizeof(item->reply));
		return decided->code == 421;
	}
	if (s->refused[0]) { /* the session was not as configured: that is the reason */
		item->code = s->refuse_code;
		snprintf(item->reply, sizeof(item->reply), "%s", s->refused);
	} else {
		item->code = 0;
		snprintf(item->reply, sizeof(item->reply), "%s", err);
	}
	return 0;
}

/* run_session - one session for the batch; every item's outcome set */
static int run_session(smtp_session_t ss, struct sess *s, struct batch *b, struct relay_item *items,
		       size_t n)
{
	char err[256];
	int reached = 0, said421 = 0;
	smtp_start_session(ss);
	for (size_t i = 0; i < n; i++) {
		const smtp_status_t *rp = smtp_reverse_path_status(b->msgs[i]);
		reached |= rp && rp->code != 0;
	}
	/* asked to authenticate and got as far as a session, but not
	 * authenticated: that is the reason, even when the relay stopped us
	 * first (e.g. "554 relay access denied" at RCPT) */
	if (s->want_auth && !s->authenticated && (reached || s->tls_up || s->auth_tried))
		auth_refusal(s);
	session_error(s, err, sizeof(err));
	for (size_t i = 0; i < n; i++)
		said421 |= outcome(s, b, i, &items[i], err);
	/* a relay we may not use as configured is down for us: pause it,
	 * unless it gave a permanent answer (e.g. 535: the messages fail) */
	if (s->refused[0])
		return s->refuse_code >= 500 ? 0 : -EHOSTDOWN;
	return !reached || said421 ? -EHOSTDOWN : 0;
}

int relay_session(const struct relay_conf *rc, struct relay_item *items, size_t n)
{
	smtp_session_t ss = smtp_create_session();
	struct batch b = {0};
	struct sess s = {.rc = rc, .want_auth = rc->username && *rc->username};
	char err[256];
	int ret;

	ERR_clear_error();
	if (!ss) {
		snprintf(err, sizeof(err), "libesmtp: cannot create a session");
		ret = -ENOMEM;
	} else if ((ret = session_setup(ss, &s)) < 0) {
		snprintf(err, sizeof(err), "libesmtp: cannot set up a session to \"%s\"",
			 rc->hostport);
	} else if ((ret = add_messages(ss, &s, &b, items, n)) < 0) {
		snprintf(err, sizeof(err), "libesmtp: cannot add a message");
	} else {
		ret = run_session(ss, &s, &b, items, n);
	}
	if (ret < 0 && ret != -EHOSTDOWN)
		for (size_t i = 0; i < n; i++) { /* nothing was tried */
			items[i].code = 0;
			snprintf(items[i].reply, sizeof(items[i].reply), "%s", err);
		}
	if (ss)
		smtp_destroy_session(ss);
	if (s.auth)
		auth_destroy_context(s.auth);
	free(b.msgs);
	free(b.rcpts);
	free(b.bodies);
	ERR_clear_error();
	return ret;
}
