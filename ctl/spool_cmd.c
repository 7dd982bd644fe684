/*
 * spool_cmd - "regflowctl spool ...": list, show, find, stats (read-only)
 * and retry, hold, release, delete (steering).  Tables for a terminal,
 * --json for scripts (one object a line, like postqueue -j).
 *
 * Steering never races the gateway: a message is first taken with one
 * rename() into hold/, which the gateway never touches (a rename that finds
 * nothing means the gateway moved it first), rewritten there with a history
 * line, and renamed on to incoming/ when it should be delivered now.
 */
#include "spool_cmd.h"
#include "spool.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct row {
	enum spool_state st;
	struct spool_msg m;
};

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int c = strcmp(x->m.id, y->m.id);
	return c ? c : (int)x->st - (int)y->st;
}

static void spool_usage(void);

typedef int (*row_filter)(const struct spool_msg *m, const void *arg);

/* load_rows - the messages of states[0..nst) that pass keep (NULL: all); *bad counts unreadable */
static int load_rows(const char *dir, const enum spool_state *states, size_t nst, row_filter keep,
		     const void *arg, struct row **rows, size_t *n, int *bad)
{
	size_t cap = 0;
	char err[256];

	*rows = NULL;
	*n = 0;
	for (size_t s = 0; s < nst; s++) {
		char **names;
		size_t nn;
		int rc = spool_list(dir, states[s], &names, &nn);
		if (rc < 0) {
			fprintf(stderr, "regflowctl: spool %s/%s: %s\n", dir,
				spool_state_dir(states[s]), strerror(-rc));
			return rc;
		}
		for (size_t i = 0; i < nn; i++) {
			struct spool_msg m;
			rc = spool_load(dir, states[s], names[i], &m, err, sizeof(err));
			if (rc == -ENOENT) /* moved on while we looked */
				continue;
			if (rc < 0) {
				fprintf(stderr, "regflowctl: spool %s/%s: %s\n",
					spool_state_dir(states[s]), names[i],
					err[0] ? err : strerror(-rc));
				(*bad)++;
				continue;
			}
			if (keep && !keep(&m, arg)) {
				spool_msg_free(&m);
				continue;
			}
			if (*n == cap) {
				cap = cap ? cap * 2 : 64;
				*rows = xrealloc(*rows, cap * sizeof(**rows));
			}
			(*rows)[*n].st = states[s];
			(*rows)[*n].m = m;
			(*n)++;
		}
		spool_list_free(names, nn);
	}
	if (*n)
		qsort(*rows, *n, sizeof(**rows), row_cmp);
	return 0;
}

/* coarse - "3d4h", "12m", "5s": the two largest units of a duration */
static void coarse(int64_t ms, char *buf, size_t n)
{
	char full[64];
	int units = 0;
	size_t o = 0;

	duration_format(ms < 1000 ? 0 : ms - ms % 1000, full, sizeof(full));
	for (const char *p = full; *p && o + 1 < n; p++) {
		buf[o++] = *p;
		if (*p >= 'a' && *p <= 'z' && ++units == 2)
			break;
	}
	buf[o] = 0;
}

static void print_json(const struct row *r)
{
	struct spool_msg mc;
	const struct spool_msg *m = &mc;

	spool_msg_copy(&mc, &r->m); /* a subject may carry the code too */
	spool_mask_secret(&mc);
	json_t *o = json_pack(
		"{s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:s?, s:I, s:s?, s:s?}", "id", m->id,
		"channel", m->channel, "to", m->to, "state", spool_state_name(r->st), "attempts",
		m->attempts, "created", (json_int_t)m->created_ms, "next_attempt",
		(json_int_t)m->next_attempt_ms, "last_error", m->last_error, "expires",
		(json_int_t)m->expires_ms, "front", m->front, "subject", m->subject);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (s)
		printf("%s\n", s);
	free(s);
	json_decref(o);
	spool_msg_free(&mc);
}

