/*
 * conf - the one libconfig file every program reads (SPEC section 2).
 *
 * conf_open() loads the file (or nothing, for the embedded defaults), then
 * applies each "-o path=value" override.  Getters take a default; a setting
 * of the wrong type records the first error as "file:line: path: reason",
 * which the program reports with conf_error() before it starts.
 */
#ifndef REGFLOW_CONF_H
#define REGFLOW_CONF_H

#include <libconfig.h>
#include <stdint.h>

#define CONF_MAX_OVERRIDES 64

struct conf {
	config_t cfg;
	const char *file; /* NULL: embedded defaults only */
	char err[512];	  /* first error, "" if none */
};

/* conf_args - the -c and -o options every program shares */
struct conf_args {
	const char *file;
	const char *ov[CONF_MAX_OVERRIDES];
	int nov;
};

/* conf_args_add - take one getopt option ('c' or 'o'); -EINVAL if not ours or full */
int conf_args_add(struct conf_args *a, int opt, const char *arg);
/* conf_args_getopt - a helper program's -c FILE and -o path=value options
 * (up to its first operand) into a: the index of that operand, or -1 for -h
 * or an option not ours */
int conf_args_getopt(int argc, char **argv, struct conf_args *a);

/* conf_open - load a->file (default conf/regflow.conf if it exists) and overrides */
int conf_open(struct conf *c, const struct conf_args *a);
void conf_close(struct conf *c);
/* conf_error - the first error seen (load, override or getter), or NULL */
const char *conf_error(const struct conf *c);

const char *conf_str(struct conf *c, const char *path, const char *def);
long long conf_int(struct conf *c, const char *path, long long def);
int conf_bool(struct conf *c, const char *path, int def);
/* conf_duration - a duration string ("30s", "15m", "2h", "1d", "250ms") in ms */
int64_t conf_duration(struct conf *c, const char *path, const char *def);

/*
 * settings tables (as Postfix's CONFIG_INT_TABLE): each program lists its
 * settings with their type, default and range, and reads them in one call;
 * a bad value is refused with its name ("file:line: path: reason").
 */
enum conf_type {
	CONF_STR,   /* const char * */
	CONF_INT,   /* long long, within [min, max] unless both are 0 */
	CONF_BOOL,  /* int, 0 or 1 */
	CONF_DUR,   /* int64_t milliseconds from "30s", "1d"...; range in ms */
	CONF_INT32, /* int, within [min, max] */
	CONF_OWN    /* a group or list the program reads itself: only known here */
};

struct conf_item {
	const char *path; /* "engine.listen"; NULL ends the table */
	enum conf_type type;
	const char *def; /* the default, written as in the file */
	long long min, max;
	size_t off; /* offsetof the field in the program's settings struct */
};

/*
 * conf_check_known - every setting in the sections this program owns (own,
 * e.g. {"engine", NULL}) and the shared ones (log, spool, api) is in items
 * or read by every program; else -EINVAL, "file:line: path: unknown setting
 * (did you mean ...?)".  Another program's sections are its to check; an
 * unknown section is refused by all.
 */
int conf_check_known(struct conf *c, const struct conf_item *items, const char *const *own);
/* conf_read - every setting of a table into dst; -EINVAL with conf_error() set */
int conf_read(struct conf *c, const struct conf_item *items, void *dst);

#endif
