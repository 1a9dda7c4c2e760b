/* store.c - the LMDB implementation of store.h and the only file in
 * visitdav that includes lmdb.h.  It owns the on-disk layout, transactions,
 * map growth and every index.  It must not parse iCalendar or XML, know
 * HTTP, or call server/: callers hand it bytes, instances and names.
 *
 * Layout: named databases, integers big-endian so LMDB order is numeric and
 * time order; strings in keys keep their NUL so key text is usable in place.
 *   meta        "schema" u32; "coll_id", "seq", "audit" u64 counters
 *   colls       path\0                -> collection record
 *   coll_ids    id                    -> path\0
 *   res         id name\0             -> resource record, bytes inline
 *   uid         id 0 uid | id 1 hash  -> name\0   (long UIDs are hashed)
 *   tindex      id start^sign name\0  -> end
 *   openended   id name\0             -> (empty)
 *   changes     id seq                -> op name\0  (one per member: latest)
 *   tomb        id name\0             -> seq of its deletion entry
 *   props       id name\0 clark\0     -> xml\0      (name "" = collection)
 *   principals  name\0                -> principal record
 *   audit       seq                   -> audit record
 * Collection seqs come from the one "seq" counter, so a token or ctag of a
 * deleted collection never matches its successor at the same path.
 *
 * Map growth: every txn holds a gate open; growing the map waits until no
 * txn of this process is open (LMDB's rule for mdb_env_set_mapsize).
 * In write txns LMDB may move values on the next write, so every value read
 * there is copied into a per-txn arena: borrowed pointers last the txn. */
#include "store.h"

#include "hash.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum { DB_META, DB_COLLS, DB_COLL_IDS, DB_RES, DB_UID, DB_TINDEX, DB_OPEN,
       DB_CHANGES, DB_TOMB, DB_PROPS, DB_PRINC, DB_AUDIT, DB_N };
static const char *const db_name[DB_N] = {
    "meta", "colls", "coll_ids", "res", "uid", "tindex", "openended",
    "changes", "tomb", "props", "principals", "audit"};

#define KEY_MAX 511                   /* LMDB's default maximum key size */
#define UID_INLINE_MAX 400            /* longer UIDs are keyed by their hash */
#define MAX_SPAN ((vd_time)32 * 86400) /* longer instance: member open-ended */
#define MAX_INST 100000
#define SUMMARY_MAX 1024
#define GROW_WAIT_SEC 30
#define MAX_ATTEMPTS 40
#define REC_COLL 0x56444331u          /* "VDC1" */
#define REC_RES 0x56445231u           /* "VDR1" */
#define RF_OPEN 1u
#define RF_UID 2u
#define OP_PUT 'P'
#define OP_DEL 'D'
#define SIGN (UINT64_C(1) << 63)

static _Thread_local char last_err[256];
static _Thread_local atomic_int held;   /* txns this thread has open */
static _Thread_local bool writing;      /* inside vd_store_write's callback */

const char *vd_store_last_error(void) { return last_err; }

__attribute__((format(printf, 1, 2)))
static void seterr(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_err, sizeof last_err, fmt, ap);
    va_end(ap);
}

/* ---------- the gate: txns vs. remapping ---------- */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned active, want;
    bool resizing;
} gate;

static void gate_enter(gate *g)
{
    pthread_mutex_lock(&g->mu);
    /* A thread already holding a txn must not wait for a resizer that in
     * turn waits for that txn (and no resize can run while it holds one). */
    while (atomic_load(&held) == 0 && (g->resizing || g->want))
        pthread_cond_wait(&g->cv, &g->mu);
    g->active++;
    pthread_mutex_unlock(&g->mu);
    atomic_fetch_add(&held, 1);
}

