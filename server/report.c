/* report.c - REPORT (RFC 3253 3.6): calendar-query, calendar-multiget,
 * free-busy-query (RFC 4791 7.8-7.10), sync-collection (RFC 6578),
 * expand-property (RFC 3253 3.8), principal-property-search and
 * principal-search-property-set (RFC 3744 9.4, 9.5).
 * Owns: which members a report visits, in what order, and with what status.
 * Must not: compute property values (props.c), evaluate filters or parse
 * iCalendar beyond vd_ical_* calls, or write to the store (REPORT is a read:
 * one read transaction per request). */
#include "access.h"
#include "calobj.h"
#include "methods.h"
#include "props.h"
#include "teams.h"

#include "../lib/acl.h"
#include "../lib/path.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DAY 86400
#define MAX_BUSY_PERIODS 100000    /* free-busy periods collected per request */

typedef struct rep {
    vd_request *r;
    vd_report *q;
    vd_txn *t;
    vd_node n;              /* the request URI's node */
    uint32_t privs;
    vd_buf ms;
    vd_propset ps;
    vd_propcache cache;
    vd_buf pathbuf;
    bool brief;
    char *req_tz;           /* TZID of the request's C:timezone, or NULL */
    vd_access_view view;    /* issue 4: a resource target as the user sees it */
    const vd_teams_cals *team;  /* issue 4: querying a team aggregate (teams.h) */
} rep;

static void fail(vd_request *r, int status, const char *ns, const char *precond, const char *msg)
{
    vd_diag d = {0};
    vd_diag_set(&d, status, ns, precond, "%s", msg);
    vd_resp_error(r, &d, status);
}

static void ms_finish(rep *x)
{
    vd_ms_end(&x->ms);               /* http.c adds Vary: Brief, Prefer */
    vd_resp_multistatus(x->r, &x->ms);
}

/* One <D:response> with the requested properties of node m. */
static void emit(rep *x, const vd_node *m, uint32_t privs, const vd_ical *ic, const char *ftz)
{
    vd_propctx c = { .r = x->r, .txn = x->t, .n = m, .privs = privs,
                     .caldata = &x->q->props.caldata, .ic = ic, .floating_tz = ftz,
                     .cache = &x->cache };
    vd_props_respond(&c, &x->q->props, &x->ps, &x->ms, m->path, x->brief);
}

/* Names collected from a store walk, so the walk's cursor is closed before
 * each member is read. */
typedef struct names {
    char **v;
    bool *deleted;
    size_t n, cap;
} names;

static vd_err names_push(names *l, const char *name, bool deleted)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        char **nv = realloc(l->v, nc * sizeof *nv);
        if (nv)
            l->v = nv;
        bool *nd = realloc(l->deleted, nc * sizeof *nd);
        if (nd)
            l->deleted = nd;
        if (!nv || !nd)
            return VD_ENOMEM;
        l->cap = nc;
    }
    if (!(l->v[l->n] = strdup(name)))
        return VD_ENOMEM;
    l->deleted[l->n++] = deleted;
    return VD_OK;
}

static vd_err names_cb(const char *name, void *ctx)
{
    return names_push(ctx, name, false);
}

static vd_err changes_cb(const char *name, bool deleted, void *ctx)
{
    return names_push(ctx, name, deleted);
}

static void names_free(names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    free(l->deleted);
    memset(l, 0, sizeof *l);
}

static vd_time widen_lo(vd_time t)
{
    return t < VD_TIME_MIN + DAY ? VD_TIME_MIN : t - DAY;
}

static vd_time widen_hi(vd_time t)
{
    return t > VD_TIME_MAX - DAY ? VD_TIME_MAX : t + DAY;
}

/* Time-range candidates of a calendar, widened by a day on both sides
 * (floating and all-day objects are open-ended in the index anyway). */
static vd_err candidates(rep *x, const vd_coll *cal, vd_time s, vd_time e, names *out)
{
    return vd_store_time_candidates(x->t, cal->id, widen_lo(s), widen_hi(e), names_cb, out);
}

/* =====================================================================
 * calendar-query (RFC 4791 7.8)
 * ===================================================================== */

static const char *query_tz(rep *x, const vd_coll *cal)
{
    return x->req_tz ? x->req_tz : vd_props_floating_tz(&x->cache, x->r, x->t, cal);
}

/* A time-range on a VEVENT/VTODO comp-filter lets the index pick candidates. */
static bool query_range(const vd_compfilter *f, vd_time *s, vd_time *e)
{
    if (!f || f->is_not_defined)
        return false;
    for (const vd_compfilter *c = f->comps; c; c = c->next)
        if (c->has_time_range && !c->is_not_defined &&
            (strcasecmp(c->name, "VEVENT") == 0 || strcasecmp(c->name, "VTODO") == 0)) {
            *s = c->start;
            *e = c->end;
            return true;
        }
    return false;
}

