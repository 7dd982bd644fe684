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

/* scope - the template variables visible to an action list */
struct scope {
	const char *v[48];
	int n;
};

static void load_cond(struct lctx *lc, config_setting_t *g, struct wf_cond *c, struct scope *sc);

static void scope_add(struct scope *sc, const char *name)
{
	for (int i = 0; i < sc->n; i++)
		if (strcmp(sc->v[i], name) == 0)
			return;
	if (sc->n < 47) {
		sc->v[sc->n++] = name;
		sc->v[sc->n] = NULL;
	}
}

/* scope_add_copy - like scope_add for a name that is not a literal */
static void scope_add_copy(struct scope *sc, const char *name)
{
	static json_t *names; /* interned: the scope only holds pointers */
	if (!names)
		names = json_object();
	if (!json_object_get(names, name))
		json_object_set_new(names, name, json_string(name));
	scope_add(sc, json_string_value(json_object_get(names, name)));
}

/* scope_base - what every action list sees: the account's own fields */
static void scope_base(struct scope *sc)
{
	static const char *base[] = {"account", "front", "email", "phone", "name", "username",
				     "login", "masked_login", NULL};
	sc->n = 0;
	sc->v[0] = NULL;
	for (int i = 0; base[i]; i++)
		scope_add(sc, base[i]);
}

int wf_field_reserved(const char *f)
{
	static const char *reserved[] = {"id", "kind", "pwhash", "status", "created", "account", NULL};
	return in_list(reserved, f) || strncmp(f, "wf.", 3) == 0;
}

