/*
 * wf_load - read and validate workflow files (see wf.h).
 *
 * Every check the engine relies on at run time is made here, so that
 * "regflowctl check" and a reload refuse exactly what would misbehave.
 * Errors are collected, not stopped at: an operator sees them all at once.
 */
#include "wf.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *job_types[] = {
	"register_email", "resend_activation", "activate", "send_code", "register_phone",
	"set_basic_info", "bind_phone", "bind_email", "assist_bind_request",
	"assist_bind_confirm", "assist_bind_decline", "id_photo_upload", "id_assist_request",
	"id_assist_confirm", "review_decision", "recover_username", "recover_password",
	"reset_password", NULL};

static const char *result_codes[] = {
	"OK", "EMAIL_REGISTERED", "PHONE_REGISTERED", "EMAIL_PENDING_ACTIVATION", "EMAIL_BOUND",
	"PHONE_BOUND", "ALREADY_ACTIVATED", "CODE_EXPIRED", "CODE_INVALID",
	"CODE_ATTEMPTS_EXCEEDED", "RATE_LIMITED", "BLACKLISTED", "IDNO_INVALID",
	"IDNO_PENDING_REVIEW", "IDNO_REGISTERED", "IDNO_IMMUTABLE", "PHOTO_FORMAT",
	"PHOTO_TOO_LARGE", "IN_USE", "ASSISTANT_NOT_ELIGIBLE", "NOT_FOUND", "DEREGISTERED", NULL};

static const char *arg_types[] = {"email", "password", "token", "string", NULL};

static int in_list(const char *const *list, const char *s)
{
	for (int i = 0; list[i]; i++)
		if (strcmp(list[i], s) == 0)
			return 1;
	return 0;
}

int wf_known_code(const char *code)
{
	return in_list(result_codes, code);
}

struct lctx {
	const char *file;
	struct wf_errs *errs;
};

static void lerr(struct lctx *lc, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void lerr(struct lctx *lc, int line, const char *fmt, ...)
{
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	lc->errs->v = xrealloc(lc->errs->v, sizeof(char *) * (size_t)(lc->errs->n + 1));
	lc->errs->v[lc->errs->n++] = xasprintf("%s:%d: %s", lc->file, line, why);
}

static int sline(const config_setting_t *s)
{
	return s ? (int)config_setting_source_line(s) : 0;
}

/* member_str - a string member of group g; missing and required is an error */
static char *member_str(struct lctx *lc, config_setting_t *g, const char *name, int required)
{
	config_setting_t *s = config_setting_get_member(g, name);
	if (!s) {
		if (required)
			lerr(lc, sline(g), "missing setting \"%s\"", name);
		return NULL;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		lerr(lc, sline(s), "\"%s\" must be a string", name);
		return NULL;
	}
	return xstrdup(config_setting_get_string(s));
}

static void check_known(struct lctx *lc, config_setting_t *g, const char *const *known,
			const char *what)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *n = config_setting_name(m);
		if (n && !in_list(known, n))
			lerr(lc, sline(m), "unknown setting \"%s\" in %s", n, what);
	}
}

/* tmpl_vars_check - every {{name}} in text must be in vars */
static void tmpl_vars_check(struct lctx *lc, int line, const char *text, const char *const *vars,
			    const char *where)
{
	const char *p = text;
	while (p && (p = strstr(p, "{{")) != NULL) {
		const char *e = strstr(p + 2, "}}");
		if (!e) {
			lerr(lc, line, "%s: unterminated {{", where);
			return;
		}
		char name[64];
		size_t n = (size_t)(e - p - 2);
		if (n == 0 || n >= sizeof(name)) {
			lerr(lc, line, "%s: bad variable name", where);
		} else {
			memcpy(name, p + 2, n);
			name[n] = 0;
			if (!in_list(vars, name))
				lerr(lc, line, "%s: unknown template variable {{%s}}", where, name);
		}
		p = e + 2;
	}
}

