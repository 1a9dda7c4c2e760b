/* davxml.c - WebDAV/CalDAV request bodies -> plain structs (davxml.h), and
 * the destructors of the calfilter.h structs it builds.
 * Owns: the safe libxml2 parse (no DTD, no entities, no network, depth cap,
 * per-parse error capture) and the PROPFIND / PROPPATCH / MKCOL / REPORT
 * readers.  Elements are matched by namespace URI + local name, never by
 * prefix.
 * Must not: let an xmlNode escape, expand entities, print to stderr, use
 * libxml2 global error state (the server is multi-threaded), or decide what
 * a request means beyond its syntax (that is the server's job). */
#include "davxml.h"

#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- small helpers (allocation failure aborts, as in buf.c) ---------- */

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "visitdav: out of memory (%zu bytes)\n", n);
        abort();
    }
    return q;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xrealloc(NULL, n), s, n);
}

/* Make index n of array arr (holding n elements) usable: capacity doubles
 * whenever n reaches 0, 1, 2, 4, 8, ... */
#define GROW(arr, n) do { \
    if ((n) == 0 || ((n) & ((n) - 1)) == 0) \
        (arr) = xrealloc((arr), ((n) ? 2 * (n) : 1) * sizeof *(arr)); \
} while (0)

/* s without leading and trailing white space: the start, length in *n. */
static const char *trim_span(const char *s, size_t *n)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    *n = strlen(s);
    while (*n > 0 && isspace((unsigned char)s[*n - 1]))
        (*n)--;
    return s;
}

static char *trim_dup(const char *s)
{
    size_t n;
    s = trim_span(s, &n);
    char *r = xrealloc(NULL, n + 1);
    memcpy(r, s, n);
    r[n] = '\0';
    return r;
}

static void upcase(char *s)
{
    for (; *s; s++)
        *s = (char)toupper((unsigned char)*s);
}

char *vd_qname_clark(const char *ns, const char *name)
{
    size_t a = ns ? strlen(ns) : 0, b = name ? strlen(name) : 0;
    char *r = xrealloc(NULL, a + b + 3);
    snprintf(r, a + b + 3, "{%s}%s", ns ? ns : "", name ? name : "");
    return r;
}

bool vd_qname_eq(const vd_qname *q, const char *ns, const char *name)
{
    return q && q->ns && q->name && strcmp(q->ns, ns ? ns : "") == 0 &&
           strcmp(q->name, name) == 0;
}

/* ---------- libxml2 node access ---------- */

/* The first-byte test skips the strcmp call for most non-matching siblings
 * (every href is tried against allprop, propname, prop, include). */
static bool is_el(const xmlNode *n, const char *ns, const char *name)
{
    if (!n || n->type != XML_ELEMENT_NODE || n->name[0] != (xmlChar)name[0] ||
        strcmp((const char *)n->name, name) != 0)
        return false;
    const char *href = n->ns && n->ns->href ? (const char *)n->ns->href : "";
    return strcmp(href, ns) == 0;
}

static xmlNode *next_el(xmlNode *n)
{
    while (n && n->type != XML_ELEMENT_NODE)
        n = n->next;
    return n;
}
#define FOR_EL(c, parent) for (xmlNode *c = next_el((parent)->children); c; c = next_el(c->next))

static void qname_set(vd_qname *q, const xmlNode *n)
{
    q->ns = xstrdup(n->ns && n->ns->href ? (const char *)n->ns->href : "");
    q->name = xstrdup((const char *)n->name);
}

static void qname_clear(vd_qname *q)
{
    free(q->ns);
    free(q->name);
    q->ns = q->name = NULL;
}

/* Value of the un-namespaced attribute name, malloc'd, or NULL. */
static char *attr(const xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);
    if (!v)
        return NULL;
    char *r = xstrdup((const char *)v);
    xmlFree(v);
    return r;
}

/* Direct text and CDATA children, trimmed; NULL if that is empty. */
static char *own_text(const xmlNode *n)
{
    vd_buf b = VD_BUF_INIT;
    for (const xmlNode *c = n->children; c; c = c->next)
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
            vd_buf_puts(&b, (const char *)c->content);
    char *r = b.data ? trim_dup(b.data) : NULL;
    vd_buf_free(&b);
    if (r && !r[0]) {
        free(r);
        r = NULL;
    }
    return r;
}

/* All descendant text of n, borrowed: the usual element (an href, a
 * sync-token) holds one text node, or none, and that is read in place
 * instead of letting xmlNodeGetContent build a malloc'd copy.  Anything else
 * (CDATA, comments splitting the text, child elements) is gathered by
 * xmlNodeGetContent into *tmp, which the caller frees with xmlFree. */
static const char *text_of(const xmlNode *n, xmlChar **tmp)
{
    const xmlNode *c = n->children;
    *tmp = NULL;
    if (!c)
        return "";
    if (c->type == XML_TEXT_NODE && !c->next && c->content)
        return (const char *)c->content;
    *tmp = xmlNodeGetContent(n);
    return *tmp ? (const char *)*tmp : "";
}

/* All descendant text, untrimmed when raw, never NULL. */
static char *all_text(const xmlNode *n, bool raw)
{
    xmlChar *tmp;
    const char *t = text_of(n, &tmp);
    char *r = raw ? xstrdup(t) : trim_dup(t);
    xmlFree(tmp);
    return r;
}

/* ---------- the safe parse ---------- */

/* The hrefs of a calendar-multiget, gathered while parsing instead of
 * built into the tree: a sync asks for up to hundreds of them, and making
 * and freeing an element and a text node for each was most of the parse.
 * blob holds each href's text (as xmlNodeGetContent would give it: text,
 * CDATA and entity text of all descendants, no comments or PIs), trimmed,
 * NUL-terminated, one after the other. */