/* load_param - check one parameter of an action and store it converted */
static void load_param(struct lctx *lc, struct wf *wf, struct wf_action *act,
		       const struct wf_param *pd, config_setting_t *s, struct scope *sc)
{
	const char *name = pd->name;
	int line = sline(s);
	if (pd->kind == WP_RULES) {
		if (config_setting_type(s) != CONFIG_TYPE_LIST) {
			lerr(lc, line, "%s: expected a list ( { max = N; per = \"1h\"; }, ... )", name);
			return;
		}
		json_t *rules = json_array();
		for (int i = 0; i < config_setting_length(s); i++) {
			config_setting_t *r = config_setting_get_elem(s, (unsigned)i);
			int max = 0;
			const char *per = NULL;
			int64_t ms;
			if (config_setting_type(r) != CONFIG_TYPE_GROUP ||
			    !config_setting_lookup_int(r, "max", &max) ||
			    !config_setting_lookup_string(r, "per", &per)) {
				lerr(lc, sline(r), "%s: each rule is { max = N; per = \"DURATION\"; }", name);
				continue;
			}
			if (max < 1)
				lerr(lc, sline(r), "%s: max must be at least 1", name);
			if (duration_parse(per, &ms) < 0 || ms <= 0)
				lerr(lc, sline(r), "bad duration \"%s\" (use e.g. 30s, 15m, 2h, 1d)", per);
			json_array_append_new(rules, json_pack("{s:i, s:I}", "max", max, "per", (json_int_t)ms));
		}
		json_object_set_new(act->p, name, rules);
		return;
	}
	if (pd->kind == WP_BLACKLIST) {
		int max = 0;
		const char *per = NULL, *dur = NULL;
		int64_t per_ms = 0, for_ms = 0;
		if (config_setting_type(s) != CONFIG_TYPE_GROUP ||
		    !config_setting_lookup_int(s, "max", &max) ||
		    !config_setting_lookup_string(s, "per", &per) ||
		    !config_setting_lookup_string(s, "for", &dur)) {
			lerr(lc, line, "%s: expected { max = N; per = \"1d\"; for = \"1d\"; }", name);
			return;
		}
		if (duration_parse(per, &per_ms) < 0 || per_ms <= 0)
			lerr(lc, line, "bad duration \"%s\" (use e.g. 30s, 15m, 2h, 1d)", per);
		if (duration_parse(dur, &for_ms) < 0 || for_ms <= 0)
			lerr(lc, line, "bad duration \"%s\" (use e.g. 30s, 15m, 2h, 1d)", dur);
		json_object_set_new(act->p, name, json_pack("{s:i, s:I, s:I}", "max", max, "per",
							    (json_int_t)per_ms, "for", (json_int_t)for_ms));
		return;
	}
	if (pd->kind == WP_INT) {
		if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64) {
			lerr(lc, line, "%s must be an integer", name);
			return;
		}
		long long v = config_setting_get_int64(s);
		if (v < 1 || v > 1000000)
			lerr(lc, line, "%s: %lld is out of range", name, v);
		json_object_set_new(act->p, name, json_integer(v));
		return;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		lerr(lc, line, "%s must be a string", name);
		return;
	}
	const char *v = config_setting_get_string(s);
	switch (pd->kind) {
	case WP_DUR: {
		int64_t ms;
		if (duration_parse(v, &ms) < 0 || ms <= 0) {
			lerr(lc, line, "bad duration \"%s\" (use e.g. 30s, 15m, 2h, 1d)", v);
			return;
		}
		json_object_set_new(act->p, name, json_integer(ms));
		return;
	}
	case WP_CODE:
		if (!wf_known_code(v))
			lerr(lc, line, "%s: unknown result code \"%s\"", act->def->name, v);
		break;
	case WP_TEMPLATE: {
		const struct wf_template *t = wf_template_find(wf, v);
		/* and every per-front variant "name@front" sees the same variables */
		for (int i = 0; t && i < wf->ntemplates; i++) {
			const char *tn = wf->templates[i].name;
			size_t l = strlen(v);
			if (!strncmp(tn, v, l) && tn[l] == '@') {
				tmpl_vars_check(lc, line, wf->templates[i].body, sc->v, tn);
				tmpl_vars_check(lc, line, wf->templates[i].subject, sc->v, tn);
			}
		}
		if (!t) {
			lerr(lc, line, "%s: no template \"%s\"", act->def->name, v);
			break;
		}
		tmpl_vars_check(lc, line, t->body, sc->v, t->name);
		tmpl_vars_check(lc, line, t->subject, sc->v, t->name);
		break;
	}
	case WP_STATE:
		if (!wf_state_find(wf, v))
			lerr(lc, line, "%s: unknown state \"%s\"", act->def->name, v);
		break;
	case WP_FIELD:
		if (wf_field_reserved(v))
			lerr(lc, line, "%s: field \"%s\" is managed by the engine", act->def->name, v);
		break;
	case WP_TMPL:
		tmpl_vars_check(lc, line, v, sc->v, act->def->name);
		break;
	default:
		break;
	}
	json_object_set_new(act->p, name, json_string(v));
}

/* needs_arg - actions that read an argument of the event */
static void needs_arg(struct lctx *lc, const struct wf_event *ev, const struct wf_action *act)
{
	static const struct {
		const char *action, *arg;
	} needs[] = {{"set_password", "password"}, {"verify_token", "token"}, {"verify_code", "code"}};
	for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]); i++)
		if (!strcmp(act->def->name, needs[i].action) &&
		    (!ev || !json_object_get(ev->args, needs[i].arg)))
			lerr(lc, act->line, "%s: %s has no %s argument", act->def->name,
			     ev ? ev->name : "a timer", needs[i].arg);
}

