/* store_feeds.c - the feeds of issue 4 (store.h "feeds"): secret-token
 * subscription URLs kept in a named LMDB database of their own.
 *   feeds   selector (16 hex digits, no NUL) -> u32 REC_FEED, str verifier
 *           (the other 48 hex digits), str user, str path, u64 created
 * Owns: token generation (getrandom), the constant-time comparison of the
 * secret part, and the lazy opening of the "feeds" handle.
 * Must not: decide who may read what (the server checks the creator's
 * privileges at every request; the admin command at creation), or touch
 * the other databases.
 *
 * The handle.  store.c opens its databases once at vd_store_open; this one
 * is opened here on first use, possibly long after (and it may have been
 * created by another process, the admin command, meanwhile).  LMDB's rules
 * for mdb_dbi_open: not from two txns of one process at once, and a handle
 * opened in a txn survives only if that txn commits (a read txn too).  So
 * every call here holds one mutex from the start of its txn to its end and
 * ends read txns with a commit: a handle opened in it then stays in the
 * environment, and later txns find it by name without opening anew. */
#include "store_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/random.h>

#define FEEDS_DB "feeds"
#define REC_FEED 0x56444631u          /* "VDF1" */
#define SEL_LEN 16                    /* hex digits of the token used as the key */
#define VER_LEN (VD_FEED_TOKEN_LEN - SEL_LEN)
#define MAX_TRIES 8                   /* selector collisions before giving up */

static pthread_mutex_t dbi_mu = PTHREAD_MUTEX_INITIALIZER;

void vd_feed_clear(vd_feed *f)
{
    if (!f)
        return;
    free(f->user);
    free(f->path);
    explicit_bzero(f->token, sizeof f->token);
    memset(f, 0, sizeof *f);
}

bool vd_feed_token_valid(const char *token)
{
    if (!token)
        return false;
    size_t i = 0;
    for (; token[i] && i <= VD_FEED_TOKEN_LEN; i++)
        if (!((token[i] >= '0' && token[i] <= '9') || (token[i] >= 'a' && token[i] <= 'f')))
            return false;
    return i == VD_FEED_TOKEN_LEN;
}

/* Equal strings of n bytes, in time that depends on n only. */
static bool ct_equal(const char *a, const char *b, size_t n)
{
    volatile unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static vd_err fresh_token(char out[VD_FEED_TOKEN_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[VD_FEED_TOKEN_LEN / 2];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            st_seterr("store: getrandom: %s", strerror(errno));
            return VD_EIO;
        }
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof raw; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[VD_FEED_TOKEN_LEN] = '\0';
    explicit_bzero(raw, sizeof raw);
    return VD_OK;
}

/* The handle in txn t (dbi_mu held).  create: make the database if absent
 * (write txns only).  VD_ENOTFOUND: no feed was ever created. */
static vd_err feeds_dbi(vd_txn *t, bool create, MDB_dbi *dbi)
{
    int rc = mdb_dbi_open(t->txn, FEEDS_DB, create ? MDB_CREATE : 0, dbi);
    if (rc == MDB_NOTFOUND)
        return VD_ENOTFOUND;
    return rc ? st_dberr(t, rc, "open " FEEDS_DB) : VD_OK;
}

/* Decode a record; strings borrowed from v (valid while its txn is). */
static vd_err decode(const MDB_val *k, const MDB_val *v, const char **ver, vd_feed *f)
{
    rd r = {v->mv_data, v->mv_size, 0, false};
    uint32_t magic = r_u32(&r);
    *ver = r_str(&r);
    const char *user = r_str(&r), *path = r_str(&r);
    uint64_t created = r_u64(&r);
    if (r.bad || magic != REC_FEED || k->mv_size != SEL_LEN || strlen(*ver) != VER_LEN)
        return st_corrupt(FEEDS_DB);
    memcpy(f->token, k->mv_data, SEL_LEN);
    memcpy(f->token + SEL_LEN, *ver, VER_LEN);
    f->token[VD_FEED_TOKEN_LEN] = '\0';
    f->user = (char *)user;
    f->path = (char *)path;
    f->created = (vd_time)created;
    return VD_OK;
}

/* ---------- create, revoke ---------- */

/* An audit entry naming the feed by its selector only (the log is no
 * place for the secret part). */
static vd_err audit(vd_txn *t, const char *path, const char *token, const char *what,
                    const char *user)
{
    char summary[VD_STORE_MAX_OWNER + 64];
    snprintf(summary, sizeof summary, "feed %.*s... %s %s", SEL_LEN, token, what, user);
    return st_audit_add(t, path, "", "", "", summary);
}

typedef struct create_ctx {
    const char *user, *path;
    char token[VD_FEED_TOKEN_LEN + 1];
    vd_time created;
} create_ctx;

static vd_err create_fn(vd_txn *t, void *vctx)
{
    create_ctx *c = vctx;
    MDB_dbi dbi;
    vd_err e = feeds_dbi(t, true, &dbi);
    for (int i = 0; i < MAX_TRIES && e == VD_OK; i++) {
        if ((e = fresh_token(c->token)) != VD_OK)
            break;
        wbuf w = {0};
        w_u32(&w, REC_FEED);
        w_str(&w, c->token + SEL_LEN);
        w_str(&w, c->user);
        w_str(&w, c->path);
        w_u64(&w, (uint64_t)t->now);
        MDB_val key = {SEL_LEN, c->token}, val = {w.n, w.p};
        int rc = w.oom ? ENOMEM : mdb_put(t->txn, dbi, &key, &val, MDB_NOOVERWRITE);
        free(w.p);
        c->created = t->now;
        if (rc == 0)
            return audit(t, c->path, c->token, "created for", c->user);
        if (rc == ENOMEM)
            return VD_ENOMEM;
        if (rc != MDB_KEYEXIST)     /* a taken selector: draw again */
            return st_dberr(t, rc, FEEDS_DB);
    }
    return e == VD_OK ? VD_EEXISTS : e;
}

vd_err vd_store_feed_create(vd_store *s, const char *user, const char *path, vd_feed *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !user || !*user || !path || path[0] != '/' || path[strlen(path) - 1] != '/')
        return VD_EINVAL;
    if (strlen(user) > VD_STORE_MAX_OWNER || strlen(path) > VD_STORE_MAX_PATH)
        return VD_ETOOBIG;
    create_ctx c = {.user = user, .path = path};
    pthread_mutex_lock(&dbi_mu);
    vd_err e = vd_store_write(s, "(admin)", "FEED-CREATE", create_fn, &c);
    pthread_mutex_unlock(&dbi_mu);
    if (e == VD_OK && out) {
        memcpy(out->token, c.token, sizeof out->token);
        out->created = c.created;
        out->user = strdup(user);
        out->path = strdup(path);
        if (!out->user || !out->path) {
            vd_feed_clear(out);
            e = VD_ENOMEM;
        }
    }
    explicit_bzero(c.token, sizeof c.token);
    return e;
}

