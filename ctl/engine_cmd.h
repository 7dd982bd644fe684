/*
 * engine_cmd - regflowctl commands that talk to a running regflowd:
 * "enqueue FILE" (NDJSON batches over the job API) and "reload" (SIGHUP).
 */
#ifndef REGFLOW_CTL_ENGINE_CMD_H
#define REGFLOW_CTL_ENGINE_CMD_H

#include "conf.h"

int ctl_enqueue(struct conf *c, int argc, char **argv);
int ctl_reload(struct conf *c, int argc, char **argv);
/* ctl_account - "account ID [--json]": an account as the engine shows it, with its inbox */
int ctl_account(struct conf *c, int argc, char **argv);

#endif
