/*
 * fill - load a regflow database with N accounts and N pending one-day
 * timers, as a live system with a million registrations in flight would
 * have, for the engine benchmark (make bench).  Not a test.
 *
 *   build/bench-fill DB N
 */
#include "rec.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
	struct store *st;
	char key[REC_KEY_MAX], id[ID_LEN + 1], email[64];
	if (argc != 3)
		return 2;
	long n = atol(argv[2]);
	if (rec_open_tc(argv[1], &st) < 0) {
		fprintf(stderr, "fill: %s\n", st->err);
		return 1;
	}
	int64_t now = now_ms(), t0 = now;
	for (long i = 0; i < n; i++) {
		if (i % 5000 == 0 && store_begin(st) < 0)
			return 1;
		id_new(id);
		rec_account_key(id, key);
		snprintf(email, sizeof(email), "fill%08ld@example.com", i);
		json_t *a = json_object();
		rec_set(a, "kind", "account");
		rec_set(a, "id", id);
		rec_set(a, "email", email);
		rec_set(a, "login", email);
		rec_set(a, "reg_by", "email");
		rec_set(a, "status", "pending_activation");
		rec_set(a, "wf.activation", "pending");
		rec_set(a, "pwhash",
			"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
			"aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g");
		rec_set_int(a, "created", now);
		rec_put_key(st, key, a);
		json_decref(a);
		json_t *t = json_object();
		rec_set(t, "kind", "timer");
		rec_set(t, "account", id);
		rec_set(t, "wf", "activation");
		rec_set(t, "state", "pending");
		rec_set(t, "idx", "0");
		rec_set_int(t, "due", now + 86400000LL + i);
		id_new(id);
		rec_key(REC_TIMER, id, key);
		rec_put_key(st, key, t);
		json_decref(t);
		if (i % 5000 == 4999 || i == n - 1) {
			if (store_commit(st) < 0) {
				fprintf(stderr, "fill: %s\n", st->err);
				return 1;
			}
		}
	}
	printf("filled %ld accounts and %ld timers in %.1f s\n", n, n, (now_ms() - t0) / 1000.0);
	store_close(st);
	return 0;
}