static void gate_leave(gate *g, atomic_int *h)
{
    atomic_fetch_sub(h, 1);
    pthread_mutex_lock(&g->mu);
    if (--g->active == 0)
        pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static bool gate_exclusive(gate *g)
{
    if (atomic_load(&held)) {
        seterr("store: cannot resize the map while this thread holds a transaction");
        return false;
    }
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += GROW_WAIT_SEC;
    pthread_mutex_lock(&g->mu);
    g->want++;
    int rc = 0;
    while ((g->active || g->resizing) && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&g->cv, &g->mu, &dl);
    g->want--;
    bool ok = !g->active && !g->resizing;
    if (ok)
        g->resizing = true;
    else
        pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    if (!ok)
        seterr("store: map full and transactions stayed open for %d s", GROW_WAIT_SEC);
    return ok;
}

static void gate_release(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->resizing = false;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* ---------- store, txn, arena ---------- */
struct vd_store {
    MDB_env *env;
    MDB_dbi db[DB_N];
    gate g;
    size_t mapsize;          /* changed only under gate_exclusive */
    bool no_sync;
};

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    unsigned char mem[];
} chunk;

struct vd_txn {
    vd_store *s;
    MDB_txn *txn;
    bool write;
    int mdb_rc;              /* first LMDB failure inside this txn */
    const char *actor, *method;
    vd_time now;
    atomic_int *held;        /* the opening thread's counter */
    chunk *arena;
};

static void *arena_alloc(vd_txn *t, size_t n)
{
    if (n > SIZE_MAX - 16)
        return NULL;
    n = (n + 7) & ~(size_t)7;
    chunk *c = t->arena;
    if (c && c->cap - c->used >= n) {
        void *p = c->mem + c->used;
        c->used += n;
        return p;
    }
    size_t cap = n > 16384 ? n : 16384;
    chunk *nc = malloc(sizeof *nc + cap);
    if (!nc)
        return NULL;
    nc->cap = cap;
    nc->used = n;
    if (c && n > 4096) {     /* a big block: keep the current chunk in use */
        nc->next = c->next;
        c->next = nc;
    } else {
        nc->next = c;
        t->arena = nc;
    }
    return nc->mem;
}

static void *arena_dup(vd_txn *t, const void *p, size_t n)
{
    void *d = arena_alloc(t, n ? n : 1);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

static void txn_free(vd_txn *t)
{
    if (t->txn)
        mdb_txn_abort(t->txn);
    gate_leave(&t->s->g, t->held);
    for (chunk *c = t->arena, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    free(t);
}

/* ---------- byte helpers ---------- */
static void be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint64_t rd64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t flip(vd_time t) { return (uint64_t)t ^ SIGN; }
static vd_time unflip(uint64_t u) { return (vd_time)(u ^ SIGN); }

typedef struct key {
    size_t n;
    bool over;
    unsigned char b[KEY_MAX];
} key;

static void k_init(key *k) { k->n = 0; k->over = false; }

static void k_raw(key *k, const void *p, size_t n)
{
    if (k->over || n > KEY_MAX - k->n) {
        k->over = true;
        return;
    }
    memcpy(k->b + k->n, p, n);
    k->n += n;
}

static void k_u64(key *k, uint64_t v)
{
    unsigned char b[8];
    be64(b, v);
    k_raw(k, b, 8);
}

static void k_str(key *k, const char *s) { k_raw(k, s, strlen(s) + 1); }

/* (id, name\0): the key shape of res, openended, tomb. */
static bool k_member(key *k, uint64_t id, const char *name)
{
    k_init(k);
    k_u64(k, id);
    k_str(k, name);
    return !k->over;
}

typedef struct wbuf {
    unsigned char *p;
    size_t n, cap;
    bool oom;
} wbuf;

static void w_raw(wbuf *w, const void *d, size_t n)
{
    if (w->oom)
        return;
    if (n > w->cap - w->n) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap - w->n < n && cap < SIZE_MAX / 2)
            cap *= 2;
        unsigned char *p = cap - w->n >= n ? realloc(w->p, cap) : NULL;
        if (!p) {
            w->oom = true;
            return;
        }
        w->p = p;
        w->cap = cap;
    }
    if (n)
        memcpy(w->p + w->n, d, n);
    w->n += n;
}

static void w_u64(wbuf *w, uint64_t v)
{
    unsigned char b[8];
    be64(b, v);
    w_raw(w, b, 8);
}

static void w_u32(wbuf *w, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    w_raw(w, b, 4);
}

/* u32 length, bytes, NUL (so the stored text is a C string in place). */
static void w_strn(wbuf *w, const char *s, size_t n)
{
    w_u32(w, (uint32_t)n);
    w_raw(w, s, n);
    w_raw(w, "", 1);
}

static void w_str(wbuf *w, const char *s) { w_strn(w, s ? s : "", s ? strlen(s) : 0); }

typedef struct rd {
    const unsigned char *p;
    size_t n, off;
    bool bad;
} rd;

static const unsigned char *r_raw(rd *r, size_t n)
{
    if (r->bad || n > r->n - r->off) {
        r->bad = true;
        return NULL;
    }
    const unsigned char *p = r->p + r->off;
    r->off += n;
    return p;
}

static uint64_t r_u64(rd *r)
{
    const unsigned char *p = r_raw(r, 8);
    return p ? rd64(p) : 0;
}

static uint32_t r_u32(rd *r)
{
    const unsigned char *p = r_raw(r, 4);
    return p ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3] : 0;
}

static const char *r_strn(rd *r, size_t n)
{
    const unsigned char *p = n < SIZE_MAX ? r_raw(r, n + 1) : NULL;
    if (!p || p[n] != 0 || memchr(p, 0, n)) {
        r->bad = true;
        return "";
    }
    return (const char *)p;
}

static const char *r_str(rd *r) { return r_strn(r, r_u32(r)); }

/* A NUL-terminated text filling exactly n bytes (key tails, name values). */
static const char *text_at(const void *p, size_t n)
{
    const char *s = p;
    return n && s[n - 1] == 0 && !memchr(s, 0, n - 1) ? s : NULL;
}

/* ---------- LMDB calls ---------- */
static vd_err dberr(vd_txn *t, int rc, const char *what)
{
    if (t && !t->mdb_rc)
        t->mdb_rc = rc;
    seterr("store: %s: %s", what, mdb_strerror(rc));
    return VD_EIO;
}

static vd_err corrupt(const char *db)
{
    seterr("store: corrupt record in %s", db);
    return VD_EIO;
}

static vd_err need_write(vd_txn *t)
{
    if (t->write)
        return VD_OK;
    seterr("store: write attempted in a read transaction");
    return VD_EINVAL;
}

static vd_err dget(vd_txn *t, int db, const void *k, size_t kn, MDB_val *v)
{
    MDB_val key = {kn, (void *)k};
    int rc = mdb_get(t->txn, t->s->db[db], &key, v);
    if (rc == MDB_NOTFOUND)
        return VD_ENOTFOUND;
    if (rc)
        return dberr(t, rc, db_name[db]);
    if (t->write && !(v->mv_data = arena_dup(t, v->mv_data, v->mv_size)))
        return VD_ENOMEM;
    return VD_OK;
}

static vd_err dput(vd_txn *t, int db, const void *k, size_t kn, const void *v,
                   size_t vn, unsigned flags)
{
    if (!t->write)
        return need_write(t);
    MDB_val key = {kn, (void *)k}, val = {vn, (void *)v};
    int rc = mdb_put(t->txn, t->s->db[db], &key, &val, flags);
    if (rc == MDB_KEYEXIST)
        return VD_EEXISTS;
    return rc ? dberr(t, rc, db_name[db]) : VD_OK;
}

/* Delete a key; absent is fine. */
static vd_err ddel(vd_txn *t, int db, const void *k, size_t kn)
{
    if (!t->write)
        return need_write(t);
    MDB_val key = {kn, (void *)k};
    int rc = mdb_del(t->txn, t->s->db[db], &key, NULL);
    return rc && rc != MDB_NOTFOUND ? dberr(t, rc, db_name[db]) : VD_OK;
}

/* Delete every key starting with pre. */
static vd_err prefix_del(vd_txn *t, int db, const void *pre, size_t pn)
{
    if (!t->write)
        return need_write(t);
    MDB_cursor *c;
    int rc = mdb_cursor_open(t->txn, t->s->db[db], &c);
    if (rc)
        return dberr(t, rc, db_name[db]);
    for (;;) {
        MDB_val k = {pn, (void *)pre}, v;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND || (!rc && (k.mv_size < pn || memcmp(k.mv_data, pre, pn)))) {
            rc = 0;
            break;
        }
        if (rc || (rc = mdb_cursor_del(c, 0)))
            break;
    }
    mdb_cursor_close(c);
    return rc ? dberr(t, rc, db_name[db]) : VD_OK;
}

