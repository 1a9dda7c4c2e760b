/* store_visits.c - the visit indexes (by customer, by owner) and the flag
 * links of issue 3, and their removal when members or collections go.
 * Part of the LMDB store (layout in store_int.h).  It must not decide what
 * collides (lib/rules.c does) nor parse iCalendar: callers hand it owners,
 * customer ids and instances.  Index changes are not audited.
 *
 * Each member's index entries are listed in its vrev record, so replacing
 * or removing them costs O(k log n) without a scan.  A lookup for [s, e)
 * seeks to (key, s - span) where span is the longest instance ever indexed
 * under that customer (or owner): an instance overlapping s cannot start
 * earlier.  Links live in two dupsort databases (from -> to, to -> from),
 * so both directions are one seek and the key limit of 511 bytes holds for
 * any two member names. */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VIS_ENTRY_FIXED 17   /* the NUL after the prefix, start, coll id */
#define VF_CUST 1u

/* ---------- keys ---------- */
/* (text\0, start, id, name\0): an entry of vcust or vowner. */
static bool k_entry(key *k, const char *text, uint64_t start_flipped, uint64_t id,
                    const char *name)
{
    k_init(k);
    k_str(k, text);
    k_u64(k, start_flipped);
    k_u64(k, id);
    k_str(k, name);
    return !k->over;
}

/* meta key of the longest span under a customer ('c') or owner ('o'). */
static bool k_span(key *k, char tag, const char *text)
{
    k_init(k);
    k_raw(k, "vspan", 5);
    k_raw(k, &tag, 1);
    k_raw(k, text, strlen(text));
    return !k->over;
}

static vd_err span_get(vd_txn *t, char tag, const char *text, uint64_t *out)
{
    key k;
    MDB_val v;
    *out = 0;
    if (!k_span(&k, tag, text))
        return VD_OK;
    vd_err e = st_dget(t, DB_META, k.b, k.n, &v);
    if (e == VD_ENOTFOUND)
        return VD_OK;
    if (!e && v.mv_size != 8)
        return st_corrupt("meta");
    if (!e)
        *out = rd64(v.mv_data);
    return e;
}

/* Monotone: a lookup must seek back at least as far as any instance ever
 * indexed under this key was long. */
static vd_err span_raise(vd_txn *t, char tag, const char *text, uint64_t span)
{
    key k;
    uint64_t cur;
    unsigned char b[8];
    vd_err e = span_get(t, tag, text, &cur);
    if (e || span <= cur)
        return e;
    k_span(&k, tag, text);
    be64(b, span);
    return st_dput(t, DB_META, k.b, k.n, b, 8, 0);
}

/* ---------- the per-member record ---------- */
typedef struct vrec {
    const char *owner, *cust;        /* cust NULL: owner index only */
    uint32_t n;
    const unsigned char *starts;     /* n x 8 bytes: flipped BE starts */
} vrec;

static vd_err vrec_decode(const MDB_val *v, vrec *r)
{
    rd x = {v->mv_data, v->mv_size, 0, false};
    uint32_t magic = r_u32(&x);
    r->owner = r_str(&x);
    uint32_t flags = r_u32(&x);
    r->cust = r_str(&x);
    r->n = r_u32(&x);
    r->starts = r_raw(&x, r->n <= MAX_INST ? (size_t)r->n * 8 : SIZE_MAX);
    if (x.bad || magic != REC_VIS || x.off != x.n || !*r->owner)
        return st_corrupt("vrev");
    if (!(flags & VF_CUST))
        r->cust = NULL;
    return VD_OK;
}

/* Delete the entries a record lists (absent ones are fine). */
static vd_err vrec_unindex(vd_txn *t, uint64_t id, const char *name, const vrec *r)
{
    key k;
    vd_err e = VD_OK;
    for (uint32_t i = 0; !e && i < r->n; i++) {
        uint64_t st = rd64(r->starts + (size_t)i * 8);
        if (r->cust && k_entry(&k, r->cust, st, id, name))
            e = st_ddel(t, DB_VCUST, k.b, k.n);
        if (!e && k_entry(&k, r->owner, st, id, name))
            e = st_ddel(t, DB_VOWNER, k.b, k.n);
    }
    return e;
}

