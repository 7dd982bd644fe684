/*
 * log - leveled logging to stderr for every regflow program.
 *
 * One line per event: "2026-11-29T08:30:00Z regflowd[123]: warning: text".
 * Secrets are never passed to these functions; callers mask them first.
 */
#ifndef REGFLOW_LOG_H
#define REGFLOW_LOG_H

#include <stdarg.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERR };

/* log_init - set the program name shown in every line and the minimum level */
void log_init(const char *progname, enum log_level min);
/* log_set_level - change the minimum level ("debug", "info", "warning", "error") */
int log_set_level_name(const char *name);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* fatal - log and exit(1); for start-up failures and broken invariants only */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
