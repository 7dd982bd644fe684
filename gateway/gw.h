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

#include "codekey.h"
#include "conf.h"
#include "dkim.h"
#include "relay.h"
#include "spool.h"

/* an HTTP service messages are delivered to (sms.h): the SMS gateway, or a
 * check's service (the identity registry) */
struct sms_svc {
	const char *name; /* for the record: "sms gateway", "registry" */
	int check;	  /* a check: its answer read from the reply */
	const char *url, *fallback_url;
	int fallback_after;
	int64_t fallback_hold_ms;
	const char *method, *query, *body, *content_type;
	const char *username, *password, *from;
	int dlr_mask, max_inflight;
	int64_t timeout_ms;
	/* a check: the member of the JSON reply that answers ("a.b": nested),
	 * and the values that mean match and mismatch */
	const char *answer, *match, *mismatch;
};

struct gw_conf {
	const char *spool_dir;
	const char *relay; /* "" = e-mail to the file sink */
	const char *from;  /* envelope sender and From address */
	const char *helo;  /* "" = libesmtp's default */
	enum relay_starttls smtp_starttls;
	int smtp_tls_verify;	   /* refuse a relay certificate that does not verify */
	const char *smtp_ca_file;  /* "" = the system's CAs */
	const char *smtp_username; /* "" = no AUTH */
	const char *smtp_password; /* never logged */
	const char *sink_dir;
	const char *sms_url;	      /* "" = SMS to the file sink */
	const char *sms_fallback_url; /* "" = none; used while sms_url keeps failing */
	int sms_fallback_after;	      /* transient failures in a row that switch to it */
	int64_t sms_fallback_hold_ms; /* then how long before sms_url is tried again */
	const char *sms_username, *sms_password, *sms_from;
	const char *sms_method;	      /* GET | POST */
	const char *sms_query;	      /* template of the query string (sms.h) */
	const char *sms_body;	      /* POST: template of the body */
	const char *sms_content_type; /* POST: its type; "json" in it = JSON escaping */
	const char *sms_dlr_url;      /* "" = http://<listen>/dlr?id={{id}}&type=%d&answer=%A */
	const char *key_file;	      /* what report URLs and return paths are signed with */
	int verp;		      /* a return path that names the message (bounce+ID.SIG@) */
	const char *bounce_domain;    /* its domain ("" = gateway.smtp.from's) */
	const char *dkim_domain, *dkim_selector, *dkim_key_file; /* "" = no signing */
	struct dkim_key_conf dkim_keys[32]; /* that one, then gateway.dkim.keys */
	int ndkim;
	int dlr_max_per_msg; /* reports recorded for one message, at most */
	int dlr_rate;	     /* reports a second taken, at most (more: 429) */
	int sms_dlr_mask, sms_max_inflight;
	int64_t sms_timeout_ms;
	const char *listen;	/* DLR callbacks, /metrics, /health; "" = none */
	const char *starttls;	/* gateway.smtp.starttls as written */
	const char *engine_url; /* where outcomes are reported ("" = not reported) */
	const char *engine_ca;	/* https: the CA file the engine is checked with ("" = system's) */
	const char
		*engine_front; /* the gateway's name in tokens_file (its token: the gateway role) */
	const char *tokens_file;
	struct sms_svc sms;	 /* the SMS settings above, as the HTTP client takes them */
	struct sms_svc registry; /* gateway.registry: name + id number checks ("" url: none) */
	int64_t timeout_ms, retry_min_ms, retry_max_ms, lifetime_ms, scan_ms, sent_keep_ms;
	int connections, batch;
};

/* gw_conf_load - read every gateway setting; -EINVAL with conf_error() set */
int gw_conf_load(struct gw_conf *gc, struct conf *c);

/* GW_ANSWER: a check's answer (gw_item.answer), the check's "sent" */
enum gw_outcome { GW_SENT, GW_DEFER, GW_FAIL, GW_ANSWER };

struct gw_item {
	struct spool_msg m;
	enum gw_outcome outcome;
	int decided;	 /* outcome set (expired, sink, ...): not for the relay */
	int tried;	 /* a delivery attempt was made: counts in attempts */
	char answer[16]; /* GW_ANSWER: "match" or "mismatch" */
	char why[512];
};