/* Visit, in key order, the keys >= from[0..fn) that start with from[0..pn).
 * In a write txn k and v are arena copies and the walk re-seeks after each
 * callback, so callbacks may write. */
typedef vd_err (*walk_fn)(vd_txn *t, const MDB_val *k, const MDB_val *v, void *ctx, bool *stop);

static vd_err walk(vd_txn *t, int db, const void *from, size_t fn, size_t pn,
                   walk_fn cb, void *ctx)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(t->txn, t->s->db[db], &c);
    if (rc)
        return dberr(t, rc, db_name[db]);
    unsigned char last[KEY_MAX];
    size_t ln = 0;
    MDB_val k = {fn, (void *)from}, v;
    vd_err e = VD_OK;
    bool stop = false;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (!rc && k.mv_size >= pn && !memcmp(k.mv_data, from, pn)) {
        if (t->write) {
            ln = k.mv_size < sizeof last ? k.mv_size : sizeof last;
            memcpy(last, k.mv_data, ln);
            k.mv_data = arena_dup(t, k.mv_data, k.mv_size);
            v.mv_data = arena_dup(t, v.mv_data, v.mv_size);
            if (!k.mv_data || !v.mv_data) {
                e = VD_ENOMEM;
                break;
            }
        }
        if ((e = cb(t, &k, &v, ctx, &stop)) || stop)
            break;
        if (t->write) {
            k.mv_size = ln;
            k.mv_data = last;
            rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
            if (!rc && k.mv_size == ln && !memcmp(k.mv_data, last, ln))
                rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
        } else {
            rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
        }
    }
    if (rc && rc != MDB_NOTFOUND && !e)
        e = dberr(t, rc, db_name[db]);
    mdb_cursor_close(c);
    return e;
}

static vd_err meta_next(vd_txn *t, const char *name, uint64_t *out)
{
    MDB_val v;
    uint64_t cur = 0;
    vd_err e = dget(t, DB_META, name, strlen(name), &v);
    if (e == VD_OK) {
        if (v.mv_size != 8)
            return corrupt("meta");
        cur = rd64(v.mv_data);
    } else if (e != VD_ENOTFOUND) {
        return e;
    }
    unsigned char b[8];
    be64(b, ++cur);
    if ((e = dput(t, DB_META, name, strlen(name), b, 8, 0)))
        return e;
    *out = cur;
    return VD_OK;
}

/* ---------- open / close / transactions ---------- */
static int mkdirs(const char *dir)
{
    char p[4096];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
        return ENAMETOOLONG;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(p, 0700) && errno != EEXIST)
            return errno;
        *s = '/';
    }
    return mkdir(p, 0700) && errno != EEXIST ? errno : 0;
}

/* Open the named databases; check (or, when new, write) the schema. */
static vd_err open_dbs(vd_store *s, unsigned want, vd_diag *d)
{
    MDB_txn *txn = NULL;
    MDB_val k = {6, "schema"}, v;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc) {
        vd_diag_set(d, 500, NULL, NULL, "store: begin: %s", mdb_strerror(rc));
        return VD_EIO;
    }
    rc = mdb_dbi_open(txn, db_name[DB_META], MDB_CREATE, &s->db[DB_META]);
    if (!rc && (rc = mdb_get(txn, s->db[DB_META], &k, &v)) == 0) {
        rd r = {v.mv_data, v.mv_size, 0, false};
        unsigned have = r_u32(&r);
        if (have != want || v.mv_size != 4) {
            mdb_txn_abort(txn);
            vd_diag_set(d, 500, NULL, NULL, "store schema version %u, this program needs %u",
                        have, want);
            return VD_EINVAL;
        }
    } else if (rc == MDB_NOTFOUND) {
        unsigned char b[4] = {(unsigned char)(want >> 24), (unsigned char)(want >> 16),
                              (unsigned char)(want >> 8), (unsigned char)want};
        v.mv_size = 4;
        v.mv_data = b;
        rc = mdb_put(txn, s->db[DB_META], &k, &v, 0);
    }
    for (int i = 1; !rc && i < DB_N; i++)
        rc = mdb_dbi_open(txn, db_name[i], MDB_CREATE, &s->db[i]);
    if (!rc)
        rc = mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
    if (rc) {
        vd_diag_set(d, 500, NULL, NULL, "store: open databases: %s", mdb_strerror(rc));
        return VD_EIO;
    }
    return VD_OK;
}

static int env_setup(vd_store *s, const char *dir, const vd_store_options *opt)
{
    size_t initial = opt && opt->initial_map_bytes ? opt->initial_map_bytes : (size_t)256 << 20;
    char file[4200];
    struct stat st;
    snprintf(file, sizeof file, "%s/data.mdb", dir);
    bool existed = stat(file, &st) == 0;
    int rc = mdb_env_create(&s->env);
    if (!rc)
        rc = mdb_env_set_maxdbs(s->env, DB_N + 2);
    if (!rc)
        rc = mdb_env_set_maxreaders(s->env, opt && opt->max_readers ? opt->max_readers : 126);
    /* An existing store keeps the map it has grown to. */
    if (!rc && !existed)
        rc = mdb_env_set_mapsize(s->env, initial);
    if (!rc)
        rc = mdb_env_open(s->env, dir, MDB_NOTLS | (s->no_sync ? MDB_NOSYNC : 0), 0600);
    MDB_envinfo info;
    if (!rc && !(rc = mdb_env_info(s->env, &info)) && existed && info.me_mapsize < initial)
        rc = mdb_env_set_mapsize(s->env, initial);
    if (!rc && !(rc = mdb_env_info(s->env, &info)))
        s->mapsize = info.me_mapsize;
    int dead;
    if (!rc)
        mdb_reader_check(s->env, &dead);   /* slots of crashed processes */
    return rc;
}

