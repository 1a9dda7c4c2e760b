/* teams.c - team calendars (teams.h, issue 4): the /teams/ URL space (the
 * stored team collections, the read-only aggregates "visits" and
 * "conflicts" and their members), the aliases of team calendars in each
 * user's home, the aggregates' sync tokens and changes, and provisioning
 * of /teams/<team>/ for the teams of the ACL file.
 * Must not: answer the client, decide privileges (access.c does, from
 * vd_teams_map_path), or write to the store outside vd_teams_provision. */
#include "teams.h"

#include "props.h"

#include "../lib/acl.h"
#include "../lib/hash.h"
#include "../lib/path.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------- small helpers (out of memory aborts, as vd_buf does) ---------- */

static char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        abort();
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static char *dup0(const char *s)
{
    return dupn(s, strlen(s));
}

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static const vd_acl *acl_get(vd_server *s)
{
    return s && s->acl ? vd_acldb_acquire(s->acl) : NULL;
}

static void acl_put(vd_server *s, const vd_acl *a)
{
    if (a)
        vd_acldb_release(s->acl, a);
}

/* Cheap test before any ACL lookup: could path be a team path or alias? */
static bool candidate(const char *path)
{
    if (starts(path, VD_TEAMS_PATH))
        return true;
    if (!starts(path, VD_CALENDARS_PATH))
        return false;
    const char *u = strchr(path + strlen(VD_CALENDARS_PATH), '/');
    return u && (starts(u + 1, VD_TEAMS_ALIAS_PREFIX) || starts(u + 1, VD_TEAMS_USER_PREFIX));
}

static bool is_agg_name(const char *cal)
{
    return strcmp(cal, VD_TEAMS_VISITS) == 0 || strcmp(cal, VD_TEAMS_CONFLICTS) == 0;
}

/* ---------- /teams/<team>/<cal>/<member> ---------- */

typedef struct tparts {
    char *team;         /* owned */
    char *cal;          /* owned; NULL: /teams/<team>/ itself */
    char *member;       /* owned; NULL: the calendar itself */
    bool deep;          /* something below a member (never exists) */
} tparts;

static void tparts_clear(tparts *p)
{
    free(p->team);
    free(p->cal);
    free(p->member);
    memset(p, 0, sizeof *p);
}

static bool split_teams(const char *path, tparts *p)
{
    memset(p, 0, sizeof *p);
    if (!starts(path, VD_TEAMS_PATH))
        return false;
    const char *s = path + strlen(VD_TEAMS_PATH), *e = strchr(s, '/');
    if (!e)
        e = s + strlen(s);
    if (e == s)
        return false;
    p->team = dupn(s, (size_t)(e - s));
    if (!*e || !e[1])
        return true;
    s = e + 1;
    e = strchr(s, '/');
    if (!e)
        e = s + strlen(s);
    p->cal = dupn(s, (size_t)(e - s));
    if (!*e || !e[1])
        return true;
    s = e + 1;
    e = strchr(s, '/');
    p->member = dupn(s, e ? (size_t)(e - s) : strlen(s));
    p->deep = e != NULL;
    return true;
}

/* An aggregate of a team of the ACL file? */
static bool is_agg(const vd_acl *a, const tparts *p)
{
    return a && p->cal && is_agg_name(p->cal) && vd_acl_team_exists(a, p->team);
}

/* "<user>~<name>" of team -> "/calendars/<user>/<default>/<name>", or NULL
 * when user is not a member of team (managers are not) or no default
 * calendar is configured. */
static char *member_real(vd_server *s, const vd_acl *a, const char *team, const char *member)
{
    const char *tilde = strchr(member, '~');
    const char *dflt = s->cfg->default_calendar;
    if (!tilde || tilde == member || !tilde[1] || !dflt || !vd_name_valid(dflt))
        return NULL;
    char *user = dupn(member, (size_t)(tilde - member));
    char *out = NULL;
    if (vd_acl_is_member(a, team, user)) {
        vd_buf b = VD_BUF_INIT;
        vd_buf_printf(&b, "%s%s/%s/%s", VD_CALENDARS_PATH, user, dflt, tilde + 1);
        out = vd_buf_steal(&b, NULL);
    }
    free(user);
    return out;
}

/* ---------- aliases: /calendars/<u>/team-<team>-<cal>[/...] ---------- */

