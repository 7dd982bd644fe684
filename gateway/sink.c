/*
 * sink - .eml files and sms.jsonl (see sink.h).
 */
#include "sink.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* one writer at a time keeps each JSON line whole */
static pthread_mutex_t sink_sms_lock = PTHREAD_MUTEX_INITIALIZER;

int sink_eml(const char *dir, const char *id, const char *text, size_t len, char *where, size_t wn)
{
	int w = snprintf(where, wn, "%s/%s.eml", dir, id);
	if (w < 0 || (size_t)w >= wn)
		return -ENAMETOOLONG;
	return file_write_atomic(where, text, len, 0600);
}

int sink_sms(const char *dir, const struct spool_msg *m, char *where, size_t wn)
{
	json_t *o;
	char *line = NULL;
	size_t len, off = 0;
	int fd = -1, rc = 0;

	int w = snprintf(where, wn, "%s/sms.jsonl", dir);
	if (w < 0 || (size_t)w >= wn)
		return -ENAMETOOLONG;
	o = json_pack("{s:s, s:s, s:s, s:s?, s:I}", "id", m->id, "to", m->to, "text", m->body,
		      "front", m->front, "created", (json_int_t)m->created_ms);
	if (!o)
		return -EINVAL;
	line = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!line)
		return -ENOMEM;
	len = strlen(line);
	line = xrealloc(line, len + 2);
	line[len++] = '\n';
	line[len] = 0;
	pthread_mutex_lock(&sink_sms_lock);
	fd = open(where, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	while (off < len) {
		ssize_t n = write(fd, line + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0)
		rc = -errno;
out:
	if (fd >= 0)
		close(fd);
	pthread_mutex_unlock(&sink_sms_lock);
	free(line);
	return rc;
}
