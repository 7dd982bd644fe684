/*
 * engine - the one context every part of regflowd shares (as Redis's
 * server struct, but small): the loop, the store, the current workflow set,
 * the job queue, the API and its tokens.  main.c owns it.
 */
#ifndef REGFLOW_ENGINE_H
#define REGFLOW_ENGINE_H

#include "store.h"
#include "wf.h"

#include <stdint.h>
#include <uv.h>

struct jobs;
struct api;
struct auth;
struct http_server;

struct engine {
	uv_loop_t *loop;
	struct store *st;
	struct wf_set *ws; /* the current set (one reference); jobs hold their own */
	struct jobs *jobs;
	struct auth *auth;
	struct api *api;
	struct http_server *http;
	struct http_server *monitor; /* engine.monitor_listen: health and metrics, or NULL */
	int64_t started_ms;
	const char *backup_dir; /* engine.backup_dir: where POST /v1/backup writes */
	/* reload - what SIGHUP does (tokens, certificate, code keys, then the
	 * workflows, reload.c); done(arg, rc, report) once: rc 0 taken,
	 * -EINVAL the files have errors, -EBUSY another reload is walking,
	 * -EIO the versions could not be recorded (force: no longer used) */
	void (*reload)(struct engine *e, int force, void (*done)(void *, int, json_t *), void *arg);
};

/* engine_set_workflows - make ws (the caller's reference) the current set;
 * the one it replaces is freed when its last job is done */
void engine_set_workflows(struct engine *e, struct wf_set *ws);

#endif