vd_err vd_store_open(const char *dir, const vd_store_options *opt, vd_store **out, vd_diag *d)
{
    *out = NULL;
    int rc = mkdirs(dir);
    if (rc) {
        vd_diag_set(d, 500, NULL, NULL, "store: create %s: %s", dir, strerror(rc));
        return VD_EIO;
    }
    vd_store *s = calloc(1, sizeof *s);
    if (!s)
        return VD_ENOMEM;
    pthread_mutex_init(&s->g.mu, NULL);
    pthread_cond_init(&s->g.cv, NULL);
    s->no_sync = opt && opt->no_sync;
    vd_err e = VD_OK;
    if ((rc = env_setup(s, dir, opt))) {
        vd_diag_set(d, 500, NULL, NULL, "store: open %s: %s", dir, mdb_strerror(rc));
        e = VD_EIO;
    } else {
        e = open_dbs(s, opt && opt->schema_version ? opt->schema_version
                                                   : VD_STORE_SCHEMA_VERSION, d);
    }
    if (e) {
        if (d)
            seterr("%s", d->message);
        vd_store_close(s);
        return e;
    }
    *out = s;
    return VD_OK;
}

void vd_store_close(vd_store *s)
{
    if (!s)
        return;
    if (s->env) {
        if (s->no_sync)
            mdb_env_sync(s->env, 1);
        mdb_env_close(s->env);
    }
    pthread_cond_destroy(&s->g.cv);
    pthread_mutex_destroy(&s->g.mu);
    free(s);
}

/* Another process grew the map: adopt its size (LMDB reads it from meta). */
static vd_err adopt_mapsize(vd_store *s)
{
    if (!gate_exclusive(&s->g))
        return VD_EIO;
    MDB_envinfo info;
    int rc = mdb_env_set_mapsize(s->env, 0);
    if (!rc && !(rc = mdb_env_info(s->env, &info)))
        s->mapsize = info.me_mapsize;
    gate_release(&s->g);
    if (rc)
        seterr("store: adopt map size: %s", mdb_strerror(rc));
    return rc ? VD_EIO : VD_OK;
}

/* Double the map unless another thread already grew it past seen. */
static vd_err grow_map(vd_store *s, size_t seen)
{
    if (!gate_exclusive(&s->g))
        return VD_EIO;
    int rc = 0;
    if (s->mapsize == seen) {
        size_t n = seen * 2;
        if (!(rc = mdb_env_set_mapsize(s->env, n)))
            s->mapsize = n;
    }
    gate_release(&s->g);
    if (rc)
        seterr("store: grow map to %zu bytes: %s", seen * 2, mdb_strerror(rc));
    return rc ? VD_EIO : VD_OK;
}

static vd_err txn_begin(vd_store *s, bool write, vd_txn **out)
{
    vd_txn *t = calloc(1, sizeof *t);
    if (!t)
        return VD_ENOMEM;
    t->s = s;
    t->write = write;
    for (int i = 0; i < MAX_ATTEMPTS; i++) {
        gate_enter(&s->g);
        int rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
        if (!rc) {
            t->held = &held;
            *out = t;
            return VD_OK;
        }
        t->txn = NULL;
        gate_leave(&s->g, &held);
        if (rc != MDB_MAP_RESIZED) {
            free(t);
            return dberr(NULL, rc, "begin transaction");
        }
        if (adopt_mapsize(s))
            break;
    }
    free(t);
    return VD_EIO;
}

vd_err vd_store_read(vd_store *s, vd_txn **out)
{
    return txn_begin(s, false, out);
}

void vd_txn_end(vd_txn *t)
{
    if (t && !t->write)
        txn_free(t);
}

bool vd_txn_is_write(const vd_txn *t) { return t && t->write; }

/* One attempt: begin, run fn, commit.  *rc gets the LMDB failure, if any. */
static vd_err write_once(vd_store *s, const char *actor, const char *method,
                         vd_write_fn fn, void *ctx, int *rc, size_t *seen)
{
    vd_txn *t;
    vd_err e = txn_begin(s, true, &t);
    if (e)
        return e;
    t->actor = actor ? actor : "";
    t->method = method ? method : "";
    t->now = vd_now();
    *seen = s->mapsize;       /* stable: the gate is held */
    writing = true;
    e = fn(t, ctx);
    writing = false;
    *rc = t->mdb_rc;
    if (!*rc && !e) {
        *rc = mdb_txn_commit(t->txn);
        t->txn = NULL;
        if (*rc)
            dberr(NULL, *rc, "commit");
    }
    txn_free(t);
    return e;
}

vd_err vd_store_write(vd_store *s, const char *actor, const char *method,
                      vd_write_fn fn, void *ctx)
{
    if (!s || !fn)
        return VD_EINVAL;
    if (writing) {   /* LMDB's writer lock is not recursive: would deadlock */
        seterr("store: vd_store_write called inside a write callback");
        return VD_EINVAL;
    }
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        int rc = 0;
        size_t seen = 0;
        vd_err e = write_once(s, actor, method, fn, ctx, &rc, &seen);
        if (rc == MDB_MAP_FULL) {
            if ((e = grow_map(s, seen)))
                return e;
            continue;
        }
        /* Never fail open: a store failure the callback ignored still fails. */
        return e ? e : rc ? VD_EIO : VD_OK;
    }
    seterr("store: map still full after %d attempts", MAX_ATTEMPTS);
    return VD_EIO;
}

vd_err vd_store_stats_get(vd_store *s, vd_store_stats *out)
{
    vd_txn *t;
    vd_err e = vd_store_read(s, &t);
    if (e)
        return e;
    MDB_envinfo info;
    MDB_stat st, cs, rs;
    int rc = mdb_env_info(s->env, &info);
    if (!rc)
        rc = mdb_env_stat(s->env, &st);
    if (!rc)
        rc = mdb_stat(t->txn, s->db[DB_COLLS], &cs);
    if (!rc)
        rc = mdb_stat(t->txn, s->db[DB_RES], &rs);
    if (!rc) {
        out->map_bytes = info.me_mapsize;
        out->used_bytes = (info.me_last_pgno + 1) * (size_t)st.ms_psize;
        out->collections = cs.ms_entries;
        out->resources = rs.ms_entries;
    }
    vd_txn_end(t);
    return rc ? dberr(NULL, rc, "stats") : VD_OK;
}

