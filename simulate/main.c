/*
 * regflowctl-simulate - a dry run (see sim.h): regflowctl runs it for
 * "regflowctl simulate FILE SCENARIO", so that regflowctl links no
 * interpreter.  FILE is a workflow file (messages.conf and the other
 * workflows from engine.workflows) or a folder of them.
 *
 *   regflowctl-simulate [-c FILE] [-o path=value]... FILE|DIR SCENARIO
 */
#include "codekey.h"
#include "conf.h"
#include "log.h"
#include "password.h"
#include "rec.h"
#include "secret.h"
#include "sim.h"
#include "util.h"
#include "wf_run.h"
#include "wf_verify.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct sim {
	struct wf_set *ws;
	struct store *st;
	int64_t now;
	json_t *alias; /* account id -> "A1", ... */
	json_t *vars;  /* token, code, account: for {{...}} */
};

/* alias_as - a stable name for an id: PREFIX1, PREFIX2, ... by first sight */
static const char *alias_as(struct sim *s, const char *id, char prefix)
{
	if (!id)
		return "?";
	if (!json_object_get(s->alias, id)) {
		size_t n = 1;
		const char *k;
		json_t *v;
		json_object_foreach(s->alias, k, v)
			n += json_string_value(v)[0] == prefix;
		char a[16];
		snprintf(a, sizeof(a), "%c%zu", prefix, n);
		json_object_set_new(s->alias, id, json_string(a));
	}
	return json_string_value(json_object_get(s->alias, id));
}

/* alias - an account's: A1, A2, ... */
static const char *alias(struct sim *s, const char *id)
{
	return alias_as(s, id, 'A');
}

/* fill - value with {{token}}, {{code}}, {{account}} filled in */
static char *fill(struct sim *s, const char *v)
{
	char *out = xstrdup(v);
	const char *name;
	json_t *val;
	json_object_foreach(s->vars, name, val) {
		char pat[64];
		snprintf(pat, sizeof(pat), "{{%s}}", name);
		for (char *hit; (hit = strstr(out, pat));) {
			char *n = xasprintf("%.*s%s%s", (int)(hit - out), out,
					    json_string_value(val), hit + strlen(pat));
			free(out);
			out = n;
		}
	}
	return out;
}

/* is_id - an id (id_new), not a 13-digit time that happens to spell one */
static int is_id(const char *v)
{
	return id_valid(v) && strpbrk(v, "ABCDEFGHJKMNPQRSTVWXYZ") != NULL;
}

/* change - one column of an account: a workflow's state, the status, or
 * (of an account that existed) any column the API shows */
static void change(struct sim *s, const char *id, const char *col, const char *was, const char *now,
		   int existed)
{
	if (!strncmp(col, "wf.", 3))
		printf("  %s: %s %s -> %s\n", alias(s, id), col + 3, was ? was : "(new)", now);
	else if (!strcmp(col, "status"))
		printf("  %s: status %s\n", alias(s, id), now);
	else if (existed) /* an id in a column (a review's, another account's): its alias */
		printf("  %s: %s = \"%s\"\n", alias(s, id), col,
		       is_id(now) ? alias_as(s, now, json_object_get(s->alias, now) ? 'A' : 'I')
				  : now);
}

/* changes - the account records a run writes, against the store's */
static void changes(struct sim *s, const json_t *writes)
{
	const char *key;
	json_t *rec;
	json_object_foreach((json_t *)writes, key, rec) {
		json_t *old = NULL, *v;
		const char *col;
		if (rec_key_kind(key) != REC_ACCOUNT || !json_is_object(rec))
			continue;
		rec_get_key(s->st, key, &old);
		json_t *pub = rec_public(REC_ACCOUNT, rec),
		       *prev = old ? rec_public(REC_ACCOUNT, old) : NULL;
		json_object_foreach(pub, col, v) {
			const char *was = prev ? rec_str(prev, col) : NULL,
				   *now = json_string_value(v);
			if (now && !(was && !strcmp(was, now)) && strcmp(col, "updated"))
				change(s, rec_key_id(key), col, was, now, old != NULL);
		}
		json_decref(pub);
		json_decref(prev);
		json_decref(old);
	}
}

