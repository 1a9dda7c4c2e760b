/* test_buf_path.c - unit tests for lib/buf.c and lib/path.c. */
#include "check.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "buf.h"
#include "path.h"

static void test_buf_basic(void)
{
    vd_buf b = VD_BUF_INIT;
    vd_buf_append(&b, "", 0);
    CHECK(b.data != NULL);
    CHECK_STR(b.data, "");
    vd_buf_puts(&b, "abc");
    vd_buf_append(&b, "defgh", 2);
    CHECK_STR(b.data, "abcde");
    CHECK_INT(b.len, 5);
    vd_buf_printf(&b, "-%d-%s", 42, "x");
    CHECK_STR(b.data, "abcde-42-x");
    /* printf larger than the initial capacity must grow, not truncate */
    char big[1000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    vd_buf_printf(&b, "%s|", big);
    CHECK_INT(b.len, 10 + 999 + 1);
    CHECK(b.data[b.len - 1] == '|' && b.data[b.len] == '\0');
    vd_buf_reset(&b);
    CHECK_INT(b.len, 0);
    CHECK_STR(b.data, "");
    vd_buf_puts(&b, "again");
    size_t n = 0;
    char *s = vd_buf_steal(&b, &n);
    CHECK_STR(s, "again");
    CHECK_INT(n, 5);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
    free(s);
    s = vd_buf_steal(&b, &n);      /* empty buffer: never NULL */
    CHECK(s != NULL && s[0] == '\0' && n == 0);
    free(s);
    vd_buf_free(&b);
    vd_buf_free(&b);               /* twice is harmless */
    vd_buf_free(NULL);
}

static void test_buf_escape(void)
{
    vd_buf b = VD_BUF_INIT;
    const char *in = "a&b<c>d\"e'f";
    vd_buf_xml_escape(&b, in, strlen(in));
    CHECK_STR(b.data, "a&amp;b&lt;c&gt;d&quot;e&apos;f");
    vd_buf_reset(&b);
    /* control bytes dropped, tab/LF kept, CR as a character reference */
    const char ctl[] = "x\x01y\x1f\tz\r\n\x7f";
    vd_buf_xml_escape(&b, ctl, sizeof ctl - 1);
    CHECK_STR(b.data, "xy\tz&#13;\n\x7f");
    vd_buf_reset(&b);
    /* embedded NUL dropped, UTF-8 kept, invalid UTF-8 dropped */
    const char mix[] = "\xc3\xa9\0!\xff\xc3(\xed\xa0\x80\xef\xbf\xbf\xf0\x9f\x98\x80";
    vd_buf_xml_escape(&b, mix, sizeof mix - 1);
    CHECK_STR(b.data, "\xc3\xa9!(\xf0\x9f\x98\x80");
    vd_buf_reset(&b);
    vd_buf_xml_escape(&b, "", 0);
    CHECK(b.data != NULL && b.len == 0);
    vd_buf_free(&b);
}

static void expect_decode(const char *raw, const char *want)
{
    char *out = NULL;
    vd_diag d = {0};
    vd_err rc = vd_path_decode(raw, &out, &d);
    CHECK_INT(rc, VD_OK);
    CHECK_STR(out, want);
    free(out);
}

static void expect_reject(const char *raw)
{
    char *out = (char *)"unset";
    vd_diag d = {0};
    vd_err rc = vd_path_decode(raw, &out, &d);
    if (rc != VD_EINVAL)
        fprintf(stderr, "  (path accepted: %s)\n", raw ? raw : "NULL");
    CHECK_INT(rc, VD_EINVAL);
    CHECK(out == NULL);
    CHECK_INT(d.status, 400);
    CHECK(d.message[0] != '\0');
}

static void test_path_decode(void)
{
    expect_decode("/", "/");
    expect_decode("/calendars/ana/visits/", "/calendars/ana/visits/");
    expect_decode("/calendars/ana/visits", "/calendars/ana/visits");
    expect_decode("/a%20b/c%2Bd.ics", "/a b/c+d.ics");
    expect_decode("//a///b//", "/a/b/");
    expect_decode("/caf%C3%A9/%E2%82%AC", "/caf\xc3\xa9/\xe2\x82\xac");
    expect_decode("/caf\xc3\xa9/", "/caf\xc3\xa9/");     /* raw UTF-8 accepted */
    expect_decode("/a/.hidden/...x/b..", "/a/.hidden/...x/b..");
    expect_decode("/50%25/", "/50%/");                   /* decoded exactly once */
    expect_decode("/x%2541", "/x%41");

    expect_reject(NULL);
    expect_reject("");
    expect_reject("relative/x");
    expect_reject("/a/../b");
    expect_reject("/a/..");
    expect_reject("/a/./b");
    expect_reject("/.");
    expect_reject("/a/%2e%2e/b");
    expect_reject("/a/%2E%2e");
    expect_reject("/a/%2e/b");
    expect_reject("/a/.%2e/");
    expect_reject("/a%00b");
    expect_reject("/a%0ab");
    expect_reject("/a%7f");
    expect_reject("/a\tb");
    expect_reject("/a%");
    expect_reject("/a%4");
    expect_reject("/a%zz");
    expect_reject("/a%C3");             /* truncated UTF-8 */
    expect_reject("/a%C0%AF");          /* overlong '/' */
    expect_reject("/a%ED%A0%80");       /* surrogate */
    expect_reject("/a%FF");
    expect_reject("/a\xff");
    expect_reject("/a%2Fb");            /* encoded slash */

    char *lng = malloc(5000);
    lng[0] = '/';
    memset(lng + 1, 'a', 4096);
    lng[4097] = '\0';
    expect_reject(lng);                 /* 4097 bytes */
    lng[4096] = '\0';
    expect_decode(lng, lng);            /* exactly 4096 */
    free(lng);
    char *raw = malloc(3 * 4097 + 2);   /* raw long but decodes short? no: too long either way */
    raw[0] = '/';
    for (int i = 0; i < 4097; i++)
        memcpy(raw + 1 + 3 * i, "%41", 3);
    raw[1 + 3 * 4097] = '\0';
    expect_reject(raw);
    free(raw);
}

static void test_href(void)
{
    char *out = NULL;
    vd_diag d = {0};
    CHECK_INT(vd_href_decode("https://host:8443/calendars/a/b/", &out, &d), VD_OK);
    CHECK_STR(out, "/calendars/a/b/");
    free(out);
    CHECK_INT(vd_href_decode("http://user@host/x%20y.ics", &out, &d), VD_OK);
    CHECK_STR(out, "/x y.ics");
    free(out);
    CHECK_INT(vd_href_decode("http://host", &out, &d), VD_OK);
    CHECK_STR(out, "/");
    free(out);
    CHECK_INT(vd_href_decode("/calendars/a/e%40x.ics", &out, &d), VD_OK);
    CHECK_STR(out, "/calendars/a/e@x.ics");
    free(out);
    CHECK_INT(vd_href_decode("//host:8008/c/y.ics", &out, &d), VD_OK);
    CHECK_STR(out, "/c/y.ics");
    free(out);
    CHECK_INT(vd_href_decode("/c/x.ics?foo=1", &out, &d), VD_OK);
    CHECK_STR(out, "/c/x.ics");
    free(out);
    CHECK_INT(vd_href_decode("https://h/a/%2e%2e/b", &out, &d), VD_EINVAL);
    CHECK(out == NULL);
    CHECK_INT(vd_href_decode("x.ics", &out, &d), VD_EINVAL);
    CHECK_INT(vd_href_decode("mailto:a@b", &out, &d), VD_EINVAL);
    CHECK_INT(vd_href_decode(NULL, &out, &d), VD_EINVAL);
}

static void roundtrip(const char *path)
{
    char *enc = vd_path_encode(path), *dec = NULL;
    vd_diag d = {0};
    CHECK_INT(vd_path_decode(enc, &dec, &d), VD_OK);
    CHECK_STR(dec, path);
    free(enc);
    free(dec);
}

static void test_encode(void)
{
    char *e = vd_path_encode("/calendars/a b/x#y?z%w/caf\xc3\xa9/");
    CHECK_STR(e, "/calendars/a%20b/x%23y%3Fz%25w/caf%C3%A9/");
    free(e);
    e = vd_path_encode("/p/user@example.com/a+b:c~d_e-f.ics");
    CHECK_STR(e, "/p/user@example.com/a+b:c~d_e-f.ics");
    free(e);
    e = vd_path_encode("/a&b<c>\"'");
    CHECK_STR(e, "/a%26b%3Cc%3E%22%27");   /* safe inside XML without escaping */
    free(e);
    roundtrip("/");
    roundtrip("/calendars/ana/visits/");
    roundtrip("/calendars/a b/50%/#1?/\xe2\x82\xac.ics");
    roundtrip("/x/100%25 sure/");
}

static void test_split_misc(void)
{
    char *p = NULL, *n = NULL;
    CHECK_INT(vd_path_split("/a/b/c.ics", &p, &n), VD_OK);
    CHECK_STR(p, "/a/b/");
    CHECK_STR(n, "c.ics");
    free(p); free(n);
    CHECK_INT(vd_path_split("/a/b/", &p, &n), VD_OK);
    CHECK_STR(p, "/a/");
    CHECK_STR(n, "b");
    free(p); free(n);
    CHECK_INT(vd_path_split("/a", &p, &n), VD_OK);
    CHECK_STR(p, "/");
    CHECK_STR(n, "a");
    free(p); free(n);
    CHECK_INT(vd_path_split("/", &p, &n), VD_EINVAL);
    CHECK(p == NULL && n == NULL);

    CHECK_INT(vd_path_depth("/"), 0);
    CHECK_INT(vd_path_depth("/a/"), 1);
    CHECK_INT(vd_path_depth("/a/b.ics"), 2);
    char *s = vd_path_segment("/calendars/ana/visits/", 1);
    CHECK_STR(s, "ana");
    free(s);
    CHECK(vd_path_segment("/calendars/ana/", 2) == NULL);
    CHECK(vd_path_segment("/", 0) == NULL);

    CHECK(vd_path_is_dir("/a/"));
    CHECK(!vd_path_is_dir("/a"));
    s = vd_path_as_dir("/a");
    CHECK_STR(s, "/a/");
    free(s);
    s = vd_path_as_dir("/a/");
    CHECK_STR(s, "/a/");
    free(s);

    CHECK(vd_name_valid("visits"));
    CHECK(vd_name_valid("caf\xc3\xa9.ics"));
    CHECK(!vd_name_valid(""));
    CHECK(!vd_name_valid("."));
    CHECK(!vd_name_valid(".."));
    CHECK(!vd_name_valid("a/b"));
    CHECK(!vd_name_valid("a\nb"));
    CHECK(!vd_name_valid(NULL));
    char name[300];
    memset(name, 'n', 255);
    name[255] = '\0';
    CHECK(vd_name_valid(name));
    name[255] = 'n';
    name[256] = '\0';
    CHECK(!vd_name_valid(name));
}

/* ---- Reference implementations: the code before the fast paths, kept
 * here so the fast versions can be compared with it byte for byte. ---- */

static size_t ref_utf8_char_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0xC2)
        return 0;
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

