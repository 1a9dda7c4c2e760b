/* methods_rw.c - the resource methods: OPTIONS, GET/HEAD, PUT, DELETE, COPY,
 * MOVE and the Allow header per node.  Every write of iCalendar data into a
 * calendar goes through calobj.h (which runs the visit rules, visits.h);
 * deletes and moves tell the rules through visits.h too.
 *
 * Each handler resolves its path, checks privileges with vd_access_privs and
 * does all its writes in one vd_store_write call, re-checking inside that
 * transaction whatever a racing request could change (existence, ETag, UID),
 * so two racing PUTs cannot both win.  Write callbacks may be re-run by the
 * store (map growth): they reset their outputs and keep no state outside.
 *
 * Must not: parse XML (davxml), touch LMDB or libical directly (store, ical),
 * or build DAV:error bodies (vd_resp_error does, in one place). */
#include "access.h"
#include "calobj.h"
#include "conditional.h"
#include "methods.h"
#include "props.h"
#include "teams.h"
#include "visits.h"

#include "../lib/hash.h"
#include "../lib/ical.h"
#include "../lib/path.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DAV_HEADER      "1, 3, calendar-access, extended-mkcol"
#define MAX_COPY_LEVELS 32        /* nesting a collection COPY descends */
#define MAX_LISTING     10000     /* lines in a GET listing of a collection */

/* Set a failure on d and evaluate to VD_EPRECOND. */
#define FAIL(d, st, ns, pre, ...) \
    (vd_diag_set((d), (st), (ns), (pre), __VA_ARGS__), VD_EPRECOND)

/* ------------------------------------------------------------------ */
/* small helpers                                                        */

static char *str_cat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (!s)
        abort();
    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
    return s;
}

