/* store_coll.c - collections (create, look up, move, delete with all they
 * hold, children, member count) and dead properties of collections and
 * resources.  Part of the LMDB store (see store_int.h for the layout).
 * It must not touch resource records beyond checking that one exists:
 * resources and their indexes belong to store_res.c. */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static vd_err coll_pub(const crec *c, vd_coll *out)
{
    memset(out, 0, sizeof *out);
    out->path = strdup(c->path);
    out->owner = strdup(c->owner);
    if (!out->path || !out->owner) {
        vd_coll_clear(out);
        return VD_ENOMEM;
    }
    out->id = c->id;
    out->kind = (vd_coll_kind)c->kind;
    out->seq = c->seq;
    out->comp_mask = c->mask;
    out->created = c->created;
    out->modified = c->modified;
    return VD_OK;
}

void vd_coll_clear(vd_coll *c)
{
    if (!c)
        return;
    free(c->path);
    free(c->owner);
    memset(c, 0, sizeof *c);
}

vd_err vd_store_coll_get(vd_txn *t, const char *path, vd_coll *out)
{
    crec c;
    size_t n = path ? strlen(path) : 0;
    if (!n || path[n - 1] != '/')
        return VD_ENOTFOUND;
    vd_err e = st_coll_load(t, path, &c);
    return e ? e : coll_pub(&c, out);
}

vd_err vd_store_coll_get_by_id(vd_txn *t, uint64_t id, vd_coll *out)
{
    crec c;
    vd_err e = st_coll_load_id(t, id, &c);
    return e ? e : coll_pub(&c, out);
}

/* "/a/b/": starts and ends with '/', no empty, "." or ".." segment. */
static bool path_ok(const char *p)
{
    size_t n = strlen(p);
    if (n < 2 || p[0] != '/' || p[n - 1] != '/')
        return false;
    for (const char *s = p + 1; *s; ) {
        const char *e = strchr(s, '/');
        size_t l = (size_t)(e - s);
        if (l == 0 || (l == 1 && s[0] == '.') || (l == 2 && s[0] == '.' && s[1] == '.'))
            return false;
        s = e + 1;
    }
    return true;
}

/* Length of the parent path of a collection path, its '/' included. */
static size_t parent_len(const char *p)
{
    size_t n = strlen(p) - 1;
    while (n > 0 && p[n - 1] != '/')
        n--;
    return n;
}

/* May a collection of kind live at path?  The parent must exist except for
 * a home (its parent /calendars/ is virtual); RFC 4791 4.2: calendar
 * collections MUST NOT contain other calendar collections at any depth, and
 * here a calendar holds no collection at all; the name must not be taken by
 * a member resource of the parent. */
static vd_err check_place(vd_txn *t, const char *path, uint32_t kind, bool *has_par)
{
    char pp[VD_STORE_MAX_PATH + 1];
    crec par;
    key k;
    MDB_val v;
    size_t pl = parent_len(path), len = strlen(path);
    memcpy(pp, path, pl);
    pp[pl] = 0;
    vd_err e = st_coll_load(t, pp, &par);
    *has_par = e == VD_OK;
    if (e == VD_ENOTFOUND) {
        if (kind == VD_COLL_HOME)
            return VD_OK;
        st_seterr("store: parent collection %s does not exist", pp);
        return VD_ECONFLICT;
    }
    if (e)
        return e;
    if (par.kind == VD_COLL_CALENDAR)
        return VD_EFORBIDDEN;
    memcpy(pp, path + pl, len - pl - 1);
    pp[len - pl - 1] = 0;
    k_member(&k, par.id, pp);
    e = st_dget(t, DB_RES, k.b, k.n, &v);
    return e == VD_OK ? VD_EEXISTS : e == VD_ENOTFOUND ? VD_OK : e;
}