/* ---------- collections ---------- */
typedef struct crec {
    uint64_t id, seq, base, members;
    uint32_t kind, mask;
    vd_time created, modified, maxspan;
    char owner[VD_STORE_MAX_OWNER + 1];
    char path[VD_STORE_MAX_PATH + 1];
} crec;

static vd_err crec_decode(const MDB_val *v, crec *c)
{
    rd r = {v->mv_data, v->mv_size, 0, false};
    uint32_t magic = r_u32(&r);
    c->id = r_u64(&r);
    c->kind = r_u32(&r);
    c->seq = r_u64(&r);
    c->base = r_u64(&r);
    c->mask = r_u32(&r);
    c->created = (vd_time)r_u64(&r);
    c->modified = (vd_time)r_u64(&r);
    c->maxspan = (vd_time)r_u64(&r);
    c->members = r_u64(&r);
    const char *o = r_str(&r);
    if (r.bad || magic != REC_COLL || strlen(o) > VD_STORE_MAX_OWNER ||
        c->maxspan < 0 || c->maxspan > MAX_SPAN)
        return corrupt("colls");
    strcpy(c->owner, o);
    return VD_OK;
}

static vd_err coll_save(vd_txn *t, const crec *c)
{
    wbuf w = {0};
    w_u32(&w, REC_COLL);
    w_u64(&w, c->id);
    w_u32(&w, c->kind);
    w_u64(&w, c->seq);
    w_u64(&w, c->base);
    w_u32(&w, c->mask);
    w_u64(&w, (uint64_t)c->created);
    w_u64(&w, (uint64_t)c->modified);
    w_u64(&w, (uint64_t)c->maxspan);
    w_u64(&w, c->members);
    w_str(&w, c->owner);
    vd_err e = w.oom ? VD_ENOMEM : dput(t, DB_COLLS, c->path, strlen(c->path) + 1, w.p, w.n, 0);
    free(w.p);
    return e;
}

static vd_err coll_load(vd_txn *t, const char *path, crec *c)
{
    size_t n = strlen(path);
    MDB_val v;
    if (n > VD_STORE_MAX_PATH)
        return VD_ENOTFOUND;
    vd_err e = dget(t, DB_COLLS, path, n + 1, &v);
    if (e)
        return e;
    memcpy(c->path, path, n + 1);
    return crec_decode(&v, c);
}

static vd_err coll_load_id(vd_txn *t, uint64_t id, crec *c)
{
    unsigned char k[8];
    MDB_val v;
    be64(k, id);
    vd_err e = dget(t, DB_COLL_IDS, k, 8, &v);
    if (e)
        return e;
    const char *p = text_at(v.mv_data, v.mv_size);
    if (!p)
        return corrupt("coll_ids");
    e = coll_load(t, p, c);
    return e == VD_ENOTFOUND || (!e && c->id != id) ? corrupt("coll_ids") : e;
}

/* A change to the collection: new seq (ctag, sync token), modified now. */
static vd_err coll_bump(vd_txn *t, crec *c)
{
    vd_err e = meta_next(t, "seq", &c->seq);
    c->modified = t->now;
    return e ? e : coll_save(t, c);
}

static vd_err bump_path(vd_txn *t, const char *path)
{
    crec c;
    vd_err e = coll_load(t, path, &c);
    return e == VD_ENOTFOUND ? VD_OK : e ? e : coll_bump(t, &c);
}

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
    vd_err e = coll_load(t, path, &c);
    return e ? e : coll_pub(&c, out);
}

