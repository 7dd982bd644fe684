/*
 * wf_load_act - loading the actions of a workflow file: each action's
 * parameters checked against the library's table (wf_actions.c) and
 * converted, conditions ("if", "when"), and the template variables in
 * scope at each point.  Part of the loader (wf_load.c).
 */
#include "util.h"
#include "wf_load_priv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wfl_lerr(struct lctx *lc, int line, const char *fmt, ...)
{
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	lc->errs->v = xrealloc(lc->errs->v, sizeof(char *) * (size_t)(lc->errs->n + 1));
	lc->errs->v[lc->errs->n++] = xasprintf("%s:%d: %s", lc->file, line, why);
}

int wfl_sline(const config_setting_t *s)
{
	return s ? (int)config_setting_source_line(s) : 0;
}

/* member_str - a string member of group g; missing and required is an error */
char *wfl_member_str(struct lctx *lc, config_setting_t *g, const char *name, int required)
{
	config_setting_t *s = config_setting_get_member(g, name);
	if (!s) {
		if (required)
			wfl_lerr(lc, wfl_sline(g), "missing setting \"%s\"", name);
		return NULL;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		wfl_lerr(lc, wfl_sline(s), "\"%s\" must be a string", name);
		return NULL;
	}
	if (!wfl_utf8_ok(config_setting_get_string(s))) {
		wfl_lerr(lc, wfl_sline(s), "\"%s\" is not valid UTF-8", name);
		return NULL;
	}
	return xstrdup(config_setting_get_string(s));
}

int wfl_utf8_ok(const char *s)
{
	json_t *j = json_string(s); /* jansson takes only valid UTF-8 */
	int ok = j != NULL;
	json_decref(j);
	return ok;
}

void wfl_check_known(struct lctx *lc, config_setting_t *g, const char *const *known,
		     const char *what)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *n = config_setting_name(m);
		if (n && !wfl_in_list(known, n))
			wfl_lerr(lc, wfl_sline(m), "unknown setting \"%s\" in %s", n, what);
	}
}

/* tmpl_vars_check - every {{name}} in text must be in vars */
void wfl_tmpl_vars_check(struct lctx *lc, int line, const char *text, const char *const *vars,
			 const char *where)
{
	const char *p = text;
	while (p && (p = strstr(p, "{{")) != NULL) {
		const char *e = strstr(p + 2, "}}");
		if (!e) {
			wfl_lerr(lc, line, "%s: unterminated {{", where);
			return;
		}
		char name[64];
		size_t n = (size_t)(e - p - 2);
		if (n == 0 || n >= sizeof(name)) {
			wfl_lerr(lc, line, "%s: bad variable name", where);
		} else {
			memcpy(name, p + 2, n);
			name[n] = 0;
			if (!wfl_in_list(vars, name))
				wfl_lerr(lc, line, "%s: unknown template variable {{%s}}", where,
					 name);
		}
		p = e + 2;
	}
}

void wfl_scope_add(struct scope *sc, const char *name)
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
	wfl_scope_add(sc, json_string_value(json_object_get(names, name)));
}

/* scope_base - what every action list sees: the account's own fields */
void wfl_scope_base(struct scope *sc)
{
	static const char *base[] = {
		"account",	"front",      "email",	 "phone",   "name", "username", "login",
		"masked_login", "client_net", "mailbox", "id_type", "idno", NULL};
	sc->n = 0;
	sc->v[0] = NULL;
	for (int i = 0; base[i]; i++)
		wfl_scope_add(sc, base[i]);
}

int wf_field_reserved(const char *f)
{
	static const char *reserved[] = {"id",	    "kind",    "pwhash", "status",
					 "created", "account", NULL};
	return wfl_in_list(reserved, f) || strncmp(f, "wf.", 3) == 0;
}

/* load_param - check one parameter of an action and store it converted */
#define BAD_DURATION "bad duration \"%s\" (use e.g. 30s, 15m, 2h, 1d)"

/* param_rules - a list of { max = N; per = "1h"; } */
static void param_rules(struct lctx *lc, struct wf_action *act, const char *name,
			config_setting_t *s)
{
	if (config_setting_type(s) != CONFIG_TYPE_LIST) {
		wfl_lerr(lc, wfl_sline(s),
			 "%s: expected a list ( { max = N; per = \"1h\"; }, ... )", name);
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
			wfl_lerr(lc, wfl_sline(r),
				 "%s: each rule is { max = N; per = \"DURATION\"; }", name);
			continue;
		}
		if (max < 1)
			wfl_lerr(lc, wfl_sline(r), "%s: max must be at least 1", name);
		if (duration_parse(per, &ms) < 0 || ms <= 0)
			wfl_lerr(lc, wfl_sline(r), BAD_DURATION, per);
		json_array_append_new(rules,
				      json_pack("{s:i, s:I}", "max", max, "per", (json_int_t)ms));
	}
	json_object_set_new(act->p, name, rules);
}

