/*
 * account_cmd - "regflowctl account": an account as the engine shows it,
 * the help desk's look-ups (masked), and an account's history - all over
 * the API, with a token from api.tokens_file (--front; the look-ups and
 * histories need the helpdesk role, so their default is "helpdesk").
 */
#include "ctl.h"
#include "engine_cmd.h"
#include "util.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int account_show(struct conf *c, int argc, char **argv)
{
	const char *id = NULL, *front = NULL;
	int json = 0;
	char path[128], *acct = NULL, *inbox = NULL;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--front") && i + 1 < argc)
			front = argv[++i];
		else if (!id)
			id = argv[i];
		else
			id = NULL, i = argc;
	}
	if (!id || !id_valid(id)) {
		return ctl_usage("account");
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(path, sizeof(path), "/v1/accounts/%s", id);
	long st = ctl_api_get(c, front, path, &acct);
	int rc = 0;
	if (st != 200) {
		if (st > 0)
			fprintf(stderr, "regflowctl: account %s: HTTP %ld %s\n", id, st, acct);
		rc = 1;
		goto out;
	}
	snprintf(path, sizeof(path), "/v1/accounts/%s/inbox", id);
	ctl_api_get(c, front, path, &inbox);
	json_t *a = json_loads(acct, 0, NULL), *in = json_loads(inbox, 0, NULL);
	if (json) {
		json_object_set(a, "inbox", json_object_get(in, "items"));
		char *s = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
		puts(s);
		free(s);
	} else {
		const char *k;
		json_t *v;
		json_object_foreach(a, k, v) {
			if (json_is_string(v))
				printf("%-14s %s\n", k, json_string_value(v));
		}
		json_object_foreach(json_object_get(a, "workflows"), k, v)
			printf("%-14s %s: %s\n", "workflow", k, json_string_value(v));
		size_t i;
		json_array_foreach(json_object_get(in, "items"), i, v)
			printf("inbox          %s %s %s: %s\n",
			       json_string_value(json_object_get(v, "id")),
			       json_string_value(json_object_get(v, "type")),
			       json_string_value(json_object_get(v, "state")),
			       json_string_value(json_object_get(v, "text")));
	}
	json_decref(a);
	json_decref(in);
out:
	free(acct);
	free(inbox);
	curl_global_cleanup();
	return rc;
}

/* print_history - one line an entry: when, what, and its fields */
static void print_history(json_t *h)
{
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(h, "history"), i, e) {
		time_t t = (time_t)(json_integer_value(json_object_get(e, "at")) / 1000);
		if (!t)
			t = (time_t)(atoll(json_string_value(json_object_get(e, "at")) ?: "0") /
				     1000);
		struct tm tm;
		char when[32], more[512] = "";
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		const char *k;
		json_t *v;
		size_t n = 0;
		json_object_foreach(e, k, v) {
			if (!strcmp(k, "at") || !strcmp(k, "what") || !json_is_string(v))
				continue;
			n += (size_t)snprintf(more + n, n < sizeof(more) ? sizeof(more) - n : 0,
					      " %s=%s", k, json_string_value(v));
		}
		printf("%s  %-12s%s\n", when, json_string_value(json_object_get(e, "what")), more);
	}
}

/* get_print - GET path as front: the JSON itself (--json) or a printer's lines */
static int get_print(struct conf *c, const char *front, const char *path, int json,
		     void (*print)(json_t *))
{
	char *body = NULL;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	long st = ctl_api_get(c, front, path, &body);
	int rc = 0;
	if (st != 200) {
		if (st > 0)
			fprintf(stderr, "regflowctl: %s: HTTP %ld %s\n", path, st, body);
		rc = 1;
	} else if (json) {
		fputs(body, stdout);
		fputs("\n", stdout);
	} else {
		json_t *j = json_loads(body, 0, NULL);
		print(j);
		json_decref(j);
	}
	free(body);
	curl_global_cleanup();
	return rc;
}

static void print_found(json_t *j)
{
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(j, "accounts"), i, a) {
		const char *k;
		json_t *v;
		printf("%s", json_string_value(json_object_get(a, "id")));
		json_object_foreach(a, k, v)
			if (strcmp(k, "id") && json_is_string(v))
				printf("  %s=%s", k, json_string_value(v));
		printf("\n");
	}
	if (json_array_size(json_object_get(j, "accounts")) == 0)
		printf("no account\n");
	if (json_object_get(j, "next"))
		printf("(more: --after %s)\n", json_string_value(json_object_get(j, "next")));
}

/* account_find - find (--email X | --phone X | --idno X) [--name N] [--after ID] */
static int account_find(struct conf *c, int argc, char **argv)
{
	const char *front = "helpdesk", *key = NULL, *val = NULL, *name = NULL, *after = NULL;
	int json = 0;
	char path[1024];
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (i + 1 < argc && !strcmp(argv[i], "--front"))
			front = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--name"))
			name = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--after"))
			after = argv[++i];
		else if (i + 1 < argc && !key &&
			 (!strcmp(argv[i], "--email") || !strcmp(argv[i], "--phone") ||
			  !strcmp(argv[i], "--idno")))
			key = argv[i] + 2, val = argv[++i];
		else
			return ctl_usage("account");
	}
	if (!key)
		return ctl_usage("account");
	char *ev = curl_easy_escape(NULL, val, 0),
	     *nv = name ? curl_easy_escape(NULL, name, 0) : NULL;
	snprintf(path, sizeof(path), "/v1/accounts?%s=%s%s%s%s%s", key, ev, nv ? "&name=" : "",
		 nv ? nv : "", after ? "&after=" : "", after ? after : "");
	curl_free(ev);
	curl_free(nv);
	return get_print(c, front, path, json, print_found);
}

static int account_history(struct conf *c, int argc, char **argv)
{
	const char *front = "helpdesk", *id = NULL;
	int json = 0;
	char path[128];
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (i + 1 < argc && !strcmp(argv[i], "--front"))
			front = argv[++i];
		else if (!id)
			id = argv[i];
		else
			return ctl_usage("account");
	}
	if (!id || !id_valid(id))
		return ctl_usage("account");
	snprintf(path, sizeof(path), "/v1/accounts/%s/history", id);
	return get_print(c, front, path, json, print_history);
}

int ctl_account(struct conf *c, int argc, char **argv)
{
	if (argc > 0 && !strcmp(argv[0], "find"))
		return account_find(c, argc - 1, argv + 1);
	if (argc > 0 && !strcmp(argv[0], "history"))
		return account_history(c, argc - 1, argv + 1);
	return account_show(c, argc, argv);
}
