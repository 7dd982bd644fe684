/*
 * bounce_cmd - "regflowctl bounce [RECIPIENT] < DSN": a bounce, as Postfix's
 * pipe transport hands it over (argv=regflowctl bounce ${recipient}).
 *
 * The recipient (else the bounce's To:) is the return path the gateway gave
 * the mail (bounce+ID.KID.MAC@domain, common/verp.h): it names the spool
 * message, and its MAC proves it.  The delivery status notification
 * (RFC 3464: a multipart/report with a message/delivery-status part) is read
 * with GMime; for Action "failed" the message's spool record gets the
 * status and diagnostic, moves to bounced/, and the engine is told (POST
 * /v1/outcomes with the gateway's token), which runs the workflows'
 * delivery_failed event.  A "delayed" report is only noted.
 *
 * Exit status (sysexits, as a pipe transport reads it): 0 recorded; 67 not
 * one of our return paths, or forged; 65 no delivery status in the mail;
 * 75 the spool could not be written (Postfix tries again later).
 */
#include "conf.h"
#include "ctl.h"
#include "engine_cmd.h"
#include "spool.h"
#include "verp.h"

#include <gmime/gmime.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EX_DATAERR 65
#define EX_NOUSER 67
#define EX_TEMPFAIL 75

/* a bounce quotes at most the mail's headers, or the whole of it: ours are
 * small, so more than this is not a bounce of ours */
#define DSN_MAX (4u << 20)

struct dsn {
	char action[32], status[32], diag[300], recipient[256];
	int found;
};

/* bytes_of - the content of a part or an embedded message, as text */
static GByteArray *bytes_of(GMimeObject *o)
{
	GMimeStream *mem = g_mime_stream_mem_new();
	GByteArray *out = NULL;
	if (GMIME_IS_MESSAGE_PART(o)) {
		GMimeMessage *m = g_mime_message_part_get_message((GMimeMessagePart *)o);
		if (m)
			g_mime_object_write_to_stream((GMimeObject *)m, NULL, mem);
	} else if (GMIME_IS_PART(o)) {
		GMimeDataWrapper *w = g_mime_part_get_content((GMimePart *)o);
		if (w)
			g_mime_data_wrapper_write_to_stream(w, mem);
	}
	out = g_byte_array_new();
	g_byte_array_append(out, g_mime_stream_mem_get_byte_array((GMimeStreamMem *)mem)->data,
			    g_mime_stream_mem_get_byte_array((GMimeStreamMem *)mem)->len);
	g_object_unref(mem);
	return out;
}

/* field - a header of a block, copied (RFC 3464 fields are header-shaped) */
static void field(GMimeObject *o, const char *name, char *out, size_t n)
{
	/* valid UTF-8, cut at a character's start: the spool takes nothing else */
	char *ok = utf8_clip(g_mime_object_get_header(o, name), n - 1);
	snprintf(out, n, "%s", ok);
	free(ok);
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
}

/* status_fields - the delivery-status blocks: per message, then the first
 * recipient's (Action, Status, Diagnostic-Code, Final-Recipient) */
static void status_fields(GMimeObject *part, struct dsn *d)
{
	GByteArray *b = bytes_of(part);
	/* the per-message block parses as headers, the rest as its "body" */
	GMimeStream *s = g_mime_stream_mem_new_with_buffer((const char *)b->data, b->len);
	GMimeParser *p = g_mime_parser_new_with_stream(s);
	GMimeMessage *outer = g_mime_parser_construct_message(p, NULL);
	g_object_unref(p);
	g_object_unref(s);
	g_byte_array_unref(b);
	if (!outer)
		return;
	GMimeObject *body = g_mime_message_get_mime_part(outer);
	b = body ? bytes_of(body) : NULL;
	if (b && b->len) {
		s = g_mime_stream_mem_new_with_buffer((const char *)b->data, b->len);
		p = g_mime_parser_new_with_stream(s);
		GMimeMessage *rcpt = g_mime_parser_construct_message(p, NULL);
		if (rcpt) {
			field((GMimeObject *)rcpt, "Action", d->action, sizeof(d->action));
			field((GMimeObject *)rcpt, "Status", d->status, sizeof(d->status));
			field((GMimeObject *)rcpt, "Diagnostic-Code", d->diag, sizeof(d->diag));
			field((GMimeObject *)rcpt, "Final-Recipient", d->recipient,
			      sizeof(d->recipient));
			d->found = d->action[0] != 0;
			g_object_unref(rcpt);
		}
		g_object_unref(p);
		g_object_unref(s);
	}
	if (b)
		g_byte_array_unref(b);
	g_object_unref(outer);
}