static void load_states(struct lctx *lc, struct wf *wf, config_setting_t *root)
{
	config_setting_t *g = config_setting_get_member(root, "states");
	if (!g || config_setting_type(g) != CONFIG_TYPE_GROUP) {
		lerr(lc, sline(g ? g : root), "\"states\" must be a group of states");
		return;
	}
	wf->nstates = config_setting_length(g);
	wf->states = xcalloc((size_t)wf->nstates, sizeof(*wf->states));
	for (int i = 0; i < wf->nstates; i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		struct wf_state *st = &wf->states[i];
		st->name = xstrdup(config_setting_name(s));
		st->line = sline(s);
		if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
			lerr(lc, st->line, "state \"%s\" must be a group", st->name);
			continue;
		}
		static const char *known[] = {"status", NULL};
		check_known(lc, s, known, "a state");
		st->status = member_str(lc, s, "status", 0);
	}
}

static void load_events(struct lctx *lc, struct wf *wf, config_setting_t *root)
{
	static const char *known[] = {"args", "subject", NULL};
	static const char *subj_known[] = {"by", "purpose", "missing", NULL};
	config_setting_t *g = config_setting_get_member(root, "events");
	if (!g || config_setting_type(g) != CONFIG_TYPE_GROUP) {
		lerr(lc, sline(g ? g : root), "\"events\" must be a group of job types");
		return;
	}
	wf->nevents = config_setting_length(g);
	wf->events = xcalloc((size_t)wf->nevents, sizeof(*wf->events));
	for (int i = 0; i < wf->nevents; i++) {
		config_setting_t *e = config_setting_get_elem(g, (unsigned)i);
		struct wf_event *ev = &wf->events[i];
		ev->name = xstrdup(config_setting_name(e));
		ev->line = sline(e);
		ev->wf = wf;
		ev->args = json_object();
		if (!in_list(job_types, ev->name))
			lerr(lc, ev->line, "unknown job type \"%s\"", ev->name);
		if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
			lerr(lc, ev->line, "event \"%s\" must be a group", ev->name);
			continue;
		}
		check_known(lc, e, known, "an event");
		config_setting_t *a = config_setting_get_member(e, "args");
		for (int j = 0; a && j < config_setting_length(a); j++) {
			config_setting_t *m = config_setting_get_elem(a, (unsigned)j);
			const char *t = config_setting_get_string(m);
			if (!config_setting_name(m) || !t) {
				lerr(lc, sline(m), "args: expected name = \"type\"");
				continue;
			}
			if (!in_list(arg_types, t))
				lerr(lc, sline(m), "argument \"%s\": unknown type \"%s\"",
				     config_setting_name(m), t);
			json_object_set_new(ev->args, config_setting_name(m), json_string(t));
		}
		config_setting_t *s = config_setting_get_member(e, "subject");
		if (!s || config_setting_type(s) != CONFIG_TYPE_GROUP) {
			lerr(lc, ev->line, "event \"%s\": missing subject = { by = ...; }", ev->name);
			continue;
		}
		check_known(lc, s, subj_known, "a subject");
		ev->by = member_str(lc, s, "by", 1);
		ev->purpose = member_str(lc, s, "purpose", 0);
		ev->missing = member_str(lc, s, "missing", 1);
		if (ev->by && strcmp(ev->by, "email") && strcmp(ev->by, "token") &&
		    strcmp(ev->by, "account"))
			lerr(lc, sline(s), "subject: unknown lookup \"%s\" (email, token, account)",
			     ev->by);
		if (ev->by && !json_object_get(ev->args, ev->by))
			lerr(lc, sline(s), "subject: by \"%s\" needs an argument of that name",
			     ev->by);
		if (ev->by && strcmp(ev->by, "token") == 0 && !ev->purpose)
			lerr(lc, sline(s), "subject: by token needs a purpose");
		if (ev->missing && strcmp(ev->missing, "create") && !wf_known_code(ev->missing))
			lerr(lc, sline(s), "subject: missing = \"%s\" is neither create nor a result code",
			     ev->missing);
	}
}