/* One byte at a time, into a fresh malloc'd string; *olen its length. */
static char *ref_xml_escape(const char *s, size_t len, size_t *olen)
{
    const unsigned char *p = (const unsigned char *)s;
    char *out = malloc(6 * len + 1), *o = out;
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        const char *ent = NULL;
        switch (c) {
        case '&':  ent = "&amp;"; break;
        case '<':  ent = "&lt;"; break;
        case '>':  ent = "&gt;"; break;
        case '"':  ent = "&quot;"; break;
        case '\'': ent = "&apos;"; break;
        case '\r': ent = "&#13;"; break;
        default: break;
        }
        if (ent) {
            o += sprintf(o, "%s", ent);
            i++;
        } else if (c == '\t' || c == '\n' || (c >= 0x20 && c < 0x80)) {
            *o++ = (char)c;
            i++;
        } else if (c < 0x20) {
            i++;                                 /* control: dropped */
        } else {
            size_t l = ref_utf8_char_len(p + i, len - i);
            if (l) {
                memcpy(o, p + i, l);
                o += l;
                i += l;
            } else {
                i++;                             /* invalid UTF-8: dropped */
            }
        }
    }
    *o = '\0';
    *olen = (size_t)(o - out);
    return out;
}

static char *ref_path_encode(const char *path)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(path);
    char *out = malloc(3 * n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' ||
            c == '/' || c == '@' || c == '+' || c == ':') {
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

static int ref_hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool ref_utf8_valid(const unsigned char *s, size_t n)
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

static vd_err ref_path_decode(const char *raw, char **out, vd_diag *d)
{
    *out = NULL;
    if (!raw || raw[0] != '/') {
        vd_diag_set(d, 400, NULL, NULL, "path must start with '/'");
        return VD_EINVAL;
    }
    size_t rlen = strlen(raw);
    if (rlen > 3 * 4096) {
        vd_diag_set(d, 400, NULL, NULL, "path too long");
        return VD_EINVAL;
    }
    char *s = malloc(rlen + 1);
    size_t o = 0;
    for (const char *p = raw; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '%') {
            int hi = ref_hexval(p[1]), lo = hi < 0 ? -1 : ref_hexval(p[2]);
            if (hi < 0 || lo < 0) {
                vd_diag_set(d, 400, NULL, NULL, "bad %%-escape in path");
                free(s);
                return VD_EINVAL;
            }
            c = (unsigned char)(hi * 16 + lo);
            p += 2;
            if (c == '/') {
                vd_diag_set(d, 400, NULL, NULL, "encoded '/' (%%2F) not allowed in path");
                free(s);
                return VD_EINVAL;
            }
        }
        if (c < 0x20 || c == 0x7F) {
            vd_diag_set(d, 400, NULL, NULL, "NUL or control character in path");
            free(s);
            return VD_EINVAL;
        }
        s[o++] = (char)c;
    }
    s[o] = '\0';
    if (o > 4096) {
        vd_diag_set(d, 400, NULL, NULL, "path too long (over %d bytes)", 4096);
        free(s);
        return VD_EINVAL;
    }
    if (!ref_utf8_valid((const unsigned char *)s, o)) {
        vd_diag_set(d, 400, NULL, NULL, "path is not valid UTF-8");
        free(s);
        return VD_EINVAL;
    }
    size_t w = 0, i = 0;
    while (s[i]) {
        if (s[i] == '/') {
            if (w == 0 || s[w - 1] != '/')
                s[w++] = '/';
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
            free(s);
            return VD_EINVAL;
        }
        memmove(s + w, s + start, seg);
        w += seg;
    }
    s[w] = '\0';
    *out = s;
    return VD_OK;
}