static void query_one(rep *x, const vd_coll *cal, const vd_res *res)
{
    vd_node m;
    if (x->team && !vd_teams_listed(x->team, res))
        return;                     /* the conflicts aggregate: flagged visits only */
    vd_props_member_node(&m, cal, res, &x->pathbuf);
    uint32_t p = vd_access_privs(x->r, &m);
    if (!(p & VD_PRIV_READ) || !res->uid)
        return;
    vd_ical *ic = vd_ical_load(res->data, res->len);
    vd_access_view v = {0};
    /* issue 4: the filter runs on what the viewer sees (the masked copy),
     * so a text-match cannot probe hidden fields; hidden events are left out */
    if (ic && vd_access_view_of(x->r, &m, p, ic, &v) == VD_OK && v.level != VD_MASK_HIDDEN) {
        const vd_ical *vic = vd_access_view_ical(&v);
        if (vic && vd_ical_matches(vic, x->q->filter, query_tz(x, cal)))
            emit(x, &v.node, v.privs, vic, x->req_tz);
    }
    vd_access_view_clear(&v);
    vd_ical_free(ic);
}

typedef struct query_walk {
    rep *x;
    const vd_coll *cal;
} query_walk;

static vd_err query_list_cb(const vd_res *res, void *ctx)
{
    query_walk *w = ctx;
    query_one(w->x, w->cal, res);
    return VD_OK;
}

static vd_err query_calendar(rep *x, const vd_coll *cal)
{
    vd_time s, e;
    if (!query_range(x->q->filter, &s, &e)) {
        query_walk w = { x, cal };
        return vd_store_res_list(x->t, cal->id, query_list_cb, &w);
    }
    names l = {0};
    vd_err err = candidates(x, cal, s, e, &l);
    for (size_t i = 0; i < l.n && err == VD_OK; i++) {
        vd_res res;
        vd_err g = vd_store_res_get(x->t, cal->id, l.v[i], &res);
        if (g == VD_OK)
            query_one(x, cal, &res);
        else if (g != VD_ENOTFOUND)
            err = g;
    }
    names_free(&l);
    return err;
}

/* issue 4 (teams.h): x->n's collection named as the client asked (an
 * alias, or the aggregate a member was asked through: the path before the
 * member name), so that member hrefs come out under that path. */
static void asked_coll(rep *x, vd_coll *out, vd_buf *buf)
{
    *out = x->n.coll;
    if (x->n.kind != VD_NODE_RES) {
        out->path = x->n.path;
        return;
    }
    size_t pl = strlen(x->n.path), nl = x->n.name ? strlen(x->n.name) : 0;
    if (nl && nl < pl && strcmp(x->n.path + pl - nl, x->n.name) == 0) {
        vd_buf_append(buf, x->n.path, pl - nl);
        out->path = buf->data;
    }
}

/* issue 4 (teams.h): every member calendar of a team aggregate. */
static vd_err query_team(rep *x)
{
    vd_teams_cals l;
    vd_err e = vd_teams_cals_get(x->r->srv, x->t, &x->n, &l);
    x->team = &l;
    for (size_t i = 0; i < l.n && e == VD_OK; i++)
        e = query_calendar(x, &l.v[i]);
    x->team = NULL;
    vd_teams_cals_clear(&l);
    return e;
}

static void calendar_query(rep *x)
{
    const vd_compfilter *f = x->q->filter;
    if (!f || strcasecmp(f->name, "VCALENDAR") != 0) {   /* RFC 4791 9.7.1 */
        fail(x->r, 403, VD_NS_CALDAV, "valid-filter",
             "calendar-query needs a filter whose top comp-filter is VCALENDAR");
        return;
    }
    if (x->q->timezone && !(x->req_tz = vd_ical_timezone_id(x->q->timezone))) {
        fail(x->r, 403, VD_NS_CALDAV, "valid-calendar-data",
             "C:timezone must be a VCALENDAR holding one valid VTIMEZONE");
        return;
    }
    vd_ms_begin(&x->ms);
    /* On a calendar the members are queried whatever the Depth (Depth 0
     * would only test the collection, which is never a calendar object);
     * on a resource, that resource. */
    vd_coll hc;
    vd_buf hb = VD_BUF_INIT;
    vd_err e = VD_OK;
    asked_coll(x, &hc, &hb);
    if (x->n.kind == VD_NODE_RES)
        query_one(x, &hc, &x->n.res);
    else if (x->n.kind == VD_NODE_TEAM_CAL)
        e = query_team(x);
    else
        e = query_calendar(x, &hc);
    vd_buf_free(&hb);
    if (e != VD_OK) {
        vd_resp_errorf(x->r, 500, "storage error");
        return;
    }
    ms_finish(x);
}

