/* props.c - the DAV property layer: the live-property table, dead
 * properties through the store, per-response result sets.
 * Owns: which property exists on which node kind and what its value is;
 * which properties are protected; the sync-token/getctag formats.
 * Must not: open or end transactions, write whole responses, parse
 * iCalendar except for calendar-data with expand/limit/partial.
 * Adding a live property is one line in the table below. */
#include "props.h"
#include "teams.h"

#include "calobj.h"
#include "outbox.h"

#include "../lib/acl.h"
#include "../lib/path.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef VD_STORE_MAX_CLARK           /* store.h's limits (older headers lack them) */
#define VD_STORE_MAX_CLARK 240
#endif
#ifndef VD_STORE_MAX_PROP
#define VD_STORE_MAX_PROP (64 * 1024)
#endif

/* Node kinds as bits, so a table line can say where a property lives. */
enum {
    K_ROOT = 1u << 0, K_VIRT = 1u << 1,  /* "/", and /principals/, /principals/users/, /calendars/ */
    K_PRINC = 1u << 2,
    K_HOME = 1u << 3, K_CAL = 1u << 4, K_PLAIN = 1u << 5,
    K_RES = 1u << 6,
    K_TEAMCAL = 1u << 8,                 /* issue 4: a team aggregate (teams.h) */
    K_GROUP = 1u << 7,                   /* issue 4: a team's group principal */
};
#define K_COLLS (K_HOME | K_CAL | K_PLAIN)
#define K_ALL   0x1ffu

enum {
    P_PROT = 1u << 0,     /* protected: PROPPATCH answers 403 (RFC 4918 15) */
    P_ALLPROP = 1u << 1,  /* returned by allprop (RFC 4918 9.1: the 4918 live props) */
    P_DEAD = 1u << 2,     /* value is the dead property if set; get() is the default */
};

struct pdef;
typedef int (*prop_get)(vd_propctx *c, const struct pdef *d, vd_buf *out);
typedef int (*prop_hrefs)(vd_propctx *c, char **out, int max);
typedef int (*prop_check)(const vd_propop *op, vd_diag *d);

typedef struct pdef {
    const char *ns, *name;
    unsigned flags, kinds;
    prop_get get;          /* 200 with inner XML appended to out, or a status */
    prop_hrefs hrefs;      /* href-valued properties: expand-property follows them */
    prop_check check;      /* validation of a value being set */
} pdef;

static unsigned kind_of(const vd_node *n)
{
    switch (n->kind) {
    case VD_NODE_ROOT: return K_ROOT;
    case VD_NODE_PRINCIPALS: case VD_NODE_PRINCIPAL_USERS: case VD_NODE_CALENDARS: return K_VIRT;
    case VD_NODE_PRINCIPAL:             /* server.h: a team, a user, or /principals/teams/ */
        return n->team ? K_GROUP : n->user ? K_PRINC : K_VIRT;
    case VD_NODE_RES: return K_RES;
    case VD_NODE_COLL:
        return n->coll.kind == VD_COLL_HOME ? K_HOME
             : n->coll.kind == VD_COLL_CALENDAR ? K_CAL : K_PLAIN;
    case VD_NODE_TEAM_CAL: return K_TEAMCAL;
    case VD_NODE_NONE: break;
    }
    return 0;
}

/* ---------- small writers ---------- */

static void put_escaped(vd_buf *b, const char *s)
{
    vd_buf_xml_escape(b, s, strlen(s));
}

static void put_href(vd_buf *b, const char *v)
{
    if (v[0] == '/') {
        vd_xml_href(b, v);
    } else {                        /* a URI (mailto:) is written as it is */
        vd_buf_puts(b, "<D:href>");
        put_escaped(b, v);
        vd_buf_puts(b, "</D:href>");
    }
}

static void put_time_http(vd_buf *b, vd_time t)
{
    char s[30];
    vd_time_format_http(t, s);
    vd_buf_puts(b, s);
}

static void put_time_3339(vd_buf *b, vd_time t)
{
    char s[17];                     /* YYYYMMDDTHHMMSSZ -> YYYY-MM-DDTHH:MM:SSZ */
    vd_time_format_utc(t, s);
    vd_buf_printf(b, "%.4s-%.2s-%.2sT%.2s:%.2s:%.2sZ", s, s + 4, s + 6, s + 9, s + 11, s + 13);
}

/* ---------- principal records (users db), cached per request ---------- */

void vd_propcache_clear(vd_propcache *pc)
{
    if (!pc)
        return;
    free(pc->tzid);
    free(pc->pr_user);
    free(pc->pr_dn);
    free(pc->pr_email);
    memset(pc, 0, sizeof *pc);
}

static void principal_info(vd_propctx *c, const char *user, const char **dn, const char **email)
{
    vd_propcache *pc = c->cache;
    if (!pc->pr_user || strcmp(pc->pr_user, user) != 0) {
        free(pc->pr_user);
        free(pc->pr_dn);
        free(pc->pr_email);
        pc->pr_dn = pc->pr_email = NULL;
        pc->pr_user = strdup(user);
        pc->pr_found = vd_userdb_lookup(c->r->srv->users, user, &pc->pr_dn, &pc->pr_email);
    }
    *dn = pc->pr_dn && pc->pr_dn[0] ? pc->pr_dn : NULL;
    *email = pc->pr_email && pc->pr_email[0] ? pc->pr_email : NULL;
}

/* ---------- getters ---------- */

static int get_resourcetype(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)d;
    unsigned k = kind_of(c->n);
    if (k == K_RES)
        return 200;                 /* empty: a plain resource */
    vd_xml_empty(out, VD_NS_DAV, "collection");
    if (k == K_PRINC || k == K_GROUP)
        vd_xml_empty(out, VD_NS_DAV, "principal");
    if (k == K_CAL || k == K_TEAMCAL)
        vd_xml_empty(out, VD_NS_CALDAV, "calendar");
    return 200;
}

static int get_principal_name(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)d;
    const char *dn, *email;
    principal_info(c, c->n->user, &dn, &email);
    put_escaped(out, dn ? dn : c->n->user);
    return 200;
}