static char *mem_dup(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* What went wrong in a handler, kept until the response is written (write
 * callbacks may run twice, so they never answer the client themselves). */
typedef struct rw_err {
    vd_diag d;
    const char *allow;          /* Allow header of a 405 */
    const char *priv;           /* missing DAV: privilege of a 403 */
    char priv_path[4200];       /* where it is missing (decoded) */
    const char *xml;            /* a visit-rules reject: the whole body (borrowed) */
} rw_err;

/* RFC 3744 7.1.1: a missing privilege is a 403 with DAV:need-privileges. */
static vd_err need_priv(vd_request *r, const vd_node *n, uint32_t need, rw_err *err)
{
    uint32_t missing = need & ~vd_access_privs(r, n);
    if (!missing)
        return VD_OK;
    err->priv = vd_priv_name(missing & (~missing + 1));
    snprintf(err->priv_path, sizeof err->priv_path, "%s", n->path ? n->path : r->path);
    vd_diag_set(&err->d, 403, NULL, NULL, "%s lacks the %s privilege on %s",
                r->user ? r->user : "anonymous", err->priv ? err->priv : "?",
                err->priv_path);
    return VD_EPRECOND;
}

/* Resolve the collection holding path (a resource or collection path). */
static vd_err resolve_parent(vd_request *r, vd_txn *t, const char *path, vd_node *out)
{
    char *parent = NULL, *name = NULL;
    vd_err e = vd_path_split(path, &parent, &name);
    if (e == VD_OK)
        e = vd_resolve(r->srv, t, parent, out);
    free(parent);
    free(name);
    return e;
}

/* issue 4 (teams.h): is the parent of path a (read-only) team aggregate? */
static bool parent_is_team(vd_request *r, vd_txn *t, const char *path)
{
    vd_node p = {0};
    bool team = resolve_parent(r, t, path, &p) == VD_OK && p.kind == VD_NODE_TEAM_CAL;
    vd_node_clear(&p);
    return team;
}

/* Privilege check on the parent collection of path. */
static vd_err need_parent_priv(vd_request *r, vd_txn *t, const char *path, uint32_t need,
                               rw_err *err)
{
    vd_node p = {0};
    vd_err e = resolve_parent(r, t, path, &p);
    if (e == VD_EINVAL)
        e = FAIL(&err->d, 403, NULL, NULL, "%s has no parent collection", path);
    else if (e == VD_OK)
        e = need_priv(r, &p, need, err);
    vd_node_clear(&p);
    return e;
}

/* issue 4 (access.h): a collection is readable with any privilege on it
 * (homes: also with one on a calendar inside, looked up in t). */
static vd_err need_visible(vd_request *r, vd_txn *t, const vd_node *n, rw_err *err)
{
    if (vd_access_coll_visible(vd_access_privs_txn(r, t, n)))
        return VD_OK;
    return need_priv(r, n, VD_PRIV_READ, err);
}

/* issue 4: a write over (or a delete or move of) an event its writer sees
 * masked (a CLASS, or read-masked) is refused: nobody changes blind, and a
 * masked copy must never replace the event.  hidden_404: an event hidden
 * from them answers as if absent (DELETE, MOVE), else 403 (PUT). */
static vd_err need_unmasked(vd_request *r, const vd_node *n, bool hidden_404, rw_err *err)
{
    if (n->kind != VD_NODE_RES || vd_access_is_owner(r, n))
        return VD_OK;
    vd_ical *ic = n->res.uid ? vd_ical_load(n->res.data, n->res.len) : NULL;
    vd_mask_level l = vd_access_mask_level(r, n, ic);
    vd_ical_free(ic);
    if (l == VD_MASK_NONE)
        return VD_OK;
    if (l == VD_MASK_HIDDEN && hidden_404)
        return FAIL(&err->d, 404, NULL, NULL, "nothing exists at %s", n->path);
    err->priv = "read";
    snprintf(err->priv_path, sizeof err->priv_path, "%s", n->path);
    vd_diag_set(&err->d, 403, NULL, NULL, "%s may not read all of %s, so may not replace it",
                r->user ? r->user : "anonymous", err->priv_path);
    return VD_EPRECOND;
}

/* issue 4: a non-owner deletes, copies or moves a whole collection only
 * with admin (D:all) on it: its members would go unmasked. */
static vd_err need_coll_admin(vd_request *r, const vd_node *n, rw_err *err)
{
    if (n->kind != VD_NODE_COLL || vd_access_is_owner(r, n))
        return VD_OK;
    uint32_t missing = VD_PRIV_ALL & ~vd_access_privs(r, n);
    return missing ? need_priv(r, n, missing & (~missing + 1), err) : VD_OK;
}

/* Turn a failed handler into a response: err when it says what happened,
 * else a status derived from the store error. */
static void finish_error(vd_request *r, vd_err e, rw_err *err)
{
    vd_diag *d = &err->d;
    if (err->priv) {
        vd_resp_forbidden(r, err->priv_path, err->priv);
        return;
    }
    if (err->xml) {             /* visits.h: a DAV:error body of its own */
        vd_resp_set(r, d->status ? d->status : 403, "application/xml; charset=utf-8",
                    err->xml, strlen(err->xml));
        return;
    }
    if (d->status == 0) {
        int st = 500;
        switch (e) {
        case VD_ENOTFOUND:  st = 404; break;
        case VD_EEXISTS:    st = 409; break;
        case VD_ECONFLICT:  st = 409; break;
        case VD_EFORBIDDEN: st = 403; break;
        case VD_EINVAL:     st = 400; break;
        case VD_ETOOBIG:    st = 507; break;
        case VD_EBUSY:      st = 503; break;
        default:            break;
        }
        d->status = st;
        if (!d->message[0])
            snprintf(d->message, sizeof d->message, "%s %s failed: %s",
                     r->method ? r->method : "request", r->path ? r->path : "",
                     vd_strerror(e));
    }
    if (err->allow && d->status == 405)
        vd_resp_header(r, "Allow", err->allow);
    vd_resp_error(r, d, 500);
}

static void header_etag(vd_request *r, const char *etag)
{
    char q[64];
    snprintf(q, sizeof q, "\"%s\"", etag);
    vd_resp_header(r, "ETag", q);
}

static void header_last_modified(vd_request *r, vd_time t)
{
    char date[30];
    vd_time_format_http(t, date);
    vd_resp_header(r, "Last-Modified", date);
}

/* A collection's ETag: its id and sync sequence (the seq bumps on every
 * member and property change, the id tells a recreated collection apart). */
static void coll_etag(const vd_coll *c, char out[48])
{
    vd_node n = {.kind = VD_NODE_COLL, .coll = *c};
    vd_cond_node_etag(&n, out);
}

/* Preconditions (If-Match, If-None-Match, If) of a write on node n, resolved
 * in t: conditional.c evaluates them all. */
static vd_err cond_check(vd_request *r, vd_txn *t, const vd_node *n, vd_diag *d)
{
    return vd_cond_check(r, t, n, false, d);
}

/* ------------------------------------------------------------------ */
/* Allow and OPTIONS                                                    */

const char *vd_allow_for(const vd_node *n)
{
    if (!n)
        return "OPTIONS";
    switch (n->kind) {
    case VD_NODE_RES:
        return "OPTIONS, GET, HEAD, PUT, DELETE, COPY, MOVE, PROPFIND, PROPPATCH, REPORT";
    case VD_NODE_COLL:
        if (n->coll.kind == VD_COLL_HOME)
            return "OPTIONS, GET, HEAD, PROPFIND, PROPPATCH, REPORT";
        return "OPTIONS, GET, HEAD, DELETE, COPY, MOVE, PROPFIND, PROPPATCH, REPORT";
    case VD_NODE_NONE:
        if (n->coll.id == 0)
            return "OPTIONS";
        /* RFC 4791 4.2: a calendar collection holds no collections */
        if (n->coll.kind == VD_COLL_CALENDAR)
            return "OPTIONS, PUT";
        return "OPTIONS, PUT, MKCOL, MKCALENDAR";
    case VD_NODE_TEAM_CAL:          /* issue 4: a read-only team aggregate */
        return "OPTIONS, GET, HEAD, PROPFIND, REPORT";
    default:
        return "OPTIONS, GET, HEAD, PROPFIND, PROPPATCH, REPORT";
    }
}

void vd_method_options(vd_request *r)
{
    vd_txn *t = NULL;
    vd_node n = {0};
    rw_err err = {0};
    vd_err e = vd_store_read(r->srv->store, &t);
    if (e == VD_OK)
        e = vd_resolve(r->srv, t, r->path, &n);
    if (e != VD_OK) {
        finish_error(r, e, &err);
        goto out;
    }
    /* No class 2 (no LOCK) and no calendar-auto-schedule (no server iTIP). */
    vd_resp_status(r, 200);
    vd_resp_header(r, "DAV", DAV_HEADER);
    vd_resp_header(r, "Allow", vd_allow_for(&n));
out:
    vd_node_clear(&n);
    vd_txn_end(t);
}

/* ------------------------------------------------------------------ */
/* GET / HEAD                                                           */

static void utf8_put(vd_buf *b, unsigned long cp)
{
    char u[4];
    size_t n;
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return;
    if (cp < 0x80) {
        u[0] = (char)cp; n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    vd_buf_append(b, u, n);
}

/* Append the XML entity at *pp (pointing at '&') to b, advancing *pp. */
static void unescape_entity(vd_buf *b, const char **pp, const char *end)
{
    static const struct { const char *ent; char c; } named[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''},
    };
    const char *p = *pp;
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        size_t l = strlen(named[i].ent);
        if ((size_t)(end - p) >= l && memcmp(p, named[i].ent, l) == 0) {
            vd_buf_append(b, &named[i].c, 1);
            *pp = p + l;
            return;
        }
    }
    if (end - p > 3 && p[1] == '#') {
        bool hex = p[2] == 'x' || p[2] == 'X';
        char *stop = NULL;
        unsigned long cp = strtoul(p + (hex ? 3 : 2), &stop, hex ? 16 : 10);
        if (stop && stop < end && *stop == ';') {
            utf8_put(b, cp);
            *pp = stop + 1;
            return;
        }
    }
    vd_buf_append(b, "&", 1);
    *pp = p + 1;
}

/* Text content of a stored dead property element, e.g.
 * <D:displayname xmlns:D="DAV:">A &amp; B</D:displayname> -> "A & B",
 * entities and CDATA unwrapped, control characters made spaces, trimmed.
 * malloc'd, NULL when empty or malformed. */
static char *prop_text(const char *xml)
{
    const char *p = xml ? strchr(xml, '<') : NULL;
    char quote = 0;
    if (!p)
        return NULL;
    for (p++; *p; p++) {                       /* end of the start tag */
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if (*p == '"' || *p == '\'') {
            quote = *p;
        } else if (*p == '>') {
            break;
        }
    }
    if (!*p || p[-1] == '/')
        return NULL;
    const char *s = p + 1, *end = strrchr(s, '<');
    if (!end)
        return NULL;
    vd_buf b = VD_BUF_INIT;
    for (p = s; p < end;) {
        if (*p == '&') {
            unescape_entity(&b, &p, end);
        } else if (*p == '<' && strncmp(p, "<![CDATA[", 9) == 0) {
            const char *ce = strstr(p + 9, "]]>");
            if (!ce || ce > end)
                break;
            vd_buf_append(&b, p + 9, (size_t)(ce - p - 9));
            p = ce + 3;
        } else if (*p == '<') {                /* a nested element: skip its tag */
            while (p < end && *p != '>')
                p++;
            p++;
        } else {
            char c = ((unsigned char)*p < 0x20 || *p == 0x7f) ? ' ' : *p;
            vd_buf_append(&b, &c, 1);
            p++;
        }
    }
    size_t a = 0, z = b.len;
    while (a < z && b.data[a] == ' ')
        a++;
    while (z > a && b.data[z - 1] == ' ')
        z--;
    char *out = z > a ? mem_dup(b.data + a, z - a) : NULL;
    vd_buf_free(&b);
    return out;
}

