/*
 * sms - an HTTP service the gateway delivers to (struct sms_svc): SMS
 * (Kannel's sendsms by default), or a check (the identity registry), with
 * libcurl's multi interface driven by the gateway's libuv loop: curl's
 * sockets become uv_poll handles, its timeout one uv_timer.  Connections are
 * kept alive and reused; at most max_inflight requests run at once.  One
 * client per service.  Loop thread only.
 *
 * The request is built from templates, each value escaped for where it
 * goes: URL-encoded in the query and in form bodies, JSON-escaped in a JSON
 * body.  An SMS has {{to}}, {{text}}, {{id}}, {{from}}, {{username}},
 * {{password}}, {{dlr_url}}, {{dlr_mask}}; a check {{id}}, {{username}},
 * {{password}} and its fields ({{name}}, {{id_type}}, {{id_no}}).
 */
#ifndef REGFLOW_SMS_H
#define REGFLOW_SMS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "gw.h"

struct sms;

/* sms_done_fn - the item's outcome is decided (sent, defer, fail); it is the callee's again */
typedef void (*sms_done_fn)(void *data, struct gw_item *it);

/* sms_new - a client for service v (kept by the caller); dlr_base "" = no delivery reports */
struct sms *sms_new(uv_loop_t *loop, const struct sms_svc *v, const char *dlr_base,
		    sms_done_fn done, void *data);
/* sms_sign_fn - the signature a message's report URL carries (into out) */
typedef int (*sms_sign_fn)(void *data, const char *id, char *out, size_t n);
/* sms_set_sign - report URLs signed by fn (with sms_new's data) */
void sms_set_sign(struct sms *s, sms_sign_fn fn);
/* sms_room - how many more requests may start now */
int sms_room(const struct sms *s);
/* sms_inflight - requests running */
int sms_inflight(const struct sms *s);
/* sms_submit - start the request for it (needs sms_room() > 0); done() is called later */
void sms_submit(struct sms *s, struct gw_item *it);
/* sms_free - no request may be running: close the handles, then free */
void sms_free(struct sms *s);

/* what the fallback did (gateway.sms.fallback_url), for /metrics */
struct sms_counts {
	uint64_t fallback_requests; /* requests sent to the fallback */
	uint64_t fallback_switches; /* times the primary was given up */
	uint64_t fallback_back;	    /* times the primary answered again */
	int on_fallback;	    /* now */
};
struct sms_counts sms_counts(const struct sms *s);

/*
 * sms_expand - expand tmpl for m; escape 'u' = URL-encode values, 'j' =
 * JSON-escape them.  -EINVAL (what in err) for an unknown {{name}}.  Exposed
 * for unit tests and for checking the configuration at start.
 */
int sms_expand(const char *tmpl, const struct spool_msg *m, const struct sms_svc *v,
	       const char *dlr_url, int escape, char **out, char *err, size_t errlen);

#endif