static void load_action(struct lctx *lc, struct wf *wf, const struct wf_event *ev,
			config_setting_t *a, struct wf_action *act, struct scope *sc)
{
	act->line = sline(a);
	act->p = json_object();
	if (config_setting_type(a) != CONFIG_TYPE_GROUP) {
		lerr(lc, act->line, "an action must be a group { action = \"...\"; ... }");
		return;
	}
	char *name = member_str(lc, a, "action", 1);
	if (!name)
		return;
	act->def = wf_action_lookup(name);
	if (!act->def) {
		lerr(lc, act->line, "unknown action \"%s\"", name);
		free(name);
		return;
	}
	free(name);
	/* what it provides is in scope for its own templates and what follows:
	 * names separated by spaces */
	for (const char *p = act->def->provides; p && *p;) {
		size_t n = strcspn(p, " ");
		char pname[64];
		snprintf(pname, sizeof(pname), "%.*s", (int)n, p);
		scope_add_copy(sc, pname);
		p += n;
		while (*p == ' ')
			p++;
	}
	const char *known[12] = {"action", "if"};
	int nk = 2;
	for (int i = 0; act->def->params[i].name; i++)
		known[nk++] = act->def->params[i].name;
	known[nk] = NULL;
	check_known(lc, a, known, act->def->name);
	for (int i = 0; act->def->params[i].name; i++) {
		const struct wf_param *pd = &act->def->params[i];
		config_setting_t *s = config_setting_get_member(a, pd->name);
		if (!s) {
			if (pd->required)
				lerr(lc, act->line, "%s: missing setting \"%s\"", act->def->name, pd->name);
			continue;
		}
		load_param(lc, wf, act, pd, s, sc);
	}
	config_setting_t *cif = config_setting_get_member(a, "if");
	if (cif) {
		act->cond = xcalloc(1, sizeof(*act->cond));
		load_cond(lc, cif, act->cond, sc);
	}
	needs_arg(lc, ev, act);
}

static void load_actions(struct lctx *lc, struct wf *wf, const struct wf_event *ev,
			 config_setting_t *d, struct wf_action **acts, int *nacts, struct scope *sc)
{
	*nacts = config_setting_length(d);
	*acts = xcalloc((size_t)*nacts + 1, sizeof(**acts));
	for (int j = 0; j < *nacts; j++)
		load_action(lc, wf, ev, config_setting_get_elem(d, (unsigned)j), &(*acts)[j], sc);
}

static void load_cond(struct lctx *lc, config_setting_t *g, struct wf_cond *c, struct scope *sc)
{
	static const char *known[] = {"field", "equals", "set", "not", NULL};
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		lerr(lc, sline(g), "a guard is { field = \"...\"; set = true; } or { field; equals }");
		return;
	}
	check_known(lc, g, known, "a guard");
	c->field = member_str(lc, g, "field", 1);
	c->equals = member_str(lc, g, "equals", 0);
	if (c->equals)
		tmpl_vars_check(lc, sline(g), c->equals, sc->v, "guard");
	config_setting_t *s = config_setting_get_member(g, "set");
	if (s && config_setting_type(s) != CONFIG_TYPE_BOOL)
		lerr(lc, sline(s), "set must be true or false");
	c->set = s ? config_setting_get_bool(s) : 1;
	config_setting_t *n = config_setting_get_member(g, "not");
	if (n && config_setting_type(n) != CONFIG_TYPE_BOOL)
		lerr(lc, sline(n), "not must be true or false");
	c->negate = n ? config_setting_get_bool(n) : 0;
	if (!s && !c->equals)
		lerr(lc, sline(g), "a guard needs set = true|false or equals = \"...\"");
}

static void actions_free(struct wf_action *acts, int n);

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
		static const char *known[] = {"status", "timers", NULL};
		check_known(lc, s, known, "a state");
		st->status = member_str(lc, s, "status", 0);
	}
}

