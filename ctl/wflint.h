/*
 * wflint - regflowctl check's warnings: what a workflow set allows but
 * surely does not mean.  A state no transition, timer or goto enters; an
 * event no transition takes from a state the workflow reaches; a template
 * no action sends; and, for the whole set, a message of messages.conf that
 * no workflow or the engine itself answers with.  check --strict makes them
 * errors; the shipped files pass it.
 */
#ifndef REGFLOW_CTL_WFLINT_H
#define REGFLOW_CTL_WFLINT_H

#include "wf.h"

/* wf_lint - the warnings ("file:line: warning: ...") appended to out; whole:
 * the set is every workflow (the messages are judged too); their number */
int wf_lint(const struct wf_set *ws, int whole, struct wf_errs *out);

#endif
