/* test_customers.c - the customer directory: CSV parsing (quoting, every
 * error with its line), the example file, recognition in each step and
 * their order, Unicode normalisation, CJK and Latin names, word
 * boundaries, longest match, parent domains, the reloadable holder under
 * four threads, and the load / identify figures for 100k customers
 * (printed, not asserted).  Data files: tests/data/customers/. */
#include "check.h"
#include "customers.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char src_root[PATH_MAX];

/* The source tree: $VISITDAV_SRC, else found from this file's path as the
 * compiler saw it (relative to the build dir, the parent of tests/). */
static void find_src_root(void)
{
    char p[PATH_MAX + 64], exe[PATH_MAX];
    const char *env = getenv("VISITDAV_SRC");
    int dirlen = (int)(strrchr(__FILE__, '/') - __FILE__);
    if (env)
        snprintf(src_root, sizeof src_root, "%s", env);
    else if (__FILE__[0] == '/')
        snprintf(src_root, sizeof src_root, "%.*s/../..", dirlen, __FILE__);
    else {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = '\0';
        if (strrchr(exe, '/'))
            *strrchr(exe, '/') = '\0';
        snprintf(p, sizeof p, "%s/../%.*s/../..", exe, dirlen, __FILE__);
        snprintf(src_root, sizeof src_root, "%.*s", (int)sizeof src_root - 1, p);
    }
}

static const char *data(const char *name)
{
    static char p[PATH_MAX + 128];
    snprintf(p, sizeof p, "%s/tests/data/customers/%s", src_root, name);
    return p;
}

static vd_customers *parse(const char *text)
{
    vd_customers *c = NULL;
    vd_diag d = {0};
    if (vd_customers_parse("t.csv", text, strlen(text), &c, &d) != VD_OK)
        fprintf(stderr, "unexpected parse error: %s\n", d.message);
    return c;
}

/* The message of a parse that must fail, or "(loaded)". */
static const char *perr(const char *text)
{
    static vd_diag d;
    vd_customers *c = NULL;
    memset(&d, 0, sizeof d);
    vd_err e = vd_customers_parse("t.csv", text, strlen(text), &c, &d);
    if (e == VD_OK) {
        vd_customers_free(c);
        return "(loaded)";
    }
    if (c)
        return "(error but a directory)";
    return e == VD_EINVAL ? d.message : "(not EINVAL)";
}

static const char *lerr(const char *file)
{
    static vd_diag d;
    static char msg[600];
    vd_customers *c = NULL;
    memset(&d, 0, sizeof d);
    if (vd_customers_load(data(file), &c, &d) == VD_OK) {
        vd_customers_free(c);
        return "(loaded)";
    }
    /* strip the directory so the expectation is "file:line: reason" */
    const char *slash = strrchr(d.message, '/');
    snprintf(msg, sizeof msg, "%s", slash ? slash + 1 : d.message);
    return msg;
}

#define HDR "id,name,aliases,domains,address\n"