static void print_row(const struct row *r, int64_t now)
{
	const struct spool_msg *m = &r->m;
	char age[32], when[32], note[600];

	coarse(now - m->created_ms, age, sizeof(age));
	switch (r->st) {
	case SPOOL_ACTIVE:
		snprintf(note, sizeof(note), "being delivered");
		break;
	case SPOOL_DEFERRED:
		if (m->next_attempt_ms > now)
			coarse(m->next_attempt_ms - now, when, sizeof(when));
		snprintf(note, sizeof(note), "%s%s: %s",
			 m->next_attempt_ms > now ? "next in " : "due",
			 m->next_attempt_ms > now ? when : "", m->last_error ? m->last_error : "");
		break;
	default:
		snprintf(note, sizeof(note), "%s", m->last_error ? m->last_error : "-");
		break;
	}
	printf("%-13s  %-8s  %-5s  %-30s  %4d  %6s  %s\n", m->id, spool_state_name(r->st),
	       m->channel, m->to, m->attempts, age, note);
}

/* parse_flags - --json/-j; the other words into words[] (at most nw); -1 on a bad option */
static int parse_flags(int argc, char **argv, int *json, const char **words, int nw)
{
	int k = 0;

	*json = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0)
			*json = 1;
		else if ((argv[i][0] == '-' && strcmp(argv[i], "--all") != 0) || k >= nw)
			return -EINVAL; /* an unknown option, or one word too many */
		else
			words[k++] = argv[i];
	}
	return k;
}

static const char *spool_dir_of(struct conf *c)
{
	const char *dir = conf_str(c, "spool.dir", "spool");
	struct stat sb;
	if (conf_error(c)) {
		fprintf(stderr, "regflowctl: %s\n", conf_error(c));
		return NULL;
	}
	if (stat(dir, &sb) < 0 && errno == ENOENT) {
		fprintf(stderr,
			"regflowctl: spool.dir %s does not exist yet: regflowd makes it when it "
			"starts\n",
			dir);
		return NULL;
	}
	return dir;
}

static int spool_cmd_list(struct conf *c, int argc, char **argv)
{
	static const enum spool_state states[] = {SPOOL_QUEUED, SPOOL_ACTIVE, SPOOL_DEFERRED,
						  SPOOL_HOLD,	SPOOL_FAILED, SPOOL_BOUNCED};
	const char *dir;
	struct row *rows;
	size_t n;
	int json = 0, bad = 0;
	int64_t now = now_ms();

	if (parse_flags(argc, argv, &json, NULL, 0) != 0) {
		spool_usage();
		return 2;
	}
	if (!(dir = spool_dir_of(c)))
		return 1;
	if (load_rows(dir, states, 5, NULL, NULL, &rows, &n, &bad) < 0)
		return 1;
	if (!json && n == 0)
		printf("spool is empty: nothing queued, active, deferred, held or failed\n"
		       "(delivered messages are kept as sent: regflowctl spool stats counts them,\n"
		       " regflowctl spool find RECIPIENT shows them)\n");
	if (!json && n > 0)
		printf("%-13s  %-8s  %-5s  %-30s  %4s  %6s  %s\n", "ID", "STATE", "CHAN", "TO",
		       "ATT", "AGE", "NEXT ATTEMPT / LAST ERROR");
	for (size_t i = 0; i < n; i++) {
		if (json)
			print_json(&rows[i]);
		else
			print_row(&rows[i], now);
		spool_msg_free(&rows[i].m);
	}
	free(rows);
	if (bad)
		fprintf(stderr, "regflowctl: %d spool file(s) could not be read (see above)\n",
			bad);
	return 0;
}

/* ---- show and find: one message in full ---- */

/* when - "2026-11-29 16:30:00 (3m ago)" in local time; "-" for 0 */
static void when(int64_t ms, int64_t now, char *buf, size_t n)
{
	char d[32], ago[40];
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0) {
		snprintf(buf, n, "-");
		return;
	}
	localtime_r(&t, &tm);
	strftime(d, sizeof(d), "%Y-%m-%d %H:%M:%S", &tm);
	if (ms <= now)
		coarse(now - ms, ago, sizeof(ago)), snprintf(buf, n, "%s (%s ago)", d, ago);
	else
		coarse(ms - now, ago, sizeof(ago)), snprintf(buf, n, "%s (in %s)", d, ago);
}