static char *load_body_file(struct lctx *lc, const char *dir, const char *name, int line)
{
	char *path = xasprintf("%s/%s", dir, name), *text = NULL;
	int rc = file_read(path, 1 << 20, &text, NULL);
	if (rc < 0)
		lerr(lc, line, "template body_file \"%s\": %s", path, strerror(-rc));
	free(path);
	return text;
}

static void load_templates(struct lctx *lc, struct wf *wf, config_setting_t *root, const char *dir)
{
	static const char *known[] = {"channel", "from_name", "subject", "body", "body_file", NULL};
	config_setting_t *g = config_setting_get_member(root, "templates");
	if (!g)
		return;
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		lerr(lc, sline(g), "\"templates\" must be a group");
		return;
	}
	wf->ntemplates = config_setting_length(g);
	wf->templates = xcalloc((size_t)wf->ntemplates, sizeof(*wf->templates));
	for (int i = 0; i < wf->ntemplates; i++) {
		config_setting_t *t = config_setting_get_elem(g, (unsigned)i);
		struct wf_template *tp = &wf->templates[i];
		tp->name = xstrdup(config_setting_name(t));
		tp->line = sline(t);
		if (config_setting_type(t) != CONFIG_TYPE_GROUP) {
			lerr(lc, tp->line, "template \"%s\" must be a group", tp->name);
			continue;
		}
		check_known(lc, t, known, "a template");
		tp->channel = member_str(lc, t, "channel", 1);
		tp->from_name = member_str(lc, t, "from_name", 0);
		tp->subject = member_str(lc, t, "subject", 0);
		tp->body = member_str(lc, t, "body", 0);
		char *bf = member_str(lc, t, "body_file", 0);
		if (bf && tp->body)
			lerr(lc, tp->line, "template \"%s\": body and body_file both given", tp->name);
		else if (bf)
			tp->body = load_body_file(lc, dir, bf, tp->line);
		else if (!tp->body)
			lerr(lc, tp->line, "template \"%s\": needs body or body_file", tp->name);
		free(bf);
		if (tp->channel && strcmp(tp->channel, "email") && strcmp(tp->channel, "sms"))
			lerr(lc, tp->line, "template \"%s\": channel must be email or sms", tp->name);
		if (tp->channel && strcmp(tp->channel, "email") == 0 && !tp->subject)
			lerr(lc, tp->line, "template \"%s\": an e-mail needs a subject", tp->name);
		if ((tp->subject && strpbrk(tp->subject, "\r\n")) ||
		    (tp->from_name && strpbrk(tp->from_name, "\r\n")))
			lerr(lc, tp->line, "template \"%s\": header text with a line break", tp->name);
	}
}

