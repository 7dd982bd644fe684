/*
 * relay - one libesmtp session per batch (see relay.h).
 *
 * smtp_start_session()'s return value says little (LIBRARY-NOTES): each
 * message's fate is read from its reverse-path, recipient and transfer
 * statuses; a code of 0 means the step was never reached.
 */
#include "relay.h"

#include <auth-client.h>
#include <libesmtp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* status_text - "450 4.5.0 text" without CR/LF */
static void status_text(const smtp_status_t *st, char *buf, size_t n)
{
	const char *t = st->text ? st->text : "";
	snprintf(buf, n, "%d %s", st->code, t);
	for (char *p = buf; *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	for (size_t l = strlen(buf); l > 0 && buf[l - 1] == ' '; l--)
		buf[l - 1] = 0;
}

/* session_error - why the session stopped, from libesmtp's thread-local errno */
static void session_error(const char *hostport, char *buf, size_t n)
{
	int e = smtp_errno();
	char why[128], tmp[128];

	if (e < 0)
		snprintf(why, sizeof(why), "%s", strerror_r(-e, tmp, sizeof(tmp)));
	else if (e == 0)
		snprintf(why, sizeof(why), "session ended early");
	else
		smtp_strerror(e, why, sizeof(why));
	snprintf(buf, n, "relay %s: %s", hostport, why);
}

static int is2xx(int code)
{
	return code >= 200 && code < 300;
}

int relay_session(const struct relay_conf *rc, struct relay_item *items, size_t n)
{
	static const int which[] = {Timeout_GREETING, Timeout_ENVELOPE, Timeout_DATA,
				    Timeout_TRANSFER, Timeout_DATA2};
	smtp_session_t s = smtp_create_session();
	smtp_message_t *msgs = NULL;
	smtp_recipient_t *rcpts = NULL;
	char err[256];
	int ret = 0, reached = 0, said421 = 0;

	if (!s) {
		snprintf(err, sizeof(err), "libesmtp: cannot create a session");
		ret = -ENOMEM;
		goto fail_all;
	}
	msgs = calloc(n, sizeof(*msgs));
	rcpts = calloc(n, sizeof(*rcpts));
	if (!msgs || !rcpts || !smtp_set_server(s, rc->hostport)) {
		snprintf(err, sizeof(err), "libesmtp: bad relay \"%s\"", rc->hostport);
		ret = -EINVAL;
		goto fail_all;
	}
	if (rc->helo && *rc->helo)
		smtp_set_hostname(s, rc->helo);
	for (size_t i = 0; i < sizeof(which) / sizeof(which[0]); i++)
		smtp_set_timeout(s, which[i] | Timeout_OVERRIDE_RFC2822_MINIMUM,
				 rc->timeout_ms > 1000 ? (long)rc->timeout_ms : 1000);
	for (size_t i = 0; i < n; i++) {
		msgs[i] = smtp_add_message(s);
		if (!msgs[i] || !smtp_set_reverse_path(msgs[i], rc->from) ||
		    !(rcpts[i] = smtp_add_recipient(msgs[i], items[i].to)) ||
		    !smtp_set_message_str(msgs[i], (void *)items[i].text)) {
			snprintf(err, sizeof(err), "libesmtp: cannot add a message");
			ret = -ENOMEM;
			goto fail_all;
		}
	}
	smtp_start_session(s);
	session_error(rc->hostport, err, sizeof(err));
	for (size_t i = 0; i < n; i++) {
		const smtp_status_t *rp = smtp_reverse_path_status(msgs[i]);
		const smtp_status_t *rs = smtp_recipient_status(rcpts[i]);
		const smtp_status_t *ts = smtp_message_transfer_status(msgs[i]);
		const smtp_status_t *decided = NULL;

		reached |= rp && rp->code != 0;
		if (rp && rp->code && !is2xx(rp->code))
			decided = rp;
		else if (rs && rs->code && !is2xx(rs->code))
			decided = rs;
		else if (ts && ts->code)
			decided = ts; /* 2xx here: the relay took the message */
		if (decided) {
			items[i].code = decided->code;
			status_text(decided, items[i].reply, sizeof(items[i].reply));
			said421 |= decided->code == 421;
		} else {
			items[i].code = 0;
			snprintf(items[i].reply, sizeof(items[i].reply), "%s", err);
		}
	}
	if (!reached || said421)
		ret = -EHOSTDOWN;
	goto out;
fail_all:
	for (size_t i = 0; i < n; i++) {
		items[i].code = 0;
		snprintf(items[i].reply, sizeof(items[i].reply), "%s", err);
	}
out:
	if (s)
		smtp_destroy_session(s);
	free(msgs);
	free(rcpts);
	return ret;
}
