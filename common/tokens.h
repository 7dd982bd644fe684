/*
 * tokens - a client's own token from api.tokens_file ("front-name token
 * [roles]" lines): regflowctl calls the API with it, the gateway reports
 * outcomes with its own.  The engine's check of tokens is engine/auth.c.
 */
#ifndef REGFLOW_TOKENS_H
#define REGFLOW_TOKENS_H

#include <stddef.h>

/* tokens_lookup - the token of front (NULL: the first line's) and its
 * name (128 bytes); 0, -ENOENT, or the file's -errno */
int tokens_lookup(const char *file, const char *front, char *name, char *tok, size_t n);

#endif
