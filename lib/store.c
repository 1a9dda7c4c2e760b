/* store.c - the core of the LMDB implementation of store.h: the
 * environment (open, close, schema check), transactions and the gate that
 * lets the map grow, the per-txn arena, the LMDB call wrappers every other
 * store file uses, meta counters, the collection record, principals, audit
 * and stats.  Collections and dead properties are in store_coll.c;
 * resources, the uid and time indexes and sync in store_res.c; visit
 * indexes and flag links in store_visits.c; shared declarations and the
 * on-disk layout in store_int.h.  It must not parse iCalendar or XML, know
 * HTTP, or call server/: callers hand it bytes, instances and names.
 *
 * Map growth: every txn holds a gate open; growing the map waits until no
 * txn of this process is open (LMDB's rule for mdb_env_set_mapsize).
 * In write txns LMDB may move values on the next write, so every value read
 * there is copied into a per-txn arena: borrowed pointers last the txn. */
#include "store_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char *const db_name[DB_N] = {
    "meta", "colls", "coll_ids", "res", "uid", "tindex", "openended",
    "changes", "tomb", "props", "principals", "audit",
    "vcust", "vowner", "vrev", "links", "linksrev"};

#define SUMMARY_MAX 1024
#define GROW_WAIT_SEC 30
#define MAX_ATTEMPTS 40

static _Thread_local char last_err[256];
static _Thread_local atomic_int held;   /* txns this thread has open */
static _Thread_local bool writing;      /* inside vd_store_write's callback */

const char *vd_store_last_error(void) { return last_err; }

void st_seterr(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_err, sizeof last_err, fmt, ap);
    va_end(ap);
}

/* ---------- the gate: txns vs. remapping ---------- */
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
        st_seterr("store: cannot resize the map while this thread holds a transaction");
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
        st_seterr("store: map full and transactions stayed open for %d s", GROW_WAIT_SEC);
    return ok;
}

static void gate_release(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->resizing = false;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}


/* ---------- txn arena ---------- */
void *st_arena_alloc(vd_txn *t, size_t n)
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

void *st_arena_dup(vd_txn *t, const void *p, size_t n)
{
    void *d = st_arena_alloc(t, n ? n : 1);
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

/* ---------- LMDB calls ---------- */
vd_err st_dberr(vd_txn *t, int rc, const char *what)
{
    if (t && !t->mdb_rc)
        t->mdb_rc = rc;
    st_seterr("store: %s: %s", what, mdb_strerror(rc));
    return VD_EIO;
}

vd_err st_corrupt(const char *db)
{
    st_seterr("store: corrupt record in %s", db);
    return VD_EIO;
}

vd_err st_need_write(vd_txn *t)
{
    if (t->write)
        return VD_OK;
    st_seterr("store: write attempted in a read transaction");
    return VD_EINVAL;
}

vd_err st_dget(vd_txn *t, int db, const void *k, size_t kn, MDB_val *v)
{
    MDB_val key = {kn, (void *)k};
    int rc = mdb_get(t->txn, t->s->db[db], &key, v);
    if (rc == MDB_NOTFOUND)
        return VD_ENOTFOUND;
    if (rc)
        return st_dberr(t, rc, db_name[db]);
    if (t->write && !(v->mv_data = st_arena_dup(t, v->mv_data, v->mv_size)))
        return VD_ENOMEM;
    return VD_OK;
}

vd_err st_dput(vd_txn *t, int db, const void *k, size_t kn, const void *v,
               size_t vn, unsigned flags)
{
    if (!t->write)
        return st_need_write(t);
    MDB_val key = {kn, (void *)k}, val = {vn, (void *)v};
    int rc = mdb_put(t->txn, t->s->db[db], &key, &val, flags);
    if (rc == MDB_KEYEXIST)
        return VD_EEXISTS;
    return rc ? st_dberr(t, rc, db_name[db]) : VD_OK;
}

/* Delete a key; absent is fine. */
vd_err st_ddel(vd_txn *t, int db, const void *k, size_t kn)
{
    if (!t->write)
        return st_need_write(t);
    MDB_val key = {kn, (void *)k};
    int rc = mdb_del(t->txn, t->s->db[db], &key, NULL);
    return rc && rc != MDB_NOTFOUND ? st_dberr(t, rc, db_name[db]) : VD_OK;
}

/* Delete every key starting with pre. */
vd_err st_prefix_del(vd_txn *t, int db, const void *pre, size_t pn)
{
    if (!t->write)
        return st_need_write(t);
    MDB_cursor *c;
    int rc = mdb_cursor_open(t->txn, t->s->db[db], &c);
    if (rc)
        return st_dberr(t, rc, db_name[db]);
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
    return rc ? st_dberr(t, rc, db_name[db]) : VD_OK;
}

vd_err st_walk(vd_txn *t, int db, const void *from, size_t fn, size_t pn,
               walk_fn cb, void *ctx)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(t->txn, t->s->db[db], &c);
    if (rc)
        return st_dberr(t, rc, db_name[db]);
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
            k.mv_data = st_arena_dup(t, k.mv_data, k.mv_size);
            v.mv_data = st_arena_dup(t, v.mv_data, v.mv_size);
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
        e = st_dberr(t, rc, db_name[db]);
    mdb_cursor_close(c);
    return e;
}