typedef struct href_sink {
    vd_buf blob;
    size_t n;
    bool   multiget;        /* the root is C:calendar-multiget */
    int    in_href;         /* depth inside a root-level D:href, 0 = outside */
    size_t start;           /* blob offset of the href being read */
} href_sink;

typedef struct parse_state {
    int  depth;
    bool doctype, too_deep, have_err;
    int  err_line;
    char err_msg[160];
    href_sink *hrefs;       /* NULL: build every element into the tree */
} parse_state;

static void on_error(void *ctx, xmlErrorPtr e)
{
    xmlParserCtxtPtr c = ctx;
    parse_state *st = c ? c->_private : NULL;
    if (!st || !e || st->have_err || e->level < XML_ERR_ERROR)
        return;                         /* keep the first real error */
    st->have_err = true;
    st->err_line = e->line;
    snprintf(st->err_msg, sizeof st->err_msg, "%s", e->message ? e->message : "error");
    size_t n = strlen(st->err_msg);
    while (n > 0 && (st->err_msg[n - 1] == '\n' || st->err_msg[n - 1] == ' '))
        st->err_msg[--n] = '\0';
}

/* Any DOCTYPE stops the parse before its internal subset is read: no
 * entity is ever declared, so none can be expanded (billion laughs, XXE). */
static void on_doctype(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
    (void)name; (void)ext; (void)sys;
    xmlParserCtxtPtr c = ctx;
    ((parse_state *)c->_private)->doctype = true;
    xmlStopParser(c);
}

static bool qname_is(const xmlChar *local, const xmlChar *uri, const char *ns, const char *name)
{
    return uri && strcmp((const char *)local, name) == 0 && strcmp((const char *)uri, ns) == 0;
}

/* Does this element go to the href sink rather than the tree?  Opens a
 * root-level D:href of a calendar-multiget; everything inside one. */
static bool sink_start(href_sink *h, int depth, const xmlChar *local, const xmlChar *uri)
{
    if (!h)
        return false;
    if (depth == 1)
        h->multiget = qname_is(local, uri, VD_NS_CALDAV, "calendar-multiget");
    if (h->in_href) {
        h->in_href++;
        return true;
    }
    if (depth != 2 || !h->multiget || !qname_is(local, uri, VD_NS_DAV, "href"))
        return false;
    h->in_href = 1;
    h->start = h->blob.len;
    return true;
}

/* Closes an element the sink took; at the href's end its text is trimmed
 * in place and ended with a NUL. */
static bool sink_end(href_sink *h)
{
    if (!h || !h->in_href)
        return false;
    if (--h->in_href > 0)
        return true;
    vd_buf_append(&h->blob, "", 0);          /* data is never NULL after this */
    size_t len;
    const char *t = trim_span(h->blob.data + h->start, &len);
    memmove(h->blob.data + h->start, t, len);
    h->blob.len = h->start + len;
    vd_buf_append(&h->blob, "", 1);
    h->n++;
    return true;
}

/* Text and CDATA inside an href go to the sink, comments and PIs there are
 * dropped (as xmlNodeGetContent skips them); elsewhere the tree gets all. */
static href_sink *sink_of(void *ctx)
{
    parse_state *st = ((xmlParserCtxtPtr)ctx)->_private;
    return st->hrefs && st->hrefs->in_href ? st->hrefs : NULL;
}

/* White space libxml2 would drop as "ignorable" (XML_PARSE_NOBLANKS) is
 * text inside an href: its heuristic looks at the tree, which holds no href
 * element to look at.  Installed while an href is open (xmlCtxtReadMemory
 * sets this handler itself, so it cannot be set beforehand). */
static void on_blank(void *ctx, const xmlChar *ch, int len)
{
    href_sink *h = sink_of(ctx);
    if (h)
        vd_buf_append(&h->blob, ch, (size_t)len);
    else
        xmlSAX2IgnorableWhitespace(ctx, ch, len);
}

static void on_start(void *ctx, const xmlChar *local, const xmlChar *prefix,
                     const xmlChar *uri, int nb_ns, const xmlChar **ns, int nb_attr,
                     int nb_def, const xmlChar **attrs)
{
    xmlParserCtxtPtr c = ctx;
    parse_state *st = c->_private;
    if (++st->depth > VD_MAX_XML_DEPTH) {
        st->too_deep = true;
        xmlStopParser(c);
        return;
    }
    if (!sink_start(st->hrefs, st->depth, local, uri))
        xmlSAX2StartElementNs(ctx, local, prefix, uri, nb_ns, ns, nb_attr, nb_def, attrs);
    else if (st->hrefs->in_href == 1)
        c->sax->ignorableWhitespace = on_blank;     /* see on_blank */
}

static void on_end(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
    xmlParserCtxtPtr c = ctx;
    parse_state *st = c->_private;
    st->depth--;
    if (!sink_end(st->hrefs))
        xmlSAX2EndElementNs(ctx, local, prefix, uri);
    else if (!st->hrefs->in_href)
        c->sax->ignorableWhitespace = xmlSAX2IgnorableWhitespace;   /* as XML_PARSE_NOBLANKS set it */
}

static void on_text(void *ctx, const xmlChar *ch, int len)
{
    href_sink *h = sink_of(ctx);
    if (h)
        vd_buf_append(&h->blob, ch, (size_t)len);
    else
        xmlSAX2Characters(ctx, ch, len);
}

static void on_cdata(void *ctx, const xmlChar *ch, int len)
{
    href_sink *h = sink_of(ctx);
    if (h)
        vd_buf_append(&h->blob, ch, (size_t)len);
    else
        xmlSAX2CDataBlock(ctx, ch, len);
}

static void on_comment(void *ctx, const xmlChar *value)
{
    if (!sink_of(ctx))
        xmlSAX2Comment(ctx, value);
}

static void on_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
    if (!sink_of(ctx))
        xmlSAX2ProcessingInstruction(ctx, target, data);
}