/* The name a subscribed calendar shows: {DAV:}displayname, else the last
 * path segment. malloc'd, may be NULL. */
static char *calendar_name(vd_txn *t, const vd_coll *c)
{
    const char *xml = NULL;
    char *name = NULL;
    if (vd_store_prop_get(t, c->id, NULL, "{DAV:}displayname", &xml) == VD_OK)
        name = prop_text(xml);
    if (!name) {
        char *parent = NULL;
        if (vd_path_split(c->path, &parent, &name) != VD_OK)
            name = NULL;
        free(parent);
    }
    return name;
}

/* Answer a 304/400/412 for a conditional GET/HEAD; true when answered. */
static bool get_conditional(vd_request *r, vd_txn *t, const vd_node *n, const char *etag)
{
    vd_diag d = {0};
    vd_err e = vd_cond_check(r, t, n, true, &d);
    if (e == VD_OK)
        return false;
    if (d.status == 304) {
        vd_resp_status(r, 304);
        header_etag(r, etag);
    } else {
        vd_resp_error(r, &d, 500);
    }
    return true;
}

/* A non-owner gets the event as they may see it (access.h): a masked
 * copy with its own ETag, 404 when it is hidden from them. */
static void get_resource(vd_request *r, vd_txn *t, const vd_node *n)
{
    vd_access_view v;
    if (vd_access_view_of(r, n, vd_access_privs(r, n), NULL, &v) != VD_OK) {
        vd_resp_errorf(r, 500, "out of memory");
        goto out;
    }
    if (v.level == VD_MASK_HIDDEN) {
        vd_resp_errorf(r, 404, "nothing exists at %s", n->path);
        goto out;
    }
    const vd_res *res = &v.node.res;
    if (get_conditional(r, t, &v.node, res->etag))
        goto out;
    const char *ct = res->content_type && *res->content_type ? res->content_type
                                                             : "application/octet-stream";
    vd_resp_set(r, 200, ct, res->data, res->len);
    header_etag(r, res->etag);
    header_last_modified(r, res->modified);
out:
    vd_access_view_clear(&v);
}

typedef struct merge_walk {
    vd_request *r;
    const vd_coll *coll;
    bool owner;
    vd_ical_merge *m;
    vd_buf pathbuf;
} merge_walk;

static vd_err merge_cb(const vd_res *res, void *ctx)
{
    merge_walk *w = ctx;
    /* Without an ACL file the owner's events are served as stored; with
     * one, even the owner gets the view (flags naming calendars they cannot
     * see are masked: docs/rules.md "Privacy"). */
    if (w->owner && !w->r->srv->acl) {
        vd_ical_merge_add(w->m, res->data, res->len);   /* unparseable data is skipped */
        return VD_OK;
    }
    vd_node m = {0};
    vd_access_view v;
    vd_props_member_node(&m, w->coll, res, &w->pathbuf);
    uint32_t p = vd_access_privs(w->r, &m);
    if (!(p & VD_PRIV_READ))
        return VD_OK;
    vd_err e = vd_access_view_of(w->r, &m, p, NULL, &v);
    if (e == VD_OK && v.level != VD_MASK_HIDDEN)
        vd_ical_merge_add(w->m, v.node.res.data, v.node.res.len);
    vd_access_view_clear(&v);
    return e;
}

/* GET on a calendar: the whole calendar as one text/calendar document, so
 * any client can subscribe to the collection URL. */
static void get_calendar(vd_request *r, vd_txn *t, const vd_node *n)
{
    char etag[48];
    coll_etag(&n->coll, etag);
    if (get_conditional(r, t, n, etag))
        return;
    char *name = calendar_name(t, &n->coll);
    merge_walk w = {.r = r, .coll = &n->coll, .owner = vd_access_is_owner(r, n),
                    .m = vd_ical_merge_new(name)};
    vd_err e = vd_store_res_list(t, n->coll.id, merge_cb, &w);
    vd_buf out = VD_BUF_INIT;
    vd_ical_merge_finish(w.m, &out);
    vd_buf_free(&w.pathbuf);
    if (e != VD_OK) {
        rw_err err = {0};
        finish_error(r, e, &err);
    } else {
        vd_resp_set(r, 200, "text/calendar; charset=utf-8", out.data ? out.data : "", out.len);
        header_etag(r, etag);
        header_last_modified(r, n->coll.modified);
    }
    vd_buf_free(&out);
    free(name);
}

static vd_err team_merge_cb(const vd_coll *view, const vd_res *res, void *ctx)
{
    merge_walk *w = ctx;
    w->coll = view;
    return merge_cb(res, ctx);
}

/* issue 4 (teams.h): GET on a team aggregate: every member's visits as the
 * user may see each (masked per event), as one document to subscribe to.
 * Its ETag is that of the bytes served (they differ per viewer). */
static void get_team(vd_request *r, vd_txn *t, const vd_node *n)
{
    vd_buf name = VD_BUF_INIT, out = VD_BUF_INIT;
    char etag[17];
    vd_teams_displayname(n, &name);
    merge_walk w = {.r = r, .m = vd_ical_merge_new(name.data)};
    vd_err e = vd_teams_walk(r->srv, t, n, team_merge_cb, &w);
    vd_ical_merge_finish(w.m, &out);
    vd_buf_free(&w.pathbuf);
    if (e != VD_OK) {
        rw_err err = {0};
        finish_error(r, e, &err);
    } else {
        vd_etag_of(out.data ? out.data : "", out.len, etag);
        vd_node cn = *n;            /* conditional GET on the bytes served (a view node) */
        cn.kind = VD_NODE_RES;
        cn.res.etag = etag;
        if (!get_conditional(r, t, &cn, etag)) {
            vd_resp_set(r, 200, "text/calendar; charset=utf-8", out.data ? out.data : "", out.len);
            header_etag(r, etag);
        }
    }
    vd_buf_free(&out);
    vd_buf_free(&name);
}

typedef struct listing {
    vd_buf *b;
    const char *coll_path;
    size_t n;
    vd_request *r;              /* issue 4: members the user may not see are left out */
    const vd_coll *coll;
    vd_buf pathbuf;
} listing;

