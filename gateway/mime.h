/*
 * mime - builds the RFC 5322 / MIME text of an e-mail spool message:
 * CRLF line ends, RFC 2047 encoded-words for non-ASCII From names and
 * Subjects, a base64 text/plain; charset=UTF-8 body wrapped at 76 columns.
 */
#ifndef REGFLOW_MIME_H
#define REGFLOW_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "spool.h"

/* mime_addr_valid - 1 if addr is a plain local@domain we will put in RCPT TO and To: */
int mime_addr_valid(const char *addr);
/* mime_header_text - s as a header value: as is if short printable ASCII, else encoded-words */
char *mime_header_text(const char *s);
/* mime_base64_lines - base64 of data wrapped at 76 columns, each line ending CRLF */
char *mime_base64_lines(const void *data, size_t len);
/* mime_build - the whole message for m, From <from_addr>, Date date_ms; caller frees */
char *mime_build(const struct spool_msg *m, const char *from_addr, int64_t date_ms, size_t *len);

#endif
