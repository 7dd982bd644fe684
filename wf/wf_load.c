/*
 * wf_load - read and validate workflow files (see wf.h).
 *
 * Every check the engine relies on at run time is made here, so that
 * "regflowctl check" and a reload refuse exactly what would misbehave.
 * Errors are collected, not stopped at: an operator sees them all at once.
 */
#include "util.h"
#include "wf_load_priv.h"

#include <dirent.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *job_types[] = {"register_email",
				  "resend_activation",
				  "activate",
				  "send_code",
				  "register_phone",
				  "set_basic_info",
				  "bind_phone",
				  "bind_email",
				  "assist_bind_request",
				  "assist_bind_confirm",
				  "assist_bind_decline",
				  "id_photo_upload",
				  "id_assist_request",
				  "id_assist_confirm",
				  "review_decision",
				  "recover_username",
				  "recover_password",
				  "reset_password",
				  "login",
				  "change_password",
				  "delivery_failed",
				  "registry_answer",
				  NULL};

static const char *result_codes[] = {"OK",
				     "EMAIL_REGISTERED",
				     "PHONE_REGISTERED",
				     "EMAIL_PENDING_ACTIVATION",
				     "EMAIL_BOUND",
				     "PHONE_BOUND",
				     "ALREADY_ACTIVATED",
				     "CODE_EXPIRED",
				     "CODE_INVALID",
				     "CODE_ATTEMPTS_EXCEEDED",
				     "RATE_LIMITED",
				     "BLACKLISTED",
				     "IDNO_INVALID",
				     "IDNO_PENDING_REVIEW",
				     "IDNO_REGISTERED",
				     "IDNO_IMMUTABLE",
				     "PHOTO_FORMAT",
				     "PHOTO_TOO_LARGE",
				     "IN_USE",
				     "ASSISTANT_NOT_ELIGIBLE",
				     "NOT_FOUND",
				     "DEREGISTERED",
				     "LOGIN_FAILED",
				     "IDNO_MISMATCH",
				     "BASIC_INFO_REQUIRED",
				     "REVIEW_PENDING",
				     NULL};

int wfl_in_list(const char *const *list, const char *s)
{
	for (int i = 0; list[i]; i++)
		if (strcmp(list[i], s) == 0)
			return 1;
	return 0;
}

int wf_known_code(const char *code)
{
	return wfl_in_list(result_codes, code);
}

static void actions_free(struct wf_action *acts, int n);

static void load_states(struct lctx *lc, struct wf *wf, config_setting_t *root)
{
	config_setting_t *g = config_setting_get_member(root, "states");
	if (!g || config_setting_type(g) != CONFIG_TYPE_GROUP) {
		wfl_lerr(lc, wfl_sline(g ? g : root), "\"states\" must be a group of states");
		return;
	}
	wf->nstates = config_setting_length(g);
	wf->states = xcalloc((size_t)wf->nstates, sizeof(*wf->states));
	for (int i = 0; i < wf->nstates; i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		struct wf_state *st = &wf->states[i];
		st->name = xstrdup(config_setting_name(s));
		st->line = wfl_sline(s);
		if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
			wfl_lerr(lc, st->line, "state \"%s\" must be a group", st->name);
			continue;
		}
		static const char *known[] = {"status", "timers", "final", NULL};
		wfl_check_known(lc, s, known, "a state");
		st->status = wfl_member_str(lc, s, "status", 0);
		config_setting_t *fin = config_setting_get_member(s, "final");
		if (fin && config_setting_type(fin) != CONFIG_TYPE_BOOL)
			wfl_lerr(lc, wfl_sline(fin), "final must be true or false");
		else if (fin)
			st->final = config_setting_get_bool(fin);
		if (st->final && config_setting_get_member(s, "timers"))
			wfl_lerr(lc, st->line, "state \"%s\" is final: it cannot have timers",
				 st->name);
	}
}

static void event_args(struct lctx *lc, struct wf_event *ev, config_setting_t *e)
{
	config_setting_t *a = config_setting_get_member(e, "args");
	for (int j = 0; a && j < config_setting_length(a); j++) {
		config_setting_t *m = config_setting_get_elem(a, (unsigned)j);
		const char *t = config_setting_get_string(m);
		if (!config_setting_name(m) || !t) {
			wfl_lerr(lc, wfl_sline(m), "args: expected name = \"type\"");
			continue;
		}
		if (!wf_arg_type_known(t))
			wfl_lerr(lc, wfl_sline(m), "argument \"%s\": unknown type \"%s\"",
				 config_setting_name(m), t);
		json_object_set_new(ev->args, config_setting_name(m), json_string(t));
	}
	ev->reveal = 1;
	config_setting_t *rv = config_setting_get_member(e, "reveal");
	if (rv && config_setting_type(rv) != CONFIG_TYPE_BOOL)
		wfl_lerr(lc, wfl_sline(rv), "reveal must be true or false");
	else if (rv)
		ev->reveal = config_setting_get_bool(rv);
}