/* messages - what would be sent, the latest secret kept for {{token}}/{{code}} */
static void messages(struct sim *s, const struct wf_out *o)
{
	size_t i;
	json_t *k;
	json_array_foreach(o->outbox, i, k) {
		struct spool_msg m;
		char err[256];
		if (rec_outbox_msg(json_object_get(o->writes, json_string_value(k)), &m, err,
				   sizeof(err)) < 0) {
			printf("  send: (unreadable: %s)\n", err);
			continue;
		}
		printf("  send %s to %s%s%s%s\n", m.channel, m.to, m.subject ? ": " : "",
		       m.subject ? m.subject : "", m.secret && *m.secret ? " (secret ******)" : "");
		if (m.secret && *m.secret)
			json_object_set_new(s->vars, strlen(m.secret) > 12 ? "token" : "code",
					    json_string(m.secret));
		spool_msg_free(&m);
	}
}

static int report(struct sim *s, struct wf_out *o)
{
	const char *code = json_string_value(json_object_get(o->result, "code"));
	const char *acct = json_string_value(json_object_get(o->result, "account"));
	if (code)
		printf("  reply %s%s%s\n", code, acct ? " " : "", acct ? alias(s, acct) : "");
	if (acct)
		json_object_set_new(s->vars, "account", json_string(acct));
	if (json_string_value(json_object_get(o->result, "review")))
		json_object_set(s->vars, "review", json_object_get(o->result, "review"));
	changes(s, o->writes);
	messages(s, o);
	int rc = wf_apply(s->st, o->writes);
	if (rc < 0)
		fprintf(stderr, "regflowctl: simulate: the in-memory store refused the writes\n");
	return rc;
}

/* prepare - the engine's intake: passwords hashed, a login's check made */
static int prepare(struct sim *s, const struct wf_event *ev, const char *front, json_t *args)
{
	const char *name;
	json_t *t;
	if (ev->verify) {
		struct wf_peek pk;
		char digest[65];
		if (wf_verify_peek(s->ws, ev, s->st, args, front, s->now, &pk) < 0)
			return -EIO;
		if (pk.locked) {
			wf_peek_free(&pk);
			printf("  reply LOGIN_FAILED (locked out)\n");
			return 1;
		}
		const char *pw = json_string_value(json_object_get(args, ev->verify));
		int ok = pk.hash && pw && password_verify(pk.hash, pw) == 0;
		json_object_set_new(args, "%verified", json_string(ok ? "1" : "0"));
		wf_verify_digest(pk.hash, digest);
		json_object_set_new(args, "%hash", json_string(digest));
		json_object_del(args, ev->verify);
		wf_peek_free(&pk);
	}
	json_object_foreach(ev->args, name, t) {
		const char *pw = json_string_value(json_object_get(args, name));
		char hash[PASSWORD_HASH_MAX];
		if (pw && !strcmp(json_string_value(t), "password")) {
			if (password_hash(pw, hash) < 0)
				return -ENOMEM;
			json_object_set_new(args, name, json_string(hash));
		}
	}
	return 0;
}

/* show_job - the step as written: a value filled in from {{token}} or
 * {{code}} stays {{...}}, a password is ******, so no secret is printed */
static void show_job(const struct sim_step *st, const struct wf_event *ev, json_t *args)
{
	const char *name;
	json_t *v;
	printf("%d: %s%s%s", st->line, strcmp(st->front, "www") ? "@" : "",
	       strcmp(st->front, "www") ? st->front : "", strcmp(st->front, "www") ? " " : "");
	printf("%s", st->type);
	json_object_foreach(args, name, v) {
		const char *type = ev ? json_string_value(json_object_get(ev->args, name)) : NULL;
		const char *raw = json_string_value(json_object_get(st->args, name));
		printf(" %s=%s", name,
		       type && wf_arg_hidden(type) ? "******"
		       : raw && strstr(raw, "{{")  ? raw
						   : json_string_value(v));
	}
	printf("\n");
}

static int job(struct sim *s, const struct sim_step *st)
{
	json_t *args = json_object(), *v;
	const char *name;
	json_object_foreach(st->args, name, v) {
		char *f = fill(s, json_string_value(v));
		json_object_set_new(args, name, json_string(f));
		free(f);
	}
	const struct wf_event *ev = wf_set_event(s->ws, st->type, args);
	show_job(st, ev, args);
	struct wf_out o;
	int rc = 0;
	if (!ev)
		printf("  no workflow takes a job of type %s\n", st->type);
	else
		rc = prepare(s, ev, st->front, args);
	if (ev && rc == 0) {
		rc = wf_run_event(s->ws, ev, s->st, args, st->front, s->now, &o);
		if (rc == 0) {
			rc = report(s, &o);
			wf_out_free(&o);
		}
	}
	json_decref(args);
	return rc < 0 ? rc : 0;
}

