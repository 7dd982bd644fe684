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
#include "auth.h"
#include "codekeys.h"
#include "conf.h"
#include "jobs.h"
#include "log.h"
#include "nodes.h"
#include "password.h"
#include "rec.h"
#include "reload.h"
#include "secret.h"
#include "tls.h"
#include "util.h"
#include "versions.h"
#include "wf_run.h"

#include <errno.h>
#include <libgen.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct settings {
	const char *listen, *db, *workflows, *tokens, *spool, *log_level, *pid_file, *code_keys;
	const char *tls_cert, *tls_key, *monitor;
	long long group_commit, max_body, max_connections, hash_threads, argon_ops, argon_mib;
	int64_t retention, history_retention, photo_retention, deadline, timer_park;
	long long queue_max, disk_reserve;
	int registry;			 /* workflows' "ask" asks the identity registry */
	const char *store, *pg_conninfo; /* "tc" (engine.db) or "pg" (engine.pg.conninfo) */
	const char *backup_dir;
	long long node;	  /* engine.node: this engine's number among those sharing a store */
	int64_t pg_sweep; /* how often the queued work of dead engines is looked for */
	int64_t commit_delay;
};

#define S(f) offsetof(struct settings, f)
static const struct conf_item settings_table[] = {
	{"engine.listen", CONF_STR, "127.0.0.1:7800", 0, 0, S(listen)},
	{"engine.tls.certificate", CONF_STR, "", 0, 0, S(tls_cert)},
	{"engine.tls.key", CONF_STR, "", 0, 0, S(tls_key)},
	{"engine.monitor_listen", CONF_STR, "", 0, 0, S(monitor)},
	{"engine.db", CONF_STR, "var/regflow.tct", 0, 0, S(db)},
	{"engine.code_key_file", CONF_STR, "var/regflow.key", 0, 0, S(code_keys)},
	{"engine.workflows", CONF_STR, "workflows", 0, 0, S(workflows)},
	{"api.tokens_file", CONF_STR, "conf/tokens", 0, 0, S(tokens)},
	{"spool.dir", CONF_STR, "spool", 0, 0, S(spool)},
	{"engine.group_commit", CONF_INT, "256", 1, 100000, S(group_commit)},
	{"engine.max_body", CONF_INT, "1048576", 1024, 1LL << 30, S(max_body)},
	{"engine.max_connections", CONF_INT, "1024", 1, 1000000, S(max_connections)},
	{"engine.hash_threads", CONF_INT, "0", 0, 256, S(hash_threads)},
	{"engine.deadline", CONF_DUR, "2s", 100, 600000, S(deadline)},
	{"engine.queue_max", CONF_INT, "20000", 16, 10000000, S(queue_max)},
	{"engine.disk_reserve_mib", CONF_INT, "64", 0, 1 << 20, S(disk_reserve)},
	{"engine.argon2.opslimit", CONF_INT, "2", 2, 20, S(argon_ops)},
	{"engine.argon2.memlimit_mib", CONF_INT, "19", 19, 4096, S(argon_mib)},
	{"log.level", CONF_STR, "info", 0, 0, S(log_level)},
	{"engine.pid_file", CONF_STR, "var/regflowd.pid", 0, 0, S(pid_file)},
	{"engine.retention", CONF_DUR, "30d", 1000, 3650LL * 86400000, S(retention)},
	{"engine.history_retention", CONF_DUR, "400d", 1000, 3650LL * 86400000,
	 S(history_retention)},
	{"engine.photo_retention", CONF_DUR, "30d", 1000, 3650LL * 86400000, S(photo_retention)},
	{"engine.timer_park", CONF_DUR, "1m", 100, 86400000, S(timer_park)},
	{"engine.registry", CONF_BOOL, "false", 0, 0, S(registry)},
	{"engine.store", CONF_STR, "tc", 0, 0, S(store)},
	{"engine.pg.conninfo", CONF_STR, "", 0, 0, S(pg_conninfo)},
	{"engine.backup_dir", CONF_STR, "var/backup", 0, 0, S(backup_dir)},
	{"engine.node", CONF_INT, "0", 0, ID_NODES - 1, S(node)},
	{"engine.pg.sweep", CONF_DUR, "2s", 100, 600000, S(pg_sweep)},
	{"engine.commit_delay", CONF_DUR, "10ms", 0, 1000, S(commit_delay)},
	{NULL, 0, NULL, 0, 0, 0},
};
#undef S