static void each_part(GMimeObject *parent, GMimeObject *part, gpointer data)
{
	struct dsn *d = data;
	GMimeContentType *ct = g_mime_object_get_content_type(part);
	if (!d->found && ct && !strcasecmp(g_mime_content_type_get_media_type(ct), "message") &&
	    (!strcasecmp(g_mime_content_type_get_media_subtype(ct), "delivery-status") ||
	     !strcasecmp(g_mime_content_type_get_media_subtype(ct), "global-delivery-status")))
		status_fields(part, d);
}

/* read_dsn - the bounce on stdin (read whole first: GMime's parser cannot
 * read a pipe, which is what Postfix's pipe transport gives), at most
 * DSN_MAX bytes; *too_big when there was more */
static GMimeMessage *read_dsn(struct dsn *d, int *too_big)
{
	GByteArray *buf = g_byte_array_new();
	unsigned char chunk[65536];
	size_t n;
	*too_big = 0;
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
		if (buf->len + n > DSN_MAX) {
			*too_big = 1;
			g_byte_array_unref(buf);
			return NULL;
		}
		g_byte_array_append(buf, chunk, (guint)n);
	}
	GMimeStream *in = g_mime_stream_mem_new_with_byte_array(buf);
	GMimeParser *p = g_mime_parser_new_with_stream(in);
	GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
	g_object_unref(p);
	g_object_unref(in);
	if (m)
		g_mime_message_foreach(m, each_part, d);
	return m;
}

/* tell_engine - the outcome to the engine's history and workflows: 0, or
 * -EAGAIN when the engine was not told (the bounce is given back to
 * Postfix, which retries; the spool has it already, so a retry only adds a
 * history line) */
static int tell_engine(struct conf *c, const struct spool_msg *m, const char *detail)
{
	if (!m->account)
		return 0;
	json_t *o = json_pack("{s:[{s:s, s:s, s:s, s:s, s:s?, s:s}]}", "outcomes", "id", m->id,
			      "account", m->account, "state", "bounced", "channel", "email", "to",
			      m->to, "detail", detail);
	char *body = o ? json_dumps(o, JSON_COMPACT) : NULL, *out = NULL;
	json_decref(o);
	if (!body) {
		fprintf(stderr, "regflowctl: bounce: the report to the engine cannot be made: the "
				"spool has it\n");
		return 0; /* a retry cannot make it either */
	}
	long st = ctl_api_call(c, conf_str(c, "gateway.engine.front", "gateway"), body,
			       "/v1/outcomes", &out);
	if (st != 200)
		fprintf(stderr,
			"regflowctl: bounce: the engine was not told (HTTP %ld): the "
			"spool has it; try again later\n",
			st);
	free(body);
	free(out);
	return st == 200 ? 0 : -EAGAIN;
}

/* not_here - no such sent message in this spool; if its id names another
 * node (several engines on one database), which one */
static void not_here(struct conf *c, const char *id)
{
	int node = id_node(id), mine = (int)conf_int(c, "engine.node", 0);
	if (node >= 0 && node != mine)
		fprintf(stderr,
			"regflowctl: bounce for %s: node %d sent it, this is node %d: give each "
			"node "
			"its own gateway.smtp.bounce_domain, so that its bounces come to it\n",
			id, node, mine);
	else
		fprintf(stderr, "regflowctl: bounce for %s: no such sent message\n", id);
}

