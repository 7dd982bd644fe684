/*
 * fuzz_workflow - the workflow loader on arbitrary files, then the
 * interpreter on whatever it accepts (libFuzzer; make fuzz).
 *
 * Each input is written as the only .wf file of a temp directory that also
 * holds copies of workflows/messages.conf and workflows/templates/, and
 * loaded with wf_set_load as the engine loads its directory.  A set that
 * loads runs every event of every workflow twice (valid fixed arguments,
 * each event's match values, ids of accounts, reviews and requests made by
 * earlier events) on an in-memory store, then fires every timer.
 *
 * Invariants: no crash or leak in loading or running; a refusal says why;
 * an accepted set never makes the interpreter crash, fail with a store
 * error or answer without a result code; every outbox message names a
 * channel, a recipient and a body.
 *
 * The harness confines file reads to its directory: body_file goes through
 * file_read (wrapped here, -Wl,--wrap=file_read), and inputs holding a
 * libconfig @include are skipped, so a mutated path never reads a FIFO or
 * /proc.
 */
#include "codekey.h"
#include "fuzz.h"
#include "log.h"
#include "rec.h"
#include "store.h"
#include "util.h"
#include "wf.h"
#include "wf_run.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef FUZZ_SRCDIR
#define FUZZ_SRCDIR "."
#endif

#define T0 1795941889225LL /* 2026-11-29 08:44:49 UTC */
#define LATER (400 * 86400000LL)

int __real_file_read(const char *path, size_t max, char **out, size_t *len);
int __wrap_file_read(const char *path, size_t max, char **out, size_t *len);

FUZZ_LIBCONFIG_LEAK

/*
 * Syntax errors make libconfig leak, so many inputs end in a leak scan, whose
 * cost grows with the heap: a smaller quarantine keeps the rate 3x higher.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "quarantine_size_mb=32";
}

static char dir[PATH_MAX]; /* the temp directory, canonical */
static char wfpath[PATH_MAX + 16];

/* __wrap_file_read - file_read, but only inside the temp directory */
int __wrap_file_read(const char *path, size_t max, char **out, size_t *len)
{
	char real[PATH_MAX];
	size_t dl = strlen(dir);
	if (!realpath(path, real))
		return -errno;
	if (strncmp(real, dir, dl) != 0 || real[dl] != '/')
		return -EACCES;
	return __real_file_read(path, max, out, len);
}

/* put_file - the file's bytes, without fsync (every input is a new file) */
static int put_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -errno;
	size_t w = fwrite(data, 1, len, f);
	if (fclose(f) != 0 || w != len)
		return -EIO;
	return 0;
}

