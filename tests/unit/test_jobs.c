/*
 * test_jobs - the job queue's commit path on a store that fails on
 * purpose (store_open_fault over the in-memory store): a failed put, find
 * or commit anywhere in a group aborts the whole group, its submitters are
 * told so (nothing is acknowledged that was not written), the jobs that
 * were durable already stay queued and run once the store works again; a
 * failed sync after a commit is not a failure.
 */
#include "jobs.h"
#include "rec.h"
#include "suites.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct engine e;
static struct store *mem, *st;
static struct jobs *jq;
static char spool[64];

/* one submitter: what it was told */
struct told {
	int called, rc;
	int commits; /* commits made by the time it was told */
	char id[ID_LEN + 1];
	char state[16];
};

static void on_done(void *arg, int rc, json_t *view)
{
	struct told *t = arg;
	t->called++;
	t->rc = rc;
	t->commits = store_fault_calls(st, "commit");
	snprintf(t->id, sizeof(t->id), "%s", json_string_value(json_object_get(view, "id")));
	snprintf(t->state, sizeof(t->state), "%s",
		 json_string_value(json_object_get(view, "state")));
}

static void open_queue_retry(int group_max, uint64_t retry_ms)
{
	struct wf_errs errs = {0};
	struct jobs_cfg cfg = {.spool_dir = spool,
			       .group_max = group_max,
			       .retry_ms = retry_ms,
			       .hash_threads = 1};
	ck_assert_int_eq(wf_set_load("workflows", NULL, 0, &e.ws, &errs), 0);
	e.ws->retention_ms = 86400000;
	ck_assert_int_eq(jobs_open(&e, &cfg, &jq), 0);
}

static void open_queue(int group_max)
{
	open_queue_retry(group_max, 1);
}

static void setup(void)
{
	snprintf(spool, sizeof(spool), "/tmp/rfjobsXXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(spool));
	e.loop = uv_default_loop();
	ck_assert_int_eq(rec_open_mem(&mem), 0);
	ck_assert_int_eq(store_open_fault(mem, &st), 0);
	e.st = st;
	open_queue(256);
}

static void teardown(void)
{
	jobs_close(jq);
	uv_run(e.loop, UV_RUN_DEFAULT);
	store_close(st);
	wf_set_unref(e.ws);
}

/* spin - run the loop until every submitter has heard, or a bound */
static void spin(struct told *t, int n)
{
	for (int round = 0; round < 10000; round++) {
		int all = 1;
		for (int i = 0; i < n; i++)
			all &= t[i].called > 0;
		if (all)
			return;
		uv_run(e.loop, UV_RUN_NOWAIT);
		usleep(200);
	}
	ck_abort_msg("the queue did not answer");
}

/* submit - a send_code job (no password: no hashing) */
static void submit(const char *phone, const char *key, struct told *t)
{
	json_t *args = json_pack("{s:s, s:s}", "phone", phone, "purpose", "register");
	const struct wf_event *ev = wf_set_event(e.ws, "send_code", args);
	ck_assert_ptr_nonnull(ev);
	jobs_submit(jq, ev, "www", args, key, on_done, t);
	json_decref(args);
}

/* job_state - the job's state in the store ("" if it has no record) */
static const char *job_state(const char *id)
{
	static char buf[16];
	json_t *rec;
	buf[0] = 0;
	if (rec_job_get(mem, id, &rec) == 0) {
		snprintf(buf, sizeof(buf), "%s", rec_str0(rec, "jstate"));
		json_decref(rec);
	}
	return buf;
}

static int64_t count_kind(enum rec_kind k)
{
	json_t *keys;
	ck_assert_int_eq(rec_list(mem, k, &keys), 0);
	int64_t n = (int64_t)json_array_size(keys);
	json_decref(keys);
	return n;
}

START_TEST(a_group_commits_and_runs)
{
	struct told t[2] = {{0}};
	submit("13800000001", NULL, &t[0]);
	submit("13800000002", "k-1", &t[1]);
	spin(t, 2);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(t[i].rc, 0);
		ck_assert_str_eq(t[i].state, "queued");
		ck_assert_str_eq(job_state(t[i].id), "done");
	}
	/* one transaction for both (the outbox records go in a later one) */
	ck_assert_int_eq(t[0].commits, 1);
	ck_assert_int_eq(t[1].commits, 1);
	ck_assert_int_eq(count_kind(REC_ACCOUNT), 2);
}
END_TEST