vd_err vd_store_coll_get_by_id(vd_txn *t, uint64_t id, vd_coll *out)
{
    crec c;
    vd_err e = coll_load_id(t, id, &c);
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

static bool name_ok(const char *n)
{
    return n && *n && !strchr(n, '/') && strcmp(n, ".") && strcmp(n, "..");
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
    vd_err e = coll_load(t, pp, &par);
    *has_par = e == VD_OK;
    if (e == VD_ENOTFOUND) {
        if (kind == VD_COLL_HOME)
            return VD_OK;
        seterr("store: parent collection %s does not exist", pp);
        return VD_ECONFLICT;
    }
    if (e)
        return e;
    if (par.kind == VD_COLL_CALENDAR)
        return VD_EFORBIDDEN;
    memcpy(pp, path + pl, len - pl - 1);
    pp[len - pl - 1] = 0;
    k_member(&k, par.id, pp);
    e = dget(t, DB_RES, k.b, k.n, &v);
    return e == VD_OK ? VD_EEXISTS : e == VD_ENOTFOUND ? VD_OK : e;
}

static vd_err audit_add(vd_txn *t, const char *path, const char *name,
                        const char *old, const char *new_, const char *summary);

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
    vd_err e = coll_load(t, path, &c);
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
    if ((e = meta_next(t, "coll_id", &c.id)) || (e = meta_next(t, "seq", &c.seq)))
        return e;
    c.base = c.seq;
    unsigned char k[8];
    be64(k, c.id);
    if ((e = coll_save(t, &c)) ||
        (e = dput(t, DB_COLL_IDS, k, 8, path, strlen(path) + 1, 0)))
        return e;
    if (has_par) {
        char pp[VD_STORE_MAX_PATH + 1];
        snprintf(pp, sizeof pp, "%.*s", (int)parent_len(path), path);
        if ((e = bump_path(t, pp)))
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
    if (!p || crec_decode(v, &c))
        return corrupt("colls");
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
        e = prefix_del(t, dbs[i], k, 8);
    return e ? e : ddel(t, DB_COLL_IDS, k, 8);
}

vd_err vd_store_coll_delete(vd_txn *t, const char *path)
{
    crec c;
    clist l = {0};
    if (!t->write)
        return need_write(t);
    vd_err e = path ? coll_load(t, path, &c) : VD_EINVAL;
    size_t pn = e ? 0 : strlen(path);
    if (!e)
        e = walk(t, DB_COLLS, path, pn, pn, collect_coll, &l);
    for (size_t i = 0; !e && i < l.n; i++)
        e = purge_id(t, l.v[i].id);
    if (!e)
        e = prefix_del(t, DB_COLLS, path, pn);
    if (!e) {
        char pp[VD_STORE_MAX_PATH + 1];
        snprintf(pp, sizeof pp, "%.*s", (int)parent_len(path), path);
        e = bump_path(t, pp);
    }
    if (!e)
        e = audit_add(t, path, "", "", "", "collection deleted");
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
        e = ddel(t, DB_COLLS, l->v[i].path, strlen(l->v[i].path) + 1);
    for (size_t i = 0; !e && i < l->n; i++) {
        unsigned char k[8];
        be64(k, l->v[i].id);
        snprintf(np, sizeof np, "%s%s", to, l->v[i].path + fl);
        e = dput(t, DB_COLLS, np, strlen(np) + 1, l->v[i].val, l->v[i].vn, MDB_NOOVERWRITE);
        if (!e)
            e = dput(t, DB_COLL_IDS, k, 8, np, strlen(np) + 1, 0);
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
    vd_err e = coll_load(t, from, &c);
    if (e)
        return e;
    size_t fl = strlen(from);
    if (!strncmp(to, from, fl))           /* onto itself or into its own subtree */
        return VD_EFORBIDDEN;
    if ((e = coll_load(t, to, &d)) != VD_ENOTFOUND)
        return e ? e : VD_EEXISTS;
    if ((e = check_place(t, to, c.kind, &has_par)))
        return e;
    if (!t->write)
        return need_write(t);
    e = walk(t, DB_COLLS, from, fl, fl, collect_coll, &l);
    if (!e)
        e = move_entries(t, &l, from, to);
    char pp[VD_STORE_MAX_PATH + 1];
    snprintf(pp, sizeof pp, "%.*s", (int)parent_len(from), from);
    if (!e)
        e = bump_path(t, pp);
    snprintf(pp, sizeof pp, "%.*s", (int)parent_len(to), to);
    if (!e)
        e = bump_path(t, pp);
    if (!e) {
        char sum[VD_STORE_MAX_PATH + 16];
        snprintf(sum, sizeof sum, "moved from %s", from);
        e = audit_add(t, to, "", "", "", sum);
    }
    free(l.v);
    return e;
}

vd_err vd_store_coll_set_comp_mask(vd_txn *t, uint64_t id, uint32_t mask)
{
    crec c;
    vd_err e = coll_load_id(t, id, &c);
    if (e)
        return e;
    c.mask = mask;
    return coll_bump(t, &c);
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
        return dberr(t, rc, "colls");
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
            e = corrupt("colls");
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
            if ((e = crec_decode(&v, &c)) || (e = coll_pub(&c, &pub)))
                break;
            e = cb(&pub, ctx);
            vd_coll_clear(&pub);
            if (e)
                break;
        }
    }
    mdb_cursor_close(cur);
    return rc && rc != MDB_NOTFOUND && !e ? dberr(t, rc, "colls") : e;
}

vd_err vd_store_coll_count(vd_txn *t, uint64_t id, size_t *out)
{
    crec c;
    vd_err e = coll_load_id(t, id, &c);
    if (!e)
        *out = (size_t)c.members;
    return e;
}

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
        return corrupt("res");
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
    vd_err e = dget(t, DB_RES, k.b, k.n, &v);
    if (e || (e = rrec_decode(&v, &r)))
        return e;
    /* The name in the key is the stored one; keep a copy that lasts. */
    const char *n = arena_dup(t, name, strlen(name) + 1);
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
        return corrupt("res");
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
    return walk(t, DB_RES, k, 8, 8, list_one, &l);
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
    vd_err e = ddel(t, DB_CHANGES, k.b, k.n);
    for (uint32_t i = 0; !e && i < r->nstarts; i++) {
        k_init(&k);
        k_u64(&k, id);
        k_raw(&k, r->starts + (size_t)i * 8, 8);
        k_str(&k, name);
        e = ddel(t, DB_TINDEX, k.b, k.n);
    }
    if (!e && (r->flags & RF_OPEN) && k_member(&k, id, name))
        e = ddel(t, DB_OPEN, k.b, k.n);
    if (e || !r->uid)
        return e;
    k_uid(&k, id, r->uid);
    /* Only if the uid still points here (callers own uid uniqueness). */
    e = dget(t, DB_UID, k.b, k.n, &v);
    if (e == VD_ENOTFOUND)
        return VD_OK;
    if (!e && v.mv_size == strlen(name) + 1 && !memcmp(v.mv_data, name, v.mv_size))
        e = ddel(t, DB_UID, k.b, k.n);
    return e;
}

