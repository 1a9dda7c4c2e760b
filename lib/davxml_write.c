/* davxml_write.c - the writing half of davxml.h: multistatus bodies,
 * DAV:error bodies, element helpers and HTTP status lines.
 * Owns: every byte of XML the server writes; all text and attribute values
 * pass through vd_buf_xml_escape, all hrefs through vd_path_encode.
 * Must not: parse anything, or use a default namespace (values written by
 * callers and stored dead properties rely on there being none). */
#include "davxml.h"
#include "path.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The fixed prefixes, declared once on every root element we write. */
static const struct { const char *ns, *prefix; } fixed_ns[] = {
    { VD_NS_DAV,    "D"  },
    { VD_NS_CALDAV, "C"  },
    { VD_NS_CS,     "CS" },
    { VD_NS_APPLE,  "A"  },
    { VD_NS_VISIT,  "V"  },
};
#define N_FIXED (sizeof fixed_ns / sizeof fixed_ns[0])
/* Prefix for any other namespace, declared on the element that uses it. */
#define OTHER_PREFIX "X"

static const char *fixed_prefix(const char *ns)
{
    for (size_t i = 0; i < N_FIXED; i++)
        if (ns == fixed_ns[i].ns || strcmp(ns, fixed_ns[i].ns) == 0)
            return fixed_ns[i].prefix;
    return NULL;
}

static void puts_escaped(vd_buf *b, const char *s)
{
    vd_buf_xml_escape(b, s ? s : "", s ? strlen(s) : 0);
}