/* =====================================================================
 * calendar-multiget (RFC 4791 7.9)
 * ===================================================================== */

static bool in_scope(const rep *x, const char *path)
{
    if (x->n.kind == VD_NODE_RES)
        return strcmp(path, x->n.path) == 0;
    return strncmp(path, x->n.path, strlen(x->n.path)) == 0;
}

/* The member name when path names a member of the request's own stored
 * calendar collection, else NULL.  Not for an alias of a team calendar
 * (its path differs from its collection's) nor a team aggregate (not a
 * COLL node); a calendar holds no collections (store.h), so a member name
 * there can only be a resource. */
static const char *own_member(const rep *x, const char *path)
{
    if (x->n.kind != VD_NODE_COLL || x->n.coll.kind != VD_COLL_CALENDAR ||
        !x->n.coll.path || strcmp(x->n.path, x->n.coll.path) != 0)
        return NULL;
    const char *slash = strrchr(path, '/');
    if (!slash || !slash[1] || (size_t)(slash - path) + 1 != strlen(x->n.path))
        return NULL;
    return strncmp(path, x->n.path, (size_t)(slash - path) + 1) == 0 ? slash + 1 : NULL;
}

/* Resolve a multiget href.  A member of the request's own calendar (every
 * href a client's sync sends) is looked up by name in the collection x->n
 * already holds: hn then borrows path, name and coll (*borrowed: do not
 * vd_node_clear it).  Anything else, or a member not found, goes through
 * vd_resolve as before. */
static vd_err multiget_resolve(rep *x, const char *path, vd_node *hn, bool *borrowed)
{
    const char *name = own_member(x, path);
    *borrowed = false;
    if (name) {
        memset(hn, 0, sizeof *hn);
        vd_err e = vd_store_res_get(x->t, x->n.coll.id, name, &hn->res);
        if (e == VD_OK) {
            hn->kind = VD_NODE_RES;
            hn->path = (char *)path;
            hn->name = (char *)name;
            hn->coll = x->n.coll;
            *borrowed = true;
            return VD_OK;
        }
        if (e != VD_ENOTFOUND)
            return e;
    }
    return vd_resolve(x->r->srv, x->t, path, hn);
}

/* Every href is answered: getetag + calendar-data, or a response-level
 * 404 (missing, outside the request URI, or unreadable: Thunderbird fails
 * the whole sync on anything else, e.g. a 403). */
static void multiget_one(rep *x, const char *href)
{
    char *path = NULL;
    vd_node hn = {0};
    vd_access_view v = {0};
    bool borrowed = false;
    if (vd_href_decode(href, &path, NULL) != VD_OK) {
        vd_ms_status(&x->ms, href, 404);
        return;
    }
    if (in_scope(x, path) && multiget_resolve(x, path, &hn, &borrowed) == VD_OK &&
        hn.kind == VD_NODE_RES) {
        uint32_t p = vd_access_privs(x->r, &hn);
        /* issue 4: masked for a non-owner; a hidden event is a 404 too */
        if ((p & VD_PRIV_READ) && vd_access_view_of(x->r, &hn, p, NULL, &v) == VD_OK &&
            v.level != VD_MASK_HIDDEN) {
            emit(x, &v.node, v.privs, NULL, NULL);
            goto out;
        }
    }
    vd_ms_status(&x->ms, path, 404);
out:
    vd_access_view_clear(&v);
    if (borrowed)
        memset(&hn, 0, sizeof hn);
    else
        vd_node_clear(&hn);
    free(path);
}

static void calendar_multiget(rep *x)
{
    size_t max = x->r->srv->cfg->max_multiget_hrefs;
    if (x->q->n_hrefs > max) {
        vd_resp_errorf(x->r, 403, "calendar-multiget asks for %zu hrefs; at most %zu per request",
                       x->q->n_hrefs, max);
        return;
    }
    /* Room for the usual answer up front (an event's response is ~800
     * bytes): growing 64 B -> 128 KB by doubling copies it all twice. */
    vd_buf_reserve(&x->ms, x->q->n_hrefs * 1024);
    vd_ms_begin(&x->ms);
    for (size_t i = 0; i < x->q->n_hrefs; i++)
        multiget_one(x, x->q->hrefs[i]);
    ms_finish(x);
}

/* =====================================================================
 * sync-collection (RFC 6578)
 * ===================================================================== */

