/*
 * report - the gateway tells the engine what became of each message (sent,
 * deferred, failed), so that the account's history answers the help desk's
 * "did the code go out, and when?".  POST /v1/outcomes with the gateway's
 * own token (its front in api.tokens_file holds the gateway role), in
 * batches, off the loop, retried; a report is a convenience (the spool file
 * is the record), so at most REPORT_MAX wait and the oldest go first.
 *
 * A check's answer is no convenience: the account waits for it.  It is
 * read from its file in answered/ at each POST (every half second), sent
 * until the engine answers 200 (which it does once the answer's job is
 * durable), and only then is the file removed.
 */
#ifndef REGFLOW_REPORT_H
#define REGFLOW_REPORT_H

#include "spool.h"

#include <uv.h>

struct report;
struct gw_conf;

/* report_open - NULL in *out when gateway.engine.url is empty (no reports) */
int report_open(uv_loop_t *loop, const struct gw_conf *c, struct report **out);
/* report_start - the timer that sends what waits */
void report_start(struct report *r);
/* report_add - one outcome (any thread); a message with no account is not reported */
void report_add(struct report *r, const struct spool_msg *m, const char *state, const char *detail);
/* report_close - stop (what waits is dropped); freed once nothing runs */
void report_close(struct report *r);

#endif