static vd_err revoke_fn(vd_txn *t, void *vctx)
{
    const char *token = vctx;
    MDB_dbi dbi;
    MDB_val key = {SEL_LEN, (void *)token}, v;
    vd_err e = feeds_dbi(t, false, &dbi);
    if (e)
        return e;
    int rc = mdb_get(t->txn, dbi, &key, &v);
    if (rc == MDB_NOTFOUND)
        return VD_ENOTFOUND;
    if (rc)
        return st_dberr(t, rc, FEEDS_DB);
    /* a copy: the record's page changes under the delete below */
    if (!(v.mv_data = st_arena_dup(t, v.mv_data, v.mv_size)))
        return VD_ENOMEM;
    const char *ver;
    vd_feed f = {0};
    if ((e = decode(&key, &v, &ver, &f)) != VD_OK)
        return e;
    if (!ct_equal(ver, token + SEL_LEN, VER_LEN))
        return VD_ENOTFOUND;
    rc = mdb_del(t->txn, dbi, &key, NULL);
    return rc ? st_dberr(t, rc, FEEDS_DB) : audit(t, f.path, token, "revoked, of", f.user);
}

vd_err vd_store_feed_revoke(vd_store *s, const char *token)
{
    if (!s)
        return VD_EINVAL;
    if (!vd_feed_token_valid(token))
        return VD_ENOTFOUND;
    pthread_mutex_lock(&dbi_mu);
    vd_err e = vd_store_write(s, "(admin)", "FEED-REVOKE", revoke_fn, (void *)token);
    pthread_mutex_unlock(&dbi_mu);
    return e;
}

typedef struct revoke_user_ctx {
    const char *user;
    size_t n;
} revoke_user_ctx;

static vd_err revoke_user_fn(vd_txn *t, void *vctx)
{
    revoke_user_ctx *c = vctx;
    MDB_dbi dbi;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    c->n = 0;
    vd_err e = feeds_dbi(t, false, &dbi);
    if (e)
        return e == VD_ENOTFOUND ? VD_OK : e;
    int rc = mdb_cursor_open(t->txn, dbi, &cur);
    for (int op = MDB_FIRST; !rc && (rc = mdb_cursor_get(cur, &k, &v, op)) == 0; op = MDB_NEXT) {
        const char *ver;
        vd_feed f = {0};
        if ((e = decode(&k, &v, &ver, &f)) != VD_OK)
            break;
        if (strcmp(f.user, c->user) != 0)
            continue;
        char sel[SEL_LEN + 1];
        memcpy(sel, k.mv_data, SEL_LEN);
        sel[SEL_LEN] = '\0';
        /* the audit copy first: the delete changes the page under f */
        char *path = st_arena_dup(t, f.path, strlen(f.path) + 1);
        if (!path) {
            e = VD_ENOMEM;
            break;
        }
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        c->n++;
        if ((e = audit(t, path, sel, "revoked (user deleted), of", c->user)) != VD_OK)
            break;
    }
    if (cur)
        mdb_cursor_close(cur);
    if (e)
        return e;
    return rc && rc != MDB_NOTFOUND ? st_dberr(t, rc, FEEDS_DB) : VD_OK;
}