/* record - the message's spool file: the bounce in it, moved to bounced/ */
static int record(const char *dir, const char *id, const struct dsn *d, int failed,
		  struct spool_msg *m)
{
	enum spool_state st;
	char err[256];
	if (spool_find(dir, id, &st) < 0 || (st != SPOOL_SENT && st != SPOOL_BOUNCED))
		return -ENOENT;
	if (spool_load(dir, st, id, m, err, sizeof(err)) < 0)
		return -EIO;
	spool_history_add(m, now_ms(), "%s %s: %s", failed ? "bounced" : "bounce (delayed)",
			  d->status, d->diag);
	if (failed) {
		free(m->last_error);
		m->last_error = xasprintf("bounced %s: %s", d->status, d->diag);
	}
	enum spool_state to = failed ? SPOOL_BOUNCED : st;
	if (spool_write(dir, to, m) < 0)
		return -EIO;
	if (to != st) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s/%s", dir, spool_state_dir(st), id);
		unlink(p);
	}
	return 0;
}

int ctl_bounce(struct conf *c, int argc, char **argv)
{
	struct dsn d = {0};
	struct codekey_ring *keys = NULL;
	struct spool_msg m = {0};
	char err[512], id[ID_LEN + 1], to[320] = "";
	int rc = 0;
	if (argc > 1)
		return ctl_usage("bounce");
	int too_big = 0;
	g_mime_init();
	GMimeMessage *msg = read_dsn(&d, &too_big);
	if (too_big) {
		fprintf(stderr, "regflowctl: bounce: larger than %u bytes: not a bounce of ours\n",
			DSN_MAX);
		g_mime_shutdown();
		return EX_DATAERR;
	}
	if (argc == 1)
		snprintf(to, sizeof(to), "%s", argv[0]);
	else if (msg) {
		InternetAddressList *l = g_mime_message_get_to(msg);
		InternetAddress *a = l && internet_address_list_length(l) > 0
					     ? internet_address_list_get_address(l, 0)
					     : NULL;
		if (a && INTERNET_ADDRESS_IS_MAILBOX(a))
			snprintf(to, sizeof(to), "%s",
				 internet_address_mailbox_get_addr((InternetAddressMailbox *)a));
	}
	if (codekey_load(conf_str(c, "gateway.key_file", "var/gateway.key"), &keys, err,
			 sizeof(err)) < 0) {
		fprintf(stderr, "regflowctl: bounce: %s\n", err);
		rc = EX_TEMPFAIL;
	} else if ((rc = verp_parse(keys, to, id)) < 0) {
		fprintf(stderr, "regflowctl: bounce: %s: %s\n", *to ? to : "(no recipient)",
			rc == -EACCES ? "forged: its signature is wrong"
				      : "not a return path of ours");
		rc = EX_NOUSER;
	} else if (!d.found) {
		fprintf(stderr, "regflowctl: bounce for %s: no delivery status in it (RFC 3464)\n",
			id);
		rc = EX_DATAERR;
	} else {
		int failed = !strncasecmp(d.action, "failed", 6);
		rc = record(conf_str(c, "spool.dir", "spool"), id, &d, failed, &m);
		if (rc == -ENOENT) {
			not_here(c, id);
			rc = EX_NOUSER;
		} else if (rc < 0) {
			fprintf(stderr, "regflowctl: bounce for %s: cannot write the spool\n", id);
			rc = EX_TEMPFAIL;
		} else {
			printf("%s: %s %s %s\n", id, failed ? "bounced" : "delayed", d.status,
			       d.diag);
			if (failed) {
				char detail[400];
				snprintf(detail, sizeof(detail), "%s %s", d.status, d.diag);
				if (tell_engine(c, &m, detail) < 0)
					rc = EX_TEMPFAIL;
			}
		}
	}
	spool_msg_free(&m);
	codekey_free(keys);
	if (msg)
		g_object_unref(msg);
	g_mime_shutdown();
	return rc;
}