static void test_csv_errors(void)
{
    CHECK_STR(perr(""), "t.csv:1: missing header line id,name,aliases,domains,address");
    CHECK_STR(perr("# only a comment\n\n"),
              "t.csv:3: missing header line id,name,aliases,domains,address");
    CHECK_STR(perr("name,id\nC-1,A\n"), "t.csv:1: header must be id,name,aliases,domains,address");
    CHECK_STR(perr("id\nC-1\n"), "t.csv:1: header must be id,name,aliases,domains,address");
    CHECK_STR(perr("id,name,aliases,domains,address,phone\n"), "t.csv:1: more than 5 fields");
    CHECK_STR(perr(HDR "C-1,A\nC-2,B\n\n# x\nC-3,C\nC-4,D\nC-1,E\n"),
              "t.csv:8: duplicate id 'C-1' (first on line 2)");
    CHECK_STR(perr(HDR "C-1,A\nc-1,B\n"), "t.csv:3: duplicate id 'c-1' (first on line 2)");
    CHECK_STR(perr(HDR "C-1,A,,,\"x\ny\"\nC-2,B\nC-3,\"C\n"), "t.csv:5: unterminated quote");
    CHECK_STR(perr(HDR "C-1,\"A\" B,\n"), "t.csv:2: text after the closing quote of name");
    CHECK_STR(perr(HDR "C-1,A \"B\" C\n"),
              "t.csv:2: quote inside unquoted name (quote the whole field)");
    CHECK_STR(perr(HDR "C-1,A\nC-2,B\xc3\n"), "t.csv:3: invalid UTF-8 in name");
    CHECK_STR(perr(HDR "C-1,A\nC-2,B,\xed\xa0\x80\n"), "t.csv:3: invalid UTF-8 in aliases");
    CHECK_STR(perr(HDR "C-1,A\x01\n"), "t.csv:2: control character in name");
    CHECK_STR(perr(HDR "C-1,\"A\nB\"\n"), "t.csv:2: control character in name");
    CHECK_STR(perr(HDR "C-1,A\n,B\n"), "t.csv:3: missing id");
    CHECK_STR(perr(HDR "C-1,A\nC-2\n"), "t.csv:3: missing name");
    CHECK_STR(perr(HDR "C-1,A\nC-2,  ,x\n"), "t.csv:3: missing name");
    CHECK_STR(perr(HDR "C-1,A\n\nC-2,B,,acme..de\n"), "t.csv:4: bad domain 'acme..de'");
    CHECK_STR(perr(HDR "C-1,A,,de\n"), "t.csv:2: bad domain 'de'");
    CHECK_STR(perr(HDR "C-1,A,,-acme.de\n"), "t.csv:2: bad domain '-acme.de'");
    CHECK_STR(perr(HDR "C-1,A,,acme-.de\n"), "t.csv:2: bad domain 'acme-.de'");
    CHECK_STR(perr(HDR "C-1,A,,acme_x.de\n"), "t.csv:2: bad domain 'acme_x.de'");
    CHECK_STR(perr(HDR "C-1,A,,bob@acme.de\n"), "t.csv:2: bad domain 'bob@acme.de'");
    CHECK_STR(perr(HDR "C-1,A,,x.de\nC-2,B,,y.de;X.DE\n"),
              "t.csv:3: domain 'x.de' already belongs to 'C-1' (line 2)");
    CHECK_STR(perr(HDR "C-1,A,B,c.de,addr,extra\n"), "t.csv:2: more than 5 fields");
    CHECK_STR(perr("id,name\nC-1,A,B\n"), "t.csv:2: more than 2 fields");
    char lab[80];
    memset(lab, 'a', 64);
    snprintf(lab + 64, sizeof lab - 64, ".de\n");
    char text[256];
    snprintf(text, sizeof text, HDR "C-1,A,,%s", lab);
    CHECK(strstr(perr(text), "t.csv:2: bad domain 'aaaa") == perr(text));
}

static void test_csv_limits(void)
{
    size_t n = 5000 + sizeof HDR;
    char *big = malloc(n + 16);
    strcpy(big, HDR "C-1,");
    memset(big + strlen(big), 'x', 4097);
    strcpy(big + sizeof HDR + 3 + 4097, "\n");
    CHECK_STR(perr(big), "t.csv:2: name longer than 4096 bytes");
    big[sizeof HDR + 3 + 4096] = '\n';   /* exactly 4096 bytes is fine */
    big[sizeof HDR + 3 + 4097] = '\0';
    CHECK_STR(perr(big), "(loaded)");
    free(big);

    size_t huge = (64u << 20) + 1;
    char *h = malloc(huge);
    memset(h, '#', huge);
    vd_customers *c = NULL;
    vd_diag d = {0};
    CHECK_INT(vd_customers_parse("t.csv", h, huge, &c, &d), VD_EINVAL);
    CHECK_STR(d.message, "t.csv: larger than 64 MiB");
    free(h);

    /* 1,000,001 minimal rows */
    size_t cap = 16u << 20, len = 0;
    char *m = malloc(cap);
    len += (size_t)sprintf(m, "id,name\n");
    for (int i = 0; i <= 1000000; i++)
        len += (size_t)sprintf(m + len, "%x,n\n", i);
    CHECK_INT(vd_customers_parse("t.csv", m, len, &c, &d), VD_EINVAL);
    CHECK_STR(d.message, "t.csv:1000002: more than 1000000 customers");
    free(m);

    char big_path[] = "/tmp/vdcustbigXXXXXX";
    int fd = mkstemp(big_path);
    CHECK(fd >= 0 && ftruncate(fd, (off_t)huge) == 0);   /* sparse */
    CHECK_INT(vd_customers_load(big_path, &c, &d), VD_EINVAL);
    CHECK(c == NULL && strstr(d.message, ": larger than 64 MiB") != NULL);
    close(fd);
    unlink(big_path);

    CHECK_INT(vd_customers_load(data("no-such-file.csv"), &c, &d), VD_EIO);
    CHECK(c == NULL && strstr(d.message, "No such file") != NULL);
}