static void bad_token(rep *x)
{
    /* RFC 6578 3.2; the element is named so Thunderbird resyncs instead
     * of reading an empty DAV:error as rate limiting. */
    fail(x->r, 403, VD_NS_DAV, "valid-sync-token",
         "the sync-token is not valid for this collection (unknown, or too old); sync again with an empty token");
}

typedef struct home_walk {
    rep *x;
} home_walk;

static vd_err sync_home_cb(const vd_coll *c, void *ctx)
{
    rep *x = ((home_walk *)ctx)->x;
    vd_node m;
    vd_props_coll_node(&m, c);
    uint32_t p = vd_access_privs(x->r, &m);
    if (vd_access_coll_visible(p))
        emit(x, &m, p, NULL, NULL);
    return VD_OK;
}

/* On a home (Apple syncs homes) the members are its collections.  A
 * home's seq does not move when a calendar inside it changes, so every
 * sync lists all child collections with their current properties
 * (getctag, sync-token ...) and the home's current token. */
/* issue 4 (teams.h): the team calendars a home shows besides its own. */
static vd_err sync_home_team(const vd_node *m, void *ctx)
{
    rep *x = ((home_walk *)ctx)->x;
    uint32_t p = vd_access_privs(x->r, m);
    if (vd_access_coll_visible(p))
        emit(x, m, p, NULL, NULL);
    return VD_OK;
}

static void sync_home(rep *x)
{
    char tok[80];
    home_walk w = { x };
    vd_ms_begin(&x->ms);
    if (vd_store_coll_children(x->t, x->n.coll.path, sync_home_cb, &w) != VD_OK ||
        vd_teams_children(x->r->srv, x->t, &x->n, sync_home_team, &w) != VD_OK) {
        vd_resp_errorf(x->r, 500, "storage error");
        return;
    }
    vd_props_sync_token(x->n.coll.id, x->n.coll.seq, tok);
    vd_ms_sync_token(&x->ms, tok);
    ms_finish(x);
}

/* issue 4: is a member that is gone (deleted) or hidden now from the
 * viewer news to them?  Only if they may have seen it: they may read the
 * member's path, and it is not marked "never seen" (calobj.h: private
 * since its creation).  The owner gets every removal. */
static bool removal_is_news(rep *x, const vd_node *m)
{
    if (vd_access_is_owner(x->r, m))
        return true;
    if (!(vd_access_privs(x->r, m) & VD_PRIV_READ))
        return false;
    return !vd_calobj_unseen(x->t, m->coll.id, m->name);
}

/* coll: the member's collection, its path as hrefs name it (an alias's or
 * a team aggregate's: teams.h). */
static void sync_member(rep *x, const vd_coll *coll, const char *name, bool deleted)
{
    vd_res res;
    vd_node m;
    if (!deleted && vd_store_res_get(x->t, coll->id, name, &res) == VD_OK) {
        vd_props_member_node(&m, coll, &res, &x->pathbuf);
        uint32_t p = vd_access_privs(x->r, &m);
        /* issue 4: the viewer's copy (masked getetag); an event hidden from
         * them is reported as removed if they may have seen it, else not */
        vd_access_view v = {0};
        vd_err e = (p & VD_PRIV_READ) ? vd_access_view_of(x->r, &m, p, NULL, &v) : VD_OK;
        bool shown = e == VD_OK && (p & VD_PRIV_READ) && v.level != VD_MASK_HIDDEN;
        if (shown)
            emit(x, &v.node, v.privs, NULL, NULL);
        vd_access_view_clear(&v);
        if (shown || e != VD_OK || !removal_is_news(x, &m))
            return;
    } else {
        vd_buf_reset(&x->pathbuf);
        vd_buf_puts(&x->pathbuf, coll->path);
        vd_buf_puts(&x->pathbuf, name);
        m = (vd_node){.kind = VD_NODE_NONE, .path = x->pathbuf.data, .coll = *coll,
                      .name = (char *)name};
        if (!removal_is_news(x, &m))
            return;
    }
    /* RFC 6578 3.5.2: a removed member is a response-level 404 */
    vd_ms_status(&x->ms, m.path, 404);
}

/* sync-level: 1 or absent (OS X 10.7 sends none; then Depth, default 1).
 * Thunderbird sends Depth: 1 with sync-level 1, so Depth is ignored when
 * sync-level is present.  Infinite is answered as 1 on a calendar, which
 * holds no collections; elsewhere RFC 6578 3.3's precondition. */
static bool sync_level_ok(rep *x)
{
    int level = x->q->sync_level;
    if (level == 0)
        level = vd_req_depth(x->r, 1) == -1 ? -1 : 1;
    if (level == -1 && x->n.coll.kind != VD_COLL_CALENDAR) {
        fail(x->r, 403, VD_NS_DAV, "sync-traversal-supported",
             "sync-level infinite is not supported here; use sync-level 1");
        return false;
    }
    return true;
}