/* One parser context per thread, reused: creating one (dictionary, input
 * and node stacks) and freeing it cost a tenth of parsing a 100-href
 * multiget.  xmlCtxtReadMemory resets the context (xmlCtxtReset); the SAX
 * overrides survive that (tested), but are set again before every parse
 * anyway so safety never rests on what a reset keeps.  A context is kept
 * only after a successful parse of a body of at most REUSE_MAX_BODY, and
 * only while its dictionary (names and short texts of past requests) is at
 * most REUSE_MAX_DICT: a thread's memory stays bounded, and a large body,
 * always parsed with a fresh context, meets libxml2's dictionary limit
 * exactly as before. */
#define REUSE_MAX_BODY   (64u * 1024)     /* larger bodies get a fresh context */
#define REUSE_MAX_DICT   (256u * 1024)    /* bytes of dictionary we keep */

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;
static pthread_key_t ctxt_key;

static void ctxt_free(void *c) { xmlFreeParserCtxt(c); }

static void xml_init(void)
{
    xmlInitParser();
    if (pthread_key_create(&ctxt_key, ctxt_free) != 0)
        abort();
}

/* This thread's idle context, taken out of the slot so that no other
 * parse can see it while it is in use; a new one when there is none. */
static xmlParserCtxtPtr ctxt_take(size_t len)
{
    xmlParserCtxtPtr c = NULL;
    if (len <= REUSE_MAX_BODY) {
        c = pthread_getspecific(ctxt_key);
        if (c)
            pthread_setspecific(ctxt_key, NULL);
    }
    return c ? c : xmlNewParserCtxt();
}

/* Back into the slot after a good parse of a small body; else freed. */
static void ctxt_give_back(xmlParserCtxtPtr c, size_t len, bool ok)
{
    if (ok && len <= REUSE_MAX_BODY && c->dict && xmlDictGetUsage(c->dict) <= REUSE_MAX_DICT &&
        !pthread_getspecific(ctxt_key) && pthread_setspecific(ctxt_key, c) == 0) {
        xmlCtxtReset(c);                /* drop the copy of the body now, not next time */
        return;
    }
    xmlFreeParserCtxt(c);
}

static vd_err bad(vd_diag *d, const char *msg)
{
    vd_diag_set(d, 400, NULL, NULL, "%s", msg);
    return VD_EINVAL;
}

/* hrefs: NULL, or where a calendar-multiget's hrefs go (see href_sink). */
static vd_err parse_doc(const char *body, size_t len, xmlDocPtr *out, href_sink *hrefs, vd_diag *d)
{
    parse_state st = { .hrefs = hrefs };
    xmlDocPtr doc = NULL;
    vd_err rc = VD_EINVAL;
    *out = NULL;
    if (len > INT_MAX)
        return bad(d, "XML body too large");
    pthread_once(&xml_once, xml_init);
    xmlParserCtxtPtr c = ctxt_take(len);
    if (!c)
        return VD_ENOMEM;
    c->_private = &st;
    c->sax->serror = on_error;          /* per-parse: no global handler, no stderr */
    c->sax->internalSubset = on_doctype;
    c->sax->startElementNs = on_start;
    c->sax->endElementNs = on_end;
    c->sax->characters = on_text;
    c->sax->cdataBlock = on_cdata;
    c->sax->comment = on_comment;
    c->sax->processingInstruction = on_pi;
    doc = xmlCtxtReadMemory(c, body, (int)len, NULL, NULL, XML_PARSE_NONET | XML_PARSE_NOBLANKS);
    if (st.doctype || (doc && (doc->intSubset || doc->extSubset))) {
        vd_diag_set(d, 400, NULL, NULL, "DOCTYPE not allowed");
    } else if (st.too_deep) {
        vd_diag_set(d, 400, NULL, NULL, "XML nested deeper than %d elements", VD_MAX_XML_DEPTH);
    } else if (!doc || !c->wellFormed || st.have_err || !xmlDocGetRootElement(doc)) {
        if (st.have_err)
            vd_diag_set(d, 400, NULL, NULL, "malformed XML at line %d: %s", st.err_line, st.err_msg);
        else
            vd_diag_set(d, 400, NULL, NULL, "malformed XML");
    } else {
        *out = doc;
        doc = NULL;
        rc = VD_OK;
    }
    xmlFreeDoc(doc);
    c->_private = NULL;                 /* st dies with this frame */
    ctxt_give_back(c, len, rc == VD_OK);
    return rc;
}

static bool blank_body(const char *body, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!isspace((unsigned char)body[i]))
            return false;
    return true;
}

/* Parse and check the root element's qname. */
static vd_err parse_root(const char *body, size_t len, const char *ns, const char *name,
                         xmlDocPtr *doc, vd_diag *d)
{
    vd_err rc = parse_doc(body, len, doc, NULL, d);
    if (rc != VD_OK)
        return rc;
    if (!is_el(xmlDocGetRootElement(*doc), ns, name)) {
        vd_diag_set(d, 400, NULL, NULL, "root element must be {%s}%s", ns, name);
        xmlFreeDoc(*doc);
        *doc = NULL;
        return VD_EINVAL;
    }
    return VD_OK;
}

/* ---------- calfilter.h destructors ---------- */

static void textmatch_free(vd_textmatch *t)
{
    if (t) {
        free(t->text);
        free(t);
    }
}

static void paramfilter_free(vd_paramfilter *p)
{
    while (p) {
        vd_paramfilter *next = p->next;
        free(p->name);
        textmatch_free(p->text_match);
        free(p);
        p = next;
    }
}

static void propfilter_free(vd_propfilter *p)
{
    while (p) {
        vd_propfilter *next = p->next;
        free(p->name);
        textmatch_free(p->text_match);
        paramfilter_free(p->params);
        free(p);
        p = next;
    }
}