static void test_csv_files(void)
{
    CHECK_STR(lerr("dup_id.csv"), "dup_id.csv:8: duplicate id 'C-101' (first on line 3)");
    CHECK_STR(lerr("unterminated.csv"), "unterminated.csv:5: unterminated quote");
    CHECK_STR(lerr("bad_utf8.csv"), "bad_utf8.csv:4: invalid UTF-8 in name");
    CHECK_STR(lerr("missing_name.csv"), "missing_name.csv:5: missing name");
    CHECK_STR(lerr("bad_domain.csv"), "bad_domain.csv:6: bad domain 'acme..de'");

    vd_customers *c = NULL;
    vd_diag d = {0};
    CHECK_INT(vd_customers_load(data("good_crlf_bom.csv"), &c, &d), VD_OK);
    CHECK_INT(vd_customers_count(c), 2);
    const vd_customer *a = vd_customers_by_id(c, "C-1");
    CHECK(a != NULL);
    if (a) {
        CHECK_STR(a->name, "ACME, Inc.");
        CHECK_INT(a->n_aliases, 2);
        CHECK_STR(a->n_aliases == 2 ? a->aliases[1] : NULL, "ACME \"Road Runner\" Supplies");
        CHECK_INT(a->n_domains, 2);
        CHECK_STR(a->n_domains == 2 ? a->domains[1] : NULL, "sales.acme.com");
        CHECK_STR(a->address, "1 Main St\nSpringfield");
    }
    CHECK_STR(vd_customers_at(c, 1) ? vd_customers_at(c, 1)->name : NULL, "Bäckerei Schäfer");
    CHECK(vd_customers_at(c, 2) == NULL);
    vd_customers_free(c);
}

static void test_csv_quoting(void)
{
    vd_customers *c = parse("# leading comment\r\n" HDR
                            "C-1 , \"Smith, Jones & Co\" ,\"Smith;\"\"SJ\"\"\",,\"a\r\nb\"\r\n"
                            "C-2,Empty Trailing,,,\r\n"
                            "C-3,Short\r\n"
                            "C-4,Last,,\"acme.de\"");
    CHECK_INT(vd_customers_count(c), 4);
    const vd_customer *a = vd_customers_by_id(c, "C-1");
    CHECK_STR(a ? a->id : NULL, "C-1");
    CHECK_STR(a ? a->name : NULL, "Smith, Jones & Co");
    CHECK_INT(a ? a->n_aliases : 0, 2);
    CHECK_STR(a && a->n_aliases == 2 ? a->aliases[1] : NULL, "\"SJ\"");
    CHECK_STR(a ? a->address : NULL, "a\nb");
    const vd_customer *s = vd_customers_by_id(c, "C-3");
    CHECK(s && s->n_aliases == 0 && s->n_domains == 0 && strcmp(s->address, "") == 0);
    CHECK_STR(vd_customers_by_id(c, "c-4") ? vd_customers_by_id(c, "c-4")->domains[0] : NULL,
              "acme.de");
    CHECK(vd_customers_by_id(c, "C-9") == NULL);
    vd_customers_free(c);

    c = parse(HDR);   /* header only: a valid empty directory */
    CHECK(c != NULL && vd_customers_count(c) == 0);
    vd_match_source how = VD_MATCH_SUMMARY;
    vd_visit_text t = {.summary = "ACME"};
    CHECK(vd_customers_identify(c, &t, &how) == NULL && how == VD_MATCH_NONE);
    vd_customers_free(c);
}

