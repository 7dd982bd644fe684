/*
 * fuzz_spool - spool_parse on arbitrary bytes (libFuzzer; make fuzz).
 *
 * Invariants: no crash or leak; a refusal names its reason; a file that
 * parses formats again (spool_format) to text that parses to the same
 * fields and formats to the same bytes; and it stays writable after what
 * the gateway does to it before a rewrite (mask the secret, add a history
 * line, record an error), whatever the text of the error.
 */
#include "fuzz.h"
#include "log.h"
#include "spool.h"
#include "util.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz_spool", LOG_ERR);
	if (sodium_init() < 0)
		abort();
	return 0;
}

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_same(const struct spool_msg *a, const struct spool_msg *b)
{
	CHECK(strcmp(a->id, b->id) == 0);
	CHECK(same_str(a->channel, b->channel));
	CHECK(same_str(a->to, b->to));
	CHECK(same_str(a->from_name, b->from_name));
	CHECK(same_str(a->subject, b->subject));
	CHECK(same_str(a->body, b->body));
	CHECK(same_str(a->secret, b->secret));
	CHECK(same_str(a->front, b->front));
	CHECK(same_str(a->last_error, b->last_error));
	CHECK(same_str(a->reply, b->reply));
	CHECK(same_str(a->dlr, b->dlr));
	CHECK(same_str(a->history, b->history));
	CHECK(a->created_ms == b->created_ms);
	CHECK(a->expires_ms == b->expires_ms);
	CHECK(a->attempts == b->attempts);
	CHECK(a->next_attempt_ms == b->next_attempt_ms);
	CHECK(a->delivered_ms == b->delivered_ms);
}

/* round_trip - m formats, the text parses to the same fields and formats identically */
static void round_trip(const struct spool_msg *m)
{
	struct spool_msg again;
	char err[256];
	size_t len = 0, len2 = 0;
	char *text = spool_format(m, &len);

	CHECK(text != NULL);
	CHECK(len == strlen(text));
	int rc = spool_parse(text, len, &again, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "fuzz_spool: formatted text does not parse: %s\n", err);
	CHECK(rc == 0);
	check_same(m, &again);
	char *text2 = spool_format(&again, &len2);
	CHECK(text2 != NULL && len2 == len && memcmp(text, text2, len) == 0);
	free(text2);
	spool_msg_free(&again);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spool_msg m;
	char err[256];

	if (size > SPOOL_MAX_FILE) /* spool_load refuses these before parsing */
		return 0;
	err[0] = 0;
	int rc = spool_parse((const char *)data, size, &m, err, sizeof(err));
	if (rc != 0) {
		CHECK(rc == -EBADMSG);
		CHECK(err[0] != 0);
		return 0;
	}
	CHECK(id_valid(m.id));
	CHECK(m.channel && (!strcmp(m.channel, "email") || !strcmp(m.channel, "sms")));
	CHECK(m.to && *m.to && m.body);
	round_trip(&m);

	/* what the gateway does before it writes the file back */
	struct spool_msg w;
	spool_msg_copy(&w, &m);
	spool_mask_secret(&w);
	CHECK(w.secret == NULL);
	/* the error text: the input's own bytes (a relay's reply may be anything) */
	size_t half = size / 2 < 700 ? size / 2 : 700;
	char *text = xmalloc(half + 1);
	memcpy(text, data + size - half, half);
	text[half] = 0;
	spool_set_error(&w, text);
	spool_history_add(&w, m.created_ms + 1, "deferred: %s", text);
	w.attempts = m.attempts < 1000000 ? m.attempts + 1 : m.attempts;
	round_trip(&w);
	free(text);
	spool_msg_free(&w);
	spool_msg_free(&m);
	return 0;
}