void vd_compfilter_free(vd_compfilter *f)
{
    while (f) {                          /* siblings iteratively, children recursively */
        vd_compfilter *next = f->next;
        free(f->name);
        propfilter_free(f->props);
        vd_compfilter_free(f->comps);
        free(f);
        f = next;
    }
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void vd_caldata_spec_clear(vd_caldata_spec *s)
{
    if (!s)
        return;
    strv_free(s->comp_names, s->n_comp_names);
    strv_free(s->prop_names, s->n_prop_names);
    memset(s, 0, sizeof *s);
}

/* ---------- PROPFIND ---------- */

static vd_err add_qname(vd_qname **arr, size_t *n, const xmlNode *el, vd_diag *d)
{
    if (*n >= VD_DAVXML_MAX_PROPS)
        return bad(d, "too many properties in request");
    GROW(*arr, *n);
    qname_set(&(*arr)[(*n)++], el);
    return VD_OK;
}

static void strv_add(char ***v, size_t *n, const char *s)
{
    GROW(*v, *n);
    char *c = xstrdup(s);
    upcase(c);
    (*v)[(*n)++] = c;
}

/* A start/end pair of UTC date-times; both required (RFC 4791 9.6.5, 9.6.6). */
static vd_err time_pair(const xmlNode *n, vd_time *start, vd_time *end, vd_diag *d)
{
    char *s = attr(n, "start"), *e = attr(n, "end");
    vd_err rc = VD_OK;
    if (!s || !e || vd_time_parse_utc(s, start) != VD_OK || vd_time_parse_utc(e, end) != VD_OK) {
        vd_diag_set(d, 400, NULL, NULL, "%s needs start and end as UTC date-times",
                    (const char *)n->name);
        rc = VD_EINVAL;
    }
    free(s);
    free(e);
    return rc;
}

/* Flatten <C:comp>/<C:prop> trees into the spec's name lists. */
static void caldata_comp(const xmlNode *comp, vd_caldata_spec *s, bool *allcomp, bool *allprop)
{
    char *name = attr(comp, "name");
    if (name) {
        if (s->n_comp_names < VD_DAVXML_MAX_PROPS)
            strv_add(&s->comp_names, &s->n_comp_names, name);
        free(name);
    }
    FOR_EL(c, comp) {
        if (is_el(c, VD_NS_CALDAV, "allcomp")) {
            *allcomp = true;
        } else if (is_el(c, VD_NS_CALDAV, "allprop")) {
            *allprop = true;
        } else if (is_el(c, VD_NS_CALDAV, "prop")) {
            char *pn = attr(c, "name");
            if (pn && s->n_prop_names < VD_DAVXML_MAX_PROPS)
                strv_add(&s->prop_names, &s->n_prop_names, pn);
            free(pn);
        } else if (is_el(c, VD_NS_CALDAV, "comp")) {
            caldata_comp(c, s, allcomp, allprop);
        }
    }
}

static vd_err parse_caldata(const xmlNode *cd, vd_caldata_spec *s, vd_diag *d)
{
    bool allcomp = false, allprop = false, any_comp = false;
    s->wanted = true;
    FOR_EL(c, cd) {
        vd_err rc = VD_OK;
        if (is_el(c, VD_NS_CALDAV, "comp")) {
            any_comp = true;
            caldata_comp(c, s, &allcomp, &allprop);
        } else if (is_el(c, VD_NS_CALDAV, "expand")) {
            s->expand = true;
            rc = time_pair(c, &s->expand_start, &s->expand_end, d);
        } else if (is_el(c, VD_NS_CALDAV, "limit-recurrence-set")) {
            s->limit_recurrence = true;
            rc = time_pair(c, &s->limit_start, &s->limit_end, d);
        }
        if (rc != VD_OK)
            return rc;
    }
    /* Flat lists can only narrow; when in doubt return everything. */
    if (allcomp || !any_comp) {
        strv_free(s->comp_names, s->n_comp_names);
        s->comp_names = NULL;
        s->n_comp_names = 0;
    }
    if (allprop) {
        strv_free(s->prop_names, s->n_prop_names);
        s->prop_names = NULL;
        s->n_prop_names = 0;
    }
    return VD_OK;
}

static vd_err parse_prop_list(const xmlNode *prop, vd_propfind *pf, vd_diag *d)
{
    FOR_EL(c, prop) {
        vd_err rc = add_qname(&pf->props, &pf->n_props, c, d);
        if (rc == VD_OK && is_el(c, VD_NS_CALDAV, "calendar-data") && !pf->caldata.wanted)
            rc = parse_caldata(c, &pf->caldata, d);
        if (rc != VD_OK)
            return rc;
    }
    return VD_OK;
}

/* DAV:prop / DAV:allprop (+ DAV:include) / DAV:propname among parent's
 * children; none of them means allprop (RFC 4918 9.1). */
static vd_err parse_propsel(const xmlNode *parent, vd_propfind *pf, vd_diag *d)
{
    pf->kind = VD_PROPFIND_ALLPROP;
    FOR_EL(c, parent) {
        vd_err rc = VD_OK;
        if (is_el(c, VD_NS_DAV, "allprop")) {
            pf->kind = VD_PROPFIND_ALLPROP;
        } else if (is_el(c, VD_NS_DAV, "propname")) {
            pf->kind = VD_PROPFIND_PROPNAME;
        } else if (is_el(c, VD_NS_DAV, "prop")) {
            pf->kind = VD_PROPFIND_PROP;
            rc = parse_prop_list(c, pf, d);
        } else if (is_el(c, VD_NS_DAV, "include")) {
            rc = parse_prop_list(c, pf, d);
        }
        if (rc != VD_OK)
            return rc;
    }
    return VD_OK;
}

vd_err vd_dav_parse_propfind(const char *body, size_t len, vd_propfind *out, vd_diag *d)
{
    xmlDocPtr doc = NULL;
    memset(out, 0, sizeof *out);
    out->kind = VD_PROPFIND_ALLPROP;
    /* RFC 4918 9.1: an empty PROPFIND body MUST be treated as allprop. */
    if (!body || blank_body(body, len))
        return VD_OK;
    vd_err rc = parse_root(body, len, VD_NS_DAV, "propfind", &doc, d);
    if (rc == VD_OK)
        rc = parse_propsel(xmlDocGetRootElement(doc), out, d);
    if (rc != VD_OK)
        vd_propfind_clear(out);
    xmlFreeDoc(doc);
    return rc;
}

void vd_propfind_clear(vd_propfind *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_props; i++)
        qname_clear(&p->props[i]);
    free(p->props);
    vd_caldata_spec_clear(&p->caldata);
    memset(p, 0, sizeof *p);
}