static void load_action(struct lctx *lc, struct wf *wf, struct wf_transition *tr,
			config_setting_t *a, struct wf_action *act, const char **vars, int *nvars)
{
	static const struct {
		const char *name;
		enum wf_act_kind kind;
		const char *params[4];
	} kinds[] = {
		{"set", WA_SET, {"field", "value", NULL}},
		{"set_password", WA_SET_PASSWORD, {NULL}},
		{"issue_token", WA_ISSUE_TOKEN, {"purpose", "valid", NULL}},
		{"verify_token", WA_VERIFY_TOKEN, {"purpose", NULL}},
		{"send", WA_SEND, {"template", "to", NULL}},
		{"reply", WA_REPLY, {"code", NULL}},
	};
	size_t k;
	act->line = sline(a);
	if (config_setting_type(a) != CONFIG_TYPE_GROUP) {
		lerr(lc, act->line, "an action must be a group { action = \"...\"; ... }");
		return;
	}
	char *name = member_str(lc, a, "action", 1);
	if (!name)
		return;
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		if (strcmp(kinds[k].name, name) == 0)
			break;
	if (k == sizeof(kinds) / sizeof(kinds[0])) {
		lerr(lc, act->line, "unknown action \"%s\"", name);
		free(name);
		return;
	}
	act->kind = kinds[k].kind;
	const char *known[6] = {"action"};
	for (int i = 0; kinds[k].params[i]; i++)
		known[i + 1] = kinds[k].params[i];
	check_known(lc, a, known, name);
	for (int i = 0; kinds[k].params[i]; i++) {
		const char *p = kinds[k].params[i];
		char *v = member_str(lc, a, p, 1);
		if (strcmp(p, "field") == 0)
			act->field = v;
		else if (strcmp(p, "value") == 0)
			act->value = v;
		else if (strcmp(p, "purpose") == 0)
			act->purpose = v;
		else if (strcmp(p, "template") == 0)
			act->tmpl = v;
		else if (strcmp(p, "to") == 0)
			act->to = v;
		else if (strcmp(p, "code") == 0)
			act->code = v;
		else if (strcmp(p, "valid") == 0) {
			if (v && duration_parse(v, &act->valid_ms) < 0)
				lerr(lc, act->line, "bad duration \"%s\" (use e.g. 30s, 15m, 2h, 1d)", v);
			free(v);
		}
	}
	free(name);
	const struct wf_event *ev = NULL;
	for (int i = 0; i < wf->nevents; i++)
		if (tr->on && strcmp(wf->events[i].name, tr->on) == 0)
			ev = &wf->events[i];
	switch (act->kind) {
	case WA_SET:
		if (act->value)
			tmpl_vars_check(lc, act->line, act->value, vars, "set");
		if (act->field && (strcmp(act->field, "pwhash") == 0 || strcmp(act->field, "id") == 0 ||
				   strncmp(act->field, "wf.", 3) == 0 || strcmp(act->field, "status") == 0))
			lerr(lc, act->line, "set: field \"%s\" is managed by the engine", act->field);
		break;
	case WA_SET_PASSWORD:
		if (ev && !json_object_get(ev->args, "password"))
			lerr(lc, act->line, "set_password: event \"%s\" has no password argument", tr->on);
		break;
	case WA_ISSUE_TOKEN:
		vars[(*nvars)++] = "token";
		vars[*nvars] = NULL;
		break;
	case WA_VERIFY_TOKEN:
		if (ev && !json_object_get(ev->args, "token"))
			lerr(lc, act->line, "verify_token: event \"%s\" has no token argument", tr->on);
		break;
	case WA_SEND: {
		const struct wf_template *t = act->tmpl ? wf_template_find(wf, act->tmpl) : NULL;
		if (act->tmpl && !t)
			lerr(lc, act->line, "send: no template \"%s\"", act->tmpl);
		if (act->to)
			tmpl_vars_check(lc, act->line, act->to, vars, "send to");
		if (t) {
			tmpl_vars_check(lc, act->line, t->body, vars, t->name);
			tmpl_vars_check(lc, act->line, t->subject, vars, t->name);
		}
		break;
	}
	case WA_REPLY:
		if (act->code && !wf_known_code(act->code))
			lerr(lc, act->line, "reply: unknown result code \"%s\"", act->code);
		break;
	}
}