static void event_match(struct lctx *lc, struct wf_event *ev, config_setting_t *e)
{
	ev->match = json_object();
	config_setting_t *mt = config_setting_get_member(e, "match");
	for (int j = 0; mt && j < config_setting_length(mt); j++) {
		config_setting_t *m = config_setting_get_elem(mt, (unsigned)j);
		const char *mv = config_setting_get_string(m);
		if (!config_setting_name(m) || !mv) {
			wfl_lerr(lc, wfl_sline(m), "match: expected argument = \"value\"");
			continue;
		}
		if (!json_object_get(ev->args, config_setting_name(m)))
			wfl_lerr(lc, wfl_sline(m), "match: \"%s\" is not an argument of the event",
				 config_setting_name(m));
		json_object_set_new(ev->match, config_setting_name(m), json_string(mv));
	}
}

/* event_limits - limits run before the account is looked up: they see the
 * job's arguments and its front only */
static void event_limits(struct lctx *lc, struct wf *wf, struct wf_event *ev, config_setting_t *e)
{
	config_setting_t *lim = config_setting_get_member(e, "limits");
	if (!lim)
		return;
	if (config_setting_type(lim) != CONFIG_TYPE_LIST) {
		wfl_lerr(lc, wfl_sline(lim),
			 "limits must be a list ( { key = ...; rules = ...; }, ... )");
		return;
	}
	struct scope sc = {.n = 0};
	const char *an;
	json_t *at;
	wfl_scope_add(&sc, "front");
	wfl_scope_add(&sc, "client_net");
	wfl_scope_add(&sc, "mailbox");
	json_object_foreach(ev->args, an, at)
		if (!wf_arg_hidden(json_string_value(at)))
			wfl_scope_add(&sc, an);
	ev->nlimits = config_setting_length(lim);
	ev->limits = xcalloc((size_t)ev->nlimits + 1, sizeof(*ev->limits));
	for (int j = 0; j < ev->nlimits; j++) {
		config_setting_t *l = config_setting_get_elem(lim, (unsigned)j);
		if (config_setting_type(l) == CONFIG_TYPE_GROUP &&
		    !config_setting_get_member(l, "action"))
			config_setting_set_string(
				config_setting_add(l, "action", CONFIG_TYPE_STRING), "limit");
		wfl_load_action(lc, wf, ev, l, &ev->limits[j], &sc);
		if (ev->limits[j].def && strcmp(ev->limits[j].def->name, "limit") != 0)
			wfl_lerr(lc, ev->limits[j].line, "limits: only limit actions belong here");
	}
}

static void event_subject(struct lctx *lc, struct wf_event *ev, config_setting_t *e)
{
	static const char *subj_known[] = {"by", "purpose", "missing", NULL};
	config_setting_t *s = config_setting_get_member(e, "subject");
	if (!s || config_setting_type(s) != CONFIG_TYPE_GROUP) {
		wfl_lerr(lc, ev->line, "event \"%s\": missing subject = { by = ...; }", ev->name);
		return;
	}
	wfl_check_known(lc, s, subj_known, "a subject");
	ev->by = wfl_member_str(lc, s, "by", 1);
	ev->purpose = wfl_member_str(lc, s, "purpose", 0);
	ev->missing = wfl_member_str(lc, s, "missing", 1);
	if (ev->by) {
		static const char *bys[] = {"email",  "phone",	 "idno",  "token", "account",
					    "review", "request", "login", NULL};
		char *b = xstrdup(ev->by), *save = NULL;
		for (char *one = strtok_r(b, "|", &save); one; one = strtok_r(NULL, "|", &save)) {
			if (!wfl_in_list(bys, one))
				wfl_lerr(lc, wfl_sline(s),
					 "subject: unknown lookup \"%s\" (email, phone, "
					 "idno, token, account, review, request, login)",
					 one);
			if (!json_object_get(ev->args, wf_by_arg(one)))
				wfl_lerr(lc, wfl_sline(s),
					 "subject: by \"%s\" needs the argument %s", one,
					 wf_by_arg(one));
			if (strcmp(one, "token") == 0 && !ev->purpose)
				wfl_lerr(lc, wfl_sline(s), "subject: by token needs a purpose");
		}
		free(b);
	}
	if (ev->missing && strcmp(ev->missing, "create") && !wf_known_code(ev->missing))
		wfl_lerr(lc, wfl_sline(s),
			 "subject: missing = \"%s\" is neither create nor a result code",
			 ev->missing);
}