static bool ref_scheme_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '-' || c == '.';
}

static vd_err ref_href_decode(const char *href, char **out, vd_diag *d)
{
    *out = NULL;
    if (!href) {
        vd_diag_set(d, 400, NULL, NULL, "missing href");
        return VD_EINVAL;
    }
    size_t i = 0;
    if (href[0] == '/' && href[1] == '/') {
        i = 2;
    } else if ((href[0] >= 'A' && href[0] <= 'Z') || (href[0] >= 'a' && href[0] <= 'z')) {
        while (ref_scheme_char(href[i]))
            i++;
        i = strncmp(href + i, "://", 3) == 0 ? i + 3 : 0;
    }
    if (i)
        while (href[i] && href[i] != '/' && href[i] != '?' && href[i] != '#')
            i++;
    const char *p = href + i;
    size_t n = strcspn(p, "?#");
    if (n > 3 * 4096) {
        vd_diag_set(d, 400, NULL, NULL, "href too long");
        return VD_EINVAL;
    }
    char *tmp = malloc(n + 2);
    if (i && n == 0)
        strcpy(tmp, "/");
    else {
        memcpy(tmp, p, n);
        tmp[n] = '\0';
    }
    vd_err rc = ref_path_decode(tmp, out, d);
    free(tmp);
    return rc;
}

