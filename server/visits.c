/* visits.c - the visit rules wired into the store (visits.h): the rules
 * holder, the check of every VEVENT written into a calendar (customer,
 * instances, vd_rules_check against the store's visit indexes), reject or
 * flag, the visit index and flag links, one level of re-checks so flags
 * never go stale, the conflicts listing and `visitdav approve`.
 * Must not: answer HTTP or log (it is linked into the admin command; the
 * callers turn errors into responses), touch LMDB or libical directly
 * (store, ical, ical_visit), or recurse into re-checks of re-checks. */
#include "visits.h"

#include "calobj.h"
#include "visits_int.h"

#include "../lib/acl.h"
#include "../lib/customers.h"
#include "../lib/davxml.h"
#include "../lib/hash.h"
#include "../lib/ical_visit.h"
#include "../lib/path.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ALL_RULES       ((1u << VD_RULE_COUNT) - 1)
#define MAX_SHOWN       20      /* visit-conflict elements in a reject body */
#define MAX_TREE_DEPTH  32      /* collection nesting walked on delete/move */
#define CALTZ_CLARK     "{" VD_NS_CALDAV "}calendar-timezone"

/* ------------------------------------------------------------------ */
/* the rules holder                                                     */

typedef struct rref {
    vd_rules *r;
    size_t refs;
    struct rref *next;
} rref;

struct vd_rulesdb {
    pthread_mutex_t mu;         /* cur, live and every refs */
    pthread_mutex_t reload_mu;  /* one reload at a time */
    char *path;
    rref *cur;                  /* the db holds one reference */
    rref *live;                 /* every snapshot still referenced */
};

/* The line of path that sets timezone (for the message), 0 if not found. */
static int timezone_line(const char *path)
{
    FILE *f = path ? fopen(path, "r") : NULL;
    char buf[4200];
    int n = 0, found = 0;
    while (f && !found && fgets(buf, sizeof buf, f)) {
        const char *p = buf + strspn(buf, " \t");
        n++;
        if (strncasecmp(p, "timezone", 8) == 0 && strchr(" \t=", p[8]))
            found = n;
    }
    if (f)
        fclose(f);
    return found;
}

static vd_err load_rules(const char *path, vd_rules **out, vd_diag *d)
{
    vd_err e = vd_rules_load(path, out, d);
    if (e != VD_OK)
        return e;
    const char *tz = vd_rules_timezone(*out);
    if (!vd_ical_zone_known(tz)) {
        vd_diag_set(d, 0, NULL, NULL, "%s:%d: timezone %s is not a known time zone",
                    path ? path : "rules", timezone_line(path), tz);
        vd_rules_free(*out);
        *out = NULL;
        return VD_EINVAL;
    }
    return VD_OK;
}

static rref *new_ref(vd_rulesdb *db, vd_rules *r)
{
    rref *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->r = r;
    x->refs = 1;
    x->next = db->live;
    db->live = x;
    return x;
}

vd_err vd_rulesdb_open(const char *path, vd_rulesdb **out, vd_diag *d)
{
    vd_rulesdb *db = calloc(1, sizeof *db);
    vd_rules *r = NULL;
    *out = NULL;
    vd_err e = VD_ENOMEM;
    if (!db || (path && !(db->path = strdup(path))))
        goto fail;
    if ((e = load_rules(path, &r, d)) != VD_OK)
        goto fail;
    if (!(db->cur = new_ref(db, r))) {
        e = VD_ENOMEM;
        goto fail;
    }
    pthread_mutex_init(&db->mu, NULL);
    pthread_mutex_init(&db->reload_mu, NULL);
    *out = db;
    return VD_OK;
fail:
    vd_rules_free(r);
    if (db)
        free(db->path);
    free(db);
    return e;
}

/* Drop one reference (db->mu held); the rules to free, or NULL. */
static vd_rules *unref(vd_rulesdb *db, const vd_rules *r)
{
    for (rref **pp = &db->live; *pp; pp = &(*pp)->next) {
        rref *x = *pp;
        if (x->r != r)
            continue;
        if (--x->refs > 0)
            return NULL;
        vd_rules *dead = x->r;
        *pp = x->next;
        free(x);
        return dead;
    }
    return NULL;
}

vd_err vd_rulesdb_reload(vd_rulesdb *db, vd_diag *d)
{
    vd_rules *r = NULL, *dead = NULL;
    pthread_mutex_lock(&db->reload_mu);
    vd_err e = load_rules(db->path, &r, d);
    if (e == VD_OK) {
        pthread_mutex_lock(&db->mu);
        const vd_rules *old = db->cur->r;
        rref *x = new_ref(db, r);
        if (x) {
            db->cur = x;
            dead = unref(db, old);
        } else {
            dead = r;
            e = VD_ENOMEM;
        }
        pthread_mutex_unlock(&db->mu);
        vd_rules_free(dead);
    }
    pthread_mutex_unlock(&db->reload_mu);
    return e;
}

const vd_rules *vd_rulesdb_acquire(vd_rulesdb *db)
{
    pthread_mutex_lock(&db->mu);
    db->cur->refs++;
    const vd_rules *r = db->cur->r;
    pthread_mutex_unlock(&db->mu);
    return r;
}

void vd_rulesdb_release(vd_rulesdb *db, const vd_rules *r)
{
    if (!db || !r)
        return;
    pthread_mutex_lock(&db->mu);
    vd_rules *dead = unref(db, r);
    pthread_mutex_unlock(&db->mu);
    vd_rules_free(dead);
}

