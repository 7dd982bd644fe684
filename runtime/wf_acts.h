/*
 * wf_acts - the action code, one function per op of the schema
 * (wf/wf_schema.c), bound in wf_actions.c.  Private to the runtime.
 * Each returns 0, WF_ACT_FAILED (wf_ctx_fail) or a negative errno.
 */
#ifndef REGFLOW_WF_ACTS_H
#define REGFLOW_WF_ACTS_H

#include "wf_ctx.h"

/* wf_actions.c: the account's own fields, replies, sending */
int act_set(struct wf_ctx *c, const struct wf_action *a);
int act_set_password(struct wf_ctx *c, const struct wf_action *a);
int act_reply(struct wf_ctx *c, const struct wf_action *a);
int act_fail(struct wf_ctx *c, const struct wf_action *a);
int act_goto(struct wf_ctx *c, const struct wf_action *a);
int act_send(struct wf_ctx *c, const struct wf_action *a);
int act_unique(struct wf_ctx *c, const struct wf_action *a);
int act_require(struct wf_ctx *c, const struct wf_action *a);
int act_lookup(struct wf_ctx *c, const struct wf_action *a);
int act_set_other(struct wf_ctx *c, const struct wf_action *a);
int act_check_id(struct wf_ctx *c, const struct wf_action *a);
/* act_secret.c: links' tokens and short codes */
int act_issue_token(struct wf_ctx *c, const struct wf_action *a);
int act_verify_token(struct wf_ctx *c, const struct wf_action *a);
int act_issue_code(struct wf_ctx *c, const struct wf_action *a);
int act_verify_code(struct wf_ctx *c, const struct wf_action *a);
int act_revoke(struct wf_ctx *c, const struct wf_action *a);
/* act_ask.c */
int act_ask(struct wf_ctx *c, const struct wf_action *a);
/* wf_acts_outbox_put - a message into this transition's writes, in the
 * spool's format; -EINVAL if it cannot be one (logged) */
struct spool_msg;
int wf_acts_outbox_put(struct wf_ctx *c, struct spool_msg *m);
/* act_limit.c: rate limits and blacklists */
int act_limit(struct wf_ctx *c, const struct wf_action *a);
/* act_review.c: photos, duplicate-id reviews, deregistration */
int act_check_photo(struct wf_ctx *c, const struct wf_action *a);
int act_review_open(struct wf_ctx *c, const struct wf_action *a);
int act_review_close(struct wf_ctx *c, const struct wf_action *a);
int act_deregister_others(struct wf_ctx *c, const struct wf_action *a);
/* act_inbox.c: requests between accounts */
int act_inbox_send(struct wf_ctx *c, const struct wf_action *a);
int act_inbox_answer(struct wf_ctx *c, const struct wf_action *a);

/* wf_acts_other_accounts - the live (not deregistered) accounts other than
 * the subject whose field is value, as an object key -> record */
int wf_acts_other_accounts(struct wf_ctx *c, const char *field, const char *value, json_t **out);
/* wf_acts_field_value - a rendered value as the field stores it (addresses in lower case) */
char *wf_acts_field_value(struct wf_ctx *c, const char *field, const char *tmpl);
/* wf_acts_newest_pwhash - the password hash the newest live token of purpose
 * of the subject carries (in *out, caller frees; NULL if none) */
int wf_acts_newest_pwhash(struct wf_ctx *c, const char *purpose, char **out);
/* wf_acts_send - one message of template tname to the rendered address to */
int wf_acts_send(struct wf_ctx *c, const char *tname, const char *to);

#endif
