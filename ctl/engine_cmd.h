/*
 * engine_cmd - regflowctl commands that talk to a running regflowd:
 * "enqueue FILE" (NDJSON batches over the job API) and "reload" (SIGHUP).
 */
#ifndef REGFLOW_CTL_ENGINE_CMD_H
#define REGFLOW_CTL_ENGINE_CMD_H

#include "conf.h"

int ctl_enqueue(struct conf *c, int argc, char **argv);
int ctl_reload(struct conf *c, int argc, char **argv);
/* ctl_workflows - the workflows' versions (versions_cmd.c) */
int ctl_workflows(struct conf *c, int argc, char **argv);
/* ctl_store_backup - "store backup": asks the running engine for a copy of its store */
int ctl_store_backup(struct conf *c, int argc, char **argv);
/* ctl_account - account [ID] | account find ... | account history ID (account_cmd.c) */
int ctl_account(struct conf *c, int argc, char **argv);
/* ctl_bounce - bounce [RECIPIENT] < DSN (bounce_cmd.c) */
int ctl_bounce(struct conf *c, int argc, char **argv);
/* dkim keygen DOMAIN SELECTOR FILE [--ed25519] (dkim_cmd.c) */
int ctl_dkim(struct conf *c, int argc, char **argv);
/* ctl_key - key list | key rotate: the code key file (key_cmd.c) */
int ctl_key(struct conf *c, int argc, char **argv);
/* ctl_api_get - GET path from the engine as front (NULL: the first token);
 * the HTTP status (or -errno) and the body in *out (caller frees) */
long ctl_api_get(struct conf *c, const char *front, const char *path, char **out);
/* ctl_api_call - the same, a POST of body when post is not NULL */
long ctl_api_call(struct conf *c, const char *front, const char *post, const char *path,
		  char **out);

#endif