struct regflowd {
	struct engine e;
	struct api api;
	struct conf conf;
	struct settings set;
	uv_signal_t sigint, sigterm, sighup;
	struct codekey_ring *keys;
	struct tls_ctx *tls; /* engine.tls: NULL for plain HTTP */
};

static void usage(void)
{
	fprintf(stderr, "usage: regflowd [-c FILE] [-o path=value]...\n");
	exit(2);
}

static int load_workflows(const struct regflowd *d, struct wf_set **out, json_t *errors)
{
	struct wf_errs errs = {0};
	int rc = wf_set_load(d->set.workflows, NULL, 0, out, &errs);
	for (int i = 0; i < errs.n; i++) {
		log_err("%s", errs.v[i]);
		if (errors)
			json_array_append_new(errors, json_string(errs.v[i]));
	}
	wf_errs_free(&errs);
	if (rc == 0) {
		(*out)->retention_ms = d->set.retention;
		(*out)->history_ms = d->set.history_retention;
		(*out)->photo_ms = d->set.photo_retention;
		(*out)->park_ms = d->set.timer_park;
	}
	return rc;
}

void engine_set_workflows(struct engine *e, struct wf_set *ws)
{
	wf_set_unref(e->ws);
	e->ws = ws;
}

/* load_tokens - api.tokens_file, with a warning if others may read it */
static int load_tokens(struct regflowd *d, struct auth **out)
{
	char err[512];
	if (auth_load(d->set.tokens, out, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return -EINVAL;
	}
	if (auth_check_mode(d->set.tokens, err, sizeof(err)))
		log_warn("%s", err);
	return 0;
}

/* reload_tokens - a token is revoked (or added) without a restart */
static void reload_tokens(struct regflowd *d)
{
	struct auth *a;
	if (load_tokens(d, &a) < 0) {
		log_err("tokens not reloaded: the file above has errors; the tokens before stay");
		return;
	}
	auth_free(d->e.auth);
	d->e.auth = a;
	log_info("reloaded %zu token(s) from %s", auth_count(a), d->set.tokens);
}

/* load_tls - engine.tls.certificate and .key; both or neither */
static int load_tls(struct regflowd *d, struct tls_ctx **out)
{
	char err[1024];
	*out = NULL;
	if (!*d->set.tls_cert && !*d->set.tls_key)
		return 0;
	if (!*d->set.tls_cert || !*d->set.tls_key) {
		log_err("engine.tls: a certificate needs its key and a key its certificate");
		return -EINVAL;
	}
	if (tls_ctx_new(d->set.tls_cert, d->set.tls_key, out, err, sizeof(err)) < 0) {
		log_err("engine.tls: %s", err);
		return -EINVAL;
	}
	return 0;
}

/* reload_tls - a renewed certificate for new connections, without a restart */
static void reload_tls(struct regflowd *d)
{
	struct tls_ctx *t;
	if (!d->tls)
		return; /* plain HTTP stays plain until a restart */
	if (load_tls(d, &t) < 0 || !t) {
		log_err("certificate not reloaded: the one before stays");
		return;
	}
	http_server_set_tls(d->e.http, t);
	tls_ctx_unref(d->tls);
	d->tls = t;
	log_info("reloaded the certificate %s", d->set.tls_cert);
}

/* reload_all - tokens, certificate, code keys, then the workflows */
static void reload_all(struct engine *e, int force, void (*done)(void *, int, json_t *), void *arg)
{
	struct regflowd *d = (struct regflowd *)((char *)e - offsetof(struct regflowd, e));
	struct wf_set *ws;
	char err[600];
	reload_tokens(d);
	reload_tls(d);
	if (codekeys_reload(d->set.code_keys, &d->keys, err, sizeof(err)) < 0)
		log_err("code keys not reloaded: %s; the keys before stay", err);
	else
		log_info("reloaded %d code key(s); new codes use %s", codekey_count(d->keys),
			 codekey_current(d->keys));
	json_t *errors = json_array();
	if (load_workflows(d, &ws, errors) < 0) {
		log_err("reload refused: the workflows above have errors; the last good set keeps "
			"running");
		json_t *rep = json_pack("{s:b, s:o}", "reloaded", 0, "errors", errors);
		done(arg, -EINVAL, rep);
		json_decref(rep);
		return;
	}
	json_decref(errors);
	ws->retention_ms = d->set.retention;
	ws->history_ms = d->set.history_retention;
	ws->photo_ms = d->set.photo_retention;
	ws->park_ms = d->set.timer_park;
	int rc = reload_start(&d->e, ws, done, arg);
	if (rc < 0) {
		json_t *rep =
			json_pack("{s:b, s:s}", "reloaded", 0, "error",
				  rc == -EBUSY ? "another reload is being checked"
					       : "the store cannot record the workflow versions");
		done(arg, rc, rep);
		json_decref(rep);
	}
}

static void logged(void *arg, int rc, json_t *report)
{
	const char *err = json_string_value(json_object_get(report, "error"));
	if (rc == 0 && arg) /* a SIGHUP (the walk at start is said by itself) */
		log_info("reloaded %lld workflow(s)",
			 (long long)json_integer_value(json_object_get(report, "workflows")));
	else if (rc < 0 && err)
		log_err("workflows not reloaded: %s", err);
	if (json_is_true(json_object_get(report, "walk_failed")))
		log_err("the walk after the workflows were taken could not finish: some "
			"accounts may wait for their migration until the next reload or start");
}

static void on_reload(uv_signal_t *s, int signum)
{
	struct regflowd *d = s->data;
	reload_all(&d->e, 0, logged, d); /* arg: a SIGHUP, not the start */
}

static void on_stop(uv_signal_t *s, int signum)
{
	struct regflowd *d = s->data;
	log_info("stopping on signal %d", signum);
	http_server_stop(d->e.http, NULL, NULL);
	if (d->e.monitor)
		http_server_stop(d->e.monitor, NULL, NULL);
	jobs_close(d->e.jobs);
	uv_close((uv_handle_t *)&d->sigint, NULL);
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sighup, NULL);
}

