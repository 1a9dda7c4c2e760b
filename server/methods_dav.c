/* methods_dav.c - PROPFIND, PROPPATCH, MKCOL and MKCALENDAR.
 * Owns: Depth handling and member listing for PROPFIND, the all-or-nothing
 * rule of PROPPATCH and MKCOL/MKCALENDAR bodies, the propstat bodies of
 * PROPPATCH, mkcol-response and mkcalendar-response.
 * Must not: know what a property's value is (props.c does), touch LMDB
 * outside vd_store_* calls, or parse XML itself (davxml does). */
#include "access.h"
#include "conditional.h"
#include "methods.h"
#include "props.h"
#include "teams.h"

#include "../lib/path.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_PATCH_OPS 1000   /* properties in one PROPPATCH / MKCOL body */

static const char XML_CT[] = "application/xml; charset=utf-8";

static void need_privileges(vd_request *r)
{
    vd_diag d = {0};
    vd_diag_set(&d, 403, VD_NS_DAV, "need-privileges", "you may not do this here");
    vd_resp_error(r, &d, 403);
}

/* Brief / Prefer: return=minimal (RFC 8144; macOS sends both).  The HTTP
 * layer adds "Vary: Brief, Prefer" to every PROPFIND and REPORT answer. */
static void brief_headers(vd_request *r, bool brief)
{
    const char *p = vd_req_header(r, "Prefer");
    if (brief && p && strstr(p, "return=minimal"))
        vd_resp_header(r, "Preference-Applied", "return=minimal");
}

/* =====================================================================
 * PROPFIND (RFC 4918 9.1)
 * ===================================================================== */

typedef struct pf_state {
    vd_request *r;
    vd_txn *t;
    const vd_propfind *pf;
    vd_buf ms;
    vd_propset ps;
    vd_propcache cache;
    vd_buf pathbuf;
    bool brief;
} pf_state;

static void pf_respond(pf_state *st, const vd_node *n, uint32_t privs)
{
    vd_propctx c = { .r = st->r, .txn = st->t, .n = n, .privs = privs,
                     .caldata = &st->pf->caldata, .cache = &st->cache };
    vd_props_respond(&c, st->pf, &st->ps, &st->ms, n->path, st->brief);
}

/* A child named by path (virtual nodes, principals): resolved, then listed
 * only if readable. */
static void pf_child_path(pf_state *st, const char *path)
{
    vd_node n = {0};
    if (vd_resolve(st->r->srv, st->t, path, &n) == VD_OK && n.kind != VD_NODE_NONE) {
        uint32_t p = vd_access_privs(st->r, &n);
        if (p & VD_PRIV_READ)
            pf_respond(st, &n, p);
    }
    vd_node_clear(&n);
}

static vd_err pf_child_coll(const vd_coll *c, void *ctx)
{
    pf_state *st = ctx;
    vd_node m;
    vd_props_coll_node(&m, c);
    /* collections the user holds no privilege on (homes: nor on any of
     * their calendars) are left out (access.h) */
    uint32_t p = vd_access_privs_txn(st->r, st->t, &m);
    if (vd_access_coll_visible(p))
        pf_respond(st, &m, p);
    return VD_OK;
}

typedef struct pf_member {
    pf_state *st;
    const vd_coll *coll;
} pf_member;

static vd_err pf_child_res(const vd_res *res, void *ctx)
{
    pf_member *pm = ctx;
    vd_node m;
    vd_props_member_node(&m, pm->coll, res, &pm->st->pathbuf);
    uint32_t p = vd_access_privs(pm->st->r, &m);
    if (!(p & VD_PRIV_READ))
        return VD_OK;
    /* issue 4: a non-owner's members as they see them (masked getetag,
     * getcontentlength, calendar-data); hidden ones are left out */
    vd_access_view v;
    vd_err e = vd_access_view_of(pm->st->r, &m, p, NULL, &v);
    if (e == VD_OK && v.level != VD_MASK_HIDDEN)
        pf_respond(pm->st, &v.node, v.privs);
    vd_access_view_clear(&v);
    return e;
}

