/* access.c - who may do what on a node, what of an event a viewer who is
 * not its owner sees (access.h), and the RFC 3744 403 answer.
 * Without an ACL file the rule is the fixed one of issue 2: a user holds
 * every privilege on their own calendar home and everything below it, may
 * read the virtual nodes of the URL space and every principal, and holds
 * nothing anywhere else.  With one (issue 4), lib/acl.h decides on stored
 * paths and lib/ical_mask.h makes the masked copies; the conflict flags of
 * an event name another visit only to viewers who may see that calendar.
 * Must not: fail open (no user, no rule, an object that does not parse, a
 * mask that fails: no privilege, nothing served), or answer the client
 * except through vd_resp_forbidden. */
#include "access.h"
#include "teams.h"

#include "../lib/acl.h"
#include "../lib/hash.h"
#include "../lib/ical_visit.h"
#include "../lib/path.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ACL_ALL (VD_ACL_FREEBUSY | VD_ACL_MASKED | VD_ACL_READ | VD_ACL_WRITE | VD_ACL_ADMIN)
#define PRIV_WRITE (VD_PRIV_WRITE_CONTENT | VD_PRIV_WRITE_PROPS | VD_PRIV_BIND | VD_PRIV_UNBIND)
#define PRIV_LISTING (VD_PRIV_READ | VD_PRIV_READ_CUPS)

/* Is path (a collection path or member path) inside user's home? */
static bool in_own_home(const char *user, const char *path)
{
    char *home = vd_home_path(user);
    char *dir = vd_path_as_dir(path);
    bool in = home && dir && strncmp(dir, home, strlen(home)) == 0;
    free(home);
    free(dir);
    return in;
}

/* The ladder, applied here too: a grant of one privilege holds the ones
 * below it (lib/acl.h promises the closure; never trust it to fail open). */
static unsigned closure(unsigned a)
{
    if (a & VD_ACL_ADMIN)
        a |= VD_ACL_WRITE;
    if (a & VD_ACL_WRITE)
        a |= VD_ACL_READ;
    if (a & VD_ACL_READ)
        a |= VD_ACL_MASKED;
    if (a & VD_ACL_MASKED)
        a |= VD_ACL_FREEBUSY;
    return a & ACL_ALL;
}

/* The ACL privileges on a path as the file (and the own-home rule) say. */
static unsigned acl_of(vd_request *r, const char *path)
{
    if (in_own_home(r->user, path))     /* a user has every right on their home */
        return ACL_ALL;
    if (!r->srv || !r->srv->acl)
        return 0;
    const vd_acl *a = vd_acldb_acquire(r->srv->acl);
    unsigned p = a ? vd_acl_privs(a, r->user, path, NULL) : 0;
    vd_acldb_release(r->srv->acl, a);
    return closure(p);
}

/* issue 4 (teams.h): an alias is decided on the /teams/ path it names; a
 * team aggregate is read-only whatever the file grants; on one of its
 * members a user holds max(privilege on the event's own path,
 * min(privilege on the aggregate path, read-masked)), so a team calendar
 * shows teammates' visits masked at most. */
static unsigned team_acl(vd_request *r, const vd_teams_map *m)
{
    if (!m->path)
        return 0;
    unsigned a = acl_of(r, m->path);
    if (m->kind == VD_TEAMS_MAP_PATH)
        return a;
    if (m->kind == VD_TEAMS_MAP_MEMBER)
        a = (m->real ? acl_of(r, m->real) : 0) | (a & (VD_ACL_FREEBUSY | VD_ACL_MASKED));
    return closure(a) & ~(VD_ACL_WRITE | VD_ACL_ADMIN);
}

unsigned vd_access_acl(vd_request *r, const char *path)
{
    if (!r || !r->user || !path)
        return 0;
    vd_teams_map m;
    if (vd_teams_map_path(r->srv, path, &m)) {
        unsigned a = team_acl(r, &m);
        vd_teams_map_clear(&m);
        return a;
    }
    return acl_of(r, path);
}

