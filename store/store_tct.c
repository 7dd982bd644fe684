/*
 * store_tct - read a store of an older regflow: a Tokyo Cabinet table
 * database with one B+ tree file per index (see store.h).  Only the
 * migration reads it; nothing writes that format any more.
 */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <tctdb.h>
#include <tcutil.h>

static json_t *cols_json(TCMAP *cols)
{
	json_t *rec = json_object();
	const char *name;
	tcmapiterinit(cols);
	while ((name = tcmapiternext2(cols)) != NULL)
		json_object_set_new(rec, name, json_string(tcmapget2(cols, name)));
	return rec;
}

int store_tct_each(const char *path, store_each_fn fn, void *arg, char *err, size_t errlen)
{
	TCTDB *tdb = tctdbnew();
	int rc = 0;
	if (!tctdbopen(tdb, path, TDBOREADER | TDBOLCKNB)) {
		int ecode = tctdbecode(tdb);
		snprintf(err, errlen, "%s: %s%s", path, tctdberrmsg(ecode),
			 ecode == TCELOCK ? " (regflowd has it open: stop it first)" : "");
		tctdbdel(tdb);
		return ecode == TCELOCK ? -EBUSY : -EIO;
	}
	tctdbiterinit(tdb);
	char *key;
	while (rc == 0 && (key = tctdbiternext2(tdb)) != NULL) {
		TCMAP *cols = tctdbget(tdb, key, (int)strlen(key));
		if (cols) {
			json_t *rec = cols_json(cols);
			rc = fn(key, rec, arg);
			json_decref(rec);
			tcmapdel(cols);
		}
		tcfree(key);
	}
	if (rc < 0 && !err[0])
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
	tctdbclose(tdb);
	tctdbdel(tdb);
	return rc;
}