void vd_rulesdb_close(vd_rulesdb *db)
{
    if (!db)
        return;
    while (db->live) {
        rref *x = db->live;
        db->live = x->next;
        vd_rules_free(x->r);
        free(x);
    }
    pthread_mutex_destroy(&db->mu);
    pthread_mutex_destroy(&db->reload_mu);
    free(db->path);
    free(db);
}

vd_err vd_visits_open(vd_server *s, vd_diag *d)
{
    vd_err e = vd_customerdb_open(s->cfg->customers_file, &s->customers, d);
    if (e == VD_OK)
        e = vd_rulesdb_open(s->cfg->rules_file, &s->rules, d);
    if (e != VD_OK)
        vd_visits_close(s);
    return e;
}

vd_err vd_visits_reload(vd_server *s, vd_diag *cd, vd_diag *rd)
{
    vd_err e1 = s->customers ? vd_customerdb_reload(s->customers, cd) : VD_OK;
    vd_err e2 = s->rules ? vd_rulesdb_reload(s->rules, rd) : VD_OK;
    return e1 != VD_OK ? e1 : e2;
}

void vd_visits_close(vd_server *s)
{
    vd_customerdb_close(s->customers);
    vd_rulesdb_close(s->rules);
    s->customers = NULL;
    s->rules = NULL;
}

/* ------------------------------------------------------------------ */
/* iCalendar content lines, read as text (approvals and stored flags are
 * looked at without parsing the whole object)                          */

/* The next logical line: raw span [*b, *e) with its line end, unfolded
 * text (no line end) in text. */
bool vd_ics_next(vd_ics_it *it, const char **b, const char **e, vd_buf *text)
{
    if (it->p >= it->end)
        return false;
    *b = it->p;
    vd_buf_reset(text);
    vd_buf_append(text, "", 0);
    const char *p = it->p;
    for (;;) {
        const char *nl = memchr(p, '\n', (size_t)(it->end - p));
        const char *le = nl ? nl : it->end;
        const char *ce = le > p && le[-1] == '\r' ? le - 1 : le;
        vd_buf_append(text, p, (size_t)(ce - p));
        p = nl ? nl + 1 : it->end;
        if (p < it->end && (*p == ' ' || *p == '\t')) {
            p++;                /* RFC 5545 3.1: unfold */
            continue;
        }
        break;
    }
    it->p = *e = p;
    return true;
}

bool vd_ics_prop_is(const char *line, const char *name)
{
    size_t n = strlen(name);
    return strncasecmp(line, name, n) == 0 && (line[n] == ';' || line[n] == ':');
}

/* Position of the ':' that starts the value (outside quoted parameters). */
const char *vd_ics_value_colon(const char *line)
{
    bool q = false;
    for (const char *p = line; *p; p++) {
        if (*p == '"')
            q = !q;
        else if (*p == ':' && !q)
            return p;
    }
    return NULL;
}

/* Parameter pname of line, unquoted and RFC 6868 decoded, into out. */
bool vd_ics_param_get(const char *line, const char *pname, char *out, size_t cap)
{
    const char *colon = vd_ics_value_colon(line), *p = strchr(line, ';');
    size_t pn = strlen(pname);
    while (colon && p && p < colon) {
        const char *k = ++p;
        while (p < colon && *p != '=' && *p != ';')
            p++;
        bool match = *p == '=' && (size_t)(p - k) == pn && strncasecmp(k, pname, pn) == 0;
        size_t o = 0;
        bool q = false;
        for (p += *p == '='; p < colon && (q || *p != ';'); p++) {
            char c = *p;
            if (c == '"') {
                q = !q;
                continue;
            }
            if (c == '^' && p + 1 < colon && strchr("n'^", p[1]))
                c = *++p == 'n' ? ' ' : *p == '\'' ? '"' : '^';
            if (match && o + 1 < cap)
                out[o++] = c;
        }
        if (match) {
            out[o] = '\0';
            return true;
        }
    }
    return false;
}

/* Rules named in a comma-separated list ("rep-overlap, customer-overlap"). */
static uint32_t rule_bits(const char *s, size_t len)
{
    uint32_t bits = 0;
    char name[64];
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && s[j] != ',')
            j++;
        size_t a = i, z = j;
        while (a < z && (s[a] == ' ' || s[a] == '\t'))
            a++;
        while (z > a && (s[z - 1] == ' ' || s[z - 1] == '\t'))
            z--;
        vd_rule r;
        if (z - a < sizeof name) {
            memcpy(name, s + a, z - a);
            name[z - a] = '\0';
            if (vd_rule_from_name(name, &r))
                bits |= 1u << r;
        }
        i = j + 1;
    }
    return bits;
}

/* The rules X-VISIT-APPROVED names anywhere in data. */
static uint32_t approvals_of(const char *data, size_t len)
{
    vd_ics_it it = {data, data + len};
    vd_buf line = VD_BUF_INIT;
    const char *b, *e;
    uint32_t bits = 0;
    while (vd_ics_next(&it, &b, &e, &line)) {
        const char *c = vd_ics_prop_is(line.data, "X-VISIT-APPROVED") ? vd_ics_value_colon(line.data) : NULL;
        if (c)
            bits |= rule_bits(c + 1, strlen(c + 1));
    }
    vd_buf_free(&line);
    return bits;
}

/* data without the X-VISIT-APPROVED values naming a rule in drop (a line
 * keeping other values is rewritten with just those). */
