/*
 * argon2_anchor - the anchor of the register_email benchmark (speed.py):
 * Argon2id hashes of the cost regflowd makes at intake (opslimit 2,
 * memlimit 19 MiB), in libsodium (crypto_pwhash_str_alg, ALG_ARGON2ID13: the
 * library regflowd used before common/password.c took libargon2), on
 * THREADS threads for SECONDS, and nothing else.  Not a test.
 *
 *   build/bench-argon2 SECONDS [THREADS]     (THREADS: default one per core)
 *
 * Prints one line: "hashes N seconds S threads T rate R".
 */
#include <sodium.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PW "correct horse battery"
#define OPSLIMIT 2
#define MEMLIMIT (19u * 1024 * 1024)

struct worker {
	pthread_t tid;
	double until;
	long hashes;
	int failed;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	char out[crypto_pwhash_STRBYTES];
	while (now_s() < w->until) {
		if (crypto_pwhash_str_alg(out, PW, strlen(PW), OPSLIMIT, MEMLIMIT,
					  crypto_pwhash_ALG_ARGON2ID13) != 0) {
			w->failed = 1;
			break;
		}
		w->hashes++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: bench-argon2 SECONDS [THREADS]\n");
		return 2;
	}
	double secs = atof(argv[1]);
	long n = argc == 3 ? atol(argv[2]) : sysconf(_SC_NPROCESSORS_ONLN);
	if (secs <= 0 || n < 1 || n > 256 || sodium_init() < 0) {
		fprintf(stderr, "bench-argon2: bad arguments or sodium_init failed\n");
		return 2;
	}
	struct worker *w = calloc((size_t)n, sizeof(*w));
	if (!w)
		return 1;
	double t0 = now_s();
	for (long i = 0; i < n; i++) {
		w[i].until = t0 + secs;
		if (pthread_create(&w[i].tid, NULL, run, &w[i]) != 0)
			return 1;
	}
	long total = 0;
	int failed = 0;
	for (long i = 0; i < n; i++) {
		pthread_join(w[i].tid, NULL);
		total += w[i].hashes;
		failed |= w[i].failed;
	}
	double el = now_s() - t0;
	printf("hashes %ld seconds %.3f threads %ld rate %.1f\n", total, el, n, total / el);
	free(w);
	return failed ? 1 : 0;
}