static vd_err sync_team_cb(const vd_coll *view, const char *name, bool deleted, void *ctx)
{
    sync_member(ctx, view, name, deleted);
    return VD_OK;
}

/* issue 4 (teams.h): a team aggregate: the union of its member calendars'
 * changes since the token's seq, under a token of the aggregate's own. */
static void sync_team(rep *x)
{
    char tok[VD_TEAMS_TOKEN_MAX];
    vd_ms_begin(&x->ms);
    vd_err e = vd_teams_changes(x->r->srv, x->t, &x->n, x->q->sync_token, sync_team_cb, x, tok);
    if (e == VD_EINVAL) {
        bad_token(x);
        return;
    }
    if (e != VD_OK) {
        vd_resp_errorf(x->r, 500, "storage error");
        return;
    }
    vd_ms_sync_token(&x->ms, tok);
    ms_finish(x);
}

static void sync_collection(rep *x)
{
    uint64_t since = 0, id, seq, new_seq = 0;
    bool truncated = false;
    names l = {0};
    char tok[80];
    const char *t = x->q->sync_token;
    if (!sync_level_ok(x))
        return;
    if (x->n.kind == VD_NODE_TEAM_CAL) {
        sync_team(x);
        return;
    }
    if (t && t[0]) {
        if (!vd_props_parse_sync_token(t, &id, &seq) || id != x->n.coll.id || seq > x->n.coll.seq) {
            bad_token(x);
            return;
        }
        since = seq;
    }
    if (x->n.coll.kind == VD_COLL_HOME) {
        sync_home(x);
        return;
    }
    size_t limit = x->q->limit > 0 ? (size_t)x->q->limit : 0;
    vd_err e = vd_store_changes(x->t, x->n.coll.id, since, limit, changes_cb, &l, &new_seq, &truncated);
    if (e == VD_EINVAL) {
        bad_token(x);
        goto out;
    }
    if (e != VD_OK) {
        vd_resp_errorf(x->r, 500, "storage error");
        goto out;
    }
    vd_ms_begin(&x->ms);
    vd_coll hc = x->n.coll;         /* an alias (teams.h): hrefs under the path asked */
    hc.path = x->n.path;
    for (size_t i = 0; i < l.n; i++)
        sync_member(x, &hc, l.v[i], l.deleted[i]);
    if (truncated)                  /* RFC 6578 3.6 */
        vd_ms_status(&x->ms, x->n.path, 507);
    vd_props_sync_token(x->n.coll.id, new_seq, tok);
    vd_ms_sync_token(&x->ms, tok);
    ms_finish(x);
out:
    names_free(&l);
}

/* =====================================================================
 * free-busy-query (RFC 4791 7.10)
 * ===================================================================== */

typedef struct fbset {
    vd_instance *v[3];      /* BUSY, BUSY-TENTATIVE, BUSY-UNAVAILABLE */
    size_t n[3], cap[3];
    size_t total;
} fbset;

static void busy_cb(vd_time start, vd_time end, const char *fbtype, void *ctx)
{
    fbset *fb = ctx;
    int k = strcmp(fbtype, "BUSY-TENTATIVE") == 0 ? 1
          : strcmp(fbtype, "BUSY-UNAVAILABLE") == 0 ? 2 : 0;
    if (fb->total >= MAX_BUSY_PERIODS)
        return;
    if (fb->n[k] == fb->cap[k]) {
        size_t nc = fb->cap[k] ? fb->cap[k] * 2 : 64;
        vd_instance *nv = realloc(fb->v[k], nc * sizeof *nv);
        if (!nv)
            return;
        fb->v[k] = nv;
        fb->cap[k] = nc;
    }
    fb->v[k][fb->n[k]++] = (vd_instance){ start, end };
    fb->total++;
}

static vd_err fb_calendar(rep *x, const vd_coll *cal, fbset *fb)
{
    names l = {0};
    const char *tz = vd_props_floating_tz(&x->cache, x->r, x->t, cal);
    vd_err e = candidates(x, cal, x->q->fb_start, x->q->fb_end, &l);
    for (size_t i = 0; i < l.n && e == VD_OK; i++) {
        vd_res res;
        if (vd_store_res_get(x->t, cal->id, l.v[i], &res) != VD_OK)
            continue;
        vd_ical *ic = vd_ical_load(res.data, res.len);
        if (ic)
            vd_ical_busy(ic, x->q->fb_start, x->q->fb_end, tz, busy_cb, fb);
        vd_ical_free(ic);
    }
    names_free(&l);
    return e;
}

typedef struct id_list {
    uint64_t *v;
    size_t n, cap;
} id_list;