static vd_err unindex_member(vd_txn *t, const key *mk, uint64_t id, const char *name)
{
    MDB_val v;
    vrec r;
    vd_err e = st_dget(t, DB_VREV, mk->b, mk->n, &v);
    if (e == VD_ENOTFOUND)
        return VD_OK;
    if (e || (e = vrec_decode(&v, &r)) || (e = vrec_unindex(t, id, name, &r)))
        return e;
    return st_ddel(t, DB_VREV, mk->b, mk->n);
}

static int inst_cmp(const void *a, const void *b)
{
    const vd_instance *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* Sorted copy (arena), one per start (the longest), end >= start; *span
 * the longest, as an unsigned difference (may exceed INT64_MAX). */
static vd_err sort_inst(vd_txn *t, const vd_instance *in, size_t n, vd_instance **out,
                        size_t *m, uint64_t *span)
{
    vd_instance *a = st_arena_alloc(t, n * sizeof *a);
    if (!a)
        return VD_ENOMEM;
    for (size_t i = 0; i < n; i++)
        a[i] = (vd_instance){in[i].start, in[i].end < in[i].start ? in[i].start : in[i].end};
    qsort(a, n, sizeof *a, inst_cmp);
    *m = 0;
    *span = 0;
    for (size_t i = 0; i < n; i++) {
        if (*m && a[*m - 1].start == a[i].start) {
            if (a[i].end > a[*m - 1].end)
                a[*m - 1].end = a[i].end;
        } else {
            a[(*m)++] = a[i];
        }
    }
    for (size_t i = 0; i < *m; i++)
        if ((uint64_t)a[i].end - (uint64_t)a[i].start > *span)
            *span = (uint64_t)a[i].end - (uint64_t)a[i].start;
    *out = a;
    return VD_OK;
}

static vd_err write_entries(vd_txn *t, uint64_t id, const char *name, const char *owner,
                            const char *cust, const vd_instance *a, size_t n)
{
    key k;
    wbuf w = {0};
    vd_err e = VD_OK;
    for (size_t i = 0; !e && i < n; i++) {
        w.n = 0;
        w_u64(&w, flip(a[i].end));
        w_raw(&w, owner, strlen(owner) + 1);
        k_entry(&k, cust ? cust : "", flip(a[i].start), id, name);
        if (cust)
            e = w.oom ? VD_ENOMEM : st_dput(t, DB_VCUST, k.b, k.n, w.p, w.n, 0);
        w.n = 0;
        w_u64(&w, flip(a[i].end));
        w_raw(&w, cust ? cust : "", cust ? strlen(cust) + 1 : 1);
        k_entry(&k, owner, flip(a[i].start), id, name);
        if (!e)
            e = w.oom ? VD_ENOMEM : st_dput(t, DB_VOWNER, k.b, k.n, w.p, w.n, 0);
    }
    free(w.p);
    return e;
}

static vd_err write_vrec(vd_txn *t, const key *mk, const char *owner, const char *cust,
                         const vd_instance *a, size_t n)
{
    wbuf w = {0};
    w_u32(&w, REC_VIS);
    w_str(&w, owner);
    w_u32(&w, cust ? VF_CUST : 0);
    w_str(&w, cust);
    w_u32(&w, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        w_u64(&w, flip(a[i].start));
    vd_err e = w.oom ? VD_ENOMEM : st_dput(t, DB_VREV, mk->b, mk->n, w.p, w.n, 0);
    free(w.p);
    return e;
}

/* ---------- put / delete ---------- */
static vd_err visits_args(const char *name, const char *owner, const char *cust,
                          const vd_instance *inst, size_t n)
{
    if (!name || !*name || !owner || !*owner || (cust && !*cust) || (n && !inst))
        return VD_EINVAL;
    if (strlen(name) > VD_STORE_MAX_NAME || strlen(owner) > VD_STORE_MAX_OWNER ||
        (cust && strlen(cust) > VD_STORE_MAX_CUSTOMER) || n > VD_STORE_MAX_VISIT_INST)
        return VD_ETOOBIG;
    /* Every entry key has the same length; check the longest once. */
    size_t nl = strlen(name) + 1, ol = strlen(owner), cl = cust ? strlen(cust) : 0;
    if ((ol > cl ? ol : cl) + VIS_ENTRY_FIXED + nl > KEY_MAX)
        return VD_ETOOBIG;
    return VD_OK;
}

vd_err vd_store_visits_put(vd_txn *t, uint64_t coll_id, const char *name, const char *owner,
                           const char *customer_id, const vd_instance *inst, size_t n)
{
    key mk;
    MDB_val v;
    vd_instance *a = NULL;
    size_t m = 0;
    uint64_t span = 0;
    vd_err e = visits_args(name, owner, customer_id, inst, n);
    if (e)
        return e;
    if (!t->write)
        return st_need_write(t);
    k_member(&mk, coll_id, name);
    if ((e = unindex_member(t, &mk, coll_id, name)) || !n)
        return e;
    /* Index only what exists: a deleted member takes its entries along. */
    if ((e = st_dget(t, DB_RES, mk.b, mk.n, &v)))
        return e;
    if ((e = sort_inst(t, inst, n, &a, &m, &span)) ||
        (e = write_entries(t, coll_id, name, owner, customer_id, a, m)) ||
        (e = write_vrec(t, &mk, owner, customer_id, a, m)) ||
        (e = span_raise(t, 'o', owner, span)))
        return e;
    return customer_id ? span_raise(t, 'c', customer_id, span) : VD_OK;
}

vd_err vd_store_visits_delete(vd_txn *t, uint64_t coll_id, const char *name)
{
    key mk;
    if (!name || !*name)
        return VD_EINVAL;
    if (!t->write)
        return st_need_write(t);
    if (!k_member(&mk, coll_id, name))
        return VD_OK;
    return unindex_member(t, &mk, coll_id, name);
}

/* ---------- lookups ---------- */
typedef struct vq {
    vd_time start, end;
    size_t pn;                 /* prefix length, its NUL included */
    bool by_cust;
    vd_visit_cb cb;
    void *ctx;
} vq;

static vd_err vq_one(vd_txn *t, const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    (void)t;
    vq *q = ctx;
    const unsigned char *kb = k->mv_data, *vb = v->mv_data;
    const char *db = q->by_cust ? "vcust" : "vowner";
    if (k->mv_size <= q->pn + 16 || v->mv_size <= 8)
        return st_corrupt(db);
    vd_visit_entry en;
    en.name = text_at(kb + q->pn + 16, k->mv_size - q->pn - 16);
    const char *other = text_at(vb + 8, v->mv_size - 8);
    if (!en.name || !other)
        return st_corrupt(db);
    en.start = unflip(rd64(kb + q->pn));
    en.end = unflip(rd64(vb));
    if (en.start > q->start && en.start >= q->end) {
        *stop = true;
        return VD_OK;
    }
    /* Overlap: start < e and end > s (an instance ending at s does not
     * overlap); one starting exactly at s always does, so a zero-length
     * instance at s is included, as is any instance for a point query. */
    if (!(en.start == q->start || (en.start < q->end && en.end > q->start)))
        return VD_OK;
    en.coll_id = rd64(kb + q->pn + 8);
    en.owner = q->by_cust ? other : (const char *)kb;
    en.customer_id = q->by_cust ? (const char *)kb : *other ? other : NULL;
    return q->cb(&en, q->ctx);
}

static vd_err lookup(vd_txn *t, bool by_cust, const char *text, vd_time start, vd_time end,
                     vd_visit_cb cb, void *ctx)
{
    key k;
    uint64_t span;
    if (!text || !*text || !cb)
        return VD_EINVAL;
    size_t tl = strlen(text);
    if (start > end || tl > (by_cust ? VD_STORE_MAX_CUSTOMER : VD_STORE_MAX_OWNER))
        return VD_OK;              /* empty window; nothing indexed under it */
    vd_err e = span_get(t, by_cust ? 'c' : 'o', text, &span);
    if (e)
        return e;
    /* An instance overlapping start began at most span before it. */
    vd_time lo = (uint64_t)start - (uint64_t)VD_TIME_MIN <= span ? VD_TIME_MIN
                                                                 : (vd_time)((uint64_t)start - span);
    k_init(&k);
    k_str(&k, text);
    k_u64(&k, flip(lo));
    vq q = {start, end, tl + 1, by_cust, cb, ctx};
    return st_walk(t, by_cust ? DB_VCUST : DB_VOWNER, k.b, k.n, tl + 1, vq_one, &q);
}

vd_err vd_store_visits_by_customer(vd_txn *t, const char *customer_id, vd_time start, vd_time end,
                                   vd_visit_cb cb, void *ctx)
{
    return lookup(t, true, customer_id, start, end, cb, ctx);
}

vd_err vd_store_visits_by_owner(vd_txn *t, const char *owner, vd_time start, vd_time end,
                                vd_visit_cb cb, void *ctx)
{
    return lookup(t, false, owner, start, end, cb, ctx);
}

/* ---------- flag links ---------- */
typedef struct pair {
    MDB_val k, v;              /* arena copies */
} pair;

typedef struct pairs {
    pair *p;
    size_t n, cap;
} pairs;

/* Every (key, value) of a dupsort db whose key starts with pre, copied, so
 * the caller may write (or call back into code that writes) afterwards. */
static vd_err collect_pairs(vd_txn *t, int db, const void *pre, size_t pn, pairs *out)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(t->txn, t->s->db[db], &c);
    if (rc)
        return st_dberr(t, rc, db == DB_LINKS ? "links" : "linksrev");
    vd_err e = VD_OK;
    MDB_val k = {pn, (void *)pre}, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
         !rc && k.mv_size >= pn && !memcmp(k.mv_data, pre, pn);
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (out->n == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 16;
            pair *np = realloc(out->p, cap * sizeof *np);
            if (!np) {
                e = VD_ENOMEM;
                break;
            }
            out->p = np;
            out->cap = cap;
        }
        pair *p = &out->p[out->n++];
        p->k = (MDB_val){k.mv_size, st_arena_dup(t, k.mv_data, k.mv_size)};
        p->v = (MDB_val){v.mv_size, st_arena_dup(t, v.mv_data, v.mv_size)};
        if (!p->k.mv_data || !p->v.mv_data) {
            e = VD_ENOMEM;
            break;
        }
    }
    mdb_cursor_close(c);
    if (!e && rc && rc != MDB_NOTFOUND)
        e = st_dberr(t, rc, "links");
    return e;
}