/* b holds the collection an alias names ("...<cal>/"): with check, NULL
 * (b freed) unless the user [u, ue) holds some privilege there; else the
 * target with the rest of the path after the alias segment (se) as given. */
static char *alias_finish(const vd_acl *a, const char *u, const char *ue, const char *se,
                          bool check, vd_buf *b, bool *top)
{
    if (check) {
        char *user = dupn(u, (size_t)(ue - u));
        unsigned p = vd_acl_privs(a, user, b->data, NULL);
        free(user);
        if (!p) {
            vd_buf_free(b);
            return NULL;
        }
    }
    b->len--;                               /* the rest as given, '/' or not */
    b->data[b->len] = '\0';
    vd_buf_puts(b, se);
    *top = !*se || !se[1];
    return vd_buf_steal(b, NULL);
}

/* "user-<owner>~<cal>" (seg, sl bytes) -> "/calendars/<owner>/<cal>/" in
 * b; false when malformed, when owner is the home's user u (ul bytes: no
 * alias of one's own calendar) or when cal is itself an alias name (an
 * alias never names an alias, so resolving one takes one step). */
static bool user_alias(const char *u, size_t ul, const char *seg, size_t sl, vd_buf *b)
{
    size_t pl = strlen(VD_TEAMS_USER_PREFIX);
    const char *o = seg + pl, *tilde = memchr(o, '~', sl - pl);
    if (!tilde || tilde == o || tilde + 1 >= seg + sl)
        return false;
    char *owner = dupn(o, (size_t)(tilde - o));
    char *cal = dupn(tilde + 1, (size_t)(seg + sl - tilde - 1));
    bool ok = vd_name_valid(owner) && vd_name_valid(cal) && !starts(cal, VD_TEAMS_ALIAS_PREFIX) &&
              !starts(cal, VD_TEAMS_USER_PREFIX) && (strlen(owner) != ul || memcmp(owner, u, ul));
    if (ok)
        vd_buf_printf(b, "%s%s/%s/", VD_CALENDARS_PATH, owner, cal);
    free(owner);
    free(cal);
    return ok;
}

/* The path an alias names (malloc'd: a /teams/ path, or another user's
 * calendar), or NULL.  check: only when u holds some privilege on the
 * calendar named.  *top: path is the home child itself (nothing below it
 * but an optional '/'). */
static char *alias_target(const vd_acl *a, const char *path, bool check, bool *top)
{
    size_t pl = strlen(VD_TEAMS_ALIAS_PREFIX);
    if (!a || !starts(path, VD_CALENDARS_PATH))
        return NULL;
    const char *u = path + strlen(VD_CALENDARS_PATH), *ue = strchr(u, '/');
    if (!ue || ue == u)
        return NULL;
    const char *seg = ue + 1, *se = strchr(seg, '/');
    if (!se)
        se = seg + strlen(seg);
    size_t sl = (size_t)(se - seg), bl = 0;
    const char *best = NULL;
    vd_buf b = VD_BUF_INIT;
    if (starts(seg, VD_TEAMS_USER_PREFIX) && sl > strlen(VD_TEAMS_USER_PREFIX)) {
        if (!user_alias(u, (size_t)(ue - u), seg, sl, &b))
            return NULL;
        return alias_finish(a, u, ue, se, check, &b, top);
    }
    if (sl <= pl || !starts(seg, VD_TEAMS_ALIAS_PREFIX))
        return NULL;
    for (size_t i = 0; i < vd_acl_team_count(a); i++) {   /* longest team name wins */
        const char *tn = vd_acl_team_name(a, i);
        size_t tl = strlen(tn);
        if (tl > bl && pl + tl + 1 < sl && memcmp(seg + pl, tn, tl) == 0 && seg[pl + tl] == '-') {
            best = tn;
            bl = tl;
        }
    }
    if (!best)
        return NULL;
    const char *cal = seg + pl + bl + 1;
    vd_buf_printf(&b, "%s%s/%.*s/", VD_TEAMS_PATH, best, (int)(se - cal), cal);
    return alias_finish(a, u, ue, se, check, &b, top);
}

bool vd_teams_reserved(vd_server *s, const char *path)
{
    if (!path || !candidate(path))
        return false;
    const vd_acl *a = acl_get(s);
    bool top = false;
    char *t = alias_target(a, path, false, &top);
    bool reserved = t && top;
    if (a && !reserved && vd_path_depth(path) == 3) {  /* every "user-..." home child */
        const char *seg = strchr(path + strlen(VD_CALENDARS_PATH), '/');
        reserved = starts(path, VD_CALENDARS_PATH) && seg && starts(seg + 1, VD_TEAMS_USER_PREFIX);
    }
    acl_put(s, a);
    free(t);
    return reserved;
}