/* ---------- PROPPATCH / MKCOL ---------- */

/* The element alone, in a document of its own: xmlDocCopyNode declares on
 * the copy every namespace it borrowed from ancestors; reconciling makes
 * sure nothing is left undeclared.  Attributes and children are kept. */
static char *serialise_standalone(xmlNode *n)
{
    char *r = NULL;
    xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlBufferPtr xb = xmlBufferCreate();
    xmlNode *copy = doc ? xmlDocCopyNode(n, doc, 1) : NULL;
    if (!copy || !xb)
        goto done;
    xmlDocSetRootElement(doc, copy);
    xmlReconciliateNs(doc, copy);
    if (xmlNodeDump(xb, doc, copy, 0, 0) < 0)
        goto done;
    r = xstrdup((const char *)xmlBufferContent(xb));
done:
    if (xb)
        xmlBufferFree(xb);
    xmlFreeDoc(doc);
    return r;
}

static vd_err fill_op(vd_propop *op, xmlNode *el, bool remove, vd_diag *d)
{
    op->remove = remove;
    qname_set(&op->name, el);
    if (remove)
        return VD_OK;
    op->xml = serialise_standalone(el);
    if (!op->xml)
        return bad(d, "cannot serialise property value");
    op->text = own_text(el);
    FOR_EL(c, el) {
        if (op->n_children >= VD_DAVXML_MAX_PROPS)
            return bad(d, "property value has too many elements");
        GROW(op->children, op->n_children);
        vd_propchild *pc = &op->children[op->n_children++];
        qname_set(&pc->name, c);
        pc->name_attr = attr(c, "name");
        pc->text = all_text(c, false);
        if (!pc->text[0]) {
            free(pc->text);
            pc->text = NULL;
        }
    }
    return VD_OK;
}

/* DAV:set / DAV:remove children of root, each holding DAV:prop elements. */
static vd_err parse_updates(xmlNode *root, vd_propupdate *u, bool allow_remove, vd_diag *d)
{
    FOR_EL(c, root) {
        bool set = is_el(c, VD_NS_DAV, "set"), remove = is_el(c, VD_NS_DAV, "remove");
        if (!set && !remove)
            continue;                   /* RFC 4918 17: ignore unknown elements */
        if (remove && !allow_remove)
            return bad(d, "DAV:remove is not allowed here");
        FOR_EL(p, c) {
            if (!is_el(p, VD_NS_DAV, "prop"))
                continue;
            FOR_EL(el, p) {
                if (u->n_ops >= VD_DAVXML_MAX_PROPS)
                    return bad(d, "too many properties in request");
                GROW(u->ops, u->n_ops);
                vd_propop *op = &u->ops[u->n_ops++];
                memset(op, 0, sizeof *op);
                vd_err rc = fill_op(op, el, remove, d);
                if (rc != VD_OK)
                    return rc;
            }
        }
    }
    return VD_OK;
}

vd_err vd_dav_parse_proppatch(const char *body, size_t len, vd_propupdate *out, vd_diag *d)
{
    xmlDocPtr doc = NULL;
    memset(out, 0, sizeof *out);
    if (!body || blank_body(body, len))
        return bad(d, "PROPPATCH needs a DAV:propertyupdate body");
    vd_err rc = parse_root(body, len, VD_NS_DAV, "propertyupdate", &doc, d);
    if (rc == VD_OK)
        rc = parse_updates(xmlDocGetRootElement(doc), out, true, d);
    if (rc == VD_OK && out->n_ops == 0)
        rc = bad(d, "DAV:propertyupdate names no property");
    if (rc != VD_OK)
        vd_propupdate_clear(out);
    xmlFreeDoc(doc);
    return rc;
}

vd_err vd_dav_parse_mkcol(const char *body, size_t len, vd_propupdate *out, vd_diag *d)
{
    xmlDocPtr doc = NULL;
    memset(out, 0, sizeof *out);
    if (!body || blank_body(body, len))
        return VD_OK;                   /* RFC 4791 5.3.1: the body is optional */
    vd_err rc = parse_doc(body, len, &doc, NULL, d);
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (rc == VD_OK && !is_el(root, VD_NS_CALDAV, "mkcalendar") && !is_el(root, VD_NS_DAV, "mkcol"))
        rc = bad(d, "root element must be C:mkcalendar or DAV:mkcol");
    if (rc == VD_OK)
        rc = parse_updates(root, out, false, d);
    if (rc != VD_OK)
        vd_propupdate_clear(out);
    xmlFreeDoc(doc);
    return rc;
}

char *vd_dav_prop_text(const char *xml)
{
    if (strncmp(xml, "<?xml", 5) == 0) {
        const char *e = strstr(xml, "?>");
        xml = e ? e + 2 : xml;
    }
    /* wrapped as a propertyupdate: the fragment declares its namespaces */
    vd_buf b = VD_BUF_INIT;
    vd_buf_puts(&b, "<D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop>");
    vd_buf_puts(&b, xml);
    vd_buf_puts(&b, "</D:prop></D:set></D:propertyupdate>");
    vd_propupdate pu = {0};
    char *text = NULL;
    if (vd_dav_parse_proppatch(b.data, b.len, &pu, NULL) == VD_OK && pu.n_ops == 1 &&
        pu.ops[0].text)
        text = xstrdup(pu.ops[0].text);
    vd_propupdate_clear(&pu);
    vd_buf_free(&b);
    return text;
}

