/*
 * buf - a growing buffer with a cap (as curl's dynbuf): every user states
 * the most it will hold, so no input can make it grow without bound.  The
 * text is always NUL-terminated.  Allocation succeeds or does not return.
 */
#ifndef REGFLOW_BUF_H
#define REGFLOW_BUF_H

#include <stddef.h>

struct buf {
	char *p;
	size_t len, cap, max;
};

#define BUF_UNLIMITED ((size_t)-1 / 2)

/* buf_init - an empty buffer that holds at most max bytes */
void buf_init(struct buf *b, size_t max);
/* buf_add - append n bytes: 0, or -E2BIG (nothing added) past the cap */
int buf_add(struct buf *b, const void *data, size_t n);
/* buf_reserve - room for n more bytes ahead (within the cap): fewer reallocations */
void buf_reserve(struct buf *b, size_t n);
/* buf_adds - append a string */
int buf_adds(struct buf *b, const char *s);
/* buf_addf - append printf-style text */
int buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* buf_ptr - the text so far ("" when empty, never NULL) */
const char *buf_ptr(const struct buf *b);
/* buf_take - hand the text over (caller frees; never NULL); b is empty after */
char *buf_take(struct buf *b, size_t *len);
/* buf_reset - empty, keeping the memory; buf_free - release it */
void buf_reset(struct buf *b);
void buf_free(struct buf *b);

#endif
