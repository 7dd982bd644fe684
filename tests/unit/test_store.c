/*
 * Tests of the store function table: the same behaviour from the Tokyo
 * Cabinet backend, the in-memory one and, when REGFLOW_PG_CONNINFO names a
 * PostgreSQL database (tests/e2e/test_store_pg.py starts a private
 * cluster and runs this suite against it), the PostgreSQL one (get/put/del,
 * index lookups, due order, transactions), and Tokyo Cabinet durability
 * across reopen.
 */
#include "rec.h"
#include "store.h"
#include "suites.h"

#include <dirent.h>
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static char dbdir[64];

static struct store *open_backend(int which)
{
	struct store *st = NULL;
	char path[128];
	if (which == 0) {
		ck_assert_int_eq(store_open_mem(rec_index(), &st), 0);
		return st;
	}
	if (which == 2) { /* PostgreSQL, emptied: each test starts from nothing */
		const char *ci = getenv("REGFLOW_PG_CONNINFO");
		char err[512];
		if (!ci)
			return NULL;
		ck_assert_msg(store_pg_migrate(ci, rec_index(), err, sizeof(err)) == 0, "%s", err);
		ck_assert_msg(store_open_pg(ci, rec_index(), &st, err, sizeof(err)) == 0, "%s",
			      err);
		json_t *all = NULL, *pair;
		size_t i;
		ck_assert_int_eq(store_scan(st, NULL, 0, &all), 0);
		ck_assert_int_eq(store_begin(st), 0);
		json_array_foreach(all, i, pair)
			store_del(st, json_string_value(json_array_get(pair, 0)));
		ck_assert_int_eq(store_commit(st), 0);
		json_decref(all);
		return st;
	}
	snprintf(dbdir, sizeof(dbdir), "/tmp/rfstoreXXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dbdir));
	snprintf(path, sizeof(path), "%s/t.tct", dbdir);
	ck_assert_int_eq(store_open_tc(path, rec_index(), &st), 0);
	return st;
}

static json_t *rec2(const char *k1, const char *v1, const char *k2, const char *v2)
{
	json_t *r = json_object();
	rec_set(r, k1, v1);
	if (k2)
		rec_set(r, k2, v2);
	return r;
}

START_TEST(basic_ops)
{
	struct store *st = open_backend(_i);
	if (!st)
		return; /* no PostgreSQL given */
	json_t *r = rec2("kind", "account", "email", "a@example.com"), *got = NULL, *keys = NULL;
	ck_assert_int_eq(store_put(st, "a:1", r), 0);
	json_decref(r);
	ck_assert_int_eq(store_get(st, "a:1", &got), 0);
	ck_assert_str_eq(rec_str(got, "email"), "a@example.com");
	json_decref(got);
	ck_assert_int_eq(store_get(st, "a:2", &got), -ENOENT);
	ck_assert_int_eq(store_find(st, "email", "a@example.com", 0, &keys), 0);
	ck_assert_int_eq(json_array_size(keys), 1);
	ck_assert_str_eq(json_string_value(json_array_get(keys, 0)), "a:1");
	json_decref(keys);
	ck_assert_int_eq(store_del(st, "a:1"), 0);
	ck_assert_int_eq(store_find(st, "email", "a@example.com", 0, &keys), 0);
	ck_assert_int_eq(json_array_size(keys), 0);
	json_decref(keys);
	store_close(st);
}
END_TEST

START_TEST(due_order_and_limit)
{
	struct store *st = open_backend(_i);
	if (!st)
		return; /* no PostgreSQL given */
	const char *dues[] = {"500", "100", "300", "900"};
	char key[16];
	json_t *keys;
	for (int i = 0; i < 4; i++) {
		json_t *r = rec2("kind", "timer", "due", dues[i]);
		snprintf(key, sizeof(key), "m:%d", i);
		store_put(st, key, r);
		json_decref(r);
	}
	ck_assert_int_eq(store_due(st, "due", 500, 0, &keys), 0);
	ck_assert_int_eq(json_array_size(keys), 3);
	ck_assert_str_eq(json_string_value(json_array_get(keys, 0)), "m:1");
	ck_assert_str_eq(json_string_value(json_array_get(keys, 1)), "m:2");
	ck_assert_str_eq(json_string_value(json_array_get(keys, 2)), "m:0");
	json_decref(keys);
	ck_assert_int_eq(store_due(st, "due", 1000, 2, &keys), 0);
	ck_assert_int_eq(json_array_size(keys), 2);
	json_decref(keys);
	store_close(st);
}
END_TEST

START_TEST(abort_undoes)
{
	struct store *st = open_backend(_i);
	if (!st)
		return; /* no PostgreSQL given */
	json_t *r = rec2("kind", "x", NULL, NULL), *got;
	store_put(st, "keep", r);
	ck_assert_int_eq(store_begin(st), 0);
	store_put(st, "gone", r);
	store_del(st, "keep");
	ck_assert_int_eq(store_abort(st), 0);
	ck_assert_int_eq(store_get(st, "gone", &got), -ENOENT);
	ck_assert_int_eq(store_get(st, "keep", &got), 0);
	json_decref(got);
	ck_assert_int_eq(store_begin(st), 0);
	store_put(st, "new", r);
	ck_assert_int_eq(store_commit(st), 0);
	ck_assert_int_eq(store_get(st, "new", &got), 0);
	json_decref(got);
	json_decref(r);
	store_close(st);
}
END_TEST

/* a transaction sees its own writes, in gets and index reads, before its
 * commit (PostgreSQL keeps them and sends them together); values with
 * quotes, backslashes, braces, commas and Chinese survive; the count
 * counts new keys only */
START_TEST(a_transaction_sees_its_writes)
{
	struct store *st = open_backend(_i);
	if (!st)
		return; /* no PostgreSQL given */
	const char *odd = "say \"hi\", {a,b} \\ NULL 学信网 ''";
	json_t *r = rec2("kind", "account", "email", "x@example.com"), *got = NULL, *keys = NULL;
	store_put(st, "a:old", r);
	int64_t n0 = store_count(st);
	ck_assert_int_eq(store_begin(st), 0);
	ck_assert_int_eq(store_put(st, "a:1", r), 0);
	ck_assert_int_eq(store_get(st, "a:1", &got), 0);
	ck_assert_str_eq(rec_str(got, "email"), "x@example.com");
	json_decref(got);
	ck_assert_int_eq(store_find(st, "email", "x@example.com", 0, &keys), 0);
	ck_assert_int_eq(json_array_size(keys), 2);
	json_decref(keys);
	rec_set(r, "email", "y@example.com");
	rec_set(r, "name", odd);
	rec_set(r, "due", "not a number");
	ck_assert_int_eq(store_put(st, "a:1", r), 0);
	ck_assert_int_eq(store_put(st, "a:old", r), 0);
	ck_assert_int_eq(store_find(st, "email", "x@example.com", 0, &keys), 0);
	ck_assert_int_eq(json_array_size(keys), 0);
	json_decref(keys);
	ck_assert_int_eq(store_put(st, "a:2", r), 0);
	ck_assert_int_eq(store_del(st, "a:2"), 0);
	ck_assert_int_eq(store_del(st, "a:2"), -ENOENT);
	ck_assert_int_eq(store_get(st, "a:2", &got), -ENOENT);
	ck_assert_int_eq(store_commit(st), 0);
	json_decref(r);
	ck_assert_int_eq(store_count(st), n0 + 1);
	ck_assert_int_eq(store_get(st, "a:1", &got), 0);
	ck_assert_str_eq(rec_str(got, "name"), odd);
	ck_assert_str_eq(rec_str(got, "email"), "y@example.com");
	json_decref(got);
	ck_assert_int_eq(store_get(st, "a:2", &got), -ENOENT);
	ck_assert_int_eq(store_find(st, "email", "y@example.com", 0, &keys), 0);
	ck_assert_int_eq(json_array_size(keys), 2);
	json_decref(keys);
	store_close(st);
}
END_TEST

/* PostgreSQL only: a password in the conninfo, a store without the schema
 * or with another version are refused with why; scan is in byte order
 * (Tokyo Cabinet's), whatever the database's collation */
START_TEST(pg_refusals_and_order)
{
	const char *ci = getenv("REGFLOW_PG_CONNINFO");
	struct store *st = NULL;
	char err[512], bad[600];
	if (!ci)
		return;
	snprintf(bad, sizeof(bad), "%s password=s3cret", ci);
	ck_assert_int_eq(store_open_pg(bad, rec_index(), &st, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "password file"));
	st = open_backend(2);
	json_t *r = rec2("kind", "x", NULL, NULL), *all = NULL;
	store_put(st, "a:a", r);
	store_put(st, "a:B", r);
	store_put(st, "a:_", r);
	json_decref(r);
	ck_assert_int_eq(store_scan(st, "a:", 0, &all), 0);
	ck_assert_int_eq(json_array_size(all), 3);
	ck_assert_str_eq(json_string_value(json_array_get(json_array_get(all, 0), 0)), "a:B");
	ck_assert_str_eq(json_string_value(json_array_get(json_array_get(all, 1), 0)), "a:_");
	json_decref(all);
	ck_assert_int_eq(store_count(st), 3);
	store_close(st);
	PGconn *c = PQconnectdb(ci);
	PQclear(PQexec(c, "UPDATE regflow_schema SET version = 99"));
	ck_assert_int_eq(store_open_pg(ci, rec_index(), &st, err, sizeof(err)), -EPROTO);
	ck_assert_ptr_nonnull(strstr(err, "version 99"));
	PQclear(PQexec(c, "DROP TABLE regflow_schema"));
	ck_assert_int_eq(store_open_pg(ci, rec_index(), &st, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "regflowctl store migrate"));
	PQfinish(c);
	ck_assert_int_eq(store_pg_migrate(ci, rec_index(), err, sizeof(err)), 0);
}
END_TEST

/* psql_int - one number from a side connection (a witness) */
static long psql_int(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	long v = PQntuples(r) == 1 ? atol(PQgetvalue(r, 0, 0)) : -1;
	PQclear(r);
	return v;
}

#define NODE_PID_SQL                                                                               \
	"SELECT coalesce(max(pid), 0) FROM pg_locks WHERE locktype = 'advisory' AND "              \
	"classid = 72341006 AND objid = %d AND granted"

static long node_pid(PGconn *c, int node)
{
	char sql[256];
	snprintf(sql, sizeof(sql), NODE_PID_SQL, node);
	return psql_int(c, sql);
}

/* PostgreSQL only: after a serialisation failure inside a transaction,
 * what follows in it (SQLSTATE 25P02) is the same conflict, not a store
 * failure (the engine writes the group again instead of answering 503) */
START_TEST(pg_a_conflict_stays_a_conflict)
{
	if (!getenv("REGFLOW_PG_CONNINFO"))
		return;
	struct store *a = open_backend(2), *b = open_backend(2);
	json_t *r = rec2("kind", "account", "email", "x@example.com"), *got = NULL, *keys;
	ck_assert_int_eq(store_begin(a), 0);
	ck_assert_int_eq(store_put(a, "a:c1", r), 0);
	ck_assert_int_eq(store_commit(a), 0);
	ck_assert_int_eq(store_begin(a), 0);
	ck_assert_int_eq(store_get(a, "a:c1", &got), 0); /* a's snapshot */
	json_decref(got);
	ck_assert_int_eq(store_begin(b), 0);
	ck_assert_int_eq(store_put(b, "a:c1", r), 0);
	ck_assert_int_eq(store_commit(b), 0);
	ck_assert_int_eq(store_put(a, "a:c1", r), 0); /* sent with the next index read */
	ck_assert_int_eq(store_find(a, "email", "x@example.com", 0, &keys), -EDEADLK);
	ck_assert_int_eq(store_get(a, "a:other", &got), -EDEADLK);
	ck_assert_int_eq(store_abort(a), 0);
	ck_assert_int_eq(store_get(a, "a:c1", &got), 0); /* and the session goes on */
	json_decref(got);
	json_decref(r);
	store_close(a);
	store_close(b);
}
END_TEST

/* PostgreSQL only: a reopen after a failed transaction on a healthy
 * connection keeps the session, and with it the node's lock (a new session
 * would give the node up to another engine's adoption meanwhile) */
START_TEST(pg_a_reopen_keeps_the_node)
{
	const char *ci = getenv("REGFLOW_PG_CONNINFO");
	if (!ci)
		return;
	PGconn *c = PQconnectdb(ci);
	struct store *a = open_backend(2), *b = open_backend(2);
	json_t *r = rec2("kind", "x", NULL, NULL);
	ck_assert_int_eq(store_node(a, 7, STORE_NODE_OWN), 0);
	long pid = node_pid(c, 7);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(store_begin(a), 0);
	ck_assert_int_eq(store_put(a, "a:r1", r), 0);
	ck_assert_int_eq(store_reopen(a), 0);
	ck_assert_int_eq(node_pid(c, 7), pid);
	ck_assert_int_eq(store_node(b, 7, STORE_NODE_TRY), -EBUSY);
	/* a group that failed aborts, then reopens, outside any transaction:
	 * no ROLLBACK for nothing (the server's WARNING would reach stderr) */
	char path[] = "/tmp/rfpgerrXXXXXX", seen[512] = "";
	int fd = mkstemp(path), saved = dup(2);
	ck_assert_int_ge(fd, 0);
	dup2(fd, 2);
	ck_assert_int_eq(store_abort(a), 0);
	ck_assert_int_eq(store_reopen(a), 0);
	dup2(saved, 2);
	close(saved);
	ssize_t n = pread(fd, seen, sizeof(seen) - 1, 0);
	close(fd);
	unlink(path);
	ck_assert_msg(n == 0, "stderr got: %s", seen);
	ck_assert_int_eq(node_pid(c, 7), pid);
	json_decref(r);
	store_close(a);
	store_close(b);
	PQfinish(c);
}
END_TEST

/* highest_socket - the socket this process opened last (the store's connection) */
static int highest_socket(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int best = -1;
	while (d && (e = readdir(d))) {
		char path[300], to[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(path, to, sizeof(to) - 1);
		if (n > 0 && !strncmp(to, "socket:", 7) && atoi(e->d_name) > best)
			best = atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return best;
}

static void *cut_later(void *arg)
{
	usleep(150 * 1000);
	shutdown(*(int *)arg, SHUT_RDWR);
	return NULL;
}

/* PostgreSQL only: the connection lost while COMMIT runs on the server
 * (here a deferred trigger makes it take 600 ms; the client's socket is
 * cut at 150 ms).  The old backend lives on, unaware: it is ended before
 * the outcome is read, so that the outcome told is the outcome (before,
 * the read came first and the commit landed after it); and the node's
 * lock is this engine's again afterwards */
START_TEST(pg_a_lost_commit_is_settled)
{
	const char *ci = getenv("REGFLOW_PG_CONNINFO");
	if (!ci)
		return;
	PGconn *c = PQconnectdb(ci);
	PQclear(PQexec(c, "CREATE OR REPLACE FUNCTION regflow_test_slow() RETURNS trigger "
			  "LANGUAGE plpgsql AS $$BEGIN IF NEW.node = 8 THEN PERFORM "
			  "pg_sleep(0.6); END IF; RETURN NULL; END$$;"
			  "DROP TRIGGER IF EXISTS regflow_test_slow ON regflow_commits;"
			  "CREATE CONSTRAINT TRIGGER regflow_test_slow AFTER UPDATE ON "
			  "regflow_commits DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE "
			  "FUNCTION regflow_test_slow()"));
	struct store *a = open_backend(2);
	int fd = highest_socket();
	struct store *b = open_backend(2);
	json_t *r = rec2("kind", "x", NULL, NULL);
	pthread_t cut;
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(store_node(a, 8, STORE_NODE_OWN), 0);
	ck_assert_int_eq(store_begin(a), 0);
	ck_assert_int_eq(store_put(a, "a:lost", r), 0);
	pthread_create(&cut, NULL, cut_later, &fd);
	int rc = store_commit(a);
	pthread_join(cut, NULL);
	usleep(800 * 1000); /* past the old backend's commit, had it lived */
	long there = psql_int(c, "SELECT count(*) FROM regflow_records WHERE key = 'a:lost'");
	ck_assert_msg(rc == 0 ? there == 1 : there == 0, "commit said %d, the row is %s", rc,
		      there ? "there" : "absent");
	ck_assert_int_eq(rc, -EIO); /* (ended before its commit) */
	ck_assert_int_eq(store_node(b, 8, STORE_NODE_TRY), -EBUSY);
	PQclear(PQexec(c, "DROP TRIGGER regflow_test_slow ON regflow_commits"));
	json_decref(r);
	store_close(a);
	store_close(b);
	PQfinish(c);
}
END_TEST

START_TEST(tc_reopen_keeps_data)
{
	struct store *st = open_backend(1);
	char path[128];
	json_t *r = rec2("kind", "account", "email", "b@example.com"), *keys;
	snprintf(path, sizeof(path), "%s/t.tct", dbdir);
	store_begin(st);
	store_put(st, "a:9", r);
	store_commit(st);
	json_decref(r);
	/* (a second process is refused: tested end to end, TC forbids it in one process) */
	store_close(st);
	ck_assert_int_eq(store_open_tc(path, rec_index(), &st), 0);
	ck_assert_int_eq(store_find(st, "email", "b@example.com", 0, &keys), 0);
	ck_assert_int_eq(json_array_size(keys), 1);
	json_decref(keys);
	ck_assert_int_eq(store_count(st), 1);
	store_close(st);
}
END_TEST

Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *t = tcase_create("both backends");
	tcase_add_loop_test(t, basic_ops, 0, 3);
	tcase_add_loop_test(t, due_order_and_limit, 0, 3);
	tcase_add_loop_test(t, abort_undoes, 0, 3);
	tcase_add_loop_test(t, a_transaction_sees_its_writes, 0, 3);
	tcase_add_test(t, tc_reopen_keeps_data);
	tcase_add_test(t, pg_refusals_and_order);
	tcase_add_test(t, pg_a_conflict_stays_a_conflict);
	tcase_add_test(t, pg_a_reopen_keeps_the_node);
	tcase_add_test(t, pg_a_lost_commit_is_settled);
	suite_add_tcase(s, t);
	return s;
}