/* lockout_of - a { key; after; lock (or step); growth; longest; } group */
static struct wf_lockout *lockout_of(struct lctx *lc, const struct wf_event *ev,
				     config_setting_t *g, const char *what)
{
	static const char *lock_known[] = {"key", "after", "lock", "growth", "longest", NULL};
	static const char *slow_known[] = {"key", "after", "step", "longest", NULL};
	int slow = !strcmp(what, "slowdown");
	struct wf_lockout *l = xcalloc(1, sizeof(*l));
	struct scope sc = {.n = 0};
	const char *an;
	json_t *at;
	int after = 0, growth = 1;
	l->line = wfl_sline(g);
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		wfl_lerr(lc, l->line, "%s must be a group { key = ...; after = N; ... }", what);
		return l;
	}
	wfl_check_known(lc, g, slow ? slow_known : lock_known, what);
	l->key = wfl_member_str(lc, g, "key", 1);
	wfl_scope_add(&sc, "front");
	wfl_scope_add(&sc, "client_net");
	json_object_foreach(ev->args, an, at)
		if (!wf_arg_hidden(json_string_value(at)))
			wfl_scope_add(&sc, an);
	if (l->key)
		wfl_tmpl_vars_check(lc, l->line, l->key, sc.v, what);
	if (!config_setting_lookup_int(g, "after", &after) || after < 1)
		wfl_lerr(lc, l->line, "%s: after must be a count of at least 1", what);
	l->after = after;
	if (!slow && (config_setting_lookup_int(g, "growth", &growth), growth < 1 || growth > 10))
		wfl_lerr(lc, l->line, "%s: growth must be 1 to 10", what);
	l->growth = growth;
	char *d = wfl_member_str(lc, g, slow ? "step" : "lock", 1);
	if (d && (duration_parse(d, &l->lock_ms) < 0 || l->lock_ms <= 0))
		wfl_lerr(lc, l->line, "bad duration \"%s\" (use e.g. 30s, 15m, 2h, 1d)", d);
	free(d);
	d = wfl_member_str(lc, g, "longest", 1);
	if (d && (duration_parse(d, &l->longest_ms) < 0 || l->longest_ms < l->lock_ms))
		wfl_lerr(lc, l->line, "%s: longest \"%s\" must be a duration of at least the first",
			 what, d);
	free(d);
	return l;
}

/* event_verify - a password check: the argument, and its brute-force limits */
static void event_verify(struct lctx *lc, struct wf_event *ev, config_setting_t *e)
{
	config_setting_t *d = config_setting_get_member(e, "durable");
	ev->durable = 1;
	if (d && config_setting_type(d) != CONFIG_TYPE_BOOL)
		wfl_lerr(lc, wfl_sline(d), "durable must be true or false");
	else if (d)
		ev->durable = config_setting_get_bool(d);
	ev->verify = wfl_member_str(lc, e, "verify", 0);
	const char *t =
		ev->verify ? json_string_value(json_object_get(ev->args, ev->verify)) : NULL;
	if (ev->verify && (!t || strcmp(t, "secret")))
		wfl_lerr(lc, ev->line, "verify: \"%s\" must be an argument of type secret",
			 ev->verify);
	config_setting_t *lk = config_setting_get_member(e, "lockout");
	config_setting_t *sl = config_setting_get_member(e, "slowdown");
	if ((lk || sl) && !ev->verify)
		wfl_lerr(lc, ev->line, "lockout and slowdown limit a password check: verify = ...");
	if (lk)
		ev->lockout = lockout_of(lc, ev, lk, "lockout");
	if (sl)
		ev->slowdown = lockout_of(lc, ev, sl, "slowdown");
	if (ev->verify && ev->missing && !strcmp(ev->missing, "create"))
		wfl_lerr(lc, ev->line,
			 "a password check never creates its subject: missing = a code");
	if (!ev->durable && !ev->verify)
		wfl_lerr(lc, ev->line, "durable = false is for a password check (verify = ...)");
}

static void load_event(struct lctx *lc, struct wf *wf, struct wf_event *ev, config_setting_t *e)
{
	static const char *known[] = {"args",	 "subject", "limits",  "match",	   "reveal", "role",
				      "durable", "verify",  "lockout", "slowdown", NULL};
	static const char *roles[] = {"front",	 "office", "reviewer", "helpdesk",
				      "gateway", "admin",  NULL};
	ev->name = xstrdup(config_setting_name(e));
	ev->line = wfl_sline(e);
	ev->wf = wf;
	ev->args = json_object();
	if (!wfl_in_list(job_types, ev->name))
		wfl_lerr(lc, ev->line, "unknown job type \"%s\"", ev->name);
	if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
		wfl_lerr(lc, ev->line, "event \"%s\" must be a group", ev->name);
		return;
	}
	wfl_check_known(lc, e, known, "an event");
	ev->role = wfl_member_str(lc, e, "role", 0);
	if (ev->role && !wfl_in_list(roles, ev->role))
		wfl_lerr(lc, wfl_sline(config_setting_get_member(e, "role")),
			 "role \"%s\" is none of front, office, reviewer, helpdesk, gateway, admin",
			 ev->role);
	if (!ev->role)
		ev->role = xstrdup("front");
	event_args(lc, ev, e);
	event_match(lc, ev, e);
	event_limits(lc, wf, ev, e);
	event_subject(lc, ev, e);
	event_verify(lc, ev, e);
}

