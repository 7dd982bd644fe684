/*
 * wf - declarative workflows: the loaded form of the workflow files
 * (workflows/NAME.wf, libconfig syntax; docs/workflows.md).
 *
 * A workflow is a state machine over accounts: events (job types) arrive,
 * find their subject account, and run the first transition whose "from"
 * is the account's state and whose guard holds.  States may carry timers
 * (persisted, cancelled when the state is left).  Actions come from a
 * fixed library: its schema (names, parameters) is here (wf_schema.c), its
 * code in the runtime (runtime/wf_actions.c); everything that is policy -
 * states, validity periods, limits, templates, result codes - is data.
 */
#ifndef REGFLOW_WF_H
#define REGFLOW_WF_H

#include <jansson.h>
#include <regex.h>
#include <stdint.h>
#include <string.h>

struct wf;
struct wf_action;

/* parameter kinds an action declares; the loader checks and converts them */
enum wf_param_kind {
	WP_STR,	      /* a plain string */
	WP_TMPL,      /* a string with {{variables}}, checked against those in scope */
	WP_DUR,	      /* a duration ("30s", "1d"): stored as integer milliseconds */
	WP_INT,	      /* an integer */
	WP_CODE,      /* a result code of SPEC section 3 */
	WP_TEMPLATE,  /* the name of a template of this workflow */
	WP_FIELD,     /* an account field the workflow may set */
	WP_RULES,     /* a list of { max = N; per = "1h"; } */
	WP_BLACKLIST, /* { max = N; per = "1d"; for = "1d"; } */
	WP_STATE,     /* the name of a state of this workflow */
	WP_BOOL,      /* true or false */
	WP_SERVICE    /* an outside service the gateway asks (wf_service_known) */
};

struct wf_param {
	const char *name;
	enum wf_param_kind kind;
	int required;
};

/*
 * the actions of the library, by name (the schema: wf_schema.c); the
 * runtime binds each op to the code that runs it (runtime/wf_actions.c)
 */
enum wf_op {
	WF_OP_SET,
	WF_OP_SET_PASSWORD,
	WF_OP_REPLY,
	WF_OP_FAIL,
	WF_OP_ISSUE_TOKEN,
	WF_OP_VERIFY_TOKEN,
	WF_OP_ISSUE_CODE,
	WF_OP_VERIFY_CODE,
	WF_OP_SEND,
	WF_OP_UNIQUE,
	WF_OP_REQUIRE,
	WF_OP_LIMIT,
	WF_OP_GOTO,
	WF_OP_LOOKUP,
	WF_OP_SET_OTHER,
	WF_OP_CHECK_ID,
	WF_OP_CHECK_PHOTO,
	WF_OP_REVIEW_OPEN,
	WF_OP_REVIEW_CLOSE,
	WF_OP_DEREGISTER_OTHERS,
	WF_OP_INBOX_SEND,
	WF_OP_INBOX_ANSWER,
	WF_OP_REVOKE,
	WF_OP_ASK,
	WF_OP_N
};

/* wf_action_def - one action of the schema: its name, parameters, and
 * the secret or other variables it puts in scope for later actions */
struct wf_action_def {
	const char *name;
	enum wf_op op;
	struct wf_param params[8];
	const char *provides; /* space-separated variable names, or NULL */
	const char *fails;    /* space-separated result codes it fails with itself */
};

/* wf_service_known - 1 for a service "ask" may name ("registry", the
 * identity registry); its answer is the event SERVICE_answer */
int wf_service_known(const char *name);

/* the result codes the engine answers with outside any action */
#define WF_ENGINE_CODES "OK NOT_FOUND LOGIN_FAILED DEREGISTERED"

/*
 * a condition: the account's field (or, if the account has no such field,
 * the variable) equals a value, or is set / not set
 */
struct wf_cond {
	char *field;
	char *equals; /* template; NULL: test "set" */
	int set;      /* with equals NULL: 1 field must be non-empty, 0 empty */
	int negate;   /* "not = true": the opposite */
};

struct wf_action {
	const struct wf_action_def *def;
	json_t *p;	      /* params by name, converted (durations as ms integers) */
	struct wf_cond *cond; /* "if": the action runs only when it holds */
	int line;
};

struct wf_transition {
	char *on, *from, *to; /* to NULL: stay */
	struct wf_cond *conds;
	int nconds;
	struct wf_action *acts;
	int nacts;
	int line;
};

struct wf_timer {
	int64_t after_ms;
	char *to; /* NULL: stay */
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
	int final; /* the workflow is over here: no transition or timer leaves it */
	struct wf_timer *timers;
	int ntimers;
	int line;
};

/*
 * a lockout (per login and client): after `after` failures in a row the
 * key is locked for `lock`, each further lock `growth` times longer, at
 * most `longest`; a success unlocks and forgets.  A slowdown (per login
 * alone): past `after` failures every attempt waits `step` more, at most
 * `longest` - it never locks the owner out.
 */
struct wf_lockout {
	char *key; /* template */
	int64_t after, lock_ms, growth, longest_ms;
	int line;
};

struct wf_event {
	char *name;
	json_t *args;  /* name -> type ("email", "password", ...; "email?" is optional) */
	json_t *match; /* arg -> value the job must carry to be this event (send_code's purpose) */
	int reveal;    /* 0: the reply never says whether the subject exists (recovery) */
	char *by;      /* subject lookup: "email" | "phone" | "token" | "account" | "review", or
			* several as "token|phone": the first argument present */
	char *purpose; /* by token: the token's purpose */
	char *missing; /* no such subject: "create" or a result code */
	char *role;    /* the role a token needs for this job type ("front" unless said) */
	int durable;   /* 0: answered with its result, never written (login) */
	char *verify;  /* the argument (of type secret) checked against the account's password */
	struct wf_lockout *lockout, *slowdown; /* with verify: the brute-force limits */
	struct wf_action *limits;	       /* "limit" actions run before any transition */
	int nlimits;
	struct wf *wf;
	int line;
};

