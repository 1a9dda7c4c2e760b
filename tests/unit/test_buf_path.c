/* test_buf_path.c - unit tests for lib/buf.c and lib/path.c. */
#include "check.h"

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

int main(void)
{
    test_buf_basic();
    test_buf_escape();
    test_path_decode();
    test_href();
    test_encode();
    test_split_misc();
    return check_done();
}
