/* visits_list.c - the conflicts listing of visits.h (GET /api/v1/conflicts
 * and `visitdav conflicts`): the flags stored on the visits of some owners
 * in a time range, read back as JSON.  It reports what the write path
 * stored (X-VISIT-CONFLICT), it never re-runs the rules.  Also `visitdav
 * approve`, which writes through the same path as a PUT (calobj.h).
 * Must not: write to the store except through calobj.h, answer HTTP, or
 * show more of the other visit than its flag holds (rule, href, owner,
 * times). */
#include "visits_int.h"

#include "calobj.h"

#include "../lib/acl.h"
#include "../lib/hash.h"
#include "../lib/path.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SCAN_DAYS 367           /* how far an instance may lie from the other's start */

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        abort();
    return d;
}

static bool time_ok(vd_time t)
{
    return t >= 0 && t <= 253402300799LL;      /* writable as YYYYMMDDTHHMMSSZ */
}


typedef struct lvisit {
    uint64_t coll_id;
    char *name;
    vd_time first_start, first_end;     /* its first indexed instance in range */
} lvisit;

typedef struct lentry {
    vd_time start, end, os, oe;
    bool times;                         /* os/oe known */
    char *visit, *owner, *rule, *other, *other_owner;
} lentry;

typedef struct listing {
    vd_vctx *x;
    const char *viewer;                 /* issue 4: readable calendars only */
    vd_time start, end;
    lvisit *v;
    size_t n, cap;
    size_t *slots;                      /* hash of v: index + 1 */
    size_t nslots;
    lentry *e;
    size_t ne;
    bool truncated;
} listing;

static uint64_t lv_hash(uint64_t id, const char *name)
{
    return vd_hash64(name, strlen(name)) ^ (id * 0x9E3779B97F4A7C15ull);
}

static vd_err lv_grow(listing *l)
{
    size_t ns = l->nslots ? l->nslots * 2 : 256;
    size_t *s = calloc(ns, sizeof *s);
    if (!s)
        return VD_ENOMEM;
    for (size_t i = 0; i < l->n; i++) {
        size_t k = lv_hash(l->v[i].coll_id, l->v[i].name) & (ns - 1);
        while (s[k])
            k = (k + 1) & (ns - 1);
        s[k] = i + 1;
    }
    free(l->slots);
    l->slots = s;
    l->nslots = ns;
    return VD_OK;
}

/* Each visit once (the owner index yields one entry per instance). */
static vd_err on_owned(const vd_visit_entry *e, void *ctx)
{
    listing *l = ctx;
    if (l->n * 2 >= l->nslots && lv_grow(l) != VD_OK)
        return VD_ENOMEM;
    size_t k = lv_hash(e->coll_id, e->name) & (l->nslots - 1);
    for (; l->slots[k]; k = (k + 1) & (l->nslots - 1)) {
        const lvisit *v = &l->v[l->slots[k] - 1];
        if (v->coll_id == e->coll_id && strcmp(v->name, e->name) == 0)
            return VD_OK;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        lvisit *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return VD_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n] = (lvisit){e->coll_id, xstrdup(e->name), e->start, e->end};
    l->slots[k] = ++l->n;
    return VD_OK;
}

