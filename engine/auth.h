/*
 * auth - bearer tokens of the web fronts for the job API.
 *
 * api.tokens_file holds one "front-name token [roles]" a line, roles
 * comma-separated from front, office, reviewer, helpdesk, gateway, admin
 * (none written: front); '#' starts a comment line.  Only keyed hashes of the tokens are kept in
 * memory, and a check compares against every entry in constant time, so neither a memory dump nor
 * the response time tells a token.  Tokens are never logged.
 */
#ifndef REGFLOW_AUTH_H
#define REGFLOW_AUTH_H

#include <stddef.h>

#define AUTH_TOKEN_MIN 16 /* shortest token accepted */
#define AUTH_TOKEN_MAX 512
#define AUTH_NAME_MAX 64 /* front names: letters, digits, '.', '_', '-' */

struct auth;

/* the roles a token may hold (SPEC 3); admin holds them all */
enum auth_role {
	AUTH_FRONT = 1 << 0,	/* jobs for its own users */
	AUTH_OFFICE = 1 << 1,	/* assisted registration (a conscription office) */
	AUTH_REVIEWER = 1 << 2, /* reviews: the list, photos, decisions */
	AUTH_HELPDESK = 1 << 3, /* account look-ups and histories */
	AUTH_GATEWAY = 1 << 4,	/* the gateway's own calls: delivery outcomes, bounces */
	AUTH_ADMIN = 1 << 5,	/* everything */
};

/* who a token is: its front's name and its roles */
struct auth_id {
	char name[AUTH_NAME_MAX + 1];
	unsigned roles;
};

/* auth_role_parse - the role of a name ("front"...), or 0 */
unsigned auth_role_parse(const char *name, size_t len);
/* auth_role_name - "front" for AUTH_FRONT ... */
const char *auth_role_name(unsigned role);
/* auth_may - 1 if who holds role (admin holds every role) */
static inline int auth_may(const struct auth_id *who, unsigned role)
{
	return who && (who->roles & (role | AUTH_ADMIN)) != 0;
}

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
 * auth_check - who an "Authorization: Bearer TOKEN" value is, or NULL (no
 * header, another scheme, an unknown token); valid while a lives
 */
const struct auth_id *auth_check(const struct auth *a, const char *authorization);
/* auth_check_mode - a warning (in buf) if file may be read by others, else NULL */
const char *auth_check_mode(const char *file, char *buf, size_t n);

#endif
