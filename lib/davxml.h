/* davxml.h - WebDAV/CalDAV request XML -> plain structs, and the one escaping
 * writer for multistatus / DAV:error bodies.  The only module (besides the
 * ical-independent parts of it) that includes libxml2.  Parsing is safe by
 * construction: no entity expansion, no DTD loading, no network
 * (XML_PARSE_NONET), a document with a DOCTYPE is refused, depth is capped
 * at VD_MAX_XML_DEPTH.  Callers never see an xmlNode. */
#ifndef VD_DAVXML_H
#define VD_DAVXML_H

#include "buf.h"
#include "calfilter.h"
#include "vd.h"

typedef struct vd_qname {
    char *ns;    /* namespace URI ("" when none) */
    char *name;  /* local name */
} vd_qname;

/* Count limits on request bodies; beyond them parsing fails with VD_EINVAL
 * (diag 400).  Nesting is capped at VD_MAX_XML_DEPTH (vd.h). */
#define VD_DAVXML_MAX_PROPS   1000   /* property names, ops, search terms per request */
#define VD_DAVXML_MAX_HREFS   10000  /* calendar-multiget hrefs */
#define VD_DAVXML_MAX_FILTER  1000   /* elements of one CALDAV:filter */

/* "{ns}name" (Clark notation), malloc'd. */
char *vd_qname_clark(const char *ns, const char *name);
bool  vd_qname_eq(const vd_qname *q, const char *ns, const char *name);

/* ---- PROPFIND (RFC 4918 9.1) ---- */
typedef enum { VD_PROPFIND_ALLPROP, VD_PROPFIND_PROPNAME, VD_PROPFIND_PROP } vd_propfind_kind;

typedef struct vd_propfind {
    vd_propfind_kind kind;
    vd_qname *props;   size_t n_props;     /* for PROP, and <include> of ALLPROP */
    vd_caldata_spec caldata;               /* if C:calendar-data is among props */
} vd_propfind;

/* Empty body (len 0) means allprop.  Errors: VD_EINVAL (diag 400) for
 * malformed XML or a root that is not DAV:propfind. */
vd_err vd_dav_parse_propfind(const char *body, size_t len, vd_propfind *out, vd_diag *d);
void   vd_propfind_clear(vd_propfind *p);

/* ---- PROPPATCH / MKCALENDAR / extended MKCOL (RFC 4918 9.2, RFC 4791 5.3.1, RFC 5689) ---- */
typedef struct vd_propchild {      /* a direct child element of a property value */
    vd_qname name;
    char *name_attr;               /* value of its "name" attribute (C:comp name="VEVENT"), or NULL */
    char *text;                    /* its text content, trimmed, or NULL */
} vd_propchild;

typedef struct vd_propop {
    bool remove;                   /* DAV:remove (else DAV:set) */
    vd_qname name;
    /* The whole property element serialised as a standalone XML fragment,
     * with every namespace it uses declared on it, attributes and children
     * kept exactly: what a dead property stores and returns.  NULL for remove. */
    char *xml;
    char *text;                    /* text content (trimmed), e.g. displayname; NULL if none */
    vd_propchild *children; size_t n_children;
} vd_propop;

typedef struct vd_propupdate {
    vd_propop *ops; size_t n_ops;  /* in document order */
} vd_propupdate;

/* PROPPATCH body: root DAV:propertyupdate. */
vd_err vd_dav_parse_proppatch(const char *body, size_t len, vd_propupdate *out, vd_diag *d);
/* MKCALENDAR body (root C:mkcalendar, may be empty -> zero ops) or extended
 * MKCOL body (root DAV:mkcol).  Only DAV:set ops appear. */
vd_err vd_dav_parse_mkcol(const char *body, size_t len, vd_propupdate *out, vd_diag *d);
void   vd_propupdate_clear(vd_propupdate *u);
/* The text content of a stored dead property element (as vd_propop.xml
 * kept it, optionally behind an XML declaration), read back through the
 * same safe parser; NULL if it has none.  malloc'd. */
char  *vd_dav_prop_text(const char *xml);

/* ---- REPORT ---- */
typedef enum vd_report_kind {
    VD_REPORT_CALENDAR_QUERY,       /* RFC 4791 7.8 */
    VD_REPORT_CALENDAR_MULTIGET,    /* RFC 4791 7.9 */
    VD_REPORT_FREE_BUSY_QUERY,      /* RFC 4791 7.10 */
    VD_REPORT_SYNC_COLLECTION,      /* RFC 6578 */
    VD_REPORT_EXPAND_PROPERTY,      /* RFC 3253 3.8 */
    VD_REPORT_PRINCIPAL_PROPERTY_SEARCH,   /* RFC 3744 9.4 */
    VD_REPORT_PRINCIPAL_SEARCH_PROPERTY_SET,
    VD_REPORT_UNKNOWN
} vd_report_kind;

typedef struct vd_propsearch {      /* one principal-property-search condition */
    vd_qname *props; size_t n_props;
    char *match;
} vd_propsearch;

