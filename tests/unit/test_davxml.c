/* test_davxml.c - unit tests for lib/davxml.c and lib/davxml_write.c:
 * real client request bodies from tests/data/xml parsed into structs,
 * hostile bodies refused, and written multistatus / DAV:error bodies
 * re-parsed with libxml2 (the test may include libxml2; the server may not,
 * outside davxml*.c). */
#include "check.h"

#include <ctype.h>
#include <libgen.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "davxml.h"
#include "path.h"

/* ---------- fixtures ---------- */

static char data_dir[PATH_MAX];

/* tests/data/xml relative to this source file, as the compiler saw it
 * (relative to the build root, which is the parent of the exe's dir). */
static void find_data_dir(void)
{
    const char *env = getenv("VD_TEST_XML_DIR");
    char exe[PATH_MAX], src[PATH_MAX];
    if (env) {
        snprintf(data_dir, sizeof data_dir, "%s", env);
        return;
    }
    snprintf(src, sizeof src, "%s", __FILE__);
    char *sdir = dirname(src);                       /* .../tests/unit */
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    char *edir = dirname(dirname(exe));              /* build root */
    if (sdir[0] == '/')
        snprintf(data_dir, sizeof data_dir, "%s/../data/xml", sdir);
    else
        snprintf(data_dir, sizeof data_dir, "%s/%s/../data/xml", edir, sdir);
}

static char *load(const char *name, size_t *len)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", data_dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    vd_buf b = VD_BUF_INIT;
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        vd_buf_append(&b, tmp, n);
    fclose(f);
    return vd_buf_steal(&b, len);
}

static vd_time T(const char *s)
{
    vd_time t = 0;
    if (vd_time_parse_utc(s, &t) != VD_OK)
        abort();
    return t;
}

static bool has(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* Depth-first search for an element by namespace + local name. */
static xmlNode *find_el(xmlNode *n, const char *ns, const char *name)
{
    for (; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0 &&
            strcmp(n->ns ? (const char *)n->ns->href : "", ns) == 0)
            return n;
        xmlNode *c = find_el(n->children, ns, name);
        if (c)
            return c;
    }
    return NULL;
}

static xmlDoc *reparse(const char *s)
{
    return xmlReadMemory(s, (int)strlen(s), NULL, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR |
                         XML_PARSE_NOWARNING);
}

/* ---------- PROPFIND ---------- */

static void test_propfind_thunderbird(void)
{
    size_t len;
    char *body = load("thunderbird_discovery_propfind.xml", &len);
    vd_propfind pf;
    vd_diag d = {0};
    CHECK_INT(vd_dav_parse_propfind(body, len, &pf, &d), VD_OK);
    CHECK_INT(pf.kind, VD_PROPFIND_PROP);
    CHECK_INT(pf.n_props, 7);
    if (pf.n_props == 7) {
        CHECK(vd_qname_eq(&pf.props[0], VD_NS_DAV, "resourcetype"));
        CHECK(vd_qname_eq(&pf.props[4], VD_NS_DAV, "current-user-privilege-set"));
        CHECK(vd_qname_eq(&pf.props[5], VD_NS_APPLE, "calendar-color"));
        CHECK(vd_qname_eq(&pf.props[6], VD_NS_CALDAV, "calendar-home-set"));
    }
    CHECK(!pf.caldata.wanted);
    vd_propfind_clear(&pf);
    CHECK(pf.props == NULL && pf.n_props == 0);
    free(body);
}

static void test_propfind_apple(void)
{
    size_t len;
    char *body = load("apple_home_depth1_propfind.xml", &len);
    vd_propfind pf;
    vd_diag d = {0};
    CHECK_INT(vd_dav_parse_propfind(body, len, &pf, &d), VD_OK);
    CHECK_INT(pf.kind, VD_PROPFIND_PROP);
    CHECK_INT(pf.n_props, 39);
    if (pf.n_props == 39) {
        CHECK(vd_qname_eq(&pf.props[0], VD_NS_DAV, "add-member"));      /* prefix A = DAV: */
        CHECK(vd_qname_eq(&pf.props[1], VD_NS_CS, "allowed-sharing-modes"));
        CHECK(vd_qname_eq(&pf.props[3], "http://me.com/_namespace/", "bulk-requests"));
        CHECK(vd_qname_eq(&pf.props[4], VD_NS_CALDAV, "calendar-alarm")); /* prefix B */
        CHECK(vd_qname_eq(&pf.props[5], VD_NS_APPLE, "calendar-color"));  /* prefix D */
        CHECK(vd_qname_eq(&pf.props[37], VD_NS_DAV, "sync-token"));
        CHECK(vd_qname_eq(&pf.props[38], VD_NS_CALDAV, "managed-attachments-server-URL"));
    }
    vd_propfind_clear(&pf);
    free(body);
}

static void test_propfind_forms(void)
{
    vd_propfind pf;
    vd_diag d = {0};
    CHECK_INT(vd_dav_parse_propfind("", 0, &pf, &d), VD_OK);      /* RFC 4918 9.1 */
    CHECK_INT(pf.kind, VD_PROPFIND_ALLPROP);
    CHECK_INT(pf.n_props, 0);
    vd_propfind_clear(&pf);
    CHECK_INT(vd_dav_parse_propfind(" \r\n", 3, &pf, &d), VD_OK);
    CHECK_INT(pf.kind, VD_PROPFIND_ALLPROP);

    const char *pn = "<propfind xmlns='DAV:'><propname/></propfind>";
    CHECK_INT(vd_dav_parse_propfind(pn, strlen(pn), &pf, &d), VD_OK);
    CHECK_INT(pf.kind, VD_PROPFIND_PROPNAME);
    vd_propfind_clear(&pf);

    const char *inc = "<D:propfind xmlns:D='DAV:' xmlns:C='urn:ietf:params:xml:ns:caldav'>"
                      "<D:allprop/><D:include><C:calendar-description/></D:include></D:propfind>";
    CHECK_INT(vd_dav_parse_propfind(inc, strlen(inc), &pf, &d), VD_OK);
    CHECK_INT(pf.kind, VD_PROPFIND_ALLPROP);
    CHECK_INT(pf.n_props, 1);
    CHECK(pf.n_props == 1 && vd_qname_eq(&pf.props[0], VD_NS_CALDAV, "calendar-description"));
    vd_propfind_clear(&pf);

    /* prefixes mean nothing: "C" bound to DAV:, "D" bound to caldav */
    const char *pfx = "<C:propfind xmlns:C='DAV:'><C:prop><D:getetag xmlns:D='urn:ietf:params:xml:ns:caldav'/>"
                      "<nons xmlns=''/></C:prop></C:propfind>";
    CHECK_INT(vd_dav_parse_propfind(pfx, strlen(pfx), &pf, &d), VD_OK);
    CHECK_INT(pf.n_props, 2);
    CHECK(pf.n_props == 2 && vd_qname_eq(&pf.props[0], VD_NS_CALDAV, "getetag"));
    CHECK(pf.n_props == 2 && vd_qname_eq(&pf.props[1], "", "nons"));
    vd_propfind_clear(&pf);

    const char *wrong = "<D:propertyupdate xmlns:D='DAV:'/>";
    memset(&d, 0, sizeof d);
    CHECK_INT(vd_dav_parse_propfind(wrong, strlen(wrong), &pf, &d), VD_EINVAL);
    CHECK_INT(d.status, 400);
    const char *noprefix = "<propfind><prop><getetag/></prop></propfind>";   /* no DAV: namespace */
    CHECK_INT(vd_dav_parse_propfind(noprefix, strlen(noprefix), &pf, &d), VD_EINVAL);

    const char *cd = "<D:propfind xmlns:D='DAV:' xmlns:C='urn:ietf:params:xml:ns:caldav'><D:prop>"
                     "<C:calendar-data><C:limit-recurrence-set start='20240101T000000Z' end='20250101T000000Z'/>"
                     "</C:calendar-data></D:prop></D:propfind>";
    CHECK_INT(vd_dav_parse_propfind(cd, strlen(cd), &pf, &d), VD_OK);
    CHECK(pf.caldata.wanted);
    CHECK(pf.caldata.limit_recurrence && !pf.caldata.expand);
    CHECK(pf.caldata.limit_start == T("20240101T000000Z") && pf.caldata.limit_end == T("20250101T000000Z"));
    CHECK(pf.caldata.comp_names == NULL && pf.caldata.prop_names == NULL);
    vd_propfind_clear(&pf);

    const char *badexp = "<D:propfind xmlns:D='DAV:' xmlns:C='urn:ietf:params:xml:ns:caldav'><D:prop>"
                         "<C:calendar-data><C:expand start='2024-01-01'/></C:calendar-data></D:prop></D:propfind>";
    CHECK_INT(vd_dav_parse_propfind(badexp, strlen(badexp), &pf, &d), VD_EINVAL);
    CHECK(pf.props == NULL);
}

