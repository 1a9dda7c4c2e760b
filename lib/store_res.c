/* store_res.c - calendar object resources: put, get, list, delete, and the
 * indexes kept with them (uid per collection, instance start times, the
 * open-ended set), the time-range candidate lookup and the per-collection
 * change log with tombstones behind sync-collection (RFC 6578).  Part of
 * the LMDB store (see store_int.h).  It must not parse iCalendar: callers
 * hand it the instances. */
#include "store_int.h"

#include "hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- resources ---------- */
typedef struct rrec {
    uint64_t seq;
    vd_time created, modified;
    uint32_t comp, flags, nstarts;
    const unsigned char *starts;     /* nstarts x 8 bytes: flipped BE starts */
    const char *etag, *ctype, *uid, *data;
    size_t len;
} rrec;

static vd_err rrec_decode(const MDB_val *v, rrec *r)
{
    rd x = {v->mv_data, v->mv_size, 0, false};
    uint32_t magic = r_u32(&x);
    r->seq = r_u64(&x);
    r->created = (vd_time)r_u64(&x);
    r->modified = (vd_time)r_u64(&x);
    r->comp = r_u32(&x);
    r->flags = r_u32(&x);
    r->nstarts = r_u32(&x);
    r->starts = r_raw(&x, r->nstarts <= MAX_INST ? (size_t)r->nstarts * 8 : SIZE_MAX);
    r->etag = r_str(&x);
    r->ctype = r_str(&x);
    r->uid = r_str(&x);
    if (!(r->flags & RF_UID))
        r->uid = NULL;
    uint64_t len = r_u64(&x);
    const unsigned char *d = len < SIZE_MAX ? r_raw(&x, (size_t)len + 1) : NULL;
    if (x.bad || !d || d[len] != 0 || magic != REC_RES || strlen(r->etag) != 16)
        return st_corrupt("res");
    r->data = (const char *)d;
    r->len = (size_t)len;
    return VD_OK;
}

static void res_fill(vd_res *o, const char *name, const rrec *r)
{
    o->name = name;
    o->etag = r->etag;
    o->uid = r->uid;
    o->content_type = r->ctype;
    o->data = r->data;
    o->len = r->len;
    o->created = r->created;
    o->modified = r->modified;
    o->change_seq = r->seq;
    o->comp = r->comp;
}

vd_err vd_store_res_get(vd_txn *t, uint64_t coll_id, const char *name, vd_res *out)
{
    key k;
    MDB_val v;
    rrec r;
    if (!name || !k_member(&k, coll_id, name))
        return VD_ENOTFOUND;
    vd_err e = st_dget(t, DB_RES, k.b, k.n, &v);
    if (e || (e = rrec_decode(&v, &r)))
        return e;
    /* The name in the key is the stored one; keep a copy that lasts. */
    const char *n = st_arena_dup(t, name, strlen(name) + 1);
    if (!n)
        return VD_ENOMEM;
    res_fill(out, n, &r);
    return VD_OK;
}

typedef struct list_ctx { vd_res_cb cb; void *ctx; } list_ctx;

static vd_err list_one(vd_txn *t, const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    (void)t, (void)stop;
    list_ctx *l = ctx;
    rrec r;
    vd_res o;
    const char *name = k->mv_size > 8 ? text_at((const char *)k->mv_data + 8, k->mv_size - 8) : NULL;
    if (!name)
        return st_corrupt("res");
    vd_err e = rrec_decode(v, &r);
    if (e)
        return e;
    res_fill(&o, name, &r);
    return l->cb(&o, l->ctx);
}

vd_err vd_store_res_list(vd_txn *t, uint64_t coll_id, vd_res_cb cb, void *ctx)
{
    unsigned char k[8];
    list_ctx l = {cb, ctx};
    be64(k, coll_id);
    return st_walk(t, DB_RES, k, 8, 8, list_one, &l);
}

/* (id, 0, uid) or, for a UID too long for a key, (id, 1, hash). */
static bool k_uid(key *k, uint64_t id, const char *uid)
{
    size_t n = strlen(uid);
    k_init(k);
    k_u64(k, id);
    if (n <= UID_INLINE_MAX) {
        k_raw(k, "\0", 1);
        k_raw(k, uid, n);
    } else {
        k_raw(k, "\1", 1);
        k_u64(k, vd_hash64(uid, n));
    }
    return n > UID_INLINE_MAX;
}