struct gw_batch {
	uv_work_t work;
	struct gw *gw;
	struct report *report; /* in: where outcomes are told (may be NULL) */
	const struct gw_conf *conf;
	struct gw_item *items;
	size_t n;
	struct relay_tls *tls;		 /* in: the shared TLS context (NULL: no STARTTLS) */
	const struct dkim_signer *dkim;	 /* in: DKIM keys (NULL: none) */
	const struct codekey_ring *keys; /* in: what return paths are signed with */
	int relay_paused;		 /* in: relay backing off, defer e-mail untried */
	int64_t relay_until;		 /* in: when the relay is tried again */
	int record_only;		 /* in: every item decided already (SMS over HTTP) */
	int relay_used;			 /* out: a session was attempted */
	int relay_down;			 /* out: the relay could not be spoken to */
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

/* counters since start, for /metrics: [email, sms, check][sent, deferred, failed, answered] */
struct gw_counts {
	long outcome[SPOOL_NCHANNEL][4];
	long dlr[6]; /* delivered, failed, buffered, accepted, rejected, other */
};

struct sms;
struct http_server;
struct report;
struct gw_dlr;

struct gw {
	uv_loop_t *loop;
	struct gw_conf c;
	struct sms *sms;	   /* NULL: SMS go to the file sink with the e-mail batches */
	struct codekey_ring *keys; /* gateway.key_file: report URLs and return paths signed */
	int64_t dlr_window_ms;	   /* the second the rate counts in, and its count */
	int dlr_in_window;
	struct http_server *http; /* gateway.listen */
	struct gw_item **mailq;	  /* claimed, waiting for a worker (e-mail, sink SMS, expired) */
	size_t nmailq, capmailq;
	struct gw_item **smsq; /* claimed SMS waiting for room in the HTTP client */
	size_t nsmsq, capsmsq;
	struct sms *reg;       /* gateway.registry: the checks' client, or NULL */
	struct gw_item **chkq; /* claimed checks waiting for room in it */
	size_t nchkq, capchkq;
	struct gw_item **doneq; /* SMS decided, waiting to be recorded by a worker */
	size_t ndoneq, capdoneq;
	int recording;		 /* a record batch is on a worker */
	int dispatching;	 /* inside dispatch(): do not re-enter */
	struct gw_dlr *dlrq;	 /* delivery reports waiting for the worker, oldest first */
	struct gw_dlr *dlr_wait; /* reports for messages still in active/ */
	int dlr_running;	 /* a batch of reports is on a worker */
	struct gw_counts counts;
	uv_fs_event_t watch;
	uv_timer_t scan_timer, due_timer;
	uv_signal_t sigint, sigterm;
	char **pending; /* ids seen in incoming/, oldest first from head */
	size_t npending, head, cappending;
	struct gw_deferred *def; /* deferred/, sorted by id */
	size_t ndef, capdef;
	int64_t def_mtime_ns; /* deferred/ mtime at the last index rebuild */
	int64_t last_purge_ms;
	int inflight;
	struct relay_tls *smtp_tls; /* made at start when STARTTLS may be used */
	struct dkim_signer *dkim;   /* gateway.dkim: the keys mail is signed with */
	struct report *report;	    /* outcomes to the engine, or NULL */
	int relay_failures;
	int64_t relay_until;
	char relay_error[256];
	int stopping;
	int open_handles;
};

/* gw_listen_start - the HTTP listener on gateway.listen (listen.c) */
int gw_listen_start(struct gw *g);
/* gw_verp - message id's return path (common/verp.h), NULL without VERP */
char *gw_verp(const struct gw_conf *c, const struct codekey_ring *keys, const char *id);
/* gw_dlr_sig - "kid.MAC" of message id's report URL (kid NULL: the current key) */
int gw_dlr_sig(const struct gw *g, const char *kid, const char *id, char *out, size_t n);
/* gw_dlr_retry - requeue the delivery reports that waited for a message to leave active/ */
void gw_dlr_retry(struct gw *g);
/* gw_dlr_base - the dlr-url template sent with each SMS ("" without a listener) */
char *gw_dlr_base(struct gw *g);
/* gw_maybe_done - when stopping and nothing runs any more: close what keeps the loop */
void gw_maybe_done(struct gw *g);

/* gw_start - recover, scan, watch and start delivering on loop */
int gw_start(struct gw *g, uv_loop_t *loop, const struct gw_conf *c);
/* gw_free - release what the loop side holds, after the loop has ended */
void gw_free(struct gw *g);

#endif