vd_err vd_store_coll_create(vd_txn *t, const char *path, vd_coll_kind kind,
                            const char *owner, uint32_t comp_mask, vd_coll *out)
{
    crec c;
    bool has_par;
    if (!path || !owner || kind < VD_COLL_PLAIN || kind > VD_COLL_CALENDAR)
        return VD_EINVAL;
    if (strlen(path) > VD_STORE_MAX_PATH || strlen(owner) > VD_STORE_MAX_OWNER)
        return VD_ETOOBIG;
    if (!path_ok(path))
        return VD_EINVAL;
    vd_err e = st_coll_load(t, path, &c);
    if (e != VD_ENOTFOUND)
        return e ? e : VD_EEXISTS;
    if ((e = check_place(t, path, kind, &has_par)))
        return e;
    memset(&c, 0, sizeof c);
    strcpy(c.path, path);
    strcpy(c.owner, owner);
    c.kind = kind;
    c.mask = comp_mask;
    c.created = c.modified = t->now;
    if ((e = st_meta_next(t, "coll_id", &c.id)) || (e = st_meta_next(t, "seq", &c.seq)))
        return e;
    c.base = c.seq;
    unsigned char k[8];
    be64(k, c.id);
    if ((e = st_coll_save(t, &c)) ||
        (e = st_dput(t, DB_COLL_IDS, k, 8, path, strlen(path) + 1, 0)))
        return e;
    if (has_par) {
        char pp[VD_STORE_MAX_PATH + 1];
        snprintf(pp, sizeof pp, "%.*s", (int)parent_len(path), path);
        if ((e = st_bump_path(t, pp)))
            return e;
    }
    return out ? coll_pub(&c, out) : VD_OK;
}

/* Collections at or below a path, collected before anything is changed. */
typedef struct clist {
    struct { const char *path; uint64_t id; const void *val; size_t vn; } *v;
    size_t n, cap;
} clist;

static vd_err collect_coll(vd_txn *t, const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    (void)t, (void)stop;
    clist *l = ctx;
    crec c;
    const char *p = text_at(k->mv_data, k->mv_size);
    if (!p || st_crec_decode(v, &c))
        return st_corrupt("colls");
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        void *nv = realloc(l->v, cap * sizeof *l->v);
        if (!nv)
            return VD_ENOMEM;
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n].path = p;           /* arena copies: write txn */
    l->v[l->n].id = c.id;
    l->v[l->n].val = v->mv_data;
    l->v[l->n].vn = v->mv_size;
    l->n++;
    return VD_OK;
}

static vd_err purge_id(vd_txn *t, uint64_t id)
{
    static const int dbs[] = {DB_RES, DB_UID, DB_TINDEX, DB_OPEN, DB_CHANGES, DB_TOMB, DB_PROPS};
    unsigned char k[8];
    be64(k, id);
    vd_err e = VD_OK;
    for (size_t i = 0; !e && i < sizeof dbs / sizeof dbs[0]; i++)
        e = st_prefix_del(t, dbs[i], k, 8);
    if (!e)
        e = st_visits_purge(t, k, 8);
    return e ? e : st_ddel(t, DB_COLL_IDS, k, 8);
}

vd_err vd_store_coll_delete(vd_txn *t, const char *path)
{
    crec c;
    clist l = {0};
    if (!t->write)
        return st_need_write(t);
    vd_err e = path ? st_coll_load(t, path, &c) : VD_EINVAL;
    size_t pn = e ? 0 : strlen(path);
    if (!e)
        e = st_walk(t, DB_COLLS, path, pn, pn, collect_coll, &l);
    for (size_t i = 0; !e && i < l.n; i++)
        e = purge_id(t, l.v[i].id);
    if (!e)
        e = st_prefix_del(t, DB_COLLS, path, pn);
    if (!e) {
        char pp[VD_STORE_MAX_PATH + 1];
        snprintf(pp, sizeof pp, "%.*s", (int)parent_len(path), path);
        e = st_bump_path(t, pp);
    }
    if (!e)
        e = st_audit_add(t, path, "", "", "", "collection deleted");
    free(l.v);
    return e;
}