static char *drop_approvals(const char *data, size_t len, uint32_t drop, size_t *out_len)
{
    vd_ics_it it = {data, data + len};
    vd_buf line = VD_BUF_INIT, out = VD_BUF_INIT, keep = VD_BUF_INIT;
    const char *b, *e;
    while (vd_ics_next(&it, &b, &e, &line)) {
        const char *c = vd_ics_prop_is(line.data, "X-VISIT-APPROVED") ? vd_ics_value_colon(line.data) : NULL;
        if (!c || !(rule_bits(c + 1, strlen(c + 1)) & drop)) {
            vd_buf_append(&out, b, (size_t)(e - b));
            continue;
        }
        vd_buf_reset(&keep);
        for (const char *v = c + 1; *v;) {
            size_t n = strcspn(v, ",");
            if (!(rule_bits(v, n) & drop) && strspn(v, " \t") < n) {
                if (keep.len)
                    vd_buf_puts(&keep, ",");
                vd_buf_append(&keep, v, n);
            }
            v += n + (v[n] == ',');
        }
        if (keep.len)
            vd_buf_printf(&out, "X-VISIT-APPROVED:%s\r\n", keep.data);
    }
    vd_buf_free(&line);
    vd_buf_free(&keep);
    return vd_buf_steal(&out, out_len);
}

/* ------------------------------------------------------------------ */
/* one operation: snapshots, a collection cache, the re-check list      */

void vd_vctx_open(vd_vctx *x, vd_txn *t, vd_server *s, const char *actor)
{
    memset(x, 0, sizeof *x);
    x->t = t;
    x->srv = s;
    x->actor = actor;
    x->rules = s->rules ? vd_rulesdb_acquire(s->rules) : NULL;
    x->cust = s->customers ? vd_customerdb_acquire(s->customers) : NULL;
    x->now = vd_now();
}

static void slot_clear(vd_coll_slot *c)
{
    free(c->path);
    free(c->owner);
    free(c->tz);
    memset(c, 0, sizeof *c);
}

void vd_vctx_close(vd_vctx *x)
{
    if (x->rules)
        vd_rulesdb_release(x->srv->rules, x->rules);
    if (x->cust)
        vd_customerdb_release(x->srv->customers, x->cust);
    for (size_t i = 0; i < x->n_colls; i++)
        slot_clear(&x->colls[i]);
    for (size_t i = 0; i < x->n_pend; i++)
        free((char *)x->pend[i].name);
    free(x->pend);
    for (size_t i = 0; i < x->cap_appr; i++)
        free(x->appr[i].ref);
    free(x->appr);
    memset(x, 0, sizeof *x);
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        abort();
    return d;
}

/* The collection with id (cached).  NULL with VD_OK when it is gone. */
vd_err vd_vctx_coll(vd_vctx *x, uint64_t id, const vd_coll_slot **out)
{
    *out = NULL;
    for (size_t i = 0; i < x->n_colls; i++)
        if (x->colls[i].id == id) {
            *out = &x->colls[i];
            return VD_OK;
        }
    vd_coll c = {0};
    vd_err e = vd_store_coll_get_by_id(x->t, id, &c);
    if (e != VD_OK)
        return e == VD_ENOTFOUND ? VD_OK : e;
    vd_coll_slot *s = x->n_colls < VD_VCTX_COLLS ? &x->colls[x->n_colls++]
                                                : &x->colls[x->evict++ % VD_VCTX_COLLS];
    slot_clear(s);
    s->id = c.id;
    s->path = xstrdup(c.path);
    s->owner = xstrdup(c.owner);
    vd_coll_clear(&c);
    *out = s;
    return VD_OK;
}

/* Floating times and dates of a calendar: its calendar-timezone, else the
 * organisation's zone (rules.conf timezone). */
const char *vd_vctx_floating_tz(vd_vctx *x, uint64_t coll_id)
{
    const vd_coll_slot *cs = NULL;
    if (vd_vctx_coll(x, coll_id, &cs) != VD_OK || !cs)
        return vd_rules_timezone(x->rules);
    vd_coll_slot *s = (vd_coll_slot *)cs;
    if (!s->tz_done) {
        const char *xml = NULL;
        s->tz_done = true;
        if (vd_store_prop_get(x->t, coll_id, NULL, CALTZ_CLARK, &xml) == VD_OK && xml) {
            char *text = vd_dav_prop_text(xml);
            s->tz = text ? vd_ical_timezone_id(text) : NULL;
            free(text);
        }
    }
    return s->tz ? s->tz : vd_rules_timezone(x->rules);
}

/* Resolve a decoded ref (collection path + name) to the member; false when
 * it no longer exists.  *name points into ref. */
static bool ref_member(vd_vctx *x, const char *ref, uint64_t *coll_id, const char **name)
{
    const char *slash = strrchr(ref, '/');
    if (!slash || !slash[1])
        return false;
    for (size_t i = 0; i < x->n_colls; i++) {
        const char *p = x->colls[i].path;
        if (strlen(p) == (size_t)(slash + 1 - ref) && strncmp(p, ref, strlen(p)) == 0) {
            *coll_id = x->colls[i].id;
            *name = slash + 1;
            return true;
        }
    }
    char *path = strndup(ref, (size_t)(slash + 1 - ref));
    vd_coll c = {0};
    bool ok = path && vd_store_coll_get(x->t, path, &c) == VD_OK;
    if (ok) {
        *coll_id = c.id;
        *name = slash + 1;
    }
    vd_coll_clear(&c);
    free(path);
    return ok;
}