/* param_blacklist - { max = N; per = "1d"; for = "1d"; } */
static void param_blacklist(struct lctx *lc, struct wf_action *act, const char *name,
			    config_setting_t *s)
{
	int max = 0, line = wfl_sline(s);
	const char *per = NULL, *dur = NULL;
	int64_t per_ms = 0, for_ms = 0;
	if (config_setting_type(s) != CONFIG_TYPE_GROUP ||
	    !config_setting_lookup_int(s, "max", &max) ||
	    !config_setting_lookup_string(s, "per", &per) ||
	    !config_setting_lookup_string(s, "for", &dur)) {
		wfl_lerr(lc, line, "%s: expected { max = N; per = \"1d\"; for = \"1d\"; }", name);
		return;
	}
	if (duration_parse(per, &per_ms) < 0 || per_ms <= 0)
		wfl_lerr(lc, line, BAD_DURATION, per);
	if (duration_parse(dur, &for_ms) < 0 || for_ms <= 0)
		wfl_lerr(lc, line, BAD_DURATION, dur);
	json_object_set_new(act->p, name,
			    json_pack("{s:i, s:I, s:I}", "max", max, "per", (json_int_t)per_ms,
				      "for", (json_int_t)for_ms));
}

/* param_int - an integer in range (a code's length: short enough to type,
 * long enough to guess rarely) */
static void param_int(struct lctx *lc, struct wf_action *act, const char *name, config_setting_t *s)
{
	int line = wfl_sline(s);
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64) {
		wfl_lerr(lc, line, "%s must be an integer", name);
		return;
	}
	long long v = config_setting_get_int64(s), lo = 1, hi = 1000000;
	if (!strcmp(name, "length"))
		lo = 4, hi = 8;
	if (v < lo || v > hi)
		wfl_lerr(lc, line, "%s: %lld is out of range (%lld to %lld)", name, v, lo, hi);
	json_object_set_new(act->p, name, json_integer(v));
}

/* param_template - a template of this workflow, and every per-front
 * variant "name@front" of it, must see only variables in scope */
static void param_template(struct lctx *lc, struct wf *wf, struct wf_action *act, const char *v,
			   int line, struct scope *sc)
{
	const struct wf_template *t = wf_template_find(wf, v);
	for (int i = 0; t && i < wf->ntemplates; i++) {
		const char *tn = wf->templates[i].name;
		size_t l = strlen(v);
		if (!strncmp(tn, v, l) && tn[l] == '@') {
			wfl_tmpl_vars_check(lc, line, wf->templates[i].body, sc->v, tn);
			wfl_tmpl_vars_check(lc, line, wf->templates[i].subject, sc->v, tn);
		}
	}
	if (!t) {
		wfl_lerr(lc, line, "%s: no template \"%s\"", act->def->name, v);
		return;
	}
	wfl_tmpl_vars_check(lc, line, t->body, sc->v, t->name);
	wfl_tmpl_vars_check(lc, line, t->subject, sc->v, t->name);
}

/* param_string - the string kinds: checked by kind, kept as written
 * (a duration converted to milliseconds) */
static void param_string(struct lctx *lc, struct wf *wf, struct wf_action *act,
			 const struct wf_param *pd, config_setting_t *s, struct scope *sc)
{
	const char *name = pd->name, *v = config_setting_get_string(s);
	int line = wfl_sline(s);
	int64_t ms;
	if (!wfl_utf8_ok(v)) {
		wfl_lerr(lc, line, "%s is not valid UTF-8", name);
		return;
	}
	if (pd->kind == WP_DUR) {
		if (duration_parse(v, &ms) < 0 || ms <= 0)
			wfl_lerr(lc, line, BAD_DURATION, v);
		else
			json_object_set_new(act->p, name, json_integer(ms));
		return;
	}
	if (pd->kind == WP_CODE && !wf_known_code(v))
		wfl_lerr(lc, line, "%s: unknown result code \"%s\"", act->def->name, v);
	if (pd->kind == WP_TEMPLATE)
		param_template(lc, wf, act, v, line, sc);
	if (pd->kind == WP_SERVICE && !wf_service_known(v))
		wfl_lerr(lc, line, "%s: unknown service \"%s\" (known: registry)", act->def->name,
			 v);
	if (pd->kind == WP_STATE && !wf_state_find(wf, v))
		wfl_lerr(lc, line, "%s: unknown state \"%s\"", act->def->name, v);
	if (pd->kind == WP_FIELD && wf_field_reserved(v))
		wfl_lerr(lc, line, "%s: field \"%s\" is managed by the engine", act->def->name, v);
	if (pd->kind == WP_TMPL)
		wfl_tmpl_vars_check(lc, line, v, sc->v, act->def->name);
	json_object_set_new(act->p, name, json_string(v));
}

static void load_param(struct lctx *lc, struct wf *wf, struct wf_action *act,
		       const struct wf_param *pd, config_setting_t *s, struct scope *sc)
{
	if (pd->kind == WP_BOOL) {
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			wfl_lerr(lc, wfl_sline(s), "%s must be true or false", pd->name);
		else
			json_object_set_new(act->p, pd->name,
					    json_boolean(config_setting_get_bool(s)));
	} else if (pd->kind == WP_RULES)
		param_rules(lc, act, pd->name, s);
	else if (pd->kind == WP_BLACKLIST)
		param_blacklist(lc, act, pd->name, s);
	else if (pd->kind == WP_INT)
		param_int(lc, act, pd->name, s);
	else if (config_setting_type(s) != CONFIG_TYPE_STRING)
		wfl_lerr(lc, wfl_sline(s), "%s must be a string", pd->name);
	else
		param_string(lc, wf, act, pd, s, sc);
}