static void read_settings(struct regflowd *d, int argc, char **argv)
{
	struct conf_args ca = {0};
	int opt;
	while ((opt = getopt(argc, argv, "c:o:h")) != -1)
		if (conf_args_add(&ca, opt, optarg) < 0)
			usage();
	if (optind != argc)
		usage();
	static const char *const own[] = {"engine", NULL};
	if (conf_open(&d->conf, &ca) < 0 || conf_check_known(&d->conf, settings_table, own) < 0 ||
	    conf_read(&d->conf, settings_table, &d->set) < 0)
		fatal("%s", conf_error(&d->conf));
	if (password_params((unsigned long long)d->set.argon_ops,
			    (size_t)d->set.argon_mib * 1024 * 1024) < 0)
		fatal("engine.argon2: below OWASP's minimum (opslimit 2, memlimit_mib 19)");
	if (log_set_level_name(d->set.log_level) < 0)
		fatal("log.level: unknown level \"%s\" (debug, info, warning, error)",
		      d->set.log_level);
	wf_run_set_service("registry", d->set.registry);
	id_set_node((int)d->set.node); /* the ids this engine makes name it */
	if (strcmp(d->set.store, "tc") && strcmp(d->set.store, "pg"))
		fatal("engine.store: \"tc\" (Tokyo Cabinet, engine.db) or \"pg\" (PostgreSQL, "
		      "engine.pg.conninfo)");
	if (!strcmp(d->set.store, "pg") && !*d->set.pg_conninfo)
		fatal("engine.store = \"pg\" needs engine.pg.conninfo (libpq's; the password in "
		      "a passfile)");
}