static void test_example(void)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/conf/customers.csv.example", src_root);
    vd_customers *c = NULL;
    vd_diag d = {0};
    CHECK_INT(vd_customers_load(p, &c, &d), VD_OK);
    if (!c) {
        fprintf(stderr, "example: %s\n", d.message);
        return;
    }
    CHECK(vd_customers_count(c) >= 12);
    vd_match_source how;
    vd_visit_text t = {.summary = "Jahresgespräch bei MÜLLER MASCHINENBAU"};
    const vd_customer *m = vd_customers_identify(c, &t, &how);
    CHECK_STR(m ? m->id : NULL, "C-101");
    t = (vd_visit_text){.location = "深圳华为基地"};
    m = vd_customers_identify(c, &t, &how);
    CHECK_STR(m ? m->id : NULL, "C-201");
    const vd_customer *s = vd_customers_by_id(c, "C-301");
    CHECK_STR(s ? s->address : NULL, "12 High Street\nOxford OX1 4AA");
    s = vd_customers_by_id(c, "C-302");
    CHECK_STR(s ? s->name : NULL, "The \"Blue Door\" Café");
    vd_customers_free(c);
}

/* The directory used for recognition tests. */
static const char *const ident_csv =
    HDR
    "C-1,ACME GmbH,,acme.de,\n"
    "C-2,ACME,ACME Corp,acme.com,\n"
    "C-3,Müller Maschinenbau,Müller;MMB,Mueller.DE,\n"
    "C-4,华为技术有限公司,华为;Huawei,huawei.com,\n"
    "C-5,腾讯科技,腾讯,tencent.com,\n"
    "C-6,Stadtwerke Köln,SWK,sw.koeln.de,\n"
    "C-7,Schmidt,,,\n"
    "C-8,Schmidt,,,\n"
    "C-9,Smith & Sons Ltd.,,,\n"
    "C-10,SAP,,sap.com,\n"
    "C-11,华为云,,,\n"
    "C-12,Straße AG,,,\n"
    "C-13,Kappa,,,\n"
    "C-14,Omega,,,\n";

static const char *who(const vd_customers *c, const char *x, const char *att,
                       const char *loc, const char *sum, vd_match_source *how)
{
    const char *atts[2] = {"mailto:rep@visitdav.example", att};
    vd_visit_text t = {x, att ? atts : NULL, att ? 2 : 0, loc, sum};
    const vd_customer *r = vd_customers_identify(c, &t, how);
    return r ? r->id : NULL;
}

#define SUM(c, s) who(c, NULL, NULL, NULL, s, NULL)

static void test_match_text(const vd_customers *c)
{
    CHECK_STR(SUM(c, "Termin bei ACME GmbH Stuttgart"), "C-1");
    CHECK_STR(SUM(c, "Termin bei ACME in Stuttgart"), "C-2");
    CHECK_STR(SUM(c, "Termin bei ACME\n   GmbH"), "C-1");
    CHECK(SUM(c, "ACMEX Jahresgespräch") == NULL);
    CHECK(SUM(c, "XACME") == NULL);
    CHECK_STR(SUM(c, "ACME-Termin"), "C-2");
    CHECK_STR(SUM(c, "Besuch (ACME)"), "C-2");
    CHECK_STR(SUM(c, "acme corp quarterly review"), "C-2");
    CHECK_STR(SUM(c, "MÜLLER"), "C-3");
    CHECK_STR(SUM(c, "Mu\xcc\x88ller"), "C-3");
    CHECK_STR(SUM(c, "bei M\xc3\xbcller"), "C-3");
    CHECK_STR(SUM(c, "Besuch MÜLLER MASCHINENBAU, Halle 2"), "C-3");
    CHECK(SUM(c, "Müllerei") == NULL);
    CHECK_STR(SUM(c, "ＡＣＭＥ"), "C-2");
    CHECK_STR(SUM(c, "ＡＣＭＥ ＧｍｂＨ"), "C-1");
    CHECK_STR(SUM(c, "STRASSE AG"), "C-12");
    CHECK_STR(SUM(c, "明天去华为开会"), "C-4");
    CHECK_STR(SUM(c, "明天去华为技术有限公司总部开会"), "C-4");
    CHECK_STR(SUM(c, "和腾讯科技讨论合作"), "C-5");
    CHECK_STR(SUM(c, "腾讯视频项目"), "C-5");
    CHECK_STR(SUM(c, "参加华为云大会"), "C-11");
    CHECK_STR(SUM(c, "拜访SAP公司"), "C-10");
    CHECK(SUM(c, "拜访SAPX公司") == NULL);
    CHECK_STR(SUM(c, "Schmidt"), "C-7");
    CHECK_STR(SUM(c, "Omega und Kappa"), "C-13");   /* equal length: file order */
    CHECK_STR(SUM(c, "Omega und ACME"), "C-14");
    CHECK_STR(SUM(c, "Smith & Sons Ltd.Oxford"), "C-9");
    CHECK_STR(SUM(c, "HUAWEI!"), "C-4");
    CHECK_STR(SUM(c, "swk / ACME GmbH"), "C-1");
    CHECK(SUM(c, "Team meeting") == NULL);
    CHECK(SUM(c, "") == NULL);
    CHECK(SUM(c, "bad \xff utf-8 ACM\xc3") == NULL);
    CHECK_STR(SUM(c, "bad \xff utf-8 ACME"), "C-2");
}

