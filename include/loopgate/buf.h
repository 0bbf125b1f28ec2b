/* buf.h - a growable byte buffer born with a maximum size.
 *
 * Response bodies are assembled here (search Bundles embed stored JSON
 * verbatim, so no re-parse is needed). A buffer never grows past its max:
 * appends beyond it fail with LG_ETOOLARGE and leave the buffer unchanged.
 */
#ifndef LOOPGATE_BUF_H
#define LOOPGATE_BUF_H

#include <stddef.h>

#include "loopgate/status.h"

typedef struct lg_buf {
    char *data;   /* always NUL-terminated when non-NULL */
    size_t len, cap, max;
} lg_buf;

/* Initialise an empty buffer that may hold up to max bytes. No allocation. */
void lg_buf_init(lg_buf *b, size_t max);
lg_status lg_buf_add(lg_buf *b, const void *p, size_t n);
lg_status lg_buf_adds(lg_buf *b, const char *s);
lg_status lg_buf_printf(lg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s as a JSON string literal, quotes included. */
lg_status lg_buf_add_json_string(lg_buf *b, const char *s);
/* Hand the data to the caller (free() it); the buffer becomes empty. May
 * return NULL for an empty buffer that never allocated. */
char *lg_buf_take(lg_buf *b, size_t *len);
void lg_buf_free(lg_buf *b);

#endif
