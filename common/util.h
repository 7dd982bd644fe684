/*
 * util - small helpers shared by every program: durations, clocks,
 * time-sortable ids, paths, whole-file I/O with fsync.
 */
#ifndef REGFLOW_UTIL_H
#define REGFLOW_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* utf8_char_len - the length of the well-formed UTF-8 character at s (n
 * bytes left: no overlong, no surrogate, no NUL), or 0 */
size_t utf8_char_len(const unsigned char *s, size_t n);
/* utf8_clip - at most max bytes of s as well-formed UTF-8, malloc'd: cut at
 * a character's start, a byte that starts no valid character replaced by
 * '?' (a report's or a peer's text, before JSON or the spool takes it) */
char *utf8_clip(const char *s, size_t max);
/* duration_parse - "250ms", "30s", "15m", "2h", "1d", "1w" to milliseconds; -EINVAL */
int duration_parse(const char *s, int64_t *ms);
/* duration_format - 90000 -> "1m30s" (buf of 32 bytes is plenty) */
void duration_format(int64_t ms, char *buf, size_t n);

/* now_ms - wall-clock milliseconds since the epoch (honours faketime) */
int64_t now_ms(void);

#define ID_LEN 13
/*
 * id_new - a 13-character Crockford base32 id: 48 bits of milliseconds, the
 * node's number (one digit, 0..31: engine.node) and a 10-bit counter from a
 * random start.  Ids sort by creation time, are unique within a process and
 * between nodes, name the node that made them (id_node), and avoid I, L, O
 * and U so they read well over the phone.
 */
void id_new(char out[ID_LEN + 1]);
#define ID_NODES 32
/* id_set_node - the node number the ids of this process carry (0 at start) */
void id_set_node(int node);
/* id_node - the node number an id names (-1: not an id) */
int id_node(const char *id);
/* id_valid - 1 if s looks like an id from id_new */
int id_valid(const char *s);

/* file_write_atomic - write tmp, fsync, rename to path, fsync dir; mode as given */
int file_write_atomic(const char *path, const void *data, size_t len, int mode);
/* file_read - whole file, NUL-terminated, at most max bytes; caller frees */
int file_read(const char *path, size_t max, char **out, size_t *len);
/* fsync_dir - fsync the directory holding entries */
int fsync_dir(const char *dir);
/* mkdir_p - create dir and parents, mode 0700 for new ones */
int mkdir_p(const char *dir, int mode);

/* xmalloc and friends succeed or do not return */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