/* docs/acl.md: the WebDAV privileges each ACL privilege stands for. */
static uint32_t dav_privs(unsigned a)
{
    uint32_t p = 0;
    if (a & VD_ACL_ADMIN)
        return VD_PRIV_ALL;
    if (a & VD_ACL_FREEBUSY)
        p |= VD_PRIV_READ_FREEBUSY;
    if (a & (VD_ACL_MASKED | VD_ACL_READ))
        p |= VD_PRIV_READ | VD_PRIV_READ_CUPS;
    if (a & VD_ACL_WRITE)
        p |= PRIV_WRITE;
    return p;
}

uint32_t vd_access_privs(vd_request *r, const vd_node *n)
{
    if (!r || !r->user || !n || !n->path)
        return 0;
    switch (n->kind) {
    case VD_NODE_ROOT:
    case VD_NODE_PRINCIPALS:
    case VD_NODE_PRINCIPAL_USERS:
    case VD_NODE_PRINCIPAL:
    case VD_NODE_CALENDARS:
        return PRIV_LISTING;
    case VD_NODE_COLL:
    case VD_NODE_RES:
    case VD_NODE_NONE:
    case VD_NODE_TEAM_CAL:              /* issue 4: read-only, by vd_access_acl */
        if (!r->srv || !r->srv->acl)    /* issue 2's rule, exactly */
            return in_own_home(r->user, n->path) ? VD_PRIV_ALL : 0;
        return dav_privs(vd_access_acl(r, n->path));
    default:                            /* a kind not decided here: nothing */
        break;
    }
    return 0;
}

typedef struct child_walk {
    vd_request *r;
    bool any;
} child_walk;

static vd_err child_cb(const vd_coll *c, void *ctx)
{
    child_walk *w = ctx;
    if (vd_access_acl(w->r, c->path) != 0) {
        w->any = true;
        return VD_EEXISTS;              /* found one: stop the walk */
    }
    return VD_OK;
}

uint32_t vd_access_privs_txn(vd_request *r, vd_txn *t, const vd_node *n)
{
    uint32_t p = vd_access_privs(r, n);
    if (!r || !t || !n || n->kind != VD_NODE_COLL || n->coll.kind != VD_COLL_HOME ||
        !r->srv || !r->srv->acl || (p & VD_PRIV_READ))
        return p;
    child_walk w = {r, false};
    vd_store_coll_children(t, n->coll.path, child_cb, &w);
    return w.any ? p | PRIV_LISTING : p;
}

bool vd_access_coll_visible(uint32_t privs)
{
    return (privs & (VD_PRIV_READ | VD_PRIV_READ_FREEBUSY)) != 0;
}

bool vd_access_is_owner(vd_request *r, const vd_node *n)
{
    if (!r || !r->user || !n || n->kind == VD_NODE_TEAM_CAL)
        return false;
    if (n->coll.owner && n->coll.owner[0])
        return strcmp(n->coll.owner, r->user) == 0;
    vd_teams_map m;                     /* issue 4: an alias is not the home's own */
    if (n->path && vd_teams_map_path(r->srv, n->path, &m)) {
        vd_teams_map_clear(&m);
        return false;
    }
    return n->path && in_own_home(r->user, n->path);
}

/* The level of a non-owner holding ACL privileges a. */
static vd_mask_level level_for(unsigned a, const vd_ical *ic)
{
    vd_mask_level viewer = (a & VD_ACL_READ) ? VD_MASK_NONE
                         : (a & VD_ACL_MASKED) ? VD_MASK_CUSTOMER : VD_MASK_HIDDEN;
    if (!ic || viewer == VD_MASK_HIDDEN)
        return viewer == VD_MASK_NONE ? VD_MASK_NONE : VD_MASK_HIDDEN;
    vd_mask_level l = vd_ical_mask_level(ic, viewer);
    return l < viewer ? viewer : l;     /* never laxer than the privilege */
}

vd_mask_level vd_access_mask_level(vd_request *r, const vd_node *n, const vd_ical *ic)
{
    if (vd_access_is_owner(r, n))
        return VD_MASK_NONE;
    if (!r || !n || !n->path)
        return VD_MASK_HIDDEN;
    return level_for(vd_access_acl(r, n->path), ic);
}

