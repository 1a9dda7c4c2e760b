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

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
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

/* Percent-decode raw into dst (at least strlen(raw)+1 bytes).  Segment
 * separators are only the literal '/' of the raw path. */
static vd_err percent_decode(const char *raw, char *dst, size_t *dlen, vd_diag *d)
{
    size_t o = 0;
    for (const char *p = raw; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '%') {
            int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
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
        while (s[i] && s[i] != '/')
            i++;
        size_t seg = i - start;
        if ((seg == 1 && s[start] == '.') ||
            (seg == 2 && s[start] == '.' && s[start + 1] == '.')) {
            vd_diag_set(d, 400, NULL, NULL, "'.' or '..' segment in path");
            return VD_EINVAL;
        }
        memmove(s + o, s + start, seg);
        o += seg;
    }
    s[o] = '\0';
    return VD_OK;
}

vd_err vd_path_decode(const char *raw, char **out, vd_diag *d)
{
    char *buf = NULL;
    vd_err rc = VD_EINVAL;
    *out = NULL;
    if (!raw || raw[0] != '/') {
        vd_diag_set(d, 400, NULL, NULL, "path must start with '/'");
        goto done;
    }
    size_t rlen = strlen(raw);
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
    if ((rc = percent_decode(raw, buf, &dlen, d)) != VD_OK)
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

static bool keep_in_href(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~' ||
           c == '/' || c == '@' || c == '+' || c == ':';
}

char *vd_path_encode(const char *path)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!path)
        path = "";
    size_t n = strlen(path);
    char *out = malloc(3 * n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        if (keep_in_href(c)) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
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
    char *tmp = malloc(n + 2);
    if (!tmp)
        return VD_ENOMEM;
    if (skip && n == 0)
        strcpy(tmp, "/");              /* "http://host" names the root */
    else {
        memcpy(tmp, p, n);
        tmp[n] = '\0';
    }
    vd_err rc = vd_path_decode(tmp, out, d);
    free(tmp);
    return rc;
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
