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

void vd_buf_reserve(vd_buf *b, size_t extra)
{
    reserve(b, extra);
}

/* Called by the inline vd_buf_append when the bytes do not fit. */
void vd_buf_append_slow(vd_buf *b, const void *data, size_t len)
{
    reserve(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
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

/* What vd_buf_xml_escape does with each byte: 0 copy as is, 1 an entity
 * or a dropped control byte, 2 the lead of a multi-byte UTF-8 sequence
 * (validated: kept whole if valid, else the byte is dropped). */
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

/* The replacement of each special ASCII byte; len 0: dropped.  Padded so
 * that every entry can be copied with one fixed 6-byte memcpy.  A literal
 * CR would be normalised to LF by any XML parser; the character reference
 * keeps CRLF (iCalendar line ends) intact. */
#define ESC_MAX 6
static const struct {
    char          text[ESC_MAX + 1];
    unsigned char len;
} esc_entity[128] = {
    ['&']  = {"&amp;", 5},
    ['<']  = {"&lt;", 4},
    ['>']  = {"&gt;", 4},
    ['"']  = {"&quot;", 6},
    ['\''] = {"&apos;", 6},
    ['\r'] = {"&#13;", 5},
};

/* Write the output for the non-plain byte at *pp to o (room for ESC_MAX
 * bytes is there); advance *pp past what was consumed and return the
 * number of bytes written. */
static inline size_t esc_special(unsigned char *o, const unsigned char **pp,
                                 const unsigned char *end)
{
    const unsigned char *p = *pp;
    unsigned char c = *p;
    if (c >= 0x80) {
        size_t l = utf8_char_len(p, (size_t)(end - p));
        *pp = p + (l ? l : 1);   /* invalid UTF-8 is dropped: it would make the document ill-formed */
        memcpy(o, p, l);
        return l;
    }
    memcpy(o, esc_entity[c].text, ESC_MAX);
    *pp = p + 1;
    return esc_entity[c].len;
}

#ifdef __SSE2__
#include <emmintrin.h>
/* Bit i set when byte i of v is not ESC_PLAIN: below 0x20 or 0x80 and up
 * (signed compare) except TAB and LF, or & < > " '.  '&' and '\'' differ
 * only in bit 0, '<' and '>' only in bit 1, so one compare covers each
 * pair. */
static inline unsigned esc_mask16(__m128i v)
{
    __m128i low = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
    __m128i ok = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n')),
                              _mm_cmpeq_epi8(v, _mm_set1_epi8('\t')));
    __m128i m = _mm_andnot_si128(ok, low);
    m = _mm_or_si128(m, _mm_cmpeq_epi8(_mm_or_si128(v, _mm_set1_epi8(0x01)),
                                       _mm_set1_epi8('\'')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(_mm_or_si128(v, _mm_set1_epi8(0x02)),
                                       _mm_set1_epi8('>')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('"')));
    return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* Room for the worst case (every byte an entity of 6) is reserved once,
 * then the output is written straight into b->data.  Where SSE2 is there
 * (x86-64 always) each 16-byte block is stored whole and the write
 * position advanced to the first byte that needs work; calendar data
 * (CRLF every ~35 bytes) thus costs a few block steps per line.  The
 * tail, and everything without SSE2, goes one table look-up per byte. */
void vd_buf_xml_escape(vd_buf *b, const char *s, size_t len)
{
    if (len > (SIZE_MAX - b->len - 1) / ESC_MAX)
        die_oom(SIZE_MAX);
    reserve(b, ESC_MAX * len);
    if (len == 0) {              /* s may be NULL then */
        b->data[b->len] = '\0';
        return;
    }
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    unsigned char *o = (unsigned char *)b->data + b->len;
#ifdef __SSE2__
    /* A block store is safe: at least 16 bytes of input remain, so at
     * least 6 * 16 bytes of reserved room. */
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        _mm_storeu_si128((__m128i *)(void *)o, v);
        unsigned bits = esc_mask16(v);
        if (!bits) {
            p += 16;
            o += 16;
            continue;
        }
        unsigned off = (unsigned)__builtin_ctz(bits);
        p += off;
        o += off;
        o += esc_special(o, &p, end);
    }
#endif
    while (p < end) {
        if (esc_class[*p] == ESC_PLAIN)
            *o++ = *p++;
        else
            o += esc_special(o, &p, end);
    }
    b->len = (size_t)(o - (unsigned char *)b->data);
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