vd_err st_meta_next(vd_txn *t, const char *name, uint64_t *out)
{
    MDB_val v;
    uint64_t cur = 0;
    vd_err e = st_dget(t, DB_META, name, strlen(name), &v);
    if (e == VD_OK) {
        if (v.mv_size != 8)
            return st_corrupt("meta");
        cur = rd64(v.mv_data);
    } else if (e != VD_ENOTFOUND) {
        return e;
    }
    unsigned char b[8];
    be64(b, ++cur);
    if ((e = st_dput(t, DB_META, name, strlen(name), b, 8, 0)))
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
    for (int i = 1; !rc && i < DB_N; i++) {
        bool dup = i == DB_LINKS || i == DB_LINKSREV;
        rc = mdb_dbi_open(txn, db_name[i], MDB_CREATE | (dup ? MDB_DUPSORT : 0), &s->db[i]);
    }
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
            st_seterr("%s", d->message);
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
        st_seterr("store: adopt map size: %s", mdb_strerror(rc));
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
        st_seterr("store: grow map to %zu bytes: %s", seen * 2, mdb_strerror(rc));
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
            return st_dberr(NULL, rc, "begin transaction");
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
            st_dberr(NULL, *rc, "commit");
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
        st_seterr("store: vd_store_write called inside a write callback");
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
    st_seterr("store: map still full after %d attempts", MAX_ATTEMPTS);
    return VD_EIO;
}

uint64_t vd_store_generation(vd_store *s)
{
    if (!s)
        return 0;
    /* mdb_env_info reads the meta pages inside the map: hold the gate, so
     * the map is not being grown (remapped) under it. */
    MDB_envinfo info;
    gate_enter(&s->g);
    int rc = mdb_env_info(s->env, &info);
    gate_leave(&s->g, &held);
    return rc == 0 ? (uint64_t)info.me_last_txnid : 0;
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
    return rc ? st_dberr(NULL, rc, "stats") : VD_OK;
}

/* ---------- collection records ---------- */
vd_err st_crec_decode(const MDB_val *v, crec *c)
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
        return st_corrupt("colls");
    strcpy(c->owner, o);
    return VD_OK;
}

vd_err st_coll_save(vd_txn *t, const crec *c)
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
    vd_err e = w.oom ? VD_ENOMEM : st_dput(t, DB_COLLS, c->path, strlen(c->path) + 1, w.p, w.n, 0);
    free(w.p);
    return e;
}

vd_err st_coll_load(vd_txn *t, const char *path, crec *c)
{
    size_t n = strlen(path);
    MDB_val v;
    if (n > VD_STORE_MAX_PATH)
        return VD_ENOTFOUND;
    vd_err e = st_dget(t, DB_COLLS, path, n + 1, &v);
    if (e)
        return e;
    memcpy(c->path, path, n + 1);
    return st_crec_decode(&v, c);
}

vd_err st_coll_load_id(vd_txn *t, uint64_t id, crec *c)
{
    unsigned char k[8];
    MDB_val v;
    be64(k, id);
    vd_err e = st_dget(t, DB_COLL_IDS, k, 8, &v);
    if (e)
        return e;
    const char *p = text_at(v.mv_data, v.mv_size);
    if (!p)
        return st_corrupt("coll_ids");
    e = st_coll_load(t, p, c);
    return e == VD_ENOTFOUND || (!e && c->id != id) ? st_corrupt("coll_ids") : e;
}

vd_err st_coll_bump(vd_txn *t, crec *c)
{
    vd_err e = st_meta_next(t, "seq", &c->seq);
    c->modified = t->now;
    return e ? e : st_coll_save(t, c);
}

vd_err st_bump_path(vd_txn *t, const char *path)
{
    crec c;
    vd_err e = st_coll_load(t, path, &c);
    return e == VD_ENOTFOUND ? VD_OK : e ? e : st_coll_bump(t, &c);
}

/* ---------- principals ---------- */
#define PF_DN 1u
#define PF_EMAIL 2u

vd_err vd_store_principal_get(vd_txn *t, const char *name, vd_principal *out)
{
    MDB_val v;
    if (!name || !*name || strlen(name) > VD_STORE_MAX_NAME)
        return VD_ENOTFOUND;
    vd_err e = st_dget(t, DB_PRINC, name, strlen(name) + 1, &v);
    if (e)
        return e;
    rd r = {v.mv_data, v.mv_size, 0, false};
    vd_time created = (vd_time)r_u64(&r);
    uint32_t flags = r_u32(&r);
    const char *dn = r_str(&r), *em = r_str(&r);
    if (r.bad)
        return st_corrupt("principals");
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
    e = w.oom ? VD_ENOMEM : st_dput(t, DB_PRINC, name, strlen(name) + 1, w.p, w.n, 0);
    free(w.p);
    vd_principal_clear(&old);
    return e;
}

vd_err vd_store_principal_delete(vd_txn *t, const char *name)
{
    MDB_val v;
    if (!name || !*name || strlen(name) > VD_STORE_MAX_NAME)
        return VD_ENOTFOUND;
    vd_err e = st_dget(t, DB_PRINC, name, strlen(name) + 1, &v);
    return e ? e : st_ddel(t, DB_PRINC, name, strlen(name) + 1);
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
vd_err st_audit_add(vd_txn *t, const char *path, const char *name,
                    const char *old, const char *new_, const char *summary)
{
    uint64_t seq;
    unsigned char k[8];
    vd_err e = st_meta_next(t, "audit", &seq);
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
    e = w.oom ? VD_ENOMEM : st_dput(t, DB_AUDIT, k, 8, w.p, w.n, 0);
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
        return st_corrupt("audit");
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
    return st_walk(t, DB_AUDIT, k, 8, 0, audit_one, &l);
}
