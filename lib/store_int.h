/* store_int.h - declarations shared by the store files (store.c,
 * store_coll.c, store_res.c, store_visits.c) and by nothing else: the
 * on-disk layout, the txn and store structs, key/record encoding helpers
 * and the LMDB call wrappers.  Only store*.c include it (and so lmdb.h).
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
 *   vcust       cust\0 start^sign id name\0  -> end^sign owner\0
 *   vowner      owner\0 start^sign id name\0 -> end^sign cust\0 ("" = none)
 *   vrev        id name\0             -> visit record: what vcust/vowner hold
 *   links       id name\0  (dupsort)  -> id name\0 of each visit it is
 *                                        flagged because of
 *   linksrev    id name\0  (dupsort)  -> id name\0 of each visit flagged
 *                                        because of it
 *   meta "vspan" 'c' cust / 'o' owner -> u64 longest instance indexed under
 *                                        that customer / owner (monotone)
 * Collection seqs come from the one "seq" counter, so a token or ctag of a
 * deleted collection never matches its successor at the same path. */
#ifndef VD_STORE_INT_H
#define VD_STORE_INT_H

#include "store.h"

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { DB_META, DB_COLLS, DB_COLL_IDS, DB_RES, DB_UID, DB_TINDEX, DB_OPEN,
       DB_CHANGES, DB_TOMB, DB_PROPS, DB_PRINC, DB_AUDIT,
       DB_VCUST, DB_VOWNER, DB_VREV, DB_LINKS, DB_LINKSREV, DB_N };

#define KEY_MAX 511                   /* LMDB's default maximum key size */
#define UID_INLINE_MAX 400            /* longer UIDs are keyed by their hash */
#define MAX_SPAN ((vd_time)32 * 86400) /* longer instance: member open-ended */
#define MAX_INST 100000
#define REC_COLL 0x56444331u          /* "VDC1" */
#define REC_RES 0x56445231u           /* "VDR1" */
#define REC_VIS 0x56445631u           /* "VDV1" */
#define RF_OPEN 1u
#define RF_UID 2u
#define OP_PUT 'P'
#define OP_DEL 'D'
#define SIGN (UINT64_C(1) << 63)

/* Txns hold the gate open; a map resize waits until it is closed. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned active, want;
    bool resizing;
} gate;

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

/* ---------- byte helpers ---------- */
static inline void be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static inline uint64_t rd64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static inline uint64_t flip(vd_time t) { return (uint64_t)t ^ SIGN; }
static inline vd_time unflip(uint64_t u) { return (vd_time)(u ^ SIGN); }

typedef struct key {
    size_t n;
    bool over;
    unsigned char b[KEY_MAX];
} key;

static inline void k_init(key *k) { k->n = 0; k->over = false; }

static inline void k_raw(key *k, const void *p, size_t n)
{
    if (k->over || n > KEY_MAX - k->n) {
        k->over = true;
        return;
    }
    memcpy(k->b + k->n, p, n);
    k->n += n;
}

static inline void k_u64(key *k, uint64_t v)
{
    unsigned char b[8];
    be64(b, v);
    k_raw(k, b, 8);
}

static inline void k_str(key *k, const char *s) { k_raw(k, s, strlen(s) + 1); }

/* (id, name\0): the key shape of res, openended, tomb. */
static inline bool k_member(key *k, uint64_t id, const char *name)
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

static inline void w_raw(wbuf *w, const void *d, size_t n)
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

static inline void w_u64(wbuf *w, uint64_t v)
{
    unsigned char b[8];
    be64(b, v);
    w_raw(w, b, 8);
}

static inline void w_u32(wbuf *w, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    w_raw(w, b, 4);
}

/* u32 length, bytes, NUL (so the stored text is a C string in place). */
static inline void w_strn(wbuf *w, const char *s, size_t n)
{
    w_u32(w, (uint32_t)n);
    w_raw(w, s, n);
    w_raw(w, "", 1);
}

static inline void w_str(wbuf *w, const char *s) { w_strn(w, s ? s : "", s ? strlen(s) : 0); }

typedef struct rd {
    const unsigned char *p;
    size_t n, off;
    bool bad;
} rd;