static void load_transitions(struct lctx *lc, struct wf *wf, config_setting_t *root)
{
	static const char *known[] = {"on", "from", "to", "do", NULL};
	config_setting_t *l = config_setting_get_member(root, "transitions");
	if (!l || config_setting_type(l) != CONFIG_TYPE_LIST) {
		lerr(lc, sline(l ? l : root), "\"transitions\" must be a list ( {...}, ... )");
		return;
	}
	wf->ntrans = config_setting_length(l);
	wf->trans = xcalloc((size_t)wf->ntrans, sizeof(*wf->trans));
	for (int i = 0; i < wf->ntrans; i++) {
		config_setting_t *t = config_setting_get_elem(l, (unsigned)i);
		struct wf_transition *tr = &wf->trans[i];
		tr->line = sline(t);
		if (config_setting_type(t) != CONFIG_TYPE_GROUP) {
			lerr(lc, tr->line, "a transition must be a group { on = ...; from = ...; }");
			continue;
		}
		check_known(lc, t, known, "a transition");
		tr->on = member_str(lc, t, "on", 1);
		tr->from = member_str(lc, t, "from", 1);
		tr->to = member_str(lc, t, "to", 0);
		const struct wf_event *ev = NULL;
		for (int j = 0; tr->on && j < wf->nevents; j++)
			if (strcmp(wf->events[j].name, tr->on) == 0)
				ev = &wf->events[j];
		if (tr->on && !ev)
			lerr(lc, tr->line, "on: event \"%s\" is not declared in events", tr->on);
		if (tr->from && !wf_state_find(wf, tr->from))
			lerr(lc, tr->line, "from: unknown state \"%s\"", tr->from);
		if (tr->to && !wf_state_find(wf, tr->to))
			lerr(lc, tr->line, "to: unknown state \"%s\"", tr->to);
		for (int j = 0; j < i; j++)
			if (tr->on && tr->from && wf->trans[j].on && wf->trans[j].from &&
			    !strcmp(wf->trans[j].on, tr->on) && !strcmp(wf->trans[j].from, tr->from))
				lerr(lc, tr->line, "a transition on \"%s\" from \"%s\" exists already (line %d)",
				     tr->on, tr->from, wf->trans[j].line);
		config_setting_t *d = config_setting_get_member(t, "do");
		if (!d || config_setting_type(d) != CONFIG_TYPE_LIST) {
			lerr(lc, tr->line, "\"do\" must be a list of actions");
			continue;
		}
		/* template variables in scope: the event's arguments, the account id,
		 * and the secrets issued earlier in this transition */
		const char *vars[32] = {"account", NULL};
		int nvars = 1;
		const char *aname;
		json_t *atype;
		if (ev)
			json_object_foreach(ev->args, aname, atype) {
				if (strcmp(json_string_value(atype), "password") && nvars < 28)
					vars[nvars++] = aname;
			}
		vars[nvars] = NULL;
		tr->nacts = config_setting_length(d);
		tr->acts = xcalloc((size_t)tr->nacts, sizeof(*tr->acts));
		for (int j = 0; j < tr->nacts; j++)
			load_action(lc, wf, tr, config_setting_get_elem(d, (unsigned)j), &tr->acts[j],
				    vars, &nvars);
	}
}

/* check_reachable - every state must be reachable from start */
static void check_reachable(struct lctx *lc, struct wf *wf)
{
	char *seen = xcalloc((size_t)wf->nstates + 1, 1);
	int changed = 1;
	for (int i = 0; i < wf->nstates; i++)
		if (wf->start && strcmp(wf->states[i].name, wf->start) == 0)
			seen[i] = 1;
	while (changed) {
		changed = 0;
		for (int t = 0; t < wf->ntrans; t++) {
			struct wf_transition *tr = &wf->trans[t];
			int from = -1, to = -1;
			for (int i = 0; i < wf->nstates; i++) {
				if (tr->from && !strcmp(wf->states[i].name, tr->from))
					from = i;
				if (tr->to && !strcmp(wf->states[i].name, tr->to))
					to = i;
			}
			if (from >= 0 && to >= 0 && seen[from] && !seen[to])
				seen[to] = changed = 1;
		}
	}
	for (int i = 0; i < wf->nstates; i++)
		if (!seen[i])
			lerr(lc, wf->states[i].line, "state \"%s\" is unreachable from start \"%s\"",
			     wf->states[i].name, wf->start ? wf->start : "?");
	free(seen);
}