/* each call of op in a group fails in turn: the group is all or nothing */
static void torture(const char *op, int rc)
{
	for (int n = 1;; n++) {
		struct told t[3] = {{0}};
		int64_t accounts = count_kind(REC_ACCOUNT), jobs = count_kind(REC_JOB);
		int before = store_fault_calls(st, op);
		store_fault_set(st, op, n, rc);
		char phone[16];
		for (int i = 0; i < 3; i++) {
			snprintf(phone, sizeof(phone), "139%02d%06d", n, i);
			submit(phone, NULL, &t[i]);
		}
		spin(t, 3);
		int failed = t[0].rc < 0;
		for (int i = 0; i < 3; i++) {
			ck_assert_int_eq(t[i].rc < 0, failed); /* one group, one outcome */
			if (failed) {
				ck_assert_int_eq(t[i].rc, -EIO);
			} else {
				ck_assert_str_eq(job_state(t[i].id), "done");
			}
		}
		if (failed) { /* nothing of the group was written */
			ck_assert_int_eq(count_kind(REC_ACCOUNT), accounts);
			ck_assert_int_eq(count_kind(REC_JOB), jobs);
		}
		store_fault_set(st, NULL, 0, 0);
		if (!failed && store_fault_calls(st, op) - before < n)
			break; /* the group made fewer calls than n: every one was tried */
		ck_assert_int_lt(n, 200);
	}
}

START_TEST(every_failed_put_aborts_the_group)
{
	torture("put", -EIO);
}
END_TEST

START_TEST(a_full_disk_mid_group_aborts_it)
{
	torture("put", -ENOSPC);
}
END_TEST

START_TEST(every_failed_get_or_find_aborts_the_group)
{
	torture("get", -EIO);
	torture("find", -EIO);
}
END_TEST

START_TEST(a_failed_commit_tells_everyone_and_recovers)
{
	struct told t[2] = {{0}}, again = {0};
	store_fault_set(st, "commit", 1, -EIO);
	submit("13700000001", NULL, &t[0]);
	submit("13700000002", NULL, &t[1]);
	spin(t, 2);
	ck_assert_int_eq(t[0].rc, -EIO);
	ck_assert_int_eq(t[1].rc, -EIO);
	ck_assert_int_eq(count_kind(REC_JOB), 0);
	/* the queue comes back on its retry timer */
	submit("13700000003", NULL, &again);
	spin(&again, 1);
	ck_assert_int_eq(again.rc, 0);
	ck_assert_str_eq(job_state(again.id), "done");
}
END_TEST

START_TEST(a_failed_sync_is_not_a_failure)
{
	struct told t = {0};
	store_fault_set(st, "sync", 1, -EIO);
	submit("13600000001", NULL, &t);
	spin(&t, 1);
	ck_assert_int_eq(t.rc, 0);
	ck_assert_str_eq(job_state(t.id), "done");
}
END_TEST

/* with one job a group, the others wait on disk with their arguments; a
 * failed group leaves them queued, and they run once the store works */
START_TEST(durable_jobs_survive_a_failed_group)
{
	struct told t[3] = {{0}};
	jobs_close(jq);
	uv_run(e.loop, UV_RUN_DEFAULT);
	wf_set_unref(e.ws);
	open_queue(1);
	/* the first group takes all three and runs one; the second fails */
	store_fault_set(st, "commit", 2, -EIO);
	for (int i = 0; i < 3; i++) {
		char phone[16];
		snprintf(phone, sizeof(phone), "1350000000%d", i);
		submit(phone, NULL, &t[i]);
	}
	spin(t, 3);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(t[i].rc, 0);
		ck_assert_int_eq(t[i].commits, 1);
	}
	for (int i = 0; i < 5000 && strcmp(job_state(t[2].id), "done"); i++) {
		uv_run(e.loop, UV_RUN_NOWAIT);
		usleep(200);
	}
	json_t *stats = jobs_stats(jq);
	ck_assert_int_eq(json_integer_value(json_object_get(stats, "commit_failures")), 1);
	json_decref(stats);
	for (int i = 0; i < 3; i++)
		ck_assert_str_eq(job_state(t[i].id), "done");
	/* a job that waited on disk leaves no arguments behind */
	json_t *rec;
	ck_assert_int_eq(rec_job_get(mem, t[1].id, &rec), 0);
	ck_assert_ptr_null(json_object_get(rec, "args"));
	json_decref(rec);
}
END_TEST