/* Remove every index entry of a member's current record. */
static vd_err unindex(vd_txn *t, uint64_t id, const char *name, const rrec *r)
{
    key k;
    MDB_val v;
    k_init(&k);
    k_u64(&k, id);
    k_u64(&k, r->seq);
    vd_err e = st_ddel(t, DB_CHANGES, k.b, k.n);
    for (uint32_t i = 0; !e && i < r->nstarts; i++) {
        k_init(&k);
        k_u64(&k, id);
        k_raw(&k, r->starts + (size_t)i * 8, 8);
        k_str(&k, name);
        e = st_ddel(t, DB_TINDEX, k.b, k.n);
    }
    if (!e && (r->flags & RF_OPEN) && k_member(&k, id, name))
        e = st_ddel(t, DB_OPEN, k.b, k.n);
    if (e || !r->uid)
        return e;
    k_uid(&k, id, r->uid);
    /* Only if the uid still points here (callers own uid uniqueness). */
    e = st_dget(t, DB_UID, k.b, k.n, &v);
    if (e == VD_ENOTFOUND)
        return VD_OK;
    if (!e && v.mv_size == strlen(name) + 1 && !memcmp(v.mv_data, name, v.mv_size))
        e = st_ddel(t, DB_UID, k.b, k.n);
    return e;
}

/* A recreated member: its tombstone (and that change entry) go. */
static vd_err drop_tomb(vd_txn *t, uint64_t id, const char *name)
{
    key k;
    MDB_val v;
    k_member(&k, id, name);
    vd_err e = st_dget(t, DB_TOMB, k.b, k.n, &v);
    if (e)
        return e == VD_ENOTFOUND ? VD_OK : e;
    if (v.mv_size != 8)
        return st_corrupt("tomb");
    key c;
    k_init(&c);
    k_u64(&c, id);
    k_raw(&c, v.mv_data, 8);
    e = st_ddel(t, DB_CHANGES, c.b, c.n);
    return e ? e : st_ddel(t, DB_TOMB, k.b, k.n);
}