static void load_events(struct lctx *lc, struct wf *wf, config_setting_t *root)
{
	static const char *known[] = {"args", "subject", "limits", "match", "reveal", NULL};
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
			if (!wf_arg_type_known(t))
				lerr(lc, sline(m), "argument \"%s\": unknown type \"%s\"",
				     config_setting_name(m), t);
			json_object_set_new(ev->args, config_setting_name(m), json_string(t));
		}
		ev->reveal = 1;
		config_setting_t *rv = config_setting_get_member(e, "reveal");
		if (rv && config_setting_type(rv) != CONFIG_TYPE_BOOL)
			lerr(lc, sline(rv), "reveal must be true or false");
		else if (rv)
			ev->reveal = config_setting_get_bool(rv);
		ev->match = json_object();
		config_setting_t *mt = config_setting_get_member(e, "match");
		for (int j = 0; mt && j < config_setting_length(mt); j++) {
			config_setting_t *m = config_setting_get_elem(mt, (unsigned)j);
			const char *mv = config_setting_get_string(m);
			if (!config_setting_name(m) || !mv) {
				lerr(lc, sline(m), "match: expected argument = \"value\"");
				continue;
			}
			if (!json_object_get(ev->args, config_setting_name(m)))
				lerr(lc, sline(m), "match: \"%s\" is not an argument of the event",
				     config_setting_name(m));
			json_object_set_new(ev->match, config_setting_name(m), json_string(mv));
		}
		config_setting_t *lim = config_setting_get_member(e, "limits");
		if (lim && config_setting_type(lim) != CONFIG_TYPE_LIST) {
			lerr(lc, sline(lim), "limits must be a list ( { key = ...; rules = ...; }, ... )");
		} else if (lim) {
			struct scope sc;
			scope_base(&sc);
			const char *an;
			json_t *at;
			json_object_foreach(ev->args, an, at)
				if (strcmp(json_string_value(at), "password"))
					scope_add(&sc, an);
			ev->nlimits = config_setting_length(lim);
			ev->limits = xcalloc((size_t)ev->nlimits + 1, sizeof(*ev->limits));
			for (int j = 0; j < ev->nlimits; j++) {
				config_setting_t *l = config_setting_get_elem(lim, (unsigned)j);
				if (config_setting_type(l) == CONFIG_TYPE_GROUP &&
				    !config_setting_get_member(l, "action"))
					config_setting_set_string(
						config_setting_add(l, "action", CONFIG_TYPE_STRING), "limit");
				load_action(lc, wf, ev, l, &ev->limits[j], &sc);
				if (ev->limits[j].def && strcmp(ev->limits[j].def->name, "limit"))
					lerr(lc, ev->limits[j].line, "limits: only limit actions belong here");
			}
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
		if (ev->by) {
			static const char *bys[] = {"email", "phone", "token", "account", "review",
						    "request", NULL};
			char *b = xstrdup(ev->by), *save = NULL;
			for (char *one = strtok_r(b, "|", &save); one; one = strtok_r(NULL, "|", &save)) {
				if (!in_list(bys, one))
					lerr(lc, sline(s), "subject: unknown lookup \"%s\" (email, phone, "
					     "token, account, review, request)", one);
				if (!json_object_get(ev->args, one))
					lerr(lc, sline(s), "subject: by \"%s\" needs an argument of that name",
					     one);
				if (strcmp(one, "token") == 0 && !ev->purpose)
					lerr(lc, sline(s), "subject: by token needs a purpose");
			}
			free(b);
		}
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

/* load_template - one template group; base (may be NULL) gives defaults */
static void load_template(struct lctx *lc, config_setting_t *t, struct wf_template *tp,
			  const struct wf_template *base, const char *dir)
{
	static const char *known[] = {"channel", "from_name", "subject", "body", "body_file",
				      "fronts", NULL};
	tp->line = sline(t);
	if (config_setting_type(t) != CONFIG_TYPE_GROUP) {
		lerr(lc, tp->line, "template \"%s\" must be a group", tp->name);
		return;
	}
	check_known(lc, t, known, "a template");
	if (base) {
		tp->channel = base->channel ? xstrdup(base->channel) : NULL;
		if (config_setting_get_member(t, "channel") || config_setting_get_member(t, "fronts"))
			lerr(lc, tp->line,
			     "template \"%s\": a front may change from_name, subject and body only",
			     tp->name);
	} else {
		tp->channel = member_str(lc, t, "channel", 1);
	}
	tp->from_name = member_str(lc, t, "from_name", 0);
	tp->subject = member_str(lc, t, "subject", 0);
	tp->body = member_str(lc, t, "body", 0);
	char *bf = member_str(lc, t, "body_file", 0);
	if (bf && tp->body)
		lerr(lc, tp->line, "template \"%s\": body and body_file both given", tp->name);
	else if (bf)
		tp->body = load_body_file(lc, dir, bf, tp->line);
	free(bf);
	if (base) {
		if (!tp->from_name && base->from_name)
			tp->from_name = xstrdup(base->from_name);
		if (!tp->subject && base->subject)
			tp->subject = xstrdup(base->subject);
		if (!tp->body && base->body)
			tp->body = xstrdup(base->body);
	}
	if (!tp->body)
		lerr(lc, tp->line, "template \"%s\": needs body or body_file", tp->name);
	if (tp->channel && strcmp(tp->channel, "email") && strcmp(tp->channel, "sms"))
		lerr(lc, tp->line, "template \"%s\": channel must be email or sms", tp->name);
	if (tp->channel && strcmp(tp->channel, "email") == 0 && !tp->subject)
		lerr(lc, tp->line, "template \"%s\": an e-mail needs a subject", tp->name);
	if ((tp->subject && strpbrk(tp->subject, "\r\n")) ||
	    (tp->from_name && strpbrk(tp->from_name, "\r\n")))
		lerr(lc, tp->line, "template \"%s\": header text with a line break", tp->name);
}

static void load_templates(struct lctx *lc, struct wf *wf, config_setting_t *root, const char *dir)
{
	config_setting_t *g = config_setting_get_member(root, "templates");
	if (!g)
		return;
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		lerr(lc, sline(g), "\"templates\" must be a group");
		return;
	}
	/* each template, then its per-front variants as "name@front" */
	int n = config_setting_length(g), cap = n;
	for (int i = 0; i < n; i++) {
		config_setting_t *t = config_setting_get_elem(g, (unsigned)i);
		config_setting_t *fr = config_setting_type(t) == CONFIG_TYPE_GROUP
					       ? config_setting_get_member(t, "fronts") : NULL;
		if (fr)
			cap += config_setting_length(fr);
	}
	wf->templates = xcalloc((size_t)cap + 1, sizeof(*wf->templates));
	for (int i = 0; i < n; i++) {
		config_setting_t *t = config_setting_get_elem(g, (unsigned)i);
		int bi = wf->ntemplates++;
		wf->templates[bi].name = xstrdup(config_setting_name(t));
		load_template(lc, t, &wf->templates[bi], NULL, dir);
		config_setting_t *fr = config_setting_type(t) == CONFIG_TYPE_GROUP
					       ? config_setting_get_member(t, "fronts") : NULL;
		for (int j = 0; fr && j < config_setting_length(fr); j++) {
			config_setting_t *f = config_setting_get_elem(fr, (unsigned)j);
			struct wf_template *tp = &wf->templates[wf->ntemplates++];
			tp->name = xasprintf("%s@%s", wf->templates[bi].name, config_setting_name(f));
			load_template(lc, f, tp, &wf->templates[bi], dir);
		}
	}
}

