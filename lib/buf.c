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
    if (len >= b->cap - b->len)          /* cap 0: 0 >= 0, so reserve runs */
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

/* What vd_buf_xml_escape does with each byte: 0 copy as is (part of a
 * run), 1 an entity or a dropped control byte, 2 the lead of a multi-byte
 * UTF-8 sequence (validated, then kept in the run). */
enum { ESC_PLAIN = 0, ESC_SPECIAL = 1, ESC_UTF8 = 2 };
/* C0 controls other than TAB and LF (CR becomes &#13;, the rest are
 * dropped), & < > " ' : special; 0x80 and up: UTF-8. */
static const unsigned char esc_class[256] = {
    1,1,1,1,1,1,1,1,1,0,0,1,1,1,1,1,  /* 00 */
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,  /* 10 */
    0,0,1,0,0,0,1,1,0,0,0,0,0,0,0,0,  /* 20 */
    0,0,0,0,0,0,0,0,0,0,0,0,1,0,1,0,  /* 30 */
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,  /* 40 */
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,  /* 50 */
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,  /* 60 */
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,  /* 70 */
    2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,  /* 80 */
    2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,  /* 90 */
    2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,  /* A0 */
    2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,  /* B0 */
    2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,  /* C0 */
    2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,  /* D0 */
    2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,  /* E0 */
    2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,  /* F0 */
};

/* The replacement for a special byte, NULL when it is dropped. */
static const char *esc_entity(unsigned char c, size_t *len)
{
    switch (c) {
    case '&':  *len = 5; return "&amp;";
    case '<':  *len = 4; return "&lt;";
    case '>':  *len = 4; return "&gt;";
    case '"':  *len = 6; return "&quot;";
    case '\'': *len = 6; return "&apos;";
    /* A literal CR would be normalised to LF by any XML parser; the
     * character reference keeps CRLF (iCalendar line ends) intact. */
    case '\r': *len = 5; return "&#13;";
    default:   return NULL;     /* not an XML 1.0 Char: drop it */
    }
}

#ifdef __SSE2__
#include <emmintrin.h>
/* Index of the first byte of p[0..15] that may need the table: below 0x20
 * or 0x80 and up (signed compare), or & < > " '; 16 if none. */
static unsigned scan16(const unsigned char *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i m = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('&')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('<')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('>')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('"')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('\'')));
    unsigned bits = (unsigned)_mm_movemask_epi8(m);
    return bits ? (unsigned)__builtin_ctz(bits) : 16;
}
#endif

/* Runs of bytes that need nothing (the bulk of calendar data) are appended
 * with one memcpy each; the runs are found 16 bytes at a time where SSE2
 * is there (x86-64 always), else by one table look-up per byte. */
void vd_buf_xml_escape(vd_buf *b, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    reserve(b, len);
    size_t i = 0, run = 0;
    while (i < len) {
#ifdef __SSE2__
        if (len - i >= 16) {
            unsigned off = scan16(p + i);
            i += off;
            if (off == 16)
                continue;
        }
#endif
        unsigned char k = esc_class[p[i]];
        if (k == ESC_PLAIN) {
            i++;
            continue;
        }
        size_t l = k == ESC_UTF8 ? utf8_char_len(p + i, len - i) : 0;
        if (l) {                 /* valid UTF-8 stays in the run */
            i += l;
            continue;
        }
        if (i > run)
            vd_buf_append(b, p + run, i - run);
        size_t el = 0;
        const char *ent = k == ESC_SPECIAL ? esc_entity(p[i], &el) : NULL;
        if (ent)                 /* invalid UTF-8 is dropped: it would make the document ill-formed */
            vd_buf_append(b, ent, el);
        run = ++i;
    }
    if (i > run)
        vd_buf_append(b, p + run, i - run);
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