static void listing_line(listing *l, const char *path, const char *note)
{
    if (l->n++ < MAX_LISTING)
        vd_buf_printf(l->b, "%s%s\n", path, note);
    else if (l->n == MAX_LISTING + 1)
        vd_buf_puts(l->b, "(more members not shown)\n");
}

static vd_err listing_coll_cb(const vd_coll *c, void *ctx)
{
    listing *l = ctx;
    vd_node m;
    vd_props_coll_node(&m, c);
    if (vd_access_coll_visible(vd_access_privs(l->r, &m)))
        listing_line(l, c->path, c->kind == VD_COLL_CALENDAR ? "  (calendar)" : "");
    return VD_OK;
}

static vd_err listing_res_cb(const vd_res *res, void *ctx)
{
    listing *l = ctx;
    vd_node m;
    vd_access_view v;
    vd_props_member_node(&m, l->coll, res, &l->pathbuf);
    uint32_t p = vd_access_privs(l->r, &m);
    if (!(p & VD_PRIV_READ))
        return VD_OK;
    vd_err e = vd_access_view_of(l->r, &m, p, NULL, &v);
    if (e == VD_OK && v.level != VD_MASK_HIDDEN) {
        char *path = str_cat(l->coll_path, res->name);
        listing_line(l, path, "");
        free(path);
    }
    vd_access_view_clear(&v);
    return e;
}

/* GET on a home or plain collection: a plain-text list of its members. */
static void get_listing(vd_request *r, vd_txn *t, const vd_node *n)
{
    vd_buf b = VD_BUF_INIT;
    listing l = {&b, n->coll.path, 0, r, &n->coll, VD_BUF_INIT};
    vd_buf_printf(&b, "Members of %s:\n\n", n->coll.path);
    vd_err e = vd_store_coll_children(t, n->coll.path, listing_coll_cb, &l);
    if (e == VD_OK)
        e = vd_store_res_list(t, n->coll.id, listing_res_cb, &l);
    if (e != VD_OK) {
        rw_err err = {0};
        finish_error(r, e, &err);
    } else {
        vd_resp_set(r, 200, "text/plain; charset=utf-8", b.data, b.len);
    }
    vd_buf_free(&b);
    vd_buf_free(&l.pathbuf);
}

/* GET on "/", the principals tree or "/calendars/": a short text page. */
static void get_virtual(vd_request *r, const vd_node *n)
{
    vd_buf b = VD_BUF_INIT;
    char *home = r->user ? vd_home_path(r->user) : NULL;
    char *princ = r->user ? vd_principal_path(r->user) : NULL;
    vd_buf_printf(&b, "visitdav CalDAV server\n\nThis is %s.\n", n->path ? n->path : r->path);
    if (n->kind == VD_NODE_PRINCIPAL && n->user)
        vd_buf_printf(&b, "It is the principal of user %s.\n", n->user);
    if (r->user)
        vd_buf_printf(&b, "\nSigned in as: %s\nYour principal: %s\nYour calendar home: %s\n",
                      r->user, princ ? princ : "?", home ? home : "?");
    vd_buf_puts(&b, "\nAdd this server's address to a CalDAV client (Thunderbird, iOS or macOS "
                    "Calendar, DAVx5); it finds your calendars by itself.\n");
    vd_resp_set(r, 200, "text/plain; charset=utf-8", b.data, b.len);
    vd_buf_free(&b);
    free(home);
    free(princ);
}

void vd_method_get(vd_request *r)
{
    vd_txn *t = NULL;
    vd_node n = {0};
    rw_err err = {0};
    vd_err e = vd_store_read(r->srv->store, &t);
    if (e == VD_OK)
        e = vd_resolve(r->srv, t, r->path, &n);
    if (e == VD_OK && n.kind == VD_NODE_NONE)
        e = FAIL(&err.d, 404, NULL, NULL, "nothing exists at %s", r->path);
    if (e == VD_OK && n.kind == VD_NODE_RES)
        e = need_priv(r, &n, VD_PRIV_READ, &err);
    else if (e == VD_OK && (n.kind == VD_NODE_COLL || n.kind == VD_NODE_TEAM_CAL))
        e = need_visible(r, t, &n, &err);
    if (e != VD_OK) {
        finish_error(r, e, &err);
        goto out;
    }
    if (n.kind == VD_NODE_RES)
        get_resource(r, t, &n);
    else if (n.kind == VD_NODE_COLL && n.coll.kind == VD_COLL_CALENDAR)
        get_calendar(r, t, &n);
    else if (n.kind == VD_NODE_TEAM_CAL)
        get_team(r, t, &n);
    else if (n.kind == VD_NODE_COLL)
        get_listing(r, t, &n);
    else
        get_virtual(r, &n);
out:
    vd_node_clear(&n);
    vd_txn_end(t);
}

/* ------------------------------------------------------------------ */
/* PUT                                                                  */

typedef struct put_ctx {
    vd_request *r;
    const char *ctype;       /* Content-Type as sent, may be NULL */
    bool calendar;           /* target collection is a calendar (read phase) */
    uint64_t coll_id;        /* target collection seen in the read phase */
    uint32_t comp_mask;
    vd_calobj obj;
    /* results */
    rw_err err;
    vd_put_result res;
    bool bytes_changed;
} put_ctx;

/* The checks that come before the body (RFC 9110 13.2.1: preconditions are
 * evaluated before the content is processed): target, privileges,
 * If-Match/If-None-Match.  Run in the read phase and again in the write txn. */
static vd_err put_check(put_ctx *c, vd_txn *t, vd_node *n)
{
    vd_request *r = c->r;
    vd_err e = vd_resolve(r->srv, t, r->path, n);
    if (e != VD_OK)
        return e;
    if (n->kind != VD_NODE_RES && n->kind != VD_NODE_NONE) {
        c->err.allow = vd_allow_for(n);
        return FAIL(&c->err.d, 405, NULL, NULL,
                    "PUT cannot replace the collection %s (use MKCOL or MKCALENDAR to make one)",
                    n->path ? n->path : r->path);
    }
    if (n->kind == VD_NODE_NONE && vd_path_is_dir(r->path)) {
        c->err.allow = "OPTIONS, MKCOL, MKCALENDAR";
        return FAIL(&c->err.d, 405, NULL, NULL,
                    "%s ends in '/', which names a collection; PUT creates resources", r->path);
    }
    /* RFC 4918 9.7.1: "A PUT that would result in the creation of a resource
     * without an appropriately scoped parent collection MUST fail with a 409
     * (Conflict)." */
    if (n->kind == VD_NODE_NONE && n->coll.id == 0 && parent_is_team(r, t, r->path))
        return need_parent_priv(r, t, r->path, VD_PRIV_BIND, &c->err);   /* issue 4: 403 */
    if (n->kind == VD_NODE_NONE && n->coll.id == 0)
        return FAIL(&c->err.d, 409, NULL, NULL,
                    "the parent collection of %s does not exist", r->path);
    if (n->kind == VD_NODE_RES)
        e = need_priv(r, n, VD_PRIV_WRITE_CONTENT, &c->err);
    else
        e = need_parent_priv(r, t, r->path, VD_PRIV_BIND, &c->err);
    if (e == VD_OK)
        e = need_unmasked(r, n, false, &c->err);
    if (e != VD_OK)
        return e;
    return cond_check(r, t, n, &c->err.d);
}