static struct wf *wf_load_file(const char *path, struct wf_errs *errs)
{
	static const char *known[] = {"workflow", "start", "states", "events", "templates",
				      "transitions", NULL};
	struct lctx lc = {path, errs};
	config_t cfg;
	struct wf *wf = NULL;
	char dir[1024];

	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	else
		snprintf(dir, sizeof(dir), ".");
	config_init(&cfg);
	config_set_include_dir(&cfg, dir);
	if (config_read_file(&cfg, path) != CONFIG_TRUE) {
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
			lerr(&lc, 0, "cannot read the file");
		else
			lerr(&lc, config_error_line(&cfg), "%s", config_error_text(&cfg));
		goto out;
	}
	config_setting_t *root = config_root_setting(&cfg);
	wf = xcalloc(1, sizeof(*wf));
	wf->file = xstrdup(path);
	check_known(&lc, root, known, "a workflow");
	wf->name = member_str(&lc, root, "workflow", 1);
	wf->start = member_str(&lc, root, "start", 1);
	load_states(&lc, wf, root);
	if (wf->start && wf->states && !wf_state_find(wf, wf->start))
		lerr(&lc, sline(config_setting_get_member(root, "start")), "start: unknown state \"%s\"",
		     wf->start);
	load_events(&lc, wf, root);
	load_templates(&lc, wf, root, dir);
	load_transitions(&lc, wf, root);
	check_reachable(&lc, wf);
out:
	config_destroy(&cfg);
	return wf;
}

static void wf_free(struct wf *wf)
{
	if (!wf)
		return;
	for (int i = 0; i < wf->nstates; i++) {
		free(wf->states[i].name);
		free(wf->states[i].status);
	}
	for (int i = 0; i < wf->nevents; i++) {
		struct wf_event *e = &wf->events[i];
		free(e->name);
		json_decref(e->args);
		free(e->by);
		free(e->purpose);
		free(e->missing);
	}
	for (int i = 0; i < wf->ntemplates; i++) {
		struct wf_template *t = &wf->templates[i];
		free(t->name);
		free(t->channel);
		free(t->from_name);
		free(t->subject);
		free(t->body);
	}
	for (int i = 0; i < wf->ntrans; i++) {
		struct wf_transition *t = &wf->trans[i];
		for (int j = 0; j < t->nacts; j++) {
			struct wf_action *a = &t->acts[j];
			free(a->field);
			free(a->value);
			free(a->purpose);
			free(a->tmpl);
			free(a->to);
			free(a->code);
		}
		free(t->acts);
		free(t->on);
		free(t->from);
		free(t->to);
	}
	free(wf->states);
	free(wf->events);
	free(wf->templates);
	free(wf->trans);
	free(wf->name);
	free(wf->file);
	free(wf->start);
	free(wf);
}