bool vd_teams_map_path(vd_server *s, const char *path, vd_teams_map *out)
{
    memset(out, 0, sizeof *out);
    if (!s || !s->acl || !path || !candidate(path))
        return false;
    const vd_acl *a = acl_get(s);
    bool top = false;
    char *alias = alias_target(a, path, true, &top);
    tparts p;
    if (split_teams(alias ? alias : path, &p) && is_agg(a, &p)) {
        out->kind = VD_TEAMS_MAP_AGG;
        if (p.member && !p.deep && (out->real = member_real(s, a, p.team, p.member)))
            out->kind = VD_TEAMS_MAP_MEMBER;
        out->path = alias ? alias : dup0(path);
        alias = NULL;
    } else if (alias) {
        out->kind = VD_TEAMS_MAP_PATH;
        out->path = alias;
        alias = NULL;
    }
    tparts_clear(&p);
    acl_put(s, a);
    return out->kind != VD_TEAMS_MAP_NONE;
}

void vd_teams_map_clear(vd_teams_map *m)
{
    if (!m)
        return;
    free(m->path);
    free(m->real);
    memset(m, 0, sizeof *m);
}

/* ---------- resolve ---------- */

/* Does the stored event carry an X-VISIT-CONFLICT property?  (A property
 * name starts a line; libical never folds within the first 75 octets.) */
static bool flagged(const vd_res *res)
{
    static const char key[] = "X-VISIT-CONFLICT";
    const size_t k = sizeof key - 1;
    const char *p = res->data, *end = res->data + res->len;
    while (p && p + k < end) {
        if (strncasecmp(p, key, k) == 0 && (p[k] == ';' || p[k] == ':'))
            return true;
        p = memchr(p, '\n', (size_t)(end - p));
        if (p)
            p++;
    }
    return false;
}

bool vd_teams_listed(const vd_teams_cals *l, const vd_res *res)
{
    return !l->flagged_only || flagged(res);
}

/* A member "<user>~<name>" of an aggregate: the stored event (RES), or
 * NONE without a collection (nothing can be made there). */
static vd_err resolve_member(vd_server *s, const vd_acl *a, vd_txn *t, const tparts *p,
                             const char *path, vd_node *out)
{
    out->kind = VD_NODE_NONE;
    out->path = dup0(path);
    char *real = p->deep ? NULL : member_real(s, a, p->team, p->member);
    char *parent = NULL, *name = NULL;
    vd_err e = VD_OK;
    if (!real || vd_path_split(real, &parent, &name) != VD_OK) {
        out->name = dup0(p->member);
        goto out;
    }
    out->name = name;
    name = NULL;
    e = vd_store_coll_get(t, parent, &out->coll);
    if (e == VD_OK && out->coll.kind == VD_COLL_CALENDAR)
        e = vd_store_res_get(t, out->coll.id, out->name, &out->res);
    else if (e == VD_OK)
        e = VD_ENOTFOUND;
    if (e == VD_OK && strcmp(p->cal, VD_TEAMS_CONFLICTS) == 0 && !flagged(&out->res))
        e = VD_ENOTFOUND;
    if (e == VD_OK) {
        out->kind = VD_NODE_RES;
    } else {
        vd_coll_clear(&out->coll);
        memset(&out->res, 0, sizeof out->res);
        if (e == VD_ENOTFOUND)
            e = VD_OK;
    }
out:
    free(real);
    free(parent);
    free(name);
    return e;
}

static vd_err resolve_agg(vd_server *s, const vd_acl *a, vd_txn *t, const tparts *p,
                          const char *path, vd_node *out)
{
    if (p->member)
        return resolve_member(s, a, t, p, path, out);
    out->kind = VD_NODE_TEAM_CAL;
    out->path = vd_path_as_dir(path);
    out->user = dup0(p->team);
    out->name = dup0(p->cal);
    return out->path ? VD_OK : VD_ENOMEM;
}

