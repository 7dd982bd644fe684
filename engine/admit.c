/*
 * admit - admission control: a job is refused at once, before any work is
 * spent on it, when the queue it would join cannot do it within the
 * deadline (engine.deadline).  Two queues are bounded:
 *
 *   hashing  password hashes waiting or running: as many as the pool,
 *            at its measured rate, does within the deadline.  When it is
 *            full, a front below its share (the bound over the fronts with
 *            hashes waiting) still gets in: one front's batch cannot shut
 *            out another front's users, and a front alone gets the whole
 *            pool;
 *   queue    jobs taken but not yet run (engine.queue_max).
 *
 * A refusal carries the seconds after which a retry can expect room,
 * from the rate the queue drains at.
 */
#include "jobs_priv.h"
#include "nodes.h"

#include <errno.h>
#include <math.h>

static const char *const reason_names[ADMIT_NREASONS] = {"hashing", "queue", "disk", "workflows"};

const char *jobs_refusal_name(enum admit_reason r)
{
	return reason_names[r];
}

/* hash_rate - hashes a second: measured, else a first guess per thread */
static double hash_rate(struct jobs *j)
{
	double r = hashpool_rate(j->hashes);
	return r > 0 ? r : 20.0 * hashpool_threads(j->hashes);
}

/* hash_bound - the hashes the pool does within three quarters of the
 * deadline (the rest for the job's own hash and commit), at least two rounds */
static int hash_bound(struct jobs *j)
{
	double n = hash_rate(j) * 0.75 * (double)j->cfg.deadline_ms / 1000.0;
	int floor_n = 2 * hashpool_threads(j->hashes);
	return n < floor_n ? floor_n : (int)n;
}

static int front_hashing(struct jobs *j, const char *front)
{
	return (int)json_integer_value(json_object_get(j->hashing_by, front));
}

void jobs_hashing_count(struct jobs *j, const char *front, int delta)
{
	int n = front_hashing(j, front) + delta;
	if (n > 0)
		json_object_set_new(j->hashing_by, front, json_integer(n));
	else
		json_object_del(j->hashing_by, front);
}

static int refuse(struct jobs *j, enum admit_reason r, double wait_s, struct admit_refusal *out)
{
	j->refused[r]++;
	out->reason = r;
	out->retry_s = wait_s < 1 ? 1 : wait_s > 120 ? 120 : (int)ceil(wait_s);
	return -EAGAIN;
}

int jobs_admit(struct jobs *j, const struct wf_event *ev, const char *front, const json_t *args,
	       struct admit_refusal *out)
{
	if (j->disk_full)
		return refuse(j, ADMIT_DISK, (double)j->cfg.disk_check_ms / 1000.0, out);
	if (nodes_differ() >= 0) /* another node's answers would not be these */
		return refuse(j, ADMIT_WORKFLOWS, 10, out);
	if (j->nintake + j->nrun >= j->cfg.queue_max)
		return refuse(j, ADMIT_QUEUE, 1, out);
	if (!jobs_hashes(ev, args))
		return 0;
	int bound = hash_bound(j);
	if (j->hashing < bound)
		return 0;
	size_t fronts = json_object_size(j->hashing_by) + (front_hashing(j, front) == 0);
	int share = bound / (int)(fronts ? fronts : 1);
	if (front_hashing(j, front) < (share > 0 ? share : 1))
		return 0;
	return refuse(j, ADMIT_HASHING, (double)(j->hashing - bound + 1) / hash_rate(j), out);
}

json_t *jobs_admission(struct jobs *j)
{
	json_t *o = json_pack("{s:i, s:i, s:f, s:i, s:i}", "hash_bound", hash_bound(j), "hashing",
			      j->hashing, "hash_rate", hash_rate(j), "queue", j->nintake + j->nrun,
			      "queue_max", j->cfg.queue_max);
	json_t *r = json_object();
	for (int i = 0; i < ADMIT_NREASONS; i++)
		json_object_set_new(r, reason_names[i], json_integer(j->refused[i]));
	json_object_set_new(o, "refused", r);
	return o;
}