static void load_messages(struct wf_set *ws, const char *path, struct wf_errs *errs)
{
	struct lctx lc = {path, errs};
	config_t cfg;
	config_init(&cfg);
	if (config_read_file(&cfg, path) != CONFIG_TRUE) {
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
			lerr(&lc, 0, "cannot read the file");
		else
			lerr(&lc, config_error_line(&cfg), "%s", config_error_text(&cfg));
		goto out;
	}
	config_setting_t *g = config_lookup(&cfg, "messages");
	if (!g || config_setting_type(g) != CONFIG_TYPE_GROUP) {
		lerr(&lc, 1, "missing group \"messages\"");
		goto out;
	}
	for (int i = 0; i < config_setting_length(g); i++) {
		config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *code = config_setting_name(m);
		if (!wf_known_code(code))
			lerr(&lc, sline(m), "unknown result code \"%s\"", code);
		else if (config_setting_type(m) != CONFIG_TYPE_STRING)
			lerr(&lc, sline(m), "%s: the message must be a string", code);
		else
			json_object_set_new(ws->messages, code,
					    json_string(config_setting_get_string(m)));
	}
out:
	config_destroy(&cfg);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int wf_set_load(const char *dir, char **files, int nfiles, struct wf_set **out,
		struct wf_errs *errs)
{
	struct wf_set *ws = xcalloc(1, sizeof(*ws));
	char **names = NULL;
	int nnames = 0;

	ws->messages = json_object();
	ws->dir = xstrdup(dir);
	if (files) {
		names = xcalloc((size_t)nfiles + 1, sizeof(char *));
		for (int i = 0; i < nfiles; i++)
			names[nnames++] = xstrdup(files[i]);
	} else {
		DIR *d = opendir(dir);
		struct dirent *de;
		if (!d) {
			struct lctx lc = {dir, errs};
			lerr(&lc, 0, "cannot open the workflow directory: %s", strerror(errno));
			goto out;
		}
		while ((de = readdir(d)) != NULL) {
			size_t n = strlen(de->d_name);
			if (n > 3 && strcmp(de->d_name + n - 3, ".wf") == 0) {
				names = xrealloc(names, sizeof(char *) * (size_t)(nnames + 1));
				names[nnames++] = xasprintf("%s/%s", dir, de->d_name);
			}
		}
		closedir(d);
		qsort(names, (size_t)nnames, sizeof(char *), name_cmp);
	}
	char *mpath = xasprintf("%s/messages.conf", dir);
	load_messages(ws, mpath, errs);
	free(mpath);
	for (int i = 0; i < nnames; i++) {
		struct wf *wf = wf_load_file(names[i], errs);
		if (!wf)
			continue;
		ws->wfs = xrealloc(ws->wfs, sizeof(struct wf *) * (size_t)(ws->n + 1));
		ws->wfs[ws->n++] = wf;
		/* an event belongs to exactly one workflow */
		for (int e = 0; e < wf->nevents; e++)
			for (int w = 0; w < ws->n - 1; w++)
				for (int f = 0; f < ws->wfs[w]->nevents; f++)
					if (!strcmp(ws->wfs[w]->events[f].name, wf->events[e].name)) {
						struct lctx lc = {names[i], errs};
						lerr(&lc, wf->events[e].line,
						     "event \"%s\" is handled by %s already",
						     wf->events[e].name, ws->wfs[w]->file);
					}
		for (int w = 0; w < ws->n - 1; w++)
			if (wf->name && ws->wfs[w]->name && !strcmp(wf->name, ws->wfs[w]->name)) {
				struct lctx lc = {names[i], errs};
				lerr(&lc, 1, "workflow \"%s\" is defined in %s already", wf->name,
				     ws->wfs[w]->file);
			}
	}
out:
	for (int i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	if (errs->n > 0) {
		wf_set_free(ws);
		return -EINVAL;
	}
	*out = ws;
	return 0;
}

void wf_set_free(struct wf_set *ws)
{
	if (!ws)
		return;
	for (int i = 0; i < ws->n; i++)
		wf_free(ws->wfs[i]);
	free(ws->wfs);
	json_decref(ws->messages);
	free(ws->dir);
	free(ws);
}

void wf_errs_free(struct wf_errs *e)
{
	for (int i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
	e->v = NULL;
	e->n = 0;
}

const struct wf_event *wf_set_event(const struct wf_set *ws, const char *name)
{
	for (int w = 0; w < ws->n; w++)
		for (int i = 0; i < ws->wfs[w]->nevents; i++)
			if (strcmp(ws->wfs[w]->events[i].name, name) == 0)
				return &ws->wfs[w]->events[i];
	return NULL;
}

const struct wf_state *wf_state_find(const struct wf *wf, const char *name)
{
	for (int i = 0; i < wf->nstates; i++)
		if (strcmp(wf->states[i].name, name) == 0)
			return &wf->states[i];
	return NULL;
}

const struct wf_template *wf_template_find(const struct wf *wf, const char *name)
{
	for (int i = 0; i < wf->ntemplates; i++)
		if (strcmp(wf->templates[i].name, name) == 0)
			return &wf->templates[i];
	return NULL;
}

const char *wf_message(const struct wf_set *ws, const char *code)
{
	const char *m = json_string_value(json_object_get(ws->messages, code));
	return m ? m : "";
}
