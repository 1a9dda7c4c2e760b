/* conditional.c - every precondition header a request can carry, evaluated
 * in one place: If-Match / If-None-Match (RFC 9110 13.1) and the WebDAV If
 * header (RFC 4918 10.4), plus the "is this URL ours" test that COPY/MOVE
 * Destination and tagged If lists share.
 *
 * The If header is parsed strictly into a bounded table first (a malformed
 * header is a 400 whatever the resource state), then evaluated.  This
 * server has no locks, so no state token ever matches.
 *
 * Must not: answer the client (handlers do, from the vd_diag), write to the
 * store, or know how ETags are made beyond vd_cond_node_etag. */
#include "conditional.h"
#include "access.h"

#include "../lib/path.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_IF_LEN   8192   /* bytes of an If header */
#define MAX_IF_LISTS 64     /* lists in one If header */
#define MAX_IF_CONDS 256    /* conditions in one If header, all lists */
#define MAX_HOST_LEN 256    /* host[:port] compared for locality */

const char *vd_cond_node_etag(const vd_node *n, char out[VD_COND_ETAG_LEN])
{
    if (n && n->kind == VD_NODE_RES && n->res.etag) {
        snprintf(out, VD_COND_ETAG_LEN, "%s", n->res.etag);
        return out;
    }
    if (n && n->kind == VD_NODE_COLL) {
        /* id tells a recreated collection apart, seq bumps on every change */
        snprintf(out, VD_COND_ETAG_LEN, "c%" PRIx64 "-%" PRIx64, n->coll.id, n->coll.seq);
        return out;
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* If-Match / If-None-Match (RFC 9110 13.1.1, 13.1.2)                   */

static void skip_ws(const char **p)
{
    while (**p == ' ' || **p == '\t')
        (*p)++;
}

static bool is_star(const char *h)
{
    skip_ws(&h);
    if (*h != '*')
        return false;
    h++;
    skip_ws(&h);
    return *h == '\0';
}

/* Does the entity-tag list h contain etag?  Strong comparison never
 * matches a weak tag; weak comparison ignores W/.  Malformed members never
 * match. */
static bool etag_list_has(const char *h, const char *etag, bool weak)
{
    size_t elen = strlen(etag);
    const char *p = h;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        bool is_weak = false;
        if (p[0] == 'W' && p[1] == '/') {
            is_weak = true;
            p += 2;
        }
        if (*p == '"') {
            const char *s = ++p;
            while (*p && *p != '"')
                p++;
            if (*p == '"' && (size_t)(p - s) == elen && memcmp(s, etag, elen) == 0
                && (weak || !is_weak))
                return true;
        }
        while (*p && *p != ',')
            p++;
    }
    return false;
}

/* 0 when If-Match and If-None-Match allow the request, else 412 / 304. */
static int match_headers(vd_request *r, const char *etag, bool safe, const char **which)
{
    const char *im = vd_req_header(r, "If-Match");
    if (im) {
        /* RFC 9110 13.1.1: "*" is true if the resource has a current representation */
        bool ok = is_star(im) ? etag != NULL : (etag && etag_list_has(im, etag, false));
        *which = "If-Match";
        if (!ok)
            return 412;
    }
    const char *inm = vd_req_header(r, "If-None-Match");
    if (inm) {
        bool match = is_star(inm) ? etag != NULL : (etag && etag_list_has(inm, etag, true));
        *which = "If-None-Match";
        /* RFC 9110 13.1.2: 304 for GET/HEAD, 412 for every other method */
        if (match)
            return safe ? 304 : 412;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The If header (RFC 4918 10.4.2):
 *   If = ( 1*No-tag-list ) | ( 1*Tagged-list )
 *   No-tag-list = List;  Tagged-list = Resource-Tag 1*List
 *   List = "(" 1*Condition ")"
 *   Condition = ["Not"] (State-token | "[" entity-tag "]")
 *   State-token = Coded-URL = "<" absolute-URI ">"
 *   Resource-Tag = "<" Simple-ref ">"   (absolute-URI or path-absolute)  */

typedef struct if_cond {
    bool negate, is_etag, weak;
    const char *v;          /* state token or opaque tag (no quotes), in the header */
    size_t n;
} if_cond;

typedef struct if_list {
    const char *tag;        /* Resource-Tag contents, NULL when untagged */
    size_t tag_len;
    size_t first, count;    /* its conditions in if_hdr.conds */
} if_list;

typedef struct if_hdr {
    if_cond conds[MAX_IF_CONDS];
    if_list lists[MAX_IF_LISTS];
    size_t n_conds, n_lists;
} if_hdr;

/* "<" visible chars except '<' and '>' ">" at *p; contents in v/n. */
static bool parse_angle(const char **p, const char **v, size_t *n)
{
    if (**p != '<')
        return false;
    const char *s = ++*p;
    while ((unsigned char)**p > 0x20 && (unsigned char)**p < 0x7f && **p != '<' && **p != '>')
        (*p)++;
    if (**p != '>' || *p == s)
        return false;
    *v = s;
    *n = (size_t)(*p - s);
    (*p)++;
    return true;
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* RFC 3986 absolute-URI starts with scheme ":" */
static bool has_scheme(const char *v, size_t n)
{
    if (n == 0 || !is_alpha(v[0]))
        return false;
    size_t i = 1;
    while (i < n && (is_alpha(v[i]) || (v[i] >= '0' && v[i] <= '9') || v[i] == '+'
                     || v[i] == '-' || v[i] == '.'))
        i++;
    return i < n && v[i] == ':';
}

/* "[" entity-tag "]" at *p (RFC 9110 8.8.3: [W/] DQUOTE *etagc DQUOTE). */
static bool parse_etag(const char **p, if_cond *c)
{
    const char *q = *p + 1;
    c->is_etag = true;
    c->weak = q[0] == 'W' && q[1] == '/';
    if (c->weak)
        q += 2;
    if (*q != '"')
        return false;
    const char *s = ++q;
    /* etagc = %x21 / %x23-7E / obs-text */
    while ((unsigned char)*q == 0x21 || ((unsigned char)*q >= 0x23 && (unsigned char)*q != 0x7f))
        q++;
    if (q[0] != '"' || q[1] != ']')
        return false;
    c->v = s;
    c->n = (size_t)(q - s);
    *p = q + 2;
    return true;
}

static bool parse_condition(const char **p, if_cond *c)
{
    memset(c, 0, sizeof *c);
    /* RFC 5234 2.3: ABNF literals are case-insensitive */
    if (strncasecmp(*p, "not", 3) == 0) {
        c->negate = true;
        *p += 3;
        skip_ws(p);
    }
    if (**p == '[')
        return parse_etag(p, c);
    return parse_angle(p, &c->v, &c->n) && has_scheme(c->v, c->n);
}

/* "(" 1*Condition ")" at *p, appended to h under tag. */
static bool parse_list(const char **p, if_hdr *h, const char *tag, size_t tag_len)
{
    if (**p != '(' || h->n_lists == MAX_IF_LISTS)
        return false;
    if_list *l = &h->lists[h->n_lists++];
    *l = (if_list){ .tag = tag, .tag_len = tag_len, .first = h->n_conds };
    (*p)++;
    skip_ws(p);
    while (**p && **p != ')') {
        if (h->n_conds == MAX_IF_CONDS || !parse_condition(p, &h->conds[h->n_conds]))
            return false;
        h->n_conds++;
        l->count++;
        skip_ws(p);
    }
    if (**p != ')' || l->count == 0)
        return false;
    (*p)++;
    return true;
}

/* Parse the whole header; false when it is malformed or over the bounds. */
static bool parse_if(const char *s, if_hdr *h)
{
    const char *p = s;
    h->n_conds = h->n_lists = 0;
    if (strlen(s) > MAX_IF_LEN)
        return false;
    skip_ws(&p);
    bool tagged = *p == '<';
    while (*p) {
        const char *tag = NULL;
        size_t tag_len = 0;
        if (tagged) {
            if (!parse_angle(&p, &tag, &tag_len)
                || !(tag[0] == '/' || has_scheme(tag, tag_len)))
                return false;
            skip_ws(&p);
        }
        /* a tag takes 1*List; untagged, each round takes one List */
        do {
            if (!parse_list(&p, h, tag, tag_len))
                return false;
            skip_ws(&p);
        } while (tagged && *p == '(');
    }
    return h->n_lists > 0;
}

/* RFC 4918 10.4.3: a list is the conjunction of its conditions.  An etag
 * matches by strong comparison (the If header guards writes, as If-Match
 * does); a state token never matches, there being no locks.  etag NULL:
 * unmapped, where every condition is false (10.4.4) before any Not. */
static bool list_true(const if_hdr *h, const if_list *l, const char *etag)
{
    for (size_t i = l->first; i < l->first + l->count; i++) {
        const if_cond *c = &h->conds[i];
        bool m = c->is_etag && etag && !c->weak && strlen(etag) == c->n
                 && memcmp(etag, c->v, c->n) == 0;
        if (m == c->negate)
            return false;
    }
    return true;
}

/* Same resource?  Collection paths may be given with or without '/'. */
static bool same_path(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (lb > 1 && b[lb - 1] == '/')
        lb--;
    return la == lb && memcmp(a, b, la) == 0;
}

/* The ETag of the resource a Resource-Tag names, into out; *etag NULL when
 * it is unmapped (absent, elsewhere, not a usable path). */
static vd_err tag_etag(vd_request *r, vd_txn *t, const vd_node *n, const if_list *l,
                       char out[VD_COND_ETAG_LEN], const char **etag)
{
    char *url = strndup(l->tag, l->tag_len), *path = NULL;
    vd_node m = {0};
    vd_diag ignored = {0};
    vd_err e = VD_OK;
    *etag = NULL;
    if (!url)
        return VD_ENOMEM;
    if (!vd_cond_url_local(r, url) || vd_href_decode(url, &path, &ignored) != VD_OK)
        goto out;
    if (n && n->path && same_path(path, n->path)) {
        *etag = vd_cond_node_etag(n, out);
    } else if (t) {
        e = vd_resolve(r->srv, t, path, &m);
        if (e == VD_OK)
            *etag = vd_cond_node_etag(&m, out);
    }
out:
    vd_node_clear(&m);
    free(path);
    free(url);
    return e;
}

/* RFC 4918 10.4.3: "the whole If header evaluates to true if and only if
 * at least one of the No-tag-list or Tagged-list productions evaluates to
 * true."  *ok receives the result. */
static vd_err eval_if(vd_request *r, vd_txn *t, const vd_node *n, const if_hdr *h,
                      const char *target_etag, bool *ok)
{
    char buf[VD_COND_ETAG_LEN];
    const char *etag = target_etag, *cur_tag = NULL;
    size_t cur_len = 0;
    *ok = false;
    for (size_t i = 0; i < h->n_lists && !*ok; i++) {
        const if_list *l = &h->lists[i];
        if (l->tag && (l->tag != cur_tag || l->tag_len != cur_len)) {
            /* lists after one tag share it: resolve once per tag */
            vd_err e = tag_etag(r, t, n, l, buf, &etag);
            if (e != VD_OK)
                return e;
            cur_tag = l->tag;
            cur_len = l->tag_len;
        }
        *ok = list_true(h, l, etag);
    }
    return VD_OK;
}

vd_err vd_cond_check(vd_request *r, vd_txn *t, const vd_node *n, bool safe, vd_diag *d)
{
    char buf[VD_COND_ETAG_LEN];
    const char *etag = vd_cond_node_etag(n, buf), *which = "";
    const char *path = n && n->path ? n->path : r->path;
    const char *ifh = vd_req_header(r, "If");
    if_hdr *h = NULL;
    vd_err e = VD_OK;
    if (ifh) {
        if (!(h = malloc(sizeof *h)))
            return VD_ENOMEM;
        if (!parse_if(ifh, h)) {
            vd_diag_set(d, 400, NULL, NULL, "malformed If header (RFC 4918 10.4.2)");
            e = VD_EPRECOND;
            goto out;
        }
    }
    int st = match_headers(r, etag, safe, &which);
    if (st && n && n->kind == VD_NODE_RES && r->user) {
        /* The client may hold the ETag of the copy it was served (with an
         * ACL file even the owner's events are served with flags masked):
         * that copy is derived from the stored bytes, so its ETag names the
         * current state just as well.  Accept it. */
        vd_access_view v = {0};
        const char *which2 = "";
        if (vd_access_view_of(r, n, vd_access_privs_txn(r, t, n), NULL, &v) == VD_OK &&
            v.masked && match_headers(r, v.etag, safe, &which2) == 0)
            st = 0;
        vd_access_view_clear(&v);
    }
    if (st) {
        vd_diag_set(d, st, NULL, NULL,
                    etag ? "precondition failed: %s has ETag \"%s\", which the %s header "
                           "does not allow"
                         : "precondition failed: %s does not exist%s; the %s header needs it",
                    path, etag ? etag : "", which);
        e = VD_EPRECOND;
        goto out;
    }
    if (h) {
        bool ok = false;
        e = eval_if(r, t, n, h, etag, &ok);
        if (e == VD_OK && !ok) {
            /* RFC 4918 10.4.3: "If the header evaluates to false, the server
             * MUST reject the request with a 412 (Precondition Failed)" */
            vd_diag_set(d, 412, NULL, NULL,
                        "precondition failed: no list of the If header matches the state "
                        "of %s (this server holds no locks)", path);
            e = VD_EPRECOND;
        }
    }
out:
    free(h);
    return e;
}

/* ------------------------------------------------------------------ */
/* Is a URL ours?                                                       */

/* host[:port] of an authority; false when malformed.  host is lowered into
 * hbuf; *port is -1 when absent. */
static bool split_authority(const char *a, size_t n, char hbuf[MAX_HOST_LEN], long *port)
{
    const char *at = memchr(a, '@', n);
    while (at) {                                /* drop userinfo (up to the last '@') */
        n -= (size_t)(at + 1 - a);
        a = at + 1;
        at = memchr(a, '@', n);
    }
    size_t hl;
    if (n && a[0] == '[') {                     /* IP literal */
        const char *rb = memchr(a, ']', n);
        if (!rb)
            return false;
        hl = (size_t)(rb - a) + 1;
    } else {
        const char *colon = memchr(a, ':', n);
        hl = colon ? (size_t)(colon - a) : n;
    }
    if (hl == 0 || hl >= MAX_HOST_LEN)
        return false;
    for (size_t i = 0; i < hl; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c <= 0x20 || c >= 0x7f || c == '/')
            return false;
        hbuf[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    hbuf[hl > 1 && hbuf[hl - 1] == '.' ? hl - 1 : hl] = '\0';   /* "host." is "host" */
    *port = -1;
    if (hl == n)
        return true;
    if (a[hl] != ':')
        return false;
    const char *pp = a + hl + 1;
    size_t pl = n - hl - 1;
    if (pl == 0)                                /* RFC 3986 3.2.3: empty port = default */
        return true;
    if (pl > 5)
        return false;
    long v = 0;
    for (size_t i = 0; i < pl; i++) {
        if (pp[i] < '0' || pp[i] > '9')
            return false;
        v = v * 10 + (pp[i] - '0');
    }
    if (v > 65535)
        return false;
    *port = v;
    return true;
}

/* Does the authority (hbuf/port, default port dflt) equal header value hv? */
static bool authority_is(const char *host, long port, long dflt, const char *hv, size_t hn)
{
    char ours[MAX_HOST_LEN];
    long oport;
    while (hn && (*hv == ' ' || *hv == '\t')) {
        hv++;
        hn--;
    }
    while (hn && (hv[hn - 1] == ' ' || hv[hn - 1] == '\t'))
        hn--;
    if (!split_authority(hv, hn, ours, &oport) || strcmp(host, ours) != 0)
        return false;
    /* Host carries no scheme: without a port it means the URL's default */
    if (oport < 0)
        return port < 0 || port == dflt;
    return (port < 0 ? dflt : port) == oport;
}

bool vd_cond_url_local(vd_request *r, const char *url)
{
    const char *a;
    long dflt = 80;
    if (url[0] == '/' && url[1] == '/') {
        a = url + 2;                            /* network-path reference */
    } else if (strncasecmp(url, "http://", 7) == 0) {
        a = url + 7;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        a = url + 8;
        dflt = 443;
    } else {
        /* a path is local; another scheme with an authority is not ours */
        const char *colon = strchr(url, ':'), *slash = strchr(url, '/');
        return !(colon && (!slash || colon < slash) && strstr(url, "://"));
    }
    size_t n = strcspn(a, "/?#");
    char host[MAX_HOST_LEN];
    long port;
    if (!split_authority(a, n, host, &port))
        return false;
    /* behind a reverse proxy the client's authority is the first entry of
     * X-Forwarded-Host; the Host header is what reached this process */
    const char *xfh = vd_req_header(r, "X-Forwarded-Host");
    if (xfh && authority_is(host, port, dflt, xfh, strcspn(xfh, ",")))
        return true;
    const char *hh = vd_req_header(r, "Host");
    return hh && authority_is(host, port, dflt, hh, strlen(hh));
}