static int get_etag(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)d;
    vd_buf_append(out, "&quot;", 6);       /* no printf: written once per event listed */
    vd_buf_puts(out, c->n->res.etag);
    vd_buf_append(out, "&quot;", 6);
    return 200;
}

static int get_ctype(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)d;
    if (!c->n->res.content_type || !c->n->res.content_type[0])
        return 404;
    put_escaped(out, c->n->res.content_type);
    return 200;
}

static int get_length(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)d;
    vd_buf_printf(out, "%zu", c->n->res.len);
    return 200;
}

static int get_modified(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)d;
    put_time_http(out, c->n->kind == VD_NODE_RES ? c->n->res.modified : c->n->coll.modified);
    return 200;
}

static int get_created(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)d;
    put_time_3339(out, c->n->kind == VD_NODE_RES ? c->n->res.created : c->n->coll.created);
    return 200;
}

static int get_hrefs(vd_propctx *c, const pdef *d, vd_buf *out)
{
    char *v[8];
    int n = d->hrefs(c, v, 8);
    for (int i = 0; i < n; i++) {
        put_href(out, v[i]);
        free(v[i]);
    }
    return 200;
}

static int get_cup(vd_propctx *c, const pdef *d, vd_buf *out)
{
    if (!c->r->user) {              /* RFC 5397 3 */
        vd_xml_empty(out, VD_NS_DAV, "unauthenticated");
        return 200;
    }
    return get_hrefs(c, d, out);
}

/* RFC 3744 3.1 privileges from vd_access_privs; D:write (the aggregate of
 * write-content, write-properties, bind, unbind) and D:all only when every
 * privilege they contain is held. */
static int get_cups(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)d;
    static const struct { uint32_t bit; const char *ns, *name; } map[] = {
        { VD_PRIV_READ, VD_NS_DAV, "read" },
        { VD_PRIV_WRITE_PROPS, VD_NS_DAV, "write-properties" },
        { VD_PRIV_WRITE_CONTENT, VD_NS_DAV, "write-content" },
        { VD_PRIV_BIND, VD_NS_DAV, "bind" },
        { VD_PRIV_UNBIND, VD_NS_DAV, "unbind" },
        { VD_PRIV_READ_ACL, VD_NS_DAV, "read-acl" },
        { VD_PRIV_READ_CUPS, VD_NS_DAV, "read-current-user-privilege-set" },
        { VD_PRIV_READ_FREEBUSY, VD_NS_CALDAV, "read-free-busy" },
    };
    const uint32_t write = VD_PRIV_WRITE_PROPS | VD_PRIV_WRITE_CONTENT | VD_PRIV_BIND | VD_PRIV_UNBIND;
    uint32_t p = c->privs;
    if ((p & VD_PRIV_ALL) == VD_PRIV_ALL)
        vd_buf_puts(out, "<D:privilege><D:all/></D:privilege>");
    if ((p & write) == write)
        vd_buf_puts(out, "<D:privilege><D:write/></D:privilege>");
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (!(p & map[i].bit))
            continue;
        vd_buf_puts(out, "<D:privilege>");
        vd_xml_empty(out, map[i].ns, map[i].name);
        vd_buf_puts(out, "</D:privilege>");
    }
    return 200;
}

static const struct { vd_report_kind k; const char *ns, *name; } report_names[] = {
    { VD_REPORT_CALENDAR_QUERY, VD_NS_CALDAV, "calendar-query" },
    { VD_REPORT_CALENDAR_MULTIGET, VD_NS_CALDAV, "calendar-multiget" },
    { VD_REPORT_FREE_BUSY_QUERY, VD_NS_CALDAV, "free-busy-query" },
    { VD_REPORT_SYNC_COLLECTION, VD_NS_DAV, "sync-collection" },
    { VD_REPORT_EXPAND_PROPERTY, VD_NS_DAV, "expand-property" },
    { VD_REPORT_PRINCIPAL_PROPERTY_SEARCH, VD_NS_DAV, "principal-property-search" },
    { VD_REPORT_PRINCIPAL_SEARCH_PROPERTY_SET, VD_NS_DAV, "principal-search-property-set" },
};

static int get_reports(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)d;
    for (size_t i = 0; i < sizeof report_names / sizeof report_names[0]; i++) {
        if (!vd_props_report_supported(c->n, report_names[i].k))
            continue;
        vd_buf_puts(out, "<D:supported-report><D:report>");
        vd_xml_empty(out, report_names[i].ns, report_names[i].name);
        vd_buf_puts(out, "</D:report></D:supported-report>");
    }
    return 200;
}

static int get_sync_token(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)d;
    char tok[80];
    vd_props_sync_token(c->n->coll.id, c->n->coll.seq, tok);
    put_escaped(out, tok);
    return 200;
}

static int get_ctag(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)d;
    vd_buf_printf(out, "&quot;%" PRIu64 "-%" PRIu64 "&quot;", c->n->coll.id, c->n->coll.seq);
    return 200;
}

/* issue 4 (teams.h): a team aggregate's name, sync-token and ctag (the
 * token: it moves whenever a member's visit or the membership changes). */
static int get_teamcal_name(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)d;
    vd_buf name = VD_BUF_INIT;
    vd_teams_displayname(c->n, &name);
    put_escaped(out, name.data);
    vd_buf_free(&name);
    return 200;
}

static int get_teamcal_token(vd_propctx *c, const pdef *d, vd_buf *out)
{
    char tok[VD_TEAMS_TOKEN_MAX];
    if (vd_teams_token(c->r->srv, c->txn, c->n, tok) != VD_OK)
        return 500;
    if (strcmp(d->name, "getctag") == 0)
        vd_buf_puts(out, "&quot;");
    put_escaped(out, tok);
    if (strcmp(d->name, "getctag") == 0)
        vd_buf_puts(out, "&quot;");
    return 200;
}

/* RFC 5842 3.1: a URI that stays with the collection across MOVE, as its
 * store id does. */