/* Any VALARM in the stored bytes?  (Names are case-insensitive, RFC 5545 2.) */
static bool has_alarm(const char *data, size_t len)
{
    static const char key[] = "BEGIN:VALARM";
    size_t k = sizeof key - 1;
    for (size_t i = 0; i + k <= len; i++)
        if ((data[i] == 'B' || data[i] == 'b') && strncasecmp(data + i, key, k) == 0)
            return true;
    return false;
}

/* The name of the event's customer (the visit rules' recognition), or NULL. */
static char *customer_name(vd_request *r, const vd_ical *ic)
{
    if (!r->srv || !r->srv->customers)
        return NULL;
    vd_visit_info vi = {0};
    char *name = NULL;
    if (vd_ical_visit_info(ic, &vi) == VD_OK) {
        vd_visit_text vt = {.x_customer = vi.x_customer,
                            .attendees = (const char *const *)vi.attendees,
                            .n_attendees = vi.n_attendees,
                            .location = vi.location, .summary = vi.summary};
        const vd_customers *c = vd_customerdb_acquire(r->srv->customers);
        const vd_customer *cu = c ? vd_customers_identify(c, &vt, NULL) : NULL;
        if (cu && cu->name)
            name = strdup(cu->name);
        vd_customerdb_release(r->srv->customers, c);
    }
    vd_visit_info_clear(&vi);
    return name;
}

/* Make v's masked copy of src at v->level. */
static vd_err make_masked(vd_request *r, const vd_node *n, const vd_ical *src, bool strip,
                          vd_access_view *v)
{
    char *cust = v->level == VD_MASK_CUSTOMER ? customer_name(r, src) : NULL;
    vd_mask_opts o = {.level = v->level, .customer_name = cust,
                      .owner = n->coll.owner, .strip_alarms = strip};
    vd_err e = vd_ical_mask(src, &o, &v->bytes);
    free(cust);
    if (e != VD_OK || !v->bytes.data)
        return e == VD_ENOMEM ? e : VD_EINVAL;
    v->masked = true;
    vd_etag_of(v->bytes.data, v->bytes.len, v->etag);
    v->node.res.data = v->bytes.data;
    v->node.res.len = v->bytes.len;
    v->node.res.etag = v->etag;
    return VD_OK;
}

/* The view of n before the conflict flags are looked at (level, mask). */
static vd_err view_base(vd_request *r, const vd_node *n, uint32_t privs, const vd_ical *ic,
                        vd_access_view *v)
{
    memset(v, 0, sizeof *v);
    v->node = *n;
    v->privs = privs;
    v->src_ic = ic;
    if (vd_access_is_owner(r, n))
        return VD_OK;
    unsigned a = vd_access_acl(r, n->path);
    if (!(a & (VD_ACL_MASKED | VD_ACL_READ))) {
        v->level = VD_MASK_HIDDEN;      /* busy time at most: no event served */
        return VD_OK;
    }
    if (!ic && n->res.uid)
        ic = v->src_ic = v->own_ic = vd_ical_load(n->res.data, n->res.len);
    v->level = level_for(a, ic);
    if (n->res.uid && !ic)
        v->level = VD_MASK_HIDDEN;      /* cannot be masked: not served */
    if (v->level == VD_MASK_HIDDEN || !ic)
        return VD_OK;
    bool strip = !(a & VD_ACL_WRITE);   /* read-only viewers get no VALARM */
    if (v->level == VD_MASK_NONE && (!strip || !has_alarm(n->res.data, n->res.len)))
        return VD_OK;
    if (v->level != VD_MASK_NONE)       /* a masked copy must never overwrite the event */
        v->privs &= ~(PRIV_WRITE | VD_PRIV_READ_ACL);
    vd_err e = make_masked(r, n, ic, strip, v);
    if (e == VD_EINVAL) {
        v->level = VD_MASK_HIDDEN;
        e = VD_OK;
    }
    return e;
}

/* ------------------------------------------------------------------ */
/* issue 4 (docs/rules.md "Privacy"): with an ACL file, an X-VISIT-CONFLICT
 * naming a visit in a calendar the viewer holds no privilege on (not even
 * read-free-busy) is served as its rule only: no href, owner, time or
 * message.  The owner of the event is a viewer like any other.           */