static void load_events(struct lctx *lc, struct wf *wf, config_setting_t *root)
{
	config_setting_t *g = config_setting_get_member(root, "events");
	if (!g || config_setting_type(g) != CONFIG_TYPE_GROUP) {
		wfl_lerr(lc, wfl_sline(g ? g : root), "\"events\" must be a group of job types");
		return;
	}
	wf->nevents = config_setting_length(g);
	wf->events = xcalloc((size_t)wf->nevents, sizeof(*wf->events));
	for (int i = 0; i < wf->nevents; i++)
		load_event(lc, wf, &wf->events[i], config_setting_get_elem(g, (unsigned)i));
}

/* inside - 1 if path (resolved: links, "..") is under dir */
static int inside(const char *dir, const char *path)
{
	char rd[PATH_MAX], rp[PATH_MAX];
	if (!realpath(dir, rd) || !realpath(path, rp))
		return 1; /* a missing file: file_read says so */
	size_t n = strlen(rd);
	return !strncmp(rp, rd, n) && rp[n] == '/';
}

static char *load_body_file(struct lctx *lc, const char *dir, const char *name, int line)
{
	char *path = xasprintf("%s/%s", dir, name), *text = NULL;
	int rc = 0;
	if (name[0] == '/' || !inside(dir, path)) {
		wfl_lerr(lc, line, "template body_file \"%s\": outside the workflow folder %s",
			 name, dir);
		free(path);
		return NULL;
	}
	rc = file_read(path, 1 << 20, &text, NULL);
	if (rc < 0)
		wfl_lerr(lc, line, "template body_file \"%s\": %s", path, strerror(-rc));
	else if (!wfl_utf8_ok(text)) {
		wfl_lerr(lc, line, "template body_file \"%s\": not valid UTF-8", path);
		free(text);
		text = NULL;
	} else if (lc->sources) {
		json_object_set_new(lc->sources, name, json_string(text));
	}
	free(path);
	return text;
}

/* load_template - one template group; base (may be NULL) gives defaults */
static void load_template(struct lctx *lc, config_setting_t *t, struct wf_template *tp,
			  const struct wf_template *base, const char *dir)
{
	static const char *known[] = {"channel",   "from_name", "subject", "body",
				      "body_file", "fronts",	NULL};
	tp->line = wfl_sline(t);
	if (config_setting_type(t) != CONFIG_TYPE_GROUP) {
		wfl_lerr(lc, tp->line, "template \"%s\" must be a group", tp->name);
		return;
	}
	wfl_check_known(lc, t, known, "a template");
	if (base) {
		tp->channel = base->channel ? xstrdup(base->channel) : NULL;
		if (config_setting_get_member(t, "channel") ||
		    config_setting_get_member(t, "fronts"))
			wfl_lerr(lc, tp->line,
				 "template \"%s\": a front may change from_name, subject and body "
				 "only",
				 tp->name);
	} else {
		tp->channel = wfl_member_str(lc, t, "channel", 1);
	}
	tp->from_name = wfl_member_str(lc, t, "from_name", 0);
	tp->subject = wfl_member_str(lc, t, "subject", 0);
	tp->body = wfl_member_str(lc, t, "body", 0);
	char *bf = wfl_member_str(lc, t, "body_file", 0);
	if (bf && tp->body)
		wfl_lerr(lc, tp->line, "template \"%s\": body and body_file both given", tp->name);
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
		wfl_lerr(lc, tp->line, "template \"%s\": needs body or body_file", tp->name);
	if (tp->channel && strcmp(tp->channel, "email") && strcmp(tp->channel, "sms"))
		wfl_lerr(lc, tp->line, "template \"%s\": channel must be email or sms", tp->name);
	if (tp->channel && strcmp(tp->channel, "email") == 0 && !tp->subject)
		wfl_lerr(lc, tp->line, "template \"%s\": an e-mail needs a subject", tp->name);
	if ((tp->subject && strpbrk(tp->subject, "\r\n")) ||
	    (tp->from_name && strpbrk(tp->from_name, "\r\n")))
		wfl_lerr(lc, tp->line, "template \"%s\": header text with a line break", tp->name);
}

