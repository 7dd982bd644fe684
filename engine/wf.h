/*
 * wf - declarative workflows: the loaded form of the workflow files (workflows/NAME.wf).
 *
 * A workflow is a state machine over accounts: events (job types) arrive,
 * find their subject account, and run the transition for the account's
 * current state.  Actions come from a fixed library written in C
 * (wf_run.c); everything that is policy - states, validity periods,
 * templates, result codes - is data in the files.  docs/workflows.md
 * describes the language.
 */
#ifndef REGFLOW_WF_H
#define REGFLOW_WF_H

#include <jansson.h>
#include <stdint.h>

enum wf_act_kind {
	WA_SET,          /* field, value (template) */
	WA_SET_PASSWORD, /* account.pwhash := the event's password (hashed at intake) */
	WA_ISSUE_TOKEN,  /* purpose, valid: a new secret token, older ones revoked */
	WA_VERIFY_TOKEN, /* purpose: the event's token must be live: consumed */
	WA_SEND,         /* template, to (template) */
	WA_REPLY,        /* code */
};

struct wf_action {
	enum wf_act_kind kind;
	int line;
	char *field, *value, *purpose, *tmpl, *to, *code;
	int64_t valid_ms;
};

struct wf_transition {
	char *on, *from, *to; /* to NULL: stay */
	struct wf_action *acts;
	int nacts;
	int line;
};

struct wf_template {
	char *name, *channel, *from_name, *subject, *body;
	int line;
};

struct wf_state {
	char *name, *status;
	int line;
};

struct wf;

struct wf_event {
	char *name;
	json_t *args;   /* name -> type ("email", "password", "token", "string") */
	char *by;       /* subject lookup: "email" | "token" | "account" */
	char *purpose;  /* by token: the token's purpose */
	char *missing;  /* no such subject: "create" or a result code */
	struct wf *wf;
	int line;
};

struct wf {
	char *name, *file, *start;
	struct wf_state *states;
	int nstates;
	struct wf_event *events;
	int nevents;
	struct wf_template *templates;
	int ntemplates;
	struct wf_transition *trans;
	int ntrans;
};

struct wf_set {
	struct wf **wfs;
	int n;
	json_t *messages; /* result code -> user-facing text */
	char *dir;
};

/* wf_errs - every error found, each "file:line: reason" */
struct wf_errs {
	char **v;
	int n;
};

/*
 * wf_set_load - load every *.wf under dir and dir/messages.conf; or, with
 * files != NULL, just those files (regflowctl check FILES).  Returns 0, or
 * -EINVAL with every problem in errs (the set is then not returned).
 */
int wf_set_load(const char *dir, char **files, int nfiles, struct wf_set **out,
		struct wf_errs *errs);
void wf_set_free(struct wf_set *ws);
void wf_errs_free(struct wf_errs *e);

const struct wf_event *wf_set_event(const struct wf_set *ws, const char *name);
const struct wf_state *wf_state_find(const struct wf *wf, const char *name);
const struct wf_template *wf_template_find(const struct wf *wf, const char *name);
/* wf_message - the text for a result code ("" if unknown) */
const char *wf_message(const struct wf_set *ws, const char *code);

/* wf_arg_check - validate one argument of the given type; NULL if fine, else why */
const char *wf_arg_check(const char *type, const char *value);
/* wf_known_code - 1 if code is a result code the SPEC defines */
int wf_known_code(const char *code);

#endif