/* history_json - the history as [{"at": ms, "event": "..."}] */
static json_t *history_json(const struct spool_msg *m)
{
	json_t *a = json_array();

	for (const char *h = m->history; h && *h;) {
		size_t l = strcspn(h, "\n");
		char *line = strndup(h, l), *sp;
		if (!line)
			abort();
		long long at = strtoll(line, &sp, 10);
		json_array_append_new(a, json_pack("{s:I, s:s}", "at", (json_int_t)at, "event",
						   *sp == ' ' ? sp + 1 : sp));
		free(line);
		h += l + (h[l] == '\n');
	}
	return a;
}

static void print_history(const struct spool_msg *m, const char *indent)
{
	if (!m->history) {
		printf("%s(no delivery attempt yet)\n", indent);
		return;
	}
	for (const char *h = m->history; *h;) {
		size_t l = strcspn(h, "\n");
		char *sp, d[32];
		long long at = strtoll(h, &sp, 10);
		time_t t = (time_t)(at / 1000);
		struct tm tm;
		localtime_r(&t, &tm);
		strftime(d, sizeof(d), "%Y-%m-%d %H:%M:%S", &tm);
		int skip = (int)(sp - h) + (*sp == ' ');
		printf("%s%s  %.*s\n", indent, d, (int)l - skip, h + skip);
		h += l + (h[l] == '\n');
	}
}

/* full_json - every field of a message (secret never, body masked) */
static json_t *full_json(const struct row *r)
{
	struct spool_msg m;
	json_t *o;

	spool_msg_copy(&m, &r->m);
	int had_secret = m.secret && *m.secret;
	spool_mask_secret(&m);
	o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:s?, s:I, s:s?, s:s?, s:s?, s:s?, s:I,"
		      " s:s?, s:b, s:s, s:o}",
		      "id", m.id, "channel", m.channel, "to", m.to, "state",
		      spool_state_name(r->st), "attempts", m.attempts, "created",
		      (json_int_t)m.created_ms, "next_attempt", (json_int_t)m.next_attempt_ms,
		      "last_error", m.last_error, "expires", (json_int_t)m.expires_ms, "front",
		      m.front, "subject", m.subject, "from_name", m.from_name, "reply", m.reply,
		      "delivered", (json_int_t)m.delivered_ms, "dlr", m.dlr, "secret_set",
		      had_secret, "body", m.body, "history", history_json(&m));
	if (!strcmp(m.channel, "check")) { /* the question holds an id number: never shown */
		json_object_set_new(o, "body", json_null());
		json_object_set_new(o, "answer", m.answer ? json_string(m.answer) : json_null());
	}
	spool_msg_free(&m);
	return o;
}

static void print_full_json(const struct row *r)
{
	json_t *o = full_json(r);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (s)
		printf("%s\n", s);
	free(s);
	json_decref(o);
}

