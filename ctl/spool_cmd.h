/*
 * spool_cmd - "regflowctl spool ...": look at the spool (docs/spool.md).
 */
#ifndef REGFLOW_SPOOL_CMD_H
#define REGFLOW_SPOOL_CMD_H

#include "conf.h"

#include <stdio.h>

/* ctl_spool - argv[0] is the subcommand ("list"); returns the exit code (2: usage) */
int ctl_spool(struct conf *c, int argc, char **argv);
/* ctl_spool_help - the spool commands, for regflowctl spool --help */
void ctl_spool_help(FILE *f);

#endif