/* ---- Generated comparisons ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

static int escape_mismatches;

/* Escape s[0..len) (copied to an exact-size heap block, so ASan sees any
 * over-read) onto a buffer that already holds prefix; compare with the
 * reference.  Reports the first few mismatches only. */
static void escape_compare(const char *s, size_t len, const char *prefix)
{
    char *in = malloc(len ? len : 1);
    memcpy(in, s, len);
    vd_buf b = VD_BUF_INIT;
    vd_buf_puts(&b, prefix);
    size_t plen = b.len, rlen = 0;
    vd_buf_xml_escape(&b, in, len);
    char *want = ref_xml_escape(in, len, &rlen);
    bool ok = b.data && b.len == plen + rlen && memcmp(b.data, prefix, plen) == 0 &&
              memcmp(b.data + plen, want, rlen) == 0 && b.data[b.len] == '\0';
    if (!ok && escape_mismatches++ < 5) {
        fprintf(stderr, "FAIL escape mismatch for %zu bytes:", len);
        for (size_t i = 0; i < len; i++)
            fprintf(stderr, " %02x", (unsigned char)in[i]);
        fprintf(stderr, "\n");
    }
    CHECK(ok);
    free(want);
    free(in);
    vd_buf_free(&b);
}

/* Pieces escape inputs are made of: plain text, every kind of special,
 * valid UTF-8 of each length and invalid or truncated sequences. */
