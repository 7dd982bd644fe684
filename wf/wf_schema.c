/*
 * wf_schema - the action library's schema: each action's name, its
 * parameters (checked and converted by the loader) and the variables it
 * puts in scope.  The code that runs an action lives in the runtime
 * (runtime/wf_actions.c), bound to these rows by their op.
 */
#include "wf.h"

#include <string.h>

/* the variables an action that names another account puts in scope */
#define OTHER_VARS                                                                                 \
	"other_id other_status other_name other_email other_phone other_login other_front "        \
	"other_email_bound other_phone_bound other_idno other_masked"

static const struct wf_action_def actions[] = {
	{"set", WF_OP_SET, {{"field", WP_FIELD, 1}, {"value", WP_TMPL, 1}}, NULL, NULL},
	{"set_password", WF_OP_SET_PASSWORD, {{"arg", WP_STR, 0}, {"from", WP_STR, 0}}, NULL, NULL},
	{"reply", WF_OP_REPLY, {{"code", WP_CODE, 1}}, NULL, NULL},
	{"fail", WF_OP_FAIL, {{"code", WP_CODE, 1}}, NULL, NULL},
	{"issue_token",
	 WF_OP_ISSUE_TOKEN,
	 {{"purpose", WP_STR, 1},
	  {"valid", WP_DUR, 1},
	  {"password", WP_STR, 0},
	  {"keep", WP_BOOL, 0}},
	 "token",
	 NULL},
	{"verify_token",
	 WF_OP_VERIFY_TOKEN,
	 {{"purpose", WP_STR, 1}},
	 NULL,
	 "CODE_EXPIRED CODE_INVALID"},
	{"issue_code",
	 WF_OP_ISSUE_CODE,
	 {{"purpose", WP_STR, 1},
	  {"valid", WP_DUR, 1},
	  {"target", WP_TMPL, 1},
	  {"length", WP_INT, 0}},
	 "code",
	 NULL},
	{"verify_code",
	 WF_OP_VERIFY_CODE,
	 {{"purpose", WP_STR, 1}, {"target", WP_TMPL, 1}, {"attempts", WP_INT, 0}},
	 NULL,
	 "CODE_EXPIRED CODE_INVALID CODE_ATTEMPTS_EXCEEDED"},
	{"send", WF_OP_SEND, {{"template", WP_TEMPLATE, 1}, {"to", WP_TMPL, 1}}, NULL, NULL},
	{"unique",
	 WF_OP_UNIQUE,
	 {{"field", WP_FIELD, 1}, {"value", WP_TMPL, 1}, {"code", WP_CODE, 1}},
	 NULL,
	 NULL},
	{"require", WF_OP_REQUIRE, {{"field", WP_FIELD, 1}, {"code", WP_CODE, 1}}, NULL, NULL},
	{"limit",
	 WF_OP_LIMIT,
	 {{"key", WP_TMPL, 1},
	  {"rules", WP_RULES, 0},
	  {"blacklist", WP_BLACKLIST, 0},
	  {"over", WP_STR, 0}},
	 "limited",
	 "RATE_LIMITED BLACKLISTED"},
	{"goto", WF_OP_GOTO, {{"state", WP_STATE, 1}}, NULL, NULL},
	{"lookup", WF_OP_LOOKUP, {{"field", WP_STR, 1}, {"value", WP_TMPL, 1}}, OTHER_VARS, NULL},
	{"set_other",
	 WF_OP_SET_OTHER,
	 {{"field", WP_FIELD, 1}, {"value", WP_TMPL, 1}},
	 NULL,
	 "NOT_FOUND"},
	{"check_id",
	 WF_OP_CHECK_ID,
	 {{"type", WP_TMPL, 1}, {"number", WP_TMPL, 1}},
	 NULL,
	 "IDNO_INVALID"},
	{"check_photo",
	 WF_OP_CHECK_PHOTO,
	 {{"max_bytes", WP_INT, 0}},
	 "photo_type",
	 "PHOTO_TOO_LARGE PHOTO_FORMAT"},
	{"review_open", WF_OP_REVIEW_OPEN, {{NULL, 0, 0}}, NULL, NULL},
	{"review_close", WF_OP_REVIEW_CLOSE, {{"state", WP_STR, 1}}, NULL, "NOT_FOUND"},
	{"deregister_others",
	 WF_OP_DEREGISTER_OTHERS,
	 {{"email_template", WP_TEMPLATE, 1}, {"sms_template", WP_TEMPLATE, 1}},
	 OTHER_VARS,
	 NULL},
	{"inbox_send",
	 WF_OP_INBOX_SEND,
	 {{"type", WP_STR, 1}, {"text", WP_TMPL, 1}, {"valid", WP_DUR, 1}, {"data", WP_TMPL, 0}},
	 NULL,
	 "NOT_FOUND"},
	{"inbox_answer",
	 WF_OP_INBOX_ANSWER,
	 {{"type", WP_STR, 1}, {"answer", WP_STR, 1}},
	 OTHER_VARS " request_data",
	 "NOT_FOUND CODE_EXPIRED"},
	{"revoke", WF_OP_REVOKE, {{"purpose", WP_STR, 1}}, NULL, NULL},
	/* a question to an outside service, answered later by the event
	 * SERVICE_answer; asked = "1" and check = its id when it was asked
	 * (not when the engine has the service off) */
	{"ask",
	 WF_OP_ASK,
	 {{"service", WP_SERVICE, 1},
	  {"name", WP_TMPL, 1},
	  {"id_type", WP_TMPL, 1},
	  {"id_no", WP_TMPL, 1}},
	 "asked check",
	 NULL},
};

int wf_service_known(const char *name)
{
	return !strcmp(name, "registry");
}

const struct wf_action_def *wf_action_lookup(const char *name)
{
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (strcmp(actions[i].name, name) == 0)
			return &actions[i];
	return NULL;
}

const struct wf_action_def *wf_action_by_op(enum wf_op op)
{
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (actions[i].op == op)
			return &actions[i];
	return NULL;
}