static int store_is_pg(const struct regflowd *d)
{
	return !strcmp(d->set.store, "pg");
}

/* own_node - this engine's node on a shared store: held for its life; a
 * node busy for a few seconds may be a restarted engine's whose work
 * another engine is adopting this moment */
static void own_node(struct regflowd *d)
{
	int rc = -EBUSY;
	for (int i = 0; i < 50 && rc == -EBUSY; i++) {
		rc = store_node(d->e.st, (int)d->set.node, STORE_NODE_OWN);
		if (rc == -EBUSY)
			usleep(100 * 1000);
	}
	if (rc < 0)
		fatal("engine.node %lld: %s", d->set.node, store_error(d->e.st));
}

static void open_store(struct regflowd *d)
{
	char err[600];
	if (store_is_pg(d)) {
		if (rec_open_pg(d->set.pg_conninfo, &d->e.st, err, sizeof(err)) < 0)
			fatal("engine.pg.conninfo: %s", err);
		own_node(d);
		if (codekeys_open(d->e.st, d->set.code_keys, &d->keys, err, sizeof(err)) < 0)
			fatal("engine.code_key_file %s", err);
		return;
	}
	char *dbdir = xstrdup(d->set.db);
	int rc = mkdir_p(dirname(dbdir), 0700);
	free(dbdir);
	if (rc < 0)
		fatal("%s: cannot create its directory: %s", d->set.db, strerror(-rc));
	rc = rec_open_tc(d->set.db, &d->e.st);
	if (rc < 0)
		fatal("engine.db %s", store_error(d->e.st));
	if (codekeys_open(d->e.st, d->set.code_keys, &d->keys, err, sizeof(err)) < 0)
		fatal("engine.code_key_file %s", err);
	struct stat sb;
	if (stat(d->set.db, &sb) == 0 && (sb.st_mode & 077))
		log_warn("engine.db %s: others may read it (mode %04o): chmod 600 it", d->set.db,
			 (unsigned)(sb.st_mode & 07777));
}

/* listen_is_loopback - 127.0.0.0/8 or [::1] */
static int listen_is_loopback(const char *hp)
{
	return !strncmp(hp, "127.", 4) || !strncmp(hp, "[::1]:", 6) ||
	       !strncmp(hp, "localhost:", 10);
}

static void write_pid_file(const char *pidfile)
{
	char pid[32], *pdir = xstrdup(pidfile);
	mkdir_p(dirname(pdir), 0755);
	free(pdir);
	int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (file_write_atomic(pidfile, pid, (size_t)n, 0644) < 0)
		log_warn("engine.pid_file %s: cannot write it; regflowctl reload will not find us",
			 pidfile);
}

