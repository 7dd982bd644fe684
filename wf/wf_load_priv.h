/*
 * wf_load_priv - what the workflow loader's two files share: the error
 * collector, setting helpers and the scope of template variables.
 * Private to wf_load.c and wf_load_act.c.
 */
#ifndef REGFLOW_WF_LOAD_PRIV_H
#define REGFLOW_WF_LOAD_PRIV_H

#include "wf.h"

#include <libconfig.h>

struct lctx {
	const char *file;
	struct wf_errs *errs;
	json_t *sources; /* the files read for the workflow: name -> text (its version) */
};

/* scope - the template variables visible to an action list */
struct scope {
	const char *v[48];
	int n;
};

void wfl_lerr(struct lctx *lc, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int wfl_sline(const config_setting_t *s);
/* wfl_member_str - a string member of group g; missing and required is an error */
char *wfl_member_str(struct lctx *lc, config_setting_t *g, const char *name, int required);
/* wfl_check_known - every member of g is one of known */
void wfl_check_known(struct lctx *lc, config_setting_t *g, const char *const *known,
		     const char *what);
/* wfl_tmpl_vars_check - every {{name}} in text must be in vars */
void wfl_tmpl_vars_check(struct lctx *lc, int line, const char *text, const char *const *vars,
			 const char *where);
int wfl_in_list(const char *const *list, const char *s);
/* wfl_utf8_ok - 1 if s is valid UTF-8 (every string of a workflow must be) */
int wfl_utf8_ok(const char *s);

void wfl_scope_add(struct scope *sc, const char *name);
/* wfl_scope_base - what every action list sees: the account's own fields */
void wfl_scope_base(struct scope *sc);
/* wfl_load_actions - a "do" list (ev NULL for a timer) */
void wfl_load_actions(struct lctx *lc, struct wf *wf, const struct wf_event *ev,
		      config_setting_t *d, struct wf_action **acts, int *nacts, struct scope *sc);
/* wfl_load_action - one action group */
void wfl_load_action(struct lctx *lc, struct wf *wf, const struct wf_event *ev, config_setting_t *a,
		     struct wf_action *act, struct scope *sc);
void wfl_load_cond(struct lctx *lc, config_setting_t *g, struct wf_cond *c, struct scope *sc);

#endif