static void print_full(const struct row *r, int64_t now, int with_body)
{
	const struct spool_msg *m = &r->m;
	char t[96];

	printf("id:            %s\n", m->id);
	printf("state:         %s\n", spool_state_name(r->st));
	printf("channel:       %s\n", m->channel);
	printf("to:            %s\n", m->to);
	if (m->front)
		printf("front:         %s\n", m->front);
	if (m->subject && with_body) {
		struct spool_msg c;
		spool_msg_copy(&c, m);
		spool_mask_secret(&c);
		printf("subject:       %s\n", c.subject);
		spool_msg_free(&c);
	}
	when(m->created_ms, now, t, sizeof(t));
	printf("created:       %s\n", t);
	if (m->expires_ms) {
		when(m->expires_ms, now, t, sizeof(t));
		printf("expires:       %s\n", t);
	}
	printf("attempts:      %d\n", m->attempts);
	if (r->st == SPOOL_DEFERRED) {
		when(m->next_attempt_ms, now, t, sizeof(t));
		printf("next attempt:  %s\n", t);
	}
	if (m->last_error)
		printf("%s%s\n",
		       r->st == SPOOL_FAILED || r->st == SPOOL_BOUNCED ? "reason:        "
								       : "last error:    ",
		       m->last_error);
	if (m->reply)
		printf("reply:         %s\n", m->reply);
	if (m->delivered_ms) {
		when(m->delivered_ms, now, t, sizeof(t));
		printf("delivered:     %s\n", t);
	}
	if (m->dlr)
		printf("report:        %s\n", m->dlr);
	if (m->answer)
		printf("answer:        %s\n", m->answer);
	if (m->secret && *m->secret)
		printf("secret:        (set; never shown, masked in the text)\n");
	printf("history:\n");
	print_history(m, "  ");
	if (with_body && !strcmp(m->channel, "check")) {
		printf("body (%zu bytes): not shown (a check's question holds an id number)\n",
		       strlen(m->body));
	} else if (with_body) {
		struct spool_msg c;
		spool_msg_copy(&c, m);
		spool_mask_secret(&c);
		printf("body (%zu bytes):\n", strlen(c.body));
		for (const char *b = c.body; *b;) {
			size_t l = strcspn(b, "\n");
			printf("  | %.*s\n", (int)l, b);
			b += l + (b[l] == '\n');
		}
		spool_msg_free(&c);
	}
}

static const enum spool_state all_states[] = {SPOOL_QUEUED,  SPOOL_ACTIVE,  SPOOL_DEFERRED,
					      SPOOL_HOLD,    SPOOL_FAILED,  SPOOL_SENT,
					      SPOOL_BOUNCED, SPOOL_ANSWERED};

static int same_id(const struct spool_msg *m, const void *arg)
{
	return strcmp(m->id, arg) == 0;
}

/* id_command - the start of a command on one message: its flags and the
 * spool folder; 0 to go on, else the exit code */
static int id_command(struct conf *c, int argc, char **argv, int *json, const char **id,
		      const char **dir)
{
	if (parse_flags(argc, argv, json, id, 1) != 1) {
		spool_usage();
		return 2;
	}
	if (!(*dir = spool_dir_of(c)))
		return 1;
	return 0;
}

/* find_message - the state of message id; 0, or 1 (the exit code) if there is none */
static int find_message(const char *dir, const char *id, enum spool_state *st)
{
	if (!id_valid(id) || spool_find(dir, id, st) < 0) {
		fprintf(stderr, "regflowctl: spool: no message %s\n", id);
		return 1;
	}
	return 0;
}

static int spool_cmd_show(struct conf *c, int argc, char **argv)
{
	int rc;
	const char *dir, *id;
	struct row *rows;
	size_t n;
	int json, bad = 0;
	enum spool_state st;

	if ((rc = id_command(c, argc, argv, &json, &id, &dir)) != 0)
		return rc;
	if ((rc = find_message(dir, id, &st)) != 0)
		return rc;
	if (load_rows(dir, &st, 1, same_id, id, &rows, &n, &bad) < 0 || n == 0) {
		if (!bad)
			fprintf(stderr, "regflowctl: spool: message %s moved on; try again\n", id);
		free(rows);
		return 1;
	}
	if (json)
		print_full_json(&rows[0]);
	else
		print_full(&rows[0], now_ms(), 1);
	spool_msg_free(&rows[0].m);
	free(rows);
	return 0;
}

/* digits_tail - the phone number without "+", "86" prefix, spaces and dashes */
static void phone_key(const char *s, char *out, size_t n)
{
	size_t o = 0;
	for (; *s && o + 1 < n; s++)
		if (*s >= '0' && *s <= '9')
			out[o++] = *s;
	out[o] = 0;
	if (o == 13 && strncmp(out, "86", 2) == 0) /* +86 138... */
		memmove(out, out + 2, o - 1);
}