static const char *const esc_pieces[] = {
    "a", "Z", "0", " ", ":", "\n", "\t", "\r", "\r\n", "&", "<", ">", "\"", "'",
    "\x01", "\x1f", "\x7f", "\x0b", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
    "\xef\xbf\xbf", "\xef\xbf\xbe", "\xed\xa0\x80", "\xc0\xaf", "\xe0\x80\x80",
    "\xf4\x90\x80\x80", "\xf5", "\xff", "\x80", "\xbf", "\xc3", "\xe2\x82", "\xf0\x9f\x98",
};

static void test_escape_generated(void)
{
    static const char *const specials[] = {
        "&", "<", ">", "\"", "'", "\r", "\n", "\t", "\x01", "\x1f", "\x7f",
        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xff", "\x80", "\xc3", "\xe2\x82",
        "\xf0\x9f\x98", "\xed\xa0\x80", "\xef\xbf\xbf",
    };
    char s[256];
    /* Every length 0..100, each special at every position (so also at
     * the last bytes of each 16-byte block and at the very end, where
     * multi-byte sequences are cut short). */
    for (size_t len = 0; len <= 100; len++) {
        memset(s, 'x', len);
        escape_compare(s, len, "");
        for (size_t k = 0; k < sizeof specials / sizeof *specials; k++) {
            size_t sl = strlen(specials[k]);
            for (size_t pos = 0; pos < len; pos++) {
                memset(s, 'x', len);
                size_t n = sl < len - pos ? sl : len - pos;   /* cut at the end */
                memcpy(s + pos, specials[k], n);
                escape_compare(s, len, pos & 1 ? "pre<fix>" : "");
            }
        }
    }
    /* Random mixes of pieces, up to ~250 bytes, with and without a prefix. */
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = 0, want = rnd(250);
        bool plain_heavy = iter & 1;          /* calendar-like: mostly ASCII */
        while (len < want) {
            const char *pc = plain_heavy && rnd(8) ? "abcdefgh" + rnd(8)
                             : esc_pieces[rnd(sizeof esc_pieces / sizeof *esc_pieces)];
            size_t pl = strlen(pc);
            if (len + pl > sizeof s)
                break;
            memcpy(s + len, pc, pl);
            len += pl;
        }
        escape_compare(s, len, iter % 3 ? "" : "<x>");
    }
    /* Fully random bytes, NUL included. */
    for (int iter = 0; iter < 5000; iter++) {
        size_t len = rnd(200);
        for (size_t i = 0; i < len; i++)
            s[i] = (char)rnd(256);
        escape_compare(s, len, "");
    }
    /* Many escapes into one buffer (growth while appending). */
    vd_buf b = VD_BUF_INIT;
    vd_buf ref = VD_BUF_INIT;
    for (int i = 0; i < 300; i++) {
        const char *ev = "BEGIN:VEVENT\r\nSUMMARY:Tom & Jerry's <visit>\r\n"
                         "DESCRIPTION:caf\xc3\xa9 \"x\"\r\nEND:VEVENT\r\n";
        size_t rl = 0;
        vd_buf_xml_escape(&b, ev, strlen(ev) - (size_t)(i % 7));
        char *r = ref_xml_escape(ev, strlen(ev) - (size_t)(i % 7), &rl);
        vd_buf_append(&ref, r, rl);
        free(r);
    }
    CHECK_INT(b.len, ref.len);
    CHECK(b.len == ref.len && memcmp(b.data, ref.data, b.len + 1) == 0);
    vd_buf_free(&b);
    vd_buf_free(&ref);
    /* NULL with length 0 appends nothing but leaves a terminated buffer. */
    vd_buf_xml_escape(&b, NULL, 0);
    CHECK(b.data != NULL && b.len == 0 && b.data[0] == '\0');
    vd_buf_free(&b);
    CHECK_INT(escape_mismatches, 0);
}