static void start(struct regflowd *d)
{
	struct jobs_cfg jc = {.spool_dir = d->set.spool,
			      .group_max = (int)d->set.group_commit,
			      .hash_threads = (int)d->set.hash_threads,
			      .deadline_ms = d->set.deadline,
			      .queue_max = (int)d->set.queue_max,
			      /* PostgreSQL keeps its own disk */
			      .disk_reserve_mib = store_is_pg(d) ? 0 : d->set.disk_reserve,
			      .db_path = d->set.db,
			      .node = (int)d->set.node,
			      .sweep_ms = (uint64_t)d->set.pg_sweep,
			      .commit_delay_ms = (uint64_t)d->set.commit_delay};
	struct http_limits lim = {.max_body = (size_t)d->set.max_body,
				  .max_conns = (int)d->set.max_connections,
				  .tls = d->tls};
	int rc = jobs_open(&d->e, &jc, &d->e.jobs);
	if (rc < 0)
		fatal("cannot start the job queue: %s", strerror(-rc));
	d->api.e = &d->e;
	d->e.api = &d->api;
	d->e.started_ms = now_ms();
	rc = http_server_start(d->e.loop, d->set.listen, &lim, api_handle, &d->api, &d->e.http);
	if (rc < 0)
		fatal("engine.listen %s: %s", d->set.listen, uv_strerror(rc));
	if (*d->set.monitor) {
		/* its own slots and nothing queued ahead: it answers whatever the load */
		struct http_limits mon = {.max_body = 1024, .max_conns = 64};
		rc = http_server_start(d->e.loop, d->set.monitor, &mon, api_handle_monitor, &d->api,
				       &d->e.monitor);
		if (rc < 0)
			fatal("engine.monitor_listen %s: %s", d->set.monitor, uv_strerror(rc));
		log_info("monitoring (health, metrics) on %s, port %d", d->set.monitor,
			 http_server_port(d->e.monitor));
	}
	uv_signal_init(d->e.loop, &d->sigint);
	uv_signal_init(d->e.loop, &d->sigterm);
	uv_signal_init(d->e.loop, &d->sighup);
	d->sigint.data = d->sigterm.data = d->sighup.data = d;
	uv_signal_start(&d->sigint, on_stop, SIGINT);
	uv_signal_start(&d->sigterm, on_stop, SIGTERM);
	uv_signal_start(&d->sighup, on_reload, SIGHUP);
}

int main(int argc, char **argv)
{
	static struct regflowd d;

	log_init("regflowd", LOG_INFO);
	umask(077); /* the database, its key file and the spool: the engine's user's alone */
	if (sodium_init() < 0)
		fatal("libsodium cannot initialise");
	read_settings(&d, argc, argv);
	d.e.reload = reload_all;
	if (load_workflows(&d, &d.e.ws, NULL) < 0)
		fatal("refusing to start: the workflows have errors");
	if (load_tokens(&d, &d.e.auth) < 0)
		fatal("refusing to start without the API tokens");
	if (load_tls(&d, &d.tls) < 0)
		fatal("refusing to start: engine.tls has errors");
	open_store(&d);
	d.e.backup_dir = d.set.backup_dir;
	versions_init(&d.e);
	if (versions_record(&d.e, d.e.ws) < 0)
		fatal("refusing to start: the workflow versions cannot be recorded");
	char why[600];
	why[0] = 0;
	if (nodes_start(&d.e, (int)d.set.node, 10 * d.set.pg_sweep, why, sizeof(why)) < 0)
		fatal("refusing to start: %s",
		      why[0] ? why : "this node's record cannot be written");
	d.e.loop = uv_default_loop();
	start(&d);
	reload_start(&d.e, NULL, logged, NULL); /* pinned and migrated accounts, in the log */
	if (*d.set.pid_file)
		write_pid_file(d.set.pid_file);
	log_info("listening on %s (port %d, %s), %d workflow(s), store %s, spool %s", d.set.listen,
		 http_server_port(d.e.http), d.tls ? "TLS" : "plain HTTP", d.e.ws->n,
		 store_is_pg(&d) ? "PostgreSQL" : d.set.db, d.set.spool);
	if (!d.tls && !listen_is_loopback(d.set.listen))
		log_warn("engine.listen %s is not loopback and has no TLS: passwords cross it in "
			 "clear (set engine.tls.certificate and .key)",
			 d.set.listen);

	uv_run(d.e.loop, UV_RUN_DEFAULT);

	if (*d.set.pid_file)
		unlink(d.set.pid_file);
	versions_free();
	store_close(d.e.st);
	auth_free(d.e.auth);
	codekey_free(d.keys);
	tls_ctx_unref(d.tls);
	wf_set_unref(d.e.ws);
	conf_close(&d.conf);
	uv_loop_close(d.e.loop);
	log_info("stopped");
	return 0;
}