static void load_templates(struct lctx *lc, struct wf *wf, config_setting_t *root, const char *dir)
{
	config_setting_t *g = config_setting_get_member(root, "templates");
	if (!g)
		return;
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		wfl_lerr(lc, wfl_sline(g), "\"templates\" must be a group");
		return;
	}
	/* each template, then its per-front variants as "name@front" */
	int n = config_setting_length(g), cap = n;
	for (int i = 0; i < n; i++) {
		config_setting_t *t = config_setting_get_elem(g, (unsigned)i);
		config_setting_t *fr = config_setting_type(t) == CONFIG_TYPE_GROUP
					       ? config_setting_get_member(t, "fronts")
					       : NULL;
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
					       ? config_setting_get_member(t, "fronts")
					       : NULL;
		for (int j = 0; fr && j < config_setting_length(fr); j++) {
			config_setting_t *f = config_setting_get_elem(fr, (unsigned)j);
			struct wf_template *tp = &wf->templates[wf->ntemplates++];
			tp->name =
				xasprintf("%s@%s", wf->templates[bi].name, config_setting_name(f));
			load_template(lc, f, tp, &wf->templates[bi], dir);
		}
	}
}

static void load_transitions(struct lctx *lc, struct wf *wf, config_setting_t *root)
{
	static const char *known[] = {"on", "from", "to", "when", "do", NULL};
	config_setting_t *l = config_setting_get_member(root, "transitions");
	if (!l || config_setting_type(l) != CONFIG_TYPE_LIST) {
		wfl_lerr(lc, wfl_sline(l ? l : root),
			 "\"transitions\" must be a list ( {...}, ... )");
		return;
	}
	wf->ntrans = config_setting_length(l);
	wf->trans = xcalloc((size_t)wf->ntrans + 1, sizeof(*wf->trans));
	for (int i = 0; i < wf->ntrans; i++) {
		config_setting_t *t = config_setting_get_elem(l, (unsigned)i);
		struct wf_transition *tr = &wf->trans[i];
		tr->line = wfl_sline(t);
		if (config_setting_type(t) != CONFIG_TYPE_GROUP) {
			wfl_lerr(lc, tr->line,
				 "a transition must be a group { on = ...; from = ...; }");
			continue;
		}
		wfl_check_known(lc, t, known, "a transition");
		tr->on = wfl_member_str(lc, t, "on", 1);
		tr->from = wfl_member_str(lc, t, "from", 1);
		tr->to = wfl_member_str(lc, t, "to", 0);
		const struct wf_event *ev = NULL;
		for (int j = 0; tr->on && j < wf->nevents; j++)
			if (strcmp(wf->events[j].name, tr->on) == 0)
				ev = &wf->events[j];
		if (tr->on && !ev)
			wfl_lerr(lc, tr->line, "on: event \"%s\" is not declared in events",
				 tr->on);
		if (tr->from && !wf_state_find(wf, tr->from))
			wfl_lerr(lc, tr->line, "from: unknown state \"%s\"", tr->from);
		if (tr->to && !wf_state_find(wf, tr->to))
			wfl_lerr(lc, tr->line, "to: unknown state \"%s\"", tr->to);
		const struct wf_state *fs = tr->from ? wf_state_find(wf, tr->from) : NULL;
		if (fs && fs->final && tr->to && strcmp(tr->to, tr->from))
			wfl_lerr(lc, tr->line,
				 "from: \"%s\" is a final state: no transition leaves it",
				 tr->from);
		/* template variables in scope: the account's fields, the event's
		 * arguments, and the secrets issued earlier in this transition */
		struct scope sc;
		wfl_scope_base(&sc);
		const char *aname;
		json_t *atype;
		if (ev)
			json_object_foreach(ev->args, aname, atype)
				if (!wf_arg_hidden(json_string_value(atype)))
					wfl_scope_add(&sc, aname);
		config_setting_t *w = config_setting_get_member(t, "when");
		if (w) {
			int list = config_setting_type(w) == CONFIG_TYPE_LIST;
			tr->nconds = list ? config_setting_length(w) : 1;
			tr->conds = xcalloc((size_t)tr->nconds, sizeof(*tr->conds));
			for (int j = 0; j < tr->nconds; j++)
				wfl_load_cond(lc,
					      list ? config_setting_get_elem(w, (unsigned)j) : w,
					      &tr->conds[j], &sc);
		}
		/* an unguarded transition hides later ones with the same on/from */
		for (int j = 0; j < i; j++)
			if (tr->on && tr->from && wf->trans[j].on && wf->trans[j].from &&
			    !strcmp(wf->trans[j].on, tr->on) &&
			    !strcmp(wf->trans[j].from, tr->from) && wf->trans[j].nconds == 0)
				wfl_lerr(lc, tr->line,
					 "never taken: the transition on \"%s\" from \"%s\" at "
					 "line %d has no guard",
					 tr->on, tr->from, wf->trans[j].line);
		config_setting_t *d = config_setting_get_member(t, "do");
		if (!d || config_setting_type(d) != CONFIG_TYPE_LIST) {
			wfl_lerr(lc, tr->line, "\"do\" must be a list of actions");
			continue;
		}
		wfl_load_actions(lc, wf, ev, d, &tr->acts, &tr->nacts, &sc);
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
					       ? config_setting_get_member(s, "timers")
					       : NULL;
		if (!tl)
			continue;
		if (config_setting_type(tl) != CONFIG_TYPE_LIST) {
			wfl_lerr(lc, wfl_sline(tl),
				 "timers must be a list ( { after = \"1d\"; ... }, ... )");
			continue;
		}
		st->ntimers = config_setting_length(tl);
		st->timers = xcalloc((size_t)st->ntimers + 1, sizeof(*st->timers));
		for (int j = 0; j < st->ntimers; j++) {
			config_setting_t *t = config_setting_get_elem(tl, (unsigned)j);
			struct wf_timer *tm = &st->timers[j];
			tm->line = wfl_sline(t);
			if (config_setting_type(t) != CONFIG_TYPE_GROUP) {
				wfl_lerr(lc, tm->line,
					 "a timer is { after = \"1d\"; to = \"state\"; do = (...); "
					 "}");
				continue;
			}
			wfl_check_known(lc, t, known, "a timer");
			char *after = wfl_member_str(lc, t, "after", 1);
			if (after &&
			    (duration_parse(after, &tm->after_ms) < 0 || tm->after_ms <= 0))
				wfl_lerr(lc, tm->line,
					 "bad duration \"%s\" (use e.g. 30s, 15m, 2h, 1d)", after);
			free(after);
			tm->to = wfl_member_str(lc, t, "to", 0);
			if (tm->to && !wf_state_find(wf, tm->to))
				wfl_lerr(lc, tm->line, "to: unknown state \"%s\"", tm->to);
			config_setting_t *d = config_setting_get_member(t, "do");
			struct scope sc;
			wfl_scope_base(&sc);
			if (d && config_setting_type(d) == CONFIG_TYPE_LIST)
				wfl_load_actions(lc, wf, NULL, d, &tm->acts, &tm->nacts, &sc);
			else if (d)
				wfl_lerr(lc, tm->line, "\"do\" must be a list of actions");
			if (!tm->to && !d)
				wfl_lerr(lc, tm->line,
					 "a timer needs to = \"state\" or do = ( ... )");
		}
	}
}