#define FLAG_NAME "X-VISIT-CONFLICT"

/* The end of the logical line starting at p (RFC 5545 3.1 folding). */
static const char *logical_end(const char *p, const char *end)
{
    for (;;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return end;
        p = nl + 1;
        if (p >= end || (*p != ' ' && *p != '\t'))
            return p;
    }
}

/* [b, e) unfolded into u, without line ends. */
static void unfold(const char *b, const char *e, vd_buf *u)
{
    vd_buf_reset(u);
    for (const char *p = b; p < e; p++) {
        if (*p == '\r')
            continue;
        if (*p == '\n') {
            p++;                        /* and the fold's blank, if any */
            continue;
        }
        vd_buf_append(u, p, 1);
    }
}

/* The value of a flag line (after the first ':' outside quotes) and the
 * X-RULE parameter copied into rule (a-z and '-' only, else "unknown"). */
static const char *flag_parts(const char *line, char *rule, size_t cap)
{
    const char *p = line + strlen(FLAG_NAME), *val = NULL;
    snprintf(rule, cap, "unknown");
    bool q = false;
    for (; *p; p++) {
        if (*p == '"')
            q = !q;
        else if (!q && *p == ':') {
            val = p + 1;
            break;
        } else if (!q && *p == ';' && strncasecmp(p + 1, "X-RULE=", 7) == 0) {
            const char *v = p + 8;
            size_t k = 0;
            while ((v[k] >= 'a' && v[k] <= 'z') || v[k] == '-')
                k++;
            if (k > 0 && k < cap && (v[k] == ';' || v[k] == ':'))
                snprintf(rule, cap, "%.*s", (int)k, v);
        }
    }
    return val;
}

/* May r->user see the other visit a flag's value (an encoded href) names?
 * A value that is no href (required-fields) names nothing. */
static bool flag_visible(vd_request *r, const char *val)
{
    if (!val || val[0] != '/')
        return true;
    char *dec = NULL, *parent = NULL, *name = NULL;
    bool yes = vd_path_decode(val, &dec, NULL) == VD_OK &&
               vd_path_split(dec, &parent, &name) == VD_OK &&
               vd_access_acl(r, parent) != 0;
    free(dec);
    free(parent);
    free(name);
    return yes;
}

/* data with the flags r->user may not see reduced to their rule, into
 * out; the number of flags reduced. */
static size_t scrub_flags(vd_request *r, const char *data, size_t len, vd_buf *out)
{
    const char *p = data, *end = data + len;
    size_t n = 0, k = strlen(FLAG_NAME);
    vd_buf u = VD_BUF_INIT;
    while (p < end) {
        const char *e = logical_end(p, end);
        char rule[40];
        if ((size_t)(e - p) > k && strncasecmp(p, FLAG_NAME, k) == 0 &&
            (p[k] == ';' || p[k] == ':')) {
            unfold(p, e, &u);
            vd_buf_append(&u, "", 1);   /* NUL-terminate */
            const char *val = flag_parts(u.data, rule, sizeof rule);
            if (!flag_visible(r, val)) {
                vd_buf_printf(out, FLAG_NAME ";X-RULE=%s:%s\r\n", rule, rule);
                n++;
                p = e;
                continue;
            }
        }
        vd_buf_append(out, p, (size_t)(e - p));
        p = e;
    }
    vd_buf_free(&u);
    return n;
}

/* Any "X-VISIT-CONFLICT" in data (case-insensitive)? */
static bool has_text(const char *data, size_t len, const char *key)
{
    size_t k = strlen(key);
    for (size_t i = 0; i + k <= len; i++)
        if ((data[i] == key[0] || data[i] == (key[0] | 0x20)) && strncasecmp(data + i, key, k) == 0)
            return true;
    return false;
}