static int get_resource_id(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)d;
    vd_buf_printf(out, "<D:href>urn:uuid:5f0a7d1c-0000-4000-8000-%012" PRIx64 "</D:href>",
                  (uint64_t)(c->n->coll.id & 0xffffffffffffu));
    return 200;
}

static int get_comp_set(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)d;
    static const struct { uint32_t bit; const char *name; } comps[] = {
        { VD_COMP_VEVENT, "VEVENT" }, { VD_COMP_VTODO, "VTODO" },
        { VD_COMP_VJOURNAL, "VJOURNAL" }, { VD_COMP_VFREEBUSY, "VFREEBUSY" },
    };
    uint32_t m = c->n->coll.comp_mask ? c->n->coll.comp_mask : VD_COMP_DEFAULT;
    for (size_t i = 0; i < sizeof comps / sizeof comps[0]; i++)
        if (m & comps[i].bit)
            vd_buf_printf(out, "<C:comp name=\"%s\"/>", comps[i].name);
    return 200;
}

static int get_caldata_types(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)c; (void)d;
    vd_buf_puts(out, "<C:calendar-data content-type=\"text/calendar\" version=\"2.0\"/>");
    return 200;
}

static int get_max_size(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)d;
    vd_buf_printf(out, "%zu", c->r->srv->cfg->max_resource_bytes);
    return 200;
}

static int get_max_instances(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)d;
    vd_buf_printf(out, "%zu", c->r->srv->cfg->max_instances);
    return 200;
}

/* No date is refused on PUT, so the bounds are those of the formats. */
static int get_min_date(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)c; (void)d;
    vd_buf_puts(out, "19000101T000000Z");
    return 200;
}

static int get_max_date(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)c; (void)d;
    vd_buf_puts(out, "99991231T235959Z");
    return 200;
}

static int get_transp_default(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)c; (void)d;
    vd_xml_empty(out, VD_NS_CALDAV, "opaque");   /* RFC 6638 9.1: default opaque */
    return 200;
}

static int get_email_set(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)d;
    const char *dn, *email;
    principal_info(c, c->n->user, &dn, &email);
    if (email) {
        vd_buf_puts(out, "<CS:email-address>");
        put_escaped(out, email);
        vd_buf_puts(out, "</CS:email-address>");
    }
    return 200;
}

static bool needs_render(const vd_caldata_spec *s)
{
    return s && (s->expand || s->limit_recurrence || s->comp_names || s->prop_names);
}

/* RFC 4791 9.6: the stored bytes unless expand / limit / partial asks for
 * a rendering. */
static int get_caldata(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)d;
    const vd_res *res = &c->n->res;
    if (!res->uid)
        return 404;                 /* not a calendar object resource */
    if (!needs_render(c->caldata)) {
        vd_buf_xml_escape(out, res->data, res->len);
        return 200;
    }
    vd_ical *own = NULL;
    const vd_ical *ic = c->ic ? c->ic : (own = vd_ical_load(res->data, res->len));
    vd_buf tmp = VD_BUF_INIT;
    const char *tz = c->floating_tz ? c->floating_tz
                   : vd_props_floating_tz(c->cache, c->r, c->txn, &c->n->coll);
    if (ic && vd_ical_render(ic, c->caldata, tz, &tmp) == VD_OK)
        vd_buf_xml_escape(out, tmp.data ? tmp.data : "", tmp.len);
    else
        vd_buf_xml_escape(out, res->data, res->len);
    vd_buf_free(&tmp);
    vd_ical_free(own);
    return 200;
}

/* ---------- href-valued properties ---------- */

static int one(char **out, int max, char *v)
{
    if (max < 1 || !v) {
        free(v);
        return 0;
    }
    out[0] = v;
    return 1;
}

static int hrefs_cup(vd_propctx *c, char **out, int max)
{
    return c->r->user ? one(out, max, vd_principal_path(c->r->user)) : 0;
}

static int hrefs_self(vd_propctx *c, char **out, int max)
{
    return one(out, max, vd_principal_path(c->n->user));
}

static int hrefs_owner(vd_propctx *c, char **out, int max)
{
    const char *u = c->n->kind == VD_NODE_PRINCIPAL ? c->n->user : c->n->coll.owner;
    size_t tl = strlen(VD_TEAMS_OWNER_PREFIX);
    if (u && strncmp(u, VD_TEAMS_OWNER_PREFIX, tl) == 0)    /* issue 4: a team's (teams.h) */
        return one(out, max, vd_team_principal_path(u + tl));
    return u && u[0] ? one(out, max, vd_principal_path(u)) : 0;
}

static int hrefs_pcs(vd_propctx *c, char **out, int max)
{
    (void)c;
    int n = one(out, max, strdup(VD_USERS_PATH));
    return n + one(out + n, max - n, strdup(VD_TEAM_PRINCIPALS_PATH));
}

/* ---------- issue 4: group principals (teams of the ACL file) ---------- */

static int get_team_name(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)d;
    put_escaped(out, c->n->team);
    return 200;
}

static int hrefs_team_self(vd_propctx *c, char **out, int max)
{
    return one(out, max, vd_team_principal_path(c->n->team));
}

/* One principal href p (taken): into out[n] when collecting (up to max),
 * else written to b.  Returns how many entries of out it filled. */
static int emit_href(char **out, int max, int n, vd_buf *b, char *p)
{
    if (out)
        return one(out + n, max - n, p);
    if (p)
        vd_xml_href(b, p);
    free(p);
    return 0;
}

/* The team's members and then its managers, each once (up to max when
 * out is non-NULL, else written as hrefs to b, all of them). */
static int team_people(vd_propctx *c, char **out, int max, vd_buf *b)
{
    vd_acldb *db = c->r->srv->acl;
    const vd_acl *a = db ? vd_acldb_acquire(db) : NULL;
    size_t nm = 0, ng = 0;
    const char *const *m = a ? vd_acl_team_members(a, c->n->team, &nm) : NULL;
    const char *const *g = a ? vd_acl_team_managers(a, c->n->team, &ng) : NULL;
    int n = 0;
    for (size_t i = 0; i < nm + ng && (!out || n < max); i++) {
        const char *u = i < nm ? m[i] : g[i - nm];
        if (i >= nm && vd_acl_is_member(a, c->n->team, u))
            continue;                   /* a manager who is a member too */
        n += emit_href(out, max, n, b, vd_principal_path(u));
    }
    if (a)
        vd_acldb_release(db, a);
    return n;
}