/* out was resolved at the alias target: name what the client asked. */
static vd_err alias_fix(const char *path, bool top, vd_node *out)
{
    bool dir = out->kind == VD_NODE_COLL || out->kind == VD_NODE_TEAM_CAL;
    char *np = dir ? vd_path_as_dir(path) : dup0(path);
    if (!np)
        return VD_ENOMEM;
    free(out->path);
    out->path = np;
    if (top && out->kind == VD_NODE_NONE) {
        /* nothing at the alias: no collection to put into either */
        char *parent = NULL, *name = NULL;
        vd_coll_clear(&out->coll);
        if (vd_path_split(path, &parent, &name) == VD_OK) {
            free(out->name);
            out->name = name;
        }
        free(parent);
    }
    return VD_OK;
}

vd_err vd_teams_resolve(vd_server *s, vd_txn *t, const char *path, vd_node *out, bool *handled)
{
    *handled = false;
    if (!s || !s->acl || !path || !candidate(path))
        return VD_OK;
    const vd_acl *a = acl_get(s);
    bool top = false;
    vd_err e = VD_OK;
    tparts p = {0};
    char *alias = alias_target(a, path, true, &top);
    if (alias) {
        acl_put(s, a);
        a = NULL;
        *handled = true;
        e = vd_resolve(s, t, alias, out);   /* a /teams/ path: one level only */
        if (e == VD_OK)
            e = alias_fix(path, top, out);
    } else if (split_teams(path, &p) && is_agg(a, &p)) {
        *handled = true;
        memset(out, 0, sizeof *out);
        e = resolve_agg(s, a, t, &p, path, out);
    }
    if (e != VD_OK)
        vd_node_clear(out);
    tparts_clear(&p);
    acl_put(s, a);
    free(alias);
    return e;
}

/* ---------- the member calendars of an aggregate ---------- */

void vd_teams_cals_clear(vd_teams_cals *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        vd_coll_clear(&l->v[i]);
    free(l->v);
    free(l->team);
    memset(l, 0, sizeof *l);
}

/* One member's default calendar into l (if it exists); its part of the
 * membership hash into hb. */
static vd_err add_member_cal(vd_server *s, vd_txn *t, const vd_node *agg, const char *user,
                             vd_teams_cals *l, vd_buf *hb)
{
    const char *dflt = s->cfg->default_calendar;
    vd_buf path = VD_BUF_INIT;
    vd_coll c = {0};
    vd_buf_printf(hb, "%s", user);
    vd_buf_append(hb, "", 1);
    vd_buf_printf(&path, "%s%s/%s/", VD_CALENDARS_PATH, user, dflt);
    vd_err e = vd_store_coll_get(t, path.data, &c);
    if (e == VD_OK && c.kind == VD_COLL_CALENDAR) {
        vd_buf_printf(hb, "%" PRIu64, c.id);
        vd_buf_reset(&path);
        vd_buf_printf(&path, "%s%s~", agg->path, user);
        free(c.path);
        c.path = vd_buf_steal(&path, NULL);
        if (c.seq > l->seq)
            l->seq = c.seq;
        l->v[l->n++] = c;
        memset(&c, 0, sizeof c);
    } else if (e == VD_OK || e == VD_ENOTFOUND) {
        e = VD_OK;
    }
    vd_buf_append(hb, "", 1);
    vd_coll_clear(&c);
    vd_buf_free(&path);
    return e;
}

vd_err vd_teams_cals_get(vd_server *s, vd_txn *t, const vd_node *agg, vd_teams_cals *out)
{
    memset(out, 0, sizeof *out);
    if (!agg || agg->kind != VD_NODE_TEAM_CAL || !agg->user || !agg->name || !agg->path)
        return VD_EINVAL;
    out->team = dup0(agg->user);
    out->flagged_only = strcmp(agg->name, VD_TEAMS_CONFLICTS) == 0;
    const vd_acl *a = acl_get(s);
    size_t n = 0;
    const char *const *m = a ? vd_acl_team_members(a, agg->user, &n) : NULL;
    const char *dflt = s->cfg->default_calendar;
    vd_buf hb = VD_BUF_INIT;
    vd_err e = VD_OK;
    vd_buf_puts(&hb, agg->name);
    vd_buf_append(&hb, "", 1);
    if (!m || !dflt || !vd_name_valid(dflt))
        n = 0;
    if (n && !(out->v = calloc(n, sizeof *out->v)))
        abort();
    for (size_t i = 0; i < n && e == VD_OK; i++)
        e = add_member_cal(s, t, agg, m[i], out, &hb);
    out->hash = vd_hash64(hb.data, hb.len);
    vd_buf_free(&hb);
    acl_put(s, a);
    if (e != VD_OK)
        vd_teams_cals_clear(out);
    return e;
}

