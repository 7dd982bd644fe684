/*
 * spool - the message spool shared by the engine (writer), the gateway
 * (deliverer) and regflowctl (reader).  SPEC section 5, docs/spool.md.
 *
 * One directory per state under spool.dir, one file per message named by
 * its id, mode 0600.  A file is an envelope of "name: value" lines after the
 * line "REGFLOW-SPOOL 1", a blank line, then the UTF-8 body.  Files only
 * appear complete: written in tmp/, fsynced, then linked or renamed in.
 */
#ifndef REGFLOW_SPOOL_H
#define REGFLOW_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define SPOOL_MAGIC "REGFLOW-SPOOL 1"
#define SPOOL_MAX_FILE (1024 * 1024) /* larger files are refused as corrupt */

/* states, in the order "spool list" walks them; SPOOL_QUEUED is incoming/ */
enum spool_state {
	SPOOL_QUEUED,
	SPOOL_ACTIVE,
	SPOOL_DEFERRED,
	SPOOL_HOLD,
	SPOOL_FAILED,
	SPOOL_SENT,
	SPOOL_BOUNCED,	/* sent, then a bounce said it was not delivered */
	SPOOL_ANSWERED, /* a check answered, until the engine has taken the answer */
	SPOOL_CORRUPT,
	SPOOL_NSTATE
};

struct spool_msg {
	char id[ID_LEN + 1]; /* caller sets, time-sortable from id_new() */
	char *channel;	     /* "email" | "sms" | "check" (a question to an outside service) */
	char *to;	     /* address or phone */
	char *from_name;     /* display name (email), may be NULL */
	char *subject;	     /* email only, may be NULL */
	char *body;	     /* UTF-8 text */
	char *secret;	     /* optional code/token appearing in body; masked when sent */
	char *front;	     /* optional: which site caused it */
	char *account;	     /* optional: the account it was sent for (its history) */
	int64_t created_ms, expires_ms; /* expires 0 = none */
	int attempts;
	int64_t next_attempt_ms;
	char *last_error;     /* deferred/failed: why; may be NULL */
	int64_t delivered_ms; /* sent: when; 0 otherwise */
	char *reply;	      /* sent: the relay's reply or the sink file; may be NULL */
	char *dlr;	      /* sms: the last delivery report ("delivered", "failed", ...) */
	char *history;	      /* events, one "MS text" a line, '\n'-separated; may be NULL */
	char *answer;	      /* check, answered: "match", "mismatch" or "error" */
};

#define SPOOL_HISTORY_MAX 32 /* history lines kept; the oldest but the first go first */

#define SPOOL_NCHANNEL 3 /* email, sms, check */
/* spool_channel_index - 0 email, 1 sms, 2 check; -1 for anything else */
int spool_channel_index(const char *channel);

/* spool_state_dir - directory name of a state ("incoming" for SPOOL_QUEUED) */
const char *spool_state_dir(enum spool_state st);
/* spool_state_name - name shown to operators ("queued" for SPOOL_QUEUED) */
const char *spool_state_name(enum spool_state st);
/* spool_state_parse - "queued"/"incoming", "active", ... to a state; -EINVAL */
int spool_state_parse(const char *name);

/* spool_init - create dir and its state dirs (0700) */
int spool_init(const char *dir);

/* spool_check - 0 if m can be written, -EINVAL (why in err) if not: CR/LF in a value,... */
int spool_check(const struct spool_msg *m, char *err, size_t errlen);
/* spool_format - the file text for m (caller frees); NULL if spool_check fails */
char *spool_format(const struct spool_msg *m, size_t *len);
/* spool_parse - parse a file; -EBADMSG with a message naming the problem in err */
int spool_parse(const char *text, size_t len, struct spool_msg *out, char *err, size_t errlen);
void spool_msg_free(struct spool_msg *m);
/* spool_msg_copy - deep copy of src into dst */
void spool_msg_copy(struct spool_msg *dst, const struct spool_msg *src);
/* spool_mask_secret - replace the secret in body and subject by '*'s and drop it */
void spool_mask_secret(struct spool_msg *m);
/* spool_history_add - append "at_ms text" (controls made spaces) to the history */
void spool_history_add(struct spool_msg *m, int64_t at_ms, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* spool_set_error - replace last_error by a copy of text with CR/LF/controls made spaces */
void spool_set_error(struct spool_msg *m, const char *text);

/*
 * spool_enqueue - atomically add m to incoming/; idempotent: if a message
 * with m->id already exists in any state dir (corrupt/ aside), return 0 and
 * do nothing.  -EINVAL for a message spool_check refuses.
 */
int spool_enqueue(const char *dir, const struct spool_msg *m);
/*
 * spool_enqueue_batch - spool_enqueue for each of ms[0..n), with one sync of
 * incoming/ for them all; rcs[i] is message i's outcome
 */
int spool_enqueue_batch(const char *dir, const struct spool_msg *ms, size_t n, int *rcs);
/*
 * spool_record_batch - the outcome of each message of a batch delivered from
 * active/: ms[i] written to state to[i] (file synced, renamed in, each state
 * folder synced once), then its copy in active/ removed; rcs[i] its outcome
 */
int spool_record_batch(const char *dir, const struct spool_msg *ms, const enum spool_state *to,
		       size_t n, int *rcs);
/* spool_leftover - 1 if a file of active/ has its outcome recorded in another
 * state already (a crash came between the two): the active copy is spare */
int spool_leftover(const char *dir, const char *id);
/* spool_write - atomically create or replace <st>/<m->id> with m */
int spool_write(const char *dir, enum spool_state st, const struct spool_msg *m);
/* spool_load - read and parse <st>/<name>: -ENOENT, -EBADMSG/-EFBIG (why in err) */
int spool_load(const char *dir, enum spool_state st, const char *name, struct spool_msg *m,
	       char *err, size_t errlen);

#define SPOOL_NOSYNC 1 /* spool_move: skip the directory fsync (a lost move is harmless) */
/* spool_move - rename <from>/<id> to <to>/<id>; -ENOENT if it is not there */
int spool_move(const char *dir, const char *id, enum spool_state from, enum spool_state to,
	       int flags);
/* spool_quarantine - move <st>/<name> to corrupt/ and log the name and why */
int spool_quarantine(const char *dir, enum spool_state st, const char *name, const char *why);
/* spool_find - which state holds id (corrupt/ not searched); -ENOENT if none */
int spool_find(const char *dir, const char *id, enum spool_state *st);

/* counts of every state by channel, for "spool stats" and /metrics */
struct spool_stats {
	long count[SPOOL_NSTATE][SPOOL_NCHANNEL]; /* [state][0 email, 1 sms, 2 check] */
	int64_t oldest_ms[SPOOL_NSTATE];	  /* smallest created, 0 if none */
	long unreadable[SPOOL_NSTATE];		  /* files that did not parse (all of corrupt/) */
	long dlr_delivered, dlr_failed;		  /* sent SMS by their delivery report */
};
/* spool_stats - read every file of every state (slow: a worker thread or a tool) */
int spool_stats(const char *dir, struct spool_stats *out);

/* spool_list - sorted names of the files in a state dir (dotfiles skipped) */
int spool_list(const char *dir, enum spool_state st, char ***names, size_t *n);
void spool_list_free(char **names, size_t n);

#endif