static vd_err move_entries(vd_txn *t, const clist *l, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to);
    char np[VD_STORE_MAX_PATH + 1];
    vd_err e = VD_OK;
    for (size_t i = 0; i < l->n; i++)
        if (tl + strlen(l->v[i].path) - fl > VD_STORE_MAX_PATH)
            return VD_ETOOBIG;
    for (size_t i = 0; !e && i < l->n; i++)
        e = st_ddel(t, DB_COLLS, l->v[i].path, strlen(l->v[i].path) + 1);
    for (size_t i = 0; !e && i < l->n; i++) {
        unsigned char k[8];
        be64(k, l->v[i].id);
        snprintf(np, sizeof np, "%s%s", to, l->v[i].path + fl);
        e = st_dput(t, DB_COLLS, np, strlen(np) + 1, l->v[i].val, l->v[i].vn, MDB_NOOVERWRITE);
        if (!e)
            e = st_dput(t, DB_COLL_IDS, k, 8, np, strlen(np) + 1, 0);
    }
    return e;
}

vd_err vd_store_coll_move(vd_txn *t, const char *from, const char *to)
{
    crec c, d;
    clist l = {0};
    bool has_par;
    if (!from || !to)
        return VD_EINVAL;
    if (strlen(to) > VD_STORE_MAX_PATH)
        return VD_ETOOBIG;
    if (!path_ok(to))
        return VD_EINVAL;
    vd_err e = st_coll_load(t, from, &c);
    if (e)
        return e;
    size_t fl = strlen(from);
    if (!strncmp(to, from, fl))           /* onto itself or into its own subtree */
        return VD_EFORBIDDEN;
    if ((e = st_coll_load(t, to, &d)) != VD_ENOTFOUND)
        return e ? e : VD_EEXISTS;
    if ((e = check_place(t, to, c.kind, &has_par)))
        return e;
    if (!t->write)
        return st_need_write(t);
    e = st_walk(t, DB_COLLS, from, fl, fl, collect_coll, &l);
    if (!e)
        e = move_entries(t, &l, from, to);
    char pp[VD_STORE_MAX_PATH + 1];
    snprintf(pp, sizeof pp, "%.*s", (int)parent_len(from), from);
    if (!e)
        e = st_bump_path(t, pp);
    snprintf(pp, sizeof pp, "%.*s", (int)parent_len(to), to);
    if (!e)
        e = st_bump_path(t, pp);
    if (!e) {
        char sum[VD_STORE_MAX_PATH + 16];
        snprintf(sum, sizeof sum, "moved from %s", from);
        e = st_audit_add(t, to, "", "", "", sum);
    }
    free(l.v);
    return e;
}

vd_err vd_store_coll_set_comp_mask(vd_txn *t, uint64_t id, uint32_t mask)
{
    crec c;
    vd_err e = st_coll_load_id(t, id, &c);
    if (e)
        return e;
    c.mask = mask;
    return st_coll_bump(t, &c);
}

vd_err vd_store_coll_children(vd_txn *t, const char *parent_path, vd_coll_cb cb, void *ctx)
{
    size_t pn = parent_path ? strlen(parent_path) : 0;
    if (!pn || parent_path[pn - 1] != '/')
        return VD_EINVAL;
    if (pn > VD_STORE_MAX_PATH)
        return VD_OK;
    unsigned char seek[KEY_MAX];
    size_t sn = pn + 1;
    memcpy(seek, parent_path, pn);
    seek[pn] = 1;                 /* just after the parent's own key "P\0" */
    MDB_cursor *cur;
    int rc = mdb_cursor_open(t->txn, t->s->db[DB_COLLS], &cur);
    if (rc)
        return st_dberr(t, rc, "colls");
    vd_err e = VD_OK;
    for (;;) {
        MDB_val k = {sn, seek}, v;
        if ((rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)))
            break;
        const char *p = text_at(k.mv_data, k.mv_size);
        if (k.mv_size <= pn || memcmp(k.mv_data, parent_path, pn))
            break;
        const char *sl = p ? strchr(p + pn, '/') : NULL;
        if (!sl || k.mv_size > VD_STORE_MAX_PATH + 1) {
            e = st_corrupt("colls");
            break;
        }
        /* Next seek skips this segment's subtree: "P/seg0" follows "P/seg/...". */
        sn = (size_t)(sl - p) + 1;
        memcpy(seek, p, sn);
        seek[sn - 1] = '0';
        if (sl[1] == 0) {         /* a direct child */
            crec c;
            vd_coll pub;
            memcpy(c.path, p, sn + 1);
            if ((e = st_crec_decode(&v, &c)) || (e = coll_pub(&c, &pub)))
                break;
            e = cb(&pub, ctx);
            vd_coll_clear(&pub);
            if (e)
                break;
        }
    }
    mdb_cursor_close(cur);
    return rc && rc != MDB_NOTFOUND && !e ? st_dberr(t, rc, "colls") : e;
}