static int hrefs_members(vd_propctx *c, char **out, int max)
{
    return team_people(c, out, max, NULL);
}

/* RFC 3744 4.3: every member, however many (get_hrefs stops at 8). */
static int get_group_members(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)d;
    team_people(c, NULL, 0, out);
    return 200;
}

/* The teams the user is a member or manager of (in file order). */
static int user_teams(vd_propctx *c, char **out, int max, vd_buf *b)
{
    vd_acldb *db = c->r->srv->acl;
    const vd_acl *a = db ? vd_acldb_acquire(db) : NULL;
    size_t nt = a && c->n->user ? vd_acl_team_count(a) : 0;   /* teams do not nest */
    int n = 0;
    for (size_t i = 0; i < nt && (!out || n < max); i++) {
        const char *t = vd_acl_team_name(a, i);
        if (!vd_acl_is_member(a, t, c->n->user) && !vd_acl_is_manager(a, t, c->n->user))
            continue;
        n += emit_href(out, max, n, b, vd_team_principal_path(t));
    }
    if (a)
        vd_acldb_release(db, a);
    return n;
}

static int hrefs_membership(vd_propctx *c, char **out, int max)
{
    return user_teams(c, out, max, NULL);
}

/* RFC 3744 4.4 */
static int get_group_membership(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)d;
    user_teams(c, NULL, 0, out);
    return 200;
}

/* RFC 6638 2.4.2 */
static int get_cutype_group(vd_propctx *c, const pdef *d, vd_buf *out)
{
    (void)c; (void)d;
    vd_buf_puts(out, "GROUP");
    return 200;
}

/* RFC 6638 2.2: free-busy requests go to the outbox (outbox.c).  Only
 * with an ACL file: without one nobody may see anyone else's busy time. */
static int hrefs_outbox(vd_propctx *c, char **out, int max)
{
    return c->r->srv->acl ? one(out, max, vd_outbox_path(c->n->user)) : 0;
}

static int get_outbox(vd_propctx *c, const pdef *d, vd_buf *out)
{
    return c->r->srv->acl ? get_hrefs(c, d, out) : 404;
}

/* RFC 4791 6.2.1 on principals; on "/" and homes for the current user, so
 * a client given the server or home URL finds its home in one step. */
static int hrefs_home(vd_propctx *c, char **out, int max)
{
    const char *u = c->n->kind == VD_NODE_PRINCIPAL ? c->n->user : c->r->user;
    return u ? one(out, max, vd_home_path(u)) : 0;
}

/* RFC 6638 2.4.1; the mailto: first (Thunderbird takes the first one as
 * the organizer identity). */
static int hrefs_cuas(vd_propctx *c, char **out, int max)
{
    const char *dn, *email;
    int n = 0;
    principal_info(c, c->n->user, &dn, &email);
    if (email && n < max) {
        size_t len = strlen(email) + 8;
        char *v = malloc(len);
        if (v) {
            snprintf(v, len, "mailto:%s", email);
            out[n++] = v;
        }
    }
    if (n < max)
        n += one(out + n, max - n, vd_principal_path(c->n->user));
    return n;
}

static int hrefs_none(vd_propctx *c, char **out, int max)
{
    (void)c; (void)out; (void)max;
    return 0;
}

/* ---------- checks for values being set ---------- */

/* RFC 4791 5.2.2: a VCALENDAR with exactly one valid VTIMEZONE. */
static int check_tz(const vd_propop *op, vd_diag *d)
{
    char *id = op->text && op->text[0] ? vd_ical_timezone_id(op->text) : NULL;
    if (!id) {
        vd_diag_set(d, 403, VD_NS_CALDAV, "valid-calendar-data",
                    "calendar-timezone must be a VCALENDAR holding one valid VTIMEZONE");
        return 403;
    }
    free(id);
    return 0;
}

/* RFC 6638 9.1: exactly one of C:opaque / C:transparent.  409 is RFC 4918
 * 9.2.1's answer for a value whose semantics do not fit the property. */
static int check_transp(const vd_propop *op, vd_diag *d)
{
    if (op->n_children == 1 &&
        (vd_qname_eq(&op->children[0].name, VD_NS_CALDAV, "opaque") ||
         vd_qname_eq(&op->children[0].name, VD_NS_CALDAV, "transparent")))
        return 0;
    vd_diag_set(d, 409, NULL, NULL, "schedule-calendar-transp must hold C:opaque or C:transparent");
    return 409;
}

/* ---------- the table ---------- */

#define DAVNS VD_NS_DAV
#define CAL   VD_NS_CALDAV
#define CS    VD_NS_CS
#define PA    (P_PROT | P_ALLPROP)