static void copy_file(const char *from, const char *to)
{
	char *text = NULL;
	size_t len = 0;
	if (__real_file_read(from, 1 << 20, &text, &len) < 0 || put_file(to, text, len) < 0) {
		fprintf(stderr, "fuzz_workflow: cannot copy %s to %s\n", from, to);
		exit(1);
	}
	free(text);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void rm_dir(void)
{
	if (dir[0] && nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "fuzz_workflow: cannot remove %s\n", dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char tmpl[PATH_MAX], p[PATH_MAX * 2], q[PATH_MAX * 2];
	const char *tmp = getenv("TMPDIR");
	snprintf(tmpl, sizeof(tmpl), "%s/fuzz_workflow.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	log_init("fuzz_workflow", LOG_ERR);
	if (sodium_init() < 0 || !mkdtemp(tmpl) || !realpath(tmpl, dir))
		exit(1);
	atexit(rm_dir);
	snprintf(p, sizeof(p), "%s/workflows/messages.conf", FUZZ_SRCDIR);
	snprintf(q, sizeof(q), "%s/messages.conf", dir);
	copy_file(p, q);
	snprintf(p, sizeof(p), "%s/workflows/id_types.conf", FUZZ_SRCDIR);
	snprintf(q, sizeof(q), "%s/id_types.conf", dir);
	copy_file(p, q);
	/* the code keys the runs hash codes with */
	static struct codekey_ring *keys;
	char err[256];
	snprintf(q, sizeof(q), "%s/code.key", dir);
	if (codekey_create(q, err, sizeof(err)) < 0 || codekey_load(q, &keys, err, sizeof(err)) < 0)
		exit(1);
	wf_run_set_keys(keys);
	snprintf(q, sizeof(q), "%s/templates", dir);
	mkdir(q, 0700);
	snprintf(p, sizeof(p), "%s/workflows/templates", FUZZ_SRCDIR);
	DIR *d = opendir(p);
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/workflows/templates/%s", FUZZ_SRCDIR, de->d_name);
		snprintf(q, sizeof(q), "%s/templates/%s", dir, de->d_name);
		copy_file(p, q);
	}
	if (d)
		closedir(d);
	snprintf(wfpath, sizeof(wfpath), "%s/fuzz.wf", dir);
	return 0;
}

/* ids made by earlier events: the next events refer to them */
struct made {
	char account[64], review[64], request[64];
};

/* arg_value - a value the API would accept for an argument of this name and type */
static const char *arg_value(const char *name, const char *type, const struct made *mk)
{
	char base[32];
	wf_arg_base(type, base, sizeof(base));
	if (!strcmp(base, "email"))
		return "li.lei@example.com";
	if (!strcmp(base, "password")) /* the API hashes it before the job is written */
		return "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
		       "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
	if (!strcmp(base, "token"))
		return "Zq83kP0aXyZq83kP0aXyZq83kP0aXyZq83kP0aXy123";
	if (!strcmp(base, "code"))
		return "123456";
	if (!strcmp(base, "phone"))
		return "13800138000";
	if (!strcmp(base, "id_no"))
		return "11010519491231002X";
	if (!strcmp(base, "photo")) /* a 1x1 GIF */
		return "R0lGODlhAQABAAAAACwAAAAAAQABAAA=";
	if (!strcmp(base, "account")) {
		if (!strcmp(name, "review") && mk->review[0])
			return mk->review;
		if (!strcmp(name, "request") && mk->request[0])
			return mk->request;
		return mk->account[0] ? mk->account : "01M8K7MX69H6V";
	}
	if (!strcmp(name, "id_no") || !strcmp(name, "idno"))
		return "11010519491231002X";
	if (!strcmp(name, "id_type"))
		return "resident";
	if (!strcmp(name, "name") || !strcmp(name, "classmate_name"))
		return "李雷";
	if (!strcmp(name, "decision"))
		return "approve";
	return "x";
}

static void remember(char *slot, const json_t *v)
{
	if (json_is_string(v) && json_string_length(v) < 64)
		snprintf(slot, 64, "%s", json_string_value(v));
}

/* check_out - what any run must produce */
static void check_out(const struct wf_out *out, int timer, struct made *mk)
{
	CHECK(json_is_object(out->writes));
	CHECK(json_is_array(out->outbox));
	if (!timer) {
		const char *code = json_string_value(json_object_get(out->result, "code"));
		CHECK(code != NULL);
		CHECK(wf_known_code(code) || !strcmp(code, "NO_TRANSITION"));
		CHECK(json_is_string(json_object_get(out->result, "message")));
		remember(mk->account, json_object_get(out->result, "account"));
		remember(mk->review, json_object_get(out->result, "review"));
		remember(mk->request, json_object_get(out->result, "request"));
	}
	size_t i;
	json_t *k;
	json_array_foreach(out->outbox, i, k) {
		const json_t *m = json_object_get(out->writes, json_string_value(k));
		CHECK(json_is_object(m));
		/* the outbox record holds the message in the spool's format */
		struct spool_msg msg;
		char err[256];
		if (rec_outbox_msg(m, &msg, err, sizeof(err)) < 0) {
			fprintf(stderr, "fuzz_workflow: outbox record %s: %s\n",
				json_string_value(k), err);
			abort();
		}
		CHECK(!strcmp(msg.channel, "email") || !strcmp(msg.channel, "sms"));
		CHECK(msg.to && *msg.to && msg.body);
		spool_msg_free(&msg);
	}
}

static void run_event(const struct wf_set *ws, struct store *st, const struct wf_event *ev,
		      int64_t now, struct made *mk)
{
	json_t *args = json_object(), *t;
	const char *name;
	struct wf_out out;

	json_object_foreach(ev->args, name, t) {
		const char *v = arg_value(name, json_string_value(t), mk);
		CHECK(wf_arg_check(json_string_value(t), v) == NULL);
		json_object_set_new(args, name, json_string(v));
	}
	json_object_foreach(ev->match, name, t)
		json_object_set(args, name, t);
	int rc = wf_run(ws, st, ev->name, args, "www", now, &out);
	if (rc != 0)
		fprintf(stderr, "fuzz_workflow: wf_run %s: %d\n", ev->name, rc);
	CHECK(rc == 0);
	check_out(&out, 0, mk);
	CHECK(wf_apply(st, out.writes) == 0);
	wf_out_free(&out);
	json_decref(args);
}

static void fire_timers(const struct wf_set *ws, struct store *st, int64_t now, struct made *mk)
{
	json_t *keys = NULL, *k;
	size_t i;
	CHECK(rec_timers_due(st, now, 64, &keys) == 0);
	json_array_foreach(keys, i, k) {
		struct wf_out out;
		int rc = wf_fire_timer(ws, st, json_string_value(k), now, &out);
		CHECK(rc == 0);
		check_out(&out, 1, mk);
		CHECK(wf_apply(st, out.writes) == 0);
		wf_out_free(&out);
	}
	json_decref(keys);
}

static void run_all(const struct wf_set *ws)
{
	struct store *st = NULL;
	struct made mk = {{0}, {0}, {0}};
	CHECK(rec_open_mem(&st) == 0);
	for (int round = 0; round < 2; round++)
		for (int w = 0; w < ws->n; w++)
			for (int e = 0; e < ws->wfs[w]->nevents; e++)
				run_event(ws, st, &ws->wfs[w]->events[e], T0 + round * 1000, &mk);
	fire_timers(ws, st, T0 + LATER, &mk);
	store_close(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wf_set *ws = NULL;
	struct wf_errs errs = {0};

	if (size > 64 * 1024)
		return 0;
	/* libconfig opens includes itself: keep it to this directory's file */
	for (size_t i = 0; i + 8 <= size; i++)
		if (data[i] == '@' && strncasecmp((const char *)data + i, "@include", 8) == 0)
			return 0;
	if (put_file(wfpath, data, size) < 0) {
		fprintf(stderr, "fuzz_workflow: cannot write %s\n", wfpath);
		abort();
	}
	int rc = wf_set_load(dir, NULL, 0, &ws, &errs);
	if (rc != 0) {
		CHECK(rc == -EINVAL && errs.n > 0 && ws == NULL);
		for (int i = 0; i < errs.n; i++)
			CHECK(errs.v[i] && errs.v[i][0]);
		wf_errs_free(&errs);
		return 0;
	}
	CHECK(ws != NULL && errs.n == 0);
	run_all(ws);
	wf_set_free(ws);
	return 0;
}