static void test_match_steps(const vd_customers *c)
{
    vd_match_source how = VD_MATCH_NONE;
    CHECK_STR(who(c, "c-5", "bob@acme.de", "ACME", "华为", &how), "C-5");
    CHECK_INT(how, VD_MATCH_PROPERTY);
    CHECK_STR(who(c, NULL, "bob@acme.de", "ACME", "华为", &how), "C-1");
    CHECK_INT(how, VD_MATCH_ATTENDEE);
    CHECK_STR(who(c, NULL, NULL, "ACME", "华为", &how), "C-2");
    CHECK_INT(how, VD_MATCH_LOCATION);
    CHECK_STR(who(c, NULL, "bob@nowhere.org", "Raum 4", "华为", &how), "C-4");
    CHECK_INT(how, VD_MATCH_SUMMARY);
    CHECK_STR(who(c, " acme  gmbh ", NULL, NULL, NULL, &how), "C-1");
    CHECK_INT(how, VD_MATCH_PROPERTY);
    CHECK_STR(who(c, "HUAWEI", NULL, NULL, NULL, &how), "C-4");
    CHECK(who(c, "ACME GmbH Stuttgart", NULL, NULL, NULL, &how) == NULL);   /* whole value only */
    CHECK_STR(who(c, "nobody", NULL, NULL, "ACME", &how), "C-2");           /* falls through */
    CHECK_INT(how, VD_MATCH_SUMMARY);
    CHECK(who(c, NULL, NULL, NULL, NULL, &how) == NULL);
    CHECK_INT(how, VD_MATCH_NONE);
    how = VD_MATCH_LOCATION;
    CHECK(vd_customers_identify(c, NULL, &how) == NULL && how == VD_MATCH_NONE);
    CHECK(who(c, NULL, NULL, "Büro", "Team meeting", NULL) == NULL);
}

static void test_match_domains(const vd_customers *c)
{
    vd_match_source how = VD_MATCH_NONE;
    CHECK_STR(who(c, NULL, "MAILTO:Bob@Sales.EU.ACME.de", NULL, NULL, &how), "C-1");
    CHECK_INT(how, VD_MATCH_ATTENDEE);
    CHECK_STR(who(c, NULL, "mailto:x@acme.com", NULL, NULL, &how), "C-2");
    CHECK_STR(who(c, NULL, "x@mueller.de", NULL, NULL, &how), "C-3");
    CHECK_STR(who(c, NULL, "mailto:x@a.b.sw.koeln.de", NULL, NULL, &how), "C-6");
    CHECK(who(c, NULL, "mailto:x@koeln.de", NULL, NULL, &how) == NULL);
    CHECK(who(c, NULL, "mailto:x@de", NULL, NULL, &how) == NULL);
    CHECK(who(c, NULL, "mailto:x@acme", NULL, NULL, &how) == NULL);
    CHECK(who(c, NULL, "mailto:acme.de", NULL, NULL, &how) == NULL);
    CHECK(who(c, NULL, "mailto:x@notacme.de", NULL, NULL, &how) == NULL);
    CHECK_INT(how, VD_MATCH_NONE);
    const vd_customer *m = vd_customers_by_id(c, "C-3");
    CHECK_STR(m && m->n_domains ? m->domains[0] : NULL, "mueller.de");
}

static void test_identify(void)
{
    vd_customers *c = parse(ident_csv);
    CHECK(c != NULL);
    if (!c)
        return;
    test_match_text(c);
    test_match_steps(c);
    test_match_domains(c);
    vd_customers_free(c);
}

/* ------------------------------------------------------------------ */
/* the holder under threads                                             */

static char tmpdir[64];

