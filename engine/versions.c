/*
 * versions - workflow versions recorded and found again (see versions.h).
 *
 * A version is loaded again from its record by writing its texts into a
 * private temporary folder (0700) and loading that folder's one workflow
 * with the same loader as any other, so an old version means exactly what
 * it meant when it ran.  Loaded versions stay for the life of the process;
 * a version nothing needs costs a few kilobytes.
 */
#include "versions.h"
#include "log.h"
#include "rec.h"
#include "util.h"
#include "wf_run.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct loaded {
	char key[REC_KEY_MAX]; /* NAME@VERSION */
	struct wf_set *ws;     /* a reference; NULL: it would not load (not tried again) */
	const struct wf *wf;
};

/* every recorded version, oldest first: which has which states */
struct known {
	char name[128], version[17];
	char *states; /* " a b c " */
};

static struct engine *eng;
static struct loaded *cache;
static size_t ncache;
static struct known *known;
static size_t nknown;

static struct loaded *cached(const char *id)
{
	for (size_t i = 0; i < ncache; i++)
		if (!strcmp(cache[i].key, id))
			return &cache[i];
	return NULL;
}

/* states_of - " a b c ": the states of wf, for the record */
static char *states_of(const struct wf *wf)
{
	size_t n = 2;
	for (int i = 0; i < wf->nstates; i++)
		n += strlen(wf->states[i].name) + 1;
	char *s = xcalloc(1, n + 1);
	strcat(s, " ");
	for (int i = 0; i < wf->nstates; i++) {
		strcat(s, wf->states[i].name);
		strcat(s, " ");
	}
	return s;
}

static void known_add(const char *name, const char *version, const char *states)
{
	for (size_t i = 0; i < nknown; i++)
		if (!strcmp(known[i].name, name) && !strcmp(known[i].version, version))
			return;
	known = xrealloc(known, (nknown + 1) * sizeof(*known));
	snprintf(known[nknown].name, sizeof(known[nknown].name), "%s", name);
	snprintf(known[nknown].version, sizeof(known[nknown].version), "%s", version);
	known[nknown].states = xstrdup(states ? states : "");
	nknown++;
}

static void cache_add(const char *id, struct wf_set *ws, const struct wf *wf)
{
	cache = xrealloc(cache, (ncache + 1) * sizeof(*cache));
	snprintf(cache[ncache].key, sizeof(cache[ncache].key), "%s", id);
	cache[ncache].ws = ws ? wf_set_ref(ws) : NULL;
	cache[ncache].wf = wf;
	ncache++;
}

/* record_of - the version's record: when first loaded, and its texts */
static json_t *record_of(const struct wf_set *ws, const struct wf *wf, int64_t now)
{
	json_t *src = json_deep_copy(wf->sources);
	json_object_update_missing(src, ws->common);
	const char *base = strrchr(wf->file, '/');
	char *text = json_dumps(src, JSON_COMPACT | JSON_SORT_KEYS);
	json_t *r = json_object();
	rec_set(r, "name", wf->name);
	rec_set(r, "version", wf->version);
	rec_set(r, "file", base ? base + 1 : wf->file);
	char *states = states_of(wf);
	rec_set(r, "states", states);
	free(states);
	rec_set_int(r, "loaded", now);
	rec_set(r, "sources", text);
	free(text);
	json_decref(src);
	return r;
}

int versions_record(struct engine *e, struct wf_set *ws)
{
	json_t *writes = json_object(), *old = NULL;
	char id[REC_KEY_MAX], key[REC_KEY_MAX];
	int rc = 0;
	for (int i = 0; i < ws->n; i++) {
		const struct wf *wf = ws->wfs[i];
		snprintf(id, sizeof(id), "%s@%s", wf->name, wf->version);
		if (!cached(id))
			cache_add(id, ws, wf);
		char *states = states_of(wf);
		known_add(wf->name, wf->version, states);
		free(states);
		rc = rec_get(e->st, REC_WFVER, id, &old);
		json_decref(old);
		old = NULL;
		if (rc == -ENOENT) {
			json_object_set_new(writes, rec_key(REC_WFVER, id, key),
					    record_of(ws, wf, now_ms()));
			log_info("workflow %s: new version %s", wf->name, wf->version);
		} else if (rc < 0) {
			goto out;
		}
	}
	rc = 0;
	/* (engines starting together on one store record the same versions:
	 * one of them conflicts and writes again, 8 times at most) */
	for (int tries = 0; json_object_size(writes) && tries < 8; tries++) {
		if ((rc = store_begin(e->st)) == 0 && (rc = rec_apply(e->st, writes)) < 0)
			store_abort(e->st);
		else if (rc == 0 && (rc = store_commit(e->st)) == -EAGAIN) {
			log_err("store: committed but not synced to disk: %s", store_error(e->st));
			rc = 0; /* written: as a group's commit, go on */
		}
		if (rc != -EDEADLK)
			break;
		store_abort(e->st);
	}
	if (rc < 0)
		log_err("workflow versions not recorded: %s", store_error(e->st));
out:
	json_decref(writes);
	return rc;
}