static int64_t stat_of(const char *name)
{
	json_t *stats = jobs_stats(jq);
	int64_t v = json_integer_value(json_object_get(stats, name));
	json_decref(stats);
	return v;
}

/* a conflict with another engine's transaction (PostgreSQL's serialisation
 * failure, -EDEADLK) at the commit or at any call inside the group is no
 * failure: the group is written again, its submitters hear "queued", each
 * job runs once (issue 13) */
START_TEST(a_conflict_writes_the_group_again)
{
	for (int n = 1;; n++) {
		struct told t[3] = {{0}};
		int64_t accounts = count_kind(REC_ACCOUNT), conflicts = stat_of("conflicts");
		int before = store_fault_calls(st, "put");
		store_fault_set(st, n == 1 ? "commit" : "put", n == 1 ? 1 : n - 1, -EDEADLK);
		for (int i = 0; i < 3; i++) {
			char phone[16];
			snprintf(phone, sizeof(phone), "133%02d%06d", n, i);
			submit(phone, NULL, &t[i]);
		}
		spin(t, 3);
		for (int i = 0; i < 3; i++) {
			ck_assert_int_eq(t[i].rc, 0);
			ck_assert_str_eq(t[i].state, "queued");
			ck_assert_str_eq(job_state(t[i].id), "done");
		}
		ck_assert_int_eq(count_kind(REC_ACCOUNT), accounts + 3); /* none twice */
		int calls = store_fault_calls(st, "put") - before;
		store_fault_set(st, NULL, 0, 0);
		if (n > 1 && calls < 2 * (n - 1))
			break; /* fewer puts than n in the first try: every one was hit */
		ck_assert_int_eq(stat_of("conflicts"), conflicts + 1);
		ck_assert_int_lt(n, 200);
	}
	ck_assert_int_eq(stat_of("commit_failures"), 0);
}
END_TEST

/* conflicts again and again (two engines' groups on one hot row): never a
 * failure; the group goes back to the queue and is taken again later */
START_TEST(conflicts_again_and_again_back_off)
{
	struct told t[3] = {{0}};
	int64_t accounts = count_kind(REC_ACCOUNT);
	store_fault_set(st, "commit", 1, -EDEADLK);
	store_fault_times(st, 20);
	for (int i = 0; i < 3; i++) {
		char phone[16];
		snprintf(phone, sizeof(phone), "1340000000%d", i);
		submit(phone, NULL, &t[i]);
	}
	spin(t, 3);
	store_fault_set(st, NULL, 0, 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(t[i].rc, 0);
		ck_assert_str_eq(t[i].state, "queued");
		ck_assert_str_eq(job_state(t[i].id), "done");
	}
	ck_assert_int_eq(count_kind(REC_ACCOUNT), accounts + 3);
	ck_assert_int_eq(stat_of("conflicts"), 20);
	ck_assert_int_eq(stat_of("conflict_backoffs"), 5); /* 4 at once each time */
	ck_assert_int_eq(stat_of("commit_failures"), 0);
}
END_TEST

/* jobs already on disk (one run a group) and a conflict: they stay queued,
 * run once each, and their history says each job once */