static vd_err put_txn(vd_txn *t, void *ctx)
{
    put_ctx *c = ctx;
    vd_node n = {0};
    memset(&c->err, 0, sizeof c->err);
    memset(&c->res, 0, sizeof c->res);
    c->bytes_changed = false;

    vd_err e = put_check(c, t, &n);
    if (e == VD_OK && (n.coll.id != c->coll_id
                       || (n.coll.kind == VD_COLL_CALENDAR) != c->calendar))
        e = FAIL(&c->err.d, 409, NULL, NULL,
                 "the collection of %s changed while the request was processed; retry",
                 c->r->path);
    if (e == VD_OK && c->calendar) {
        vd_calobj_stored st;
        e = vd_calobj_store(t, &c->obj, &n.coll, n.name,
                            n.kind == VD_NODE_RES ? n.res.uid : NULL, &st, &c->err.d);
        c->res = st.put;
        c->bytes_changed = st.bytes_changed;
        c->err.xml = c->obj.reject_xml;
    } else if (e == VD_OK) {
        /* Homes and plain WebDAV collections keep any bytes as they are. */
        vd_put p = {
            .coll_id = n.coll.id, .name = n.name,
            .data = c->r->body ? c->r->body : "", .len = c->r->body_len,
            .content_type = c->ctype && *c->ctype ? c->ctype : "application/octet-stream",
        };
        e = vd_store_res_put(t, &p, &c->res);
    }
    vd_node_clear(&n);
    return e;
}

void vd_method_put(vd_request *r)
{
    put_ctx c = {.r = r, .ctype = vd_req_header(r, "Content-Type")};
    vd_txn *t = NULL;
    vd_node n = {0};
    vd_err e = vd_store_read(r->srv->store, &t);
    if (e == VD_OK)
        e = put_check(&c, t, &n);
    if (e == VD_OK) {
        c.coll_id = n.coll.id;
        c.calendar = n.coll.kind == VD_COLL_CALENDAR;
        c.comp_mask = n.coll.comp_mask;
    }
    vd_node_clear(&n);
    vd_txn_end(t);
    /* Validation and instance expansion run outside the write lock. */
    if (e == VD_OK && c.calendar)
        e = vd_calobj_prepare(&c.obj, r->srv->cfg, c.ctype, r->body ? r->body : "",
                              r->body_len, c.comp_mask, &c.err.d);
    c.obj.srv = r->srv;         /* the visit rules run in the write txn */
    c.obj.actor = r->user;
    if (e == VD_OK)
        e = vd_store_write(r->srv->store, r->user, r->method, put_txn, &c);
    if (e != VD_OK) {
        finish_error(r, e, &c.err);
    } else {
        vd_resp_status(r, c.res.created ? 201 : 204);
        /* RFC 4791 5.3.4: a strong ETag only when the stored bytes are the sent ones */
        if (!c.bytes_changed)
            header_etag(r, c.res.etag);
    }
    vd_calobj_clear(&c.obj);
}

/* ------------------------------------------------------------------ */
/* DELETE                                                               */

typedef struct del_ctx {
    vd_request *r;
    rw_err err;
} del_ctx;

static vd_err del_txn(vd_txn *t, void *ctx)
{
    del_ctx *c = ctx;
    vd_request *r = c->r;
    vd_node n = {0};
    memset(&c->err, 0, sizeof c->err);

    vd_err e = vd_resolve(r->srv, t, r->path, &n);
    if (e != VD_OK)
        goto out;
    if (n.kind == VD_NODE_NONE) {
        e = FAIL(&c->err.d, 404, NULL, NULL, "nothing exists at %s", r->path);
    } else if (n.kind == VD_NODE_TEAM_CAL) {     /* issue 4: read-only (teams.h) */
        e = need_priv(r, &n, VD_PRIV_UNBIND, &c->err);
        if (e == VD_OK)
            e = FAIL(&c->err.d, 403, NULL, NULL, "%s is a team calendar; it cannot be deleted",
                     n.path);
    } else if (n.kind != VD_NODE_RES && n.kind != VD_NODE_COLL) {
        c->err.allow = vd_allow_for(&n);
        e = FAIL(&c->err.d, 405, NULL, NULL, "%s cannot be deleted", n.path);
    } else if (n.kind == VD_NODE_COLL && n.coll.kind == VD_COLL_HOME) {
        e = FAIL(&c->err.d, 403, NULL, NULL,
                 "%s is a user's calendar home; an administrator removes it with the user",
                 n.path);
    } else if (n.kind == VD_NODE_COLL && vd_req_depth(r, -1) != -1) {
        /* RFC 4918 9.6.1: "A client MUST NOT submit a Depth header with a
         * DELETE on a collection with any value but infinity." */
        e = FAIL(&c->err.d, 400, NULL, NULL, "DELETE of a collection takes only Depth: infinity");
    }
    /* a collection by its stored path: an alias (teams.h) lies in a home,
     * the team calendar it names does not */
    if (e == VD_OK)
        e = need_parent_priv(r, t, n.kind == VD_NODE_COLL ? n.coll.path : n.path,
                             VD_PRIV_UNBIND, &c->err);
    if (e == VD_OK)
        e = n.kind == VD_NODE_RES ? need_unmasked(r, &n, true, &c->err)
                                  : need_coll_admin(r, &n, &c->err);
    if (e == VD_OK)
        e = cond_check(r, t, &n, &c->err.d);
    if (e == VD_OK && n.kind == VD_NODE_RES)
        e = vd_visits_res_delete(t, r->srv, n.coll.id, n.name);
    else if (e == VD_OK)
        e = vd_visits_coll_delete(t, r->srv, n.coll.path);
out:
    vd_node_clear(&n);
    return e;
}

void vd_method_delete(vd_request *r)
{
    del_ctx c = {.r = r};
    vd_err e = vd_store_write(r->srv->store, r->user, r->method, del_txn, &c);
    if (e != VD_OK)
        finish_error(r, e, &c.err);
    else
        vd_resp_status(r, 204);
}

/* ------------------------------------------------------------------ */
/* COPY and MOVE: in-memory snapshots (data borrowed from a txn does not
 * survive the next write in it)                                        */