static inline const unsigned char *r_raw(rd *r, size_t n)
{
    if (r->bad || n > r->n - r->off) {
        r->bad = true;
        return NULL;
    }
    const unsigned char *p = r->p + r->off;
    r->off += n;
    return p;
}

static inline uint64_t r_u64(rd *r)
{
    const unsigned char *p = r_raw(r, 8);
    return p ? rd64(p) : 0;
}

static inline uint32_t r_u32(rd *r)
{
    const unsigned char *p = r_raw(r, 4);
    return p ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3] : 0;
}

static inline const char *r_strn(rd *r, size_t n)
{
    const unsigned char *p = n < SIZE_MAX ? r_raw(r, n + 1) : NULL;
    if (!p || p[n] != 0 || memchr(p, 0, n)) {
        r->bad = true;
        return "";
    }
    return (const char *)p;
}

static inline const char *r_str(rd *r) { return r_strn(r, r_u32(r)); }

/* A NUL-terminated text filling exactly n bytes (key tails, name values). */
static inline const char *text_at(const void *p, size_t n)
{
    const char *s = p;
    return n && s[n - 1] == 0 && !memchr(s, 0, n - 1) ? s : NULL;
}

/* ---------- LMDB calls (store.c) ---------- */
/* Every function returns VD_EIO on an LMDB failure (and records it in the
 * txn, so vd_store_write fails even if a caller ignores it). */
__attribute__((format(printf, 1, 2)))
void st_seterr(const char *fmt, ...);
void *st_arena_alloc(vd_txn *t, size_t n);       /* lives until txn end */
void *st_arena_dup(vd_txn *t, const void *p, size_t n);
vd_err st_dberr(vd_txn *t, int rc, const char *what);
vd_err st_corrupt(const char *db);
vd_err st_need_write(vd_txn *t);
/* In a write txn *v is an arena copy. VD_ENOTFOUND when absent. */
vd_err st_dget(vd_txn *t, int db, const void *k, size_t kn, MDB_val *v);
vd_err st_dput(vd_txn *t, int db, const void *k, size_t kn, const void *v,
               size_t vn, unsigned flags);
vd_err st_ddel(vd_txn *t, int db, const void *k, size_t kn);   /* absent is fine */
vd_err st_prefix_del(vd_txn *t, int db, const void *pre, size_t pn);

/* Visit, in key order, the keys >= from[0..fn) that start with from[0..pn).
 * In a write txn k and v are arena copies and the walk re-seeks after each
 * callback, so callbacks may write. */
typedef vd_err (*walk_fn)(vd_txn *t, const MDB_val *k, const MDB_val *v, void *ctx, bool *stop);
vd_err st_walk(vd_txn *t, int db, const void *from, size_t fn, size_t pn,
               walk_fn cb, void *ctx);
/* Increment the u64 counter name in meta; *out gets the new value. */
vd_err st_meta_next(vd_txn *t, const char *name, uint64_t *out);

/* ---------- collection records (store.c) ---------- */
typedef struct crec {
    uint64_t id, seq, base, members;
    uint32_t kind, mask;
    vd_time created, modified, maxspan;
    char owner[VD_STORE_MAX_OWNER + 1];
    char path[VD_STORE_MAX_PATH + 1];
} crec;

vd_err st_crec_decode(const MDB_val *v, crec *c);
vd_err st_coll_save(vd_txn *t, const crec *c);
vd_err st_coll_load(vd_txn *t, const char *path, crec *c);
vd_err st_coll_load_id(vd_txn *t, uint64_t id, crec *c);
/* A change to the collection: new seq (ctag, sync token), modified now. */
vd_err st_coll_bump(vd_txn *t, crec *c);
vd_err st_bump_path(vd_txn *t, const char *path);   /* absent path: OK */

/* ---------- visit indexes and links (store_visits.c) ---------- */
/* Remove the visit index entries and both directions of the flag links of
 * every member whose (id, name\0) key starts with prefix: pass the 8-byte
 * collection id (collection deleted) or a member key (member deleted). */
vd_err st_visits_purge(vd_txn *t, const void *prefix, size_t pn);

/* ---------- audit (store.c) ---------- */
vd_err st_audit_add(vd_txn *t, const char *path, const char *name,
                    const char *old, const char *new_, const char *summary);

#endif