/* Value of a flag: the other's href, iCalendar backslash escapes undone. */
static char *flag_value(const char *v)
{
    char *o = xstrdup(v), *w = o;
    for (const char *p = v; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            *w++ = (*p == 'n' || *p == 'N') ? ' ' : *p;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
    return o;
}

static bool in_range(const listing *l, vd_time s, vd_time e)
{
    return s < l->end && (e > l->start || (s == e && s >= l->start));
}

/* The instance of ic nearest the other visit's start. */
static bool nearest(listing *l, vd_ical *ic, uint64_t coll_id, vd_time os, vd_instance *out)
{
    vd_instance *in = NULL;
    size_t n = 0;
    bool trunc = false, found = false;
    vd_time span = (vd_time)SCAN_DAYS * 86400;
    if (vd_ical_instances(ic, os - span, os + span, vd_vctx_floating_tz(l->x, coll_id),
                          VD_MAX_EXPAND_INST, &in, &n, &trunc) == VD_OK) {
        for (size_t i = 0; i < n; i++) {
            vd_time d = in[i].start > os ? in[i].start - os : os - in[i].start;
            vd_time best = found ? (out->start > os ? out->start - os : os - out->start) : 0;
            if (!found || d < best) {
                *out = in[i];
                found = true;
            }
        }
    }
    free(in);
    return found;
}

static vd_err add_entry(listing *l, const lentry *e)
{
    if (l->ne >= VD_VISITS_MAX_LISTED) {
        l->truncated = true;
        return VD_OK;
    }
    if (l->ne % 64 == 0) {
        lentry *p = realloc(l->e, (l->ne + 64) * sizeof *p);
        if (!p)
            return VD_ENOMEM;
        l->e = p;
    }
    l->e[l->ne++] = *e;
    return VD_OK;
}

static void entry_free(lentry *e)
{
    free(e->visit);
    free(e->owner);
    free(e->rule);
    free(e->other);
    free(e->other_owner);
}

/* One flag line of visit v (owner, encoded href) into the listing. */
static vd_err list_flag(listing *l, const lvisit *v, const char *owner, const char *href,
                        const char *line, vd_ical **ic, const char *data, size_t len)
{
    char rule[64] = "", oo[256] = "", ts[32] = "", te[32] = "";
    lentry e = {.start = v->first_start, .end = v->first_end};
    vd_ics_param_get(line, "X-RULE", rule, sizeof rule);
    bool has_owner = vd_ics_param_get(line, "X-OTHER-OWNER", oo, sizeof oo);
    e.times = vd_ics_param_get(line, "X-OTHER-START", ts, sizeof ts) &&
              vd_ics_param_get(line, "X-OTHER-END", te, sizeof te) &&
              vd_time_parse_utc(ts, &e.os) == VD_OK && vd_time_parse_utc(te, &e.oe) == VD_OK;
    if (e.times) {
        vd_instance in;
        if (!*ic)
            *ic = vd_ical_load(data, len);
        if (!*ic || !nearest(l, *ic, v->coll_id, e.os, &in))
            return VD_OK;
        if (!in_range(l, in.start, in.end))
            return VD_OK;       /* the collision concerns another instance */
        e.start = in.start;
        e.end = in.end;
    }
    const char *val = vd_ics_value_colon(line);
    e.visit = xstrdup(href);
    e.owner = xstrdup(owner);
    e.rule = xstrdup(rule[0] ? rule : "unknown");
    e.other = e.times && val && val[1] ? flag_value(val + 1) : NULL;
    e.other_owner = has_owner ? xstrdup(oo) : NULL;
    vd_err err = add_entry(l, &e);
    if (err != VD_OK || l->truncated)
        entry_free(&e);
    return err;
}

/* issue 4: does viewer hold any privilege on the calendar at path? */
static bool may_see(vd_server *s, const char *viewer, const char *path)
{
    if (!viewer || !s->acl)
        return true;
    const vd_acl *a = vd_acldb_acquire(s->acl);
    bool yes = vd_acl_privs(a, viewer, path, NULL) != 0;
    vd_acldb_release(s->acl, a);
    return yes;
}

/* The flags stored on visit v. */
static vd_err list_visit(listing *l, const lvisit *v)
{
    vd_res r;
    const vd_coll_slot *c = NULL;
    vd_err e = vd_vctx_coll(l->x, v->coll_id, &c);
    if (e != VD_OK || !c || !may_see(l->x->srv, l->viewer, c->path))
        return e;
    char *owner = xstrdup(c->owner), *path = malloc(strlen(c->path) + strlen(v->name) + 1);
    if (!path)
        abort();
    strcpy(path, c->path);
    strcat(path, v->name);
    char *href = vd_path_encode(path);
    e = vd_store_res_get(l->x->t, v->coll_id, v->name, &r);
    vd_ical *ic = NULL;
    vd_buf line = VD_BUF_INIT;
    vd_ics_it it = {e == VD_OK ? r.data : NULL, e == VD_OK ? r.data + r.len : NULL};
    const char *b, *end;
    while (e == VD_OK && href && vd_ics_next(&it, &b, &end, &line))
        if (vd_ics_prop_is(line.data, "X-VISIT-CONFLICT"))
            e = list_flag(l, v, owner, href, line.data, &ic, r.data, r.len);
    vd_buf_free(&line);
    vd_ical_free(ic);
    free(href);
    free(path);
    free(owner);
    return e == VD_ENOTFOUND ? VD_OK : e;
}

static int cmp_opt(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

static int cmp_entry(const void *pa, const void *pb)
{
    const lentry *a = pa, *b = pb;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    int c = strcmp(a->visit, b->visit);
    if (!c)
        c = strcmp(a->rule, b->rule);
    return c ? c : cmp_opt(a->other, b->other);
}

static void json_str(vd_buf *b, const char *s)
{
    if (!s) {
        vd_buf_puts(b, "null");
        return;
    }
    vd_buf_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            vd_buf_printf(b, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            vd_buf_printf(b, "\\u%04x", *p);
        else
            vd_buf_append(b, p, 1);
    }
    vd_buf_puts(b, "\"");
}

static void json_time(vd_buf *b, vd_time t, bool known)
{
    char s[17];
    if (!known || !time_ok(t)) {
        vd_buf_puts(b, "null");
        return;
    }
    vd_time_format_utc(t, s);
    json_str(b, s);
}

static void write_json(const listing *l, vd_buf *out)
{
    vd_buf_puts(out, "{\"conflicts\": [");
    for (size_t i = 0; i < l->ne; i++) {
        const lentry *e = &l->e[i];
        vd_buf_puts(out, i ? ",\n  {" : "\n  {");
        vd_buf_puts(out, "\"rule\": ");
        json_str(out, e->rule);
        vd_buf_puts(out, ", \"visit\": ");
        json_str(out, e->visit);
        vd_buf_puts(out, ", \"owner\": ");
        json_str(out, e->owner);
        vd_buf_puts(out, ", \"start\": ");
        json_time(out, e->start, true);
        vd_buf_puts(out, ", \"end\": ");
        json_time(out, e->end, true);
        vd_buf_puts(out, ", \"other\": ");
        json_str(out, e->other);
        vd_buf_puts(out, ", \"other_owner\": ");
        json_str(out, e->other_owner);
        vd_buf_puts(out, ", \"other_start\": ");
        json_time(out, e->os, e->times);
        vd_buf_puts(out, ", \"other_end\": ");
        json_time(out, e->oe, e->times);
        vd_buf_puts(out, "}");
    }
    vd_buf_printf(out, "%s]%s}\n", l->ne ? "\n" : "", l->truncated ? ", \"truncated\": true" : "");
}

vd_err vd_visits_conflicts_json(vd_txn *t, vd_server *s, const char *const *owners,
                                size_t n_owners, vd_time start, vd_time end, vd_buf *out)
{
    return vd_visits_conflicts_json_for(t, s, NULL, owners, n_owners, start, end, out);
}

vd_err vd_visits_conflicts_json_for(vd_txn *t, vd_server *s, const char *viewer,
                                    const char *const *owners, size_t n_owners,
                                    vd_time start, vd_time end, vd_buf *out)
{
    vd_vctx x;
    vd_vctx_open(&x, t, s, NULL);
    listing l = {.x = &x, .viewer = viewer, .start = start, .end = end};
    vd_err e = VD_OK;
    for (size_t i = 0; e == VD_OK && i < n_owners; i++)
        e = vd_store_visits_by_owner(t, owners[i], start, end, on_owned, &l);
    for (size_t i = 0; e == VD_OK && i < l.n; i++)
        e = list_visit(&l, &l.v[i]);
    if (e == VD_OK) {
        if (l.ne > 1)
            qsort(l.e, l.ne, sizeof *l.e, cmp_entry);
        write_json(&l, out);
    }
    for (size_t i = 0; i < l.n; i++)
        free(l.v[i].name);
    for (size_t i = 0; i < l.ne; i++)
        entry_free(&l.e[i]);
    free(l.v);
    free(l.e);
    free(l.slots);
    vd_vctx_close(&x);
    return e;
}

/* ------------------------------------------------------------------ */
/* visitdav approve                                                     */

typedef struct approve_ctx {
    vd_server *s;
    const char *actor, *path;
    vd_rule rule;
    vd_diag *d;
} approve_ctx;

/* data with X-VISIT-APPROVED:rule before its first END:VEVENT (NULL when
 * there is none). */
static char *with_approval(const char *data, size_t len, vd_rule rule, size_t *out_len)
{
    vd_ics_it it = {data, data + len};
    vd_buf line = VD_BUF_INIT, out = VD_BUF_INIT;
    const char *b, *e;
    bool done = false;
    while (vd_ics_next(&it, &b, &e, &line)) {
        if (!done && strcasecmp(line.data, "END:VEVENT") == 0) {
            vd_buf_printf(&out, "X-VISIT-APPROVED:%s\r\n", vd_rule_name(rule));
            done = true;
        }
        vd_buf_append(&out, b, (size_t)(e - b));
    }
    vd_buf_free(&line);
    if (!done) {
        vd_buf_free(&out);
        return NULL;
    }
    return vd_buf_steal(&out, out_len);
}

static vd_err approve_fn(vd_txn *t, void *ctx)
{
    approve_ctx *a = ctx;
    char *parent = NULL, *name = NULL, *data = NULL, *ctype = NULL, *uid = NULL;
    vd_coll c = {0};
    vd_res r;
    vd_calobj o = {0};
    size_t len = 0;
    vd_err e = vd_path_split(a->path, &parent, &name);
    if (e == VD_OK)
        e = vd_store_coll_get(t, parent, &c);
    if (e == VD_OK && c.kind != VD_COLL_CALENDAR)
        e = VD_ENOTFOUND;
    if (e == VD_OK)
        e = vd_store_res_get(t, c.id, name, &r);
    if (e != VD_OK) {
        if (e == VD_ENOTFOUND || e == VD_EINVAL)
            vd_diag_set(a->d, 404, NULL, NULL, "no calendar object at %s", a->path);
        goto out;
    }
    ctype = xstrdup(r.content_type);
    uid = xstrdup(r.uid);
    data = with_approval(r.data, r.len, a->rule, &len);
    if (!data) {
        vd_diag_set(a->d, 400, NULL, NULL, "%s is not an event", a->path);
        e = VD_EINVAL;
        goto out;
    }
    vd_config cfg = *a->s->cfg;
    cfg.max_resource_bytes = 0;
    if ((e = vd_calobj_prepare(&o, &cfg, ctype, data, len, c.comp_mask, a->d)) != VD_OK)
        goto out;
    o.srv = a->s;
    o.actor = a->actor;
    o.admin = true;
    vd_calobj_stored st;
    e = vd_calobj_store(t, &o, &c, name, uid, &st, a->d);
out:
    vd_calobj_clear(&o);
    vd_coll_clear(&c);
    free(parent);
    free(name);
    free(data);
    free(ctype);
    free(uid);
    return e;
}

vd_err vd_visits_approve(vd_server *s, const char *actor, const char *path, const char *rule,
                         vd_diag *d)
{
    approve_ctx a = {.s = s, .actor = actor, .path = path, .d = d};
    if (!vd_rule_from_name(rule, &a.rule)) {
        vd_diag_set(d, 400, NULL, NULL, "unknown rule %s (rep-overlap, customer-overlap, "
                    "customer-cadence, required-fields)", rule);
        return VD_EINVAL;
    }
    return vd_store_write(s->store, actor, "APPROVE", approve_fn, &a);
}

/* issue 4: a member of team by the ACL file, else by rules.conf. */
static bool in_team(vd_server *s, const vd_rules *r, const char *team, const char *owner)
{
    if (s->acl) {
        const vd_acl *a = vd_acldb_acquire(s->acl);
        bool yes = vd_acl_is_member(a, team, owner);
        vd_acldb_release(s->acl, a);
        if (yes)
            return true;
    }
    const char *t = vd_rules_team_of(r, owner);
    return t && strcmp(t, team) == 0;
}

bool vd_visits_may_list(vd_server *s, const char *viewer, const char *team, const char *owner)
{
    const vd_rules *r = s->rules ? vd_rulesdb_acquire(s->rules) : NULL;
    bool ok = owner && (!viewer || strcmp(viewer, owner) == 0 || vd_rules_is_approver(r, viewer) ||
                        vd_visits_acl_manages(s, viewer, owner))
              && (!team || in_team(s, r, team, owner));
    if (r)
        vd_rulesdb_release(s->rules, r);
    return ok;
}

vd_time vd_visits_horizon(vd_server *s)
{
    const vd_rules *r = s->rules ? vd_rulesdb_acquire(s->rules) : NULL;
    vd_time h = (vd_time)vd_rules_horizon_days(r) * 86400;
    if (r)
        vd_rulesdb_release(s->rules, r);
    return h;
}