/* check_reachable - every state must be reachable from start */
static void check_reachable(struct lctx *lc, struct wf *wf)
{
	unsigned char *seen = xcalloc((size_t)wf->nstates + 1, 1);
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
				const char *g =
					tr->acts[k].def && !strcmp(tr->acts[k].def->name, "goto")
						? wf_p_str(&tr->acts[k], "state")
						: NULL;
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
			wfl_lerr(lc, wf->states[i].line,
				 "state \"%s\" is unreachable from start \"%s\"",
				 wf->states[i].name, wf->start ? wf->start : "?");
	free(seen);
}

/* own_source - the workflow file's own text, under its name in the folder */
static void own_source(struct lctx *lc, const char *path)
{
	char *text = NULL;
	const char *base = strrchr(path, '/');
	if (file_read(path, 1 << 20, &text, NULL) == 0)
		json_object_set_new(lc->sources, base ? base + 1 : path, json_string(text));
	free(text);
}

/* load_migrate - migrate = { old_state = "new_state"; ... }: where the
 * accounts of a state this version removed go when it is loaded */
static void load_migrate(struct lctx *lc, struct wf *wf, config_setting_t *root)
{
	config_setting_t *g = config_setting_get_member(root, "migrate");
	wf->migrate = json_object();
	if (!g)
		return;
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		wfl_lerr(lc, wfl_sline(g), "\"migrate\" must be a group { old_state = \"new\"; }");
		return;
	}
	for (int i = 0; i < config_setting_length(g); i++) {
		config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *from = config_setting_name(m), *to = config_setting_get_string(m);
		if (!to)
			wfl_lerr(lc, wfl_sline(m), "migrate: %s must name a state", from);
		else if (wf_state_find(wf, from))
			wfl_lerr(lc, wfl_sline(m),
				 "migrate: \"%s\" is a state of this workflow (only removed "
				 "states are migrated)",
				 from);
		else if (!wf_state_find(wf, to))
			wfl_lerr(lc, wfl_sline(m), "migrate: unknown state \"%s\"", to);
		else
			json_object_set_new(wf->migrate, from, json_string(to));
	}
}