/* A recreated member: its tombstone (and that change entry) go. */
static vd_err drop_tomb(vd_txn *t, uint64_t id, const char *name)
{
    key k;
    MDB_val v;
    k_member(&k, id, name);
    vd_err e = dget(t, DB_TOMB, k.b, k.n, &v);
    if (e)
        return e == VD_ENOTFOUND ? VD_OK : e;
    if (v.mv_size != 8)
        return corrupt("tomb");
    key c;
    k_init(&c);
    k_u64(&c, id);
    k_raw(&c, v.mv_data, 8);
    e = ddel(t, DB_CHANGES, c.b, c.n);
    return e ? e : ddel(t, DB_TOMB, k.b, k.n);
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
    vd_instance *a = arena_alloc(t, p->n_inst * sizeof *a);
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
        e = dput(t, DB_UID, k.b, k.n, p->name, nl, 0);
    }
    for (size_t i = 0; !e && i < n; i++) {
        k_init(&k);
        k_u64(&k, p->coll_id);
        k_u64(&k, flip(in[i].start));
        k_str(&k, p->name);
        be64(b, flip(in[i].end));
        e = dput(t, DB_TINDEX, k.b, k.n, b, 8, 0);
    }
    if (!e && open && k_member(&k, p->coll_id, p->name))
        e = dput(t, DB_OPEN, k.b, k.n, "", 0, 0);
    if (e)
        return e;
    unsigned char *v = arena_alloc(t, nl + 1);
    if (!v)
        return VD_ENOMEM;
    v[0] = OP_PUT;
    memcpy(v + 1, p->name, nl);
    k_init(&k);
    k_u64(&k, p->coll_id);
    k_u64(&k, seq);
    return dput(t, DB_CHANGES, k.b, k.n, v, nl + 1, 0);
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
    vd_err e = w.oom ? VD_ENOMEM : dput(t, DB_RES, k.b, k.n, w.p, w.n, 0);
    free(w.p);
    return e;
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
    vd_err e = coll_load(t, p, &d);
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
    vd_err e = coll_load_id(t, p->coll_id, &c);
    if (e || (e = check_member_name(t, p->name, &c)))
        return e;
    k_member(&k, p->coll_id, p->name);
    e = dget(t, DB_RES, k.b, k.n, &v);
    bool had = e == VD_OK;
    if (e && e != VD_ENOTFOUND)
        return e;
    if ((had && ((e = rrec_decode(&v, &old)) || (e = unindex(t, p->coll_id, p->name, &old)))) ||
        (!had && (e = drop_tomb(t, p->coll_id, p->name))) ||
        (e = prep_inst(t, p, &in, &n, &open, &span)) || (e = meta_next(t, "seq", &r.seq)))
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
    if ((e = coll_save(t, &c)) ||
        (e = audit_add(t, c.path, p->name, had ? old.etag : "", etag, p->summary)))
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
    vd_err e = coll_load_id(t, coll_id, &c);
    if (e || (e = dget(t, DB_RES, k.b, k.n, &v)) || (e = rrec_decode(&v, &old)) ||
        (e = unindex(t, coll_id, name, &old)) || (e = ddel(t, DB_RES, k.b, k.n)) ||
        (e = prefix_del(t, DB_PROPS, k.b, k.n)) || (e = meta_next(t, "seq", &c.seq)))
        return e;
    be64(b, c.seq);
    if ((e = dput(t, DB_TOMB, k.b, k.n, b, 8, 0)))
        return e;
    size_t nl = strlen(name) + 1;
    unsigned char *val = arena_alloc(t, nl + 1);
    if (!val)
        return VD_ENOMEM;
    val[0] = OP_DEL;
    memcpy(val + 1, name, nl);
    k_init(&k);
    k_u64(&k, coll_id);
    k_u64(&k, c.seq);
    if ((e = dput(t, DB_CHANGES, k.b, k.n, val, nl + 1, 0)))
        return e;
    c.modified = t->now;
    c.members -= c.members > 0;
    if ((e = coll_save(t, &c)))
        return e;
    return audit_add(t, c.path, name, old.etag, "", NULL);
}

vd_err vd_store_uid_lookup(vd_txn *t, uint64_t coll_id, const char *uid, char **name_out)
{
    key k;
    MDB_val v;
    vd_res r;
    if (!uid)
        return VD_EINVAL;
    bool hashed = k_uid(&k, coll_id, uid);
    vd_err e = dget(t, DB_UID, k.b, k.n, &v);
    if (e)
        return e;
    const char *name = text_at(v.mv_data, v.mv_size);
    if (!name)
        return corrupt("uid");
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
        return corrupt("tindex");
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
    return name ? tq_emit(ctx, name) : corrupt("openended");
}

vd_err vd_store_time_candidates(vd_txn *t, uint64_t coll_id, vd_time start, vd_time end,
                                vd_name_cb cb, void *ctx)
{
    crec c;
    vd_err e = coll_load_id(t, coll_id, &c);
    if (e)
        return e;
    tq q = {start, end, {NULL, 0, 0}, cb, ctx};
    /* An instance overlapping start began at most maxspan before it. */
    vd_time lo = start < VD_TIME_MIN + c.maxspan ? VD_TIME_MIN : start - c.maxspan;
    unsigned char k[16];
    be64(k, coll_id);
    be64(k + 8, flip(lo));
    e = walk(t, DB_TINDEX, k, 16, 8, tq_inst, &q);
    if (!e)
        e = walk(t, DB_OPEN, k, 8, 8, tq_open, &q);
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
        return corrupt("changes");
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
    vd_err e = coll_load_id(t, coll_id, &c);
    if (e)
        return e;
    /* Every tombstone is kept, so any seq this collection handed out is
     * valid; one from before it existed (or from the future) is not. */
    if (since_seq && (since_seq > c.seq || since_seq < c.base)) {
        seterr("store: sync token %llu outside %llu..%llu", (unsigned long long)since_seq,
               (unsigned long long)c.base, (unsigned long long)c.seq);
        return VD_EINVAL;
    }
    chg g = {since_seq == 0, limit, 0, 0, false, cb, ctx};
    unsigned char k[16];
    be64(k, coll_id);
    be64(k + 8, since_seq + 1);
    if ((e = walk(t, DB_CHANGES, k, 16, 8, chg_one, &g)))
        return e;
    if (new_seq)
        *new_seq = g.truncated ? g.last : c.seq;
    if (truncated)
        *truncated = g.truncated;
    return VD_OK;
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
    vd_err e = coll_load_id(t, id, c);
    if (e || !name)
        return e;
    if (!k_member(&k, id, name))
        return VD_ENOTFOUND;
    return dget(t, DB_RES, k.b, k.n, &v);
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
    if ((e = dput(t, DB_PROPS, k.b, k.n, xml, xl + 1, 0)))
        return e;
    return name ? VD_OK : coll_bump(t, &c);
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
    if ((e = dget(t, DB_PROPS, k.b, k.n, &v)))
        return e == VD_ENOTFOUND ? VD_OK : e;
    if ((e = ddel(t, DB_PROPS, k.b, k.n)))
        return e;
    return name ? VD_OK : coll_bump(t, &c);
}

vd_err vd_store_prop_get(vd_txn *t, uint64_t coll_id, const char *name,
                         const char *clark, const char **xml_out)
{
    key k;
    MDB_val v;
    if (!clark || !k_prop(&k, coll_id, name, clark))
        return VD_ENOTFOUND;
    vd_err e = dget(t, DB_PROPS, k.b, k.n, &v);
    if (e)
        return e;
    if (!(*xml_out = text_at(v.mv_data, v.mv_size)))
        return corrupt("props");
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
    return clark && xml ? p->cb(clark, xml, p->ctx) : corrupt("props");
}