static void test_append_inline(void)
{
    vd_buf b = VD_BUF_INIT;
    vd_buf_append(&b, NULL, 0);
    CHECK(b.data != NULL && b.len == 0 && b.data[0] == '\0');
    vd_buf_puts(&b, NULL);
    CHECK_INT(b.len, 0);
    char want[5000];
    size_t n = 0;
    for (int i = 0; i < 1000; i++) {      /* crosses many growth steps */
        char piece[8];
        size_t pl = (size_t)(i % 6);
        for (size_t k = 0; k < pl; k++)
            piece[k] = (char)('a' + (i + (int)k) % 26);
        piece[pl] = '\0';
        if (i & 1)
            vd_buf_append(&b, piece, pl);
        else
            vd_buf_puts(&b, piece);
        memcpy(want + n, piece, pl);
        n += pl;
        if (b.len != n || b.data[b.len] != '\0' || b.cap <= b.len)
            break;
    }
    want[n] = '\0';
    CHECK_INT(b.len, n);
    CHECK_STR(b.data, want);
    vd_buf_reserve(&b, 1000);
    CHECK(b.cap >= b.len + 1001);
    CHECK_STR(b.data, want);
    vd_buf_free(&b);
}

static void encode_compare(const char *path)
{
    char *got = vd_path_encode(path), *want = ref_path_encode(path);
    CHECK_STR(got, want);
    vd_buf b = VD_BUF_INIT;
    vd_buf_puts(&b, "<href>");
    vd_path_encode_buf(&b, path);
    CHECK(b.len == 6 + strlen(want) && strncmp(b.data, "<href>", 6) == 0 &&
          strcmp(b.data + 6, want) == 0);
    free(got);
    free(want);
    vd_buf_free(&b);
}

static void test_encode_generated(void)
{
    char s[300];
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = rnd(120);
        for (size_t i = 0; i < len; i++)
            s[i] = (char)(1 + rnd(255));
        s[len] = '\0';
        encode_compare(s);
    }
    for (int c = 1; c < 256; c++) {       /* every byte alone and in a path */
        s[0] = (char)c;
        s[1] = '\0';
        encode_compare(s);
        snprintf(s, sizeof s, "/a/%cb/", c);
        encode_compare(s);
    }
    encode_compare("");
    vd_buf b = VD_BUF_INIT;
    vd_path_encode_buf(&b, NULL);          /* like vd_path_encode(NULL): "" */
    CHECK(b.data != NULL && b.len == 0 && b.data[0] == '\0');
    vd_buf_free(&b);
}

static int decode_mismatches;

/* Same result, output and diagnostic from the fast and the reference
 * decoder, for both the path and the href entry point. */
