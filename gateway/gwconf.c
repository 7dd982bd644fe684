/*
 * gwconf - the gateway's settings (SPEC section 2): a table of each
 * setting's name, type, default and range, read in one call, then the
 * checks of the settings that hang together.
 */
#include "gw.h"
#include "sms.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SMS_KANNEL_QUERY                                                                           \
	"username={{username}}&password={{password}}&to={{to}}&text={{text}}"                      \
	"&charset=UTF-8&coding=2&dlr-mask={{dlr_mask}}&dlr-url={{dlr_url}}"

/* the registry's request by default: the fields as JSON, the message id as a reference */
#define REGISTRY_BODY                                                                              \
	"{\"name\":\"{{name}}\",\"id_type\":\"{{id_type}}\",\"id_no\":\"{{id_no}}\","              \
	"\"ref\":\"{{id}}\"}"

#define S(f) offsetof(struct gw_conf, f)
#define DAY (86400000LL)
static const struct conf_item table[] = {
	{"spool.dir", CONF_STR, "spool", 0, 0, S(spool_dir)},
	{"gateway.smtp.relay", CONF_STR, "", 0, 0, S(relay)},
	{"gateway.smtp.from", CONF_STR, "noreply@chsi.com.cn", 0, 0, S(from)},
	{"gateway.smtp.helo", CONF_STR, "", 0, 0, S(helo)},
	{"gateway.smtp.starttls", CONF_STR, "try", 0, 0, S(starttls)},
	{"gateway.smtp.tls_verify", CONF_BOOL, "true", 0, 0, S(smtp_tls_verify)},
	{"gateway.smtp.ca_file", CONF_STR, "", 0, 0, S(smtp_ca_file)},
	{"gateway.smtp.username", CONF_STR, "", 0, 0, S(smtp_username)},
	{"gateway.smtp.password", CONF_STR, "", 0, 0, S(smtp_password)},
	{"gateway.smtp.timeout", CONF_DUR, "30s", 10, DAY, S(timeout_ms)},
	{"gateway.smtp.connections", CONF_INT32, "4", 1, 64, S(connections)},
	{"gateway.smtp.batch", CONF_INT32, "50", 1, 10000, S(batch)},
	{"gateway.retry.min", CONF_DUR, "30s", 1, 30 * DAY, S(retry_min_ms)},
	{"gateway.retry.max", CONF_DUR, "1h", 1, 30 * DAY, S(retry_max_ms)},
	{"gateway.retry.lifetime", CONF_DUR, "5d", 1000, 365 * DAY, S(lifetime_ms)},
	{"gateway.sink.dir", CONF_STR, "var/sink", 0, 0, S(sink_dir)},
	{"gateway.sms.url", CONF_STR, "", 0, 0, S(sms_url)},
	{"gateway.sms.fallback_url", CONF_STR, "", 0, 0, S(sms_fallback_url)},
	{"gateway.sms.fallback_after", CONF_INT32, "5", 1, 100000, S(sms_fallback_after)},
	{"gateway.sms.fallback_hold", CONF_DUR, "60s", 10, DAY, S(sms_fallback_hold_ms)},
	{"gateway.sms.username", CONF_STR, "", 0, 0, S(sms_username)},
	{"gateway.sms.password", CONF_STR, "", 0, 0, S(sms_password)},
	{"gateway.sms.from", CONF_STR, "", 0, 0, S(sms_from)},
	{"gateway.sms.method", CONF_STR, "GET", 0, 0, S(sms_method)},
	{"gateway.sms.query", CONF_STR, "", 0, 0, S(sms_query)},
	{"gateway.sms.body", CONF_STR, "", 0, 0, S(sms_body)},
	{"gateway.sms.content_type", CONF_STR, "application/x-www-form-urlencoded", 0, 0,
	 S(sms_content_type)},
	{"gateway.sms.dlr_url", CONF_STR, "", 0, 0, S(sms_dlr_url)},
	{"gateway.sms.dlr_mask", CONF_INT32, "27", 0, 31, S(sms_dlr_mask)},
	{"gateway.key_file", CONF_STR, "var/gateway.key", 0, 0, S(key_file)},
	{"gateway.smtp.verp", CONF_BOOL, "true", 0, 0, S(verp)},
	{"gateway.smtp.bounce_domain", CONF_STR, "", 0, 0, S(bounce_domain)},
	{"gateway.dkim.domain", CONF_STR, "", 0, 0, S(dkim_domain)},
	{"gateway.dkim.selector", CONF_STR, "", 0, 0, S(dkim_selector)},
	{"gateway.dkim.key_file", CONF_STR, "", 0, 0, S(dkim_key_file)},
	{"gateway.dkim.keys", CONF_OWN, "", 0, 0, 0},
	{"gateway.sms.dlr_max_per_message", CONF_INT32, "10", 1, 1000, S(dlr_max_per_msg)},
	{"gateway.sms.dlr_rate", CONF_INT32, "500", 1, 1000000, S(dlr_rate)},
	{"gateway.sms.max_inflight", CONF_INT32, "16", 1, 1024, S(sms_max_inflight)},
	{"gateway.sms.timeout", CONF_DUR, "10s", 10, DAY, S(sms_timeout_ms)},
	{"gateway.listen", CONF_STR, "", 0, 0, S(listen)},
	{"gateway.scan_interval", CONF_DUR, "5s", 10, DAY, S(scan_ms)},
	{"gateway.sent_retention", CONF_DUR, "7d", 1000, 3650 * DAY, S(sent_keep_ms)},
	{"gateway.engine.url", CONF_STR, "", 0, 0, S(engine_url)},
	{"gateway.engine.front", CONF_STR, "gateway", 0, 0, S(engine_front)},
	{"gateway.engine.ca_file", CONF_STR, "", 0, 0, S(engine_ca)},
	{"api.tokens_file", CONF_STR, "conf/tokens", 0, 0, S(tokens_file)},
	/* the identity registry (off while url is ""): name + id number checks */
	{"gateway.registry.url", CONF_STR, "", 0, 0, S(registry.url)},
	{"gateway.registry.method", CONF_STR, "POST", 0, 0, S(registry.method)},
	{"gateway.registry.query", CONF_STR, "", 0, 0, S(registry.query)},
	{"gateway.registry.body", CONF_STR, REGISTRY_BODY, 0, 0, S(registry.body)},
	{"gateway.registry.content_type", CONF_STR, "application/json", 0, 0,
	 S(registry.content_type)},
	{"gateway.registry.username", CONF_STR, "", 0, 0, S(registry.username)},
	{"gateway.registry.password", CONF_STR, "", 0, 0, S(registry.password)},
	{"gateway.registry.answer", CONF_STR, "result", 0, 0, S(registry.answer)},
	{"gateway.registry.match", CONF_STR, "match", 0, 0, S(registry.match)},
	{"gateway.registry.mismatch", CONF_STR, "mismatch", 0, 0, S(registry.mismatch)},
	{"gateway.registry.timeout", CONF_DUR, "10s", 10, DAY, S(registry.timeout_ms)},
	{"gateway.registry.max_inflight", CONF_INT32, "8", 1, 1024, S(registry.max_inflight)},
	{NULL, 0, NULL, 0, 0, 0},
};
#undef S

