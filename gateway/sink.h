/*
 * sink - the file sinks used when no relay (or SMS gateway) is configured:
 * each e-mail as <sink>/<id>.eml, each SMS as one JSON line in
 * <sink>/sms.jsonl.  Files are 0600; called from worker threads.
 */
#ifndef REGFLOW_SINK_H
#define REGFLOW_SINK_H

#include <stddef.h>

#include "spool.h"

/* sink_eml - write the message text to <dir>/<id>.eml atomically; its path in where */
int sink_eml(const char *dir, const char *id, const char *text, size_t len, char *where, size_t wn);
/* sink_sms - append {id,to,text,front,created} as one line to <dir>/sms.jsonl */
int sink_sms(const char *dir, const struct spool_msg *m, char *where, size_t wn);

#endif
