/*
 * ctl - what regflowctl's verbs share: the usage of a verb from the verb
 * table (main.c), so that a verb refusing its arguments says the same as
 * "regflowctl VERB --help".
 */
#ifndef REGFLOW_CTL_H
#define REGFLOW_CTL_H

#define CTL_USAGE 2 /* the exit status of a usage error */

/* ctl_usage - "usage: regflowctl VERB ARGS" on stderr; returns CTL_USAGE */
int ctl_usage(const char *verb);

#endif