/* endpoint_ok - "host:port" (a listener, a relay) */
static int endpoint_ok(const char *s)
{
	return !*s || strchr(s, ':') != NULL;
}

/* url_ok - empty, or http:// or https:// */
static int url_ok(const char *s)
{
	return !*s || !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8);
}

/* svc_conf_check - a service's templates expand for a sample message */
static int svc_conf_check(const struct sms_svc *v, const char *prefix, struct conf *c)
{
	struct spool_msg m = {
		.id = "0000000000000",
		.channel = v->check ? "check" : "sms",
		.to = v->check ? "registry" : "13800138000",
		.body = v->check ? "{\"name\":\"x\",\"id_type\":\"x\",\"id_no\":\"x\"}" : "x"};
	char err[128], *out;

	if (sms_expand(v->query, &m, v, "", 'u', &out, err, sizeof(err)) < 0) {
		snprintf(c->err, sizeof(c->err), "%s.query: %s", prefix, err);
		return -EINVAL;
	}
	free(out);
	if (sms_expand(v->body, &m, v, "", 'u', &out, err, sizeof(err)) < 0) {
		snprintf(c->err, sizeof(c->err), "%s.body: %s", prefix, err);
		return -EINVAL;
	}
	free(out);
	return 0;
}

/* registry_check - gateway.registry's settings that hang together */
static void registry_check(struct gw_conf *gc, struct conf *c)
{
	const struct sms_svc *v = &gc->registry;
	if (!url_ok(v->url))
		snprintf(c->err, sizeof(c->err),
			 "gateway.registry.url: expected http:// or https://");
	else if (strcasecmp(v->method, "GET") && strcasecmp(v->method, "POST"))
		snprintf(c->err, sizeof(c->err), "gateway.registry.method: GET or POST");
	else if (*v->url && !*gc->engine_url)
		snprintf(c->err, sizeof(c->err),
			 "gateway.registry.url: needs gateway.engine.url (the answers go to the "
			 "engine)");
	else if (!*v->answer || !*v->match || !*v->mismatch || !strcmp(v->match, v->mismatch))
		snprintf(c->err, sizeof(c->err),
			 "gateway.registry: answer must name a member, and match and mismatch "
			 "be two different values (an empty one would take a reply without an "
			 "answer for one)");
	else if (*v->url && !strcasecmp(v->method, "GET") && !*v->query)
		snprintf(c->err, sizeof(c->err),
			 "gateway.registry.query: a GET needs one (the fields go in it)");
	else
		svc_conf_check(v, "gateway.registry", c);
}