void vd_propupdate_clear(vd_propupdate *u)
{
    if (!u)
        return;
    for (size_t i = 0; i < u->n_ops; i++) {
        vd_propop *op = &u->ops[i];
        qname_clear(&op->name);
        free(op->xml);
        free(op->text);
        for (size_t k = 0; k < op->n_children; k++) {
            qname_clear(&op->children[k].name);
            free(op->children[k].name_attr);
            free(op->children[k].text);
        }
        free(op->children);
    }
    free(u->ops);
    memset(u, 0, sizeof *u);
}

/* ---------- REPORT: calendar-query filter (RFC 4791 9.7) ---------- */

typedef struct fctx {
    vd_diag *d;
    int budget;                         /* elements left before VD_DAVXML_MAX_FILTER */
} fctx;

static vd_err invalid_filter(fctx *f, const char *fmt, const char *arg)
{
    vd_diag_set(f->d, 403, VD_NS_CALDAV, "valid-filter", fmt, arg ? arg : "");
    return VD_EINVAL;
}

static vd_err spend(fctx *f)
{
    if (--f->budget < 0)
        return invalid_filter(f, "filter has more than %s elements", "1000");
    return VD_OK;
}

/* RFC 4791 9.9: at least one of start/end; a missing one is unbounded. */
static vd_err filter_time_range(const xmlNode *n, vd_time *start, vd_time *end, fctx *f)
{
    char *s = attr(n, "start"), *e = attr(n, "end");
    vd_err rc = VD_OK;
    *start = VD_TIME_MIN;
    *end = VD_TIME_MAX;
    if (!s && !e)
        rc = invalid_filter(f, "time-range without start or end%s", NULL);
    else if ((s && vd_time_parse_utc(s, start) != VD_OK) ||
             (e && vd_time_parse_utc(e, end) != VD_OK))
        rc = invalid_filter(f, "time-range value is not a UTC date-time%s", NULL);
    free(s);
    free(e);
    return rc;
}

static vd_err filter_text_match(const xmlNode *n, vd_textmatch **out, fctx *f)
{
    vd_textmatch *t = xrealloc(NULL, sizeof *t);
    memset(t, 0, sizeof *t);
    *out = t;
    t->text = all_text(n, true);
    char *coll = attr(n, "collation"), *neg = attr(n, "negate-condition");
    vd_err rc = VD_OK;
    t->negate = neg && strcmp(neg, "yes") == 0;
    if (!coll || strcmp(coll, "i;ascii-casemap") == 0)
        t->collation = VD_COLL_ASCII_CASEMAP;
    else if (strcmp(coll, "i;octet") == 0)
        t->collation = VD_COLL_OCTET;
    else if (strcmp(coll, "i;unicode-casemap") == 0)
        t->collation = VD_COLL_UNICODE_CASEMAP;
    else {
        /* RFC 4791 7.5.1: unsupported collation -> supported-collation. */
        vd_diag_set(f->d, 403, VD_NS_CALDAV, "supported-collation",
                    "collation %.100s is not supported", coll);
        rc = VD_EINVAL;
    }
    free(coll);
    free(neg);
    return rc;
}

/* name="..." of a filter element, upper-cased; required. */
static vd_err filter_name(const xmlNode *n, char **out, fctx *f)
{
    *out = attr(n, "name");
    if (!*out || !(*out)[0])
        return invalid_filter(f, "%s without a name", (const char *)n->name);
    upcase(*out);
    return VD_OK;
}

static vd_err filter_param(const xmlNode *n, vd_paramfilter **out, fctx *f)
{
    vd_paramfilter *p = xrealloc(NULL, sizeof *p);
    memset(p, 0, sizeof *p);
    *out = p;
    vd_err rc = filter_name(n, &p->name, f);
    FOR_EL(c, n) {
        if (rc == VD_OK)
            rc = spend(f);
        if (rc != VD_OK)
            break;
        if (is_el(c, VD_NS_CALDAV, "is-not-defined"))
            p->is_not_defined = true;
        else if (is_el(c, VD_NS_CALDAV, "text-match") && !p->text_match)
            rc = filter_text_match(c, &p->text_match, f);
    }
    return rc;
}

static vd_err filter_prop(const xmlNode *n, vd_propfilter **out, fctx *f)
{
    vd_propfilter *p = xrealloc(NULL, sizeof *p);
    memset(p, 0, sizeof *p);
    p->start = VD_TIME_MIN;
    p->end = VD_TIME_MAX;
    *out = p;
    vd_paramfilter **tail = &p->params;
    vd_err rc = filter_name(n, &p->name, f);
    FOR_EL(c, n) {
        if (rc == VD_OK)
            rc = spend(f);
        if (rc != VD_OK)
            break;
        if (is_el(c, VD_NS_CALDAV, "is-not-defined")) {
            p->is_not_defined = true;
        } else if (is_el(c, VD_NS_CALDAV, "time-range")) {
            p->has_time_range = true;
            rc = filter_time_range(c, &p->start, &p->end, f);
        } else if (is_el(c, VD_NS_CALDAV, "text-match") && !p->text_match) {
            rc = filter_text_match(c, &p->text_match, f);
        } else if (is_el(c, VD_NS_CALDAV, "param-filter")) {
            rc = filter_param(c, tail, f);
            tail = &(*tail)->next;
        }
    }
    return rc;
}