static const pdef table[] = {
    /* ns     name                            flags           kinds                       get                 hrefs        check */
    { DAVNS, "resourcetype",                  PA,             K_ALL,                      get_resourcetype,   NULL,        NULL },
    { DAVNS, "displayname",                   PA,             K_PRINC,                    get_principal_name, NULL,        NULL },
    { DAVNS, "displayname",                   PA,             K_GROUP,                    get_team_name,      NULL,        NULL },
    { DAVNS, "displayname",                   P_DEAD|P_ALLPROP, K_COLLS | K_RES,          NULL,               NULL,        NULL },
    { DAVNS, "getetag",                       PA,             K_RES,                      get_etag,           NULL,        NULL },
    { DAVNS, "getcontenttype",                PA,             K_RES,                      get_ctype,          NULL,        NULL },
    { DAVNS, "getcontentlength",              PA,             K_RES,                      get_length,         NULL,        NULL },
    { DAVNS, "getlastmodified",               PA,             K_RES | K_COLLS,            get_modified,       NULL,        NULL },
    { DAVNS, "creationdate",                  PA,             K_RES | K_COLLS,            get_created,        NULL,        NULL },
    { DAVNS, "current-user-principal",        P_PROT,         K_ALL,                      get_cup,            hrefs_cup,   NULL },
    { DAVNS, "principal-URL",                 P_PROT,         K_PRINC,                    get_hrefs,          hrefs_self,  NULL },
    { DAVNS, "principal-URL",                 P_PROT,         K_GROUP,                    get_hrefs,          hrefs_team_self, NULL },
    { DAVNS, "group-member-set",              P_PROT,         K_GROUP,                    get_group_members,  hrefs_members, NULL },
    { CAL,   "calendar-user-type",            P_PROT,         K_GROUP,                    get_cutype_group,   NULL,        NULL },
    { DAVNS, "owner",                         P_PROT,         K_COLLS | K_RES | K_PRINC,  get_hrefs,          hrefs_owner, NULL },
    { DAVNS, "current-user-privilege-set",    P_PROT,         K_ALL,                      get_cups,           NULL,        NULL },
    { DAVNS, "supported-report-set",          P_PROT,         K_ALL,                      get_reports,        NULL,        NULL },
    { DAVNS, "principal-collection-set",      P_PROT,         K_ALL,                      get_hrefs,          hrefs_pcs,   NULL },
    { DAVNS, "group-membership",              P_PROT,         K_PRINC | K_GROUP,          get_group_membership, hrefs_membership, NULL },
    { DAVNS, "sync-token",                    P_PROT,         K_COLLS,                    get_sync_token,     NULL,        NULL },
    { DAVNS, "resource-id",                   P_PROT,         K_COLLS,                    get_resource_id,    NULL,        NULL },
    /* no locking and no quota: reserved names, so always 404 and never dead */
    { DAVNS, "supportedlock",                 P_PROT,         0,                          NULL,               NULL,        NULL },
    { DAVNS, "lockdiscovery",                 P_PROT,         0,                          NULL,               NULL,        NULL },
    { DAVNS, "quota-available-bytes",         P_PROT,         0,                          NULL,               NULL,        NULL },
    { DAVNS, "quota-used-bytes",              P_PROT,         0,                          NULL,               NULL,        NULL },
    { CAL,   "calendar-home-set",             P_PROT,         K_PRINC | K_ROOT | K_HOME,  get_hrefs,          hrefs_home,  NULL },
    { CAL,   "calendar-user-address-set",     P_PROT,         K_PRINC,                    get_hrefs,          hrefs_cuas,  NULL },
    { CAL,   "schedule-outbox-URL",           P_PROT,         K_PRINC,                    get_outbox,         hrefs_outbox, NULL },
    { CAL,   "supported-calendar-component-set", P_PROT,      K_CAL | K_TEAMCAL,          get_comp_set,       NULL,        NULL },
    { CAL,   "supported-calendar-data",       P_PROT,         K_CAL | K_TEAMCAL,          get_caldata_types,  NULL,        NULL },
    { CAL,   "max-resource-size",             P_PROT,         K_CAL,                      get_max_size,       NULL,        NULL },
    { CAL,   "min-date-time",                 P_PROT,         K_CAL,                      get_min_date,       NULL,        NULL },
    { CAL,   "max-date-time",                 P_PROT,         K_CAL,                      get_max_date,       NULL,        NULL },
    { CAL,   "max-instances",                 P_PROT,         K_CAL,                      get_max_instances,  NULL,        NULL },
    { CAL,   "calendar-data",                 P_PROT,         K_RES,                      get_caldata,        NULL,        NULL },
    { CAL,   "schedule-calendar-transp",      P_DEAD,         K_CAL,                      get_transp_default, NULL,        check_transp },
    { CAL,   "calendar-timezone",             P_DEAD,         K_COLLS | K_RES,            NULL,               NULL,        check_tz },
    { CS,    "getctag",                       P_PROT,         K_COLLS,                    get_ctag,           NULL,        NULL },
    { DAVNS, "displayname",                   PA,             K_TEAMCAL,                  get_teamcal_name,   NULL,        NULL },
    { DAVNS, "sync-token",                    P_PROT,         K_TEAMCAL,                  get_teamcal_token,  NULL,        NULL },
    { CS,    "getctag",                       P_PROT,         K_TEAMCAL,                  get_teamcal_token,  NULL,        NULL },
    { CS,    "email-address-set",             P_PROT,         K_PRINC,                    get_email_set,      NULL,        NULL },
    { CS,    "calendar-proxy-read-for",       P_PROT,         K_PRINC,                    get_hrefs,          hrefs_none,  NULL },
    { CS,    "calendar-proxy-write-for",      P_PROT,         K_PRINC,                    get_hrefs,          hrefs_none,  NULL },
};
#define N_TABLE (sizeof table / sizeof table[0])

/* First bytes compared inline: the table is searched for every property
 * of every response. */
static bool same(const pdef *d, const char *ns, const char *name)
{
    if (!ns)
        ns = "";
    return d->name[0] == name[0] && strcmp(d->name, name) == 0 &&
           d->ns[0] == ns[0] && strcmp(d->ns, ns) == 0;
}

static const pdef *scan_def(const char *ns, const char *name, unsigned k)
{
    for (size_t i = 0; i < N_TABLE; i++)
        if ((table[i].kinds & k) && same(&table[i], ns, name))
            return &table[i];
    return NULL;
}

/* The entry for (ns, name) that applies to node kind k, or NULL.  A report
 * asks the same few names for every member listed, so the last entries
 * found are kept per thread, keyed by the name strings' addresses and
 * confirmed by content (a later request may reuse an address for another
 * name).  Misses are not kept: they could not be confirmed that way. */
static const pdef *find_def(const char *ns, const char *name, unsigned k)
{
    enum { SLOTS = 4 };
    static _Thread_local struct { const char *ns, *name; unsigned k; const pdef *d; } memo[SLOTS];
    static _Thread_local unsigned next;
    for (unsigned i = 0; i < SLOTS; i++)
        if (memo[i].d && memo[i].name == name && memo[i].ns == ns && memo[i].k == k &&
            same(memo[i].d, ns, name))
            return memo[i].d;
    const pdef *d = scan_def(ns, name, k);
    if (d) {
        memo[next].ns = ns;
        memo[next].name = name;
        memo[next].k = k;
        memo[next].d = d;
        next = (next + 1) % SLOTS;
    }
    return d;
}

