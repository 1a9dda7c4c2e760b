/* buf.c - the growable byte buffer (buf.h).
 * Owns: growth, formatted appends and the one XML text escaper.
 * Must not: fail silently (allocation failure aborts with a message), or
 * leave data without a terminating NUL after an append. */
#include "buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die_oom(size_t want)
{
    fprintf(stderr, "visitdav: out of memory (buffer of %zu bytes)\n", want);
    abort();
}

/* Make room for extra more bytes plus the terminating NUL. */
static void reserve(vd_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        die_oom(SIZE_MAX);
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        die_oom(cap);
    b->data = p;
    b->cap = cap;
}

void vd_buf_append(vd_buf *b, const void *data, size_t len)
{
    reserve(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void vd_buf_puts(vd_buf *b, const char *s)
{
    vd_buf_append(b, s, s ? strlen(s) : 0);
}

void vd_buf_vprintf(vd_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    reserve(b, 0);
    size_t room = b->cap - b->len;
    int n = vsnprintf(b->data + b->len, room, fmt, ap);
    if (n < 0) {               /* encoding error: append nothing */
        b->data[b->len] = '\0';
        va_end(ap2);
        return;
    }
    if ((size_t)n >= room) {
        reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    }
    va_end(ap2);
    b->len += (size_t)n;
}

void vd_buf_printf(vd_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vd_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

/* Length of a valid UTF-8 sequence for an XML Char starting at s (at most
 * n bytes available), or 0 if invalid / not an XML 1.0 Char (surrogates,
 * U+FFFE, U+FFFF, overlongs, > U+10FFFF). */
static size_t utf8_char_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0xC2)
        return 0;                       /* continuation byte or overlong */
    else if (c < 0xE0) { len = 2; cp = c & 0x1F; }
    else if (c < 0xF0) { len = 3; cp = c & 0x0F; }
    else if (c < 0xF5) { len = 4; cp = c & 0x07; }
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF)
        return 0;
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF)
        return 0;
    return len;
}

void vd_buf_xml_escape(vd_buf *b, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    reserve(b, len);
    size_t i = 0;
    while (i < len) {
        size_t run = i;        /* copy plain ASCII runs in one go */
        while (run < len && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '&' &&
               p[run] != '<' && p[run] != '>' && p[run] != '"' && p[run] != '\'')
            run++;
        if (run > i) {
            vd_buf_append(b, p + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = p[i];
        switch (c) {
        case '&':  vd_buf_puts(b, "&amp;");  i++; continue;
        case '<':  vd_buf_puts(b, "&lt;");   i++; continue;
        case '>':  vd_buf_puts(b, "&gt;");   i++; continue;
        case '"':  vd_buf_puts(b, "&quot;"); i++; continue;
        case '\'': vd_buf_puts(b, "&apos;"); i++; continue;
        /* A literal CR would be normalised to LF by any XML parser; the
         * character reference keeps CRLF (iCalendar line ends) intact. */
        case '\r': vd_buf_puts(b, "&#13;");  i++; continue;
        case '\t': case '\n': vd_buf_append(b, p + i, 1); i++; continue;
        default: break;
        }
        if (c < 0x20) {        /* not an XML 1.0 Char: drop it */
            i++;
            continue;
        }
        size_t l = utf8_char_len(p + i, len - i);
        if (l == 0) {          /* invalid UTF-8 would make the document ill-formed */
            i++;
            continue;
        }
        vd_buf_append(b, p + i, l);
        i += l;
    }
    b->data[b->len] = '\0';
}

void vd_buf_reset(vd_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void vd_buf_free(vd_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

char *vd_buf_steal(vd_buf *b, size_t *len_out)
{
    reserve(b, 0);             /* guarantees a NUL-terminated, non-NULL block */
    b->data[b->len] = '\0';
    char *p = b->data;
    if (len_out)
        *len_out = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
