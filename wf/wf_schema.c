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
	{"set", WF_OP_SET, {{"field", WP_FIELD, 1}, {"value", WP_TMPL, 1}}, NULL},
	{"set_password", WF_OP_SET_PASSWORD, {{"arg", WP_STR, 0}, {"from", WP_STR, 0}}, NULL},
	{"reply", WF_OP_REPLY, {{"code", WP_CODE, 1}}, NULL},
	{"fail", WF_OP_FAIL, {{"code", WP_CODE, 1}}, NULL},
	{"issue_token",
	 WF_OP_ISSUE_TOKEN,
	 {{"purpose", WP_STR, 1},
	  {"valid", WP_DUR, 1},
	  {"password", WP_STR, 0},
	  {"keep", WP_BOOL, 0}},
	 "token"},
	{"verify_token", WF_OP_VERIFY_TOKEN, {{"purpose", WP_STR, 1}}, NULL},
	{"issue_code",
	 WF_OP_ISSUE_CODE,
	 {{"purpose", WP_STR, 1},
	  {"valid", WP_DUR, 1},
	  {"target", WP_TMPL, 1},
	  {"length", WP_INT, 0}},
	 "code"},
	{"verify_code",
	 WF_OP_VERIFY_CODE,
	 {{"purpose", WP_STR, 1}, {"target", WP_TMPL, 1}, {"attempts", WP_INT, 0}},
	 NULL},
	{"send", WF_OP_SEND, {{"template", WP_TEMPLATE, 1}, {"to", WP_TMPL, 1}}, NULL},
	{"unique",
	 WF_OP_UNIQUE,
	 {{"field", WP_FIELD, 1}, {"value", WP_TMPL, 1}, {"code", WP_CODE, 1}},
	 NULL},
	{"require", WF_OP_REQUIRE, {{"field", WP_FIELD, 1}, {"code", WP_CODE, 1}}, NULL},
	{"limit",
	 WF_OP_LIMIT,
	 {{"key", WP_TMPL, 1},
	  {"rules", WP_RULES, 0},
	  {"blacklist", WP_BLACKLIST, 0},
	  {"over", WP_STR, 0}},
	 "limited"},
	{"goto", WF_OP_GOTO, {{"state", WP_STATE, 1}}, NULL},
	{"lookup", WF_OP_LOOKUP, {{"field", WP_STR, 1}, {"value", WP_TMPL, 1}}, OTHER_VARS},
	{"set_other", WF_OP_SET_OTHER, {{"field", WP_FIELD, 1}, {"value", WP_TMPL, 1}}, NULL},
	{"check_id", WF_OP_CHECK_ID, {{"type", WP_TMPL, 1}, {"number", WP_TMPL, 1}}, NULL},
	{"check_photo", WF_OP_CHECK_PHOTO, {{"max_bytes", WP_INT, 0}}, "photo_type"},
	{"review_open", WF_OP_REVIEW_OPEN, {{NULL, 0, 0}}, NULL},
	{"review_close", WF_OP_REVIEW_CLOSE, {{"state", WP_STR, 1}}, NULL},
	{"deregister_others",
	 WF_OP_DEREGISTER_OTHERS,
	 {{"email_template", WP_TEMPLATE, 1}, {"sms_template", WP_TEMPLATE, 1}},
	 OTHER_VARS},
	{"inbox_send",
	 WF_OP_INBOX_SEND,
	 {{"type", WP_STR, 1}, {"text", WP_TMPL, 1}, {"valid", WP_DUR, 1}, {"data", WP_TMPL, 0}},
	 NULL},
	{"inbox_answer",
	 WF_OP_INBOX_ANSWER,
	 {{"type", WP_STR, 1}, {"answer", WP_STR, 1}},
	 OTHER_VARS " request_data"},
	{"revoke", WF_OP_REVOKE, {{"purpose", WP_STR, 1}}, NULL},
};

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