static const pdef *find_any(const char *ns, const char *name, unsigned flag_mask)
{
    for (size_t i = 0; i < N_TABLE; i++)
        if (same(&table[i], ns, name) && (table[i].flags & flag_mask) == flag_mask)
            return &table[i];
    return NULL;
}

static const pdef *find_check(const char *ns, const char *name)
{
    for (size_t i = 0; i < N_TABLE; i++)
        if (table[i].check && same(&table[i], ns, name))
            return &table[i];
    return NULL;
}

bool vd_props_report_supported(const vd_node *n, vd_report_kind k)
{
    switch (n->kind) {
    case VD_NODE_COLL:
        if (n->coll.kind == VD_COLL_CALENDAR)
            return k == VD_REPORT_CALENDAR_QUERY || k == VD_REPORT_CALENDAR_MULTIGET ||
                   k == VD_REPORT_FREE_BUSY_QUERY || k == VD_REPORT_SYNC_COLLECTION ||
                   k == VD_REPORT_EXPAND_PROPERTY;
        if (n->coll.kind == VD_COLL_HOME)
            return k == VD_REPORT_FREE_BUSY_QUERY || k == VD_REPORT_SYNC_COLLECTION ||
                   k == VD_REPORT_EXPAND_PROPERTY;
        return k == VD_REPORT_SYNC_COLLECTION || k == VD_REPORT_EXPAND_PROPERTY;
    case VD_NODE_RES:
        if (n->res.uid)
            return k == VD_REPORT_CALENDAR_QUERY || k == VD_REPORT_CALENDAR_MULTIGET ||
                   k == VD_REPORT_EXPAND_PROPERTY;
        return k == VD_REPORT_EXPAND_PROPERTY;
    case VD_NODE_ROOT: case VD_NODE_PRINCIPALS: case VD_NODE_PRINCIPAL_USERS:
    case VD_NODE_PRINCIPAL:
        return k == VD_REPORT_PRINCIPAL_PROPERTY_SEARCH ||
               k == VD_REPORT_PRINCIPAL_SEARCH_PROPERTY_SET || k == VD_REPORT_EXPAND_PROPERTY;
    case VD_NODE_TEAM_CAL:              /* issue 4: no free-busy of a team */
        return k == VD_REPORT_CALENDAR_QUERY || k == VD_REPORT_CALENDAR_MULTIGET ||
               k == VD_REPORT_SYNC_COLLECTION || k == VD_REPORT_EXPAND_PROPERTY;
    case VD_NODE_CALENDARS:
        return k == VD_REPORT_EXPAND_PROPERTY;
    case VD_NODE_NONE:
        break;
    }
    return false;
}

/* ---------- result sets ---------- */

void vd_propset_reset(vd_propset *ps)
{
    for (size_t i = 0; i < ps->n_owned; i++)
        free(ps->owned[i]);
    ps->n_owned = 0;
    ps->n = 0;
    vd_buf_reset(&ps->vals);
}

void vd_propset_free(vd_propset *ps)
{
    if (!ps)
        return;
    vd_propset_reset(ps);
    free(ps->res);
    free(ps->voff);
    free(ps->owned);
    vd_buf_free(&ps->vals);
    memset(ps, 0, sizeof *ps);
}

static void grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return;
    size_t nc = *cap ? *cap * 2 : 16;
    while (nc < need)
        nc *= 2;
    void *np = realloc(*p, nc * elem);
    if (!np)
        abort();                    /* as vd_buf: out of memory is not recoverable */
    *p = np;
    *cap = nc;
}

static vd_propresult *ps_slot(vd_propset *ps, const char *ns, const char *name, int status)
{
    if (ps->n + 1 > ps->cap) {      /* res and voff grow together */
        size_t cap = ps->cap;
        grow((void **)&ps->res, &cap, ps->n + 1, sizeof *ps->res);
        cap = ps->cap;
        grow((void **)&ps->voff, &cap, ps->n + 1, sizeof *ps->voff);
        ps->cap = cap;
    }
    vd_propresult *r = &ps->res[ps->n];
    memset(r, 0, sizeof *r);
    r->ns = ns;
    r->name = name;
    r->status = status;
    ps->voff[ps->n] = 0;
    ps->n++;
    return r;
}

/* Close a value appended to vals since start: NUL-terminate it and record
 * its offset (an empty value is an empty element). */
static void ps_close_value(vd_propset *ps, size_t start)
{
    if (ps->vals.len == start)
        return;
    vd_buf_append(&ps->vals, "", 1);
    ps->voff[ps->n - 1] = start + 1;
}

void vd_propset_add(vd_propset *ps, const char *ns, const char *name, int status,
                    const char *value, size_t len)
{
    ps_slot(ps, ns, name, status);
    size_t start = ps->vals.len;
    if (value && len)
        vd_buf_append(&ps->vals, value, len);
    ps_close_value(ps, start);
}

static char *own(vd_propset *ps, char *s)
{
    grow((void **)&ps->owned, &ps->cap_owned, ps->n_owned + 1, sizeof *ps->owned);
    ps->owned[ps->n_owned++] = s;
    return s;
}

static bool ps_has(const vd_propset *ps, const char *ns, const char *name)
{
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->res[i].name, name) == 0 && strcmp(ps->res[i].ns, ns) == 0)
            return true;
    return false;
}

void vd_props_write(vd_buf *ms, const char *path, vd_propset *ps, bool brief)
{
    for (size_t i = 0; i < ps->n; i++)
        if (ps->voff[i])
            ps->res[i].value = ps->vals.data + ps->voff[i] - 1;
    vd_ms_response(ms, path, ps->res, ps->n, brief);
}

/* ---------- dead properties ---------- */

static bool has_dead_store(const vd_node *n)
{
    return n->kind == VD_NODE_COLL || n->kind == VD_NODE_RES;
}