/* Delete one (key, value) of a dupsort db; absent is fine. */
static vd_err del_pair(vd_txn *t, int db, const MDB_val *k, const MDB_val *v)
{
    MDB_val kk = *k, vv = *v;
    int rc = mdb_del(t->txn, t->s->db[db], &kk, &vv);
    return rc && rc != MDB_NOTFOUND ? st_dberr(t, rc, "links") : VD_OK;
}

/* Remove the links of every member under pre, both directions: its
 * outgoing ones and those pointing at it. */
static vd_err links_purge(vd_txn *t, const void *pre, size_t pn)
{
    pairs out = {0}, in = {0};
    vd_err e = collect_pairs(t, DB_LINKS, pre, pn, &out);
    if (!e)
        e = collect_pairs(t, DB_LINKSREV, pre, pn, &in);
    for (size_t i = 0; !e && i < out.n; i++)
        e = del_pair(t, DB_LINKSREV, &out.p[i].v, &out.p[i].k);
    for (size_t i = 0; !e && i < in.n; i++)
        e = del_pair(t, DB_LINKS, &in.p[i].v, &in.p[i].k);
    if (!e)
        e = st_prefix_del(t, DB_LINKS, pre, pn);
    if (!e)
        e = st_prefix_del(t, DB_LINKSREV, pre, pn);
    free(out.p);
    free(in.p);
    return e;
}

