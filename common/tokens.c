/*
 * tokens - a client's own token from the tokens file (see tokens.h).
 */
#include "tokens.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

int tokens_lookup(const char *file, const char *front, char *name, char *tok, size_t n)
{
	FILE *f = fopen(file, "r");
	char line[1024];
	int rc = -ENOENT;
	if (!f)
		return -errno;
	while (rc == -ENOENT && fgets(line, sizeof(line), f)) {
		char fn[128], tk[600];
		if (line[0] == '#' || sscanf(line, "%127s %599s", fn, tk) != 2)
			continue;
		if (!front || strcmp(front, fn) == 0) {
			snprintf(name, 128, "%s", fn);
			snprintf(tok, n, "%s", tk);
			rc = 0;
		}
		sodium_memzero(tk, sizeof(tk));
	}
	sodium_memzero(line, sizeof(line));
	fclose(f);
	return rc;
}
