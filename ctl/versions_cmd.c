/*
 * versions_cmd - regflowctl workflows [show NAME@VERSION]: the workflows'
 * versions as the engine keeps them (GET /v1/workflows, the admin role):
 * for each, its versions, oldest first, when each was first loaded, which
 * is the current one and how many accounts and timers run on each; show
 * prints one version's file as it was loaded.
 */
#include "conf.h"
#include "ctl.h"
#include "engine_cmd.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void print_version(const json_t *v)
{
	char when[32] = "-";
	time_t t = (time_t)(json_integer_value(json_object_get(v, "loaded")) / 1000);
	struct tm tm;
	if (t > 0 && localtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	printf("  %-16s  %-19s  %8lld  %7lld  %s\n",
	       json_string_value(json_object_get(v, "version")), when,
	       (long long)json_integer_value(json_object_get(v, "accounts")),
	       (long long)json_integer_value(json_object_get(v, "timers")),
	       json_is_true(json_object_get(v, "current")) ? "current" : "");
}

static int list(struct conf *c, const char *front, int as_json)
{
	char *out = NULL;
	long st = ctl_api_get(c, front, "/v1/workflows", &out);
	json_t *b = out ? json_loads(out, 0, NULL) : NULL, *w;
	size_t i;
	if (st != 200 || !b) {
		fprintf(stderr, "regflowctl: workflows: HTTP %ld %s\n", st, out ? out : "");
		free(out);
		json_decref(b);
		return 1;
	}
	if (as_json)
		printf("%s\n", out);
	else
		json_array_foreach(json_object_get(b, "workflows"), i, w) {
			size_t k;
			json_t *v;
			printf("%s\n  %-16s  %-19s  %8s  %7s\n",
			       json_string_value(json_object_get(w, "name")), "VERSION",
			       "FIRST LOADED", "ACCOUNTS", "TIMERS");
			json_array_foreach(json_object_get(w, "versions"), k, v)
				print_version(v);
		}
	free(out);
	json_decref(b);
	return 0;
}

static int show(struct conf *c, const char *front, const char *id)
{
	char path[512], *out = NULL;
	if (!strchr(id, '@') || strpbrk(id, "/?#% "))
		return ctl_usage("workflows");
	snprintf(path, sizeof(path), "/v1/workflows/%s", id);
	long st = ctl_api_get(c, front, path, &out);
	json_t *b = out ? json_loads(out, 0, NULL) : NULL;
	const char *text = json_string_value(json_object_get(b, "text"));
	if (st == 200 && text)
		fputs(text, stdout);
	else
		fprintf(stderr, "regflowctl: workflows show %s: %s\n", id,
			st == 404 ? "no such version"
			: out	  ? out
				  : "no answer");
	free(out);
	json_decref(b);
	return st == 200 && text ? 0 : 1;
}

int ctl_workflows(struct conf *c, int argc, char **argv)
{
	const char *front = "ops";
	int as_json = 0;
	const char *id = NULL;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--front") && i + 1 < argc)
			front = argv[++i];
		else if (!strcmp(argv[i], "--json"))
			as_json = 1;
		else if (!strcmp(argv[i], "show") && i + 1 < argc && !id)
			id = argv[++i];
		else
			return ctl_usage("workflows");
	}
	return id ? show(c, front, id) : list(c, front, as_json);
}