/* Remember (coll_id, name) for a re-check; at most VD_VISITS_MAX_RECHECK. */
static vd_err pend_add(uint64_t coll_id, const char *name, void *ctx)
{
    vd_vctx *x = ctx;
    for (size_t i = 0; i < x->n_pend; i++)
        if (x->pend[i].coll_id == coll_id && strcmp(x->pend[i].name, name) == 0)
            return VD_OK;
    if (x->n_pend >= VD_VISITS_MAX_RECHECK)
        return VD_OK;           /* the bound (visits.h) */
    if (x->n_pend % 64 == 0) {
        vd_ref *p = realloc(x->pend, (x->n_pend + 64) * sizeof *p);
        if (!p)
            return VD_ENOMEM;
        x->pend = p;
    }
    x->pend[x->n_pend].coll_id = coll_id;
    x->pend[x->n_pend].name = xstrdup(name);
    x->n_pend++;
    return VD_OK;
}

/* Both directions of the links of (coll_id, name) into the re-check list. */
static vd_err pend_links(vd_vctx *x, uint64_t coll_id, const char *name)
{
    vd_err e = vd_store_links_to(x->t, coll_id, name, pend_add, x);
    if (e == VD_OK)
        e = vd_store_links_from(x->t, coll_id, name, pend_add, x);
    return e;
}

/* ------------------------------------------------------------------ */
/* the rules source: the store's visit indexes                          */

typedef struct nb_wrap {
    vd_vctx *x;
    const char *exclude;
    vd_neighbour_cb cb;
    void *cb_ctx;
    vd_buf ref;
} nb_wrap;

static vd_err on_entry(const vd_visit_entry *e, void *ctx)
{
    nb_wrap *w = ctx;
    const vd_coll_slot *c = NULL;
    vd_err err = vd_vctx_coll(w->x, e->coll_id, &c);
    if (err != VD_OK || !c)
        return err;
    vd_buf_reset(&w->ref);
    vd_buf_puts(&w->ref, c->path);
    vd_buf_puts(&w->ref, e->name);
    if (w->exclude && strcmp(w->ref.data, w->exclude) == 0)
        return VD_OK;
    vd_neighbour n = {.ref = w->ref.data, .owner = e->owner, .customer_id = e->customer_id,
                      .start = e->start, .end = e->end};
    return w->cb(&n, w->cb_ctx);
}

static vd_err src_lookup(void *ctx, bool by_owner, const char *key, vd_time start, vd_time end,
                         const char *exclude, vd_neighbour_cb cb, void *cb_ctx)
{
    nb_wrap w = {.x = ctx, .exclude = exclude, .cb = cb, .cb_ctx = cb_ctx, .ref = VD_BUF_INIT};
    vd_txn *t = w.x->t;
    vd_err e = by_owner ? vd_store_visits_by_owner(t, key, start, end, on_entry, &w)
                        : vd_store_visits_by_customer(t, key, start, end, on_entry, &w);
    vd_buf_free(&w.ref);
    return e;
}

static vd_err src_by_customer(void *ctx, const char *id, vd_time s, vd_time e, const char *ex,
                              vd_neighbour_cb cb, void *cb_ctx)
{
    return src_lookup(ctx, false, id, s, e, ex, cb, cb_ctx);
}

static vd_err src_by_owner(void *ctx, const char *owner, vd_time s, vd_time e, const char *ex,
                           vd_neighbour_cb cb, void *cb_ctx)
{
    return src_lookup(ctx, true, owner, s, e, ex, cb, cb_ctx);
}

/* ------------------------------------------------------------------ */
/* checking one visit                                                   */

typedef struct vis {
    vd_visit v;
    char *ref;                  /* decoded collection path + name */
    char *team;                 /* the owner's team (v.team), owned */
    vd_visit_info info;
    vd_instance *inst;
    bool is_event;              /* only VEVENTs are visits */
    bool stripped;              /* the object carried server flags */
    uint32_t requested;         /* rules X-VISIT-APPROVED names */
} vis;

static void vis_clear(vis *a)
{
    free(a->ref);
    free(a->team);
    free(a->inst);
    vd_visit_info_clear(&a->info);
    memset(a, 0, sizeof *a);
}

/* issue 4: with an ACL file, teams come from it (the first team the rep
 * is a member of) and the managers of the rep's teams approve; rules.conf
 * `members` and `approvers` stay as the fallback.  The team is copied: the
 * ACL may be reloaded while the check runs. */
static char *team_of(vd_vctx *x, const char *owner)
{
    const char *t = NULL;
    char *copy = NULL;
    if (owner && x->srv && x->srv->acl) {
        const vd_acl *a = vd_acldb_acquire(x->srv->acl);
        if ((t = vd_acl_team_of(a, owner)) && !(copy = strdup(t)))
            abort();
        vd_acldb_release(x->srv->acl, a);
    }
    if (!copy && (t = vd_rules_team_of(x->rules, owner)) && !(copy = strdup(t)))
        abort();
    return copy;
}

bool vd_visits_acl_manages(vd_server *s, const char *user, const char *owner)
{
    bool yes = false;
    if (!s || !s->acl || !user || !owner)
        return false;
    const vd_acl *a = vd_acldb_acquire(s->acl);
    for (size_t i = 0, n = vd_acl_team_count(a); i < n && !yes; i++) {
        const char *t = vd_acl_team_name(a, i);
        yes = vd_acl_is_member(a, t, owner) && vd_acl_is_manager(a, t, user);
    }
    vd_acldb_release(s->acl, a);
    return yes;
}