struct wf {
	char *name, *file, *start;
	/* the version: the hash of everything it is made of (its file, its
	 * body files, the messages it answers with), 16 hex digits */
	char version[17];
	json_t *sources; /* what it is made of: name (relative to the folder) -> text */
	json_t *migrate; /* migrate = { old_state = "new_state"; }: removed states' accounts move */
	struct wf_state *states;
	int nstates;
	struct wf_event *events;
	int nevents;
	struct wf_template *templates;
	int ntemplates;
	struct wf_transition *trans;
	int ntrans;
};

/* an id type of id_types.conf: the number matches its pattern and its rule */
struct wf_idtype {
	char *name;    /* the id_type argument: "resident", "passport", ... */
	char *title;   /* 居民身份证, ... */
	char *pattern; /* POSIX extended, matched against the whole number; or NULL */
	char *rule;    /* a built-in check ("gb11643"); or NULL */
	regex_t re;
	int has_re;
	int line;
};

struct wf_set {
	struct wf **wfs;
	int n;
	struct wf_idtype *idtypes; /* from id_types.conf */
	int nidtypes;
	json_t *messages; /* result code -> user-facing text */
	char *dir;
	int64_t retention_ms; /* how long spent tokens, codes, counters and inbox items stay */
	int64_t history_ms;   /* how long an account's history entries stay */
	int64_t photo_ms;     /* how long an id photo stays once its review is decided */
	int64_t park_ms;      /* a timer whose workflow is not loaded: tried again after it */
	int refs;	      /* wf_set_ref/unref: a replaced set lives while a job uses it */
	json_t *common;	      /* messages.conf and id_types.conf: name -> text */
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
/* wf_version_make - wf's version from its sources and the messages of ws it uses */
void wf_version_make(const struct wf_set *ws, struct wf *wf);
/* wf_set_ref - one more user of ws (a loaded set has one); wf_set_unref -
 * one fewer: the last frees it.  On one thread only (the engine's loop). */
struct wf_set *wf_set_ref(struct wf_set *ws);
void wf_set_unref(struct wf_set *ws);
void wf_errs_free(struct wf_errs *e);

/* wf_set_event - the event for a job of this type and arguments (args NULL: any) */
const struct wf_event *wf_set_event(const struct wf_set *ws, const char *name, const json_t *args);
/* wf_set_has_type - 1 if some workflow takes jobs of this type */
int wf_set_has_type(const struct wf_set *ws, const char *name);
/* wf_arg_base - "email" for "email?"; wf_arg_optional - 1 for "email?" */
const char *wf_arg_base(const char *type, char *buf, size_t n);
int wf_arg_optional(const char *type);
const struct wf *wf_set_find(const struct wf_set *ws, const char *name);
const struct wf_state *wf_state_find(const struct wf *wf, const char *name);
const struct wf_template *wf_template_find(const struct wf *wf, const char *name);
/* wf_message - the text for a result code ("" if unknown) */
const char *wf_message(const struct wf_set *ws, const char *code);

/* wf_arg_check - validate one argument of the given type; NULL if fine, else why */
const char *wf_arg_check(const char *type, const char *value);
/* wf_arg_hidden - 1 for the types no template sees (password, secret) */
int wf_arg_hidden(const char *type);
/* wf_arg_type_known - 1 if type is an argument type wf_arg_check knows */
int wf_arg_type_known(const char *type);
/* wf_known_code - 1 if code is a result code the SPEC defines */
int wf_known_code(const char *code);
/* wf_action_lookup - the schema's definition of an action, or NULL */
const struct wf_action_def *wf_action_lookup(const char *name);
/* wf_action_by_op - the schema's definition of an op (every op has one) */
const struct wf_action_def *wf_action_by_op(enum wf_op op);

/* the account fields the engine manages itself: workflows may not set them */
int wf_field_reserved(const char *field);

/* wf_by_arg - the job argument a subject lookup reads ("id_no" for "idno") */
static inline const char *wf_by_arg(const char *by)
{
	return strcmp(by, "idno") == 0 ? "id_no" : by;
}

/* wf_mask - "186********" / "li***@example.com": an identifier shown to others */
void wf_mask(const char *id, char *out, size_t n);
/* wf_idtypes_load - dir/id_types.conf into ws (errors into errs); wf_idtypes_free */
void wf_idtypes_load(struct wf_set *ws, const char *path, struct wf_errs *errs);
void wf_idtypes_free(struct wf_set *ws);
/* wf_idtype_find - the id type of this name, or NULL */
const struct wf_idtype *wf_idtype_find(const struct wf_set *ws, const char *name);
/* wf_idtype_check - NULL if no is a number of type t, else why */
const char *wf_idtype_check(const struct wf_idtype *t, const char *no);
/* wf_idtype_names - "resident, passport, ..." (free it) */
char *wf_idtype_names(const struct wf_set *ws);
/* wf_idno_check - GB 11643 resident id: NULL if valid, else why */
const char *wf_idno_check(const char *no);

/* p_str, p_int - an action's converted parameter */
static inline const char *wf_p_str(const struct wf_action *a, const char *name)
{
	return json_string_value(json_object_get(a->p, name));
}
static inline int wf_p_bool(const struct wf_action *a, const char *name)
{
	return json_is_true(json_object_get(a->p, name));
}
static inline int64_t wf_p_int(const struct wf_action *a, const char *name, int64_t def)
{
	json_t *v = json_object_get(a->p, name);
	return v ? (int64_t)json_integer_value(v) : def;
}

#endif
