/*
 * regflowd - the workflow engine: job API over HTTP, workflows from files,
 * state in Tokyo Cabinet, messages to the spool.
 *
 *   regflowd [-c FILE] [-o path=value]...
 *
 * SIGHUP reloads the workflows (a bad set is refused, the last good set
 * keeps running); SIGINT and SIGTERM stop cleanly.
 */
#include "api.h"
#include "conf.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct engine {
	uv_loop_t *loop;
	struct conf conf;
	struct store *st;
	struct wf_set *ws;
	struct wf_set **retired; /* replaced sets: threads may still read them */
	int nretired;
	struct jobs *jobs;
	struct http_server *http;
	struct api api;
	const char *wf_dir;
	int64_t retention; /* engine.retention */
	uv_signal_t sigint, sigterm, sighup;
};

static void usage(void)
{
	fprintf(stderr, "usage: regflowd [-c FILE] [-o path=value]...\n");
	exit(2);
}

static int load_workflows(const char *dir, struct wf_set **out)
{
	struct wf_errs errs = {0};
	int rc = wf_set_load(dir, NULL, 0, out, &errs);
	for (int i = 0; i < errs.n; i++)
		log_err("%s", errs.v[i]);
	wf_errs_free(&errs);
	return rc;
}

static void on_reload(uv_signal_t *s, int signum)
{
	struct engine *e = s->data;
	struct wf_set *ws;
	if (load_workflows(e->wf_dir, &ws) < 0) {
		log_err("reload refused: the workflows above have errors; the last good set keeps "
			"running");
		return;
	}
	e->retired = xrealloc(e->retired, sizeof(*e->retired) * (size_t)(e->nretired + 1));
	e->retired[e->nretired++] = e->ws;
	ws->retention_ms = e->retention;
	e->ws = ws;
	e->api.ws = ws;
	jobs_set_workflows(e->jobs, ws);
	log_info("reloaded %d workflow(s) from %s", ws->n, e->wf_dir);
}

static void on_stop(uv_signal_t *s, int signum)
{
	struct engine *e = s->data;
	log_info("stopping on signal %d", signum);
	http_server_stop(e->http, NULL, NULL);
	jobs_close(e->jobs);
	uv_close((uv_handle_t *)&e->sigint, NULL);
	uv_close((uv_handle_t *)&e->sigterm, NULL);
	uv_close((uv_handle_t *)&e->sighup, NULL);
}

int main(int argc, char **argv)
{
	struct engine e;
	struct conf_args ca = {0};
	struct jobs_cfg jc = {0};
	struct http_limits lim = {0};
	char err[512];
	int opt, rc;

	memset(&e, 0, sizeof(e));
	log_init("regflowd", LOG_INFO);
	while ((opt = getopt(argc, argv, "c:o:h")) != -1)
		if (conf_args_add(&ca, opt, optarg) < 0)
			usage();
	if (optind != argc)
		usage();
	if (sodium_init() < 0)
		fatal("libsodium cannot initialise");
	if (conf_open(&e.conf, &ca) < 0)
		fatal("%s", conf_error(&e.conf));
	const char *listen = conf_str(&e.conf, "engine.listen", "127.0.0.1:7800");
	const char *db = conf_str(&e.conf, "engine.db", "var/regflow.tct");
	e.wf_dir = conf_str(&e.conf, "engine.workflows", "workflows");
	const char *tokens = conf_str(&e.conf, "api.tokens_file", "conf/tokens");
	jc.spool_dir = conf_str(&e.conf, "spool.dir", "spool");
	jc.group_max = (int)conf_int(&e.conf, "engine.group_commit", 256);
	lim.max_body = (size_t)conf_int(&e.conf, "engine.max_body", 1 << 20);
	lim.max_conns = (int)conf_int(&e.conf, "engine.max_connections", 1024);
	const char *level = conf_str(&e.conf, "log.level", "info");
	const char *pidfile = conf_str(&e.conf, "engine.pid_file", "var/regflowd.pid");
	e.retention = conf_duration(&e.conf, "engine.retention", "30d");
	if (conf_error(&e.conf))
		fatal("%s", conf_error(&e.conf));
	if (log_set_level_name(level) < 0)
		fatal("log.level: unknown level \"%s\" (debug, info, warning, error)", level);
	if (jc.group_max < 1 || jc.group_max > 100000)
		fatal("engine.group_commit: must be between 1 and 100000");

	if (load_workflows(e.wf_dir, &e.ws) < 0)
		fatal("refusing to start: the workflows have errors");
	e.ws->retention_ms = e.retention;
	if (auth_load(tokens, &e.api.auth, err, sizeof(err)) < 0)
		fatal("%s", err);
	char *dbdir = xstrdup(db);
	rc = mkdir_p(dirname(dbdir), 0700);
	free(dbdir);
	if (rc < 0)
		fatal("%s: cannot create its directory: %s", db, strerror(-rc));
	rc = store_open_tc(db, &e.st);
	if (rc < 0)
		fatal("engine.db %s", e.st->err);

	e.loop = uv_default_loop();
	rc = jobs_open(e.loop, e.st, e.ws, &jc, &e.jobs);
	if (rc < 0)
		fatal("cannot start the job queue: %s", strerror(-rc));
	e.api.jobs = e.jobs;
	e.api.st = e.st;
	e.api.ws = e.ws;
	e.api.started_ms = now_ms();
	rc = http_server_start(e.loop, listen, &lim, api_handle, &e.api, &e.http);
	if (rc < 0)
		fatal("engine.listen %s: %s", listen, uv_strerror(rc));
	uv_signal_init(e.loop, &e.sigint);
	uv_signal_init(e.loop, &e.sigterm);
	uv_signal_init(e.loop, &e.sighup);
	e.sigint.data = e.sigterm.data = e.sighup.data = &e;
	uv_signal_start(&e.sigint, on_stop, SIGINT);
	uv_signal_start(&e.sigterm, on_stop, SIGTERM);
	uv_signal_start(&e.sighup, on_reload, SIGHUP);
	if (*pidfile) {
		char pid[32], *pdir = xstrdup(pidfile);
		mkdir_p(dirname(pdir), 0755);
		free(pdir);
		int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
		if (file_write_atomic(pidfile, pid, (size_t)n, 0644) < 0)
			log_warn("engine.pid_file %s: cannot write it; regflowctl reload will not "
				 "find us",
				 pidfile);
	}
	log_info("listening on %s (port %d), %d workflow(s), store %s, spool %s", listen,
		 http_server_port(e.http), e.ws->n, db, jc.spool_dir);

	uv_run(e.loop, UV_RUN_DEFAULT);

	if (*pidfile)
		unlink(pidfile);
	store_close(e.st);
	auth_free(e.api.auth);
	wf_set_free(e.ws);
	for (int i = 0; i < e.nretired; i++)
		wf_set_free(e.retired[i]);
	free(e.retired);
	conf_close(&e.conf);
	uv_loop_close(e.loop);
	log_info("stopped");
	return 0;
}
