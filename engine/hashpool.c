/*
 * hashpool - the password hashes' own threads (see hashpool.h).
 *
 * A mutex guards the queues; a condition variable wakes a thread; a done
 * task goes on a list the loop drains when an eventfd (a uv_poll) says so.
 * Not a uv_async: uv_async_send marks the handle busy, writes, then marks
 * it done, and the loop spins while it is busy -- a nice-19 thread woken
 * loop preempts it in between, and the loop then spun on its own core
 * (12% of the loop thread's samples, with sched_yield, at 40 hashes/s).
 * The write here comes after the list is whole and the lock released.
 *
 * The loop thread asks the kernel for a short time slice (100 us; EEVDF,
 * Linux 6.12 and later: sched_attr.sched_runtime of a SCHED_OTHER thread;
 * older kernels ignore it).  Tokyo Cabinet calls sched_yield every 32 of
 * its internal assertions -- about 400 times a commit, 26,000 a second at
 * 4x the register rate -- and each yield pushes the yielding thread's
 * virtual deadline out by one slice: with the default slice (1.4 ms on 2
 * cores) a commit's yields soon put it behind a nice-19 hash thread, which
 * then kept the loop's core until the next tick.  Measured (overload
 * benchmark, four runs each): send_code p99 at 4x 46-52 ms -> 15-34 ms,
 * health probe p99 23-28 -> 9-16 ms; goodput 0.84-0.91 of C against
 * 0.88-0.97 (the loop answers sooner, so groups are smaller and commits
 * twice as many: their Tokyo Cabinet work comes out of the hashes).  The
 * threads made after it (the hash threads) inherit the slice.
 */
#include "hashpool.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

struct group {
	char name[64];
	struct hash_task *head, **tail;
	struct group *next; /* the ring of groups with work, taken in turn */
};

struct hashpool {
	uv_loop_t *loop;
	uv_poll_t wake; /* readable: the done list has tasks */
	int efd;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t *threads;
	int nthreads, nice;
	struct group *ring; /* the next group to take from; NULL: nothing queued */
	struct hash_task *done_head, **done_tail;
	int depth, stopping;
	int64_t done_total;
	int64_t win_start_ms, win_done; /* the rate's window */
	double rate;
};

/* take - the next task, from the groups in turn (locked) */
static struct hash_task *take(struct hashpool *p)
{
	struct group *g = p->ring;
	if (!g)
		return NULL;
	struct hash_task *t = g->head;
	g->head = t->next;
	if (!g->head) { /* the group leaves the ring */
		struct group *prev = g;
		while (prev->next != g)
			prev = prev->next;
		p->ring = prev == g ? NULL : g->next;
		if (prev != g)
			prev->next = g->next;
		free(g);
	} else {
		p->ring = g->next;
	}
	return t;
}

#define LOOP_SLICE_NS 100000 /* the shortest slice the kernel grants */

/* struct sched_attr of sched_setattr(2) (glibc has no wrapper, and
 * linux/sched/types.h clashes with sched.h) */
struct sched_attr {
	uint32_t size, sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
};

/* loop_slice - the calling thread (the loop's) gets a short slice, its nice kept */
static void loop_slice(void)
{
	errno = 0;
	int nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
	struct sched_attr a = {.size = sizeof(a),
			       .sched_policy = SCHED_OTHER,
			       .sched_nice = errno ? 0 : nice,
			       .sched_runtime = LOOP_SLICE_NS};
	if (syscall(SYS_sched_setattr, 0, &a, 0) < 0)
		log_info("the loop's short time slice not set (%s): send_code may wait behind "
			 "password hashes under load",
			 strerror(errno));
}