static int same_recipient(const struct spool_msg *m, const void *arg)
{
	const char *want = arg;
	char a[64], b[64];

	if (strchr(want, '@'))
		return strcasecmp(m->to, want) == 0;
	if (strchr(m->to, '@'))
		return 0;
	phone_key(m->to, a, sizeof(a));
	phone_key(want, b, sizeof(b));
	return *b && strcmp(a, b) == 0;
}

static int spool_cmd_find(struct conf *c, int argc, char **argv)
{
	const char *dir, *who;
	struct row *rows;
	size_t n;
	int json, bad = 0;
	int64_t now = now_ms();

	if (parse_flags(argc, argv, &json, &who, 1) != 1) {
		spool_usage();
		return 2;
	}
	if (!(dir = spool_dir_of(c)))
		return 1;
	if (load_rows(dir, all_states, 6, same_recipient, who, &rows, &n, &bad) < 0)
		return 1;
	if (!json)
		printf("%zu message(s) to %s%s\n", n, who, n ? ", oldest first:" : "");
	for (size_t i = 0; i < n; i++) {
		if (json) {
			print_full_json(&rows[i]);
		} else {
			printf("\n");
			print_full(&rows[i], now, 0);
		}
		spool_msg_free(&rows[i].m);
	}
	free(rows);
	if (bad)
		fprintf(stderr, "regflowctl: %d spool file(s) could not be read (see above)\n",
			bad);
	return n ? 0 : 1;
}

/* ---- stats ---- */

static int spool_cmd_stats(struct conf *c, int argc, char **argv)
{
	struct spool_stats ss;
	const char *dir;
	int json, rc;
	int64_t now = now_ms();
	char age[32];
	long te = 0, ts = 0, tc = 0;

	if (parse_flags(argc, argv, &json, NULL, 0) != 0) {
		spool_usage();
		return 2;
	}
	if (!(dir = spool_dir_of(c)))
		return 1;
	if ((rc = spool_stats(dir, &ss)) < 0) {
		fprintf(stderr, "regflowctl: spool %s: %s\n", dir, strerror(-rc));
		return 1;
	}
	if (json) {
		json_t *o = json_object();
		for (int st = 0; st < SPOOL_NSTATE; st++) {
			json_t *e = json_pack(
				"{s:I, s:I, s:I, s:I}", "email", (json_int_t)ss.count[st][0], "sms",
				(json_int_t)ss.count[st][1], "check", (json_int_t)ss.count[st][2],
				"unreadable", (json_int_t)ss.unreadable[st]);
			json_object_set_new(e, "oldest_age_ms",
					    ss.oldest_ms[st] ? json_integer(now - ss.oldest_ms[st])
							     : json_null());
			json_object_set_new(o, spool_state_name((enum spool_state)st), e);
		}
		json_object_set_new(o, "sms_dlr",
				    json_pack("{s:I, s:I}", "delivered",
					      (json_int_t)ss.dlr_delivered, "failed",
					      (json_int_t)ss.dlr_failed));
		char *s = json_dumps(o, JSON_COMPACT);
		printf("%s\n", s);
		free(s);
		json_decref(o);
		return 0;
	}
	printf("%-10s  %7s  %7s  %7s  %10s  %s\n", "STATE", "EMAIL", "SMS", "CHECK", "UNREADABLE",
	       "OLDEST");
	for (int st = 0; st < SPOOL_NSTATE; st++) {
		if (ss.oldest_ms[st])
			coarse(now - ss.oldest_ms[st], age, sizeof(age));
		else
			snprintf(age, sizeof(age), "-");
		printf("%-10s  %7ld  %7ld  %7ld  %10ld  %s\n",
		       spool_state_name((enum spool_state)st), ss.count[st][0], ss.count[st][1],
		       ss.count[st][2], ss.unreadable[st], age);
		te += ss.count[st][0];
		ts += ss.count[st][1];
		tc += ss.count[st][2];
	}
	printf("%-10s  %7ld  %7ld  %7ld\n", "total", te, ts, tc);
	printf("sent SMS with a delivery report: %ld delivered, %ld failed\n", ss.dlr_delivered,
	       ss.dlr_failed);
	return 0;
}