static int inst_cmp(const void *a, const void *b)
{
    const vd_instance *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* Sorted instances, one per start (the longest); sets *open when the
 * member cannot be indexed by instances (too many, too long, unbounded). */
static vd_err prep_inst(vd_txn *t, const vd_put *p, vd_instance **out, size_t *n,
                        bool *open, vd_time *span)
{
    *n = 0;
    *span = 0;
    *open = p->open_ended || p->n_inst > MAX_INST;
    if (*open || !p->n_inst)
        return VD_OK;
    vd_instance *a = st_arena_alloc(t, p->n_inst * sizeof *a);
    if (!a)
        return VD_ENOMEM;
    for (size_t i = 0; i < p->n_inst; i++) {
        vd_time s = p->inst[i].start, e = p->inst[i].end < s ? s : p->inst[i].end;
        if (s == VD_TIME_MIN || e == VD_TIME_MAX ||
            (uint64_t)e - (uint64_t)s > (uint64_t)MAX_SPAN) {
            *open = true;
            return VD_OK;
        }
        a[i] = (vd_instance){s, e};
        if (e - s > *span)
            *span = e - s;
    }
    qsort(a, p->n_inst, sizeof *a, inst_cmp);
    size_t m = 0;
    for (size_t i = 0; i < p->n_inst; i++) {
        if (m && a[m - 1].start == a[i].start) {
            if (a[i].end > a[m - 1].end)
                a[m - 1].end = a[i].end;
        } else {
            a[m++] = a[i];
        }
    }
    *out = a;
    *n = m;
    return VD_OK;
}

static vd_err index_member(vd_txn *t, const vd_put *p, uint64_t seq,
                           const vd_instance *in, size_t n, bool open)
{
    key k;
    unsigned char b[8];
    size_t nl = strlen(p->name) + 1;
    vd_err e = VD_OK;
    if (p->uid) {
        k_uid(&k, p->coll_id, p->uid);
        e = st_dput(t, DB_UID, k.b, k.n, p->name, nl, 0);
    }
    for (size_t i = 0; !e && i < n; i++) {
        k_init(&k);
        k_u64(&k, p->coll_id);
        k_u64(&k, flip(in[i].start));
        k_str(&k, p->name);
        be64(b, flip(in[i].end));
        e = st_dput(t, DB_TINDEX, k.b, k.n, b, 8, 0);
    }
    if (!e && open && k_member(&k, p->coll_id, p->name))
        e = st_dput(t, DB_OPEN, k.b, k.n, "", 0, 0);
    if (e)
        return e;
    unsigned char *v = st_arena_alloc(t, nl + 1);
    if (!v)
        return VD_ENOMEM;
    v[0] = OP_PUT;
    memcpy(v + 1, p->name, nl);
    k_init(&k);
    k_u64(&k, p->coll_id);
    k_u64(&k, seq);
    return st_dput(t, DB_CHANGES, k.b, k.n, v, nl + 1, 0);
}

static vd_err write_res(vd_txn *t, const vd_put *p, const rrec *r,
                        const vd_instance *in, size_t n)
{
    key k;
    wbuf w = {0};
    w_u32(&w, REC_RES);
    w_u64(&w, r->seq);
    w_u64(&w, (uint64_t)r->created);
    w_u64(&w, (uint64_t)r->modified);
    w_u32(&w, r->comp);
    w_u32(&w, r->flags);
    w_u32(&w, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        w_u64(&w, flip(in[i].start));
    w_str(&w, r->etag);
    w_str(&w, r->ctype);
    w_str(&w, r->uid);
    w_u64(&w, r->len);
    w_raw(&w, r->data, r->len);
    w_raw(&w, "", 1);
    k_member(&k, p->coll_id, p->name);
    vd_err e = w.oom ? VD_ENOMEM : st_dput(t, DB_RES, k.b, k.n, w.p, w.n, 0);
    free(w.p);
    return e;
}

static bool name_ok(const char *n)
{
    return n && *n && !strchr(n, '/') && strcmp(n, ".") && strcmp(n, "..");
}


static vd_err check_member_name(vd_txn *t, const char *name, const crec *c)
{
    char p[VD_STORE_MAX_PATH + VD_STORE_MAX_NAME + 2];
    crec d;
    if (!name_ok(name))
        return VD_EINVAL;
    if (strlen(name) > VD_STORE_MAX_NAME)
        return VD_ETOOBIG;
    snprintf(p, sizeof p, "%s%s/", c->path, name);
    vd_err e = st_coll_load(t, p, &d);
    return e == VD_OK ? VD_EEXISTS : e == VD_ENOTFOUND ? VD_OK : e;
}

vd_err vd_store_res_put(vd_txn *t, const vd_put *p, vd_put_result *out)
{
    crec c;
    rrec old, r = {0};
    key k;
    MDB_val v;
    vd_instance *in = NULL;
    size_t n;
    bool open;
    vd_time span;
    if (!p || !p->name || (!p->data && p->len) || (p->n_inst && !p->inst))
        return VD_EINVAL;
    vd_err e = st_coll_load_id(t, p->coll_id, &c);
    if (e || (e = check_member_name(t, p->name, &c)))
        return e;
    k_member(&k, p->coll_id, p->name);
    e = st_dget(t, DB_RES, k.b, k.n, &v);
    bool had = e == VD_OK;
    if (e && e != VD_ENOTFOUND)
        return e;
    if ((had && ((e = rrec_decode(&v, &old)) || (e = unindex(t, p->coll_id, p->name, &old)))) ||
        (!had && (e = drop_tomb(t, p->coll_id, p->name))) ||
        (e = prep_inst(t, p, &in, &n, &open, &span)) || (e = st_meta_next(t, "seq", &r.seq)))
        return e;
    char etag[17];
    vd_etag_of(p->data ? p->data : "", p->len, etag);
    r.created = had ? old.created : t->now;
    r.modified = t->now;
    r.comp = p->comp;
    r.flags = (open ? RF_OPEN : 0) | (p->uid ? RF_UID : 0);
    r.etag = etag;
    r.ctype = p->content_type ? p->content_type : "";
    r.uid = p->uid;
    r.data = p->data ? p->data : "";
    r.len = p->len;
    if ((e = write_res(t, p, &r, in, n)) || (e = index_member(t, p, r.seq, in, n, open)))
        return e;
    c.seq = r.seq;
    c.modified = t->now;
    c.members += !had;
    if (span > c.maxspan)
        c.maxspan = span;        /* monotone: queries look back this far */
    if ((e = st_coll_save(t, &c)) ||
        (e = st_audit_add(t, c.path, p->name, had ? old.etag : "", etag, p->summary)))
        return e;
    if (out) {
        out->created = !had;
        memcpy(out->etag, etag, 17);
        snprintf(out->old_etag, sizeof out->old_etag, "%s", had ? old.etag : "");
    }
    return VD_OK;
}

vd_err vd_store_res_delete(vd_txn *t, uint64_t coll_id, const char *name)
{
    crec c;
    rrec old;
    key k;
    MDB_val v;
    unsigned char b[8];
    if (!name || !k_member(&k, coll_id, name))
        return VD_ENOTFOUND;
    vd_err e = st_coll_load_id(t, coll_id, &c);
    if (e || (e = st_dget(t, DB_RES, k.b, k.n, &v)) || (e = rrec_decode(&v, &old)) ||
        (e = unindex(t, coll_id, name, &old)) || (e = st_ddel(t, DB_RES, k.b, k.n)) ||
        (e = st_prefix_del(t, DB_PROPS, k.b, k.n)) || (e = st_visits_purge(t, k.b, k.n)) ||
        (e = st_meta_next(t, "seq", &c.seq)))
        return e;
    be64(b, c.seq);
    if ((e = st_dput(t, DB_TOMB, k.b, k.n, b, 8, 0)))
        return e;
    size_t nl = strlen(name) + 1;
    unsigned char *val = st_arena_alloc(t, nl + 1);
    if (!val)
        return VD_ENOMEM;
    val[0] = OP_DEL;
    memcpy(val + 1, name, nl);
    k_init(&k);
    k_u64(&k, coll_id);
    k_u64(&k, c.seq);
    if ((e = st_dput(t, DB_CHANGES, k.b, k.n, val, nl + 1, 0)))
        return e;
    c.modified = t->now;
    c.members -= c.members > 0;
    if ((e = st_coll_save(t, &c)))
        return e;
    return st_audit_add(t, c.path, name, old.etag, "", NULL);
}

vd_err vd_store_uid_lookup(vd_txn *t, uint64_t coll_id, const char *uid, char **name_out)
{
    key k;
    MDB_val v;
    vd_res r;
    if (!uid)
        return VD_EINVAL;
    bool hashed = k_uid(&k, coll_id, uid);
    vd_err e = st_dget(t, DB_UID, k.b, k.n, &v);
    if (e)
        return e;
    const char *name = text_at(v.mv_data, v.mv_size);
    if (!name)
        return st_corrupt("uid");
    /* A hashed key could collide: confirm against the member itself. */
    if (hashed && ((e = vd_store_res_get(t, coll_id, name, &r)) || !r.uid || strcmp(r.uid, uid)))
        return e && e != VD_ENOTFOUND ? e : VD_ENOTFOUND;
    if (!(*name_out = strdup(name)))
        return VD_ENOMEM;
    return VD_OK;
}

/* ---------- time-range candidates ---------- */
typedef struct nset {
    const char **slot;
    size_t cap, n;
} nset;

/* 1 when name is new, 0 when seen, -1 out of memory.  name must outlive
 * the set (it points into the txn's map or arena). */
static int nset_add(nset *s, const char *name)
{
    if (2 * (s->n + 1) > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        const char **slot = calloc(cap, sizeof *slot);
        if (!slot)
            return -1;
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->slot[i])
                continue;
            size_t j = vd_hash64(s->slot[i], strlen(s->slot[i])) & (cap - 1);
            while (slot[j])
                j = (j + 1) & (cap - 1);
            slot[j] = s->slot[i];
        }
        free(s->slot);
        s->slot = slot;
        s->cap = cap;
    }
    size_t j = vd_hash64(name, strlen(name)) & (s->cap - 1);
    for (; s->slot[j]; j = (j + 1) & (s->cap - 1))
        if (!strcmp(s->slot[j], name))
            return 0;
    s->slot[j] = name;
    s->n++;
    return 1;
}