static void load_transitions(struct lctx *lc, struct wf *wf, config_setting_t *root)
{
	static const char *known[] = {"on", "from", "to", "when", "do", NULL};
	config_setting_t *l = config_setting_get_member(root, "transitions");
	if (!l || config_setting_type(l) != CONFIG_TYPE_LIST) {
		lerr(lc, sline(l ? l : root), "\"transitions\" must be a list ( {...}, ... )");
		return;
	}
	wf->ntrans = config_setting_length(l);
	wf->trans = xcalloc((size_t)wf->ntrans + 1, sizeof(*wf->trans));
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
		/* template variables in scope: the account's fields, the event's
		 * arguments, and the secrets issued earlier in this transition */
		struct scope sc;
		scope_base(&sc);
		const char *aname;
		json_t *atype;
		if (ev)
			json_object_foreach(ev->args, aname, atype)
				if (strcmp(json_string_value(atype), "password"))
					scope_add(&sc, aname);
		config_setting_t *w = config_setting_get_member(t, "when");
		if (w) {
			int list = config_setting_type(w) == CONFIG_TYPE_LIST;
			tr->nconds = list ? config_setting_length(w) : 1;
			tr->conds = xcalloc((size_t)tr->nconds, sizeof(*tr->conds));
			for (int j = 0; j < tr->nconds; j++)
				load_cond(lc, list ? config_setting_get_elem(w, (unsigned)j) : w,
					  &tr->conds[j], &sc);
		}
		/* an unguarded transition hides later ones with the same on/from */
		for (int j = 0; j < i; j++)
			if (tr->on && tr->from && wf->trans[j].on && wf->trans[j].from &&
			    !strcmp(wf->trans[j].on, tr->on) && !strcmp(wf->trans[j].from, tr->from) &&
			    wf->trans[j].nconds == 0)
				lerr(lc, tr->line,
				     "never taken: the transition on \"%s\" from \"%s\" at line %d has no guard",
				     tr->on, tr->from, wf->trans[j].line);
		config_setting_t *d = config_setting_get_member(t, "do");
		if (!d || config_setting_type(d) != CONFIG_TYPE_LIST) {
			lerr(lc, tr->line, "\"do\" must be a list of actions");
			continue;
		}
		load_actions(lc, wf, ev, d, &tr->acts, &tr->nacts, &sc);
	}
}