static void write_file(const char *path, const char *text)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    fputs(text, f);
    fclose(f);
    rename(tmp, path);   /* atomic: a reload never sees half a file */
}

typedef struct worker { vd_customerdb *db; _Atomic int *stop; long rounds, bad; } worker;

static void *work(void *arg)
{
    worker *w = arg;
    vd_visit_text t = {.summary = "Termin bei ACME GmbH"};
    while (!*w->stop) {
        const vd_customers *c = vd_customerdb_acquire(w->db);
        size_t n = vd_customers_count(c);
        const vd_customer *m = vd_customers_identify(c, &t, NULL);
        if ((n != 2 && n != 3) || !m || strcmp(m->id, n == 2 ? "A-1" : "B-1") != 0)
            w->bad++;
        vd_customerdb_release(w->db, c);
        w->rounds++;
    }
    return NULL;
}

static void test_db(void)
{
    char path[PATH_MAX];
    vd_diag d = {0};
    vd_customerdb *db = NULL;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vdcustXXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL);
    snprintf(path, sizeof path, "%s/customers.csv", tmpdir);
    const char *a = HDR "A-1,ACME GmbH\nA-2,Beta\n";
    const char *b = HDR "B-1,ACME GmbH\nB-2,Beta\nB-3,Gamma\n";
    const char *bad = HDR "B-1,ACME GmbH\nB-1,Beta\n";

    CHECK_INT(vd_customerdb_open(NULL, &db, &d), VD_OK);
    const vd_customers *e = vd_customerdb_acquire(db);
    CHECK(e != NULL && vd_customers_count(e) == 0);
    vd_customerdb_release(db, e);
    CHECK_INT(vd_customerdb_reload(db, &d), VD_OK);
    vd_customerdb_close(db);

    CHECK_INT(vd_customerdb_open(path, &db, &d), VD_EIO);
    CHECK(db == NULL);
    write_file(path, a);
    CHECK_INT(vd_customerdb_open(path, &db, &d), VD_OK);
    const vd_customers *held = vd_customerdb_acquire(db);
    write_file(path, bad);
    CHECK_INT(vd_customerdb_reload(db, &d), VD_EINVAL);
    CHECK(strstr(d.message, "customers.csv:3: duplicate id 'B-1' (first on line 2)") != NULL);
    const vd_customers *now = vd_customerdb_acquire(db);
    CHECK(now == held && vd_customers_count(now) == 2);   /* the old one stays */
    vd_customerdb_release(db, now);
    write_file(path, b);
    CHECK_INT(vd_customerdb_reload(db, &d), VD_OK);
    now = vd_customerdb_acquire(db);
    CHECK_INT(vd_customers_count(now), 3);
    CHECK_INT(vd_customers_count(held), 2);   /* still valid while held */
    vd_customerdb_release(db, held);
    vd_customerdb_release(db, now);

    _Atomic int stop = 0;
    worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){db, &stop, 0, 0};
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    int reload_ok = 0, reload_bad = 0;
    for (int i = 0; i < 300; i++) {
        write_file(path, i % 3 == 0 ? a : i % 3 == 1 ? bad : b);
        if (vd_customerdb_reload(db, &d) == VD_OK)
            reload_ok++;
        else
            reload_bad++;
    }
    stop = 1;
    long rounds = 0, badn = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        rounds += w[i].rounds;
        badn += w[i].bad;
    }
    CHECK_INT(reload_ok, 200);
    CHECK_INT(reload_bad, 100);
    CHECK_INT(badn, 0);
    CHECK(rounds > 0);
    printf("customerdb: %ld acquire/identify/release in 4 threads during 300 reloads\n", rounds);
    vd_customerdb_close(db);
    unlink(path);
    rmdir(tmpdir);
}

/* ------------------------------------------------------------------ */
/* figures: 100k generated customers                                    */

static uint32_t rnd_state = 12345;
static uint32_t rnd(void)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return rnd_state >> 8;
}

static const char *const syl[] = {"ka", "ro", "mi", "tel", "ber", "an", "sch", "lo", "vin",
                                  "dra", "ne", "gu", "pol", "ter", "za", "hof", "ri", "mar"};
static const char *const cjk[] = {"华", "为", "腾", "讯", "科", "技", "阿", "里", "巴", "集",
                                  "团", "上", "海", "汽", "车", "北", "京", "电", "子", "网",
                                  "络", "通", "信", "能", "源", "建", "设", "银", "行", "保"};