typedef struct vd_report {
    vd_report_kind kind;
    vd_qname root;                  /* the root element, for error messages on UNKNOWN */
    vd_propfind props;              /* the requested props (DAV:prop / allprop / propname) */
    /* calendar-query */
    vd_compfilter *filter;          /* NULL if absent (that is a 400 for calendar-query) */
    char *timezone;                 /* C:timezone text (a VCALENDAR with one VTIMEZONE) or NULL */
    /* calendar-multiget: hrefs exactly as given (still encoded) */
    char **hrefs; size_t n_hrefs;
    /* sync-collection */
    char *sync_token;               /* "" for an empty <sync-token/>; NULL if element missing */
    int   sync_level;               /* 1, -1 for "infinite", 0 when absent */
    long  limit;                    /* <limit><nresults>, -1 if absent */
    /* free-busy-query */
    vd_time fb_start, fb_end;
    /* principal-property-search */
    vd_propsearch *searches; size_t n_searches;
    bool search_anyof;              /* test="anyof" */
    /* expand-property: the requested tree, flattened: top-level props in
     * props.props; sub-properties asked for each are in expand_sub (same
     * index), each a list of qnames. */
    vd_qname **expand_sub; size_t *n_expand_sub;
} vd_report;

/* Errors: VD_EINVAL (400) malformed; for calendar-query with a bad filter the
 * diag carries C:valid-filter; an unparseable time-range value gives
 * C:valid-filter too. An unknown root yields VD_OK with kind UNKNOWN. */
vd_err vd_dav_parse_report(const char *body, size_t len, vd_report *out, vd_diag *d);
void   vd_report_clear(vd_report *r);

/* ---- Writing ---- */
/* Fixed prefixes used in every body we write: D=DAV:, C=caldav, CS=calendarserver,
 * A=apple ical, V=visitdav.  Any other namespace is declared on the element. */

/* Result of looking up one property for one resource. */
typedef struct vd_propresult {
    const char *ns, *name;  /* borrowed */
    int status;             /* 200, 404, 403, 424, 409, ... */
    /* For 200: inner XML of the property element (already serialised and
     * escaped, using the fixed prefixes), or NULL for an empty element.
     * If raw_element is true, value is the complete element (a dead property
     * as stored) and is copied verbatim. */
    const char *value;
    bool raw_element;
} vd_propresult;

void vd_ms_begin(vd_buf *b);                       /* <?xml..?><D:multistatus xmlns:D=...> */
/* One <D:response> with propstats grouped by status (one <D:propstat> per
 * distinct status, 200 first). brief: omit 404s.  href is a DECODED path
 * (as in vd_xml_href); it is encoded here.  When nothing is left to show
 * (n == 0, or brief and all 404) an empty 200 propstat is written so the
 * response stays valid. */
void vd_ms_response(vd_buf *b, const char *href, const vd_propresult *r, size_t n, bool brief);
/* The same response written in two halves, for callers that append the
 * found (200) property elements themselves instead of copying them through
 * vd_propresult values (a multiget writes ~50 KB of calendar-data):
 * vd_ms_response_begin writes the response head and opens the 200 propstat
 * and returns a mark; the caller appends complete property elements;
 * vd_ms_response_end closes that propstat (or removes it when nothing was
 * appended), then writes r[0..n) (results that are not 200) as
 * vd_ms_response would, and </D:response>.  The bytes are those of
 * vd_ms_response for the same results. */
size_t vd_ms_response_begin(vd_buf *b, const char *href);
void   vd_ms_response_end(vd_buf *b, size_t mark, const vd_propresult *r, size_t n, bool brief);
/* One <D:response> with just <D:href> + <D:status> (e.g. 404 in multiget/sync).
 * href is a DECODED path, encoded here. */
void vd_ms_status(vd_buf *b, const char *href, int status);
/* As vd_ms_status, but href is already encoded (e.g. a multiget href echoed
 * exactly as the client sent it); it is only XML-escaped. */
void vd_ms_status_href(vd_buf *b, const char *encoded_href, int status);
/* RFC 6578: <D:sync-token> before closing. */
void vd_ms_sync_token(vd_buf *b, const char *token);
void vd_ms_end(vd_buf *b);                          /* </D:multistatus> */

/* Write an element name with the right prefix / inline xmlns into b,
 * e.g. "<D:getetag" (no closing '>'). Used to build values. */
void vd_xml_open_tag(vd_buf *b, const char *ns, const char *name);
void vd_xml_close_tag(vd_buf *b, const char *ns, const char *name);
/* <ns:name/> */
void vd_xml_empty(vd_buf *b, const char *ns, const char *name);
/* <ns:name>escaped text</ns:name> */
void vd_xml_text(vd_buf *b, const char *ns, const char *name, const char *text);
/* <D:href>encoded path</D:href> ; path is a decoded path, encoded here */
void vd_xml_href(vd_buf *b, const char *path);

/* A complete DAV:error body (RFC 4918 16) for d:
 * <D:error><P:precond>[<D:href>..</D:href>]</P:precond>
 *   <D:responsedescription>message</D:responsedescription></D:error>
 * If d->precond is NULL only the responsedescription is written (never an
 * empty <D:error/>: Thunderbird reads that exact string as rate limiting). */
void vd_dav_error_body(vd_buf *b, const vd_diag *d);

/* HTTP status line text for a code, e.g. 404 -> "HTTP/1.1 404 Not Found". */
const char *vd_http_status_line(int status);

#endif
