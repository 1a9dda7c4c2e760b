/* path.c - URL path decoding, normalisation and encoding (path.h).
 * Owns: the single decode of a request path / body href into a canonical
 * UTF-8 path, and the encoding back into an href.
 * Must not: decode twice, accept anything ambiguous ("..", "%2e%2e", an
 * encoded '/', NUL, control bytes, invalid UTF-8), or touch the file system. */
#include "path.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PATH_BYTES 4096
/* A raw path can be at most three times its decoded length ("%XX"). */
#define MAX_RAW_BYTES (3 * MAX_PATH_BYTES)

/* Hex digit value plus one, 0 for anything else (one look-up per digit
 * instead of three range tests). */
static const unsigned char hex_plus1[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
    ['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
    ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

static int hexval(char c)
{
    return (int)hex_plus1[(unsigned char)c] - 1;
}

static bool is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7F;
}

/* Is s[0..n) well-formed UTF-8 (no overlongs, surrogates, > U+10FFFF)? */
static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* Paths are nearly all ASCII: skip 8 such bytes at a time. */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & UINT64_C(0x8080808080808080))
                break;
            i += 8;
        }
        if (i == n)
            break;
        unsigned c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) { i++; continue; }
        if (c < 0xC2) return false;
        else if (c < 0xE0) { len = 2; cp = c & 0x1F; }
        else if (c < 0xF0) { len = 3; cp = c & 0x0F; }
        else if (c < 0xF5) { len = 4; cp = c & 0x07; }
        else return false;
        if (len > n - i)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

/* How percent_decode treats each raw byte: 0 copy, 1 '%' (an escape
 * follows), 2 refused (NUL and control bytes); one look-up per byte. */
enum { PD_COPY = 0, PD_ESCAPE = 1, PD_REFUSE = 2 };
static const unsigned char pd_class[256] = {
    2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,  /* 00 */
    2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,  /* 10 */
    [0x25] = 1,                       /* '%' */
    [0x7F] = 2,
};

/* Percent-decode raw[0..rlen) into dst (at least rlen+1 bytes).  Segment
 * separators are only the literal '/' of the raw path.  A '%' too near
 * the end is a bad escape, as if a NUL followed the span. */
static vd_err percent_decode(const char *raw, size_t rlen, char *dst, size_t *dlen, vd_diag *d)
{
    size_t o = 0;
    const char *end = raw + rlen;
    for (const char *p = raw; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        unsigned char k = pd_class[c];
        if (k == PD_COPY) {              /* the common case first */
            dst[o++] = (char)c;
            continue;
        }
        if (k == PD_ESCAPE) {
            int hi = end - p > 1 ? hexval(p[1]) : -1;
            int lo = hi < 0 || end - p < 3 ? -1 : hexval(p[2]);
            if (hi < 0 || lo < 0) {
                vd_diag_set(d, 400, NULL, NULL, "bad %%-escape in path");
                return VD_EINVAL;
            }
            c = (unsigned char)(hi * 16 + lo);
            p += 2;
            if (c == '/') {
                /* An encoded '/' would let one name become two segments. */
                vd_diag_set(d, 400, NULL, NULL, "encoded '/' (%%2F) not allowed in path");
                return VD_EINVAL;
            }
        }
        if (c == 0 || is_ctl(c)) {
            vd_diag_set(d, 400, NULL, NULL, "NUL or control character in path");
            return VD_EINVAL;
        }
        dst[o++] = (char)c;
    }
    dst[o] = '\0';
    *dlen = o;
    return VD_OK;
}

/* Collapse "//" and refuse "." / ".." segments, in place. */
static vd_err normalise(char *s, vd_diag *d)
{
    size_t o = 0, i = 0;
    while (s[i]) {
        if (s[i] == '/') {
            if (o == 0 || s[o - 1] != '/')
                s[o++] = '/';
            i++;
            continue;
        }
        size_t start = i;
        i = (size_t)(strchrnul(s + start, '/') - s);   /* word-at-a-time in libc */
        size_t seg = i - start;
        if ((seg == 1 && s[start] == '.') ||
            (seg == 2 && s[start] == '.' && s[start + 1] == '.')) {
            vd_diag_set(d, 400, NULL, NULL, "'.' or '..' segment in path");
            return VD_EINVAL;
        }
        if (o != start)                /* nothing to move unless "//" was collapsed */
            memmove(s + o, s + start, seg);
        o += seg;
    }
    s[o] = '\0';
    return VD_OK;
}

/* vd_path_decode on the span raw[0..rlen) (raw need not be NUL-terminated
 * there), so that an href is decoded without a copy of its path part. */
static vd_err decode_span(const char *raw, size_t rlen, char **out, vd_diag *d)
{
    char *buf = NULL;
    vd_err rc = VD_EINVAL;
    *out = NULL;
    if (rlen == 0 || raw[0] != '/') {
        vd_diag_set(d, 400, NULL, NULL, "path must start with '/'");
        goto done;
    }
    if (rlen > MAX_RAW_BYTES) {
        vd_diag_set(d, 400, NULL, NULL, "path too long");
        goto done;
    }
    buf = malloc(rlen + 1);
    if (!buf) {
        rc = VD_ENOMEM;
        goto done;
    }
    size_t dlen = 0;
    if ((rc = percent_decode(raw, rlen, buf, &dlen, d)) != VD_OK)
        goto done;
    rc = VD_EINVAL;
    if (dlen > MAX_PATH_BYTES) {
        vd_diag_set(d, 400, NULL, NULL, "path too long (over %d bytes)", MAX_PATH_BYTES);
        goto done;
    }
    if (!utf8_valid((const unsigned char *)buf, dlen)) {
        vd_diag_set(d, 400, NULL, NULL, "path is not valid UTF-8");
        goto done;
    }
    if ((rc = normalise(buf, d)) != VD_OK)
        goto done;
    *out = buf;
    buf = NULL;
    rc = VD_OK;
done:
    free(buf);
    return rc;
}