START_TEST(a_conflict_keeps_queued_jobs_once)
{
	struct told t[3] = {{0}};
	jobs_close(jq);
	uv_run(e.loop, UV_RUN_DEFAULT);
	wf_set_unref(e.ws);
	open_queue(1);
	store_fault_set(st, "commit", 2, -EDEADLK);
	for (int i = 0; i < 3; i++) {
		char phone[16];
		snprintf(phone, sizeof(phone), "1320000000%d", i);
		submit(phone, NULL, &t[i]);
	}
	spin(t, 3);
	for (int i = 0; i < 5000 && strcmp(job_state(t[2].id), "done"); i++) {
		uv_run(e.loop, UV_RUN_NOWAIT);
		usleep(200);
	}
	for (int i = 0; i < 3; i++)
		ck_assert_str_eq(job_state(t[i].id), "done");
	ck_assert_int_eq(stat_of("conflicts"), 1);
	ck_assert_int_eq(stat_of("commit_failures"), 0);
	ck_assert_int_eq(stat_of("done") + stat_of("failed"), 3);
	/* one "job" entry in the history a job */
	json_t *keys, *k;
	size_t i;
	int seen[3] = {0};
	ck_assert_int_eq(rec_list(mem, REC_HISTORY, &keys), 0);
	json_array_foreach(keys, i, k) {
		json_t *h;
		ck_assert_int_eq(rec_get_key(mem, json_string_value(k), &h), 0);
		for (int n = 0; n < 3; n++)
			seen[n] += rec_is(h, "what", "job") && rec_is(h, "job", t[n].id);
		json_decref(h);
	}
	json_decref(keys);
	for (int n = 0; n < 3; n++)
		ck_assert_int_eq(seen[n], 1);
}
END_TEST

/* on a shared store a queued job another engine adopted and ran is not run
 * again here: its record, read inside the group, says it is done, and that
 * record is its answer */
START_TEST(a_job_run_elsewhere_is_not_run_again)
{
	struct told t[3] = {{0}};
	jobs_close(jq);
	uv_run(e.loop, UV_RUN_DEFAULT);
	wf_set_unref(e.ws);
	store_fault_shared(st, 1);
	open_queue_retry(1, 300);
	/* the first group runs one and writes two queued; the second fails,
	 * and the queue waits 300 ms for its retry */
	store_fault_set(st, "begin", 2, -EIO);
	for (int i = 0; i < 3; i++) {
		char phone[16];
		snprintf(phone, sizeof(phone), "1310000000%d", i);
		submit(phone, NULL, &t[i]);
	}
	spin(t, 3);
	/* another engine ran the last one meanwhile */
	json_t *rec;
	ck_assert_int_eq(rec_job_get(mem, t[2].id, &rec), 0);
	ck_assert_str_eq(rec_str0(rec, "jstate"), "queued");
	rec_set(rec, "jstate", "done");
	rec_set(rec, "result", "{\"code\":\"RAN_ELSEWHERE\"}");
	ck_assert_int_eq(rec_job_put(mem, t[2].id, rec), 0);
	json_decref(rec);
	for (int i = 0; i < 5000 && stat_of("queued") > 0; i++) {
		uv_run(e.loop, UV_RUN_NOWAIT);
		usleep(200);
	}
	ck_assert_int_eq(stat_of("queued"), 0);
	ck_assert_int_eq(stat_of("ran_elsewhere"), 1);
	ck_assert_int_eq(count_kind(REC_ACCOUNT), 2); /* its run here would have made one */
	ck_assert_int_eq(rec_job_get(mem, t[2].id, &rec), 0);
	ck_assert_str_eq(rec_str0(rec, "result"), "{\"code\":\"RAN_ELSEWHERE\"}");
	json_decref(rec);
	store_fault_shared(st, 0);
}
END_TEST

Suite *jobs_suite(void)
{
	Suite *s = suite_create("jobs");
	TCase *t = tcase_create("commit path");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, a_group_commits_and_runs);
	tcase_add_test(t, every_failed_put_aborts_the_group);
	tcase_add_test(t, a_full_disk_mid_group_aborts_it);
	tcase_add_test(t, every_failed_get_or_find_aborts_the_group);
	tcase_add_test(t, a_failed_commit_tells_everyone_and_recovers);
	tcase_add_test(t, a_failed_sync_is_not_a_failure);
	tcase_add_test(t, durable_jobs_survive_a_failed_group);
	tcase_add_test(t, a_conflict_writes_the_group_again);
	tcase_add_test(t, a_conflict_keeps_queued_jobs_once);
	tcase_add_test(t, conflicts_again_and_again_back_off);
	tcase_add_test(t, a_job_run_elsewhere_is_not_run_again);
	suite_add_tcase(s, t);
	return s;
}