/* Segments of p below its first pn bytes ("a/b/" -> 2). */
static int depth_below(const char *p, size_t pn)
{
    int d = 0;
    for (const char *q = p + pn; *q; q++)
        d += *q == '/';
    return d;
}

vd_err vd_store_coll_descendants(vd_txn *t, const char *parent_path, int depth,
                                 vd_coll_want_cb want, vd_coll_cb cb, void *ctx)
{
    size_t pn = parent_path ? strlen(parent_path) : 0;
    if (!pn || parent_path[pn - 1] != '/' || depth < 1)
        return VD_EINVAL;
    if (pn > VD_STORE_MAX_PATH)
        return VD_OK;
    unsigned char seek[KEY_MAX];
    memcpy(seek, parent_path, pn);
    seek[pn] = 1;                 /* just after the parent's own key "P\0" */
    MDB_cursor *cur;
    int rc = mdb_cursor_open(t->txn, t->s->db[DB_COLLS], &cur);
    if (rc)
        return st_dberr(t, rc, "colls");
    vd_err e = VD_OK;
    MDB_val k = {pn + 1, seek}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); !rc && !e;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size <= pn || memcmp(k.mv_data, parent_path, pn))
            break;                /* past the parent's subtree */
        const char *p = text_at(k.mv_data, k.mv_size);
        if (!p || k.mv_size > VD_STORE_MAX_PATH + 1) {
            e = st_corrupt("colls");
            break;
        }
        if (depth_below(p, pn) != depth || (want && !want(p, ctx)))
            continue;
        crec c;
        vd_coll pub;
        memcpy(c.path, p, k.mv_size);
        if ((e = st_crec_decode(&v, &c)) || (e = coll_pub(&c, &pub)))
            break;
        e = cb(&pub, ctx);
        vd_coll_clear(&pub);
    }
    mdb_cursor_close(cur);
    return rc && rc != MDB_NOTFOUND && !e ? st_dberr(t, rc, "colls") : e;
}

vd_err vd_store_coll_count(vd_txn *t, uint64_t id, size_t *out)
{
    crec c;
    vd_err e = st_coll_load_id(t, id, &c);
    if (!e)
        *out = (size_t)c.members;
    return e;
}

/* ---------- dead properties ---------- */
static bool k_prop(key *k, uint64_t id, const char *name, const char *clark)
{
    k_init(k);
    k_u64(k, id);
    k_str(k, name ? name : "");
    if (clark)
        k_str(k, clark);
    return !k->over;
}

/* The owner of properties must exist: the collection, or its member. */
static vd_err prop_owner(vd_txn *t, uint64_t id, const char *name, crec *c)
{
    key k;
    MDB_val v;
    vd_err e = st_coll_load_id(t, id, c);
    if (e || !name)
        return e;
    if (!k_member(&k, id, name))
        return VD_ENOTFOUND;
    return st_dget(t, DB_RES, k.b, k.n, &v);
}