static vd_err member_exists(vd_txn *t, uint64_t id, const char *name, key *k)
{
    MDB_val v;
    if (!name || !*name)
        return VD_EINVAL;
    if (strlen(name) > VD_STORE_MAX_NAME)
        return VD_ETOOBIG;
    k_member(k, id, name);
    return st_dget(t, DB_RES, k->b, k->n, &v);
}

static vd_err links_add(vd_txn *t, const key *from, const key *to)
{
    MDB_val fk = {from->n, (void *)from->b}, tk = {to->n, (void *)to->b};
    int rc = mdb_put(t->txn, t->s->db[DB_LINKS], &fk, &tk, MDB_NODUPDATA);
    if (rc == MDB_KEYEXIST)    /* a target listed twice */
        return VD_OK;
    if (!rc)
        rc = mdb_put(t->txn, t->s->db[DB_LINKSREV], &tk, &fk, MDB_NODUPDATA);
    return rc && rc != MDB_KEYEXIST ? st_dberr(t, rc, "links") : VD_OK;
}

vd_err vd_store_links_set(vd_txn *t, uint64_t coll_id, const char *name, const vd_ref *to, size_t n)
{
    key from, k;
    pairs old = {0};
    if (n && !to)
        return VD_EINVAL;
    if (n > VD_STORE_MAX_LINKS)
        return VD_ETOOBIG;
    if (!t->write)
        return st_need_write(t);
    vd_err e = member_exists(t, coll_id, name, &from);
    /* Check every target before changing anything. */
    for (size_t i = 0; !e && i < n; i++) {
        e = member_exists(t, to[i].coll_id, to[i].name, &k);
        if (!e && k.n == from.n && !memcmp(k.b, from.b, k.n))
            e = VD_EINVAL;     /* flagged because of itself */
    }
    if (!e)
        e = collect_pairs(t, DB_LINKS, from.b, from.n, &old);
    for (size_t i = 0; !e && i < old.n; i++)
        e = del_pair(t, DB_LINKSREV, &old.p[i].v, &old.p[i].k);
    if (!e)
        e = st_prefix_del(t, DB_LINKS, from.b, from.n);
    for (size_t i = 0; !e && i < n; i++) {
        k_member(&k, to[i].coll_id, to[i].name);
        e = links_add(t, &from, &k);
    }
    free(old.p);
    return e;
}

