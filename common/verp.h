/*
 * verp - return paths that name their message: bounce+ID.KID.MAC@domain,
 * the MAC a keyed BLAKE2b of the id with the gateway's key (common/codekey.h),
 * so that a bounce finds its message and nobody can forge one for another.
 */
#ifndef REGFLOW_VERP_H
#define REGFLOW_VERP_H

#include "codekey.h"
#include "util.h"

/* verp_make - message id's return path at domain (NULL: no key or domain) */
char *verp_make(const struct codekey_ring *keys, const char *domain, const char *id);
/* verp_parse - the message id addr names, if its MAC holds: 0 (id in
 * id_out), -EINVAL not a return path of ours, -EACCES forged */
int verp_parse(const struct codekey_ring *keys, const char *addr, char id_out[ID_LEN + 1]);

#endif