static const char *const suffix[] = {" GmbH", " AG", " Ltd", " Inc", " KG", ""};

/* A random Latin or Chinese company name into out; returns its length. */
static int gen_name(char *out, size_t cap, int i)
{
    int n = 0;
    if (i % 4 == 3) {
        int k = 3 + (int)(rnd() % 4);
        for (int j = 0; j < k; j++)
            n += snprintf(out + n, cap - (size_t)n, "%s", cjk[rnd() % 30]);
        return n + snprintf(out + n, cap - (size_t)n, "%s", i % 8 == 3 ? "有限公司" : "");
    }
    for (int w = 0; w < 2; w++) {
        int k = 2 + (int)(rnd() % 3), start = n;
        for (int j = 0; j < k; j++)
            n += snprintf(out + n, cap - (size_t)n, "%s", syl[rnd() % 18]);
        out[start] = (char)(out[start] - 32);   /* capitalised, as written */
        if (w == 0)
            out[n++] = ' ';
    }
    return n + snprintf(out + n, cap - (size_t)n, "%s", suffix[rnd() % 6]);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_figures(void)
{
    enum { N = 100000, T = 10000 };
    size_t cap = 16u << 20, len = 0;
    char *csv = malloc(cap), (*names)[96] = malloc(N * sizeof *names);
    len += (size_t)snprintf(csv, cap, HDR);
    for (int i = 0; i < N; i++) {
        gen_name(names[i], sizeof names[i], i);
        len += (size_t)snprintf(csv + len, cap - len, "K-%06d,%s,K%06d Alias,k%06d.example.de,"
                                "\"Street %d, Town\"\n", i, names[i], i, i, i);
    }
    vd_customers *c = NULL;
    vd_diag d = {0};
    double t0 = now_s();
    vd_err e = vd_customers_parse("gen.csv", csv, len, &c, &d);
    double t1 = now_s();
    CHECK_INT(e, VD_OK);
    if (e) {
        fprintf(stderr, "%s\n", d.message);
        free(csv);
        free(names);
        return;
    }
    CHECK_INT(vd_customers_count(c), N);
    printf("load %d customers (%.1f MB CSV): %.1f ms\n", N, (double)len / 1e6, (t1 - t0) * 1e3);

    char (*texts)[256] = malloc(T * sizeof *texts);
    int *want = malloc(T * sizeof *want);
    for (int i = 0; i < T; i++) {
        int k = (int)(rnd() % N);
        want[i] = i % 3 == 2 ? -1 : k;
        if (i % 3 == 0)
            snprintf(texts[i], sizeof texts[i], "Kundentermin bei %s in Stuttgart, "
                     "Besprechungsraum 3, Vertragsverlängerung", names[k]);
        else if (i % 3 == 1)
            snprintf(texts[i], sizeof texts[i], "拜访%s，讨论明年的合作项目", names[k]);
        else
            snprintf(texts[i], sizeof texts[i], "Quarterly team meeting %d: travel planning "
                     "and expense reports", i);
    }
    int hits = 0, right = 0, wrong_none = 0;
    t0 = now_s();
    for (int i = 0; i < T; i++) {
        vd_visit_text t = {.summary = texts[i]};
        const vd_customer *m = vd_customers_identify(c, &t, NULL);
        hits += m != NULL;
        /* a random name may also be another customer's name or contain
         * a longer one; count exact hits and check most are right */
        if (want[i] >= 0 && m && strcmp(m->name, names[want[i]]) == 0)
            right++;
        if (want[i] < 0 && m)
            wrong_none++;
    }
    t1 = now_s();
    printf("identify over %d texts on %d customers: %.2f us per text (%d matched)\n",
           T, N, (t1 - t0) * 1e6 / T, hits);
    CHECK(right > (T * 2 / 3) * 95 / 100);
    CHECK_INT(wrong_none, 0);
    vd_customers_free(c);
    free(texts);
    free(want);
    free(csv);
    free(names);
}

int main(void)
{
    find_src_root();
    test_csv_errors();
    test_csv_limits();
    test_csv_files();
    test_csv_quoting();
    test_example();
    test_identify();
    test_db();
    test_figures();
    return check_done();
}
