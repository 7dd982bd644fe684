/*
 * gw - the gateway daemon's private header: settings, the loop-side
 * scheduler (gw.c) and the worker-side delivery of a batch (deliver.c).
 *
 * The loop thread owns every field of struct gw and only renames files
 * (cheap, no fsync); a batch is delivered and its files rewritten (fsync)
 * on a libuv worker thread, which touches nothing but its batch.
 */
#ifndef REGFLOW_GW_H
#define REGFLOW_GW_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "conf.h"
#include "spool.h"

struct gw_conf {
	const char *spool_dir;
	const char *relay;  /* "" = e-mail to the file sink */
	const char *from;   /* envelope sender and From address */
	const char *helo;   /* "" = libesmtp's default */
	const char *sink_dir;
	const char *sms_url; /* "" = SMS to the file sink */
	int64_t timeout_ms, retry_min_ms, retry_max_ms, lifetime_ms, scan_ms, sent_keep_ms;
	int connections, batch;
};

/* gw_conf_load - read every gateway setting; -EINVAL with conf_error() set */
int gw_conf_load(struct gw_conf *gc, struct conf *c);

enum gw_outcome { GW_SENT, GW_DEFER, GW_FAIL };

struct gw_item {
	struct spool_msg m;
	enum gw_outcome outcome;
	int decided; /* outcome set (expired, sink, ...): not for the relay */
	int tried;   /* a delivery attempt was made: counts in attempts */
	char why[512];
};

struct gw_batch {
	uv_work_t work;
	struct gw *gw;
	const struct gw_conf *conf;
	struct gw_item *items;
	size_t n;
	int relay_paused;     /* in: relay backing off, defer e-mail untried */
	int64_t relay_until;  /* in: when the relay is tried again */
	int relay_used;	      /* out: a session was attempted */
	int relay_down;	      /* out: the relay could not be spoken to */
	char relay_error[256];
};

/* gw_backoff - the delay before retry number attempts (>= 1), with jitter */
int64_t gw_backoff(const struct gw_conf *c, int attempts);
/* deliver_batch - worker thread: deliver every item and move its file on */
void deliver_batch(struct gw_batch *b);

struct gw_deferred {
	char id[ID_LEN + 1];
	int64_t due;
};

struct gw {
	uv_loop_t *loop;
	struct gw_conf c;
	uv_fs_event_t watch;
	uv_timer_t scan_timer, due_timer;
	uv_signal_t sigint, sigterm;
	char **pending; /* ids seen in incoming/, oldest first from head */
	size_t npending, head, cappending;
	struct gw_deferred *def; /* deferred/, sorted by id */
	size_t ndef, capdef;
	int64_t def_mtime_ns;	 /* deferred/ mtime at the last index rebuild */
	int64_t last_purge_ms;
	int inflight;
	int relay_failures;
	int64_t relay_until;
	char relay_error[256];
	int stopping;
	int open_handles;
};

/* gw_start - recover, scan, watch and start delivering on loop */
int gw_start(struct gw *g, uv_loop_t *loop, const struct gw_conf *c);
/* gw_free - release what the loop side holds, after the loop has ended */
void gw_free(struct gw *g);

#endif
