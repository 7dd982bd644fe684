/*
^ * wfcheck - "regflowctl check [FILES]": validate workflow files exactly as
 * the engine would load them, every error as file:line: reason.
 */
#ifndef REGFLOW_CTL_WFCHECK_H
#define REGFLOW_CTL_WFCHECK_H

#include "conf.h"

int ctl_check(struct conf *c, int argc, char **argv);

#endif
