/*
 * log - leveled logging to stderr (see log.h).
 */
#include "log.h"

#include <errno.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "regflow";
static enum log_level log_min = LOG_INFO;

void log_init(const char *progname, enum log_level min)
{
	log_prog = progname;
	log_min = min;
}

int log_set_level_name(const char *name)
{
	static const char *names[] = {"debug", "info", "warning", "error"};
	for (int i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0) {
			log_min = (enum log_level)i;
			return 0;
		}
	return -EINVAL;
}

static void log_vemit(enum log_level lvl, const char *fmt, va_list ap)
{
	static const char *tags[] = {"debug: ", "", "warning: ", "error: "};
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	if (lvl < log_min)
		return;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* one fprintf per line keeps lines whole when threads log at once */
	char msg[2048];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "%s %s[%d]: %s%s\n", stamp, log_prog, (int)getpid(), tags[lvl], msg);
}

#define LOG_FN(name, lvl)                                                                          \
	void name(const char *fmt, ...)                                                            \
	{                                                                                          \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		log_vemit(lvl, fmt, ap);                                                           \
		va_end(ap);                                                                        \
	}
LOG_FN(log_debug, LOG_DEBUG)
LOG_FN(log_info, LOG_INFO)
LOG_FN(log_warn, LOG_WARN)
LOG_FN(log_err, LOG_ERR)

void fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vemit(LOG_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}
