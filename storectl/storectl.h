/*
 * storectl - regflowctl-store, the helper program of "regflowctl store":
 * the verbs that need a store backend (regflowctl itself links none).
 */
#ifndef REGFLOW_STORECTL_H
#define REGFLOW_STORECTL_H

#include "store.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* tally - what a copy is checked with: a count and a checksum of every
 * record (XOR of each one's BLAKE2b, so that order does not matter) */
struct tally {
	int64_t n;
	unsigned char sum[32];
};
void tally_add(struct tally *t, const char *key, const json_t *rec);
/* tally_check - st holds exactly the records of want (count, checksum, and its
 * own count): 0, or -EIO with what differs in err */
int tally_check(struct store *st, const struct tally *want, char *err, size_t errlen);

/* storectl_migrate - the store at path into the current format; an exit status */
int storectl_migrate(const char *path);

/* storectl_find - print the keys of the records whose indexed col is val */
int storectl_find(const char *path, const char *col, const char *val);
/* storectl_find_pg - the same on PostgreSQL (engine.store = "pg") */
int storectl_find_pg(const char *conninfo, const char *col, const char *val);

/* storectl_copy - every record of store from into the empty store to
 * ("tc:PATH" or "pg:CONNINFO"), verified; an exit status */
int storectl_copy(const char *from, const char *to);

#endif