typedef struct walk_ctx {
    const vd_teams_cals *l;
    const vd_coll *view;
    vd_teams_res_cb cb;
    void *ctx;
} walk_ctx;

static vd_err walk_cb(const vd_res *res, void *ctx)
{
    walk_ctx *w = ctx;
    return vd_teams_listed(w->l, res) ? w->cb(w->view, res, w->ctx) : VD_OK;
}

vd_err vd_teams_walk(vd_server *s, vd_txn *t, const vd_node *agg, vd_teams_res_cb cb, void *ctx)
{
    vd_teams_cals l;
    vd_err e = vd_teams_cals_get(s, t, agg, &l);
    walk_ctx w = {&l, NULL, cb, ctx};
    for (size_t i = 0; i < l.n && e == VD_OK; i++) {
        w.view = &l.v[i];
        e = vd_store_res_list(t, l.v[i].id, walk_cb, &w);
    }
    vd_teams_cals_clear(&l);
    return e;
}

/* ---------- sync ---------- */

static void token_of(const vd_teams_cals *l, char out[VD_TEAMS_TOKEN_MAX])
{
    snprintf(out, VD_TEAMS_TOKEN_MAX, VD_SYNC_TOKEN_PREFIX "team-%s-%" PRIu64 "-%016" PRIx64,
             l->team, l->seq, l->hash);
}

vd_err vd_teams_token(vd_server *s, vd_txn *t, const vd_node *agg, char out[VD_TEAMS_TOKEN_MAX])
{
    vd_teams_cals l;
    vd_err e = vd_teams_cals_get(s, t, agg, &l);
    if (e == VD_OK)
        token_of(&l, out);
    vd_teams_cals_clear(&l);
    return e;
}

/* Digits [s, e) as a uint64 (1 to 20 digits, no overflow). */
static bool parse_dec(const char *s, const char *e, uint64_t *v)
{
    uint64_t x = 0;
    if (e <= s || e - s > 20)
        return false;
    for (const char *p = s; p < e; p++) {
        if (*p < '0' || *p > '9' || x > (UINT64_MAX - 9) / 10)
            return false;
        x = x * 10 + (uint64_t)(*p - '0');
    }
    *v = x;
    return true;
}

/* "...team-<team>-<S>-<hash>" of this aggregate and membership, S not in
 * the future: *since = S. */
static bool token_ok(const char *tok, const vd_teams_cals *l, uint64_t *since)
{
    const char *pre = VD_SYNC_TOKEN_PREFIX "team-";
    if (!starts(tok, pre))
        return false;
    const char *s = tok + strlen(pre), *h = strrchr(s, '-');
    if (!h || h == s)
        return false;
    const char *q = h - 1;
    while (q > s && *q != '-')
        q--;
    uint64_t seq, hash = 0;
    if (q <= s || (size_t)(q - s) != strlen(l->team) || memcmp(s, l->team, (size_t)(q - s)) != 0 ||
        !parse_dec(q + 1, h, &seq) || strlen(h + 1) != 16)
        return false;
    for (const char *p = h + 1; *p; p++) {
        int d = (*p >= '0' && *p <= '9') ? *p - '0' : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10 : -1;
        if (d < 0)
            return false;
        hash = hash << 4 | (uint64_t)d;
    }
    *since = seq;
    return hash == l->hash && seq <= l->seq;
}

typedef struct chg_list {
    char **name;
    bool *deleted;
    size_t n, cap;
    const vd_teams_cals *l;
} chg_list;

static vd_err chg_push(chg_list *c, const char *name, bool deleted)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        char **nn = realloc(c->name, cap * sizeof *nn);
        if (nn)
            c->name = nn;
        bool *nd = realloc(c->deleted, cap * sizeof *nd);
        if (nd)
            c->deleted = nd;
        if (!nn || !nd)
            abort();
        c->cap = cap;
    }
    c->name[c->n] = dup0(name);
    c->deleted[c->n++] = deleted;
    return VD_OK;
}

static vd_err chg_cb(const char *name, bool deleted, void *ctx)
{
    return chg_push(ctx, name, deleted);
}

static vd_err present_cb(const vd_res *res, void *ctx)
{
    chg_list *c = ctx;
    return vd_teams_listed(c->l, res) ? chg_push(c, res->name, false) : VD_OK;
}