static vd_err links_list(vd_txn *t, int db, uint64_t coll_id, const char *name,
                         vd_ref_cb cb, void *ctx)
{
    key k;
    pairs l = {0};
    if (!name || !*name || !cb)
        return VD_EINVAL;
    if (!k_member(&k, coll_id, name))
        return VD_OK;
    vd_err e = collect_pairs(t, db, k.b, k.n, &l);
    for (size_t i = 0; !e && i < l.n; i++) {
        const MDB_val *v = &l.p[i].v;
        const char *to = v->mv_size > 8 ? text_at((const char *)v->mv_data + 8, v->mv_size - 8)
                                        : NULL;
        e = to ? cb(rd64(v->mv_data), to, ctx) : st_corrupt("links");
    }
    free(l.p);
    return e;
}

vd_err vd_store_links_to(vd_txn *t, uint64_t coll_id, const char *name, vd_ref_cb cb, void *ctx)
{
    return links_list(t, DB_LINKSREV, coll_id, name, cb, ctx);
}

vd_err vd_store_links_from(vd_txn *t, uint64_t coll_id, const char *name, vd_ref_cb cb, void *ctx)
{
    return links_list(t, DB_LINKS, coll_id, name, cb, ctx);
}

/* ---------- removal with members and collections ---------- */
static vd_err purge_one(vd_txn *t, const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    (void)ctx, (void)stop;
    vrec r;
    const char *name = k->mv_size > 8 ? text_at((const char *)k->mv_data + 8, k->mv_size - 8)
                                      : NULL;
    vd_err e = name ? vrec_decode(v, &r) : st_corrupt("vrev");
    return e ? e : vrec_unindex(t, rd64(k->mv_data), name, &r);
}

vd_err st_visits_purge(vd_txn *t, const void *prefix, size_t pn)
{
    if (!t->write)
        return st_need_write(t);
    vd_err e = st_walk(t, DB_VREV, prefix, pn, pn, purge_one, NULL);
    if (!e)
        e = st_prefix_del(t, DB_VREV, prefix, pn);
    return e ? e : links_purge(t, prefix, pn);
}