vd_err vd_path_decode(const char *raw, char **out, vd_diag *d)
{
    return decode_span(raw, raw ? strlen(raw) : 0, out, d);
}

/* Bytes written as they are in an href: unreserved (A-Za-z0-9-._~) and
 * / @ + : ; every other byte becomes %XX. */
static const bool keep_in_href[256] = {
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
    ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
    ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
    ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1,
    ['/'] = 1, ['@'] = 1, ['+'] = 1, [':'] = 1,
};

/* Encode path[0..n) into out (room for 3 * n bytes); returns the length
 * written, no NUL. */
static size_t encode_into(char *out, const char *path, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        if (keep_in_href[c]) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    return o;
}

void vd_path_encode_buf(vd_buf *b, const char *path)
{
    size_t n = path ? strlen(path) : 0;
    vd_buf_reserve(b, 3 * n);          /* n <= strlen: 3 * n cannot overflow in practice */
    b->len += encode_into(b->data + b->len, path, n);
    b->data[b->len] = '\0';
}

char *vd_path_encode(const char *path)
{
    if (!path)
        path = "";
    size_t n = strlen(path);
    char *out = malloc(3 * n + 1);
    if (!out)
        return NULL;
    out[encode_into(out, path, n)] = '\0';
    return out;
}

/* Length of "scheme://authority" (or "//authority") at the start of href,
 * 0 if none. */
static bool scheme_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '-' || c == '.';
}

static size_t origin_len(const char *href)
{
    size_t i = 0;
    if (href[0] == '/' && href[1] == '/') {   /* network-path reference "//host/x" */
        i = 2;
    } else {
        if (!((href[0] >= 'A' && href[0] <= 'Z') || (href[0] >= 'a' && href[0] <= 'z')))
            return 0;
        while (scheme_char(href[i]))
            i++;
        if (strncmp(href + i, "://", 3) != 0)
            return 0;
        i += 3;
    }
    while (href[i] && href[i] != '/' && href[i] != '?' && href[i] != '#')
        i++;
    return i;
}

vd_err vd_href_decode(const char *href, char **out, vd_diag *d)
{
    *out = NULL;
    if (!href) {
        vd_diag_set(d, 400, NULL, NULL, "missing href");
        return VD_EINVAL;
    }
    size_t skip = origin_len(href);
    const char *p = href + skip;
    size_t n = strcspn(p, "?#");       /* a query or fragment is not part of the path */
    if (n > MAX_RAW_BYTES) {
        vd_diag_set(d, 400, NULL, NULL, "href too long");
        return VD_EINVAL;
    }
    if (skip && n == 0)
        return decode_span("/", 1, out, d);   /* "http://host" names the root */
    return decode_span(p, n, out, d);         /* no copy: the one allocation is the result */
}

vd_err vd_path_split(const char *path, char **parent, char **name)
{
    *parent = NULL;
    *name = NULL;
    if (!path || path[0] != '/')
        return VD_EINVAL;
    size_t end = strlen(path);
    while (end > 0 && path[end - 1] == '/')
        end--;
    if (end == 0)
        return VD_EINVAL;              /* "/" has no parent */
    size_t start = end;
    while (start > 0 && path[start - 1] != '/')
        start--;
    char *p = strndup(path, start);
    char *n = strndup(path + start, end - start);
    if (!p || !n) {
        free(p);
        free(n);
        return VD_ENOMEM;
    }
    *parent = p;
    *name = n;
    return VD_OK;
}

/* Find segment i: sets *len and returns its start, NULL if absent. */
static const char *find_segment(const char *path, int i, size_t *len)
{
    if (!path || i < 0)
        return NULL;
    const char *p = path;
    int k = 0;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t l = strcspn(p, "/");
        if (k == i) {
            *len = l;
            return p;
        }
        k++;
        p += l;
    }
    return NULL;
}

int vd_path_depth(const char *path)
{
    int n = 0;
    size_t len;
    while (find_segment(path, n, &len))
        n++;
    return n;
}

char *vd_path_segment(const char *path, int i)
{
    size_t len = 0;
    const char *s = find_segment(path, i, &len);
    return s ? strndup(s, len) : NULL;
}

bool vd_path_is_dir(const char *path)
{
    size_t n = path ? strlen(path) : 0;
    return n > 0 && path[n - 1] == '/';
}

char *vd_path_as_dir(const char *path)
{
    if (!path)
        path = "";
    size_t n = strlen(path);
    bool add = !(n > 0 && path[n - 1] == '/');
    char *out = malloc(n + 2);
    if (!out)
        return NULL;
    memcpy(out, path, n);
    if (add)
        out[n++] = '/';
    out[n] = '\0';
    return out;
}

bool vd_name_valid(const char *name)
{
    if (!name || !name[0] || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    size_t n = strlen(name);
    if (n > 255)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '/' || is_ctl(c))
            return false;
    }
    return utf8_valid((const unsigned char *)name, n);
}