typedef struct tq {
    vd_time start, end;
    nset seen;
    vd_name_cb cb;
    void *ctx;
} tq;

static vd_err tq_emit(tq *q, const char *name)
{
    int r = nset_add(&q->seen, name);
    return r < 0 ? VD_ENOMEM : r ? q->cb(name, q->ctx) : VD_OK;
}

static vd_err tq_inst(vd_txn *t, const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    (void)t;
    tq *q = ctx;
    const unsigned char *kb = k->mv_data;
    const char *name = k->mv_size > 16 ? text_at(kb + 16, k->mv_size - 16) : NULL;
    if (!name || v->mv_size != 8)
        return st_corrupt("tindex");
    vd_time a = unflip(rd64(kb + 8)), b = unflip(rd64(v->mv_data));
    if (a >= q->end) {
        *stop = true;
        return VD_OK;
    }
    /* RFC 4791 9.9: overlap is start < e AND end > s; a zero-length
     * instance at a matches when s <= a < e. */
    if (b > q->start || (a == b && a >= q->start))
        return tq_emit(q, name);
    return VD_OK;
}

static vd_err tq_open(vd_txn *t, const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    (void)t, (void)v, (void)stop;
    const char *name = k->mv_size > 8 ? text_at((const char *)k->mv_data + 8, k->mv_size - 8) : NULL;
    return name ? tq_emit(ctx, name) : st_corrupt("openended");
}