/* ---- steering: retry, hold, release, delete ---- */

/* take_to_hold - move id from one of the states in from[] to hold/; its old state in *was */
static int take_to_hold(const char *dir, const char *id, const enum spool_state *from, size_t nf,
			enum spool_state *was)
{
	int rc = spool_find(dir, id, was);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < nf; i++)
		if (from[i] == *was)
			return *was == SPOOL_HOLD ? 0 : spool_move(dir, id, *was, SPOOL_HOLD, 0);
	return -EPERM;
}

/* note_in_hold - add a history line to hold/<id>, and set next_attempt to 0 if now */
static int note_in_hold(const char *dir, const char *id, const char *event, int now)
{
	struct spool_msg m;
	char err[256];
	int rc = spool_load(dir, SPOOL_HOLD, id, &m, err, sizeof(err));

	if (rc < 0) {
		fprintf(stderr, "regflowctl: spool hold/%s: %s\n", id,
			err[0] ? err : strerror(-rc));
		return rc;
	}
	spool_history_add(&m, now_ms(), "%s", event);
	if (now)
		m.next_attempt_ms = 0;
	rc = spool_write(dir, SPOOL_HOLD, &m);
	spool_msg_free(&m);
	return rc;
}

static void report(int json, const char *id, const char *from, const char *to)
{
	if (json)
		printf("{\"id\":\"%s\",\"from\":\"%s\",\"to\":\"%s\"}\n", id, from, to);
	else
		printf("%s: %s -> %s\n", id, from, to);
}

/* steer - one message: take it from from[] into hold/, note event, then go on to incoming/ */
static int steer(const char *dir, const char *id, const enum spool_state *from, size_t nf,
		 const char *event, int release, int json, const char *refuse)
{
	enum spool_state was;
	int rc;

	if (!id_valid(id)) {
		fprintf(stderr, "regflowctl: spool: \"%s\" is not a spool id\n", id);
		return 1;
	}
	rc = take_to_hold(dir, id, from, nf, &was);
	if (rc == -ENOENT) {
		fprintf(stderr, "regflowctl: spool: no message %s (or it has just moved on)\n", id);
		return 1;
	}
	if (rc == -EPERM) {
		fprintf(stderr, "regflowctl: spool: %s is %s: %s\n", id, spool_state_name(was),
			was == SPOOL_ACTIVE ? "being delivered right now; try again in a moment"
					    : refuse);
		return 1;
	}
	if (rc < 0 || (rc = note_in_hold(dir, id, event, release)) < 0 ||
	    (release && (rc = spool_move(dir, id, SPOOL_HOLD, SPOOL_QUEUED, 0)) < 0)) {
		fprintf(stderr, "regflowctl: spool: %s: %s\n", id, strerror(-rc));
		return 1;
	}
	report(json, id, spool_state_name(was), release ? "queued" : "hold");
	return 0;
}

static int spool_cmd_retry(struct conf *c, int argc, char **argv)
{
	static const enum spool_state from[] = {SPOOL_DEFERRED, SPOOL_FAILED};
	const char *dir, *id;
	int json, rc = 0;

	if ((rc = id_command(c, argc, argv, &json, &id, &dir)) != 0)
		return rc;
	if (strcmp(id, "--all") != 0)
		return steer(dir, id, from, 2, "retry requested by an operator", 1, json,
			     "only deferred or failed messages can be retried");
	char **names;
	size_t n, done = 0;
	if ((rc = spool_list(dir, SPOOL_DEFERRED, &names, &n)) < 0) {
		fprintf(stderr, "regflowctl: spool %s/deferred: %s\n", dir, strerror(-rc));
		return 1;
	}
	rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (!id_valid(names[i]))
			continue;
		if (steer(dir, names[i], from, 1, "retry requested by an operator", 1, json, "") ==
		    0)
			done++;
		else
			rc = 1;
	}
	spool_list_free(names, n);
	if (!json)
		printf("%zu deferred message(s) queued for delivery now\n", done);
	return rc;
}