/* ---------- PROPPATCH / MKCOL ---------- */

static void test_proppatch_apple(void)
{
    size_t len;
    char *body = load("apple_proppatch_calendar_color.xml", &len);
    vd_propupdate u;
    vd_diag d = {0};
    CHECK_INT(vd_dav_parse_proppatch(body, len, &u, &d), VD_OK);
    CHECK_INT(u.n_ops, 1);
    if (u.n_ops == 1) {
        vd_propop *op = &u.ops[0];
        CHECK(!op->remove);
        CHECK(vd_qname_eq(&op->name, VD_NS_APPLE, "calendar-color"));
        CHECK_STR(op->xml, "<D:calendar-color xmlns:D=\"http://apple.com/ns/ical/\" "
                           "symbolic-color=\"orange\">#FD8208FF</D:calendar-color>");
        CHECK_STR(op->text, "#FD8208FF");
        CHECK_INT(op->n_children, 0);
    }
    vd_propupdate_clear(&u);
    free(body);
}

/* Namespaces declared only on the root must be declared on each op's xml. */
static void test_proppatch_inherited_ns(void)
{
    const char *body =
        "<?xml version='1.0'?>\n"
        "<D:propertyupdate xmlns:D='DAV:' xmlns:x='urn:x' xmlns:y='urn:y' xmlns='urn:default'>"
        "<D:set><D:prop><x:thing y:flag='1' plain='a&amp;b'><y:part name='p1'> one </y:part>"
        "<inner>two</inner></x:thing><D:displayname>  Visits &lt;north&gt;  </D:displayname></D:prop></D:set>"
        "<D:remove><D:prop><x:gone/></D:prop></D:remove>"
        "<D:set><D:prop><dflt>v</dflt></D:prop></D:set>"
        "</D:propertyupdate>";
    vd_propupdate u;
    vd_diag d = {0};
    CHECK_INT(vd_dav_parse_proppatch(body, strlen(body), &u, &d), VD_OK);
    CHECK_INT(u.n_ops, 4);
    if (u.n_ops != 4) {
        vd_propupdate_clear(&u);
        return;
    }
    vd_propop *t = &u.ops[0];
    CHECK(vd_qname_eq(&t->name, "urn:x", "thing"));
    CHECK_INT(t->n_children, 2);
    CHECK(t->text == NULL);
    if (t->n_children == 2) {
        CHECK(vd_qname_eq(&t->children[0].name, "urn:y", "part"));
        CHECK_STR(t->children[0].name_attr, "p1");
        CHECK_STR(t->children[0].text, "one");
        CHECK(vd_qname_eq(&t->children[1].name, "urn:default", "inner"));
        CHECK(t->children[1].name_attr == NULL);
    }
    /* the standalone element parses on its own with the same meaning */
    xmlDoc *doc = reparse(t->xml);
    CHECK(doc != NULL);
    if (doc) {
        xmlNode *r = xmlDocGetRootElement(doc);
        CHECK(find_el(r, "urn:x", "thing") == r);
        xmlChar *flag = xmlGetNsProp(r, (const xmlChar *)"flag", (const xmlChar *)"urn:y");
        xmlChar *plain = xmlGetNoNsProp(r, (const xmlChar *)"plain");
        CHECK_STR((const char *)flag, "1");
        CHECK_STR((const char *)plain, "a&b");
        xmlFree(flag);
        xmlFree(plain);
        CHECK(find_el(r, "urn:y", "part") != NULL);
        CHECK(find_el(r, "urn:default", "inner") != NULL);
        xmlFreeDoc(doc);
    }
    CHECK(vd_qname_eq(&u.ops[1].name, VD_NS_DAV, "displayname"));
    CHECK_STR(u.ops[1].text, "Visits <north>");
    CHECK(u.ops[2].remove);
    CHECK(vd_qname_eq(&u.ops[2].name, "urn:x", "gone"));
    CHECK(u.ops[2].xml == NULL);
    CHECK(vd_qname_eq(&u.ops[3].name, "urn:default", "dflt"));
    CHECK_STR(u.ops[3].xml, "<dflt xmlns=\"urn:default\">v</dflt>");
    vd_propupdate_clear(&u);
    vd_propupdate_clear(&u);        /* twice is harmless */
}