static void chg_free(chg_list *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->name[i]);
    free(c->name);
    free(c->deleted);
    memset(c, 0, sizeof *c);
}

/* The changes of one member calendar since `since` (0: what is there),
 * then each reported: a present event the conflicts aggregate no longer
 * lists is a deletion there. */
static vd_err cal_changes(vd_txn *t, const vd_teams_cals *l, const vd_coll *view, uint64_t since,
                          vd_teams_change_cb cb, void *ctx)
{
    chg_list c = {.l = l};
    uint64_t ns;
    bool trunc;
    vd_err e;
    if (since == 0) {
        e = vd_store_res_list(t, view->id, present_cb, &c);
    } else {
        e = vd_store_changes(t, view->id, since, 0, chg_cb, &c, &ns, &trunc);
        if (e == VD_EINVAL)     /* made after S: everything in it is new */
            e = vd_store_res_list(t, view->id, present_cb, &c);
    }
    for (size_t i = 0; i < c.n && e == VD_OK; i++) {
        bool gone = c.deleted[i];
        vd_res res;
        if (!gone && l->flagged_only) {
            vd_err g = vd_store_res_get(t, view->id, c.name[i], &res);
            if (g != VD_OK && g != VD_ENOTFOUND) {
                e = g;
                break;
            }
            gone = g == VD_ENOTFOUND || !flagged(&res);
        }
        e = cb(view, c.name[i], gone, ctx);
    }
    chg_free(&c);
    return e;
}

vd_err vd_teams_changes(vd_server *s, vd_txn *t, const vd_node *agg, const char *token,
                        vd_teams_change_cb cb, void *ctx, char new_token[VD_TEAMS_TOKEN_MAX])
{
    vd_teams_cals l;
    uint64_t since = 0;
    vd_err e = vd_teams_cals_get(s, t, agg, &l);
    if (e != VD_OK)
        return e;
    token_of(&l, new_token);
    if (token && token[0] && !token_ok(token, &l, &since))
        e = VD_EINVAL;
    for (size_t i = 0; i < l.n && e == VD_OK; i++) {
        if (since && l.v[i].seq <= since)
            continue;           /* nothing changed there since S */
        e = cal_changes(t, &l, &l.v[i], since, cb, ctx);
    }
    vd_teams_cals_clear(&l);
    return e;
}

/* ---------- children ---------- */

/* The two aggregates of team, at base + "visits/" (base: "/teams/<team>/"
 * or "<home>team-<team>-"); with user: only those user holds a privilege on. */
static vd_err agg_children(const vd_acl *a, const char *team, const char *base, const char *user,
                           vd_teams_node_cb cb, void *ctx)
{
    static const char *const cals[] = {VD_TEAMS_VISITS, VD_TEAMS_CONFLICTS};
    vd_err e = VD_OK;
    for (size_t i = 0; i < 2 && e == VD_OK; i++) {
        vd_buf p = VD_BUF_INIT;
        vd_buf_printf(&p, "%s%s/%s/", VD_TEAMS_PATH, team, cals[i]);
        if (!user || vd_acl_privs(a, user, p.data, NULL)) {
            vd_node n = {.kind = VD_NODE_TEAM_CAL};
            vd_buf_reset(&p);
            vd_buf_printf(&p, "%s%s/", base, cals[i]);
            n.path = p.data;
            n.user = (char *)team;
            n.name = (char *)cals[i];
            e = cb(&n, ctx);
        }
        vd_buf_free(&p);
    }
    return e;
}

typedef struct coll_list {
    vd_coll *v;
    size_t n, cap;
    vd_coll_kind kind;      /* the kind collected (0: calendars) */
} coll_list;

static vd_err coll_push(const vd_coll *c, void *ctx)
{
    coll_list *l = ctx;
    if (c->kind != (l->kind ? l->kind : VD_COLL_CALENDAR))
        return VD_OK;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        vd_coll *nv = realloc(l->v, cap * sizeof *nv);
        if (!nv)
            abort();
        l->v = nv;
        l->cap = cap;
    }
    vd_coll *d = &l->v[l->n++];
    *d = *c;
    d->path = dup0(c->path);
    d->owner = dup0(c->owner ? c->owner : "");
    return VD_OK;
}

