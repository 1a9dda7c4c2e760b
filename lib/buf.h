/* buf.h - a growable byte buffer, the one way visitdav builds strings,
 * XML and response bodies.  Appends never fail silently: on allocation
 * failure the process aborts (out of memory is not recoverable here). */
#ifndef VD_BUF_H
#define VD_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

typedef struct vd_buf {
    char  *data;   /* always NUL-terminated when len > 0 or after any append */
    size_t len;
    size_t cap;
} vd_buf;

#define VD_BUF_INIT {NULL, 0, 0}

/* Make room for extra more bytes plus the terminating NUL (data is then
 * never NULL).  For writers that fill b->data + b->len themselves and
 * then advance len and write the NUL. */
void  vd_buf_reserve(vd_buf *b, size_t extra);
/* The out-of-line part of vd_buf_append (growth); use vd_buf_append. */
void  vd_buf_append_slow(vd_buf *b, const void *data, size_t len);

/* Inline because it runs thousands of times per response: the common case
 * (room already there) is a memcpy and two stores, no call.  With
 * vd_buf_puts on a literal the strlen folds to a constant. */
static inline void vd_buf_append(vd_buf *b, const void *data, size_t len)
{
    if (len >= b->cap - b->len) {        /* cap 0: 0 >= 0, so growth runs */
        vd_buf_append_slow(b, data, len);
        return;
    }
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

static inline void vd_buf_puts(vd_buf *b, const char *s)
{
    vd_buf_append(b, s, s ? strlen(s) : 0);
}

void  vd_buf_printf(vd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void  vd_buf_vprintf(vd_buf *b, const char *fmt, va_list ap);
/* Append s with & < > " ' escaped for XML text and attribute values; CR
 * becomes &#13;, other C0 controls but TAB/LF and invalid UTF-8 are
 * dropped. */
void  vd_buf_xml_escape(vd_buf *b, const char *s, size_t len);
void  vd_buf_reset(vd_buf *b);            /* len = 0, keep memory */
void  vd_buf_free(vd_buf *b);             /* release memory; b is reusable after */
/* Hand the data over to the caller (free() it); b is left empty. Never NULL. */
char *vd_buf_steal(vd_buf *b, size_t *len_out);

#endif