/* needs_arg - actions that read an argument of the event */
static void needs_arg(struct lctx *lc, const struct wf_event *ev, const struct wf_action *act)
{
	static const struct {
		const char *action, *arg;
	} needs[] = {{"set_password", "password"},
		     {"verify_token", "token"},
		     {"verify_code", "code"},
		     {"issue_token", NULL}};
	for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]); i++) {
		const char *arg = needs[i].arg;
		if (!arg) /* issue_token password = ARG: the argument it carries */
			arg = wf_p_str(act, "password");
		if (!arg)
			continue;
		/* set_password may name the argument it takes (change_password's "new") */
		if (!strcmp(act->def->name, "set_password") && wf_p_str(act, "arg"))
			arg = wf_p_str(act, "arg");
		if (!strcmp(act->def->name, "set_password") && wf_p_str(act, "from"))
			continue; /* from = "token": the verified link's */
		if (!strcmp(act->def->name, needs[i].action) &&
		    (!ev || !json_object_get(ev->args, arg)))
			wfl_lerr(lc, act->line, "%s: %s has no %s argument", act->def->name,
				 ev ? ev->name : "a timer", arg);
	}
}

void wfl_load_action(struct lctx *lc, struct wf *wf, const struct wf_event *ev, config_setting_t *a,
		     struct wf_action *act, struct scope *sc)
{
	act->line = wfl_sline(a);
	act->p = json_object();
	if (config_setting_type(a) != CONFIG_TYPE_GROUP) {
		wfl_lerr(lc, act->line, "an action must be a group { action = \"...\"; ... }");
		return;
	}
	char *name = wfl_member_str(lc, a, "action", 1);
	if (!name)
		return;
	act->def = wf_action_lookup(name);
	if (!act->def) {
		wfl_lerr(lc, act->line, "unknown action \"%s\"", name);
		free(name);
		return;
	}
	free(name);
	/* what it provides is in scope for its own templates and what follows:
	 * names separated by spaces */
	for (const char *p = act->def->provides ? act->def->provides : ""; *p;) {
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
	wfl_check_known(lc, a, known, act->def->name);
	for (int i = 0; act->def->params[i].name; i++) {
		const struct wf_param *pd = &act->def->params[i];
		config_setting_t *s = config_setting_get_member(a, pd->name);
		if (!s) {
			if (pd->required)
				wfl_lerr(lc, act->line, "%s: missing setting \"%s\"",
					 act->def->name, pd->name);
			continue;
		}
		load_param(lc, wf, act, pd, s, sc);
	}
	config_setting_t *cif = config_setting_get_member(a, "if");
	if (cif) {
		act->cond = xcalloc(1, sizeof(*act->cond));
		wfl_load_cond(lc, cif, act->cond, sc);
	}
	needs_arg(lc, ev, act);
}

void wfl_load_actions(struct lctx *lc, struct wf *wf, const struct wf_event *ev,
		      config_setting_t *d, struct wf_action **acts, int *nacts, struct scope *sc)
{
	*nacts = config_setting_length(d);
	*acts = xcalloc((size_t)*nacts + 1, sizeof(**acts));
	for (int j = 0; j < *nacts; j++)
		wfl_load_action(lc, wf, ev, config_setting_get_elem(d, (unsigned)j), &(*acts)[j],
				sc);
}

void wfl_load_cond(struct lctx *lc, config_setting_t *g, struct wf_cond *c, struct scope *sc)
{
	static const char *known[] = {"field", "equals", "set", "not", NULL};
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		wfl_lerr(lc, wfl_sline(g),
			 "a guard is { field = \"...\"; set = true; } or { field; equals }");
		return;
	}
	wfl_check_known(lc, g, known, "a guard");
	c->field = wfl_member_str(lc, g, "field", 1);
	c->equals = wfl_member_str(lc, g, "equals", 0);
	if (c->equals)
		wfl_tmpl_vars_check(lc, wfl_sline(g), c->equals, sc->v, "guard");
	config_setting_t *s = config_setting_get_member(g, "set");
	if (s && config_setting_type(s) != CONFIG_TYPE_BOOL)
		wfl_lerr(lc, wfl_sline(s), "set must be true or false");
	c->set = s ? config_setting_get_bool(s) : 1;
	config_setting_t *n = config_setting_get_member(g, "not");
	if (n && config_setting_type(n) != CONFIG_TYPE_BOOL)
		wfl_lerr(lc, wfl_sline(n), "not must be true or false");
	c->negate = n ? config_setting_get_bool(n) : 0;
	if (!s && !c->equals)
		wfl_lerr(lc, wfl_sline(g), "a guard needs set = true|false or equals = \"...\"");
}