static void test_mkcalendar_apple(void)
{
    size_t len;
    char *body = load("apple_mkcalendar.xml", &len);
    vd_propupdate u;
    vd_diag d = {0};
    CHECK_INT(vd_dav_parse_mkcol(body, len, &u, &d), VD_OK);
    CHECK_INT(u.n_ops, 6);
    if (u.n_ops == 6) {
        CHECK(vd_qname_eq(&u.ops[0].name, VD_NS_APPLE, "calendar-order"));
        CHECK_STR(u.ops[0].text, "3");
        vd_propop *sccs = &u.ops[1];
        CHECK(vd_qname_eq(&sccs->name, VD_NS_CALDAV, "supported-calendar-component-set"));
        CHECK_INT(sccs->n_children, 1);
        CHECK(sccs->n_children == 1 && vd_qname_eq(&sccs->children[0].name, VD_NS_CALDAV, "comp"));
        CHECK(sccs->n_children == 1 && sccs->children[0].name_attr &&
              strcmp(sccs->children[0].name_attr, "VEVENT") == 0);
        CHECK(has(sccs->xml, "xmlns:B=\"urn:ietf:params:xml:ns:caldav\""));
        CHECK(has(u.ops[2].xml, "symbolic-color=\"custom\""));
        CHECK_STR(u.ops[2].text, "#63DA38FF");
        CHECK(vd_qname_eq(&u.ops[3].name, VD_NS_CALDAV, "calendar-timezone"));
        CHECK(u.ops[3].text && strncmp(u.ops[3].text, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n", 30) == 0);
        CHECK(has(u.ops[3].text, "TZID:Europe/Berlin\r\n"));
        CHECK(has(u.ops[3].xml, "&#13;"));         /* the CRs survive serialisation */
        CHECK(vd_qname_eq(&u.ops[4].name, VD_NS_DAV, "displayname"));
        CHECK(has(u.ops[4].xml, "xmlns:A=\"DAV:\""));  /* declared on <A:set>, an ancestor */
        CHECK_STR(u.ops[4].text, "Customer visits");
        CHECK_INT(u.ops[5].n_children, 1);
        CHECK(u.ops[5].n_children == 1 && vd_qname_eq(&u.ops[5].children[0].name, VD_NS_CALDAV, "opaque"));
        for (size_t i = 0; i < u.n_ops; i++)
            CHECK(!u.ops[i].remove);
    }
    vd_propupdate_clear(&u);
    free(body);

    CHECK_INT(vd_dav_parse_mkcol("", 0, &u, &d), VD_OK);
    CHECK_INT(u.n_ops, 0);
    const char *mk = "<D:mkcol xmlns:D='DAV:'><D:set><D:prop><D:resourcetype><D:collection/>"
                     "<C:calendar xmlns:C='urn:ietf:params:xml:ns:caldav'/></D:resourcetype>"
                     "</D:prop></D:set></D:mkcol>";
    CHECK_INT(vd_dav_parse_mkcol(mk, strlen(mk), &u, &d), VD_OK);
    CHECK_INT(u.n_ops, 1);
    CHECK(u.n_ops == 1 && u.ops[0].n_children == 2 &&
          vd_qname_eq(&u.ops[0].children[1].name, VD_NS_CALDAV, "calendar"));
    vd_propupdate_clear(&u);
    const char *rm = "<D:mkcol xmlns:D='DAV:'><D:remove><D:prop><D:displayname/></D:prop></D:remove></D:mkcol>";
    CHECK_INT(vd_dav_parse_mkcol(rm, strlen(rm), &u, &d), VD_EINVAL);
    const char *wr = "<D:propfind xmlns:D='DAV:'/>";
    CHECK_INT(vd_dav_parse_mkcol(wr, strlen(wr), &u, &d), VD_EINVAL);
}

static void test_proppatch_errors(void)
{
    vd_propupdate u;
    vd_diag d = {0};
    CHECK_INT(vd_dav_parse_proppatch("", 0, &u, &d), VD_EINVAL);
    CHECK_INT(d.status, 400);
    const char *none = "<D:propertyupdate xmlns:D='DAV:'><D:set><D:prop/></D:set></D:propertyupdate>";
    CHECK_INT(vd_dav_parse_proppatch(none, strlen(none), &u, &d), VD_EINVAL);
    const char *root = "<D:mkcol xmlns:D='DAV:'><D:set><D:prop><D:displayname>x</D:displayname></D:prop></D:set></D:mkcol>";
    CHECK_INT(vd_dav_parse_proppatch(root, strlen(root), &u, &d), VD_EINVAL);
    CHECK(u.ops == NULL && u.n_ops == 0);
}

/* ---------- REPORT ---------- */

static void test_calendar_query(void)
{
    size_t len;
    char *body = load("calendar_query_nested.xml", &len);
    vd_report r;
    vd_diag d = {0};
    CHECK_INT(vd_dav_parse_report(body, len, &r, &d), VD_OK);
    free(body);
    CHECK_INT(r.kind, VD_REPORT_CALENDAR_QUERY);
    CHECK(vd_qname_eq(&r.root, VD_NS_CALDAV, "calendar-query"));
    CHECK_INT(r.props.kind, VD_PROPFIND_PROP);
    CHECK_INT(r.props.n_props, 2);
    vd_caldata_spec *cd = &r.props.caldata;
    CHECK(cd->wanted && cd->expand);
    CHECK(cd->expand_start == T("20240101T000000Z") && cd->expand_end == T("20240201T000000Z"));
    CHECK_INT(cd->n_comp_names, 3);
    if (cd->n_comp_names == 3) {
        CHECK_STR(cd->comp_names[0], "VCALENDAR");
        CHECK_STR(cd->comp_names[1], "VEVENT");
        CHECK_STR(cd->comp_names[2], "VTIMEZONE");
    }
    CHECK_INT(cd->n_prop_names, 5);
    if (cd->n_prop_names == 5) {
        CHECK_STR(cd->prop_names[0], "VERSION");
        CHECK_STR(cd->prop_names[4], "DTEND");
    }
    vd_compfilter *vc = r.filter;
    CHECK(vc && strcmp(vc->name, "VCALENDAR") == 0 && !vc->has_time_range && !vc->next);
    vd_compfilter *ev = vc ? vc->comps : NULL;
    CHECK(ev && strcmp(ev->name, "VEVENT") == 0);
    if (ev) {
        CHECK(ev->has_time_range && ev->start == T("20240101T000000Z") && ev->end == T("20240201T000000Z"));
        vd_propfilter *sum = ev->props;
        CHECK(sum && strcmp(sum->name, "SUMMARY") == 0);       /* upper-cased */
        CHECK(sum && sum->text_match && strcmp(sum->text_match->text, "M\xc3\xbcller & Co") == 0);
        CHECK(sum && sum->text_match && sum->text_match->collation == VD_COLL_UNICODE_CASEMAP &&
              sum->text_match->negate);
        vd_propfilter *att = sum ? sum->next : NULL;
        CHECK(att && strcmp(att->name, "ATTENDEE") == 0 && att->text_match &&
              att->text_match->collation == VD_COLL_OCTET && !att->text_match->negate);
        vd_paramfilter *ps = att ? att->params : NULL;
        CHECK(ps && strcmp(ps->name, "PARTSTAT") == 0 && ps->text_match &&
              ps->text_match->collation == VD_COLL_ASCII_CASEMAP &&
              strcmp(ps->text_match->text, "NEEDS-ACTION") == 0);
        CHECK(ps && ps->next && strcmp(ps->next->name, "X-VISIT-ROLE") == 0 &&
              ps->next->is_not_defined && !ps->next->text_match && !ps->next->next);
        vd_propfilter *dts = att ? att->next : NULL;
        CHECK(dts && dts->has_time_range && dts->start == T("20240115T000000Z") &&
              dts->end == VD_TIME_MAX && !dts->next);
        CHECK(ev->comps && strcmp(ev->comps->name, "VALARM") == 0 && ev->comps->is_not_defined);
        vd_compfilter *td = ev->next;
        CHECK(td && strcmp(td->name, "VTODO") == 0 && td->has_time_range &&
              td->start == VD_TIME_MIN && td->end == T("20240301T000000Z") && !td->next);
    }
    CHECK(r.timezone && strncmp(r.timezone, "BEGIN:VCALENDAR", 15) == 0);
    CHECK_INT(r.limit, -1);
    vd_report_clear(&r);
    CHECK(r.filter == NULL);
}

static void expect_filter_error(const char *filter_inner, const char *precond)
{
    char body[2048];
    snprintf(body, sizeof body,
             "<C:calendar-query xmlns:D='DAV:' xmlns:C='urn:ietf:params:xml:ns:caldav'>"
             "<D:prop><D:getetag/></D:prop>%s</C:calendar-query>", filter_inner);
    vd_report r;
    vd_diag d = {0};
    vd_err rc = vd_dav_parse_report(body, strlen(body), &r, &d);
    if (rc != VD_EINVAL || !d.precond || strcmp(d.precond, precond) != 0)
        fprintf(stderr, "  (filter case: %s -> %d %s)\n", filter_inner, rc, d.precond ? d.precond : "-");
    CHECK_INT(rc, VD_EINVAL);
    CHECK_INT(d.status, 403);
    CHECK(d.precond_ns && strcmp(d.precond_ns, VD_NS_CALDAV) == 0);
    CHECK_STR(d.precond, precond);
    CHECK(r.filter == NULL);
}

static void test_filter_errors(void)
{
    expect_filter_error("<C:filter><C:comp-filter name='VCALENDAR'><C:comp-filter name='VEVENT'>"
                        "<C:time-range/></C:comp-filter></C:comp-filter></C:filter>", "valid-filter");
    expect_filter_error("<C:filter><C:comp-filter name='VCALENDAR'><C:comp-filter name='VEVENT'>"
                        "<C:time-range start='2024-01-01T00:00:00Z'/></C:comp-filter></C:comp-filter></C:filter>",
                        "valid-filter");
    expect_filter_error("<C:filter><C:comp-filter name='VCALENDAR'><C:comp-filter name='VEVENT'>"
                        "<C:prop-filter name='SUMMARY'><C:text-match collation='i;klingon'>x</C:text-match>"
                        "</C:prop-filter></C:comp-filter></C:comp-filter></C:filter>", "supported-collation");
    expect_filter_error("", "valid-filter");                                   /* no filter */
    expect_filter_error("<C:filter><C:comp-filter name='VEVENT'/></C:filter>", "valid-filter");
    expect_filter_error("<C:filter><C:comp-filter name='VCALENDAR'><C:comp-filter/></C:comp-filter></C:filter>",
                        "valid-filter");
    expect_filter_error("<C:filter/>", "valid-filter");
    /* a filter wider than VD_DAVXML_MAX_FILTER */
    vd_buf b = VD_BUF_INIT;
    vd_buf_puts(&b, "<C:filter><C:comp-filter name='VCALENDAR'><C:comp-filter name='VEVENT'>");
    for (int i = 0; i < VD_DAVXML_MAX_FILTER + 5; i++)
        vd_buf_puts(&b, "<C:prop-filter name='X'/>");
    vd_buf_puts(&b, "</C:comp-filter></C:comp-filter></C:filter>");
    vd_buf q = VD_BUF_INIT;
    vd_buf_printf(&q, "<C:calendar-query xmlns:D='DAV:' xmlns:C='urn:ietf:params:xml:ns:caldav'>%s"
                  "</C:calendar-query>", b.data);
    vd_report r;
    vd_diag d = {0};
    CHECK_INT(vd_dav_parse_report(q.data, q.len, &r, &d), VD_EINVAL);
    CHECK_STR(d.precond, "valid-filter");
    vd_buf_free(&b);
    vd_buf_free(&q);
}

static void test_multiget(void)
{
    size_t len;
    char *body = load("multiget_1000.xml", &len);
    vd_report r;
    vd_diag d = {0};
    CHECK_INT(vd_dav_parse_report(body, len, &r, &d), VD_OK);
    free(body);
    CHECK_INT(r.kind, VD_REPORT_CALENDAR_MULTIGET);
    CHECK_INT(r.n_hrefs, 1000);
    CHECK_INT(r.props.n_props, 3);
    CHECK(r.props.caldata.wanted);
    CHECK(r.props.n_props == 3 && vd_qname_eq(&r.props.props[2], VD_NS_CALDAV, "schedule-tag"));
    if (r.n_hrefs == 1000) {
        CHECK_STR(r.hrefs[0], "/calendars/ana/visits/00001000-1C2D-4E5F-8A9B-0C1D2E3F4A5B.ics");
        CHECK_STR(r.hrefs[7], "/calendars/ana/visits/visit%20with%20space.ics");   /* as given */
        CHECK_STR(r.hrefs[999], "/calendars/ana/visits/000013E7-1C2D-4E5F-8A9B-0C1D2E3F4A5B.ics");
        char *p = NULL;
        CHECK_INT(vd_href_decode(r.hrefs[8], &p, &d), VD_OK);
        CHECK_STR(p, "/calendars/ana/visits/abs.ics");
        free(p);
        CHECK_INT(vd_href_decode(r.hrefs[7], &p, &d), VD_OK);
        CHECK_STR(p, "/calendars/ana/visits/visit with space.ics");
        free(p);
    }
    vd_report_clear(&r);
    CHECK(r.hrefs == NULL && r.n_hrefs == 0);

    /* The hrefs are gathered while parsing (not built into the tree): only
     * D:href children of the root count, wherever their namespace is
     * declared; one elsewhere (inside D:prop, or another namespace) does
     * not; the properties around them are still read from the tree. */
    const char *mixed =
        "<C:calendar-multiget xmlns:D='DAV:' xmlns:C='urn:ietf:params:xml:ns:caldav'>"
        "<D:href>/c/1.ics</D:href>"
        "<D:prop><D:getetag/><D:href>/not/this</D:href></D:prop>"
        "<href xmlns='DAV:'> /c/2.ics </href>"
        "<x:href xmlns:x='urn:other'>/not/that</x:href>"
        "<D:href><D:href>/c/3</D:href>.ics</D:href>"
        "</C:calendar-multiget>";
    CHECK_INT(vd_dav_parse_report(mixed, strlen(mixed), &r, &d), VD_OK);
    CHECK_INT(r.n_hrefs, 3);
    if (r.n_hrefs == 3) {
        CHECK_STR(r.hrefs[0], "/c/1.ics");
        CHECK_STR(r.hrefs[1], "/c/2.ics");
        CHECK_STR(r.hrefs[2], "/c/3.ics");
    }
    CHECK(r.props.n_props == 2 && vd_qname_eq(&r.props.props[0], VD_NS_DAV, "getetag") &&
          vd_qname_eq(&r.props.props[1], VD_NS_DAV, "href"));
    vd_report_clear(&r);

    /* too many hrefs: refused with a reason, nothing leaks */
    vd_buf many = VD_BUF_INIT;
    vd_buf_puts(&many, "<C:calendar-multiget xmlns:D='DAV:' xmlns:C='urn:ietf:params:xml:ns:caldav'>"
                       "<D:prop><D:getetag/></D:prop>");
    for (int i = 0; i <= VD_DAVXML_MAX_HREFS; i++)
        vd_buf_puts(&many, "<D:href>/c/x.ics</D:href>");
    vd_buf_puts(&many, "</C:calendar-multiget>");
    memset(&d, 0, sizeof d);
    CHECK_INT(vd_dav_parse_report(many.data, many.len, &r, &d), VD_EINVAL);
    CHECK_INT(d.status, 400);
    CHECK(strstr(d.message, "too many hrefs") != NULL);
    vd_buf_free(&many);

    /* an href in another report stays in the tree as before */
    const char *sync = "<D:sync-collection xmlns:D='DAV:'><D:sync-token>t</D:sync-token>"
                       "<D:href>/x</D:href><D:prop><D:getetag/></D:prop></D:sync-collection>";
    CHECK_INT(vd_dav_parse_report(sync, strlen(sync), &r, &d), VD_OK);
    CHECK_INT(r.kind, VD_REPORT_SYNC_COLLECTION);
    CHECK_INT(r.n_hrefs, 0);
    CHECK_STR(r.sync_token, "t");
    vd_report_clear(&r);
}

static void test_sync(void)
{
    size_t len;
    vd_report r;
    vd_diag d = {0};
    char *body = load("thunderbird_sync_empty_token.xml", &len);
    CHECK_INT(vd_dav_parse_report(body, len, &r, &d), VD_OK);
    free(body);
    CHECK_INT(r.kind, VD_REPORT_SYNC_COLLECTION);
    CHECK_STR(r.sync_token, "");                 /* present and empty: "send everything" */
    CHECK_INT(r.sync_level, 1);
    CHECK_INT(r.limit, -1);
    CHECK_INT(r.props.n_props, 2);
    CHECK(r.props.n_props == 2 && vd_qname_eq(&r.props.props[0], VD_NS_DAV, "getcontenttype"));
    vd_report_clear(&r);

    body = load("sync_collection_limit.xml", &len);
    CHECK_INT(vd_dav_parse_report(body, len, &r, &d), VD_OK);
    free(body);
    CHECK_STR(r.sync_token, "http://visitdav.example/ns/sync/1234");
    CHECK_INT(r.sync_level, -1);
    CHECK_INT(r.limit, 100);
    CHECK_INT(r.props.n_props, 1);
    vd_report_clear(&r);

    body = load("apple_home_sync.xml", &len);
    CHECK_INT(vd_dav_parse_report(body, len, &r, &d), VD_OK);
    free(body);
    CHECK_STR(r.sync_token, "urn:visitdav:sync:42");
    CHECK_INT(r.sync_level, 0);                  /* OS X 10.7 style: no sync-level */
    CHECK_INT(r.props.n_props, 6);
    vd_report_clear(&r);

    const char *bad_level = "<sync-collection xmlns='DAV:'><sync-token/><sync-level>2</sync-level></sync-collection>";
    CHECK_INT(vd_dav_parse_report(bad_level, strlen(bad_level), &r, &d), VD_EINVAL);
    CHECK_INT(d.status, 400);
    const char *bad_limit = "<sync-collection xmlns='DAV:'><sync-token/><limit><nresults>lots</nresults></limit></sync-collection>";
    CHECK_INT(vd_dav_parse_report(bad_limit, strlen(bad_limit), &r, &d), VD_EINVAL);
    const char *no_token = "<sync-collection xmlns='DAV:'><prop><getetag/></prop></sync-collection>";
    CHECK_INT(vd_dav_parse_report(no_token, strlen(no_token), &r, &d), VD_OK);
    CHECK(r.sync_token == NULL);
    vd_report_clear(&r);
}

static void test_freebusy(void)
{
    size_t len;
    vd_report r;
    vd_diag d = {0};
    char *body = load("free_busy_query.xml", &len);
    CHECK_INT(vd_dav_parse_report(body, len, &r, &d), VD_OK);
    free(body);
    CHECK_INT(r.kind, VD_REPORT_FREE_BUSY_QUERY);
    CHECK(r.fb_start == T("20060104T140000Z"));
    CHECK(r.fb_end == T("20060105T220000Z"));
    vd_report_clear(&r);
    const char *none = "<C:free-busy-query xmlns:C='urn:ietf:params:xml:ns:caldav'/>";
    CHECK_INT(vd_dav_parse_report(none, strlen(none), &r, &d), VD_EINVAL);
    CHECK_INT(d.status, 403);
    CHECK_STR(d.precond, "valid-filter");
    const char *bad = "<C:free-busy-query xmlns:C='urn:ietf:params:xml:ns:caldav'>"
                      "<C:time-range start='yesterday'/></C:free-busy-query>";
    CHECK_INT(vd_dav_parse_report(bad, strlen(bad), &r, &d), VD_EINVAL);
    CHECK_STR(d.precond, "valid-filter");
}

static void test_principal_reports(void)
{
    size_t len;
    vd_report r;
    vd_diag d = {0};
    char *body = load("principal_property_search.xml", &len);
    CHECK_INT(vd_dav_parse_report(body, len, &r, &d), VD_OK);
    free(body);
    CHECK_INT(r.kind, VD_REPORT_PRINCIPAL_PROPERTY_SEARCH);
    CHECK(r.search_anyof);
    CHECK_INT(r.n_searches, 2);
    if (r.n_searches == 2) {
        CHECK(r.searches[0].n_props == 1 && vd_qname_eq(&r.searches[0].props[0], VD_NS_DAV, "displayname"));
        CHECK_STR(r.searches[0].match, "Ana");
        CHECK(r.searches[1].n_props == 1 && vd_qname_eq(&r.searches[1].props[0], VD_NS_CS, "email-address-set"));
        CHECK_STR(r.searches[1].match, "ana@");
    }
    CHECK_INT(r.props.kind, VD_PROPFIND_PROP);
    CHECK_INT(r.props.n_props, 4);
    CHECK(r.props.n_props == 4 && vd_qname_eq(&r.props.props[3], VD_NS_DAV, "principal-URL"));
    vd_report_clear(&r);

    body = load("thunderbird_principal_search.xml", &len);
    CHECK_INT(vd_dav_parse_report(body, len, &r, &d), VD_OK);
    free(body);
    CHECK(!r.search_anyof);
    CHECK_INT(r.n_searches, 1);
    CHECK(r.n_searches == 1 && vd_qname_eq(&r.searches[0].props[0], VD_NS_CALDAV, "calendar-home-set"));
    CHECK_INT(r.props.n_props, 4);
    vd_report_clear(&r);

    body = load("apple_principal_expand.xml", &len);
    CHECK_INT(vd_dav_parse_report(body, len, &r, &d), VD_OK);
    free(body);
    CHECK_INT(r.kind, VD_REPORT_EXPAND_PROPERTY);
    CHECK_INT(r.props.n_props, 2);
    if (r.props.n_props == 2) {
        CHECK(vd_qname_eq(&r.props.props[0], VD_NS_CS, "calendar-proxy-read-for"));
        CHECK_INT(r.n_expand_sub[0], 3);
        CHECK(r.n_expand_sub[0] == 3 && vd_qname_eq(&r.expand_sub[0][0], VD_NS_CALDAV, "calendar-user-address-set"));
        CHECK(r.n_expand_sub[0] == 3 && vd_qname_eq(&r.expand_sub[0][2], VD_NS_DAV, "displayname")); /* default ns */
        CHECK_INT(r.n_expand_sub[1], 1);
    }
    vd_report_clear(&r);

    const char *psps = "<D:principal-search-property-set xmlns:D='DAV:'/>";
    CHECK_INT(vd_dav_parse_report(psps, strlen(psps), &r, &d), VD_OK);
    CHECK_INT(r.kind, VD_REPORT_PRINCIPAL_SEARCH_PROPERTY_SET);
    vd_report_clear(&r);

    const char *unk = "<x:acl-principal-prop-set xmlns:x='urn:x'><x:y/></x:acl-principal-prop-set>";
    CHECK_INT(vd_dav_parse_report(unk, strlen(unk), &r, &d), VD_OK);
    CHECK_INT(r.kind, VD_REPORT_UNKNOWN);
    CHECK(vd_qname_eq(&r.root, "urn:x", "acl-principal-prop-set"));
    vd_report_clear(&r);
    CHECK_INT(vd_dav_parse_report("", 0, &r, &d), VD_EINVAL);
}

/* ---------- element text (the in-place fast path and the general one) ---------- */

#define MG_HEAD "<C:calendar-multiget xmlns:D='DAV:' xmlns:C='urn:ietf:params:xml:ns:caldav'>" \
                "<D:prop><D:getetag/></D:prop>"
#define MG_TAIL "</C:calendar-multiget>"

/* What an href must read as, computed the slow obvious way: libxml2's own
 * descendant text of the element, trimmed of isspace() at both ends.  Read
 * without XML_PARSE_NOBLANKS: inside an href every character is text (the
 * option's "ignorable white space" guess, which dropped blanks between a
 * comment and a CDATA section, is for element-only content). */
static char *ref_text(const char *inner)
{
    char *doc_s = NULL;
    size_t n = strlen(inner) + 64;
    doc_s = malloc(n);
    snprintf(doc_s, n, "<h>%s</h>", inner);
    xmlDoc *doc = xmlReadMemory(doc_s, (int)strlen(doc_s), NULL, NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    free(doc_s);
    if (!doc)
        return NULL;
    xmlChar *v = xmlNodeGetContent(xmlDocGetRootElement(doc));
    const char *t = v ? (const char *)v : "";
    while (*t && isspace((unsigned char)*t))
        t++;
    size_t len = strlen(t);
    while (len > 0 && isspace((unsigned char)t[len - 1]))
        len--;
    char *r = strndup(t, len);
    xmlFree(v);
    xmlFreeDoc(doc);
    return r;
}

/* Parse a multiget of the given href contents; each must read as ref_text. */
static void check_hrefs(const char *const *inner, size_t n)
{
    vd_buf b = VD_BUF_INIT;
    vd_buf_puts(&b, MG_HEAD);
    for (size_t i = 0; i < n; i++) {
        vd_buf_puts(&b, "<D:href>");
        vd_buf_puts(&b, inner[i]);
        vd_buf_puts(&b, "</D:href>");
    }
    vd_buf_puts(&b, MG_TAIL);
    vd_report r;
    vd_diag d = {0};
    CHECK_INT(vd_dav_parse_report(b.data, b.len, &r, &d), VD_OK);
    CHECK_INT(r.n_hrefs, n);
    for (size_t i = 0; i < n && i < r.n_hrefs; i++) {
        char *want = ref_text(inner[i]);
        CHECK(want != NULL);
        if (want && strcmp(r.hrefs[i], want) != 0)
            fprintf(stderr, "  href <%s> read as \"%s\", want \"%s\"\n", inner[i], r.hrefs[i], want);
        CHECK_STR(r.hrefs[i], want ? want : "(bad reference)");
        free(want);
    }
    vd_report_clear(&r);
    vd_buf_free(&b);
}

static void test_prop_text(void)
{
    char *t = vd_dav_prop_text("<C:calendar-timezone xmlns:C=\"urn:ietf:params:xml:ns:caldav\">"
                               "BEGIN:VCALENDAR&#13;\nX</C:calendar-timezone>");
    CHECK_STR(t ? t : "(null)", "BEGIN:VCALENDAR\r\nX");
    free(t);
    t = vd_dav_prop_text("<?xml version=\"1.0\"?><x:a xmlns:x=\"urn:x\">v &amp; w</x:a>");
    CHECK_STR(t ? t : "(null)", "v & w");
    free(t);
    CHECK(vd_dav_prop_text("<x:a xmlns:x=\"urn:x\"/>") == NULL);
    CHECK(vd_dav_prop_text("<not closed") == NULL);
}

static void test_element_text(void)
{
    /* fixed expectations first, so the reference cannot hide a shared bug */
    const char *fixed[] = {
        "  /cal/a.ics \r\n\t", "<![CDATA[/cal/b.ics]]>", " <![CDATA[ /cal/c d.ics ]]> ",
        "/cal/<!-- note -->e.ics", "/cal/x&amp;y&lt;z&#47;.ics", "/p<D:x>q<D:y>r</D:y></D:x>s",
        "", "   ", "<!-- only a comment -->", "/cal/<?pi x?>f.ics", "<![CDATA[]]>",
        "/a<![CDATA[ b ]]>c", "\xc3\xa9t\xc3\xa9.ics ",
    };
    const char *want[] = {
        "/cal/a.ics", "/cal/b.ics", "/cal/c d.ics", "/cal/e.ics", "/cal/x&y<z/.ics", "/pqrs",
        "", "", "", "/cal/f.ics", "", "/a b c", "\xc3\xa9t\xc3\xa9.ics",
    };
    size_t nf = sizeof fixed / sizeof fixed[0];
    vd_buf b = VD_BUF_INIT;
    vd_buf_puts(&b, MG_HEAD);
    for (size_t i = 0; i < nf; i++) {
        vd_buf_puts(&b, "<D:href>");
        vd_buf_puts(&b, fixed[i]);
        vd_buf_puts(&b, "</D:href>");
    }
    vd_buf_puts(&b, "<D:href/>" MG_TAIL);
    vd_report r;
    vd_diag d = {0};
    CHECK_INT(vd_dav_parse_report(b.data, b.len, &r, &d), VD_OK);
    CHECK_INT(r.n_hrefs, nf + 1);
    for (size_t i = 0; i < nf && i < r.n_hrefs; i++)
        CHECK_STR(r.hrefs[i], want[i]);
    if (r.n_hrefs == nf + 1)
        CHECK_STR(r.hrefs[nf], "");
    vd_report_clear(&r);
    vd_buf_free(&b);
    check_hrefs(fixed, nf);

    /* other all_text users: sync-token with CDATA and white space, and split by a comment */
    const char *st = "<D:sync-collection xmlns:D='DAV:'><D:sync-token> <![CDATA[urn:x:1]]>\n"
                     "</D:sync-token><D:sync-level> 1<!-- c -->\n</D:sync-level></D:sync-collection>";
    CHECK_INT(vd_dav_parse_report(st, strlen(st), &r, &d), VD_OK);
    CHECK_STR(r.sync_token, "urn:x:1");
    CHECK_INT(r.sync_level, 1);
    vd_report_clear(&r);

    /* random mixtures of the pieces that make an element's text */
    const char *pieces[] = {
        " ", "\t", "\r\n", "a", "/cal/", "%20", "x.ics", "&amp;", "&lt;", "&#x41;", "&#10;",
        "<![CDATA[ c ]]>", "<![CDATA[<&>]]>", "<!-- k -->", "<?p q?>", "<D:i>in</D:i>",
        "<D:j/>", "\xc3\xa9", "\xe2\x82\xac",
    };
    size_t np = sizeof pieces / sizeof pieces[0];
    unsigned seed = 12345;
    for (int round = 0; round < 200; round++) {
        char bufs[20][256];
        const char *inner[20];
        for (int h = 0; h < 20; h++) {
            bufs[h][0] = '\0';
            seed = seed * 1103515245u + 12345u;
            int k = (int)((seed >> 16) % 8);
            for (int i = 0; i < k; i++) {
                seed = seed * 1103515245u + 12345u;
                strcat(bufs[h], pieces[(seed >> 16) % np]);
            }
            inner[h] = bufs[h];
        }
        check_hrefs(inner, 20);
    }
}

/* ---------- one parser context per thread, reused ---------- */

static int reuse_ok;

static void expect_report(const char *body, vd_err want_rc, const char *msg_part)
{
    vd_report r;
    vd_diag d = {0};
    vd_err rc = vd_dav_parse_report(body, strlen(body), &r, &d);
    CHECK_INT(rc, want_rc);
    if (want_rc == VD_OK) {
        CHECK_INT(r.kind, VD_REPORT_CALENDAR_MULTIGET);
        CHECK(r.n_hrefs == 2 && strcmp(r.hrefs[0], "/c/1.ics") == 0 && strcmp(r.hrefs[1], "/c/2.ics") == 0);
        vd_report_clear(&r);
    } else {
        CHECK_INT(d.status, 400);
        if (!has(d.message, msg_part))
            fprintf(stderr, "  (message \"%s\" lacks \"%s\")\n", d.message, msg_part);
        CHECK(has(d.message, msg_part));
    }
    reuse_ok++;
}

/* On a thread of its own, so the sequence below is exactly what its
 * context has seen: failures of every kind between good parses. */
static void *reuse_thread(void *arg)
{
    (void)arg;
    const char *good = MG_HEAD "<D:href>/c/1.ics</D:href><D:href> /c/2.ics </D:href>" MG_TAIL;
    const char *doctype = "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e 'boom'>]>"
                          MG_HEAD "<D:href>&e;</D:href>" MG_TAIL;
    const char *malformed = MG_HEAD "\n\n<D:href>/c/1.ics</D:hrefx>" MG_TAIL;
    const char *undef = MG_HEAD "<D:href>&e;</D:href>" MG_TAIL;
    const char *unclosed = MG_HEAD "<D:href>/c/1.ics</D:href>";
    vd_buf deep = VD_BUF_INIT;
    vd_buf_puts(&deep, MG_HEAD);
    for (int i = 0; i < VD_MAX_XML_DEPTH; i++)
        vd_buf_puts(&deep, "<x>");
    expect_report(malformed, VD_EINVAL, "line 3");   /* first use of this thread */
    expect_report(good, VD_OK, NULL);
    expect_report(doctype, VD_EINVAL, "DOCTYPE not allowed");
    expect_report(good, VD_OK, NULL);
    expect_report(good, VD_OK, NULL);
    expect_report(deep.data, VD_EINVAL, "nested deeper");
    expect_report(good, VD_OK, NULL);
    expect_report(undef, VD_EINVAL, "malformed XML");
    expect_report(good, VD_OK, NULL);
    expect_report(unclosed, VD_EINVAL, "malformed XML");
    expect_report(good, VD_OK, NULL);
    expect_report(doctype, VD_EINVAL, "DOCTYPE not allowed");
    expect_report(malformed, VD_EINVAL, "line 3");
    /* many new names: the context's dictionary grows past what is kept */
    for (int k = 0; k < 300; k++) {
        vd_buf b = VD_BUF_INIT;
        vd_buf_puts(&b, MG_HEAD);
        for (int i = 0; i < 50; i++) {
            char el[96];
            snprintf(el, sizeof el, "<x:n%d_%d_abcdefghijklmnopqrstuvwxyz xmlns:x='urn:%d'/>", k, i, k);
            vd_buf_puts(&b, el);
        }
        vd_buf_puts(&b, "<D:href>/c/1.ics</D:href><D:href>/c/2.ics</D:href>" MG_TAIL);
        expect_report(b.data, VD_OK, NULL);
        vd_buf_free(&b);
    }
    expect_report(doctype, VD_EINVAL, "DOCTYPE not allowed");
    expect_report(good, VD_OK, NULL);                /* a context is left for the thread's exit */
    vd_buf_free(&deep);
    return NULL;
}

static void test_context_reuse(void)
{
    pthread_t th;
    reuse_ok = 0;
    CHECK_INT(pthread_create(&th, NULL, reuse_thread, NULL), 0);
    pthread_join(th, NULL);
    CHECK_INT(reuse_ok, 315);
    /* and on this thread, whose context has served every test above */
    reuse_thread(NULL);
    CHECK_INT(reuse_ok, 630);
}

/* ---------- hostile input ---------- */

/* Run fn with stderr redirected; returns bytes written to stderr. */
static long stderr_bytes_during(void (*fn)(void *), void *arg)
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fseek(tmp, 0, SEEK_END);
    long n = ftell(tmp);
    fclose(tmp);
    return n;
}

typedef struct hostile { const char *body; size_t len; vd_err rc[4]; vd_diag d[4]; } hostile;

static void run_all_parsers(void *arg)
{
    hostile *h = arg;
    vd_propfind pf;
    vd_propupdate u;
    vd_report r;
    h->rc[0] = vd_dav_parse_propfind(h->body, h->len, &pf, &h->d[0]);
    h->rc[1] = vd_dav_parse_proppatch(h->body, h->len, &u, &h->d[1]);
    h->rc[2] = vd_dav_parse_mkcol(h->body, h->len, &u, &h->d[2]);
    h->rc[3] = vd_dav_parse_report(h->body, h->len, &r, &h->d[3]);
}

static void expect_refused(const char *body, size_t len, const char *msg_part)
{
    hostile h = { .body = body, .len = len };
    clock_t t0 = clock();
    long err_bytes = stderr_bytes_during(run_all_parsers, &h);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK_INT(err_bytes, 0);                     /* libxml2 printed nothing */
    CHECK(secs < 1.0);                           /* nothing was expanded */
    for (int i = 0; i < 4; i++) {
        CHECK_INT(h.rc[i], VD_EINVAL);
        CHECK_INT(h.d[i].status, 400);
        if (!has(h.d[i].message, msg_part))
            fprintf(stderr, "  (message \"%s\" lacks \"%s\")\n", h.d[i].message, msg_part);
        CHECK(has(h.d[i].message, msg_part));
    }
}

static void test_hostile(void)
{
    size_t len;
    char *body = load("billion_laughs.xml", &len);
    expect_refused(body, len, "DOCTYPE not allowed");
    free(body);
    body = load("xxe.xml", &len);
    expect_refused(body, len, "DOCTYPE not allowed");
    free(body);
    const char *ext = "<?xml version='1.0'?><!DOCTYPE D:propfind SYSTEM \"file:///etc/passwd\">"
                      "<D:propfind xmlns:D='DAV:'/>";
    expect_refused(ext, strlen(ext), "DOCTYPE not allowed");
    body = load("malformed.xml", &len);
    expect_refused(body, len, "line 5");
    free(body);
    const char *undeclared = "<D:propfind><D:prop/></D:propfind>";
    expect_refused(undeclared, strlen(undeclared), "malformed XML");
    const char *undef_ent = "<D:propfind xmlns:D='DAV:'>&foo;</D:propfind>";
    expect_refused(undef_ent, strlen(undef_ent), "malformed XML");
    expect_refused("not xml at all", 14, "malformed XML");

    /* depth: exactly VD_MAX_XML_DEPTH is fine, one more is refused */
    for (int extra = 0; extra <= 1; extra++) {
        vd_buf b = VD_BUF_INIT;
        int levels = VD_MAX_XML_DEPTH + extra;   /* root + prop + (levels-2) nested */
        vd_buf_puts(&b, "<D:propfind xmlns:D='DAV:'><D:prop>");
        for (int i = 0; i < levels - 2; i++)
            vd_buf_puts(&b, "<x:a xmlns:x='urn:x'>");
        for (int i = 0; i < levels - 2; i++)
            vd_buf_puts(&b, "</x:a>");
        vd_buf_puts(&b, "</D:prop></D:propfind>");
        vd_propfind pf;
        vd_diag d = {0};
        vd_err rc = vd_dav_parse_propfind(b.data, b.len, &pf, &d);
        CHECK_INT(rc, extra ? VD_EINVAL : VD_OK);
        if (extra)
            CHECK(has(d.message, "nested deeper"));
        else
            vd_propfind_clear(&pf);
        vd_buf_free(&b);
    }
    vd_buf bomb = VD_BUF_INIT;
    for (int i = 0; i < 100000; i++)
        vd_buf_puts(&bomb, "<a>");
    expect_refused(bomb.data, bomb.len, "nested deeper");
    vd_buf_free(&bomb);
}

/* Many threads parsing broken bodies at once: each must see its own error. */
typedef struct tjob { int id; int ok; } tjob;

static void *thread_parse(void *arg)
{
    tjob *j = arg;
    for (int k = 0; k < 200; k++) {
        char body[256];
        int line = 2 + (j->id + k) % 5;
        int n = snprintf(body, sizeof body, "<D:propfind xmlns:D='DAV:'>");
        for (int i = 1; i < line; i++)
            n += snprintf(body + n, sizeof body - (size_t)n, "\n");
        snprintf(body + n, sizeof body - (size_t)n, "<D:prop></D:propfind>");
        vd_propfind pf;
        vd_diag d = {0};
        char want[32];
        snprintf(want, sizeof want, "line %d:", line);
        if (vd_dav_parse_propfind(body, strlen(body), &pf, &d) == VD_EINVAL && has(d.message, want))
            j->ok++;
    }
    return NULL;
}

static void test_threads(void)
{
    pthread_t th[8];
    tjob jobs[8];
    for (int i = 0; i < 8; i++) {
        jobs[i] = (tjob){ .id = i, .ok = 0 };
        pthread_create(&th[i], NULL, thread_parse, &jobs[i]);
    }
    int ok = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        ok += jobs[i].ok;
    }
    CHECK_INT(ok, 8 * 200);
}

/* ---------- writing ---------- */

static void test_dead_prop_roundtrip(void)
{
    size_t len;
    char *body = load("apple_proppatch_calendar_color.xml", &len);
    vd_propupdate u;
    vd_diag d = {0};
    CHECK_INT(vd_dav_parse_proppatch(body, len, &u, &d), VD_OK);
    free(body);
    if (u.n_ops != 1)
        return;
    vd_propresult res[] = {
        { .ns = VD_NS_APPLE, .name = "calendar-color", .status = 200,
          .value = u.ops[0].xml, .raw_element = true },
        { .ns = VD_NS_DAV, .name = "displayname", .status = 200, .value = "R&D <north>" },
        { .ns = "http://me.com/_namespace/", .name = "bulk-requests", .status = 404 },
        { .ns = VD_NS_CS, .name = "getctag", .status = 200, .value = NULL },
        { .ns = VD_NS_CALDAV, .name = "calendar-alarm", .status = 404 },
        { .ns = VD_NS_DAV, .name = "quota-used-bytes", .status = 403 },
    };
    vd_buf b = VD_BUF_INIT, esc = VD_BUF_INIT;
    vd_buf_xml_escape(&esc, "R&D <north>", 11);
    res[1].value = esc.data;
    vd_ms_begin(&b);
    vd_ms_response(&b, "/calendars/ana/visits & more/", res, 6, false);
    vd_ms_status(&b, "/calendars/ana/visits/gone one.ics", 404);
    vd_ms_status_href(&b, "/calendars/ana/visits/as%20sent.ics?a=1&b=2", 404);
    vd_ms_sync_token(&b, "urn:visitdav:sync:7&8");
    vd_ms_end(&b);

    CHECK_INT(count(b.data, "<D:propstat>"), 3);    /* 200, 404, 403 */
    CHECK_INT(count(b.data, "HTTP/1.1 404 Not Found"), 3);
    CHECK(has(b.data, "<D:href>/calendars/ana/visits%20%26%20more/</D:href>"));
    CHECK(has(b.data, "<D:href>/calendars/ana/visits/gone%20one.ics</D:href>"));
    CHECK(has(b.data, "as%20sent.ics?a=1&amp;b=2"));
    CHECK(has(b.data, "<X:bulk-requests xmlns:X=\"http://me.com/_namespace/\"/>"));
    CHECK(has(b.data, u.ops[0].xml));               /* copied verbatim */
    CHECK(strncmp(b.data, "<?xml version=\"1.0\" encoding=\"utf-8\"?>", 38) == 0);
    CHECK_INT(count(b.data, "xmlns:D=\"DAV:\""), 1);

    xmlDoc *doc = reparse(b.data);
    CHECK(doc != NULL);
    if (doc) {
        xmlNode *root = xmlDocGetRootElement(doc);
        xmlNode *cc = find_el(root, VD_NS_APPLE, "calendar-color");
        CHECK(cc != NULL);
        if (cc) {
            xmlChar *sym = xmlGetNoNsProp(cc, (const xmlChar *)"symbolic-color");
            xmlChar *txt = xmlNodeGetContent(cc);
            CHECK_STR((const char *)sym, "orange");
            CHECK_STR((const char *)txt, "#FD8208FF");
            CHECK(cc->properties && !cc->properties->next);   /* no stray attributes */
            xmlFree(sym);
            xmlFree(txt);
        }
        xmlNode *dn = find_el(root, VD_NS_DAV, "displayname");
        xmlChar *t = dn ? xmlNodeGetContent(dn) : NULL;
        CHECK_STR((const char *)t, "R&D <north>");
        xmlFree(t);
        CHECK(find_el(root, "http://me.com/_namespace/", "bulk-requests") != NULL);
        xmlNode *st = find_el(root, VD_NS_DAV, "sync-token");
        t = st ? xmlNodeGetContent(st) : NULL;
        CHECK_STR((const char *)t, "urn:visitdav:sync:7&8");
        xmlFree(t);
        xmlFreeDoc(doc);
    }

    /* brief: no 404 group at all */
    vd_buf_reset(&b);
    vd_ms_begin(&b);
    vd_ms_response(&b, "/c/", res, 6, true);
    vd_ms_end(&b);
    CHECK_INT(count(b.data, "<D:propstat>"), 2);
    CHECK(!has(b.data, "404"));
    CHECK(!has(b.data, "bulk-requests"));
    /* nothing to show still yields a valid response */
    vd_buf_reset(&b);
    vd_ms_begin(&b);
    vd_ms_response(&b, "/c/", res + 2, 1, true);
    vd_ms_response(&b, "/d/", NULL, 0, false);
    vd_ms_end(&b);
    CHECK_INT(count(b.data, "<D:propstat><D:prop/><D:status>HTTP/1.1 200 OK</D:status></D:propstat>"), 2);
    doc = reparse(b.data);
    CHECK(doc != NULL);
    xmlFreeDoc(doc);

    vd_buf_free(&b);
    vd_buf_free(&esc);
    vd_propupdate_clear(&u);
}

static void test_xml_helpers(void)
{
    vd_buf b = VD_BUF_INIT;
    vd_xml_text(&b, VD_NS_DAV, "displayname", "a<b>&\"c\"");
    CHECK_STR(b.data, "<D:displayname>a&lt;b&gt;&amp;&quot;c&quot;</D:displayname>");
    vd_buf_reset(&b);
    vd_xml_empty(&b, "urn:x&y", "p");
    CHECK_STR(b.data, "<X:p xmlns:X=\"urn:x&amp;y\"/>");
    vd_buf_reset(&b);
    vd_xml_open_tag(&b, VD_NS_CALDAV, "calendar-home-set");
    vd_buf_puts(&b, ">");
    vd_xml_href(&b, "/calendars/j\xc3\xbcrgen/");
    vd_xml_close_tag(&b, VD_NS_CALDAV, "calendar-home-set");
    CHECK_STR(b.data, "<C:calendar-home-set><D:href>/calendars/j%C3%BCrgen/</D:href></C:calendar-home-set>");
    vd_buf_reset(&b);
    vd_xml_empty(&b, "", "bare");
    vd_xml_empty(&b, VD_NS_VISIT, "conflict");
    vd_xml_empty(&b, VD_NS_CS, "getctag");
    CHECK_STR(b.data, "<bare/><V:conflict/><CS:getctag/>");
    vd_buf_free(&b);

    char *c = vd_qname_clark(VD_NS_DAV, "getetag");
    CHECK_STR(c, "{DAV:}getetag");
    free(c);
    vd_qname q = { .ns = (char *)"", .name = (char *)"x" };
    CHECK(vd_qname_eq(&q, NULL, "x"));
    CHECK(!vd_qname_eq(&q, VD_NS_DAV, "x"));
}

static void test_status_lines(void)
{
    static const struct { int code; const char *line; } want[] = {
        {200, "HTTP/1.1 200 OK"}, {201, "HTTP/1.1 201 Created"}, {204, "HTTP/1.1 204 No Content"},
        {207, "HTTP/1.1 207 Multi-Status"}, {400, "HTTP/1.1 400 Bad Request"},
        {401, "HTTP/1.1 401 Unauthorized"}, {403, "HTTP/1.1 403 Forbidden"},
        {404, "HTTP/1.1 404 Not Found"}, {405, "HTTP/1.1 405 Method Not Allowed"},
        {409, "HTTP/1.1 409 Conflict"}, {412, "HTTP/1.1 412 Precondition Failed"},
        {415, "HTTP/1.1 415 Unsupported Media Type"}, {422, "HTTP/1.1 422 Unprocessable Entity"},
        {423, "HTTP/1.1 423 Locked"}, {424, "HTTP/1.1 424 Failed Dependency"},
        {500, "HTTP/1.1 500 Internal Server Error"}, {501, "HTTP/1.1 501 Not Implemented"},
        {507, "HTTP/1.1 507 Insufficient Storage"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECK_STR(vd_http_status_line(want[i].code), want[i].line);
    CHECK_STR(vd_http_status_line(499), "HTTP/1.1 499 Client Error");
}

static void test_error_body(void)
{
    vd_buf b = VD_BUF_INIT;
    vd_diag d = {0};
    vd_diag_set(&d, 409, VD_NS_CALDAV, "no-uid-conflict", "UID %s already used by %s", "abc", "x&y.ics");
    snprintf(d.href, sizeof d.href, "/calendars/ana/visits/x%%26y.ics");
    vd_dav_error_body(&b, &d);
    CHECK(has(b.data, "<C:no-uid-conflict><D:href>/calendars/ana/visits/x%26y.ics</D:href></C:no-uid-conflict>"));
    CHECK(has(b.data, "<D:responsedescription>UID abc already used by x&amp;y.ics</D:responsedescription>"));
    xmlDoc *doc = reparse(b.data);
    CHECK(doc != NULL);
    if (doc) {
        xmlNode *root = xmlDocGetRootElement(doc);
        CHECK(find_el(root, VD_NS_DAV, "error") == root);
        CHECK(find_el(root, VD_NS_CALDAV, "no-uid-conflict") != NULL);
        xmlFreeDoc(doc);
    }
    vd_buf_reset(&b);
    vd_diag_set(&d, 403, VD_NS_DAV, "valid-sync-token", NULL);
    vd_dav_error_body(&b, &d);
    CHECK(has(b.data, "<D:valid-sync-token/>"));
    CHECK(has(b.data, "<D:responsedescription>Forbidden</D:responsedescription>"));
    vd_buf_reset(&b);
    vd_diag_set(&d, 403, "urn:other", "rule-violation", "overlaps a visit");
    vd_dav_error_body(&b, &d);
    CHECK(has(b.data, "<X:rule-violation xmlns:X=\"urn:other\"/>"));
    vd_buf_reset(&b);
    vd_diag_set(&d, 400, NULL, NULL, "bad thing");
    vd_dav_error_body(&b, &d);
    CHECK(!has(b.data, "<D:error xmlns:D=\"DAV:\"/>"));
    CHECK(has(b.data, "<D:responsedescription>bad thing</D:responsedescription></D:error>"));
    vd_buf_reset(&b);
    vd_dav_error_body(&b, NULL);
    CHECK(has(b.data, "<D:responsedescription>Error</D:responsedescription>"));
    doc = reparse(b.data);
    CHECK(doc != NULL);
    xmlFreeDoc(doc);
    vd_buf_free(&b);
}

static void test_free_null(void)
{
    vd_compfilter_free(NULL);
    vd_caldata_spec_clear(NULL);
    vd_propfind_clear(NULL);
    vd_propupdate_clear(NULL);
    vd_report_clear(NULL);
    vd_report r;
    memset(&r, 0, sizeof r);
    vd_report_clear(&r);
    CHECK_INT(r.limit, -1);
}

int main(void)
{
    find_data_dir();
    test_propfind_thunderbird();
    test_propfind_apple();
    test_propfind_forms();
    test_proppatch_apple();
    test_proppatch_inherited_ns();
    test_mkcalendar_apple();
    test_proppatch_errors();
    test_calendar_query();
    test_filter_errors();
    test_multiget();
    test_sync();
    test_freebusy();
    test_principal_reports();
    test_prop_text();
    test_element_text();
    test_context_reuse();
    test_hostile();
    test_threads();
    test_dead_prop_roundtrip();
    test_xml_helpers();
    test_status_lines();
    test_error_body();
    test_free_null();
    return check_done();
}