static void *worker(void *arg)
{
	struct hashpool *p = arg;
	/* a thread of its own: its nice value is its own (Linux) */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), p->nice);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct hash_task *t = NULL;
		while (!p->stopping && !(t = take(p)))
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stopping || !t)
			break;
		pthread_mutex_unlock(&p->mu);
		t->work(t);
		pthread_mutex_lock(&p->mu);
		t->next = NULL;
		*p->done_tail = t;
		p->done_tail = &t->next;
		pthread_mutex_unlock(&p->mu);
		uint64_t one = 1;
		/* EAGAIN: the counter is full, the loop is woken already */
		while (write(p->efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* measure - tasks done per second over windows of a second or more */
static void measure(struct hashpool *p, int n)
{
	int64_t now = now_ms();
	p->win_done += n;
	if (now - p->win_start_ms >= 1000) {
		double r = (double)p->win_done * 1000.0 / (double)(now - p->win_start_ms);
		p->rate = p->rate > 0 ? 0.5 * p->rate + 0.5 * r : r;
		p->win_start_ms = now;
		p->win_done = 0;
	}
}

static void drain(struct hashpool *p)
{
	pthread_mutex_lock(&p->mu);
	struct hash_task *t = p->done_head;
	p->done_head = NULL;
	p->done_tail = &p->done_head;
	pthread_mutex_unlock(&p->mu);
	int n = 0;
	while (t) {
		struct hash_task *next = t->next;
		p->depth--;
		p->done_total++;
		n++;
		t->done(t);
		t = next;
	}
	measure(p, n);
}

static void on_wake(uv_poll_t *h, int status, int events)
{
	struct hashpool *p = h->data;
	uint64_t n;
	while (read(p->efd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
	drain(p);
}

int hashpool_open(uv_loop_t *loop, int threads, int nice, struct hashpool **out)
{
	struct hashpool *p = xcalloc(1, sizeof(*p));
	p->loop = loop;
	loop_slice();
	p->nthreads = threads < 1 ? 1 : threads;
	p->nice = nice;
	p->done_tail = &p->done_head;
	p->win_start_ms = now_ms();
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->efd < 0 || uv_poll_init(loop, &p->wake, p->efd) < 0)
		fatal("hash pool: eventfd: %s", strerror(errno));
	p->wake.data = p;
	uv_poll_start(&p->wake, UV_READABLE, on_wake);
	p->threads = xcalloc((size_t)p->nthreads, sizeof(*p->threads));
	for (int i = 0; i < p->nthreads; i++) {
		int rc = pthread_create(&p->threads[i], NULL, worker, p);
		if (rc != 0) {
			p->nthreads = i;
			hashpool_close(p);
			return -rc;
		}
	}
	*out = p;
	return 0;
}

void hashpool_submit(struct hashpool *p, struct hash_task *t)
{
	t->next = NULL;
	p->depth++;
	pthread_mutex_lock(&p->mu);
	struct group *g = p->ring;
	if (g)
		do
			if (!strcmp(g->name, t->group))
				break;
		while ((g = g->next) != p->ring);
	if (!g || strcmp(g->name, t->group) != 0) { /* a new group joins the ring last */
		g = xcalloc(1, sizeof(*g));
		snprintf(g->name, sizeof(g->name), "%s", t->group);
		g->tail = &g->head;
		if (!p->ring) {
			g->next = g;
			p->ring = g;
		} else {
			struct group *last = p->ring;
			while (last->next != p->ring)
				last = last->next;
			last->next = g;
			g->next = p->ring;
		}
	}
	*g->tail = t;
	g->tail = &t->next;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

int hashpool_depth(const struct hashpool *p)
{
	return p->depth;
}

double hashpool_rate(const struct hashpool *p)
{
	return p->rate;
}

int64_t hashpool_done(const struct hashpool *p)
{
	return p->done_total;
}

int hashpool_threads(const struct hashpool *p)
{
	return p->nthreads;
}

static void pool_closed(uv_handle_t *h)
{
	struct hashpool *p = h->data;
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	close(p->efd);
	free(p->threads);
	free(p);
}

void hashpool_close(struct hashpool *p)
{
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	/* what was never started is cancelled; all hear, on the loop's thread */
	struct hash_task *t;
	while ((t = take(p)) != NULL) {
		t->cancelled = 1;
		t->next = NULL;
		*p->done_tail = t;
		p->done_tail = &t->next;
	}
	drain(p);
	uv_poll_stop(&p->wake);
	uv_close((uv_handle_t *)&p->wake, pool_closed);
}