static int spool_cmd_hold(struct conf *c, int argc, char **argv)
{
	int rc;
	static const enum spool_state from[] = {SPOOL_QUEUED, SPOOL_DEFERRED};
	const char *dir, *id;
	int json;

	if ((rc = id_command(c, argc, argv, &json, &id, &dir)) != 0)
		return rc;
	return steer(dir, id, from, 2, "held by an operator", 0, json,
		     "only queued or deferred messages can be held");
}

static int spool_cmd_release(struct conf *c, int argc, char **argv)
{
	int rc;
	static const enum spool_state from[] = {SPOOL_HOLD};
	const char *dir, *id;
	int json;

	if ((rc = id_command(c, argc, argv, &json, &id, &dir)) != 0)
		return rc;
	return steer(dir, id, from, 1, "released by an operator", 1, json, "it is not held");
}

static int spool_cmd_delete(struct conf *c, int argc, char **argv)
{
	int rc;
	const char *dir, *id;
	enum spool_state st;
	char p[4096];
	int json;

	if ((rc = id_command(c, argc, argv, &json, &id, &dir)) != 0)
		return rc;
	if ((rc = find_message(dir, id, &st)) != 0)
		return rc;
	if (st == SPOOL_ACTIVE) {
		fprintf(stderr,
			"regflowctl: spool: %s is being delivered right now; hold it or try "
			"again in a moment\n",
			id);
		return 1;
	}
	snprintf(p, sizeof(p), "%s/%s/%s", dir, spool_state_dir(st), id);
	/* unlink is atomic: if the gateway claimed it first, nothing is removed */
	if (unlink(p) < 0) {
		fprintf(stderr, "regflowctl: spool: %s: %s (it may have just moved on)\n", id,
			strerror(errno));
		return 1;
	}
	report(json, id, spool_state_name(st), "deleted");
	return 0;
}

/* the spool's commands: name, arguments, what it does (the usage is made from it) */
static const struct {
	const char *name, *args, *help;
	int (*fn)(struct conf *c, int argc, char **argv);
} spool_cmds[] = {
	{"list", "", "queued, active, deferred, held, failed and bounced messages", spool_cmd_list},
	{"show", "ID", "one message: envelope, history, body (secret masked)", spool_cmd_show},
	{"find", "RECIPIENT", "every message to a phone or address, in any state", spool_cmd_find},
	{"retry", "ID|--all", "deferred (or failed) messages: deliver now", spool_cmd_retry},
	{"hold", "ID", "keep a queued or deferred message back", spool_cmd_hold},
	{"release", "ID", "a held message: deliver now", spool_cmd_release},
	{"delete", "ID", "remove a message that is not being delivered", spool_cmd_delete},
	{"stats", "", "counts per state and channel, oldest age", spool_cmd_stats},
};

#define NCMDS (sizeof(spool_cmds) / sizeof(spool_cmds[0]))

/* spool_help_to - the commands, one a line */
static void spool_help_to(FILE *f)
{
	char left[64];
	fprintf(f, "usage: regflowctl spool COMMAND [--json]\n");
	for (size_t i = 0; i < NCMDS; i++) {
		snprintf(left, sizeof(left), "%s%s%s", spool_cmds[i].name,
			 *spool_cmds[i].args ? " " : "", spool_cmds[i].args);
		fprintf(f, "  %-20s %s\n", left, spool_cmds[i].help);
	}
}

static void spool_usage(void)
{
	spool_help_to(stderr);
}

void ctl_spool_help(FILE *f)
{
	spool_help_to(f);
}

int ctl_spool(struct conf *c, int argc, char **argv)
{
	for (size_t i = 0; argc >= 1 && i < NCMDS; i++)
		if (strcmp(argv[0], spool_cmds[i].name) == 0)
			return spool_cmds[i].fn(c, argc, argv);
	spool_usage();
	return 2;
}