static vd_err fb_child_cb(const vd_coll *c, void *ctx)
{
    id_list *l = ((void **)ctx)[0];
    rep *x = ((void **)ctx)[1];
    vd_node m;
    vd_props_coll_node(&m, c);
    if (c->kind != VD_COLL_CALENDAR ||
        !(vd_access_privs(x->r, &m) & (VD_PRIV_READ | VD_PRIV_READ_FREEBUSY)))
        return VD_OK;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        uint64_t *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv)
            return VD_ENOMEM;
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = c->id;
    return VD_OK;
}

/* On a home: every calendar in it the user may see free-busy of. */
static vd_err fb_home(rep *x, fbset *fb)
{
    id_list ids = {0};
    void *ctx[2] = { &ids, x };
    vd_err e = vd_store_coll_children(x->t, x->n.coll.path, fb_child_cb, ctx);
    for (size_t i = 0; i < ids.n && e == VD_OK; i++) {
        vd_coll c = {0};
        if (vd_store_coll_get_by_id(x->t, ids.v[i], &c) == VD_OK)
            e = fb_calendar(x, &c, fb);
        vd_coll_clear(&c);
    }
    free(ids.v);
    return e;
}

static void free_busy(rep *x)
{
    fbset fb = {0};
    vd_buf out = VD_BUF_INIT;
    if (x->q->fb_start == VD_TIME_MIN || x->q->fb_end == VD_TIME_MAX ||
        x->q->fb_start >= x->q->fb_end) {
        fail(x->r, 403, VD_NS_CALDAV, "valid-filter",
             "free-busy-query needs a time-range with both start and end, start before end");
        return;
    }
    vd_err e = x->n.coll.kind == VD_COLL_HOME ? fb_home(x, &fb) : fb_calendar(x, &x->n.coll, &fb);
    if (e != VD_OK) {
        vd_resp_errorf(x->r, 500, "storage error");
        goto out;
    }
    vd_ical_freebusy_render(&out, x->q->fb_start, x->q->fb_end, fb.v[0], fb.n[0],
                            fb.v[1], fb.n[1], fb.v[2], fb.n[2]);
    vd_resp_set(x->r, 200, "text/calendar; charset=utf-8", out.data, out.len);
out:
    for (int k = 0; k < 3; k++)
        free(fb.v[k]);
    vd_buf_free(&out);
}

/* =====================================================================
 * principal-property-search / principal-search-property-set (RFC 3744 9.4, 9.5)
 * ===================================================================== */

/* Caseless (ASCII) substring; an empty needle matches. */
static bool ci_contains(const char *hay, const char *needle)
{
    if (!hay)
        return false;
    size_t nl = strlen(needle), hl = strlen(hay);
    for (size_t i = 0; i + nl <= hl; i++)
        if (strncasecmp(hay + i, needle, nl) == 0)
            return true;
    return false;
}

/* name: the user or team; pp: its principal path; a team has no dn or
 * e-mail (issue 4: teams are found by name and path). */
static bool prop_matches(const vd_qname *p, const char *name, const char *dn,
                         const char *email, const char *pp, const char *match)
{
    if (vd_qname_eq(p, VD_NS_DAV, "displayname"))
        return ci_contains(dn && dn[0] ? dn : name, match);
    if (vd_qname_eq(p, VD_NS_CS, "email-address-set"))
        return email && ci_contains(email, match);
    if (vd_qname_eq(p, VD_NS_CALDAV, "calendar-user-address-set"))
        return (email && (ci_contains(email, match) ||
                          (strncasecmp(match, "mailto:", 7) == 0 && ci_contains(email, match + 7)))) ||
               (pp && ci_contains(pp, match));
    return false;
}

static bool principal_matches(const vd_report *q, const char *name, const char *dn,
                              const char *email, const char *pp)
{
    bool any = false, all = true;
    for (size_t i = 0; i < q->n_searches; i++) {
        const vd_propsearch *s = &q->searches[i];
        bool m = false;
        for (size_t k = 0; k < s->n_props && !m; k++)
            m = prop_matches(&s->props[k], name, dn, email, pp, s->match ? s->match : "");
        any |= m;
        all &= m;
    }
    return q->n_searches && (q->search_anyof ? any : all);
}

static void collect_user(const char *name, void *ctx)
{
    names_push(ctx, name, false);
}

/* One principal (user or team) at path, if the user may read it. */
static void emit_principal(rep *x, const char *path)
{
    vd_node pn = {0};
    if (vd_resolve(x->r->srv, x->t, path, &pn) == VD_OK && pn.kind == VD_NODE_PRINCIPAL) {
        uint32_t p = vd_access_privs(x->r, &pn);
        if (p & VD_PRIV_READ)
            emit(x, &pn, p, NULL, NULL);
    }
    vd_node_clear(&pn);
}