static void decode_compare(const char *raw)
{
    for (int href = 0; href < 2; href++) {
        char *got = NULL, *want = NULL;
        vd_diag dg = {0}, dw = {0};
        vd_err rg = href ? vd_href_decode(raw, &got, &dg) : vd_path_decode(raw, &got, &dg);
        vd_err rw = href ? ref_href_decode(raw, &want, &dw) : ref_path_decode(raw, &want, &dw);
        bool ok = rg == rw && dg.status == dw.status && strcmp(dg.message, dw.message) == 0 &&
                  ((!got && !want) || (got && want && strcmp(got, want) == 0));
        if (!ok && decode_mismatches++ < 5)
            fprintf(stderr, "FAIL decode(%s) of \"%s\": %d \"%s\" vs %d \"%s\"\n",
                    href ? "href" : "path", raw ? raw : "NULL", rg, dg.message, rw, dw.message);
        CHECK(ok);
        free(got);
        free(want);
    }
}

static void test_decode_generated(void)
{
    static const char *const pieces[] = {
        "/", "/", "//", "a", "Zz", "9", ".", "..", "...", "%", "%2", "%2e", "%2E",
        "%2F", "%2f", "%20", "%25", "%41", "%zz", "%g1", "%1g", "%00", "%0a", "%7F",
        "%7f", "%C3%A9", "%C3", "%E2%82%AC", "%ED%A0%80", "%C0%AF", "%F0%9F%98%80",
        "%FF", "\xc3\xa9", "\xe2\x82\xac", "\xff", "\xc3", "\x80", "\t", "\x7f", " ",
        "?", "#", "?q=1", "#frag", "@", "+", ":", "~", "-", "_",
    };
    static const char *const starts[] = {
        "", "/", "http://host", "https://h:8443", "//host", "HTTP://x/", "mailto:",
        "a+b.c://h", "1http://h/", "x.ics", "http:/x", "http://", "//",
    };
    char s[600];
    for (int iter = 0; iter < 40000; iter++) {
        size_t len = (size_t)snprintf(s, sizeof s, "%s", starts[rnd(sizeof starts / sizeof *starts)]);
        size_t n = rnd(16);
        for (size_t k = 0; k < n; k++) {
            const char *pc = pieces[rnd(sizeof pieces / sizeof *pieces)];
            size_t pl = strlen(pc);
            if (len + pl >= sizeof s)
                break;
            memcpy(s + len, pc, pl + 1);
            len += pl;
        }
        /* An exact-size copy, so an over-read past the NUL shows in ASan. */
        char *raw = strdup(s);
        decode_compare(raw);
        free(raw);
    }
    decode_compare(NULL);
    /* A non-ASCII byte (valid, invalid or cut short) at every position of
     * paths up to 40 bytes, raw and %-encoded: the 8-byte ASCII skip. */
    static const char *const bad[] = {"\xff", "\xc3\xa9", "\xc3", "\xe2\x82\xac", "\x80",
                                      "%FF", "%C3%A9", "%C3", "%ED%A0%80"};
    for (size_t len = 2; len <= 40; len++) {
        for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
            for (size_t pos = 1; pos < len; pos++) {
                memset(s, 'p', len);
                s[0] = '/';
                s[len] = '\0';
                size_t bl = strlen(bad[k]);
                memcpy(s + pos, bad[k], bl < len - pos ? bl : len - pos);
                char *raw = strdup(s);
                decode_compare(raw);
                free(raw);
            }
        }
    }
    /* Around the length limits: decoded 4096/4097 bytes, raw 12288/12289. */
    static char big[3 * 4097 + 64];
    for (int extra = -2; extra <= 2; extra++) {
        size_t n = (size_t)(4096 + extra);
        big[0] = '/';
        memset(big + 1, 'a', n - 1);
        big[n] = '\0';
        decode_compare(big);
        size_t m = (size_t)(3 * 4096 + extra);
        big[0] = '/';
        for (size_t i = 1; i < m; i++)
            big[i] = i % 3 == 1 ? '%' : i % 3 == 2 ? '4' : '1';
        big[m] = '\0';
        decode_compare(big);
        memmove(big + 8, big, m + 1);
        memcpy(big, "http://h", 8);
        decode_compare(big);
    }
    CHECK_INT(decode_mismatches, 0);
}

int main(void)
{
    test_buf_basic();
    test_buf_escape();
    test_path_decode();
    test_href();
    test_encode();
    test_split_misc();
    test_append_inline();
    test_escape_generated();
    test_encode_generated();
    test_decode_generated();
    return check_done();
}