/* Serve v's flags as r->user may see them (a copy with its own ETag). */
static vd_err scrub_view(vd_request *r, vd_access_view *v)
{
    const vd_res *res = &v->node.res;
    if (!r || !r->srv || !r->srv->acl || v->level == VD_MASK_HIDDEN ||
        v->node.kind != VD_NODE_RES || !res->data || !has_text(res->data, res->len, FLAG_NAME))
        return VD_OK;
    vd_buf out = VD_BUF_INIT;
    if (scrub_flags(r, res->data, res->len, &out) == 0) {
        vd_buf_free(&out);
        return VD_OK;
    }
    vd_buf_free(&v->bytes);             /* res->data may have pointed here: read already */
    v->bytes = out;
    vd_ical_free(v->ic);
    v->ic = NULL;
    v->masked = true;
    vd_etag_of(v->bytes.data, v->bytes.len, v->etag);
    v->node.res.data = v->bytes.data;
    v->node.res.len = v->bytes.len;
    v->node.res.etag = v->etag;
    return VD_OK;
}

vd_err vd_access_view_of(vd_request *r, const vd_node *n, uint32_t privs, const vd_ical *ic,
                         vd_access_view *v)
{
    vd_err e = view_base(r, n, privs, ic, v);
    return e == VD_OK ? scrub_view(r, v) : e;
}

const vd_ical *vd_access_view_ical(vd_access_view *v)
{
    if (!v->masked)
        return v->src_ic;
    if (!v->ic)
        v->ic = vd_ical_load(v->bytes.data, v->bytes.len);
    return v->ic;
}

void vd_access_view_clear(vd_access_view *v)
{
    if (!v)
        return;
    vd_buf_free(&v->bytes);
    vd_ical_free(v->ic);
    vd_ical_free(v->own_ic);
    memset(v, 0, sizeof *v);
}

const char *vd_priv_name(uint32_t priv)
{
    switch (priv) {
    case VD_PRIV_READ:          return "read";
    case VD_PRIV_READ_FREEBUSY: return "read-free-busy";
    case VD_PRIV_WRITE_CONTENT: return "write-content";
    case VD_PRIV_WRITE_PROPS:   return "write-properties";
    case VD_PRIV_BIND:          return "bind";
    case VD_PRIV_UNBIND:        return "unbind";
    case VD_PRIV_READ_ACL:      return "read-acl";
    case VD_PRIV_READ_CUPS:     return "read-current-user-privilege-set";
    }
    return NULL;
}

void vd_resp_forbidden(vd_request *r, const char *path, const char *privilege)
{
    vd_buf b = VD_BUF_INIT;
    char *href = vd_path_encode(path ? path : "/");
    const char *priv = privilege ? privilege : "all";
    /* read-free-busy lives in the CalDAV namespace (RFC 4791 6.1.1) */
    bool caldav = strcmp(priv, "read-free-busy") == 0;
    vd_buf_puts(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                    "<D:error xmlns:D=\"DAV:\"");
    if (caldav)
        vd_buf_puts(&b, " xmlns:C=\"" VD_NS_CALDAV "\"");
    vd_buf_puts(&b, "><D:need-privileges><D:resource><D:href>");
    if (href)
        vd_buf_xml_escape(&b, href, strlen(href));
    vd_buf_puts(&b, "</D:href><D:privilege><");
    vd_buf_puts(&b, caldav ? "C:" : "D:");
    vd_buf_xml_escape(&b, priv, strlen(priv));
    vd_buf_puts(&b, "/></D:privilege></D:resource></D:need-privileges>"
                    "<D:responsedescription>");
    vd_buf_puts(&b, "you lack the ");
    vd_buf_xml_escape(&b, priv, strlen(priv));
    vd_buf_puts(&b, " privilege here");
    vd_buf_puts(&b, "</D:responsedescription></D:error>\n");
    vd_resp_set(r, 403, "application/xml; charset=utf-8", b.data, b.len);
    vd_buf_free(&b);
    free(href);
}

bool vd_access_check(vd_request *r, const vd_node *n, uint32_t need)
{
    uint32_t have = vd_access_privs(r, n);
    if ((have & need) == need)
        return true;
    uint32_t missing = need & ~have;
    uint32_t first = missing & (~missing + 1);   /* lowest missing bit */
    vd_resp_forbidden(r, n && n->path ? n->path : r->path, vd_priv_name(first));
    return false;
}