static void search_users(rep *x)
{
    names users = {0};
    vd_userdb_each(x->r->srv->users, collect_user, &users);
    for (size_t i = 0; i < users.n; i++) {
        char *dn = NULL, *email = NULL, *path = vd_principal_path(users.v[i]);
        if (path && vd_userdb_lookup(x->r->srv->users, users.v[i], &dn, &email) &&
            principal_matches(x->q, users.v[i], dn, email, path))
            emit_principal(x, path);
        free(path);
        free(dn);
        free(email);
    }
    names_free(&users);
}

/* issue 4: the teams of the ACL file in force (group principals). */
static void search_teams(rep *x)
{
    names teams = {0};
    vd_acldb *db = x->r->srv->acl;
    const vd_acl *a = db ? vd_acldb_acquire(db) : NULL;
    for (size_t i = 0; a && i < vd_acl_team_count(a); i++)
        names_push(&teams, vd_acl_team_name(a, i), false);
    if (a)
        vd_acldb_release(db, a);
    for (size_t i = 0; i < teams.n; i++) {
        char *path = vd_team_principal_path(teams.v[i]);
        if (path && principal_matches(x->q, teams.v[i], NULL, NULL, path))
            emit_principal(x, path);
        free(path);
    }
    names_free(&teams);
}

/* RFC 3744 9.4: the principal collection the request names (users or
 * teams), both anywhere else (the root, /principals/, a principal). */
static void principal_search(rep *x)
{
    bool users = strcmp(x->n.path, VD_TEAM_PRINCIPALS_PATH) != 0;
    bool teams = strcmp(x->n.path, VD_USERS_PATH) != 0;
    vd_ms_begin(&x->ms);
    if (users)
        search_users(x);
    if (teams)
        search_teams(x);
    ms_finish(x);
}

static void search_property_set(rep *x)
{
    static const struct { const char *ns, *name, *desc; } props[] = {
        { VD_NS_DAV, "displayname", "Display name" },
        { VD_NS_CALDAV, "calendar-user-address-set", "Calendar user address" },
        { VD_NS_CS, "email-address-set", "Email address" },
    };
    vd_buf b = VD_BUF_INIT;
    vd_buf_puts(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:principal-search-property-set"
                VD_XMLNS_ALL ">");
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++) {
        vd_buf_puts(&b, "<D:principal-search-property><D:prop>");
        vd_xml_empty(&b, props[i].ns, props[i].name);
        vd_buf_puts(&b, "</D:prop><D:description xml:lang=\"en\">");
        vd_buf_xml_escape(&b, props[i].desc, strlen(props[i].desc));
        vd_buf_puts(&b, "</D:description></D:principal-search-property>");
    }
    vd_buf_puts(&b, "</D:principal-search-property-set>\n");
    vd_resp_set(x->r, 200, "application/xml; charset=utf-8", b.data, b.len);
    vd_buf_free(&b);
}

/* =====================================================================
 * expand-property (RFC 3253 3.8)
 * ===================================================================== */

/* The response for one href inside an expanded property. */
static void expand_href(rep *x, const char *path, const vd_qname *subs, size_t n_subs,
                        vd_propset *sub, vd_buf *val)
{
    vd_node hn = {0};
    uint32_t p = 0;
    if (vd_resolve(x->r->srv, x->t, path, &hn) == VD_OK && hn.kind != VD_NODE_NONE)
        p = vd_access_privs(x->r, &hn);
    if (!(p & VD_PRIV_READ)) {
        vd_ms_status(val, path, 404);
    } else {
        vd_propctx c = { .r = x->r, .txn = x->t, .n = &hn, .privs = p, .cache = &x->cache };
        vd_propset_reset(sub);
        for (size_t i = 0; i < n_subs; i++)
            vd_props_eval(&c, subs[i].ns, subs[i].name, sub);
        vd_props_write(val, hn.path, sub, x->brief);
    }
    vd_node_clear(&hn);
}

/* Href-valued live properties with sub-properties asked are replaced by a
 * DAV:response per href (Apple's calendar-proxy-*-for queries come back as
 * empty sets); anything else is returned as PROPFIND would. */