static struct wf *wf_load_file(const char *path, struct wf_errs *errs)
{
	static const char *known[] = {"workflow",  "start",	  "states",  "events",
				      "templates", "transitions", "migrate", NULL};
	struct lctx lc = {path, errs, json_object()};
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
			wfl_lerr(&lc, 0, "cannot read the file");
		else
			wfl_lerr(&lc, config_error_line(&cfg), "%s", config_error_text(&cfg));
		goto out;
	}
	config_setting_t *root = config_root_setting(&cfg);
	wf = xcalloc(1, sizeof(*wf));
	wf->file = xstrdup(path);
	own_source(&lc, path);
	wf->sources = json_incref(lc.sources);
	wfl_check_known(&lc, root, known, "a workflow");
	wf->name = wfl_member_str(&lc, root, "workflow", 1);
	wf->start = wfl_member_str(&lc, root, "start", 1);
	load_states(&lc, wf, root);
	if (wf->start && wf->states && !wf_state_find(wf, wf->start))
		wfl_lerr(&lc, wfl_sline(config_setting_get_member(root, "start")),
			 "start: unknown state \"%s\"", wf->start);
	load_events(&lc, wf, root);
	load_templates(&lc, wf, root, dir);
	load_transitions(&lc, wf, root);
	load_timers(&lc, wf, root);
	load_migrate(&lc, wf, root);
	check_reachable(&lc, wf);
out:
	json_decref(lc.sources);
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
		free(e->role);
		free(e->verify);
		for (int k = 0; k < 2; k++) {
			struct wf_lockout *l = k ? e->slowdown : e->lockout;
			if (l)
				free(l->key);
			free(l);
		}
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
	json_decref(wf->sources);
	json_decref(wf->migrate);
	free(wf->start);
	free(wf);
}

static void load_messages(struct wf_set *ws, const char *path, struct wf_errs *errs)
{
	struct lctx lc = {path, errs, NULL};
	config_t cfg;
	config_init(&cfg);
	if (config_read_file(&cfg, path) != CONFIG_TRUE) {
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
			wfl_lerr(&lc, 0, "cannot read the file");
		else
			wfl_lerr(&lc, config_error_line(&cfg), "%s", config_error_text(&cfg));
		goto out;
	}
	config_setting_t *g = config_lookup(&cfg, "messages");
	if (!g || config_setting_type(g) != CONFIG_TYPE_GROUP) {
		wfl_lerr(&lc, 1, "missing group \"messages\"");
		goto out;
	}
	for (int i = 0; i < config_setting_length(g); i++) {
		config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *code = config_setting_name(m);
		if (!wf_known_code(code))
			wfl_lerr(&lc, wfl_sline(m), "unknown result code \"%s\"", code);
		else if (config_setting_type(m) != CONFIG_TYPE_STRING)
			wfl_lerr(&lc, wfl_sline(m), "%s: the message must be a string", code);
		else if (!wfl_utf8_ok(config_setting_get_string(m)))
			wfl_lerr(&lc, wfl_sline(m), "%s: the message is not valid UTF-8", code);
		else
			json_object_set_new(ws->messages, code,
					    json_string(config_setting_get_string(m)));
	}
out:
	config_destroy(&cfg);
}

/* uses_idtypes - the line of an id_type argument or a check_id action in wf, or 0 */
static int uses_idtypes(const struct wf *wf)
{
	char type[32];
	const char *an;
	json_t *at;
	for (int e = 0; e < wf->nevents; e++)
		json_object_foreach(wf->events[e].args, an, at)
			if (!strcmp(wf_arg_base(json_string_value(at), type, sizeof(type)),
				    "id_type"))
				return wf->events[e].line;
	for (int t = 0; t < wf->ntrans; t++)
		for (int i = 0; i < wf->trans[t].nacts; i++)
			if (wf->trans[t].acts[i].def &&
			    wf->trans[t].acts[i].def->op == WF_OP_CHECK_ID)
				return wf->trans[t].acts[i].line;
	return 0;
}