vd_err vd_store_time_candidates(vd_txn *t, uint64_t coll_id, vd_time start, vd_time end,
                                vd_name_cb cb, void *ctx)
{
    crec c;
    vd_err e = st_coll_load_id(t, coll_id, &c);
    if (e)
        return e;
    tq q = {start, end, {NULL, 0, 0}, cb, ctx};
    /* An instance overlapping start began at most maxspan before it. */
    vd_time lo = start < VD_TIME_MIN + c.maxspan ? VD_TIME_MIN : start - c.maxspan;
    unsigned char k[16];
    be64(k, coll_id);
    be64(k + 8, flip(lo));
    e = st_walk(t, DB_TINDEX, k, 16, 8, tq_inst, &q);
    if (!e)
        e = st_walk(t, DB_OPEN, k, 8, 8, tq_open, &q);
    free(q.seen.slot);
    return e;
}

/* ---------- sync (RFC 6578) ---------- */
typedef struct chg {
    bool all;                /* since 0: present members only */
    size_t limit, count;
    uint64_t last;
    bool truncated;
    vd_change_cb cb;
    void *ctx;
} chg;

static vd_err chg_one(vd_txn *t, const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    (void)t;
    chg *c = ctx;
    const unsigned char *b = v->mv_data;
    const char *name = v->mv_size > 1 ? text_at(b + 1, v->mv_size - 1) : NULL;
    if (k->mv_size != 16 || !name || (b[0] != OP_PUT && b[0] != OP_DEL))
        return st_corrupt("changes");
    bool deleted = b[0] == OP_DEL;
    if (c->all && deleted)
        return VD_OK;
    if (c->limit && c->count == c->limit) {
        c->truncated = true;
        *stop = true;
        return VD_OK;
    }
    c->count++;
    c->last = rd64((const unsigned char *)k->mv_data + 8);
    return c->cb(name, deleted, c->ctx);
}

vd_err vd_store_changes(vd_txn *t, uint64_t coll_id, uint64_t since_seq, size_t limit,
                        vd_change_cb cb, void *ctx, uint64_t *new_seq, bool *truncated)
{
    crec c;
    vd_err e = st_coll_load_id(t, coll_id, &c);
    if (e)
        return e;
    /* Every tombstone is kept, so any seq this collection handed out is
     * valid; one from before it existed (or from the future) is not. */
    if (since_seq && (since_seq > c.seq || since_seq < c.base)) {
        st_seterr("store: sync token %llu outside %llu..%llu", (unsigned long long)since_seq,
                  (unsigned long long)c.base, (unsigned long long)c.seq);
        return VD_EINVAL;
    }
    chg g = {since_seq == 0, limit, 0, 0, false, cb, ctx};
    unsigned char k[16];
    be64(k, coll_id);
    be64(k + 8, since_seq + 1);
    if ((e = st_walk(t, DB_CHANGES, k, 16, 8, chg_one, &g)))
        return e;
    if (new_seq)
        *new_seq = g.truncated ? g.last : c.seq;
    if (truncated)
        *truncated = g.truncated;
    return VD_OK;
}