static void expand_property(rep *x)
{
    vd_propctx c = { .r = x->r, .txn = x->t, .n = &x->view.node, .privs = x->view.privs,
                     .cache = &x->cache };
    vd_propset sub = {0};
    vd_buf val = VD_BUF_INIT;
    const vd_report *q = x->q;
    vd_propset_reset(&x->ps);
    for (size_t i = 0; i < q->props.n_props; i++) {
        const vd_qname *pq = &q->props.props[i];
        size_t n_subs = q->n_expand_sub ? q->n_expand_sub[i] : 0;
        char *h[8];
        int nh = vd_props_hrefs(&c, pq->ns, pq->name, h, 8);
        if (nh < 0 || n_subs == 0) {
            for (int k = 0; k < nh; k++)
                free(h[k]);
            vd_props_eval(&c, pq->ns, pq->name, &x->ps);
            continue;
        }
        vd_buf_reset(&val);
        for (int k = 0; k < nh; k++) {
            if (h[k][0] == '/')
                expand_href(x, h[k], q->expand_sub[i], n_subs, &sub, &val);
            free(h[k]);
        }
        vd_propset_add(&x->ps, pq->ns ? pq->ns : "", pq->name, 200, val.data, val.len);
    }
    vd_ms_begin(&x->ms);
    vd_props_write(&x->ms, x->n.path, &x->ps, x->brief);
    ms_finish(x);
    vd_propset_free(&sub);
    vd_buf_free(&val);
}

/* =====================================================================
 * dispatch
 * ===================================================================== */

/* access.h: a collection is visible with any privilege (the members a
 * report visits are filtered one by one), a resource needs read. */
static bool may_run(rep *x)
{
    if (x->q->kind == VD_REPORT_FREE_BUSY_QUERY)   /* RFC 4791 6.1.1 */
        return (x->privs & (VD_PRIV_READ | VD_PRIV_READ_FREEBUSY)) != 0;
    if (x->n.kind == VD_NODE_COLL)
        return vd_access_coll_visible(x->privs);
    return (x->privs & VD_PRIV_READ) != 0;
}

/* issue 4: a resource target as the user sees it, in x->view (x->n stays
 * the stored one: calendar-query masks its members itself); false when
 * hidden from the user or on error. */
static bool view_target(rep *x)
{
    if (vd_access_view_of(x->r, &x->n, x->privs, NULL, &x->view) != VD_OK)
        return false;
    return x->n.kind != VD_NODE_RES || x->view.level != VD_MASK_HIDDEN;
}

static void run(rep *x)
{
    switch (x->q->kind) {
    case VD_REPORT_CALENDAR_QUERY:    calendar_query(x); break;
    case VD_REPORT_CALENDAR_MULTIGET: calendar_multiget(x); break;
    case VD_REPORT_SYNC_COLLECTION:   sync_collection(x); break;
    case VD_REPORT_FREE_BUSY_QUERY:   free_busy(x); break;
    case VD_REPORT_EXPAND_PROPERTY:   expand_property(x); break;
    case VD_REPORT_PRINCIPAL_PROPERTY_SEARCH: principal_search(x); break;
    case VD_REPORT_PRINCIPAL_SEARCH_PROPERTY_SET: search_property_set(x); break;
    case VD_REPORT_UNKNOWN: break;
    }
}

void vd_method_report(vd_request *r)
{
    vd_diag d = {0};
    vd_report q = {0};
    rep x = { .r = r, .q = &q, .brief = vd_req_brief(r) };
    if (vd_dav_parse_report(r->body, r->body_len, &q, &d) != VD_OK) {
        vd_resp_error(r, &d, 400);
        goto out;
    }
    if (vd_store_read(r->srv->store, &x.t) != VD_OK ||
        vd_resolve(r->srv, x.t, r->path, &x.n) != VD_OK) {
        vd_resp_errorf(r, 500, "storage error");
        goto out;
    }
    if (x.n.kind == VD_NODE_NONE) {
        vd_resp_errorf(r, 404, "not found");
        goto out;
    }
    x.privs = vd_access_privs_txn(r, x.t, &x.n);
    if (q.kind == VD_REPORT_UNKNOWN || !vd_props_report_supported(&x.n, q.kind)) {
        /* RFC 3253 3.6 */
        fail(r, 403, VD_NS_DAV, "supported-report",
             q.kind == VD_REPORT_UNKNOWN ? "this report is not supported"
                                         : "this report is not supported on this resource");
        goto out;
    }
    if (!may_run(&x)) {
        fail(r, 403, VD_NS_DAV, "need-privileges", "you may not read this");
        goto out;
    }
    if (!view_target(&x)) {
        vd_resp_errorf(r, 404, "not found");
        goto out;
    }
    run(&x);
out:
    vd_access_view_clear(&x.view);
    vd_txn_end(x.t);
    vd_node_clear(&x.n);
    vd_propset_free(&x.ps);
    vd_propcache_clear(&x.cache);
    vd_buf_free(&x.ms);
    vd_buf_free(&x.pathbuf);
    free(x.req_tz);
    vd_report_clear(&q);
}