/* Fill a from w's object: strip the server's flags first, so the marker
 * never feeds back into recognition or the stored bytes. */
static vd_err analyse(vd_vctx *x, const vd_visits_write *w, vis *a)
{
    size_t lp = strlen(w->coll->path), ln = strlen(w->name);
    if (!(a->ref = malloc(lp + ln + 1)))
        return VD_ENOMEM;
    memcpy(a->ref, w->coll->path, lp);
    memcpy(a->ref + lp, w->name, ln + 1);
    a->requested = approvals_of(w->put.data, w->put.len);
    a->is_event = vd_ical_comp(w->ic) == VD_COMP_VEVENT;
    if (!a->is_event)
        return VD_OK;
    a->stripped = vd_ical_strip_flags(w->ic, vd_rules_marker_prefix(x->rules),
                                      vd_rules_marker_category(x->rules));
    vd_err e = vd_ical_visit_info(w->ic, &a->info);
    if (e != VD_OK)
        return e;
    vd_visit_text vt = {.x_customer = a->info.x_customer,
                        .attendees = (const char *const *)a->info.attendees,
                        .n_attendees = a->info.n_attendees,
                        .location = a->info.location, .summary = a->info.summary};
    const vd_customer *cu = x->cust ? vd_customers_identify(x->cust, &vt, NULL) : NULL;
    vd_time from = x->now - (vd_time)VD_VISITS_PAST_DAYS * 86400;
    vd_time until = x->now + (vd_time)vd_rules_horizon_days(x->rules) * 86400;
    size_t n = 0;
    bool truncated = false;
    /* cancelled or transparent occurrences block nobody (a master that is
     * cancelled or transparent as a whole is handled by the flags below) */
    e = vd_ical_busy_instances(w->ic, from, until, vd_vctx_floating_tz(x, w->coll->id),
                               VD_MAX_EXPAND_INST, &a->inst, &n, &truncated);
    if (e != VD_OK)
        return e;
    a->team = team_of(x, w->coll->owner);
    a->v = (vd_visit){
        .ref = a->ref, .owner = w->coll->owner,
        .team = a->team,
        .customer_id = cu ? cu->id : NULL,
        .looks_like_visit = a->info.x_customer != NULL,
        .has_purpose = a->info.has_purpose,
        .transparent = a->info.transparent, .cancelled = a->info.cancelled,
        .inst = a->inst, .n_inst = n,
    };
    return VD_OK;
}

/* The rules the stored visit at ref approved (its approvals always count:
 * see visits.h). */
static uint32_t approved_by(vd_vctx *x, const char *ref)
{
    if (x->n_appr * 2 >= x->cap_appr) {         /* grow and rehash */
        size_t cap = x->cap_appr ? x->cap_appr * 2 : 64;
        struct vd_appr *a = calloc(cap, sizeof *a);
        if (!a)
            abort();
        for (size_t i = 0; i < x->cap_appr; i++) {
            size_t k = x->appr[i].ref ? vd_hash64(x->appr[i].ref, strlen(x->appr[i].ref)) : 0;
            for (k &= cap - 1; x->appr[i].ref && a[k].ref; k = (k + 1) & (cap - 1))
                ;
            if (x->appr[i].ref)
                a[k] = x->appr[i];
        }
        free(x->appr);
        x->appr = a;
        x->cap_appr = cap;
    }
    size_t k = vd_hash64(ref, strlen(ref)) & (x->cap_appr - 1);
    for (; x->appr[k].ref; k = (k + 1) & (x->cap_appr - 1))
        if (strcmp(x->appr[k].ref, ref) == 0)
            return x->appr[k].mask;
    uint64_t id;
    const char *name;
    vd_res r;
    uint32_t mask = 0;
    if (ref_member(x, ref, &id, &name) && vd_store_res_get(x->t, id, name, &r) == VD_OK)
        mask = approvals_of(r.data, r.len);
    x->appr[k].ref = xstrdup(ref);
    x->appr[k].mask = mask;
    x->n_appr++;
    return mask;
}

/* vd_rules_check, then drop what the other side approved; a re-check
 * cannot reject (the visit is stored already): its rejects are flags. */
static vd_err run_check(vd_vctx *x, vis *a, bool recheck, vd_conflicts *cf)
{
    vd_rules_source src = {
        .ctx = x, .local_day = vd_ical_local_day, .by_customer = src_by_customer,
        .by_owner = src_by_owner, .utc_offset = vd_ical_utc_offset,
    };
    vd_err e = vd_rules_check(x->rules, &a->v, &src, cf);
    if (e != VD_OK)
        return e;
    size_t k = 0;
    cf->reject = false;
    for (size_t i = 0; i < cf->n; i++) {
        vd_conflict *c = &cf->items[i];
        if (c->other_ref && (approved_by(x, c->other_ref) & (1u << c->rule))) {
            free(c->other_ref);
            free(c->other_owner);
            continue;
        }
        if (recheck && c->policy == VD_POLICY_REJECT)
            c->policy = VD_POLICY_FLAG;
        cf->reject |= c->policy == VD_POLICY_REJECT;
        cf->items[k++] = *c;
    }
    cf->n = k;
    return VD_OK;
}

/* Who may see the other visit's owner and time in a reject body (issue 4,
 * docs/rules.md): without an ACL file everyone (as before); with one, only
 * a writer holding a privilege (read-free-busy at least: busy time already
 * shows the time, the calendar the owner) on the other visit's calendar.
 * No writer or no other visit: nothing shown (fail closed). */
