/*
 * engine_cmd - enqueue batches, reload workflows, ask for a store backup (see engine_cmd.h).
 *
 * enqueue reads NDJSON (one job a line, as POST /v1/jobs/batch takes),
 * sends it in chunks with libcurl, prints one result line per input line
 * with the input's line number, and shows progress on a terminal.
 */
#include "engine_cmd.h"
#include "buf.h"
#include "ctl.h"
#include "tokens.h"
#include "util.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK_LINES 500

/* engine_url - the engine's URL for path: https when engine.tls has a certificate */
static void engine_url(struct conf *c, const char *path, char *url, size_t n)
{
	snprintf(url, n, "%s://%s%s", *conf_str(c, "engine.tls.certificate", "") ? "https" : "http",
		 conf_str(c, "engine.listen", "127.0.0.1:7800"), path);
}

/* engine_tls - verify the engine against ctl.ca_file, else its own certificate
 * (a self-signed one on loopback); curl checks the name or address */
static void engine_tls(struct conf *c, CURL *h)
{
	const char *ca = conf_str(c, "ctl.ca_file", "");
	if (!*ca)
		ca = conf_str(c, "engine.tls.certificate", "");
	if (*ca)
		curl_easy_setopt(h, CURLOPT_CAINFO, ca);
}

static size_t on_body(char *data, size_t sz, size_t n, void *arg)
{
	buf_add(arg, data, sz * n);
	return sz * n;
}

/* send_chunk - POST one chunk; print its result lines renumbered from first */
static int send_chunk(CURL *h, const char *url, struct curl_slist *hdrs, const char *body,
		      size_t len, long first, long *rejected)
{
	struct buf resp;
	buf_init(&resp, BUF_UNLIMITED);
	long status = 0;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
	CURLcode cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		fprintf(stderr, "regflowctl: %s: %s\n", url, curl_easy_strerror(cc));
		buf_free(&resp);
		return -EIO;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		fprintf(stderr, "regflowctl: %s: HTTP %ld: %s\n", url, status, buf_ptr(&resp));
		buf_free(&resp);
		return -EIO;
	}
	char *save, *line = strtok_r(resp.p ? resp.p : (char *)"", "\n", &save);
	for (; line; line = strtok_r(NULL, "\n", &save)) {
		json_t *r = json_loads(line, 0, NULL);
		if (!r)
			continue;
		json_int_t ln = json_integer_value(json_object_get(r, "line"));
		json_object_set_new(r, "line", json_integer(first + ln - 1));
		if (json_object_get(r, "error"))
			(*rejected)++;
		char *out = json_dumps(r, JSON_COMPACT);
		puts(out);
		free(out);
		json_decref(r);
	}
	buf_free(&resp);
	return 0;
}

int ctl_enqueue(struct conf *c, int argc, char **argv)
{
	const char *front = NULL, *path = NULL;
	char name[128], tok[600], url[512], auth[700];
	struct buf chunk;
	long lineno = 0, first = 1, in_chunk = 0, rejected = 0, total = 0;
	int tty = isatty(2), rc = 0;

	buf_init(&chunk, BUF_UNLIMITED);

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--front") && i + 1 < argc)
			front = argv[++i];
		else if (!path)
			path = argv[i];
		else
			goto usage;
	}
	if (!path)
		goto usage;
	const char *tokens = conf_str(c, "api.tokens_file", "conf/tokens");
	if (tokens_lookup(tokens, front, name, tok, sizeof(tok)) < 0) {
		fprintf(stderr, "regflowctl: %s: no token for front %s\n", tokens,
			front ? front : "(any)");
		return 1;
	}
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	if (!f) {
		fprintf(stderr, "regflowctl: %s: %s\n", path, strerror(errno));
		return 1;
	}
	engine_url(c, "/v1/jobs/batch", url, sizeof(url));
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURL *h = curl_easy_init();
	engine_tls(c, h);
	struct curl_slist *hdrs = curl_slist_append(NULL, auth);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/x-ndjson");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		buf_add(&chunk, line, (size_t)n);
		if (n == 0 || line[n - 1] != '\n')
			buf_add(&chunk, "\n", 1);
		if (++in_chunk == CHUNK_LINES) {
			if ((rc = send_chunk(h, url, hdrs, buf_ptr(&chunk), chunk.len, first,
					     &rejected)) < 0)
				break;
			total += in_chunk;
			first = lineno + 1;
			in_chunk = 0;
			buf_reset(&chunk);
			if (tty)
				fprintf(stderr, "\r%ld lines sent, %ld rejected", total, rejected);
		}
	}
	if (rc == 0 && in_chunk > 0) {
		rc = send_chunk(h, url, hdrs, buf_ptr(&chunk), chunk.len, first, &rejected);
		total += in_chunk;
	}
	if (tty)
		fprintf(stderr, "\r%ld lines sent, %ld rejected\n", total, rejected);
	free(line);
	buf_free(&chunk);
	if (f != stdin)
		fclose(f);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	curl_global_cleanup();
	if (rc < 0)
		return 1;
	return rejected ? 1 : 0;
usage:
	ctl_usage("enqueue");
	return 2;
}

/* ctl_api_get - GET path from the engine as front; body in *out (caller frees) */
long ctl_api_get(struct conf *c, const char *front, const char *path, char **out)
{
	return ctl_api_call(c, front, NULL, path, out);
}