typedef struct name_list {
    char **v;
    size_t n, cap;
} name_list;

static void names_add(const char *name, void *ctx)
{
    name_list *l = ctx;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 32;
        char **nv = realloc(l->v, nc * sizeof *nv);
        if (!nv)
            return;
        l->v = nv;
        l->cap = nc;
    }
    char *s = strdup(name);
    if (s)
        l->v[l->n++] = s;
}

static void names_free(name_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

static void pf_principals(pf_state *st)
{
    name_list l = {0};
    vd_userdb_each(st->r->srv->users, names_add, &l);
    for (size_t i = 0; i < l.n; i++) {
        char *p = vd_principal_path(l.v[i]);
        if (p)
            pf_child_path(st, p);
        free(p);
    }
    names_free(&l);
}

/* issue 4 (teams.h): the team calendars a home lists besides its own
 * (aliases), and the aggregates of /teams/<team>/; shown with any
 * privilege, as stored collections are. */
static vd_err pf_child_team(const vd_node *m, void *ctx)
{
    pf_state *st = ctx;
    uint32_t p = vd_access_privs(st->r, m);
    if (vd_access_coll_visible(p))
        pf_respond(st, m, p);
    return VD_OK;
}

/* issue 4: a member of a team aggregate, as pf_child_res lists any. */
static vd_err pf_team_res(const vd_coll *view, const vd_res *res, void *ctx)
{
    pf_member pm = { ctx, view };
    return pf_child_res(res, &pm);
}

/* issue 4: one team principal in the Depth 1 listing of /principals/teams/. */
static void pf_child_team_principal(const char *path, void *ctx)
{
    pf_child_path(ctx, path);
}

/* Depth 1: the members of n. */
static void pf_children(pf_state *st, const vd_node *n)
{
    switch (n->kind) {
    case VD_NODE_ROOT:
        pf_child_path(st, VD_PRINCIPALS_PATH);
        pf_child_path(st, VD_CALENDARS_PATH);
        break;
    case VD_NODE_PRINCIPALS:
        pf_child_path(st, VD_USERS_PATH);
        if (st->r->srv->acl)        /* team principals exist with an ACL file */
            pf_child_path(st, VD_TEAM_PRINCIPALS_PATH);
        break;
    case VD_NODE_PRINCIPAL:         /* /principals/teams/ is a principal-tree node without user or team */
        if (!n->user && !n->team)
            vd_team_principals_each(st->r->srv, pf_child_team_principal, st);
        break;
    case VD_NODE_PRINCIPAL_USERS:
        pf_principals(st);
        break;
    case VD_NODE_CALENDARS:         /* the homes the user may read */
        vd_store_coll_children(st->t, VD_CALENDARS_PATH, pf_child_coll, st);
        break;
    case VD_NODE_COLL: {
        vd_coll view = n->coll;     /* an alias (teams.h): members under the path asked */
        view.path = n->path;
        pf_member pm = { st, &view };
        vd_store_coll_children(st->t, n->coll.path, pf_child_coll, st);
        vd_teams_children(st->r->srv, st->t, n, pf_child_team, st);
        vd_store_res_list(st->t, n->coll.id, pf_child_res, &pm);
        break;
    }
    case VD_NODE_TEAM_CAL:          /* issue 4: every member's visits, as each may be seen */
        vd_teams_walk(st->r->srv, st->t, n, pf_team_res, st);
        break;
    default:
        break;
    }
}

/* The target as r->user may see it, in v (access.h: a collection is
 * visible with any privilege, an event with read unless hidden from this
 * viewer, then 404 as if absent); false after answering. */
static bool pf_target(pf_state *st, const vd_node *n, vd_access_view *v)
{
    uint32_t privs = vd_access_privs_txn(st->r, st->t, n);
    if (n->kind == VD_NODE_RES ? !(privs & VD_PRIV_READ) : !vd_access_coll_visible(privs)) {
        need_privileges(st->r);
        return false;
    }
    if (n->kind != VD_NODE_RES) {
        v->node = *n;           /* a view node: borrows n */
        v->privs = privs;
        return true;
    }
    if (vd_access_view_of(st->r, n, privs, NULL, v) != VD_OK) {
        vd_resp_errorf(st->r, 500, "out of memory");
        return false;
    }
    if (v->level == VD_MASK_HIDDEN) {
        vd_resp_errorf(st->r, 404, "not found");
        return false;
    }
    return true;
}

void vd_method_propfind(vd_request *r)
{
    vd_diag d = {0};
    vd_propfind pf = {0};
    vd_node n = {0};
    vd_access_view view = {0};
    pf_state st = { .r = r, .pf = &pf, .brief = vd_req_brief(r) };
    int depth = vd_req_depth(r, -1);
    if (depth == -2) {
        vd_resp_errorf(r, 400, "invalid Depth header");
        return;
    }
    if (depth == -1) {              /* RFC 4918 9.1: infinity may be refused */
        vd_diag_set(&d, 403, VD_NS_DAV, "propfind-finite-depth",
                    "PROPFIND with Depth: infinity is not supported; use Depth 0 or 1");
        vd_resp_error(r, &d, 403);
        return;
    }
    if (vd_dav_parse_propfind(r->body, r->body_len, &pf, &d) != VD_OK) {
        vd_resp_error(r, &d, 400);
        goto out;
    }
    if (vd_store_read(r->srv->store, &st.t) != VD_OK ||
        vd_resolve(r->srv, st.t, r->path, &n) != VD_OK) {
        vd_resp_errorf(r, 500, "storage error");
        goto out;
    }
    if (n.kind == VD_NODE_NONE) {
        vd_resp_errorf(r, 404, "not found");
        goto out;
    }
    if (!pf_target(&st, &n, &view))
        goto out;
    vd_ms_begin(&st.ms);
    pf_respond(&st, &view.node, view.privs);
    if (depth == 1)
        pf_children(&st, &n);
    vd_ms_end(&st.ms);
    brief_headers(r, st.brief);
    vd_resp_multistatus(r, &st.ms);
out:
    vd_access_view_clear(&view);
    vd_txn_end(st.t);
    vd_node_clear(&n);
    vd_propset_free(&st.ps);
    vd_propcache_clear(&st.cache);
    vd_buf_free(&st.ms);
    vd_buf_free(&st.pathbuf);
    vd_propfind_clear(&pf);
}

/* =====================================================================
 * propstat bodies for PROPPATCH, mkcol-response, mkcalendar-response
 * ===================================================================== */

typedef struct op_result {
    int status;      /* 200, 424, or the failure status */
    vd_diag d;       /* for failures */
} op_result;

static void propstat_group(vd_buf *b, const vd_propupdate *pu, const op_result *res, int status)
{
    bool any = false;
    for (size_t i = 0; i < pu->n_ops; i++)
        any |= res[i].status == status;
    if (!any)
        return;
    vd_buf_puts(b, "<D:propstat><D:prop>");
    for (size_t i = 0; i < pu->n_ops; i++)
        if (res[i].status == status)
            vd_xml_empty(b, pu->ops[i].name.ns, pu->ops[i].name.name);
    vd_buf_printf(b, "</D:prop><D:status>%s</D:status></D:propstat>", vd_http_status_line(status));
}

/* RFC 4918 9.2.1: every property gets a status; a failed one carries its
 * own DAV:error and a readable description. */
static void propstats(vd_buf *b, const vd_propupdate *pu, const op_result *res)
{
    propstat_group(b, pu, res, 200);
    for (size_t i = 0; i < pu->n_ops; i++) {
        const op_result *o = &res[i];
        if (o->status == 200 || o->status == 424)
            continue;
        vd_buf_puts(b, "<D:propstat><D:prop>");
        vd_xml_empty(b, pu->ops[i].name.ns, pu->ops[i].name.name);
        vd_buf_printf(b, "</D:prop><D:status>%s</D:status>", vd_http_status_line(o->status));
        if (o->d.precond) {
            vd_buf_puts(b, "<D:error>");
            vd_xml_empty(b, o->d.precond_ns ? o->d.precond_ns : VD_NS_DAV, o->d.precond);
            vd_buf_puts(b, "</D:error>");
        }
        if (o->d.message[0])
            vd_xml_text(b, VD_NS_DAV, "responsedescription", o->d.message);
        vd_buf_puts(b, "</D:propstat>");
    }
    propstat_group(b, pu, res, 424);
}

/* After the first failure, every other property is 424 (RFC 4918 9.2). */
static void fail_dependents(const vd_propupdate *pu, op_result *res)
{
    for (size_t i = 0; i < pu->n_ops; i++)
        if (res[i].status == 200)
            res[i].status = 424;
}

static op_result *op_results(const vd_propupdate *pu)
{
    return calloc(pu->n_ops ? pu->n_ops : 1, sizeof(op_result));
}

/* =====================================================================
 * PROPPATCH (RFC 4918 9.2)
 * ===================================================================== */

typedef struct patch_ctx {
    vd_request *r;
    const vd_propupdate *pu;
    op_result *res;
    int fail;            /* whole-request failure: 404, 403 */
    vd_diag d;
    bool prop_failed;
    char *href;          /* canonical path of the node */
} patch_ctx;

static vd_err patch_fn(vd_txn *t, void *vctx)
{
    patch_ctx *p = vctx;
    vd_node n = {0};
    vd_err e;
    p->fail = 0;
    p->prop_failed = false;
    for (size_t i = 0; i < p->pu->n_ops; i++)
        p->res[i] = (op_result){ .status = 200 };
    if ((e = vd_resolve(p->r->srv, t, p->r->path, &n)) != VD_OK)
        goto out;
    if (n.kind == VD_NODE_NONE) {
        p->fail = 404;
        e = VD_ENOTFOUND;
        goto out;
    }
    free(p->href);
    p->href = strdup(n.path);       /* canonical: collections end in '/' */
    /* a team aggregate (teams.h) is refused below: need-privileges */
    if (n.kind != VD_NODE_COLL && n.kind != VD_NODE_RES && n.kind != VD_NODE_TEAM_CAL) {
        vd_diag_set(&p->d, 403, VD_NS_DAV, "cannot-modify-protected-property",
                    "the properties of principals and of %s cannot be changed", n.path);
        p->fail = 403;
        e = VD_EFORBIDDEN;
        goto out;
    }
    if (!(vd_access_privs(p->r, &n) & VD_PRIV_WRITE_PROPS)) {
        vd_diag_set(&p->d, 403, VD_NS_DAV, "need-privileges", "you may not change properties here");
        p->fail = 403;
        e = VD_EFORBIDDEN;
        goto out;
    }
    /* If-Match, If-None-Match, If (RFC 4918 10.4): 400 / 412 */
    if ((e = vd_cond_check(p->r, t, &n, false, &p->d)) != VD_OK) {
        p->fail = e == VD_EPRECOND ? p->d.status : 0;   /* store error: 500 */
        goto out;
    }
    for (size_t i = 0; i < p->pu->n_ops; i++) {
        int st = vd_props_check(&n, &p->pu->ops[i], &p->res[i].d);
        if (st) {
            p->res[i].status = st;
            p->prop_failed = true;
        }
    }
    if (p->prop_failed) {           /* all or nothing: abort the txn */
        fail_dependents(p->pu, p->res);
        e = VD_EPRECOND;
        goto out;
    }
    for (size_t i = 0; i < p->pu->n_ops && e == VD_OK; i++)
        e = vd_props_store(t, &n, &p->pu->ops[i]);
out:
    vd_node_clear(&n);
    return e;
}

void vd_method_proppatch(vd_request *r)
{
    vd_diag d = {0};
    vd_propupdate pu = {0};
    patch_ctx p = { .r = r, .pu = &pu };
    vd_buf b = VD_BUF_INIT;
    if (vd_dav_parse_proppatch(r->body, r->body_len, &pu, &d) != VD_OK) {
        vd_resp_error(r, &d, 400);
        goto out;
    }
    if (pu.n_ops > MAX_PATCH_OPS) {
        vd_resp_errorf(r, 400, "at most %d properties per request", MAX_PATCH_OPS);
        goto out;
    }
    if (!(p.res = op_results(&pu))) {
        vd_resp_errorf(r, 500, "out of memory");
        goto out;
    }
    vd_err e = vd_store_write(r->srv->store, r->user, r->method, patch_fn, &p);
    if (e != VD_OK && p.fail) {
        vd_resp_error(r, &p.d, p.fail);
        goto out;
    }
    if (e != VD_OK && !p.prop_failed) {
        vd_resp_errorf(r, 500, "storage error: %s", vd_strerror(e));
        goto out;
    }
    vd_ms_begin(&b);
    vd_buf_puts(&b, "<D:response>");
    vd_xml_href(&b, p.href ? p.href : r->path);
    propstats(&b, &pu, p.res);
    vd_buf_puts(&b, "</D:response>");
    vd_ms_end(&b);
    vd_resp_multistatus(r, &b);
out:
    free(p.res);
    free(p.href);
    vd_buf_free(&b);
    vd_propupdate_clear(&pu);
}

/* =====================================================================
 * MKCOL (RFC 4918 9.3, RFC 5689) and MKCALENDAR (RFC 4791 5.3.1)
 * ===================================================================== */

typedef struct mk_ctx {
    vd_request *r;
    bool mkcalendar;
    char *path;                 /* target, ending in '/' */
    const vd_propupdate *pu;
    op_result *res;
    int fail;
    vd_diag d;
    const char *allow;          /* for a 405 */
    bool prop_failed;
} mk_ctx;

static bool is_op(const vd_propop *op, const char *ns, const char *name)
{
    return vd_qname_eq(&op->name, ns, name);
}

/* RFC 5689 3.3: resourcetype decides what MKCOL makes; only collection and
 * C:calendar are known (DAV:valid-resourcetype otherwise). */
static int classify_resourcetype(const vd_propop *op, bool *calendar, vd_diag *d)
{
    for (size_t i = 0; i < op->n_children; i++) {
        const vd_qname *q = &op->children[i].name;
        if (vd_qname_eq(q, VD_NS_CALDAV, "calendar"))
            *calendar = true;
        else if (!vd_qname_eq(q, VD_NS_DAV, "collection")) {
            vd_diag_set(d, 403, VD_NS_DAV, "valid-resourcetype",
                        "only collection and calendar collections can be made here");
            return 403;
        }
    }
    return 0;
}

/* RFC 4791 5.2.3: the component types; VEVENT and VTODO are supported. */
static int classify_comps(const vd_propop *op, uint32_t *mask, vd_diag *d)
{
    uint32_t m = 0;
    for (size_t i = 0; i < op->n_children; i++) {
        const vd_propchild *c = &op->children[i];
        if (!vd_qname_eq(&c->name, VD_NS_CALDAV, "comp"))
            continue;
        if (c->name_attr && strcasecmp(c->name_attr, "VEVENT") == 0)
            m |= VD_COMP_VEVENT;
        else if (c->name_attr && strcasecmp(c->name_attr, "VTODO") == 0)
            m |= VD_COMP_VTODO;
        else {
            vd_diag_set(d, 403, VD_NS_CALDAV, "supported-calendar-component",
                        "component %s is not supported (VEVENT and VTODO are)",
                        c->name_attr ? c->name_attr : "(unnamed)");
            return 403;
        }
    }
    if (!m) {
        vd_diag_set(d, 403, VD_NS_CALDAV, "supported-calendar-component",
                    "supported-calendar-component-set names no component");
        return 403;
    }
    *mask = m;
    return 0;
}

/* Decide kind and component mask from the body, check every other
 * property against a would-be node of that kind.  False if any failed. */
static bool mk_check_ops(mk_ctx *m, vd_coll_kind *kind, uint32_t *mask)
{
    bool calendar = m->mkcalendar, failed = false;
    const vd_propupdate *pu = m->pu;
    for (size_t i = 0; i < pu->n_ops; i++)
        if (is_op(&pu->ops[i], VD_NS_DAV, "resourcetype")) {
            int st = classify_resourcetype(&pu->ops[i], &calendar, &m->res[i].d);
            if (st) {
                m->res[i].status = st;
                failed = true;
            }
        }
    *kind = calendar ? VD_COLL_CALENDAR : VD_COLL_PLAIN;
    *mask = VD_COMP_DEFAULT;
    vd_node view = { .kind = VD_NODE_COLL };
    view.coll.kind = *kind;
    for (size_t i = 0; i < pu->n_ops; i++) {
        const vd_propop *op = &pu->ops[i];
        int st = 0;
        if (is_op(op, VD_NS_DAV, "resourcetype"))
            continue;
        if (is_op(op, VD_NS_CALDAV, "supported-calendar-component-set") && calendar)
            st = classify_comps(op, mask, &m->res[i].d);
        else
            st = vd_props_check(&view, op, &m->res[i].d);
        if (st) {
            m->res[i].status = st;
            failed = true;
        }
    }
    return !failed;
}

static int mk_fail(mk_ctx *m, int status, const char *ns, const char *precond, const char *msg)
{
    vd_diag_set(&m->d, status, ns, precond, "%s", msg);
    m->fail = status;
    return status;
}

/* Where may the collection go?  0 if the parent is fine, else a status. */
static int mk_check_place(mk_ctx *m, vd_txn *t, vd_node *parent)
{
    char *ppath = NULL, *name = NULL;
    int st = 0;
    if (vd_path_split(m->path, &ppath, &name) != VD_OK || !vd_name_valid(name)) {
        st = mk_fail(m, 403, NULL, NULL, "no collection can be made at this URL");
        goto out;
    }
    if (vd_resolve(m->r->srv, t, ppath, parent) != VD_OK) {
        st = mk_fail(m, 500, NULL, NULL, "storage error");
        goto out;
    }
    if (parent->kind == VD_NODE_NONE) {        /* RFC 4918 9.3.1 */
        st = mk_fail(m, 409, NULL, NULL, "the parent collection does not exist");
    } else if (parent->kind != VD_NODE_COLL) {
        st = mk_fail(m, 403, m->mkcalendar ? VD_NS_CALDAV : NULL,
                     m->mkcalendar ? "calendar-collection-location-ok" : NULL,
                     "collections cannot be made here; use your calendar home");
    } else if (parent->coll.kind == VD_COLL_CALENDAR) {   /* RFC 4791 4.2 */
        st = mk_fail(m, 403, VD_NS_CALDAV, "calendar-collection-location-ok",
                     "a calendar collection cannot contain collections");
    } else if (vd_teams_reserved(m->r->srv, m->path)) {     /* issue 4: aliases */
        st = mk_fail(m, 403, NULL, NULL,
                     "names beginning with team-<team>- are reserved for team calendars");
    } else if (!(vd_access_privs(m->r, parent) & VD_PRIV_BIND)) {
        st = mk_fail(m, 403, VD_NS_DAV, "need-privileges", "you may not create collections here");
    }
out:
    free(ppath);
    free(name);
    return st;
}

static vd_err mk_fn(vd_txn *t, void *vctx)
{
    mk_ctx *m = vctx;
    vd_node n = {0}, parent = {0};
    vd_coll coll = {0};
    vd_coll_kind kind;
    uint32_t mask;
    vd_err e = VD_EFORBIDDEN;
    m->fail = 0;
    m->prop_failed = false;
    m->allow = NULL;
    for (size_t i = 0; i < m->pu->n_ops; i++)
        m->res[i] = (op_result){ .status = 200 };
    if (vd_resolve(m->r->srv, t, m->r->path, &n) != VD_OK) {
        mk_fail(m, 500, NULL, NULL, "storage error");
        goto out;
    }
    if (n.kind != VD_NODE_NONE) {   /* RFC 4918 9.3.1, RFC 4791 5.3.1.1 */
        mk_fail(m, 405, m->mkcalendar ? VD_NS_DAV : NULL,
                m->mkcalendar ? "resource-must-be-null" : NULL, "something exists at this URL");
        m->allow = vd_allow_for(&n);
        goto out;
    }
    /* If-Match, If-None-Match, If (RFC 4918 10.4) against the unmapped URL */
    vd_err ce = vd_cond_check(m->r, t, &n, false, &m->d);
    if (ce != VD_OK) {
        m->fail = ce == VD_EPRECOND ? m->d.status : 0;  /* store error: 500 */
        e = ce;
        goto out;
    }
    if (mk_check_place(m, t, &parent))
        goto out;
    if (!mk_check_ops(m, &kind, &mask)) {
        m->prop_failed = true;
        fail_dependents(m->pu, m->res);
        e = VD_EPRECOND;
        goto out;
    }
    e = vd_store_coll_create(t, m->path, kind, parent.coll.owner, mask, &coll);
    if (e == VD_EEXISTS) {
        mk_fail(m, 405, m->mkcalendar ? VD_NS_DAV : NULL,
                m->mkcalendar ? "resource-must-be-null" : NULL, "something exists at this URL");
    } else if (e == VD_ECONFLICT) {
        mk_fail(m, 409, NULL, NULL, "the parent collection does not exist");
    } else if (e == VD_EFORBIDDEN) {
        mk_fail(m, 403, VD_NS_CALDAV, "calendar-collection-location-ok",
                "a calendar collection cannot contain collections");
    }
    if (e != VD_OK)
        goto out;
    vd_node cn;
    vd_props_coll_node(&cn, &coll);
    for (size_t i = 0; i < m->pu->n_ops && e == VD_OK; i++) {
        const vd_propop *op = &m->pu->ops[i];
        if (!is_op(op, VD_NS_DAV, "resourcetype") &&
            !is_op(op, VD_NS_CALDAV, "supported-calendar-component-set"))
            e = vd_props_store(t, &cn, op);
    }
out:
    vd_coll_clear(&coll);
    vd_node_clear(&n);
    vd_node_clear(&parent);
    return e;
}

static void mk_prop_failure(vd_request *r, mk_ctx *m)
{
    vd_buf b = VD_BUF_INIT;
    const char *root = m->mkcalendar ? "C:mkcalendar-response" : "D:mkcol-response";
    vd_buf_printf(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<%s" VD_XMLNS_ALL ">", root);
    propstats(&b, m->pu, m->res);
    vd_buf_printf(&b, "</%s>\n", root);
    vd_resp_set(r, 403, XML_CT, b.data, b.len);
    vd_buf_free(&b);
}

static void make_collection(vd_request *r, bool mkcalendar)
{
    vd_diag d = {0};
    vd_propupdate pu = {0};
    mk_ctx m = { .r = r, .mkcalendar = mkcalendar, .pu = &pu };
    if (r->body_len > 0 && vd_dav_parse_mkcol(r->body, r->body_len, &pu, &d) != VD_OK) {
        if (mkcalendar)
            vd_resp_error(r, &d, 400);
        else                        /* RFC 4918 9.3: a body MKCOL does not understand */
            vd_resp_errorf(r, 415, "MKCOL accepts no body or an extended MKCOL (DAV:mkcol) body");
        goto out;
    }
    if (pu.n_ops > MAX_PATCH_OPS) {
        vd_resp_errorf(r, 400, "at most %d properties per request", MAX_PATCH_OPS);
        goto out;
    }
    m.path = vd_path_as_dir(r->path);
    m.res = op_results(&pu);
    if (!m.path || !m.res) {
        vd_resp_errorf(r, 500, "out of memory");
        goto out;
    }
    vd_err e = vd_store_write(r->srv->store, r->user, r->method, mk_fn, &m);
    if (e == VD_OK) {
        vd_resp_status(r, 201);
    } else if (m.prop_failed) {
        mk_prop_failure(r, &m);
    } else if (m.fail) {
        if (m.allow)
            vd_resp_header(r, "Allow", m.allow);
        vd_resp_error(r, &m.d, m.fail);
    } else {
        vd_resp_errorf(r, 500, "storage error: %s", vd_strerror(e));
    }
out:
    free(m.path);
    free(m.res);
    vd_propupdate_clear(&pu);
}

void vd_method_mkcol(vd_request *r)
{
    make_collection(r, false);
}

void vd_method_mkcalendar(vd_request *r)
{
    make_collection(r, true);
}