static bool may_see(const vd_vctx *x, const vd_conflict *c)
{
    if (!x->srv || !x->srv->acl)
        return true;
    if (!x->actor || !c->other_ref)
        return false;
    char *parent = NULL, *name = NULL;
    bool yes = false;
    if (vd_path_split(c->other_ref, &parent, &name) == VD_OK) {
        const vd_acl *a = vd_acldb_acquire(x->srv->acl);
        yes = a && vd_acl_privs(a, x->actor, parent, NULL) != 0;
        vd_acldb_release(x->srv->acl, a);
    }
    free(parent);
    free(name);
    return yes;
}

/* The responsedescription of a conflict whose other side is not shown:
 * the rule, never a name or a time. */
static void hidden_message(const vd_conflict *c, char *out, size_t cap)
{
    const char *rule = vd_rule_name(c->rule);
    if (c->rule == VD_RULE_CUSTOMER_OVERLAP)
        snprintf(out, cap, "another rep already visits this customer that day (%s)", rule);
    else if (c->rule == VD_RULE_CUSTOMER_CADENCE)
        snprintf(out, cap, "this customer was visited too recently (%s)", rule);
    else
        snprintf(out, cap, "this visit collides with another visit (%s)", rule);
}

static void xml_elem(vd_buf *b, const char *name, const char *text)
{
    vd_buf_printf(b, "<V:%s>", name);
    vd_buf_xml_escape(b, text, strlen(text));
    vd_buf_printf(b, "</V:%s>", name);
}

static bool time_ok(vd_time t)
{
    return t >= 0 && t <= 253402300799LL;      /* writable as YYYYMMDDTHHMMSSZ */
}

/* The 403 body of docs/rules.md for the rejecting conflicts of cf. */
static char *reject_body(const vd_vctx *x, const vd_conflicts *cf, vd_diag *d)
{
    vd_buf b = VD_BUF_INIT;
    const char *msg = NULL;
    char hidden[160];
    size_t shown = 0;
    vd_buf_puts(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                    "<D:error xmlns:D=\"DAV:\" xmlns:V=\"" VD_NS_VISIT "\">\n");
    for (size_t i = 0; i < cf->n && shown < MAX_SHOWN; i++) {
        const vd_conflict *c = &cf->items[i];
        if (c->policy != VD_POLICY_REJECT)
            continue;
        bool see = may_see(x, c);
        if (!msg && see)
            msg = c->message;
        else if (!msg) {
            hidden_message(c, hidden, sizeof hidden);
            msg = hidden;
        }
        vd_buf_puts(&b, "  <V:visit-conflict>");
        xml_elem(&b, "rule", vd_rule_name(c->rule));
        if (see && c->other_owner)
            xml_elem(&b, "other-owner", c->other_owner);
        if (see && c->other_ref && time_ok(c->other_start) && time_ok(c->other_end)) {
            char s[17], e[17];
            vd_time_format_utc(c->other_start, s);
            vd_time_format_utc(c->other_end, e);
            xml_elem(&b, "other-start", s);
            xml_elem(&b, "other-end", e);
        }
        vd_buf_puts(&b, "</V:visit-conflict>\n");
        shown++;
    }
    if (!msg)
        msg = "this visit collides with another visit";
    vd_buf_puts(&b, "  <D:responsedescription>");
    vd_buf_xml_escape(&b, msg, strlen(msg));
    vd_buf_puts(&b, "</D:responsedescription>\n</D:error>\n");
    vd_diag_set(d, 403, VD_NS_VISIT, "visit-conflict", "%s", msg);
    return vd_buf_steal(&b, NULL);
}

/* Add one X-VISIT-CONFLICT per conflict (at most VD_VISITS_MAX_FLAGS) and
 * the marker.  Returns how many were added. */
static size_t add_flags(vd_vctx *x, vd_ical *ic, const vd_conflicts *cf)
{
    size_t n = cf->n < VD_VISITS_MAX_FLAGS ? cf->n : VD_VISITS_MAX_FLAGS;
    if (n == 0)
        return 0;
    vd_flag *f = calloc(n, sizeof *f);
    char **enc = calloc(n, sizeof *enc);
    if (!f || !enc)
        abort();
    for (size_t i = 0; i < n; i++) {
        const vd_conflict *c = &cf->items[i];
        enc[i] = c->other_ref ? vd_path_encode(c->other_ref) : NULL;
        f[i] = (vd_flag){.rule = vd_rule_name(c->rule), .other_ref = enc[i],
                         .other_owner = c->other_owner, .other_start = c->other_start,
                         .other_end = c->other_end, .message = c->message};
    }
    vd_ical_add_flags(ic, f, n, (int)vd_rules_marker(x->rules), vd_rules_marker_prefix(x->rules),
                      vd_rules_marker_category(x->rules));
    for (size_t i = 0; i < n; i++)
        free(enc[i]);
    free(enc);
    free(f);
    return n;
}

/* Index the visit's instances and point its links at the visits it is
 * flagged because of (adding those to the re-check list when asked). */