vd_err vd_store_prop_set(vd_txn *t, uint64_t coll_id, const char *name,
                         const char *clark, const char *xml)
{
    crec c;
    key k;
    if (!clark || !*clark || !xml || (name && !*name))
        return VD_EINVAL;
    size_t xl = strlen(xml);
    if (strlen(clark) > VD_STORE_MAX_CLARK || xl > VD_STORE_MAX_PROP ||
        (name && strlen(name) > VD_STORE_MAX_NAME))
        return VD_ETOOBIG;
    vd_err e = prop_owner(t, coll_id, name, &c);
    if (e)
        return e;
    k_prop(&k, coll_id, name, clark);
    if ((e = st_dput(t, DB_PROPS, k.b, k.n, xml, xl + 1, 0)))
        return e;
    return name ? VD_OK : st_coll_bump(t, &c);
}

vd_err vd_store_prop_remove(vd_txn *t, uint64_t coll_id, const char *name, const char *clark)
{
    crec c;
    key k;
    MDB_val v;
    if (!clark)
        return VD_EINVAL;
    vd_err e = prop_owner(t, coll_id, name, &c);
    if (e)
        return e;
    if (!k_prop(&k, coll_id, name, clark))
        return VD_OK;
    if ((e = st_dget(t, DB_PROPS, k.b, k.n, &v)))
        return e == VD_ENOTFOUND ? VD_OK : e;
    if ((e = st_ddel(t, DB_PROPS, k.b, k.n)))
        return e;
    return name ? VD_OK : st_coll_bump(t, &c);
}

vd_err vd_store_prop_get(vd_txn *t, uint64_t coll_id, const char *name,
                         const char *clark, const char **xml_out)
{
    key k;
    MDB_val v;
    if (!clark || !k_prop(&k, coll_id, name, clark))
        return VD_ENOTFOUND;
    vd_err e = st_dget(t, DB_PROPS, k.b, k.n, &v);
    if (e)
        return e;
    if (!(*xml_out = text_at(v.mv_data, v.mv_size)))
        return st_corrupt("props");
    return VD_OK;
}

typedef struct plist {
    size_t skip;
    vd_prop_cb cb;
    void *ctx;
} plist;

static vd_err prop_one(vd_txn *t, const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    (void)t, (void)stop;
    plist *p = ctx;
    const char *clark = k->mv_size > p->skip
        ? text_at((const char *)k->mv_data + p->skip, k->mv_size - p->skip) : NULL;
    const char *xml = text_at(v->mv_data, v->mv_size);
    return clark && xml ? p->cb(clark, xml, p->ctx) : st_corrupt("props");
}

vd_err vd_store_prop_list(vd_txn *t, uint64_t coll_id, const char *name, vd_prop_cb cb, void *ctx)
{
    key k;
    if (!k_prop(&k, coll_id, name, NULL))
        return VD_OK;
    plist p = {k.n, cb, ctx};
    return st_walk(t, DB_PROPS, k.b, k.n, k.n, prop_one, &p);
}

typedef struct pcopy {
    vd_txn *t;
    uint64_t to;
    const char *to_name;
} pcopy;

static vd_err copy_one(const char *clark, const char *xml, void *ctx)
{
    pcopy *c = ctx;
    key k;
    if (!k_prop(&k, c->to, c->to_name, clark))
        return VD_ETOOBIG;
    return st_dput(c->t, DB_PROPS, k.b, k.n, xml, strlen(xml) + 1, 0);
}

vd_err vd_store_prop_copy(vd_txn *t, uint64_t from_coll, const char *from_name,
                          uint64_t to_coll, const char *to_name)
{
    crec c;
    key k;
    if (from_coll == to_coll && !strcmp(from_name ? from_name : "", to_name ? to_name : ""))
        return VD_OK;
    if (to_name && strlen(to_name) > VD_STORE_MAX_NAME)
        return VD_ETOOBIG;
    vd_err e = prop_owner(t, to_coll, to_name, &c);
    if (e)
        return e;
    k_prop(&k, to_coll, to_name, NULL);
    pcopy p = {t, to_coll, to_name};
    /* The walk copies each entry before the callback writes (write txn). */
    if ((e = st_prefix_del(t, DB_PROPS, k.b, k.n)) ||
        (e = vd_store_prop_list(t, from_coll, from_name, copy_one, &p)))
        return e;
    return to_name ? VD_OK : st_coll_bump(t, &c);
}
