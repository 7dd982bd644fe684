/*
 * storectl - regflowctl-store, the helper program of "regflowctl store":
 * the verbs that need a store backend (regflowctl itself links none).
 */
#ifndef REGFLOW_STORECTL_H
#define REGFLOW_STORECTL_H

/* storectl_migrate - the store at path into the current format; an exit status */
int storectl_migrate(const char *path);

/* storectl_find - print the keys of the records whose indexed col is val */
int storectl_find(const char *path, const char *col, const char *val);
/* storectl_find_pg - the same on PostgreSQL (engine.store = "pg") */
int storectl_find_pg(const char *conninfo, const char *col, const char *val);

#endif
