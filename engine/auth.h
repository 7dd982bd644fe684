/*
 * auth - bearer tokens of the web fronts for the job API.
 *
 * api.tokens_file holds one "front-name token" a line; '#' starts a comment
 * line.  Only keyed hashes of the tokens are kept in memory, and a check
 * compares against every entry in constant time, so neither a memory dump
 * nor the response time tells a token.  Tokens are never logged.
 */
#ifndef REGFLOW_AUTH_H
#define REGFLOW_AUTH_H

#include <stddef.h>

#define AUTH_TOKEN_MIN 16 /* shortest token accepted */
#define AUTH_TOKEN_MAX 512
#define AUTH_NAME_MAX 64 /* front names: letters, digits, '.', '_', '-' */

struct auth;

/*
 * auth_load - read the tokens file.  0, or a negative errno with a
 * "file:line: reason" (or "file: reason") message in err.
 */
int auth_load(const char *file, struct auth **out, char *err, size_t errlen);
/* auth_free - wipe and free; NULL is fine */
void auth_free(struct auth *a);
/* auth_count - number of tokens loaded */
size_t auth_count(const struct auth *a);
/*
 * auth_check - the front name for an "Authorization: Bearer TOKEN" value,
 * or NULL (no header, another scheme, an unknown token).
 */
const char *auth_check(const struct auth *a, const char *authorization);

#endif