vd_err vd_store_prop_list(vd_txn *t, uint64_t coll_id, const char *name, vd_prop_cb cb, void *ctx)
{
    key k;
    if (!k_prop(&k, coll_id, name, NULL))
        return VD_OK;
    plist p = {k.n, cb, ctx};
    return walk(t, DB_PROPS, k.b, k.n, k.n, prop_one, &p);
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
    return dput(c->t, DB_PROPS, k.b, k.n, xml, strlen(xml) + 1, 0);
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
    if ((e = prefix_del(t, DB_PROPS, k.b, k.n)) ||
        (e = vd_store_prop_list(t, from_coll, from_name, copy_one, &p)))
        return e;
    return to_name ? VD_OK : coll_bump(t, &c);
}

/* ---------- principals ---------- */
#define PF_DN 1u
#define PF_EMAIL 2u

vd_err vd_store_principal_get(vd_txn *t, const char *name, vd_principal *out)
{
    MDB_val v;
    if (!name || !*name || strlen(name) > VD_STORE_MAX_NAME)
        return VD_ENOTFOUND;
    vd_err e = dget(t, DB_PRINC, name, strlen(name) + 1, &v);
    if (e)
        return e;
    rd r = {v.mv_data, v.mv_size, 0, false};
    vd_time created = (vd_time)r_u64(&r);
    uint32_t flags = r_u32(&r);
    const char *dn = r_str(&r), *em = r_str(&r);
    if (r.bad)
        return corrupt("principals");
    memset(out, 0, sizeof *out);
    out->created = created;
    out->name = strdup(name);
    out->displayname = flags & PF_DN ? strdup(dn) : NULL;
    out->email = flags & PF_EMAIL ? strdup(em) : NULL;
    if (!out->name || ((flags & PF_DN) && !out->displayname) ||
        ((flags & PF_EMAIL) && !out->email)) {
        vd_principal_clear(out);
        return VD_ENOMEM;
    }
    return VD_OK;
}

vd_err vd_store_principal_put(vd_txn *t, const char *name, const char *displayname,
                              const char *email)
{
    vd_principal old = {0};
    if (!name || !*name)
        return VD_EINVAL;
    if (strlen(name) > VD_STORE_MAX_NAME)
        return VD_ETOOBIG;
    vd_err e = vd_store_principal_get(t, name, &old);
    if (e && e != VD_ENOTFOUND)
        return e;
    const char *dn = displayname ? displayname : old.displayname;
    const char *em = email ? email : old.email;
    wbuf w = {0};
    w_u64(&w, (uint64_t)(e ? t->now : old.created));
    w_u32(&w, (dn ? PF_DN : 0) | (em ? PF_EMAIL : 0));
    w_str(&w, dn);
    w_str(&w, em);
    e = w.oom ? VD_ENOMEM : dput(t, DB_PRINC, name, strlen(name) + 1, w.p, w.n, 0);
    free(w.p);
    vd_principal_clear(&old);
    return e;
}

vd_err vd_store_principal_delete(vd_txn *t, const char *name)
{
    MDB_val v;
    if (!name || !*name || strlen(name) > VD_STORE_MAX_NAME)
        return VD_ENOTFOUND;
    vd_err e = dget(t, DB_PRINC, name, strlen(name) + 1, &v);
    return e ? e : ddel(t, DB_PRINC, name, strlen(name) + 1);
}

void vd_principal_clear(vd_principal *p)
{
    if (!p)
        return;
    free(p->name);
    free(p->displayname);
    free(p->email);
    memset(p, 0, sizeof *p);
}

/* ---------- audit ---------- */
static vd_err audit_add(vd_txn *t, const char *path, const char *name,
                        const char *old, const char *new_, const char *summary)
{
    uint64_t seq;
    unsigned char k[8];
    vd_err e = meta_next(t, "audit", &seq);
    if (e)
        return e;
    size_t sl = summary ? strlen(summary) : 0;
    if (sl > SUMMARY_MAX) {          /* cut on a UTF-8 character boundary */
        sl = SUMMARY_MAX;
        while (sl && ((unsigned char)summary[sl] & 0xC0) == 0x80)
            sl--;
    }
    wbuf w = {0};
    w_u64(&w, (uint64_t)t->now);
    w_str(&w, t->actor);
    w_str(&w, t->method);
    size_t pl = strlen(path), nl = strlen(name);
    w_u32(&w, (uint32_t)(pl + nl));
    w_raw(&w, path, pl);
    w_raw(&w, name, nl + 1);
    w_str(&w, old);
    w_str(&w, new_);
    w_strn(&w, summary ? summary : "", sl);
    be64(k, seq);
    e = w.oom ? VD_ENOMEM : dput(t, DB_AUDIT, k, 8, w.p, w.n, 0);
    free(w.p);
    return e;
}

typedef struct alist {
    size_t limit, count;
    vd_audit_cb cb;
    void *ctx;
} alist;

static vd_err audit_one(vd_txn *t, const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    (void)t;
    alist *l = ctx;
    vd_audit a;
    rd r = {v->mv_data, v->mv_size, 0, false};
    if (l->limit && l->count == l->limit) {
        *stop = true;
        return VD_OK;
    }
    a.seq = k->mv_size == 8 ? rd64(k->mv_data) : 0;
    a.when = (vd_time)r_u64(&r);
    a.actor = r_str(&r);
    a.method = r_str(&r);
    a.path = r_str(&r);
    a.old_etag = r_str(&r);
    a.new_etag = r_str(&r);
    a.summary = r_str(&r);
    if (r.bad || !a.seq)
        return corrupt("audit");
    l->count++;
    return l->cb(&a, l->ctx);
}

vd_err vd_store_audit_list(vd_txn *t, uint64_t since, size_t limit, vd_audit_cb cb, void *ctx)
{
    unsigned char k[8];
    alist l = {limit, 0, cb, ctx};
    if (since == UINT64_MAX)
        return VD_OK;
    be64(k, since + 1);
    return walk(t, DB_AUDIT, k, 8, 0, audit_one, &l);
}