static void root_open(vd_buf *b, const char *name)
{
    vd_buf_puts(b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:");
    vd_buf_puts(b, name);
    for (size_t i = 0; i < N_FIXED; i++) {
        vd_buf_puts(b, " xmlns:");
        vd_buf_puts(b, fixed_ns[i].prefix);
        vd_buf_puts(b, "=\"");
        vd_buf_puts(b, fixed_ns[i].ns);
        vd_buf_append(b, "\"", 1);
    }
    vd_buf_append(b, ">", 1);
}

/* Tags are written with plain appends, not printf: a multistatus of 100
 * events writes thousands of them. */
void vd_xml_open_tag(vd_buf *b, const char *ns, const char *name)
{
    const char *p;
    if (!ns || !ns[0]) {                 /* no namespace: safe, nothing is defaulted */
        vd_buf_append(b, "<", 1);
        vd_buf_puts(b, name);
    } else if ((p = fixed_prefix(ns))) {
        vd_buf_append(b, "<", 1);
        vd_buf_puts(b, p);
        vd_buf_append(b, ":", 1);
        vd_buf_puts(b, name);
    } else {
        vd_buf_puts(b, "<" OTHER_PREFIX ":");
        vd_buf_puts(b, name);
        vd_buf_puts(b, " xmlns:" OTHER_PREFIX "=\"");
        puts_escaped(b, ns);
        vd_buf_append(b, "\"", 1);
    }
}

void vd_xml_close_tag(vd_buf *b, const char *ns, const char *name)
{
    const char *p;
    vd_buf_append(b, "</", 2);
    if (ns && ns[0]) {
        vd_buf_puts(b, (p = fixed_prefix(ns)) ? p : OTHER_PREFIX);
        vd_buf_append(b, ":", 1);
    }
    vd_buf_puts(b, name);
    vd_buf_append(b, ">", 1);
}

void vd_xml_empty(vd_buf *b, const char *ns, const char *name)
{
    vd_xml_open_tag(b, ns, name);
    vd_buf_puts(b, "/>");
}

void vd_xml_text(vd_buf *b, const char *ns, const char *name, const char *text)
{
    vd_xml_open_tag(b, ns, name);
    vd_buf_puts(b, ">");
    puts_escaped(b, text);
    vd_xml_close_tag(b, ns, name);
}

/* An encoded path holds only unreserved characters, '/', '@', '+', ':'
 * and %XX: nothing XML would need escaped, so it is written as it is. */
void vd_xml_href(vd_buf *b, const char *path)
{
    vd_buf_append(b, "<D:href>", 8);
    vd_path_encode_buf(b, path ? path : "");
    vd_buf_append(b, "</D:href>", 9);
}

/* ---------- status lines ---------- */

static const struct { int code; const char *line; } status_lines[] = {
    { 200, "HTTP/1.1 200 OK" },
    { 201, "HTTP/1.1 201 Created" },
    { 204, "HTTP/1.1 204 No Content" },
    { 207, "HTTP/1.1 207 Multi-Status" },
    { 301, "HTTP/1.1 301 Moved Permanently" },
    { 302, "HTTP/1.1 302 Found" },
    { 304, "HTTP/1.1 304 Not Modified" },
    { 307, "HTTP/1.1 307 Temporary Redirect" },
    { 308, "HTTP/1.1 308 Permanent Redirect" },
    { 400, "HTTP/1.1 400 Bad Request" },
    { 401, "HTTP/1.1 401 Unauthorized" },
    { 403, "HTTP/1.1 403 Forbidden" },
    { 404, "HTTP/1.1 404 Not Found" },
    { 405, "HTTP/1.1 405 Method Not Allowed" },
    { 406, "HTTP/1.1 406 Not Acceptable" },
    { 409, "HTTP/1.1 409 Conflict" },
    { 410, "HTTP/1.1 410 Gone" },
    { 411, "HTTP/1.1 411 Length Required" },
    { 412, "HTTP/1.1 412 Precondition Failed" },
    { 413, "HTTP/1.1 413 Content Too Large" },
    { 414, "HTTP/1.1 414 URI Too Long" },
    { 415, "HTTP/1.1 415 Unsupported Media Type" },
    { 422, "HTTP/1.1 422 Unprocessable Entity" },
    { 423, "HTTP/1.1 423 Locked" },
    { 424, "HTTP/1.1 424 Failed Dependency" },
    { 429, "HTTP/1.1 429 Too Many Requests" },
    { 500, "HTTP/1.1 500 Internal Server Error" },
    { 501, "HTTP/1.1 501 Not Implemented" },
    { 502, "HTTP/1.1 502 Bad Gateway" },
    { 503, "HTTP/1.1 503 Service Unavailable" },
    { 507, "HTTP/1.1 507 Insufficient Storage" },
};

const char *vd_http_status_line(int status)
{
    static _Thread_local char other[48];
    for (size_t i = 0; i < sizeof status_lines / sizeof status_lines[0]; i++)
        if (status_lines[i].code == status)
            return status_lines[i].line;
    snprintf(other, sizeof other, "HTTP/1.1 %d %s", status,
             status >= 500 ? "Server Error" : status >= 400 ? "Client Error" :
             status >= 300 ? "Redirection" : "Success");
    return other;
}

/* Reason phrase alone ("Not Found"), for messages. */
static const char *reason(int status)
{
    const char *l = vd_http_status_line(status);
    return l + strlen("HTTP/1.1 000 ");
}

/* ---------- multistatus ---------- */

void vd_ms_begin(vd_buf *b)
{
    root_open(b, "multistatus");
}

static void status_elem(vd_buf *b, int status)
{
    vd_buf_puts(b, "<D:status>");
    vd_buf_puts(b, vd_http_status_line(status));
    vd_buf_puts(b, "</D:status>");
}

static void prop_value(vd_buf *b, const vd_propresult *p)
{
    if (p->status == 200 && p->raw_element && p->value) {
        vd_buf_puts(b, p->value);         /* a dead property, stored standalone */
    } else if (p->status == 200 && p->value) {
        vd_xml_open_tag(b, p->ns, p->name);
        vd_buf_puts(b, ">");
        vd_buf_puts(b, p->value);
        vd_xml_close_tag(b, p->ns, p->name);
    } else {
        vd_xml_empty(b, p->ns, p->name);
    }
}

static void propstat(vd_buf *b, const vd_propresult *r, size_t n, int status)
{
    vd_buf_puts(b, "<D:propstat><D:prop>");
    for (size_t i = 0; i < n; i++)
        if (r[i].status == status)
            prop_value(b, &r[i]);
    vd_buf_puts(b, "</D:prop>");
    status_elem(b, status);
    vd_buf_puts(b, "</D:propstat>");
}

/* Was status already seen before index i? */
static bool seen_before(const vd_propresult *r, size_t i)
{
    for (size_t k = 0; k < i; k++)
        if (r[k].status == r[i].status)
            return true;
    return false;
}

/* The propstats of the results that are not 200, one per distinct status
 * in order of first appearance; wrote: a 200 propstat is already there. */
static void other_propstats(vd_buf *b, const vd_propresult *r, size_t n, bool brief, bool wrote)
{
    for (size_t i = 0; i < n; i++) {
        int st = r[i].status;
        if (st == 200 || (brief && st == 404) || seen_before(r, i))
            continue;
        propstat(b, r, n, st);
        wrote = true;
    }
    if (!wrote)                           /* RFC 4918 14.24: a response needs a propstat */
        vd_buf_puts(b, "<D:propstat><D:prop/><D:status>HTTP/1.1 200 OK</D:status></D:propstat>");
    vd_buf_puts(b, "</D:response>");
}

void vd_ms_response(vd_buf *b, const char *href, const vd_propresult *r, size_t n, bool brief)
{
    bool any200 = false;
    vd_buf_puts(b, "<D:response>");
    vd_xml_href(b, href);
    for (size_t i = 0; i < n; i++)
        any200 |= r[i].status == 200;
    if (any200)                           /* the found properties first */
        propstat(b, r, n, 200);
    other_propstats(b, r, n, brief, any200);
}

#define OPEN_200 "<D:propstat><D:prop>"
#define CLOSE_200 "</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>"

size_t vd_ms_response_begin(vd_buf *b, const char *href)
{
    vd_buf_puts(b, "<D:response>");
    vd_xml_href(b, href);
    size_t mark = b->len;
    vd_buf_append(b, OPEN_200, sizeof OPEN_200 - 1);
    return mark;
}

void vd_ms_response_end(vd_buf *b, size_t mark, const vd_propresult *r, size_t n, bool brief)
{
    bool any200 = b->len > mark + sizeof OPEN_200 - 1;
    if (any200) {
        vd_buf_append(b, CLOSE_200, sizeof CLOSE_200 - 1);
    } else {                              /* nothing found: no empty 200 propstat */
        b->len = mark;
        b->data[mark] = '\0';
    }
    other_propstats(b, r, n, brief, any200);
}

void vd_ms_status(vd_buf *b, const char *href, int status)
{
    vd_buf_puts(b, "<D:response>");
    vd_xml_href(b, href);
    status_elem(b, status);
    vd_buf_puts(b, "</D:response>");
}

void vd_ms_status_href(vd_buf *b, const char *encoded_href, int status)
{
    vd_buf_puts(b, "<D:response><D:href>");
    puts_escaped(b, encoded_href);
    vd_buf_puts(b, "</D:href>");
    status_elem(b, status);
    vd_buf_puts(b, "</D:response>");
}

void vd_ms_sync_token(vd_buf *b, const char *token)
{
    vd_xml_text(b, VD_NS_DAV, "sync-token", token);
}

void vd_ms_end(vd_buf *b)
{
    vd_buf_puts(b, "</D:multistatus>\n");
}

/* ---------- DAV:error (RFC 4918 16) ---------- */

void vd_dav_error_body(vd_buf *b, const vd_diag *d)
{
    root_open(b, "error");
    if (d && d->precond && d->precond[0]) {
        const char *ns = d->precond_ns ? d->precond_ns : VD_NS_DAV;
        if (d->href[0]) {
            vd_xml_open_tag(b, ns, d->precond);
            vd_buf_puts(b, "><D:href>");
            puts_escaped(b, d->href);     /* already an encoded href */
            vd_buf_puts(b, "</D:href>");
            vd_xml_close_tag(b, ns, d->precond);
        } else {
            vd_xml_empty(b, ns, d->precond);
        }
    }
    /* Always a description: an empty <D:error/> reads as rate limiting to
     * Thunderbird (CalDavRequestHandlers). */
    const char *msg = d && d->message[0] ? d->message
                      : d && d->status ? reason(d->status) : "Error";
    vd_xml_text(b, VD_NS_DAV, "responsedescription", msg);
    vd_buf_puts(b, "</D:error>\n");
}