vd_err vd_store_feed_revoke_user(vd_store *s, const char *user, size_t *n_out)
{
    revoke_user_ctx c = {.user = user};
    if (n_out)
        *n_out = 0;
    if (!s || !user || !*user)
        return VD_EINVAL;
    pthread_mutex_lock(&dbi_mu);
    vd_err e = vd_store_write(s, "(admin)", "FEED-REVOKE", revoke_user_fn, &c);
    pthread_mutex_unlock(&dbi_mu);
    if (e == VD_OK && n_out)
        *n_out = c.n;
    return e;
}

/* ---------- get, list ---------- */

/* Begin a read txn with the handle (dbi_mu held).  VD_ENOTFOUND: no
 * database yet (the txn is ended then). */
static vd_err read_begin(vd_store *s, vd_txn **t, MDB_dbi *dbi)
{
    vd_err e = vd_store_read(s, t);
    if (e)
        return e;
    if ((e = feeds_dbi(*t, false, dbi)) != VD_OK) {
        vd_txn_end(*t);
        *t = NULL;
    }
    return e;
}

/* End a read txn with a commit, so a handle opened in it stays open. */
static void read_end(vd_txn *t)
{
    if (t && t->txn) {
        mdb_txn_commit(t->txn);
        t->txn = NULL;
    }
    vd_txn_end(t);
}

static vd_err copy_out(const vd_feed *f, vd_feed *out)
{
    memcpy(out->token, f->token, sizeof out->token);
    out->created = f->created;
    out->user = strdup(f->user);
    out->path = strdup(f->path);
    if (out->user && out->path)
        return VD_OK;
    vd_feed_clear(out);
    return VD_ENOMEM;
}

vd_err vd_store_feed_get(vd_store *s, const char *token, vd_feed *out)
{
    memset(out, 0, sizeof *out);
    if (!s)
        return VD_EINVAL;
    if (!vd_feed_token_valid(token))
        return VD_ENOTFOUND;
    vd_txn *t = NULL;
    MDB_dbi dbi;
    pthread_mutex_lock(&dbi_mu);
    vd_err e = read_begin(s, &t, &dbi);
    if (e == VD_OK) {
        MDB_val key = {SEL_LEN, (void *)token}, v;
        int rc = mdb_get(t->txn, dbi, &key, &v);
        const char *ver;
        vd_feed f = {0};
        if (rc)
            e = rc == MDB_NOTFOUND ? VD_ENOTFOUND : st_dberr(t, rc, FEEDS_DB);
        else if ((e = decode(&key, &v, &ver, &f)) == VD_OK)
            e = ct_equal(ver, token + SEL_LEN, VER_LEN) ? copy_out(&f, out) : VD_ENOTFOUND;
        explicit_bzero(f.token, sizeof f.token);
    }
    read_end(t);
    pthread_mutex_unlock(&dbi_mu);
    return e;
}

vd_err vd_store_feed_list(vd_store *s, const char *user, vd_feed_cb cb, void *ctx)
{
    if (!s || !cb)
        return VD_EINVAL;
    vd_txn *t = NULL;
    MDB_dbi dbi;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    pthread_mutex_lock(&dbi_mu);
    vd_err e = read_begin(s, &t, &dbi);
    if (e == VD_ENOTFOUND) {            /* no feed was ever created */
        e = VD_OK;
        goto out;
    }
    int rc = e ? 0 : mdb_cursor_open(t->txn, dbi, &cur);
    if (rc)
        e = st_dberr(t, rc, FEEDS_DB);
    for (int op = MDB_FIRST; e == VD_OK && (rc = mdb_cursor_get(cur, &k, &v, op)) == 0;
         op = MDB_NEXT) {
        const char *ver;
        vd_feed f = {0};
        if ((e = decode(&k, &v, &ver, &f)) == VD_OK && (!user || strcmp(user, f.user) == 0))
            e = cb(&f, ctx);
    }
    if (e == VD_OK && rc && rc != MDB_NOTFOUND)
        e = st_dberr(t, rc, FEEDS_DB);
    if (cur)
        mdb_cursor_close(cur);
out:
    read_end(t);
    pthread_mutex_unlock(&dbi_mu);
    return e;
}