static const char *dead_name(const vd_node *n)
{
    return n->kind == VD_NODE_RES ? n->name : NULL;
}

static const char *dead_get(vd_propctx *c, const char *ns, const char *name)
{
    if (!has_dead_store(c->n))
        return NULL;
    char *clark = vd_qname_clark(ns ? ns : "", name);
    const char *xml = NULL;
    if (!clark || vd_store_prop_get(c->txn, c->n->coll.id, dead_name(c->n), clark, &xml) != VD_OK)
        xml = NULL;
    free(clark);
    return xml;
}

/* issue 4: the server's "never seen" markers (calobj.h) are dead
 * properties no client may read, list or change. */
static bool internal_ns(const char *ns)
{
    return ns && ns[0] == VD_CALOBJ_UNSEEN_NS[0] && strcmp(ns, VD_CALOBJ_UNSEEN_NS) == 0;
}

/* One property into ps.  quiet: add nothing unless found (allprop). */
static void eval(vd_propctx *c, const char *ns, const char *name, vd_propset *ps, bool quiet)
{
    if (!ns)
        ns = "";
    if (internal_ns(ns)) {
        if (!quiet)
            ps_slot(ps, ns, name, 404);
        return;
    }
    const pdef *d = find_def(ns, name, kind_of(c->n));
    if (!d || (d->flags & P_DEAD)) {
        const char *xml = dead_get(c, ns, name);
        if (xml) {
            vd_propresult *r = ps_slot(ps, ns, name, 200);
            r->value = xml;
            r->raw_element = true;
            return;
        }
    }
    if (!d || !d->get) {
        if (!quiet)
            ps_slot(ps, ns, name, 404);
        return;
    }
    size_t start = ps->vals.len;
    int st = d->get(c, d, &ps->vals);
    if (st != 200) {
        ps->vals.len = start;       /* drop anything a failing getter wrote */
        if (ps->vals.data)
            ps->vals.data[start] = '\0';
        if (!quiet)
            ps_slot(ps, ns, name, st);
        return;
    }
    /* The slot is added after the getter ran; its value is what it appended. */
    ps_slot(ps, ns, name, 200);
    ps_close_value(ps, start);
}

/* As eval for one asked property, but a found value is written as a
 * complete element straight into ms; what is not found goes into ps. */
static void eval_into(vd_propctx *c, const char *ns, const char *name, vd_propset *ps, vd_buf *ms)
{
    if (!ns)
        ns = "";
    const pdef *d = internal_ns(ns) ? NULL : find_def(ns, name, kind_of(c->n));
    if (!internal_ns(ns) && (!d || (d->flags & P_DEAD))) {
        const char *xml = dead_get(c, ns, name);
        if (xml) {
            vd_buf_puts(ms, xml);           /* stored as a complete element */
            return;
        }
    }
    if (!d || !d->get) {
        ps_slot(ps, ns, name, 404);
        return;
    }
    size_t at = ms->len;
    vd_xml_open_tag(ms, ns, name);
    vd_buf_append(ms, ">", 1);
    size_t value_at = ms->len;
    int st = d->get(c, d, ms);
    if (st == 200 && ms->len > value_at) {
        vd_xml_close_tag(ms, ns, name);
        return;
    }
    ms->len = at;                           /* drop the tag and anything the getter wrote */
    ms->data[at] = '\0';
    if (st == 200)
        vd_xml_empty(ms, ns, name);         /* an empty value: <ns:name/> */
    else
        ps_slot(ps, ns, name, st);
}

void vd_props_respond(vd_propctx *c, const vd_propfind *pf, vd_propset *ps, vd_buf *ms,
                      const char *path, bool brief)
{
    vd_propset_reset(ps);
    if (pf->kind != VD_PROPFIND_PROP) {     /* allprop / propname: not a hot path */
        vd_props_collect(c, pf, ps);
        vd_props_write(ms, path, ps, brief);
        return;
    }
    size_t mark = vd_ms_response_begin(ms, path);
    for (size_t i = 0; i < pf->n_props; i++)
        eval_into(c, pf->props[i].ns, pf->props[i].name, ps, ms);
    vd_ms_response_end(ms, mark, ps->res, ps->n, brief);
}

void vd_props_eval(vd_propctx *c, const char *ns, const char *name, vd_propset *ps)
{
    eval(c, ns, name, ps, false);
}

typedef struct dead_walk {
    vd_propset *ps;
    unsigned kind;
    bool names_only;
} dead_walk;

static vd_err dead_cb(const char *clark, const char *xml, void *ctx)
{
    dead_walk *w = ctx;
    const char *close = clark[0] == '{' ? strchr(clark, '}') : NULL;
    char *ns = close ? strndup(clark + 1, (size_t)(close - clark - 1)) : strdup("");
    char *name = strdup(close ? close + 1 : clark);
    if (!ns || !name) {
        free(ns);
        free(name);
        return VD_ENOMEM;
    }
    own(w->ps, ns);
    own(w->ps, name);
    if (internal_ns(ns) || find_def(ns, name, w->kind) || ps_has(w->ps, ns, name))
        return VD_OK;               /* a live property stored dead: done already */
    vd_propresult *r = ps_slot(w->ps, ns, name, 200);
    if (!w->names_only) {
        r->value = xml;
        r->raw_element = true;
    }
    return VD_OK;
}

/* allprop (RFC 4918 9.1: dead properties and the live ones it defines) or
 * propname (names only). */
static void collect_all(vd_propctx *c, vd_propset *ps, bool names_only)
{
    unsigned k = kind_of(c->n);
    for (size_t i = 0; i < N_TABLE; i++) {
        const pdef *d = &table[i];
        if (!(d->kinds & k) || (!names_only && !(d->flags & P_ALLPROP)))
            continue;
        if (!names_only) {
            eval(c, d->ns, d->name, ps, true);
        } else if (d->get || dead_get(c, d->ns, d->name)) {
            ps_slot(ps, d->ns, d->name, 200);
        }
    }
    if (has_dead_store(c->n)) {
        dead_walk w = { ps, k, names_only };
        vd_store_prop_list(c->txn, c->n->coll.id, dead_name(c->n), dead_cb, &w);
    }
}

