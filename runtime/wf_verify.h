/*
 * wf_verify - the password check of an event with verify = ARG (login,
 * change_password): what can be known before the Argon2id work (is the
 * key locked out? how long must it wait? which stored hash to check?) and
 * the outcome once the engine has checked it off the loop.
 *
 * The engine puts the check's outcome in the job's arguments under names
 * no caller can send (the API refuses undeclared arguments): "%verified"
 * ("1" or "0"), "%hash" (a digest of the stored hash it checked, so a
 * password changed meanwhile is no match) and "%rehash" (a new hash, when
 * the stored one was made with older parameters).
 */
#ifndef REGFLOW_WF_VERIFY_H
#define REGFLOW_WF_VERIFY_H

#include "store.h"
#include "wf.h"

#include <stdint.h>

struct wf_peek {
	int locked;	  /* the lockout's key is locked now: LOGIN_FAILED, no hashing */
	int64_t delay_ms; /* the slowdown: wait this long before checking */
	char *hash;	  /* the stored hash to check, or NULL (none: a dummy's work) */
};

/* wf_verify_peek - read only: nothing is written */
int wf_verify_peek(const struct wf_set *ws, const struct wf_event *ev, struct store *st,
		   json_t *args, const char *front, int64_t now, struct wf_peek *out);
void wf_peek_free(struct wf_peek *p);
/* wf_verify_digest - the "%hash" of a stored hash (hex), into out */
void wf_verify_digest(const char *hash, char out[65]);

#endif
