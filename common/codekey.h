/*
 * codekey - the keys short codes are hashed with, kept outside the
 * database.  A six-digit code under a salted but unkeyed hash is a
 * million guesses away from anyone who can read the database; keyed with
 * a secret from this file, it is not.
 *
 * The key file (0600; refused if others may read it) holds one key a line,
 * "ID HEX CREATED": ID a short name (k1, k2, ...), HEX 32 random bytes,
 * CREATED the Unix time it was made.  The last line hashes new codes; the
 * others still check the codes made with them, so a key is rotated by
 * appending one (codekey_rotate) and dropped once no live code uses it.
 */
#ifndef REGFLOW_CODEKEY_H
#define REGFLOW_CODEKEY_H

#include <stddef.h>
#include <stdint.h>

#define CODEKEY_ID_MAX 16
#define CODEKEY_HASH_HEX 64

struct codekey_ring;

/* codekey_load - read path; -ENOENT if it does not exist, else 0 or -EINVAL
 * / -EPERM (others may read it) with the reason in err */
int codekey_load(const char *path, struct codekey_ring **out, char *err, size_t n);
/* codekey_create - a new key file with one fresh key; -EEXIST if there is one */
int codekey_create(const char *path, char *err, size_t n);
/* codekey_rotate - append a fresh key (it hashes new codes from the next
 * load on); its id into kid */
int codekey_rotate(const char *path, char kid[CODEKEY_ID_MAX], char *err, size_t n);
void codekey_free(struct codekey_ring *r);

/* codekey_current - the id of the key new codes are hashed with */
const char *codekey_current(const struct codekey_ring *r);
/* codekey_count, codekey_id, codekey_created - the keys, oldest first */
int codekey_count(const struct codekey_ring *r);
const char *codekey_id(const struct codekey_ring *r, int i);
int64_t codekey_created(const struct codekey_ring *r, int i);
/* codekey_hash - keyed BLAKE2b-256 (key kid) of salt || code as hex;
 * -ENOKEY if the ring has no key kid */
int codekey_hash(const struct codekey_ring *r, const char *kid, const char *salt_hex,
		 const char *code, char out[CODEKEY_HASH_HEX + 1]);

#endif