typedef struct strlist {
    char **v;
    size_t n, cap;
} strlist;

static void strlist_push(strlist *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            abort();
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = mem_dup(s, strlen(s));
}

static void strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Dead properties as (clark, xml) pairs: clark in even, xml in odd slots. */
static vd_err props_cb(const char *clark, const char *xml, void *ctx)
{
    strlist_push(ctx, clark);
    strlist_push(ctx, xml);
    return VD_OK;
}

static vd_err props_apply(vd_txn *t, uint64_t coll, const char *name, const strlist *p)
{
    vd_err e = VD_OK;
    for (size_t i = 0; e == VD_OK && i + 1 < p->n; i += 2)
        e = vd_store_prop_set(t, coll, name, p->v[i], p->v[i + 1]);
    return e;
}

/* Remove every dead property left at (coll, name) before something new
 * is bound there. */
static vd_err props_clear(vd_txn *t, uint64_t coll, const char *name)
{
    strlist p = {0};
    vd_err e = vd_store_prop_list(t, coll, name, props_cb, &p);
    for (size_t i = 0; e == VD_OK && i + 1 < p.n; i += 2)
        e = vd_store_prop_remove(t, coll, name, p.v[i]);
    strlist_free(&p);
    return e == VD_ENOTFOUND ? VD_OK : e;
}

static vd_err names_cb(const vd_res *res, void *ctx)
{
    strlist_push(ctx, res->name);
    return VD_OK;
}

static vd_err child_paths_cb(const vd_coll *c, void *ctx)
{
    strlist_push(ctx, c->path);
    return VD_OK;
}

typedef struct cm_ctx {
    vd_request *r;
    bool move, overwrite;
    int depth;               /* -1 infinity, 0, 1 */
    const char *dst;         /* decoded Destination path */
    /* results */
    rw_err err;
    bool created;
    char *reject_xml;        /* owned: a visit-rules reject body (err.xml) */
    vd_access_view view;     /* issue 4: the source as a non-owner sees it */
} cm_ctx;

/* Store bytes (an owned snapshot) as dst_coll/name: validated like a PUT
 * when dst_coll is a calendar, kept as they are otherwise. */
static vd_err cm_store(cm_ctx *c, vd_txn *t, const vd_coll *dst_coll, const char *name,
                       const char *data, size_t len, const char *ctype)
{
    if (dst_coll->kind == VD_COLL_CALENDAR) {
        vd_calobj o;
        vd_calobj_stored st;
        vd_err e = vd_calobj_prepare(&o, c->r->srv->cfg, ctype, data, len,
                                     dst_coll->comp_mask, &c->err.d);
        o.srv = c->r->srv;
        o.actor = c->r->user;
        if (e == VD_OK)
            e = vd_calobj_store(t, &o, dst_coll, name, NULL, &st, &c->err.d);
        if (o.reject_xml) {
            free(c->reject_xml);
            c->err.xml = c->reject_xml = o.reject_xml;
            o.reject_xml = NULL;
        }
        vd_calobj_clear(&o);
        return e;
    }
    vd_put p = {.coll_id = dst_coll->id, .name = name, .data = data, .len = len,
                .content_type = ctype};
    vd_put_result res;
    return vd_store_res_put(t, &p, &res);
}

/* Copy one member of src (still present) into dst under the same name. */
static vd_err copy_member(cm_ctx *c, vd_txn *t, const vd_coll *src, const vd_coll *dst,
                          const char *name)
{
    vd_res res;
    vd_err e = vd_store_res_get(t, src->id, name, &res);
    if (e != VD_OK)
        return e;
    const char *ct = res.content_type ? res.content_type : "application/octet-stream";
    char *data = mem_dup(res.data, res.len), *ctype = mem_dup(ct, strlen(ct));
    size_t len = res.len;
    e = cm_store(c, t, dst, name, data, len, ctype);
    if (e == VD_OK)
        e = vd_store_prop_copy(t, src->id, name, dst->id, name);
    free(data);
    free(ctype);
    return e == VD_ENOTFOUND ? VD_OK : e;
}

/* RFC 4918 9.8.3: COPY of a collection with Depth infinity copies the whole
 * tree, with Depth 0 only the collection and its properties. */
static vd_err copy_tree(cm_ctx *c, vd_txn *t, const vd_coll *src, const char *dst_path,
                        const char *owner, bool members, int level)
{
    vd_coll dst = {0};
    strlist props = {0}, names = {0}, kids = {0};
    if (level > MAX_COPY_LEVELS)
        return FAIL(&c->err.d, 507, NULL, NULL, "collection tree deeper than %d levels",
                    MAX_COPY_LEVELS);
    vd_err e = vd_store_coll_create(t, dst_path, src->kind, owner, src->comp_mask, &dst);
    if (e == VD_OK)
        e = vd_store_prop_list(t, src->id, NULL, props_cb, &props);
    if (e == VD_OK)
        e = props_apply(t, dst.id, NULL, &props);
    if (e == VD_OK && members)
        e = vd_store_res_list(t, src->id, names_cb, &names);
    for (size_t i = 0; e == VD_OK && i < names.n; i++)
        e = copy_member(c, t, src, &dst, names.v[i]);
    if (e == VD_OK && members)
        e = vd_store_coll_children(t, src->path, child_paths_cb, &kids);
    for (size_t i = 0; e == VD_OK && i < kids.n; i++) {
        vd_coll kid = {0};
        char *parent = NULL, *seg = NULL, *sub = NULL, *sub_dir = NULL;
        e = vd_store_coll_get(t, kids.v[i], &kid);
        if (e == VD_OK)
            e = vd_path_split(kid.path, &parent, &seg);
        if (e == VD_OK) {
            sub = str_cat(dst_path, seg);
            sub_dir = str_cat(sub, "/");
            e = copy_tree(c, t, &kid, sub_dir, owner, true, level + 1);
        }
        vd_coll_clear(&kid);
        free(parent);
        free(seg);
        free(sub);
        free(sub_dir);
    }
    strlist_free(&props);
    strlist_free(&names);
    strlist_free(&kids);
    vd_coll_clear(&dst);
    return e;
}

/* issue 4 (access.h): a non-owner copies what they see (the masked copy;
 * a hidden event is 404), moves only what they see whole, and copies or
 * moves a whole collection only with admin on it (its members would
 * otherwise leave unmasked). */
