/*
 * scenario - the scenario file of regflowctl simulate (see sim.h): lines of
 * "[@FRONT] TYPE name=value ..." (a value "quoted" may hold spaces; \" and
 * \\ inside) and "+DURATION".
 */
#include "sim.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* word - the next word of *p (a quoted part unquoted) into a new string */
static char *word(const char **p, int *bad)
{
	const char *s = *p;
	size_t cap = strlen(s) + 1, n = 0;
	char *out = xmalloc(cap);
	int quoted = 0;
	for (; *s && (quoted || !isspace((unsigned char)*s)); s++) {
		if (*s == '"') {
			quoted = !quoted;
		} else if (quoted && *s == '\\' && (s[1] == '"' || s[1] == '\\')) {
			out[n++] = *++s;
		} else {
			out[n++] = *s;
		}
	}
	out[n] = 0;
	*bad = quoted;
	while (isspace((unsigned char)*s))
		s++;
	*p = s;
	return out;
}

static int parse_job(struct sim_step *st, const char *s, char *why, size_t n)
{
	int bad = 0;
	st->front = xstrdup("www");
	if (*s == '@') {
		free(st->front);
		s++;
		st->front = word(&s, &bad);
	}
	st->type = word(&s, &bad);
	st->args = json_object();
	while (*s && !bad) {
		char *w = word(&s, &bad), *eq = strchr(w, '=');
		if (!eq || eq == w) {
			snprintf(why, n, "expected name=value, got \"%s\"", w);
			free(w);
			return -EINVAL;
		}
		*eq = 0;
		json_t *v = json_string(eq + 1);
		if (!v || json_object_set_new(st->args, w, v) < 0) {
			snprintf(why, n, "\"%s\" or its value is not UTF-8", w);
			free(w);
			return -EINVAL;
		}
		free(w);
	}
	if (bad) {
		snprintf(why, n, "a quote is not closed");
		return -EINVAL;
	}
	if (!*st->type) {
		snprintf(why, n, "no job type");
		return -EINVAL;
	}
	return 0;
}

int sim_parse(const char *file, const char *text, struct sim_step **out, int *n, char *err,
	      size_t errlen)
{
	struct sim_step *v = NULL;
	int nv = 0, line = 0, rc = 0;
	const char *p = text;
	while (*p && rc == 0) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char *l = xmalloc(len + 1), *s = l, why[200] = "";
		memcpy(l, p, len);
		l[len] = 0;
		line++;
		while (isspace((unsigned char)*s))
			s++;
		for (size_t k = strlen(s); k > 0 && isspace((unsigned char)s[k - 1]); k--)
			s[k - 1] = 0;
		if (*s && *s != '#') {
			v = xrealloc(v, (size_t)(nv + 1) * sizeof(*v));
			struct sim_step *st = memset(&v[nv++], 0, sizeof(*v));
			st->line = line;
			if (*s == '+') {
				if (duration_parse(s + 1, &st->advance_ms) < 0 ||
				    st->advance_ms <= 0) {
					snprintf(why, sizeof(why), "not a duration: \"%s\"", s + 1);
					rc = -EINVAL;
				}
			} else {
				rc = parse_job(st, s, why, sizeof(why));
			}
			if (rc < 0)
				snprintf(err, errlen, "%s:%d: %s", file, line, why);
		}
		free(l);
		p = end ? end + 1 : p + len;
	}
	if (rc < 0) {
		sim_steps_free(v, nv);
		return rc;
	}
	*out = v;
	*n = nv;
	return 0;
}

void sim_steps_free(struct sim_step *s, int n)
{
	for (int i = 0; i < n; i++) {
		free(s[i].front);
		free(s[i].type);
		json_decref(s[i].args);
	}
	free(s);
}
