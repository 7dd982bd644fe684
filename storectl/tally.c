/*
 * tally - the count and checksum that migrate and copy verify with (see
 * storectl.h).
 */
#include "rec.h"
#include "storectl.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tally_add(struct tally *t, const char *key, const json_t *rec)
{
	unsigned char h[32];
	char *text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, sizeof(h));
	crypto_generichash_update(&st, (const unsigned char *)key, strlen(key) + 1);
	crypto_generichash_update(&st, (const unsigned char *)text, strlen(text));
	crypto_generichash_final(&st, h, sizeof(h));
	for (size_t i = 0; i < sizeof(h); i++)
		t->sum[i] ^= h[i];
	t->n++;
	free(text);
}

int tally_check(struct store *st, const struct tally *want, char *err, size_t errlen)
{
	struct tally got = {0};
	json_t *page = NULL, *pair;
	char after[REC_KEY_MAX] = "";
	size_t i;
	int rc;
	do {
		json_decref(page);
		if ((rc = store_scan(st, after[0] ? after : NULL, 10000, &page)) < 0)
			break;
		json_array_foreach(page, i, pair) {
			const char *k = json_string_value(json_array_get(pair, 0));
			tally_add(&got, k, json_array_get(pair, 1));
			snprintf(after, sizeof(after), "%s", k);
		}
	} while (json_array_size(page) > 0);
	json_decref(page);
	if (rc == 0 && (got.n != want->n || memcmp(got.sum, want->sum, sizeof(got.sum)) ||
			got.n != store_count(st))) {
		snprintf(err, errlen, "verification failed: %lld record(s) copied, %lld read back",
			 (long long)want->n, (long long)got.n);
		rc = -EIO;
	}
	return rc;
}
