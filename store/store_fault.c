/*
 * store_fault - a store that fails on purpose (see store.h).
 *
 * It wraps any backend and passes every call through, except the nth
 * call of one chosen operation, which fails with the chosen error, as
 * curl's torture tests fail each allocation in turn: unit tests walk n
 * over every call of a commit path and check that nothing is lost and
 * nobody is told "done" for what was not written.
 */
#include "store.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum fault_op { F_GET, F_PUT, F_DEL, F_FIND, F_DUE, F_BEGIN, F_COMMIT, F_SYNC, F_N };

static const char *const op_names[F_N] = {"get", "put",	  "del",    "find",
					  "due", "begin", "commit", "sync"};

struct store_fault {
	struct store base;
	struct store *in;
	int calls[F_N];
	int fail_op; /* -1: none armed */
	int fail_at; /* the call number of fail_op that fails */
	int fail_to; /* and the calls after it up to this one */
	int fail_rc;
};

/* hit - count a call of op; the armed error if this is the one */
static int hit(struct store *st, enum fault_op op)
{
	struct store_fault *f = (struct store_fault *)st;
	int n = ++f->calls[op];
	if (f->fail_op != (int)op || n < f->fail_at || n > f->fail_to)
		return 0;
	snprintf(st->err, sizeof(st->err), "fault injected: %s call %d", op_names[op], n);
	return f->fail_rc;
}

static struct store *inner(struct store *st)
{
	return ((struct store_fault *)st)->in;
}

/* pass - the inner store's outcome, its error text copied for the logs */
static int pass(struct store *st, int rc)
{
	if (rc < 0)
		snprintf(st->err, sizeof(st->err), "%s", inner(st)->err);
	return rc;
}

static int f_get(struct store *st, const char *key, json_t **out)
{
	int rc = hit(st, F_GET);
	return rc ? rc : pass(st, store_get(inner(st), key, out));
}

static int f_put(struct store *st, const char *key, json_t *rec)
{
	int rc = hit(st, F_PUT);
	return rc ? rc : pass(st, store_put(inner(st), key, rec));
}

static int f_del(struct store *st, const char *key)
{
	int rc = hit(st, F_DEL);
	return rc ? rc : pass(st, store_del(inner(st), key));
}

static int f_find(struct store *st, const char *col, const char *val, int limit, json_t **keys)
{
	int rc = hit(st, F_FIND);
	return rc ? rc : pass(st, store_find(inner(st), col, val, limit, keys));
}

static int f_due(struct store *st, const char *col, int64_t max, int limit, json_t **keys)
{
	int rc = hit(st, F_DUE);
	return rc ? rc : pass(st, store_due(inner(st), col, max, limit, keys));
}

static int f_scan(struct store *st, const char *after, int limit, json_t **out)
{
	return pass(st, store_scan(inner(st), after, limit, out));
}

static int f_begin(struct store *st)
{
	int rc = hit(st, F_BEGIN);
	return rc ? rc : pass(st, store_begin(inner(st)));
}

/* f_commit - a failed commit leaves the transaction open, as a backend's
 * does; a failed sync has committed */
static int f_commit(struct store *st)
{
	int rc = hit(st, F_COMMIT);
	if (rc)
		return rc;
	rc = pass(st, store_commit(inner(st)));
	if (rc == 0 && hit(st, F_SYNC))
		return -EAGAIN;
	return rc;
}

static int f_reopen(struct store *st)
{
	return pass(st, store_reopen(inner(st)));
}

static int f_abort(struct store *st)
{
	return store_abort(inner(st));
}

static int64_t f_count(struct store *st)
{
	return store_count(inner(st));
}

static int f_prepare(struct store *st)
{
	return store_prepare(inner(st));
}

static int f_node(struct store *st, int node, int op)
{
	if (inner(st)->ops->node)
		return pass(st, store_node(inner(st), node, (enum store_node_op)op));
	return op == STORE_NODE_TRY ? -EBUSY : 0; /* every other node alive */
}

void store_fault_shared(struct store *st, int on)
{
	st->shared = on;
}

static void f_close(struct store *st)
{
	store_close(inner(st));
	free(st);
}

static const struct store_ops fault_ops = {
	.name = "fault",
	.get = f_get,
	.put = f_put,
	.del = f_del,
	.find = f_find,
	.due = f_due,
	.scan = f_scan,
	.begin = f_begin,
	.commit = f_commit,
	.reopen = f_reopen,
	.abort = f_abort,
	.count = f_count,
	.prepare = f_prepare,
	.node = f_node,
	.close = f_close,
};

int store_open_fault(struct store *in, struct store **out)
{
	struct store_fault *f = xcalloc(1, sizeof(*f));
	f->base.ops = &fault_ops;
	f->in = in;
	f->base.shared = in->shared;
	f->fail_op = -1;
	*out = &f->base;
	return 0;
}

static int op_index(const char *op)
{
	for (int i = 0; i < F_N; i++)
		if (!strcmp(op_names[i], op))
			return i;
	return -1;
}

void store_fault_set(struct store *st, const char *op, int nth, int rc)
{
	struct store_fault *f = (struct store_fault *)st;
	f->fail_op = op ? op_index(op) : -1;
	f->fail_at = f->fail_op >= 0 ? f->calls[f->fail_op] + nth : 0;
	f->fail_to = f->fail_at;
	f->fail_rc = rc;
}

void store_fault_times(struct store *st, int times)
{
	struct store_fault *f = (struct store_fault *)st;
	f->fail_to = f->fail_at + times - 1;
}

int store_fault_calls(struct store *st, const char *op)
{
	int i = op_index(op);
	return i < 0 ? 0 : ((struct store_fault *)st)->calls[i];
}
