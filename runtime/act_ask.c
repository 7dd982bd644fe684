/*
 * act_ask - a question to an outside service as a workflow step (issue 12):
 * the identity registry is asked whether a name and an id number belong
 * together.  The question is a spool message of channel "check" written
 * with the transition (so it is asked exactly when the transition commits,
 * and never lost: the outbox), delivered by the gateway over HTTP with its
 * retries; the answer comes back through POST /v1/outcomes as the event
 * SERVICE_answer (registry_answer) on the account, with the check's id.
 *
 * The question holds an id number: it is written for the gateway only (its
 * spool file 0600, emptied once answered and removed once the engine has
 * the answer), and the account's history names the check, never its fields.
 */
#include "spool.h"
#include "util.h"
#include "wf_acts.h"
#include "wf_run.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static int registry_on; /* engine.registry; loop thread, like the runs */

void wf_run_set_service(const char *name, int on)
{
	if (!strcmp(name, "registry"))
		registry_on = on;
}

/* question - the check's body: its fields as a JSON object of strings */
static char *question(struct wf_ctx *c, const struct wf_action *a)
{
	static const char *const fields[] = {"name", "id_type", "id_no", NULL};
	json_t *q = json_object();
	for (int i = 0; fields[i]; i++) {
		char *v = wf_render(c->vars, wf_p_str(a, fields[i]));
		json_object_set_new(q, fields[i], json_string(v)); /* NULL if not UTF-8: left out */
		free(v);
	}
	char *text = json_dumps(q, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(q);
	return text;
}

int act_ask(struct wf_ctx *c, const struct wf_action *a)
{
	const char *service = wf_p_str(a, "service");
	struct spool_msg m = {0};
	if (strcmp(service, "registry") || !registry_on)
		return 0;
	id_new(m.id);
	m.channel = "check";
	m.to = (char *)service;
	m.body = question(c, a);
	m.front = (char *)c->front;
	m.account = (char *)wf_ctx_account_id(c);
	m.created_ms = c->now;
	if (wf_acts_outbox_put(c, &m) == 0) {
		json_object_set_new(c->vars, "asked", json_string("1"));
		json_object_set_new(c->vars, "check", json_string(m.id));
		wf_ctx_history(c, "check",
			       json_pack("{s:s, s:s}", "spool", m.id, "service", service), 0);
	}
	free(m.body);
	return 0;
}
