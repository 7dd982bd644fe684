/*
 * wf_idtypes - the kinds of certificate an account may be bound with, read
 * from id_types.conf in the workflow directory: each with its name (the
 * id_type argument), its title, and its format - a pattern the whole
 * number must match (POSIX extended), a built-in rule (gb11643: the
 * resident id's check digit and birth date), or both.
 *
 * The list is data: an operator adds a kind of certificate by adding a
 * row, and "regflowctl check" refuses a bad pattern or rule by its line.
 */
#include "util.h"
#include "wf_load_priv.h"

#include <ctype.h>
#include <libconfig.h>
#include <stdlib.h>
#include <string.h>

static const char *const rules[] = {"gb11643", NULL};

/* compile - the pattern anchored at both ends ("^(P)$"); 0 or the regcomp error */
static int compile(struct wf_idtype *t, char *err, size_t n)
{
	char *full = xasprintf("^(%s)$", t->pattern);
	int rc = regcomp(&t->re, full, REG_EXTENDED | REG_NOSUB);
	free(full);
	if (rc != 0) {
		regerror(rc, &t->re, err, n);
		return rc;
	}
	t->has_re = 1;
	return 0;
}

static void load_one(struct lctx *lc, config_setting_t *g, struct wf_idtype *t)
{
	static const char *const known[] = {"name", "title", "pattern", "rule", NULL};
	char err[128];
	t->line = wfl_sline(g);
	wfl_check_known(lc, g, known, "an id type");
	t->name = wfl_member_str(lc, g, "name", 1);
	t->title = wfl_member_str(lc, g, "title", 1);
	t->pattern = wfl_member_str(lc, g, "pattern", 0);
	t->rule = wfl_member_str(lc, g, "rule", 0);
	if (t->name && wf_arg_check("id_type", t->name))
		wfl_lerr(lc, t->line, "id type \"%s\": a name is 1 to 31 of a-z, 0-9 and _",
			 t->name);
	if (t->title && !wfl_utf8_ok(t->title))
		wfl_lerr(lc, t->line, "id type \"%s\": the title is not valid UTF-8",
			 t->name ? t->name : "");
	if (!t->pattern && !t->rule)
		wfl_lerr(lc, t->line, "id type \"%s\": needs a pattern, a rule or both",
			 t->name ? t->name : "");
	if (t->rule && !wfl_in_list(rules, t->rule))
		wfl_lerr(lc, t->line, "id type \"%s\": unknown rule \"%s\" (gb11643)",
			 t->name ? t->name : "", t->rule);
	if (t->pattern && compile(t, err, sizeof(err)) != 0)
		wfl_lerr(lc, t->line, "id type \"%s\": bad pattern \"%s\": %s",
			 t->name ? t->name : "", t->pattern, err);
}

void wf_idtypes_load(struct wf_set *ws, const char *path, struct wf_errs *errs)
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
	config_setting_t *l = config_lookup(&cfg, "id_types");
	if (!l || config_setting_type(l) != CONFIG_TYPE_LIST || config_setting_length(l) == 0) {
		wfl_lerr(&lc, 1, "missing list \"id_types\" (at least one id type)");
		goto out;
	}
	int n = config_setting_length(l);
	ws->idtypes = xcalloc((size_t)n, sizeof(*ws->idtypes));
	for (int i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
		struct wf_idtype *t = &ws->idtypes[ws->nidtypes++];
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			wfl_lerr(&lc, wfl_sline(g), "an id type is a group { name = ...; }");
			continue;
		}
		load_one(&lc, g, t);
		for (int j = 0; t->name && j < ws->nidtypes - 1; j++)
			if (ws->idtypes[j].name && !strcmp(ws->idtypes[j].name, t->name))
				wfl_lerr(&lc, t->line, "id type \"%s\" is listed already (line %d)",
					 t->name, ws->idtypes[j].line);
	}
out:
	config_destroy(&cfg);
}

void wf_idtypes_free(struct wf_set *ws)
{
	for (int i = 0; i < ws->nidtypes; i++) {
		struct wf_idtype *t = &ws->idtypes[i];
		if (t->has_re)
			regfree(&t->re);
		free(t->name);
		free(t->title);
		free(t->pattern);
		free(t->rule);
	}
	free(ws->idtypes);
	ws->idtypes = NULL;
	ws->nidtypes = 0;
}

const struct wf_idtype *wf_idtype_find(const struct wf_set *ws, const char *name)
{
	for (int i = 0; name && i < ws->nidtypes; i++)
		if (!strcmp(ws->idtypes[i].name, name))
			return &ws->idtypes[i];
	return NULL;
}

const char *wf_idtype_check(const struct wf_idtype *t, const char *no)
{
	if (!no || !*no)
		return "the id number is empty";
	if (t->rule && !strcmp(t->rule, "gb11643")) {
		const char *why = wf_idno_check(no);
		if (why)
			return why;
	}
	if (t->has_re && regexec(&t->re, no, 0, NULL, 0) != 0)
		return "the id number is not in this id type's format";
	return NULL;
}

char *wf_idtype_names(const struct wf_set *ws)
{
	size_t n = 1;
	for (int i = 0; i < ws->nidtypes; i++)
		n += strlen(ws->idtypes[i].name) + 2;
	char *s = xcalloc(1, n);
	for (int i = 0; i < ws->nidtypes; i++) {
		if (i)
			strcat(s, ", ");
		strcat(s, ws->idtypes[i].name);
	}
	return s;
}