/* sms_svc_fill - the SMS settings as the HTTP client takes them */
static void sms_svc_fill(struct gw_conf *gc)
{
	gc->sms = (struct sms_svc){.name = "sms gateway",
				   .url = gc->sms_url,
				   .fallback_url = gc->sms_fallback_url,
				   .fallback_after = gc->sms_fallback_after,
				   .fallback_hold_ms = gc->sms_fallback_hold_ms,
				   .method = gc->sms_method,
				   .query = gc->sms_query,
				   .body = gc->sms_body,
				   .content_type = gc->sms_content_type,
				   .username = gc->sms_username,
				   .password = gc->sms_password,
				   .from = gc->sms_from,
				   .dlr_mask = gc->sms_dlr_mask,
				   .max_inflight = gc->sms_max_inflight,
				   .timeout_ms = gc->sms_timeout_ms};
	gc->registry.name = "registry";
	gc->registry.check = 1;
	gc->registry.fallback_url = "";
}

/* smtp_conf_check - STARTTLS and AUTH settings that hang together */
static void smtp_conf_check(struct gw_conf *gc, struct conf *c, const char *starttls)
{
	if (relay_starttls_parse(starttls, &gc->smtp_starttls) < 0)
		snprintf(c->err, sizeof(c->err),
			 "gateway.smtp.starttls: \"no\", \"try\" or \"require\"");
	else if (!*gc->smtp_username != !*gc->smtp_password)
		snprintf(c->err, sizeof(c->err),
			 "gateway.smtp.username and gateway.smtp.password: set both or neither");
	else if (*gc->smtp_username && gc->smtp_starttls == RELAY_STARTTLS_NO)
		snprintf(c->err, sizeof(c->err),
			 "gateway.smtp.username: AUTH is only done over TLS: set "
			 "gateway.smtp.starttls to \"require\" (or \"try\")");
	/* the PLAIN and LOGIN plugins copy each into 255 bytes */
	else if (strlen(gc->smtp_username) > 255 || strpbrk(gc->smtp_username, "\r\n"))
		snprintf(c->err, sizeof(c->err),
			 "gateway.smtp.username: at most 255 bytes, one line");
	else if (strlen(gc->smtp_password) > 255 || strpbrk(gc->smtp_password, "\r\n"))
		snprintf(c->err, sizeof(c->err),
			 "gateway.smtp.password: at most 255 bytes, one line");
}