static void coll_list_free(coll_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        vd_coll_clear(&l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* The stored calendars of /teams/<team>/ user holds a privilege on, as
 * aliases in the home at home_path. */
static vd_err cal_aliases(const vd_acl *a, vd_txn *t, const char *team, const char *home_path,
                          const char *user, vd_teams_node_cb cb, void *ctx)
{
    coll_list l = {0};
    vd_buf p = VD_BUF_INIT;
    vd_buf_printf(&p, "%s%s/", VD_TEAMS_PATH, team);
    size_t base = p.len;
    vd_err e = vd_store_coll_children(t, p.data, coll_push, &l);
    for (size_t i = 0; i < l.n && e == VD_OK; i++) {
        const char *cal = l.v[i].path + base;      /* "<cal>/" */
        char *name = dupn(cal, strlen(cal) ? strlen(cal) - 1 : 0);
        if (name[0] && !is_agg_name(name) && vd_acl_privs(a, user, l.v[i].path, NULL)) {
            vd_buf_reset(&p);
            vd_buf_printf(&p, "%s%s%s-%s", home_path, VD_TEAMS_ALIAS_PREFIX, team, cal);
            vd_node n = {.kind = VD_NODE_COLL, .path = p.data, .coll = l.v[i]};
            e = cb(&n, ctx);
        }
        free(name);
    }
    coll_list_free(&l);
    vd_buf_free(&p);
    return e;
}

/* Which other users' calendars user sees as "user-<owner>~<cal>/" aliases. */
typedef struct alias_walk {
    const vd_acl *a;
    const char *user;
    coll_list found;
} alias_walk;

/* Decided from the path alone, before the store decodes the collection:
 * another user's calendar (not itself an alias) in which user may see
 * events (read-masked or more).  A free-busy-only grant on every home (the
 * usual "everyone sees availability" rule) would otherwise put every
 * colleague's empty-looking calendar into every client; such an alias
 * still resolves, and availability is what the outbox and free-busy REPORT
 * are for. */
static bool alias_wanted(const char *path, void *ctx)
{
    alias_walk *w = ctx;
    const char *owner = path + strlen(VD_CALENDARS_PATH);
    const char *slash = strchr(owner, '/');
    size_t ol = slash ? (size_t)(slash - owner) : 0;
    if (!ol || memchr(owner, '~', ol) ||
        (strlen(w->user) == ol && memcmp(owner, w->user, ol) == 0))
        return false;
    const char *cal = slash + 1;
    return cal[0] && !starts(cal, VD_TEAMS_ALIAS_PREFIX) && !starts(cal, VD_TEAMS_USER_PREFIX) &&
           (vd_acl_privs(w->a, w->user, path, NULL) & VD_ACL_MASKED);
}

static vd_err alias_found(const vd_coll *c, void *ctx)
{
    return coll_push(c, &((alias_walk *)ctx)->found);
}

/* Every other user's calendars user may see events in, found in one pass
 * over all homes' calendars (a home's Depth 1 is asked on every client
 * poll: with 1,000 users a scan home by home cost 0.6 ms), then handed to
 * cb once the store walk is over. */
static vd_err user_aliases(const vd_acl *a, vd_txn *t, const char *home_path, const char *user,
                           vd_teams_node_cb cb, void *ctx)
{
    alias_walk w = {a, user, {0}};
    vd_err e = vd_store_coll_descendants(t, VD_CALENDARS_PATH, 2, alias_wanted, alias_found, &w);
    for (size_t i = 0; i < w.found.n && e == VD_OK; i++) {
        const vd_coll *c = &w.found.v[i];
        char *owner = vd_path_segment(c->path, 1);
        const char *cal = strrchr(c->path, '/');
        while (cal > c->path && cal[-1] != '/')
            cal--;                                  /* "<cal>/" */
        if (owner && vd_name_valid(owner)) {
            vd_buf p = VD_BUF_INIT;
            vd_buf_printf(&p, "%s%s%s~%s", home_path, VD_TEAMS_USER_PREFIX, owner, cal);
            vd_node n = {.kind = VD_NODE_COLL, .path = p.data, .coll = *c};
            e = cb(&n, ctx);
            vd_buf_free(&p);
        }
        free(owner);
    }
    coll_list_free(&w.found);
    return e;
}

vd_err vd_teams_children(vd_server *s, vd_txn *t, const vd_node *parent, vd_teams_node_cb cb,
                         void *ctx)
{
    if (!s || !s->acl || !parent || parent->kind != VD_NODE_COLL ||
        parent->coll.kind != VD_COLL_HOME || !parent->coll.path)
        return VD_OK;
    const char *cp = parent->coll.path;
    const vd_acl *a = acl_get(s);
    vd_err e = VD_OK;
    tparts p;
    if (split_teams(cp, &p)) {              /* /teams/<team>/: its aggregates */
        if (!p.cal && vd_acl_team_exists(a, p.team))
            e = agg_children(a, p.team, parent->path, NULL, cb, ctx);
    } else if (vd_path_depth(cp) == 2 && starts(cp, VD_CALENDARS_PATH)) {
        char *user = vd_path_segment(cp, 1);
        for (size_t i = 0; user && i < vd_acl_team_count(a) && e == VD_OK; i++) {
            const char *team = vd_acl_team_name(a, i);
            vd_buf base = VD_BUF_INIT;
            vd_buf_printf(&base, "%s%s%s-", parent->path, VD_TEAMS_ALIAS_PREFIX, team);
            e = agg_children(a, team, base.data, user, cb, ctx);
            if (e == VD_OK)
                e = cal_aliases(a, t, team, parent->path, user, cb, ctx);
            vd_buf_free(&base);
        }
        if (user && e == VD_OK)             /* other users' calendars */
            e = user_aliases(a, t, parent->path, user, cb, ctx);
        free(user);
    }
    tparts_clear(&p);
    acl_put(s, a);
    return e;
}

void vd_teams_displayname(const vd_node *agg, vd_buf *out)
{
    const char *team = agg->user ? agg->user : "team";
    char first = team[0] >= 'a' && team[0] <= 'z' ? (char)(team[0] - 'a' + 'A') : team[0];
    vd_buf_append(out, &first, 1);
    vd_buf_printf(out, "%s %s", team + 1, agg->name ? agg->name : VD_TEAMS_VISITS);
}

/* ---------- provisioning ---------- */

typedef struct prov_ctx {
    char **paths;       /* "/teams/<team>/" */
    size_t n;
} prov_ctx;

static vd_err prov_txn(vd_txn *t, void *ctx)
{
    prov_ctx *c = ctx;
    vd_err e = VD_OK;
    for (size_t i = 0; i < c->n && e == VD_OK; i++) {
        vd_coll have = {0};
        e = vd_store_coll_get(t, c->paths[i], &have);
        vd_coll_clear(&have);
        if (e != VD_ENOTFOUND)
            continue;
        vd_buf owner = VD_BUF_INIT;
        size_t pl = strlen(VD_TEAMS_PATH);
        vd_buf_printf(&owner, "%s%.*s", VD_TEAMS_OWNER_PREFIX,
                      (int)(strlen(c->paths[i]) - pl - 1), c->paths[i] + pl);
        /* a home: its parent /teams/ is virtual, as /calendars/ is */
        e = vd_store_coll_create(t, c->paths[i], VD_COLL_HOME, owner.data, 0, NULL);
        vd_buf_free(&owner);
    }
    return e;
}

vd_err vd_teams_provision(vd_server *s)
{
    if (!s || !s->acl)
        return VD_OK;
    const vd_acl *a = acl_get(s);
    prov_ctx c = {0};
    size_t n = vd_acl_team_count(a), missing = 0;
    vd_txn *t = NULL;
    vd_err e = VD_OK;
    if (n && !(c.paths = calloc(n, sizeof *c.paths)))
        abort();
    for (size_t i = 0; i < n; i++) {
        vd_buf p = VD_BUF_INIT;
        vd_buf_printf(&p, "%s%s/", VD_TEAMS_PATH, vd_acl_team_name(a, i));
        c.paths[c.n++] = vd_buf_steal(&p, NULL);
    }
    acl_put(s, a);
    if (c.n && (e = vd_store_read(s->store, &t)) == VD_OK) {
        for (size_t i = 0; i < c.n && e == VD_OK; i++) {
            vd_coll have = {0};
            vd_err g = vd_store_coll_get(t, c.paths[i], &have);
            vd_coll_clear(&have);
            if (g == VD_ENOTFOUND)
                missing++;
            else if (g != VD_OK)
                e = g;
        }
        vd_txn_end(t);
    }
    if (e == VD_OK && missing)
        e = vd_store_write(s->store, "visitdavd", "PROVISION", prov_txn, &c);
    for (size_t i = 0; i < c.n; i++)
        free(c.paths[i]);
    free(c.paths);
    return e;
}