static vd_err filter_comp(const xmlNode *n, vd_compfilter **out, fctx *f)
{
    vd_compfilter *cf = xrealloc(NULL, sizeof *cf);
    memset(cf, 0, sizeof *cf);
    cf->start = VD_TIME_MIN;
    cf->end = VD_TIME_MAX;
    *out = cf;
    vd_propfilter **ptail = &cf->props;
    vd_compfilter **ctail = &cf->comps;
    vd_err rc = filter_name(n, &cf->name, f);
    FOR_EL(c, n) {
        if (rc == VD_OK)
            rc = spend(f);
        if (rc != VD_OK)
            break;
        if (is_el(c, VD_NS_CALDAV, "is-not-defined")) {
            cf->is_not_defined = true;
        } else if (is_el(c, VD_NS_CALDAV, "time-range")) {
            cf->has_time_range = true;
            rc = filter_time_range(c, &cf->start, &cf->end, f);
        } else if (is_el(c, VD_NS_CALDAV, "prop-filter")) {
            rc = filter_prop(c, ptail, f);
            ptail = &(*ptail)->next;
        } else if (is_el(c, VD_NS_CALDAV, "comp-filter")) {
            rc = filter_comp(c, ctail, f);
            ctail = &(*ctail)->next;
        }
    }
    return rc;
}

/* RFC 4791 9.7: CALDAV:filter holds exactly one comp-filter, for VCALENDAR. */
static vd_err parse_filter(const xmlNode *filter, vd_report *r, vd_diag *d)
{
    fctx f = { .d = d, .budget = VD_DAVXML_MAX_FILTER };
    xmlNode *cf = next_el(filter->children);
    if (!cf || !is_el(cf, VD_NS_CALDAV, "comp-filter") || next_el(cf->next))
        return invalid_filter(&f, "filter must hold exactly one comp-filter%s", NULL);
    vd_err rc = filter_comp(cf, &r->filter, &f);
    if (rc == VD_OK && strcmp(r->filter->name, "VCALENDAR") != 0)
        rc = invalid_filter(&f, "top-level comp-filter must be VCALENDAR, not %.60s",
                            r->filter->name);
    return rc;
}

/* ---------- REPORT bodies ---------- */

static vd_err rep_calendar_query(xmlNode *root, vd_report *r, vd_diag *d)
{
    vd_err rc = parse_propsel(root, &r->props, d);
    FOR_EL(c, root) {
        if (rc != VD_OK)
            break;
        if (is_el(c, VD_NS_CALDAV, "filter") && !r->filter)
            rc = parse_filter(c, r, d);
        else if (is_el(c, VD_NS_CALDAV, "timezone") && !r->timezone)
            r->timezone = all_text(c, false);
    }
    if (rc == VD_OK && !r->filter) {
        vd_diag_set(d, 403, VD_NS_CALDAV, "valid-filter", "calendar-query without CALDAV:filter");
        rc = VD_EINVAL;
    }
    return rc;
}

/* The hrefs (gathered by the parse into h, see href_sink) go into ONE
 * allocation: the pointer array followed by the strings (vd_report_clear
 * frees only r->hrefs). */
static vd_err rep_multiget(xmlNode *root, vd_report *r, href_sink *h, vd_diag *d)
{
    vd_err rc = parse_propsel(root, &r->props, d);
    if (rc != VD_OK)
        return rc;
    if (h->n > VD_DAVXML_MAX_HREFS)
        return bad(d, "too many hrefs in calendar-multiget");
    if (h->n == 0)
        return VD_OK;
    r->hrefs = xrealloc(NULL, h->n * sizeof *r->hrefs + h->blob.len);
    char *dst = memcpy(r->hrefs + h->n, h->blob.data, h->blob.len);
    for (size_t i = 0; i < h->n; i++) {
        r->hrefs[i] = dst;
        dst += strlen(dst) + 1;
    }
    r->n_hrefs = h->n;
    return VD_OK;
}

static vd_err rep_sync(xmlNode *root, vd_report *r, vd_diag *d)
{
    vd_err rc = parse_propsel(root, &r->props, d);
    FOR_EL(c, root) {
        if (rc != VD_OK)
            break;
        if (is_el(c, VD_NS_DAV, "sync-token") && !r->sync_token) {
            r->sync_token = all_text(c, false);
        } else if (is_el(c, VD_NS_DAV, "sync-level")) {
            char *lv = all_text(c, false);
            if (strcmp(lv, "1") == 0)
                r->sync_level = 1;
            else if (strcmp(lv, "infinite") == 0 || strcmp(lv, "infinity") == 0)
                r->sync_level = -1;
            else
                rc = bad(d, "sync-level must be 1 or infinite");
            free(lv);
        } else if (is_el(c, VD_NS_DAV, "limit")) {
            FOR_EL(nr, c) {
                if (!is_el(nr, VD_NS_DAV, "nresults"))
                    continue;
                char *v = all_text(nr, false), *end = NULL;
                errno = 0;
                long n = strtol(v, &end, 10);
                if (!v[0] || *end || errno || n < 1)
                    rc = bad(d, "limit/nresults must be a positive integer");
                else
                    r->limit = n;
                free(v);
            }
        }
    }
    return rc;
}

static vd_err rep_freebusy(xmlNode *root, vd_report *r, vd_diag *d)
{
    fctx f = { .d = d, .budget = VD_DAVXML_MAX_FILTER };
    FOR_EL(c, root)
        if (is_el(c, VD_NS_CALDAV, "time-range"))
            return filter_time_range(c, &r->fb_start, &r->fb_end, &f);
    /* RFC 4791 7.10: the time-range element is required. */
    return invalid_filter(&f, "free-busy-query without CALDAV:time-range%s", NULL);
}

/* DAV:property name= namespace= (RFC 3253 3.8); namespace defaults to DAV:. */
static vd_err expand_qname(const xmlNode *n, vd_qname *q, vd_diag *d)
{
    char *name = attr(n, "name"), *ns = attr(n, "namespace");
    if (!name || !name[0]) {
        free(name);
        free(ns);
        return bad(d, "expand-property: DAV:property without a name");
    }
    q->name = name;
    q->ns = ns ? ns : xstrdup(VD_NS_DAV);
    return VD_OK;
}