static vd_err cm_check_view(cm_ctx *c, const vd_node *src)
{
    vd_request *r = c->r;
    vd_access_view_clear(&c->view);
    if (vd_access_is_owner(r, src))
        return VD_OK;
    if (src->kind == VD_NODE_COLL)
        return need_coll_admin(r, src, &c->err);
    vd_err e = vd_access_view_of(r, src, vd_access_privs(r, src), NULL, &c->view);
    if (e != VD_OK)
        return e;
    if (c->view.level == VD_MASK_HIDDEN)
        return FAIL(&c->err.d, 404, NULL, NULL, "nothing exists at %s", src->path);
    if (c->move && c->view.level != VD_MASK_NONE)
        return need_unmasked(r, src, true, &c->err);
    return VD_OK;
}

/* Source checks: it exists, may be copied/moved, the Depth fits, and the
 * user holds read (COPY) or unbind on its parent (MOVE). */
static vd_err cm_check_source(cm_ctx *c, vd_txn *t, const vd_node *src)
{
    vd_request *r = c->r;
    const char *verb = c->move ? "moved" : "copied";
    if (src->kind == VD_NODE_NONE)
        return FAIL(&c->err.d, 404, NULL, NULL, "nothing exists at %s", r->path);
    if (src->kind != VD_NODE_RES && src->kind != VD_NODE_COLL) {
        c->err.allow = vd_allow_for(src);
        return FAIL(&c->err.d, 405, NULL, NULL, "%s cannot be %s", src->path, verb);
    }
    if (src->kind == VD_NODE_COLL && src->coll.kind == VD_COLL_HOME)
        return FAIL(&c->err.d, 403, NULL, NULL, "%s is a user's calendar home; it cannot be %s",
                    src->path, verb);
    /* RFC 4918 9.9.2: "A client MUST NOT submit a Depth header on a MOVE on
     * a collection with any value but "infinity"." */
    if (src->kind == VD_NODE_COLL && c->move && c->depth != -1)
        return FAIL(&c->err.d, 400, NULL, NULL, "MOVE of a collection takes only Depth: infinity");
    /* RFC 4918 9.8.3: Depth "0" or "infinity" on a COPY of a collection */
    if (src->kind == VD_NODE_COLL && !c->move && c->depth == 1)
        return FAIL(&c->err.d, 400, NULL, NULL, "COPY of a collection takes Depth 0 or infinity");
    /* a collection by its stored path (an alias: teams.h) */
    const char *spath = src->kind == VD_NODE_COLL ? src->coll.path : src->path;
    vd_err e = c->move ? need_parent_priv(r, t, spath, VD_PRIV_UNBIND, &c->err)
                       : need_priv(r, src, VD_PRIV_READ, &c->err);
    if (e == VD_OK)
        e = cm_check_view(c, src);
    if (e != VD_OK)
        return e;
    /* The preconditions apply to the request target, the source */
    return cond_check(r, t, src, &c->err.d);
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Source and destination must be distinct and not contain each other. */
static vd_err cm_check_paths(cm_ctx *c, const vd_node *src, const char *dres, const char *ddir)
{
    bool coll = src->kind == VD_NODE_COLL;
    /* RFC 4918 9.8.5 / 9.9.4: 403 "the source and destination resources are the same" */
    if (strcmp(src->path, coll ? ddir : dres) == 0)
        return FAIL(&c->err.d, 403, NULL, NULL, "source and destination are the same (%s)",
                    src->path);
    if (coll && has_prefix(ddir, src->path))
        return FAIL(&c->err.d, 403, NULL, NULL, "the destination %s lies inside the source %s",
                    ddir, src->path);
    if (has_prefix(src->path, ddir))
        return FAIL(&c->err.d, 403, NULL, NULL,
                    "the destination %s contains the source %s", ddir, src->path);
    return VD_OK;
}

/* Destination checks: its parent exists and can hold the source, the user
 * may bind there (and unbind what is replaced), Overwrite is respected. */
static vd_err cm_check_dest(cm_ctx *c, const vd_node *src, const vd_node *dp,
                            const vd_node *dn)
{
    vd_request *r = c->r;
    if (dp->kind == VD_NODE_NONE)
        /* RFC 4918 9.8.5 / 9.9.4: 409 when intermediate collections are missing */
        return FAIL(&c->err.d, 409, NULL, NULL, "the destination's parent collection %s does not exist",
                    dp->path ? dp->path : "?");
    if (dp->kind == VD_NODE_TEAM_CAL) {          /* issue 4: read-only (teams.h) */
        vd_err pe = need_priv(r, dp, VD_PRIV_BIND, &c->err);
        return pe != VD_OK ? pe : FAIL(&c->err.d, 403, NULL, NULL, "%s is read-only", dp->path);
    }
    if (dp->kind != VD_NODE_COLL)
        return FAIL(&c->err.d, 403, NULL, NULL, "nothing can be created in %s", dp->path);
    if (vd_teams_reserved(r->srv, c->dst))       /* issue 4: a team calendar's alias */
        return FAIL(&c->err.d, 403, NULL, NULL,
                    "names beginning with team-<team>- are reserved for team calendars");
    if (src->kind == VD_NODE_COLL && dp->coll.kind == VD_COLL_CALENDAR) {
        /* RFC 4791 4.2: "Calendar collections MUST NOT contain other calendar
         * collections" (nor any collection, in this server). */
        bool cal = src->coll.kind == VD_COLL_CALENDAR;
        return FAIL(&c->err.d, 403, cal ? VD_NS_CALDAV : NULL,
                    cal ? "calendar-collection-location-ok" : NULL,
                    "%s is a calendar; it cannot hold the collection %s", dp->path, src->path);
    }
    if (dn->kind != VD_NODE_NONE && dn->kind != VD_NODE_RES && dn->kind != VD_NODE_COLL)
        return FAIL(&c->err.d, 403, NULL, NULL, "%s cannot be replaced", dn->path);
    if (dn->kind == VD_NODE_COLL && dn->coll.kind == VD_COLL_HOME)
        return FAIL(&c->err.d, 403, NULL, NULL, "%s is a user's calendar home; it cannot be replaced",
                    dn->path);
    bool exists = dn->kind != VD_NODE_NONE;
    vd_err e = need_priv(r, dp, VD_PRIV_BIND | (exists ? VD_PRIV_UNBIND : 0), &c->err);
    if (e != VD_OK)
        return e;
    /* RFC 4918 9.8.4: "If a resource exists at the destination and the
     * Overwrite header is "F", then the server MUST fail the request." (412) */
    if (exists && !c->overwrite)
        return FAIL(&c->err.d, 412, NULL, NULL, "%s exists and the request says Overwrite: F",
                    dn->path);
    return VD_OK;
}

/* Remove what sits at the destination (RFC 4918 9.8.4: the destination is
 * deleted before the copy/move when Overwrite is T). */
static vd_err cm_unbind_dest(cm_ctx *c, vd_txn *t, const vd_node *dp, const vd_node *dn)
{
    if (dn->kind == VD_NODE_COLL)
        return vd_visits_coll_delete(t, c->r->srv, dn->coll.path);
    if (dn->kind != VD_NODE_RES)
        return VD_OK;
    vd_err e = vd_visits_res_delete(t, c->r->srv, dp->coll.id, dn->name);
    if (e == VD_OK)
        e = props_clear(t, dp->coll.id, dn->name);
    return e;
}

/* COPY/MOVE of one resource: snapshot, unbind, store, properties.
 * RFC 4918 9.8.4 / 9.9.3: with Overwrite T the destination is deleted
 * first, so what lands there is a new resource (its UID is checked against
 * the collection, not against the deleted one). */
static vd_err cm_resource(cm_ctx *c, vd_txn *t, const vd_node *src, const vd_node *dp,
                          const vd_node *dn, const char *dname)
{
    const vd_res *sr = c->view.masked && !c->move ? &c->view.node.res : &src->res;
    const char *sct = sr->content_type && *sr->content_type ? sr->content_type
                                                           : "application/octet-stream";
    char *data = mem_dup(sr->data, sr->len), *ctype = mem_dup(sct, strlen(sct));
    size_t len = sr->len;
    strlist props = {0};
    vd_err e = vd_store_prop_list(t, src->coll.id, src->name, props_cb, &props);
    if (e == VD_ENOTFOUND)
        e = VD_OK;
    if (e == VD_OK)
        e = cm_unbind_dest(c, t, dp, dn);
    if (e == VD_OK && c->move)
        e = vd_visits_res_delete(t, c->r->srv, src->coll.id, src->name);
    if (e == VD_OK)
        e = cm_store(c, t, &dp->coll, dname, data, len, ctype);
    if (e == VD_OK)
        e = props_apply(t, dp->coll.id, dname, &props);
    strlist_free(&props);
    free(data);
    free(ctype);
    return e;
}

static vd_err cm_collection(cm_ctx *c, vd_txn *t, const vd_node *src, const vd_node *dp,
                            const vd_node *dn, const char *ddir)
{
    vd_err e = cm_unbind_dest(c, t, dp, dn);
    if (e != VD_OK)
        return e;
    if (c->move) {          /* the members' refs change: their flags follow */
        e = vd_store_coll_move(t, src->coll.path, ddir);
        return e == VD_OK ? vd_visits_coll_moved(t, c->r->srv, ddir) : e;
    }
    return copy_tree(c, t, &src->coll, ddir, dp->coll.owner, c->depth != 0, 0);
}

static vd_err cm_txn(vd_txn *t, void *ctx)
{
    cm_ctx *c = ctx;
    vd_request *r = c->r;
    vd_node src = {0}, dp = {0}, dn = {0};
    char *dparent = NULL, *dname = NULL, *dres = NULL, *ddir = NULL;
    memset(&c->err, 0, sizeof c->err);
    c->created = false;

    vd_err e = vd_resolve(r->srv, t, r->path, &src);
    if (e == VD_OK)
        e = cm_check_source(c, t, &src);
    if (e == VD_OK && vd_path_split(c->dst, &dparent, &dname) != VD_OK)
        e = FAIL(&c->err.d, 403, NULL, NULL, "the Destination %s cannot be replaced", c->dst);
    if (e == VD_OK) {
        dres = str_cat(dparent, dname);
        ddir = str_cat(dres, "/");
        e = cm_check_paths(c, &src, dres, ddir);
    }
    if (e == VD_OK)
        e = vd_resolve(r->srv, t, dparent, &dp);
    if (e == VD_OK)
        e = vd_resolve(r->srv, t, dres, &dn);
    if (e == VD_OK)
        e = cm_check_dest(c, &src, &dp, &dn);
    if (e == VD_OK && src.kind == VD_NODE_RES)
        e = cm_resource(c, t, &src, &dp, &dn, dname);
    else if (e == VD_OK)
        e = cm_collection(c, t, &src, &dp, &dn, ddir);
    if (e == VD_OK)
        c->created = dn.kind == VD_NODE_NONE;
    vd_node_clear(&src);
    vd_node_clear(&dp);
    vd_node_clear(&dn);
    free(dparent);
    free(dname);
    free(dres);
    free(ddir);
    return e;
}

/* Overwrite header (RFC 4918 10.6): "T" (default) or "F". */
static int parse_overwrite(const char *h)
{
    if (!h)
        return 1;
    while (*h == ' ' || *h == '\t')
        h++;
    int v = (*h == 'T' || *h == 't') ? 1 : (*h == 'F' || *h == 'f') ? 0 : -1;
    if (v < 0)
        return -1;
    for (h++; *h == ' ' || *h == '\t'; h++)
        ;
    return *h ? -1 : v;
}

static void copy_or_move(vd_request *r, bool move)
{
    cm_ctx c = {.r = r, .move = move};
    char *dst = NULL;
    const char *dh = vd_req_header(r, "Destination");
    int ow = parse_overwrite(vd_req_header(r, "Overwrite"));
    vd_err e = VD_OK;
    if (!dh || !*dh) {
        e = FAIL(&c.err.d, 400, NULL, NULL, "%s needs a Destination header (RFC 4918 10.3)",
                 move ? "MOVE" : "COPY");
    } else if (!vd_cond_url_local(r, dh)) {
        /* RFC 4918 9.8.5 / 9.9.4: "502 (Bad Gateway) - This may occur when
         * the destination is on another server" */
        e = FAIL(&c.err.d, 502, NULL, NULL, "the Destination %.300s is on another server", dh);
    } else if (vd_href_decode(dh, &dst, &c.err.d) != VD_OK) {
        if (c.err.d.status == 0)
            vd_diag_set(&c.err.d, 400, NULL, NULL, "the Destination header is not a usable URL");
        e = VD_EINVAL;
    } else if (ow < 0) {
        e = FAIL(&c.err.d, 400, NULL, NULL, "the Overwrite header must be T or F");
    } else if ((c.depth = vd_req_depth(r, -1)) == -2) {
        e = FAIL(&c.err.d, 400, NULL, NULL, "invalid Depth header");
    }
    if (e == VD_OK) {
        c.overwrite = ow == 1;
        c.dst = dst;
        e = vd_store_write(r->srv->store, r->user, r->method, cm_txn, &c);
    }
    if (e != VD_OK)
        finish_error(r, e, &c.err);
    else
        vd_resp_status(r, c.created ? 201 : 204);   /* RFC 4918 9.8.5 / 9.9.4 */
    free(c.reject_xml);
    vd_access_view_clear(&c.view);
    free(dst);
}

void vd_method_copy(vd_request *r)
{
    copy_or_move(r, false);
}

void vd_method_move(vd_request *r)
{
    copy_or_move(r, true);
}