/* advance - the clock moves on; every timer due by then fires, in order */
static int advance(struct sim *s, const struct sim_step *st)
{
	json_t *keys = NULL;
	s->now += st->advance_ms;
	char d[32];
	duration_format(st->advance_ms, d, sizeof(d));
	printf("%d: +%s\n", st->line, d);
	int rc;
	while ((rc = rec_timers_due(s->st, s->now, 1, &keys)) == 0 && json_array_size(keys) > 0) {
		struct wf_out o;
		const char *key = json_string_value(json_array_get(keys, 0));
		printf("  timer fires\n");
		rc = wf_fire_timer(s->ws, s->st, key, s->now, &o);
		if (rc == 0) {
			rc = report(s, &o); /* the timer's deletion among the writes */
			wf_out_free(&o);
		}
		json_decref(keys);
		keys = NULL;
		if (rc < 0)
			return rc;
	}
	json_decref(keys);
	return rc < 0 ? rc : 0;
}

/* code_keys - a throw-away code key, so codes are hashed as the engine does */
static struct codekey_ring *code_keys(void)
{
	char dir[] = "/tmp/regflow-simulate.XXXXXX", path[64], err[256];
	struct codekey_ring *r = NULL;
	if (!mkdtemp(dir))
		return NULL;
	snprintf(path, sizeof(path), "%s/key", dir);
	if (codekey_create(path, err, sizeof(err)) == 0)
		codekey_load(path, &r, err, sizeof(err));
	unlink(path);
	rmdir(dir);
	return r;
}

static int load(struct conf *c, const char *what, struct wf_set **ws)
{
	struct wf_errs errs = {0};
	struct stat sb;
	int dir = stat(what, &sb) == 0 && S_ISDIR(sb.st_mode);
	char *files[] = {(char *)what};
	int rc = wf_set_load(dir ? what : conf_str(c, "engine.workflows", "workflows"),
			     dir ? NULL : files, dir ? 0 : 1, ws, &errs);
	for (int i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.v[i]);
	wf_errs_free(&errs);
	return rc;
}

static int run(struct conf *c, const char *wfs, const char *scenario)
{
	struct sim s = {.now = 1798761600000LL, .alias = json_object(), .vars = json_object()};
	struct sim_step *steps = NULL;
	struct codekey_ring *keys = code_keys();
	char *text = NULL, err[512];
	size_t len = 0;
	int n = 0, rc = file_read(scenario, 1 << 20, &text, &len);
	if (rc < 0)
		fprintf(stderr, "regflowctl: simulate: %s: %s\n", scenario, strerror(-rc));
	else if ((rc = sim_parse(scenario, text, &steps, &n, err, sizeof(err))) < 0)
		fprintf(stderr, "%s\n", err);
	else if ((rc = load(c, wfs, &s.ws)) == 0 && (rc = rec_open_mem(&s.st)) == 0) {
		wf_run_set_keys(keys);
		for (int i = 0; i < n && rc == 0; i++)
			rc = steps[i].advance_ms ? advance(&s, &steps[i]) : job(&s, &steps[i]);
		if (rc < 0)
			fprintf(stderr, "regflowctl: simulate: the run failed: %s\n",
				strerror(-rc));
	}
	if (s.st)
		store_close(s.st);
	wf_set_free(s.ws);
	codekey_free(keys);
	sim_steps_free(steps, n);
	free(text);
	json_decref(s.alias);
	json_decref(s.vars);
	return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct conf_args ca = {0};
	struct conf c;
	int rc;
	log_init("regflowctl", LOG_WARN);
	int first = conf_args_getopt(argc, argv, &ca);
	if (first < 0 || argc - first != 2)
		goto usage;
	if (sodium_init() < 0)
		fatal("libsodium cannot initialise");
	if (conf_open(&c, &ca) < 0) {
		fprintf(stderr, "regflowctl: %s\n", conf_error(&c));
		return 1;
	}
	rc = run(&c, argv[first], argv[first + 1]);
	conf_close(&c);
	return rc;
usage:
	fprintf(stderr, "usage: regflowctl simulate FILE|DIR SCENARIO\n");
	return 2;
}
