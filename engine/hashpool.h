/*
 * hashpool - the password hashes' own threads (Argon2id costs ~25 ms of a
 * core), apart from libuv's pool so that a spool write never waits behind
 * them.  As many threads as asked (engine.hash_threads; by default one per
 * core), at a lower priority than the loop, so they never take the loop's
 * core from it; tasks are taken from their groups in turn (a group is a
 * front), so one front's batch cannot starve another's users, and a group
 * alone gets every thread.
 */
#ifndef REGFLOW_HASHPOOL_H
#define REGFLOW_HASHPOOL_H

#include <stdint.h>
#include <uv.h>

struct hashpool;

struct hash_task {
	void (*work)(struct hash_task *t); /* on a pool thread */
	void (*done)(struct hash_task *t); /* then on the loop */
	char group[64];
	int cancelled;		/* done without work: the pool is closing */
	struct hash_task *next; /* private */
};

/* hashpool_open - threads (>= 1) at nice (0..19) above the loop's */
int hashpool_open(uv_loop_t *loop, int threads, int nice, struct hashpool **out);
/* hashpool_submit - queue t in its group (t->group set by the caller) */
void hashpool_submit(struct hashpool *p, struct hash_task *t);
/* hashpool_depth - tasks queued or running */
int hashpool_depth(const struct hashpool *p);
/* hashpool_rate - tasks done per second, measured over the last seconds (0: none yet) */
double hashpool_rate(const struct hashpool *p);
int hashpool_threads(const struct hashpool *p);
/* hashpool_done - tasks done since the pool opened */
int64_t hashpool_done(const struct hashpool *p);
/* hashpool_close - let the running tasks finish, cancel the queued ones
 * (each done still called, on this thread), stop the threads; the pool is
 * freed once its handle is closed */
void hashpool_close(struct hashpool *p);

#endif