void vd_props_collect(vd_propctx *c, const vd_propfind *pf, vd_propset *ps)
{
    switch (pf->kind) {
    case VD_PROPFIND_PROPNAME:
        collect_all(c, ps, true);
        return;
    case VD_PROPFIND_ALLPROP:
        collect_all(c, ps, false);
        for (size_t i = 0; i < pf->n_props; i++)      /* <D:include> */
            if (!ps_has(ps, pf->props[i].ns, pf->props[i].name))
                eval(c, pf->props[i].ns, pf->props[i].name, ps, false);
        return;
    case VD_PROPFIND_PROP:
        for (size_t i = 0; i < pf->n_props; i++)
            eval(c, pf->props[i].ns, pf->props[i].name, ps, false);
        return;
    }
}

int vd_props_hrefs(vd_propctx *c, const char *ns, const char *name, char **out, int max)
{
    const pdef *d = find_def(ns ? ns : "", name, kind_of(c->n));
    if (!d || !d->hrefs)
        return -1;
    return d->hrefs(c, out, max);
}

/* ---------- writing properties ---------- */

int vd_props_check(const vd_node *n, const vd_propop *op, vd_diag *d)
{
    const char *ns = op->name.ns ? op->name.ns : "";
    unsigned k = kind_of(n);
    if (!(k & (K_COLLS | K_RES))) {
        vd_diag_set(d, 403, VD_NS_DAV, "cannot-modify-protected-property",
                    "properties of this resource cannot be changed");
        return 403;
    }
    const pdef *def = find_def(ns, op->name.name, k);
    bool prot = def ? (def->flags & P_PROT) != 0 : find_any(ns, op->name.name, P_PROT) != NULL;
    prot = prot || internal_ns(ns);
    if (prot) {                     /* RFC 4918 9.2 / 16 */
        vd_diag_set(d, 403, VD_NS_DAV, "cannot-modify-protected-property",
                    "%s is a protected property", op->name.name);
        return 403;
    }
    /* RFC 4918 9.2.1: 507, "insufficient space to record the property" */
    if (strlen(ns) + strlen(op->name.name) + 2 > VD_STORE_MAX_CLARK ||
        (op->xml && strlen(op->xml) > VD_STORE_MAX_PROP)) {
        vd_diag_set(d, 507, NULL, NULL, "property name or value too large (at most %d bytes)",
                    VD_STORE_MAX_PROP);
        return 507;
    }
    const pdef *ck = find_check(ns, op->name.name);
    if (ck && !op->remove)
        return ck->check(op, d);
    return 0;
}

vd_err vd_props_store(vd_txn *t, const vd_node *n, const vd_propop *op)
{
    if (!has_dead_store(n))
        return VD_EFORBIDDEN;
    char *clark = vd_qname_clark(op->name.ns ? op->name.ns : "", op->name.name);
    if (!clark)
        return VD_ENOMEM;
    vd_err e;
    if (op->remove) {
        e = vd_store_prop_remove(t, n->coll.id, dead_name(n), clark);
        if (e == VD_ENOTFOUND)      /* RFC 4918 14.23: removing an unset property is fine */
            e = VD_OK;
    } else {
        e = op->xml ? vd_store_prop_set(t, n->coll.id, dead_name(n), clark, op->xml) : VD_EINVAL;
    }
    free(clark);
    return e;
}

const char *vd_props_floating_tz(vd_propcache *pc, vd_request *r, vd_txn *t, const vd_coll *cal)
{
    const char *dflt = r->srv->cfg->timezone;
    if (pc->tz_done && pc->tz_coll == cal->id)
        return pc->tzid ? pc->tzid : dflt;
    free(pc->tzid);
    pc->tzid = NULL;
    pc->tz_done = true;
    pc->tz_coll = cal->id;
    const char *xml = NULL;
    char *clark = vd_qname_clark(VD_NS_CALDAV, "calendar-timezone");
    if (clark && vd_store_prop_get(t, cal->id, NULL, clark, &xml) == VD_OK && xml) {
        char *text = vd_dav_prop_text(xml);
        if (text)
            pc->tzid = vd_ical_timezone_id(text);
        free(text);
    }
    free(clark);
    return pc->tzid ? pc->tzid : dflt;
}

/* ---------- sync tokens ---------- */

void vd_props_sync_token(uint64_t id, uint64_t seq, char out[80])
{
    snprintf(out, 80, VD_SYNC_TOKEN_PREFIX "%" PRIu64 "-%" PRIu64, id, seq);
}

static const char *parse_u64(const char *s, uint64_t *v)
{
    uint64_t x = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (x > (UINT64_MAX - 9) / 10)
            return NULL;            /* overflow: not one of our tokens */
        x = x * 10 + (uint64_t)(*p - '0');
    }
    if (p == s || p - s > 20)
        return NULL;
    *v = x;
    return p;
}

bool vd_props_parse_sync_token(const char *tok, uint64_t *id, uint64_t *seq)
{
    size_t pl = strlen(VD_SYNC_TOKEN_PREFIX);
    if (!tok || strncmp(tok, VD_SYNC_TOKEN_PREFIX, pl) != 0)
        return false;
    const char *p = parse_u64(tok + pl, id);
    if (!p || *p != '-')
        return false;
    p = parse_u64(p + 1, seq);
    return p && *p == '\0';
}

/* ---------- view nodes ---------- */

void vd_props_coll_node(vd_node *m, const vd_coll *c)
{
    memset(m, 0, sizeof *m);
    m->kind = VD_NODE_COLL;
    m->path = c->path;
    m->coll = *c;
}

void vd_props_member_node(vd_node *m, const vd_coll *coll, const vd_res *res, vd_buf *pathbuf)
{
    memset(m, 0, sizeof *m);
    vd_buf_reset(pathbuf);
    vd_buf_puts(pathbuf, coll->path);
    vd_buf_puts(pathbuf, res->name);
    m->kind = VD_NODE_RES;
    m->path = pathbuf->data;
    m->coll = *coll;
    m->name = (char *)res->name;
    m->res = *res;
}