static vd_err index_and_link(vd_vctx *x, const vd_visits_write *w, const vis *a,
                             const vd_conflicts *cf, bool pend)
{
    uint64_t id = w->coll->id;
    bool busy = a->is_event && !a->v.transparent && !a->v.cancelled;
    vd_err e = vd_store_visits_put(x->t, id, w->name, w->coll->owner, a->v.customer_id,
                                   a->inst, busy ? a->v.n_inst : 0);
    if (e == VD_ETOOBIG)        /* a name too long for an index key: never a neighbour */
        e = vd_store_visits_delete(x->t, id, w->name);
    size_t n = cf->n < VD_VISITS_MAX_FLAGS ? cf->n : VD_VISITS_MAX_FLAGS, m = 0;
    vd_ref *to = n ? calloc(n, sizeof *to) : NULL;
    if (n && !to)
        return VD_ENOMEM;
    for (size_t i = 0; e == VD_OK && i < n; i++) {
        const char *ref = cf->items[i].other_ref;
        if (ref && ref_member(x, ref, &to[m].coll_id, &to[m].name)) {
            if (pend)
                e = pend_add(to[m].coll_id, to[m].name, x);
            m++;
        }
    }
    if (e == VD_OK)
        e = vd_store_links_set(x->t, id, w->name, to, m);
    free(to);
    return e;
}

static bool same_bytes(const char *a, size_t la, const char *b, size_t lb)
{
    return la == lb && (la == 0 || memcmp(a, b, la) == 0);
}

/* The bytes to store for a: the sent ones, or the object serialised when
 * flags were stripped or added, without approvals that do not count. */
static vd_err final_bytes(vd_visits_write *w, const vis *a, bool reserialise, vd_buf *out)
{
    const char *data = w->put.data;
    size_t len = w->put.len;
    if (reserialise) {
        vd_err e = vd_ical_serialize(w->ic, out);
        if (e != VD_OK)
            return e;
        data = out->data;
        len = out->len;
    }
    uint32_t drop = a->requested & ~a->v.approved & ALL_RULES;
    char *cut = NULL;
    size_t cut_len = 0;
    if (drop) {
        cut = drop_approvals(data, len, drop, &cut_len);
        data = cut;
        len = cut_len;
    }
    if (!same_bytes(data, len, w->put.data, w->put.len)) {
        w->bytes = malloc(len + 1);
        if (!w->bytes)
            abort();
        memcpy(w->bytes, data, len);
        w->bytes[len] = '\0';
        w->len = len;
    }
    free(cut);
    return VD_OK;
}

/* Check, flag, store, index, link one visit.  recheck: a stored visit
 * looked at again (no rejects, written only when its bytes change, no
 * further re-checks); else the client's write (its old links and new
 * neighbours go on the re-check list). */
static vd_err store_visit(vd_vctx *x, vd_visits_write *w, bool recheck, vd_put_result *res,
                          vd_diag *d)
{
    vis a = {0};
    vd_conflicts cf = {0};
    vd_buf ser = VD_BUF_INIT;
    uint32_t old_mask = 0;
    vd_res old;
    /* read before any write: borrowed data does not survive one */
    vd_err e = vd_store_res_get(x->t, w->coll->id, w->name, &old);
    if (e == VD_OK)
        old_mask = approvals_of(old.data, old.len);
    else if (e != VD_ENOTFOUND)
        return e;
    bool approver = w->admin || vd_rules_is_approver(x->rules, w->actor) ||
                    vd_visits_acl_manages(x->srv, w->actor, w->coll->owner);
    if ((e = analyse(x, w, &a)) != VD_OK)
        goto out;
    a.v.approved = a.requested & (approver ? ALL_RULES : old_mask);
    if (a.is_event && (e = run_check(x, &a, recheck, &cf)) != VD_OK)
        goto out;
    if (cf.reject) {
        w->reject_xml = reject_body(x, &cf, d);
        e = VD_EPRECOND;
        goto out;
    }
    size_t flagged = a.is_event ? add_flags(x, w->ic, &cf) : 0;
    if ((e = final_bytes(w, &a, flagged || a.stripped, &ser)) != VD_OK)
        goto out;
    if (!recheck && (e = pend_links(x, w->coll->id, w->name)) != VD_OK)
        goto out;
    if (!recheck || w->bytes) {
        vd_put p = w->put;
        if (w->bytes) {
            p.data = w->bytes;
            p.len = w->len;
        }
        p.summary = vd_ical_summary(w->ic);
        if ((e = vd_store_res_put(x->t, &p, res)) != VD_OK)
            goto out;
    }
    e = index_and_link(x, w, &a, &cf, !recheck);
out:
    vd_buf_free(&ser);
    vd_conflicts_clear(&cf);
    vis_clear(&a);
    return e;
}

/* Re-check the stored visit (coll_id, name); gone or not a calendar
 * object: nothing to do. */
static vd_err recheck_one(vd_vctx *x, uint64_t coll_id, const char *name)
{
    vd_coll c = {0};
    vd_res r;
    vd_calobj o = {0};
    char *data = NULL, *ctype = NULL, *uid = NULL;
    vd_err e = vd_store_coll_get_by_id(x->t, coll_id, &c);
    if (e == VD_OK && c.kind == VD_COLL_CALENDAR)
        e = vd_store_res_get(x->t, coll_id, name, &r);
    else if (e == VD_OK)
        e = VD_ENOTFOUND;
    if (e != VD_OK)
        goto out;
    data = malloc(r.len + 1);
    ctype = xstrdup(r.content_type);
    uid = xstrdup(r.uid);
    if (!data)
        abort();
    memcpy(data, r.data, r.len);
    data[r.len] = '\0';
    vd_config cfg = *x->srv->cfg;
    cfg.max_resource_bytes = 0;         /* stored bytes: flags may have grown them */
    vd_diag d = {0};
    if (vd_calobj_prepare(&o, &cfg, ctype, data, r.len, c.comp_mask, &d) != VD_OK ||
        vd_ical_comp(o.ic) != VD_COMP_VEVENT)
        goto out;                       /* not a visit: nothing to re-check */
    vd_visits_write w = {
        .srv = x->srv, .coll = &c, .name = name, .ic = o.ic,
        .put = {.coll_id = coll_id, .name = name, .data = data, .len = r.len,
                .content_type = ctype, .uid = uid, .comp = vd_ical_comp(o.ic),
                .inst = o.inst, .n_inst = o.n_inst, .open_ended = o.open_ended},
    };
    vd_put_result pr;
    e = store_visit(x, &w, true, &pr, &d);
    vd_visits_write_clear(&w);
out:
    vd_calobj_clear(&o);
    vd_coll_clear(&c);
    free(data);
    free(ctype);
    free(uid);
    return e == VD_ENOTFOUND ? VD_OK : e;
}