/* need_idtypes - id_type arguments and check_id need id_types.conf */
static void need_idtypes(struct wf_set *ws, const char *dir, struct wf_errs *errs)
{
	for (int w = 0; w < ws->n && !ws->nidtypes; w++) {
		int line = uses_idtypes(ws->wfs[w]);
		if (!line)
			continue;
		struct lctx lc = {ws->wfs[w]->file, errs, NULL};
		wfl_lerr(&lc, line, "id types are used here but %s/id_types.conf lists none", dir);
		return;
	}
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* codes_of - the result codes an action list answers with (its messages) */
static void codes_of(const struct wf_action *acts, int n, json_t *codes)
{
	for (int i = 0; i < n; i++) {
		const char *c = json_string_value(json_object_get(acts[i].p, "code"));
		if (c)
			json_object_set_new(codes, c, json_true());
		const char *f = acts[i].def->fails;
		for (size_t l; f && *f; f += l + (f[l] == ' ')) {
			l = strcspn(f, " ");
			char code[64];
			snprintf(code, sizeof(code), "%.*s", (int)(l < 63 ? l : 63), f);
			json_object_set_new(codes, code, json_true());
		}
	}
}

/* hash_str - a string into the version's hash, with its length (no two
 * different lists of strings hash alike) */
static void hash_str(crypto_generichash_state *h, const char *s)
{
	uint64_t n = s ? strlen(s) : 0;
	crypto_generichash_update(h, (const unsigned char *)&n, sizeof(n));
	if (n)
		crypto_generichash_update(h, (const unsigned char *)s, n);
}

void wf_version_make(const struct wf_set *ws, struct wf *wf)
{
	crypto_generichash_state h;
	unsigned char out[8];
	json_t *codes = json_object(), *v;
	const char *name;
	crypto_generichash_init(&h, NULL, 0, sizeof(out));
	for (int i = 0; i < wf->ntrans; i++)
		codes_of(wf->trans[i].acts, wf->trans[i].nacts, codes);
	for (int i = 0; i < wf->nstates; i++)
		for (int j = 0; j < wf->states[i].ntimers; j++)
			codes_of(wf->states[i].timers[j].acts, wf->states[i].timers[j].nacts,
				 codes);
	for (int i = 0; i < wf->nevents; i++)
		codes_of(wf->events[i].limits, wf->events[i].nlimits, codes);
	/* the objects keep insertion order: hash in the order of the names */
	size_t n = json_object_size(wf->sources) + json_object_size(codes), k = 0;
	char **names = xcalloc(n + 1, sizeof(*names));
	json_object_foreach(wf->sources, name, v)
		names[k++] = xasprintf("file %s", name);
	json_object_foreach(codes, name, v)
		names[k++] = xasprintf("message %s", name);
	qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		hash_str(&h, names[i]);
		hash_str(&h,
			 !strncmp(names[i], "message ", 8)
				 ? wf_message(ws, names[i] + 8)
				 : json_string_value(json_object_get(wf->sources, names[i] + 5)));
		free(names[i]);
	}
	free(names);
	crypto_generichash_final(&h, out, sizeof(out));
	sodium_bin2hex(wf->version, sizeof(wf->version), out, sizeof(out));
	json_decref(codes);
}

/* common_sources - the set's own files (messages, id types), kept with each
 * version so that an old version can be loaded again from the store */
static void common_sources(struct wf_set *ws, const char *dir)
{
	static const char *const files[] = {"messages.conf", "id_types.conf", NULL};
	ws->common = json_object();
	for (int i = 0; files[i]; i++) {
		char *path = xasprintf("%s/%s", dir, files[i]), *text = NULL;
		if (file_read(path, 1 << 20, &text, NULL) == 0)
			json_object_set_new(ws->common, files[i], json_string(text));
		free(text);
		free(path);
	}
}

int wf_set_load(const char *dir, char **files, int nfiles, struct wf_set **out,
		struct wf_errs *errs)
{
	struct wf_set *ws = xcalloc(1, sizeof(*ws));
	char **names = NULL;
	int nnames = 0;

	ws->messages = json_object();
	ws->dir = xstrdup(dir);
	ws->refs = 1;
	if (files) {
		names = xcalloc((size_t)nfiles + 1, sizeof(char *));
		for (int i = 0; i < nfiles; i++)
			names[nnames++] = xstrdup(files[i]);
	} else {
		DIR *d = opendir(dir);
		struct dirent *de;
		if (!d) {
			struct lctx lc = {dir, errs, NULL};
			wfl_lerr(&lc, 0, "cannot open the workflow directory: %s", strerror(errno));
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
	char *ipath = xasprintf("%s/id_types.conf", dir);
	if (access(ipath, F_OK) == 0)
		wf_idtypes_load(ws, ipath, errs);
	free(ipath);
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
					if (!strcmp(ws->wfs[w]->events[f].name,
						    wf->events[e].name) &&
					    json_equal(ws->wfs[w]->events[f].match,
						       wf->events[e].match)) {
						struct lctx lc = {names[i], errs, NULL};
						wfl_lerr(&lc, wf->events[e].line,
							 "event \"%s\" is handled by %s already",
							 wf->events[e].name, ws->wfs[w]->file);
					}
		for (int w = 0; w < ws->n - 1; w++)
			if (wf->name && ws->wfs[w]->name && !strcmp(wf->name, ws->wfs[w]->name)) {
				struct lctx lc = {names[i], errs, NULL};
				wfl_lerr(&lc, 1, "workflow \"%s\" is defined in %s already",
					 wf->name, ws->wfs[w]->file);
			}
	}
	need_idtypes(ws, dir, errs);
	common_sources(ws, dir);
	for (int i = 0; i < ws->n && errs->n == 0; i++) /* a set with errors is not used */
		wf_version_make(ws, ws->wfs[i]);
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
	json_decref(ws->common);
	wf_idtypes_free(ws);
	free(ws->dir);
	free(ws);
}