/* check - the settings that hang together */
static void check(struct gw_conf *gc, struct conf *c)
{
	if (gc->retry_max_ms < gc->retry_min_ms)
		snprintf(c->err, sizeof(c->err), "gateway.retry: need min <= max");
	else if (!endpoint_ok(gc->relay))
		snprintf(c->err, sizeof(c->err), "gateway.smtp.relay: expected host:port");
	else if (!strchr(gc->from, '@') || strpbrk(gc->from, "<> \r\n"))
		snprintf(c->err, sizeof(c->err), "gateway.smtp.from: expected a plain address");
	else if (!url_ok(gc->sms_url))
		snprintf(c->err, sizeof(c->err), "gateway.sms.url: expected http:// or https://");
	else if (!url_ok(gc->sms_fallback_url))
		snprintf(c->err, sizeof(c->err),
			 "gateway.sms.fallback_url: expected http:// or https://");
	else if (*gc->sms_fallback_url && !*gc->sms_url)
		snprintf(c->err, sizeof(c->err),
			 "gateway.sms.fallback_url: needs gateway.sms.url (it is the fallback of "
			 "it)");
	else if (*gc->sms_fallback_url && !strcmp(gc->sms_fallback_url, gc->sms_url))
		snprintf(c->err, sizeof(c->err),
			 "gateway.sms.fallback_url: the same as gateway.sms.url");
	else if (!url_ok(gc->engine_url))
		snprintf(c->err, sizeof(c->err),
			 "gateway.engine.url: expected http:// or https://");
	else if (strcasecmp(gc->sms_method, "GET") && strcasecmp(gc->sms_method, "POST"))
		snprintf(c->err, sizeof(c->err), "gateway.sms.method: GET or POST");
	else if (!endpoint_ok(gc->listen))
		snprintf(c->err, sizeof(c->err), "gateway.listen: expected host:port");
	else
		smtp_conf_check(gc, c, gc->starttls);
	if (!conf_error(c))
		svc_conf_check(&gc->sms, "gateway.sms", c);
	if (!conf_error(c))
		registry_check(gc, c);
}

/* dkim_keys - gateway.dkim.domain/selector/key_file, then each of the list
 * gateway.dkim.keys = ( { domain; selector; key_file; }, ... ) */
static void dkim_keys(struct gw_conf *gc, struct conf *c)
{
	if (*gc->dkim_domain || *gc->dkim_selector || *gc->dkim_key_file)
		gc->dkim_keys[gc->ndkim++] = (struct dkim_key_conf){
			gc->dkim_domain, gc->dkim_selector, gc->dkim_key_file};
	config_setting_t *l = config_lookup(&c->cfg, "gateway.dkim.keys");
	if (l && config_setting_type(l) != CONFIG_TYPE_LIST) {
		snprintf(c->err, sizeof(c->err), "gateway.dkim.keys: a list ( { domain = ...; } )");
		return;
	}
	for (int i = 0; l && i < config_setting_length(l); i++) {
		config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
		struct dkim_key_conf k = {NULL, NULL, NULL};
		if (gc->ndkim == 32) {
			snprintf(c->err, sizeof(c->err), "gateway.dkim.keys: at most 32 domains");
			return;
		}
		config_setting_lookup_string(e, "domain", &k.domain);
		config_setting_lookup_string(e, "selector", &k.selector);
		config_setting_lookup_string(e, "key_file", &k.key_file);
		gc->dkim_keys[gc->ndkim++] = k;
	}
}

int gw_conf_load(struct gw_conf *gc, struct conf *c)
{
	static const char *const own[] = {"gateway", NULL};
	memset(gc, 0, sizeof(*gc));
	if (conf_check_known(c, table, own) < 0 || conf_read(c, table, gc) < 0)
		return -EINVAL;
	if (!*gc->sms_query) /* Kannel's sendsms shape by default */
		gc->sms_query =
			*gc->sms_from ? SMS_KANNEL_QUERY "&from={{from}}" : SMS_KANNEL_QUERY;
	sms_svc_fill(gc);
	check(gc, c);
	dkim_keys(gc, c);
	return conf_error(c) ? -EINVAL : 0;
}