/* load_timers - after the templates: timer actions may send them */
static void load_timers(struct lctx *lc, struct wf *wf, config_setting_t *root)
{
	static const char *known[] = {"after", "to", "do", NULL};
	config_setting_t *g = config_setting_get_member(root, "states");
	for (int i = 0; g && i < wf->nstates; i++) {
		struct wf_state *st = &wf->states[i];
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		config_setting_t *tl = config_setting_type(s) == CONFIG_TYPE_GROUP
					       ? config_setting_get_member(s, "timers") : NULL;
		if (!tl)
			continue;
		if (config_setting_type(tl) != CONFIG_TYPE_LIST) {
			lerr(lc, sline(tl), "timers must be a list ( { after = \"1d\"; ... }, ... )");
			continue;
		}
		st->ntimers = config_setting_length(tl);
		st->timers = xcalloc((size_t)st->ntimers + 1, sizeof(*st->timers));
		for (int j = 0; j < st->ntimers; j++) {
			config_setting_t *t = config_setting_get_elem(tl, (unsigned)j);
			struct wf_timer *tm = &st->timers[j];
			tm->line = sline(t);
			if (config_setting_type(t) != CONFIG_TYPE_GROUP) {
				lerr(lc, tm->line, "a timer is { after = \"1d\"; to = \"state\"; do = (...); }");
				continue;
			}
			check_known(lc, t, known, "a timer");
			char *after = member_str(lc, t, "after", 1);
			if (after && (duration_parse(after, &tm->after_ms) < 0 || tm->after_ms <= 0))
				lerr(lc, tm->line, "bad duration \"%s\" (use e.g. 30s, 15m, 2h, 1d)", after);
			free(after);
			tm->to = member_str(lc, t, "to", 0);
			if (tm->to && !wf_state_find(wf, tm->to))
				lerr(lc, tm->line, "to: unknown state \"%s\"", tm->to);
			config_setting_t *d = config_setting_get_member(t, "do");
			struct scope sc;
			scope_base(&sc);
			if (d && config_setting_type(d) == CONFIG_TYPE_LIST)
				load_actions(lc, wf, NULL, d, &tm->acts, &tm->nacts, &sc);
			else if (d)
				lerr(lc, tm->line, "\"do\" must be a list of actions");
			if (!tm->to && !d)
				lerr(lc, tm->line, "a timer needs to = \"state\" or do = ( ... )");
		}
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
			/* a goto action moves too */
			for (int k = 0; from >= 0 && seen[from] && k < tr->nacts; k++) {
				const char *g = tr->acts[k].def && !strcmp(tr->acts[k].def->name, "goto")
							? wf_p_str(&tr->acts[k], "state") : NULL;
				for (int x = 0; g && x < wf->nstates; x++)
					if (!strcmp(wf->states[x].name, g) && !seen[x])
						seen[x] = changed = 1;
			}
		}
		for (int i = 0; i < wf->nstates; i++)
			for (int k = 0; seen[i] && k < wf->states[i].ntimers; k++) {
				const char *tt = wf->states[i].timers[k].to;
				for (int x = 0; tt && x < wf->nstates; x++)
					if (!strcmp(wf->states[x].name, tt) && !seen[x])
						seen[x] = changed = 1;
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
	load_timers(&lc, wf, root);
	check_reachable(&lc, wf);
out:
	config_destroy(&cfg);
	return wf;
}

static void actions_free(struct wf_action *acts, int n)
{
	for (int j = 0; j < n; j++) {
		json_decref(acts[j].p);
		if (acts[j].cond) {
			free(acts[j].cond->field);
			free(acts[j].cond->equals);
			free(acts[j].cond);
		}
	}
	free(acts);
}

static void wf_free(struct wf *wf)
{
	if (!wf)
		return;
	for (int i = 0; i < wf->nstates; i++) {
		struct wf_state *st = &wf->states[i];
		for (int j = 0; j < st->ntimers; j++) {
			actions_free(st->timers[j].acts, st->timers[j].nacts);
			free(st->timers[j].to);
		}
		free(st->timers);
		free(st->name);
		free(st->status);
	}
	for (int i = 0; i < wf->nevents; i++) {
		struct wf_event *e = &wf->events[i];
		free(e->name);
		json_decref(e->args);
		free(e->by);
		free(e->purpose);
		free(e->missing);
		json_decref(e->match);
		actions_free(e->limits, e->nlimits);
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
		actions_free(t->acts, t->nacts);
		for (int j = 0; j < t->nconds; j++) {
			free(t->conds[j].field);
			free(t->conds[j].equals);
		}
		free(t->conds);
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
					if (!strcmp(ws->wfs[w]->events[f].name, wf->events[e].name) &&
					    json_equal(ws->wfs[w]->events[f].match, wf->events[e].match)) {
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

static int event_matches(const struct wf_event *ev, const json_t *args)
{
	const char *k;
	json_t *v;
	if (!args)
		return 1;
	json_object_foreach(ev->match, k, v) {
		const char *a = json_string_value(json_object_get(args, k));
		if (!a || strcmp(a, json_string_value(v)) != 0)
			return 0;
	}
	return 1;
}

const struct wf_event *wf_set_event(const struct wf_set *ws, const char *name, const json_t *args)
{
	for (int w = 0; w < ws->n; w++)
		for (int i = 0; i < ws->wfs[w]->nevents; i++)
			if (strcmp(ws->wfs[w]->events[i].name, name) == 0 &&
			    event_matches(&ws->wfs[w]->events[i], args))
				return &ws->wfs[w]->events[i];
	return NULL;
}

int wf_set_has_type(const struct wf_set *ws, const char *name)
{
	return wf_set_event(ws, name, NULL) != NULL;
}

const struct wf *wf_set_find(const struct wf_set *ws, const char *name)
{
	for (int w = 0; w < ws->n; w++)
		if (ws->wfs[w]->name && strcmp(ws->wfs[w]->name, name) == 0)
			return ws->wfs[w];
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