static vd_err recheck_pending(vd_vctx *x)
{
    vd_err e = VD_OK;
    for (size_t i = 0; e == VD_OK && i < x->n_pend; i++)
        e = recheck_one(x, x->pend[i].coll_id, x->pend[i].name);
    return e;
}

vd_err vd_visits_store(vd_txn *t, vd_visits_write *w, vd_put_result *res, vd_diag *d)
{
    vd_vctx x;
    vd_visits_write_clear(w);
    vd_vctx_open(&x, t, w->srv, w->actor);
    vd_err e = store_visit(&x, w, false, res, d);
    if (e == VD_OK) {
        /* the visit itself was written last: never re-check it */
        for (size_t i = 0; i < x.n_pend; i++)
            if (x.pend[i].coll_id == w->coll->id && strcmp(x.pend[i].name, w->name) == 0)
                x.pend[i].coll_id = 0;
        e = recheck_pending(&x);
    }
    vd_vctx_close(&x);
    return e;
}

void vd_visits_write_clear(vd_visits_write *w)
{
    free(w->bytes);
    free(w->reject_xml);
    w->bytes = NULL;
    w->reject_xml = NULL;
    w->len = 0;
}

/* ------------------------------------------------------------------ */
/* removal and moves                                                    */

typedef struct names {
    char **v;
    size_t n;
} names;

static vd_err names_add(names *l, const char *s)
{
    if (l->n % 64 == 0) {
        char **v = realloc(l->v, (l->n + 64) * sizeof *v);
        if (!v)
            return VD_ENOMEM;
        l->v = v;
    }
    l->v[l->n++] = xstrdup(s);
    return VD_OK;
}

static void names_free(names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static vd_err member_cb(const vd_res *r, void *ctx)
{
    return names_add(ctx, r->name);
}

static vd_err child_cb(const vd_coll *c, void *ctx)
{
    return names_add(ctx, c->path);
}

/* Every member of the tree at path onto the re-check list by its links;
 * self: the linked members themselves too (their refs changed). */
static vd_err pend_tree(vd_vctx *x, const char *path, bool self, int depth)
{
    vd_coll c = {0};
    names mem = {0}, kids = {0};
    if (depth > MAX_TREE_DEPTH)
        return VD_OK;
    vd_err e = vd_store_coll_get(x->t, path, &c);
    if (e == VD_OK)
        e = vd_store_res_list(x->t, c.id, member_cb, &mem);
    for (size_t i = 0; e == VD_OK && i < mem.n; i++) {
        size_t before = x->n_pend;
        e = pend_links(x, c.id, mem.v[i]);
        if (e == VD_OK && self && x->n_pend > before)
            e = pend_add(c.id, mem.v[i], x);
    }
    if (e == VD_OK)
        e = vd_store_coll_children(x->t, path, child_cb, &kids);
    for (size_t i = 0; e == VD_OK && i < kids.n; i++)
        e = pend_tree(x, kids.v[i], self, depth + 1);
    names_free(&mem);
    names_free(&kids);
    vd_coll_clear(&c);
    return e == VD_ENOTFOUND ? VD_OK : e;
}

vd_err vd_visits_res_delete(vd_txn *t, vd_server *s, uint64_t coll_id, const char *name)
{
    if (!s)
        return vd_store_res_delete(t, coll_id, name);
    vd_vctx x;
    vd_vctx_open(&x, t, s, NULL);
    /* the links go with the member: read them first */
    vd_err e = pend_links(&x, coll_id, name);
    if (e == VD_OK)
        e = vd_store_res_delete(t, coll_id, name);
    if (e == VD_OK)
        e = recheck_pending(&x);
    vd_vctx_close(&x);
    return e;
}

vd_err vd_visits_coll_delete(vd_txn *t, vd_server *s, const char *path)
{
    if (!s)
        return vd_store_coll_delete(t, path);
    vd_vctx x;
    vd_vctx_open(&x, t, s, NULL);
    vd_err e = pend_tree(&x, path, false, 0);
    if (e == VD_OK)
        e = vd_store_coll_delete(t, path);
    if (e == VD_OK)
        e = recheck_pending(&x);
    vd_vctx_close(&x);
    return e;
}

vd_err vd_visits_coll_moved(vd_txn *t, vd_server *s, const char *path)
{
    if (!s)
        return VD_OK;
    vd_vctx x;
    vd_vctx_open(&x, t, s, NULL);
    vd_err e = pend_tree(&x, path, true, 0);
    if (e == VD_OK)
        e = recheck_pending(&x);
    vd_vctx_close(&x);
    return e;
}