/* safe_name - a name of the record's texts that stays inside the folder:
 * relative, no ".." component (the loader's body files may say "a/../b") */
static int safe_name(const char *n)
{
	if (!*n || n[0] == '/' || strlen(n) >= 200)
		return 0;
	for (const char *p = n; *p; p += strcspn(p, "/"), p += *p == '/')
		if (!strncmp(p, "..", 2) && (p[2] == '/' || !p[2]))
			return 0;
	return 1;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* write_texts - the record's texts as files under dir; the workflow's path in wfpath */
static int write_texts(const char *dir, const json_t *rec, char *wfpath, size_t n)
{
	json_t *src = json_loads(rec_str0(rec, "sources"), 0, NULL), *v;
	const char *name;
	int rc = src ? 0 : -EBADMSG;
	json_object_foreach(src, name, v) {
		char path[PATH_MAX];
		const char *text = json_string_value(v);
		if (!safe_name(name) || !text) {
			rc = -EBADMSG;
			break;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		char *slash = strrchr(path, '/');
		*slash = 0;
		mkdir_p(path, 0700);
		*slash = '/';
		if ((rc = file_write_atomic(path, text, strlen(text), 0600)) < 0)
			break;
	}
	json_decref(src);
	snprintf(wfpath, n, "%s/%s", dir, rec_str0(rec, "file"));
	return rc;
}

/* load_stored - the version of the record, loaded from its texts */
static struct wf_set *load_stored(const char *id, const json_t *rec)
{
	char dir[] = "/tmp/regflowd-wfv-XXXXXX", wfpath[PATH_MAX];
	struct wf_set *ws = NULL;
	struct wf_errs errs = {0};
	if (!mkdtemp(dir))
		return NULL;
	if (write_texts(dir, rec, wfpath, sizeof(wfpath)) == 0) {
		char *files[] = {wfpath};
		if (wf_set_load(dir, files, 1, &ws, &errs) < 0)
			log_err("workflow version %s: its stored texts do not load: %s", id,
				errs.n ? errs.v[0] : "?");
		wf_errs_free(&errs);
	} else {
		log_err("workflow version %s: its stored texts cannot be written out", id);
	}
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	return ws;
}

/* version_get - name at version: loaded, or loaded from its record */
static const struct wf *version_get(const char *name, const char *version)
{
	char id[REC_KEY_MAX];
	json_t *rec = NULL;
	snprintf(id, sizeof(id), "%s@%s", name, version);
	struct loaded *l = cached(id);
	if (l)
		return l->wf; /* NULL: it did not load before */
	if (!eng || rec_get(eng->st, REC_WFVER, id, &rec) < 0)
		return NULL;
	struct wf_set *ws = load_stored(id, rec);
	json_decref(rec);
	const struct wf *wf = ws ? wf_set_find(ws, name) : NULL;
	if (wf && strcmp(wf->version, version) != 0)
		log_warn("workflow version %s: loaded again as %s (messages.conf or the "
			 "loader changed); run on as %s",
			 id, wf->version, version);
	cache_add(id, wf ? ws : NULL, wf); /* a failure too: not tried at every job */
	if (wf)
		log_info("workflow %s: version %s loaded again from the store (accounts are "
			 "pinned to it)",
			 name, version);
	wf_set_unref(ws);
	return wf;
}

const struct wf *versions_find(const char *name, const char *state)
{
	char want[140];
	snprintf(want, sizeof(want), " %s ", state);
	for (size_t i = nknown; i-- > 0;) /* the latest that had it */
		if (!strcmp(known[i].name, name) && strstr(known[i].states, want))
			return version_get(name, known[i].version);
	return NULL;
}

const char *versions_of_state(const char *name, const char *state)
{
	const struct wf *wf = versions_find(name, state);
	return wf ? wf->version : NULL;
}

static int by_loaded(const void *a, const void *b)
{
	int64_t x = rec_int(*(json_t *const *)a, "loaded", 0);
	int64_t y = rec_int(*(json_t *const *)b, "loaded", 0);
	return x < y ? -1 : x > y;
}

/* sorted_by_loaded - the records of list, oldest first (a new array) */
static json_t *sorted_by_loaded(json_t *list)
{
	size_t n = json_array_size(list);
	json_t **v = xcalloc(n + 1, sizeof(*v)), *out = json_array();
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(list, i);
	qsort(v, n, sizeof(*v), by_loaded);
	for (size_t i = 0; i < n; i++)
		json_array_append(out, v[i]);
	free(v);
	return out;
}

/* known_load - every recorded version, oldest first, at start */
static void known_load(struct engine *e)
{
	json_t *keys = NULL, *k, *list = json_array(), *r;
	size_t i;
	if (rec_list(e->st, REC_WFVER, &keys) < 0)
		return;
	json_array_foreach(keys, i, k) {
		json_t *rec = NULL;
		if (rec_get_key(e->st, json_string_value(k), &rec) == 0)
			json_array_append_new(list, rec);
	}
	json_decref(keys);
	json_t *sorted = sorted_by_loaded(list);
	json_array_foreach(sorted, i, r) {
		const char *states = rec_str(r, "states");
		char *made = NULL;
		if (!states) { /* recorded before states were: ask the version itself */
			const struct wf *wf =
				version_get(rec_str0(r, "name"), rec_str0(r, "version"));
			states = made = wf ? states_of(wf) : NULL;
		}
		known_add(rec_str0(r, "name"), rec_str0(r, "version"), states);
		free(made);
	}
	json_decref(sorted);
	json_decref(list);
}

json_t *versions_list(struct engine *e, const char *name)
{
	json_t *keys = NULL, *k, *out = json_array(), *recs = json_array(), *rec;
	size_t i;
	if (rec_list(e->st, REC_WFVER, &keys) < 0)
		return out;
	json_array_foreach(keys, i, k) {
		rec = NULL;
		if (rec_get_key(e->st, json_string_value(k), &rec) == 0 &&
		    (!name || rec_is(rec, "name", name)))
			json_array_append(recs, rec);
		json_decref(rec);
	}
	json_decref(keys);
	json_t *sorted = sorted_by_loaded(recs);
	json_array_foreach(sorted, i, rec)
		json_array_append_new(out,
				      json_pack("{s:s, s:s, s:I}", "name", rec_str0(rec, "name"),
						"version", rec_str0(rec, "version"), "loaded",
						(json_int_t)rec_int(rec, "loaded", 0)));
	json_decref(sorted);
	json_decref(recs);
	return out;
}

char *versions_text(struct engine *e, const char *name, const char *version)
{
	char id[REC_KEY_MAX];
	json_t *rec = NULL, *src;
	char *text = NULL;
	snprintf(id, sizeof(id), "%s@%s", name, version);
	if (rec_get(e->st, REC_WFVER, id, &rec) < 0)
		return NULL;
	src = json_loads(rec_str0(rec, "sources"), 0, NULL);
	const char *t = json_string_value(json_object_get(src, rec_str0(rec, "file")));
	text = t ? xstrdup(t) : NULL;
	json_decref(src);
	json_decref(rec);
	return text;
}

void versions_init(struct engine *e)
{
	eng = e;
	known_load(e);
	wf_run_set_versions(versions_find);
}

void versions_free(void)
{
	for (size_t i = 0; i < ncache; i++)
		if (cache[i].ws)
			wf_set_unref(cache[i].ws);
	free(cache);
	cache = NULL;
	ncache = 0;
	for (size_t i = 0; i < nknown; i++)
		free(known[i].states);
	free(known);
	known = NULL;
	nknown = 0;
}