long ctl_api_call(struct conf *c, const char *front, const char *post, const char *path, char **out)
{
	char name[128], tok[600], url[512], auth[700];
	struct buf resp;
	buf_init(&resp, BUF_UNLIMITED);
	long status = -1;
	if (tokens_lookup(conf_str(c, "api.tokens_file", "conf/tokens"), front, name, tok,
			  sizeof(tok)) < 0) {
		fprintf(stderr, "regflowctl: no API token for front %s\n", front ? front : "(any)");
		return -ENOENT;
	}
	engine_url(c, path, url, sizeof(url));
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	CURL *h = curl_easy_init();
	engine_tls(c, h);
	struct curl_slist *hdrs = curl_slist_append(NULL, auth);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 600L); /* a reload's check walks the accounts */
	if (post)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, post);
	CURLcode cc = curl_easy_perform(h);
	if (cc != CURLE_OK)
		fprintf(stderr, "regflowctl: %s: %s (is regflowd running?)\n", url,
			curl_easy_strerror(cc));
	else
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	*out = buf_take(&resp, NULL);
	return status;
}

/* reload_signal - with no admin token: SIGHUP, whose outcome only the log says */
static int reload_signal(struct conf *c)
{
	const char *pidfile = conf_str(c, "engine.pid_file", "var/regflowd.pid");
	char *text = NULL;
	if (file_read(pidfile, 64, &text, NULL) < 0) {
		fprintf(stderr, "regflowctl: %s: cannot read: is regflowd running?\n", pidfile);
		return 1;
	}
	int pid = atoi(text);
	free(text);
	if (pid <= 1 || kill(pid, SIGHUP) < 0) {
		fprintf(stderr, "regflowctl: cannot signal regflowd (pid %d): %s\n", pid,
			strerror(errno));
		return 1;
	}
	printf("reload asked of regflowd (pid %d) by SIGHUP; its log says whether the new set "
	       "was taken\n",
	       pid);
	return 0;
}

/* print_refusal - why the engine kept its running set */
static void print_refusal(json_t *b)
{
	size_t i;
	json_t *e;
	fprintf(stderr, "regflowctl: reload refused: %s\n",
		json_string_value(json_object_get(json_object_get(b, "error"), "message")) ?: "?");
	json_array_foreach(json_object_get(b, "errors"), i, e)
		fprintf(stderr, "  %s\n", json_string_value(e));
}

/* print_kept - who stays on an older version, who was migrated */
static void print_kept(json_t *b)
{
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(b, "pinned"), i, e)
		printf("  workflow %s state %s (removed): %lld account(s), %lld timer(s) stay on "
		       "version %s\n",
		       json_string_value(json_object_get(e, "workflow")),
		       json_string_value(json_object_get(e, "state")),
		       (long long)json_integer_value(json_object_get(e, "accounts")),
		       (long long)json_integer_value(json_object_get(e, "timers")),
		       json_string_value(json_object_get(e, "version")));
	if (json_is_true(json_object_get(b, "walk_failed")))
		printf("  (the walk after it could not finish: see the engine's log; migrations "
		       "not made wait for the next reload)\n");
	json_array_foreach(json_object_get(b, "migrated"), i, e)
		printf("  workflow %s: %lld account(s) migrated from %s to %s\n",
		       json_string_value(json_object_get(e, "workflow")),
		       (long long)json_integer_value(json_object_get(e, "accounts")),
		       json_string_value(json_object_get(e, "from")),
		       json_string_value(json_object_get(e, "to")));
}

int ctl_reload(struct conf *c, int argc, char **argv)
{
	const char *front = "ops";
	char name[128], tok[600], *out = NULL;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--force")) /* before versions: taken now in any case */
			continue;
		else if (!strcmp(argv[i], "--front") && i + 1 < argc)
			front = argv[++i];
		else
			return ctl_usage("reload");
	}
	if (tokens_lookup(conf_str(c, "api.tokens_file", "conf/tokens"), front, name, tok,
			  sizeof(tok)) < 0)
		return reload_signal(c);
	long st = ctl_api_call(c, front, "", "/v1/reload", &out);
	json_t *b = out ? json_loads(out, 0, NULL) : NULL;
	free(out);
	if (st == 200) {
		printf("reloaded: %lld workflow(s) running\n",
		       (long long)json_integer_value(json_object_get(b, "workflows")));
		print_kept(b);
	} else if (b) {
		print_refusal(b);
	} else if (st > 0) {
		fprintf(stderr, "regflowctl: reload: HTTP %ld\n", st);
	}
	json_decref(b);
	return st == 200 ? 0 : 1;
}

/* ctl_store_backup - regflowctl store backup [--front NAME]: POST /v1/backup
 * (the admin role): the running engine copies its store consistently */
int ctl_store_backup(struct conf *c, int argc, char **argv)
{
	const char *front = "ops";
	char *out = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--front") && i + 1 < argc)
			front = argv[++i];
		else
			return ctl_usage("store");
	}
	long st = ctl_api_call(c, front, "", "/v1/backup", &out);
	json_t *b = out ? json_loads(out, 0, NULL) : NULL;
	const char *file = json_string_value(json_object_get(b, "file"));
	if (st == 200 && file)
		printf("backup: %s (%lld bytes)\n", file,
		       (long long)json_integer_value(json_object_get(b, "bytes")));
	else
		fprintf(stderr, "regflowctl: store backup: %s\n",
			json_string_value(json_object_get(json_object_get(b, "error"), "message"))
				?: (out ? out : "no answer"));
	free(out);
	json_decref(b);
	return st == 200 && file ? 0 : 1;
}
