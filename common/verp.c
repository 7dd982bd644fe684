/*
 * verp - return paths that name their message (VERP): a bounce to
 * bounce+ID.KID.MAC@domain says which spool message it is about, and the
 * MAC (keyed BLAKE2b of "bounce:ID" with gateway.key_file's key, 80 bits
 * shown) makes it unforgeable: nobody can mark another message bounced.
 */
#include "verp.h"
#include "secret.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAC_HEX 20

static int mac_of(const struct codekey_ring *keys, const char *kid, const char *id,
		  char out[MAC_HEX + 1])
{
	char in[64], mac[CODEKEY_HASH_HEX + 1];
	snprintf(in, sizeof(in), "bounce:%s", id);
	if (codekey_hash(keys, kid, "", in, mac) < 0)
		return -ENOKEY;
	snprintf(out, MAC_HEX + 1, "%.*s", MAC_HEX, mac);
	return 0;
}

char *verp_make(const struct codekey_ring *keys, const char *domain, const char *id)
{
	char mac[MAC_HEX + 1];
	if (!keys || !domain || !*domain || mac_of(keys, codekey_current(keys), id, mac) < 0)
		return NULL;
	return xasprintf("bounce+%s.%s.%s@%s", id, codekey_current(keys), mac, domain);
}

int verp_parse(const struct codekey_ring *keys, const char *addr, char id_out[ID_LEN + 1])
{
	char local[128], id[ID_LEN + 1], kid[CODEKEY_ID_MAX], mac[MAC_HEX + 1], want[MAC_HEX + 1];
	const char *at = addr ? strrchr(addr, '@') : NULL;
	size_t n = at ? (size_t)(at - addr) : 0;
	if (!at || n >= sizeof(local) || strncasecmp(addr, "bounce+", 7) != 0)
		return -EINVAL;
	snprintf(local, sizeof(local), "%.*s", (int)(n - 7), addr + 7);
	char *d1 = strchr(local, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	if (!d1 || !d2 || d1 - local != ID_LEN || (size_t)(d2 - d1 - 1) >= sizeof(kid) ||
	    strlen(d2 + 1) != MAC_HEX)
		return -EINVAL;
	snprintf(id, sizeof(id), "%.*s", ID_LEN, local);
	for (char *p = id; *p; p++) /* mail systems may fold the case of a local part */
		*p = (char)toupper((unsigned char)*p);
	snprintf(kid, sizeof(kid), "%.*s", (int)(d2 - d1 - 1), d1 + 1);
	snprintf(mac, sizeof(mac), "%s", d2 + 1);
	for (char *p = mac; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (!id_valid(id))
		return -EINVAL;
	if (mac_of(keys, kid, id, want) < 0 || !secret_equal(want, mac))
		return -EACCES;
	memcpy(id_out, id, ID_LEN + 1);
	return 0;
}