static vd_err rep_expand(xmlNode *root, vd_report *r, vd_diag *d)
{
    r->props.kind = VD_PROPFIND_PROP;
    FOR_EL(c, root) {
        if (!is_el(c, VD_NS_DAV, "property"))
            continue;
        size_t i = r->props.n_props;
        if (i >= VD_DAVXML_MAX_PROPS)
            return bad(d, "too many properties in request");
        GROW(r->props.props, i);
        GROW(r->expand_sub, i);
        GROW(r->n_expand_sub, i);
        memset(&r->props.props[i], 0, sizeof r->props.props[i]);
        r->expand_sub[i] = NULL;
        r->n_expand_sub[i] = 0;
        r->props.n_props++;
        vd_err rc = expand_qname(c, &r->props.props[i], d);
        FOR_EL(s, c) {
            if (rc != VD_OK)
                break;
            if (!is_el(s, VD_NS_DAV, "property"))
                continue;
            if (r->n_expand_sub[i] >= VD_DAVXML_MAX_PROPS)
                return bad(d, "too many properties in request");
            GROW(r->expand_sub[i], r->n_expand_sub[i]);
            vd_qname *q = &r->expand_sub[i][r->n_expand_sub[i]];
            memset(q, 0, sizeof *q);
            r->n_expand_sub[i]++;
            rc = expand_qname(s, q, d);
        }
        if (rc != VD_OK)
            return rc;
    }
    return VD_OK;
}

static vd_err rep_pps(xmlNode *root, vd_report *r, vd_diag *d)
{
    char *test = attr(root, "test");
    r->search_anyof = test && strcmp(test, "anyof") == 0;
    free(test);
    vd_err rc = VD_OK;
    FOR_EL(c, root) {
        if (is_el(c, VD_NS_DAV, "prop")) {
            r->props.kind = VD_PROPFIND_PROP;
            rc = parse_prop_list(c, &r->props, d);
        } else if (is_el(c, VD_NS_DAV, "property-search")) {
            if (r->n_searches >= VD_DAVXML_MAX_PROPS)
                return bad(d, "too many property-search elements");
            GROW(r->searches, r->n_searches);
            vd_propsearch *ps = &r->searches[r->n_searches++];
            memset(ps, 0, sizeof *ps);
            FOR_EL(s, c) {
                if (rc != VD_OK)
                    break;
                if (is_el(s, VD_NS_DAV, "prop")) {
                    FOR_EL(q, s)
                        if (rc == VD_OK)
                            rc = add_qname(&ps->props, &ps->n_props, q, d);
                } else if (is_el(s, VD_NS_DAV, "match") && !ps->match) {
                    ps->match = all_text(s, false);
                }
            }
        }
        if (rc != VD_OK)
            return rc;
    }
    return VD_OK;
}

vd_err vd_dav_parse_report(const char *body, size_t len, vd_report *out, vd_diag *d)
{
    xmlDocPtr doc = NULL;
    memset(out, 0, sizeof *out);
    out->limit = -1;
    out->kind = VD_REPORT_UNKNOWN;
    if (!body || blank_body(body, len))
        return bad(d, "REPORT needs a body");
    href_sink hrefs = { VD_BUF_INIT, 0, false, 0, 0 };
    vd_err rc = parse_doc(body, len, &doc, &hrefs, d);
    if (rc != VD_OK) {
        vd_buf_free(&hrefs.blob);
        return rc;
    }
    xmlNode *root = xmlDocGetRootElement(doc);
    qname_set(&out->root, root);
    if (is_el(root, VD_NS_CALDAV, "calendar-query")) {
        out->kind = VD_REPORT_CALENDAR_QUERY;
        rc = rep_calendar_query(root, out, d);
    } else if (is_el(root, VD_NS_CALDAV, "calendar-multiget")) {
        out->kind = VD_REPORT_CALENDAR_MULTIGET;
        rc = rep_multiget(root, out, &hrefs, d);
    } else if (is_el(root, VD_NS_CALDAV, "free-busy-query")) {
        out->kind = VD_REPORT_FREE_BUSY_QUERY;
        rc = rep_freebusy(root, out, d);
    } else if (is_el(root, VD_NS_DAV, "sync-collection")) {
        out->kind = VD_REPORT_SYNC_COLLECTION;
        rc = rep_sync(root, out, d);
    } else if (is_el(root, VD_NS_DAV, "expand-property")) {
        out->kind = VD_REPORT_EXPAND_PROPERTY;
        rc = rep_expand(root, out, d);
    } else if (is_el(root, VD_NS_DAV, "principal-property-search")) {
        out->kind = VD_REPORT_PRINCIPAL_PROPERTY_SEARCH;
        rc = rep_pps(root, out, d);
    } else if (is_el(root, VD_NS_DAV, "principal-search-property-set")) {
        out->kind = VD_REPORT_PRINCIPAL_SEARCH_PROPERTY_SET;
    }
    if (rc != VD_OK)
        vd_report_clear(out);
    vd_buf_free(&hrefs.blob);
    xmlFreeDoc(doc);
    return rc;
}

void vd_report_clear(vd_report *r)
{
    if (!r)
        return;
    if (r->expand_sub) {
        for (size_t i = 0; i < r->props.n_props; i++) {
            for (size_t k = 0; k < r->n_expand_sub[i]; k++)
                qname_clear(&r->expand_sub[i][k]);
            free(r->expand_sub[i]);
        }
    }
    free(r->expand_sub);
    free(r->n_expand_sub);
    qname_clear(&r->root);
    vd_propfind_clear(&r->props);
    vd_compfilter_free(r->filter);
    free(r->timezone);
    free(r->hrefs);                     /* one block: array + strings (rep_multiget) */
    free(r->sync_token);
    for (size_t i = 0; i < r->n_searches; i++) {
        for (size_t k = 0; k < r->searches[i].n_props; k++)
            qname_clear(&r->searches[i].props[k]);
        free(r->searches[i].props);
        free(r->searches[i].match);
    }
    free(r->searches);
    memset(r, 0, sizeof *r);
    r->limit = -1;
}
