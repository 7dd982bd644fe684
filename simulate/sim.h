/*
 * sim - regflowctl simulate: a scenario run against workflow files on an
 * in-memory store, touching nothing live.  A scenario is a text file, one
 * step a line:
 *
 *   # a comment
 *   register_email email=li@example.com password="correct horse"
 *   @yz send_code phone=13800138000 purpose=register     (as front yz; default www)
 *   activate token={{token}}          (the secret of the latest message sent)
 *   set_basic_info account={{account}} ...    (the latest account a reply named)
 *   +25h                              (the clock moves on; due timers fire)
 *
 * Each step prints its reply, each account's state changes and each
 * message that would be sent (secrets as ******); accounts are A1, A2, ...
 * in the order they appear, so the output is the same every run.
 */
#ifndef REGFLOW_SIM_H
#define REGFLOW_SIM_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

/* one step of a scenario */
struct sim_step {
	int line;
	int64_t advance_ms; /* a "+DURATION" line; else 0 */
	char *front, *type; /* a job line */
	json_t *args;	    /* name -> value as written ({{...}} not yet filled in) */
};

/* sim_parse - the steps of text; 0, or -EINVAL with err "FILE:LINE: why" */
int sim_parse(const char *file, const char *text, struct sim_step **out, int *n, char *err,
	      size_t errlen);
void sim_steps_free(struct sim_step *s, int n);

#endif
