/* test_store.c - unit tests of lib/store*.c (the LMDB store).  Each test
 * works in its own mkdtemp() directory, removed at the end.  Never includes
 * lmdb.h: everything goes through store.h. */
#include "check.h"
#include "hash.h"
#include "store.h"

#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define T0 ((vd_time)1700000000)
#define DAY ((vd_time)86400)

/* ---------- temp dirs and stores ---------- */
static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static char *tmpdir_new(void)
{
    char tmpl[] = "/tmp/vd-store-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static void tmpdir_free(char *d)
{
    if (d)
        nftw(d, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(d);
}

static vd_store *open_at(const char *dir, size_t map)
{
    vd_store_options o = {.initial_map_bytes = map, .no_sync = true};
    vd_store *s = NULL;
    vd_diag d = {0};
    if (vd_store_open(dir, &o, &s, &d))
        fprintf(stderr, "open %s: %s\n", dir, d.message);
    return s;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------- write jobs: one callback interprets them ---------- */
enum { J_MKCOL, J_PUT, J_DEL, J_RMCOL, J_MVCOL, J_PSET, J_PRM, J_PCP, J_PRINC,
       J_PRINCDEL, J_MASK, J_PUT_FAIL, J_NESTED };

typedef struct job {
    int op;
    const char *path, *path2, *name, *name2, *clark, *xml, *actor, *method;
    uint64_t id, id2;
    vd_coll_kind kind;
    uint32_t mask;
    vd_put put;
    vd_put_result res;
    vd_coll coll;
    int calls;
    vd_store *s;             /* J_NESTED */
    vd_err inner;
} job;

static vd_err run_job(vd_txn *t, void *ctx)
{
    job *j = ctx;
    j->calls++;
    switch (j->op) {
    case J_MKCOL:
        vd_coll_clear(&j->coll);
        return vd_store_coll_create(t, j->path, j->kind, "alice", j->mask, &j->coll);
    case J_PUT:
        return vd_store_res_put(t, &j->put, &j->res);
    case J_PUT_FAIL: {
        vd_err e = vd_store_res_put(t, &j->put, &j->res);
        return e ? e : VD_EINVAL;   /* the callback fails after writing */
    }
    case J_DEL:    return vd_store_res_delete(t, j->id, j->name);
    case J_RMCOL:  return vd_store_coll_delete(t, j->path);
    case J_MVCOL:  return vd_store_coll_move(t, j->path, j->path2);
    case J_PSET:   return vd_store_prop_set(t, j->id, j->name, j->clark, j->xml);
    case J_PRM:    return vd_store_prop_remove(t, j->id, j->name, j->clark);
    case J_PCP:    return vd_store_prop_copy(t, j->id, j->name, j->id2, j->name2);
    case J_PRINC:  return vd_store_principal_put(t, j->name, j->path, j->path2);
    case J_PRINCDEL: return vd_store_principal_delete(t, j->name);
    case J_MASK:   return vd_store_coll_set_comp_mask(t, j->id, j->mask);
    case J_NESTED: {
        job in = {.op = J_MASK, .id = j->id, .mask = 0};
        j->inner = vd_store_write(j->s, "x", "X", run_job, &in);
        vd_txn_end(t);                  /* a no-op on a write txn */
        return vd_store_coll_set_comp_mask(t, j->id, VD_COMP_VEVENT);
    }
    }
    return VD_EINVAL;
}

static vd_err jrun(vd_store *s, job *j)
{
    return vd_store_write(s, j->actor ? j->actor : "alice", j->method ? j->method : "TEST",
                          run_job, j);
}

static vd_err mkcol(vd_store *s, const char *path, vd_coll_kind kind, uint64_t *id)
{
    job j = {.op = J_MKCOL, .path = path, .kind = kind, .mask = VD_COMP_DEFAULT};
    vd_err e = jrun(s, &j);
    if (!e && id)
        *id = j.coll.id;
    vd_coll_clear(&j.coll);
    return e;
}

static vd_err put_full(vd_store *s, uint64_t id, const char *name, const char *data,
                       const char *uid, const vd_instance *in, size_t n, bool open,
                       vd_put_result *r)
{
    job j = {.op = J_PUT};
    j.put = (vd_put){.coll_id = id, .name = name, .data = data, .len = strlen(data),
                     .content_type = "text/calendar; charset=utf-8", .uid = uid,
                     .comp = VD_COMP_VEVENT, .inst = in, .n_inst = n,
                     .open_ended = open, .summary = "a visit"};
    vd_err e = jrun(s, &j);
    if (r)
        *r = j.res;
    return e;
}

static vd_err put(vd_store *s, uint64_t id, const char *name, const char *data)
{
    return put_full(s, id, name, data, NULL, NULL, 0, false, NULL);
}

static vd_err put_at(vd_store *s, uint64_t id, const char *name, vd_time a, vd_time b)
{
    vd_instance in = {a, b};
    return put_full(s, id, name, name, NULL, &in, 1, false, NULL);
}

static vd_err del(vd_store *s, uint64_t id, const char *name)
{
    job j = {.op = J_DEL, .id = id, .name = name};
    return jrun(s, &j);
}

static vd_err simple(vd_store *s, int op, const char *path, const char *path2)
{
    job j = {.op = op, .path = path, .path2 = path2};
    return jrun(s, &j);
}

/* ---------- reads ---------- */
static vd_err coll_get(vd_store *s, const char *path, vd_coll *out)
{
    vd_txn *t;
    memset(out, 0, sizeof *out);
    vd_err e = vd_store_read(s, &t);
    if (!e)
        e = vd_store_coll_get(t, path, out);
    vd_txn_end(t);
    return e;
}

static uint64_t coll_seq(vd_store *s, const char *path)
{
    vd_coll c;
    uint64_t seq = coll_get(s, path, &c) ? 0 : c.seq;
    vd_coll_clear(&c);
    return seq;
}

/* Stored data of a member (malloc'd) or NULL; *e gets the error. */
static char *res_data(vd_store *s, uint64_t id, const char *name, vd_err *err)
{
    vd_txn *t;
    vd_res r;
    char *out = NULL;
    vd_err e = vd_store_read(s, &t);
    if (!e && !(e = vd_store_res_get(t, id, name, &r)))
        out = strndup(r.data, r.len);
    vd_txn_end(t);
    if (err)
        *err = e;
    return out;
}

typedef struct strlist {
    char **v;
    size_t n, cap;
    int calls;
} strlist;

static void sl_add(strlist *l, const char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = strdup(s);
}

static void sl_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Join into out ("a,b,c"), sorted first when sort. */
static const char *sl_join(strlist *l, bool sort, char *out, size_t n)
{
    if (sort && l->n)
        qsort(l->v, l->n, sizeof *l->v, cmp_str);
    out[0] = 0;
    for (size_t i = 0; i < l->n; i++)
        snprintf(out + strlen(out), n - strlen(out), "%s%s", i ? "," : "", l->v[i]);
    return out;
}

static vd_err name_cb(const char *name, void *ctx)
{
    strlist *l = ctx;
    l->calls++;
    sl_add(l, name);
    return VD_OK;
}

static char candbuf[4096];

static const char *cands(vd_store *s, uint64_t id, vd_time a, vd_time b, int *calls, vd_err *err)
{
    vd_txn *t;
    strlist l = {0};
    vd_err e = vd_store_read(s, &t);
    if (!e)
        e = vd_store_time_candidates(t, id, a, b, name_cb, &l);
    vd_txn_end(t);
    if (calls)
        *calls = l.calls;
    if (err)
        *err = e;
    sl_join(&l, true, candbuf, sizeof candbuf);
    sl_free(&l);
    return candbuf;
}

static vd_err change_cb(const char *name, bool deleted, void *ctx)
{
    char b[300];
    snprintf(b, sizeof b, "%s%s", deleted ? "-" : "", name);
    sl_add(ctx, b);
    return VD_OK;
}

static char chgbuf[4096];

static const char *changes(vd_store *s, uint64_t id, uint64_t since, size_t limit,
                           uint64_t *seq, bool *trunc, vd_err *err)
{
    vd_txn *t;
    strlist l = {0};
    vd_err e = vd_store_read(s, &t);
    if (!e)
        e = vd_store_changes(t, id, since, limit, change_cb, &l, seq, trunc);
    vd_txn_end(t);
    if (err)
        *err = e;
    sl_join(&l, false, chgbuf, sizeof chgbuf);
    sl_free(&l);
    return e ? "ERR" : chgbuf;
}

/* ---------- tests ---------- */
static void test_open_reopen(void)
{
    char *dir = tmpdir_new();
    vd_store *s = open_at(dir, 0);
    uint64_t id = 0;
    vd_put_result r;
    char etag[17];
    CHECK(s != NULL);
    CHECK_INT(mkcol(s, "/calendars/alice/", VD_COLL_HOME, NULL), VD_OK);
    CHECK_INT(mkcol(s, "/calendars/alice/visits/", VD_COLL_CALENDAR, &id), VD_OK);
    CHECK_INT(put_full(s, id, "a.ics", "BEGIN:VCALENDAR", "uid-a", NULL, 0, false, &r), VD_OK);
    vd_store_close(s);

    s = open_at(dir, 0);
    CHECK(s != NULL);
    vd_coll c;
    CHECK_INT(coll_get(s, "/calendars/alice/visits/", &c), VD_OK);
    CHECK_INT(c.id, id);
    CHECK_INT(c.kind, VD_COLL_CALENDAR);
    CHECK_STR(c.owner, "alice");
    CHECK_INT(c.comp_mask, VD_COMP_DEFAULT);
    vd_coll_clear(&c);
    vd_txn *t;
    vd_res res;
    CHECK_INT(vd_store_read(s, &t), VD_OK);
    CHECK(!vd_txn_is_write(t));
    CHECK_INT(vd_store_res_get(t, id, "a.ics", &res), VD_OK);
    vd_etag_of("BEGIN:VCALENDAR", 15, etag);
    CHECK_STR(res.etag, etag);
    CHECK_STR(res.etag, r.etag);
    CHECK_STR(res.uid, "uid-a");
    CHECK_STR(res.name, "a.ics");
    CHECK_STR(res.content_type, "text/calendar; charset=utf-8");
    CHECK_INT(res.len, 15);
    CHECK(res.data && memcmp(res.data, "BEGIN:VCALENDAR", 15) == 0);
    CHECK_INT(res.comp, VD_COMP_VEVENT);
    /* a mutator in a read txn is refused */
    vd_put p = {.coll_id = id, .name = "x", .data = "x", .len = 1};
    CHECK_INT(vd_store_res_put(t, &p, NULL), VD_EINVAL);
    vd_txn_end(t);
    vd_txn_end(NULL);
    vd_store_stats st;
    CHECK_INT(vd_store_stats_get(s, &st), VD_OK);
    CHECK_INT(st.collections, 2);
    CHECK_INT(st.resources, 1);
    CHECK(st.used_bytes > 0 && st.used_bytes <= st.map_bytes);
    CHECK_INT(st.map_bytes, (size_t)256 << 20);
    vd_store_close(s);
    vd_store_close(NULL);

    /* a fresh directory below a missing one is created */
    char sub[512];
    snprintf(sub, sizeof sub, "%s/x/y", dir);
    s = open_at(sub, 1 << 20);
    CHECK(s != NULL);
    vd_store_close(s);
    tmpdir_free(dir);
}

static void test_schema(void)
{
    char *dir = tmpdir_new();
    vd_store *s = open_at(dir, 0);
    CHECK(s != NULL);
    vd_store_close(s);
    vd_store_options o = {.schema_version = 2, .no_sync = true};
    vd_diag d = {0};
    s = (vd_store *)1;
    CHECK_INT(vd_store_open(dir, &o, &s, &d), VD_EINVAL);
    CHECK(s == NULL);
    CHECK(strstr(d.message, "version 1") != NULL);
    CHECK(strstr(d.message, "needs 2") != NULL);
    s = open_at(dir, 0);          /* the mismatch changed nothing */
    CHECK(s != NULL);
    vd_store_close(s);
    tmpdir_free(dir);
}

static vd_err child_cb(const vd_coll *c, void *ctx)
{
    sl_add(ctx, c->path);
    return VD_OK;
}

static const char *children(vd_store *s, const char *path)
{
    static char buf[1024];
    vd_txn *t;
    strlist l = {0};
    vd_err e = vd_store_read(s, &t);
    if (!e)
        e = vd_store_coll_children(t, path, child_cb, &l);
    vd_txn_end(t);
    sl_join(&l, false, buf, sizeof buf);
    sl_free(&l);
    return e ? "ERR" : buf;
}

static bool not_b_cal(const char *path, void *ctx)
{
    (void)ctx;
    return strstr(path, "/b-cal/") == NULL;
}

static const char *descendants(vd_store *s, const char *path, int depth, vd_coll_want_cb want)
{
    static char buf[1024];
    vd_txn *t;
    strlist l = {0};
    vd_err e = vd_store_read(s, &t);
    if (!e)
        e = vd_store_coll_descendants(t, path, depth, want, child_cb, &l);
    vd_txn_end(t);
    sl_join(&l, false, buf, sizeof buf);
    sl_free(&l);
    return e == VD_EINVAL ? "EINVAL" : e ? "ERR" : buf;
}

static void test_collections_create(vd_store *s)
{
    uint64_t home, cal;
    vd_coll c;
    CHECK_INT(mkcol(s, "/calendars/alice/", VD_COLL_HOME, &home), VD_OK);
    uint64_t hseq = coll_seq(s, "/calendars/alice/");
    CHECK_INT(mkcol(s, "/calendars/alice/visits/", VD_COLL_CALENDAR, &cal), VD_OK);
    CHECK(coll_seq(s, "/calendars/alice/") > hseq);          /* parent bumped */
    CHECK_INT(mkcol(s, "/calendars/alice/visits/", VD_COLL_CALENDAR, NULL), VD_EEXISTS);
    CHECK_INT(mkcol(s, "/calendars/alice/visits/sub/", VD_COLL_CALENDAR, NULL), VD_EFORBIDDEN);
    CHECK_INT(mkcol(s, "/calendars/alice/visits/sub/", VD_COLL_PLAIN, NULL), VD_EFORBIDDEN);
    CHECK_INT(mkcol(s, "/nope/x/", VD_COLL_PLAIN, NULL), VD_ECONFLICT);
    CHECK_INT(mkcol(s, "/calendars/bob/", VD_COLL_PLAIN, NULL), VD_ECONFLICT);
    CHECK_INT(mkcol(s, "/calendars/alice/x", VD_COLL_PLAIN, NULL), VD_EINVAL);
    CHECK_INT(mkcol(s, "/calendars//x/", VD_COLL_PLAIN, NULL), VD_EINVAL);
    CHECK_INT(mkcol(s, "/calendars/alice/../", VD_COLL_PLAIN, NULL), VD_EINVAL);
    CHECK_INT(mkcol(s, "/calendars/alice/y/", (vd_coll_kind)9, NULL), VD_EINVAL);
    char longp[600];
    memset(longp, 'a', sizeof longp);
    longp[0] = '/';
    longp[598] = '/';
    longp[599] = 0;
    CHECK_INT(mkcol(s, longp, VD_COLL_HOME, NULL), VD_ETOOBIG);
    /* a member resource and a child collection cannot share a name */
    CHECK_INT(put(s, home, "work", "x"), VD_OK);
    CHECK_INT(mkcol(s, "/calendars/alice/work/", VD_COLL_CALENDAR, NULL), VD_EEXISTS);
    CHECK_INT(put(s, home, "visits", "x"), VD_EEXISTS);
    CHECK_INT(del(s, home, "work"), VD_OK);
    CHECK_INT(mkcol(s, "/calendars/bob/", VD_COLL_HOME, NULL), VD_OK);
    CHECK_INT(mkcol(s, "/calendars/alice/b-cal/", VD_COLL_CALENDAR, NULL), VD_OK);
    CHECK_INT(mkcol(s, "/calendars/alice/visits-old/", VD_COLL_CALENDAR, NULL), VD_OK);
    CHECK_INT(mkcol(s, "/calendars/alice/zz/", VD_COLL_PLAIN, NULL), VD_OK);
    CHECK_INT(mkcol(s, "/calendars/alice/zz/deep/", VD_COLL_CALENDAR, NULL), VD_OK);
    CHECK_STR(children(s, "/calendars/alice/"),
              "/calendars/alice/b-cal/,/calendars/alice/visits-old/,"
              "/calendars/alice/visits/,/calendars/alice/zz/");
    CHECK_STR(children(s, "/calendars/"), "/calendars/alice/,/calendars/bob/");
    CHECK_STR(children(s, "/"), "");
    CHECK_STR(children(s, "/calendars/alice/zz/"), "/calendars/alice/zz/deep/");
    CHECK_STR(children(s, "/calendars/alice/visits/"), "");
    /* one pass over a subtree at a given depth, filtered before decoding */
    CHECK_STR(descendants(s, "/calendars/", 2, NULL),
              "/calendars/alice/b-cal/,/calendars/alice/visits-old/,"
              "/calendars/alice/visits/,/calendars/alice/zz/");
    CHECK_STR(descendants(s, "/calendars/", 2, not_b_cal),
              "/calendars/alice/visits-old/,/calendars/alice/visits/,/calendars/alice/zz/");
    CHECK_STR(descendants(s, "/calendars/", 1, NULL), "/calendars/alice/,/calendars/bob/");
    CHECK_STR(descendants(s, "/calendars/", 3, NULL), "/calendars/alice/zz/deep/");
    CHECK_STR(descendants(s, "/calendars/alice/", 2, NULL), "/calendars/alice/zz/deep/");
    CHECK_STR(descendants(s, "/calendars/bob/", 1, NULL), "");
    CHECK_STR(descendants(s, "/calendars/", 0, NULL), "EINVAL");
    CHECK_STR(descendants(s, "/calendars", 1, NULL), "EINVAL");
    CHECK_INT(coll_get(s, "/calendars/alice/visits", &c), VD_ENOTFOUND);
    CHECK_INT(coll_get(s, "/calendars/", &c), VD_ENOTFOUND);
    /* comp mask update bumps seq */
    uint64_t seq = coll_seq(s, "/calendars/alice/visits/");
    job j = {.op = J_MASK, .id = cal, .mask = VD_COMP_VTODO};
    CHECK_INT(jrun(s, &j), VD_OK);
    CHECK_INT(coll_get(s, "/calendars/alice/visits/", &c), VD_OK);
    CHECK_INT(c.comp_mask, VD_COMP_VTODO);
    CHECK(c.seq > seq);
    CHECK(c.modified >= c.created && c.created > 0);
    vd_coll_clear(&c);
}

static void test_collections_move_delete(vd_store *s)
{
    vd_coll zz, deep, c;
    vd_txn *t;
    CHECK_INT(coll_get(s, "/calendars/alice/zz/", &zz), VD_OK);
    CHECK_INT(coll_get(s, "/calendars/alice/zz/deep/", &deep), VD_OK);
    vd_instance in = {T0, T0 + 60};
    CHECK_INT(put_full(s, deep.id, "m.ics", "M", "uid-m", &in, 1, false, NULL), VD_OK);
    CHECK_INT(put(s, zz.id, "n.txt", "N"), VD_OK);
    job pj = {.op = J_PSET, .id = deep.id, .clark = "{DAV:}displayname", .xml = "<d/>"};
    CHECK_INT(jrun(s, &pj), VD_OK);

    CHECK_INT(simple(s, J_MVCOL, "/calendars/alice/zz/", "/calendars/alice/visits/"), VD_EEXISTS);
    CHECK_INT(simple(s, J_MVCOL, "/calendars/alice/zz/", "/calendars/alice/zz/deep/x/"),
              VD_EFORBIDDEN);
    CHECK_INT(simple(s, J_MVCOL, "/calendars/alice/nope/", "/calendars/alice/q/"), VD_ENOTFOUND);
    CHECK_INT(simple(s, J_MVCOL, "/calendars/alice/zz/", "/missing/q/"), VD_ECONFLICT);
    CHECK_INT(simple(s, J_MVCOL, "/calendars/alice/zz/", "/calendars/alice/visits/q/"),
              VD_EFORBIDDEN);
    uint64_t pseq = coll_seq(s, "/calendars/alice/");
    CHECK_INT(simple(s, J_MVCOL, "/calendars/alice/zz/", "/calendars/alice/yy/"), VD_OK);
    CHECK(coll_seq(s, "/calendars/alice/") > pseq);
    CHECK_INT(coll_get(s, "/calendars/alice/zz/", &c), VD_ENOTFOUND);
    CHECK_INT(coll_get(s, "/calendars/alice/zz/deep/", &c), VD_ENOTFOUND);
    CHECK_INT(coll_get(s, "/calendars/alice/yy/", &c), VD_OK);
    CHECK_INT(c.id, zz.id);
    vd_coll_clear(&c);
    CHECK_INT(coll_get(s, "/calendars/alice/yy/deep/", &c), VD_OK);
    CHECK_INT(c.id, deep.id);
    vd_coll_clear(&c);
    CHECK_INT(vd_store_read(s, &t), VD_OK);
    CHECK_INT(vd_store_coll_get_by_id(t, deep.id, &c), VD_OK);
    CHECK_STR(c.path, "/calendars/alice/yy/deep/");
    vd_coll_clear(&c);
    vd_txn_end(t);
    vd_err e;
    char *d = res_data(s, deep.id, "m.ics", &e);
    CHECK_STR(d, "M");
    free(d);
    CHECK_STR(children(s, "/calendars/alice/"),
              "/calendars/alice/b-cal/,/calendars/alice/visits-old/,"
              "/calendars/alice/visits/,/calendars/alice/yy/");
    vd_coll_clear(&zz);
    vd_coll_clear(&deep);
}

/* After the move above: delete the subtree with members and every index. */
static void test_collections_delete(vd_store *s)
{
    vd_coll zz, deep, c;
    vd_txn *t;
    vd_err e;
    CHECK_INT(coll_get(s, "/calendars/alice/yy/", &zz), VD_OK);
    CHECK_INT(coll_get(s, "/calendars/alice/yy/deep/", &deep), VD_OK);
    vd_store_stats before, after;
    CHECK_INT(vd_store_stats_get(s, &before), VD_OK);
    CHECK_INT(simple(s, J_RMCOL, "/calendars/alice/yy/", NULL), VD_OK);
    CHECK_INT(simple(s, J_RMCOL, "/calendars/alice/yy/", NULL), VD_ENOTFOUND);
    CHECK_INT(vd_store_stats_get(s, &after), VD_OK);
    CHECK_INT(after.collections, before.collections - 2);
    CHECK_INT(after.resources, before.resources - 2);
    CHECK_INT(coll_get(s, "/calendars/alice/yy/deep/", &c), VD_ENOTFOUND);
    CHECK(res_data(s, deep.id, "m.ics", &e) == NULL);
    CHECK_INT(e, VD_ENOTFOUND);
    CHECK(res_data(s, zz.id, "n.txt", &e) == NULL);
    CHECK_INT(vd_store_read(s, &t), VD_OK);
    char *name = NULL;
    const char *xml;
    size_t n;
    CHECK_INT(vd_store_uid_lookup(t, deep.id, "uid-m", &name), VD_ENOTFOUND);
    CHECK_INT(vd_store_prop_get(t, deep.id, NULL, "{DAV:}displayname", &xml), VD_ENOTFOUND);
    CHECK_INT(vd_store_coll_get_by_id(t, deep.id, &c), VD_ENOTFOUND);
    CHECK_INT(vd_store_coll_count(t, deep.id, &n), VD_ENOTFOUND);
    vd_txn_end(t);
    cands(s, deep.id, VD_TIME_MIN, VD_TIME_MAX, NULL, &e);
    CHECK_INT(e, VD_ENOTFOUND);
    changes(s, deep.id, 0, 0, NULL, NULL, &e);
    CHECK_INT(e, VD_ENOTFOUND);
    /* recreated at the same path: a new id, empty, a seq beyond the old one */
    uint64_t nid;
    CHECK_INT(mkcol(s, "/calendars/alice/yy/", VD_COLL_PLAIN, &nid), VD_OK);
    CHECK(nid != zz.id);
    CHECK(coll_seq(s, "/calendars/alice/yy/") > zz.seq);
    CHECK_INT(vd_store_read(s, &t), VD_OK);
    CHECK_INT(vd_store_coll_count(t, nid, &n), VD_OK);
    CHECK_INT(n, 0);
    vd_txn_end(t);
    vd_coll_clear(&zz);
    vd_coll_clear(&deep);
}

static void test_collections(void)
{
    char *dir = tmpdir_new();
    vd_store *s = open_at(dir, 0);
    test_collections_create(s);
    test_collections_move_delete(s);
    test_collections_delete(s);
    vd_store_close(s);
    tmpdir_free(dir);
}

static vd_err list_cb(const vd_res *r, void *ctx)
{
    sl_add(ctx, r->name);
    return VD_OK;
}

static void test_resources(void)
{
    char *dir = tmpdir_new();
    vd_store *s = open_at(dir, 0);
    uint64_t id;
    vd_put_result r1, r2, r3;
    char etag[17];
    vd_err e;
    mkcol(s, "/calendars/alice/", VD_COLL_HOME, NULL);
    CHECK_INT(mkcol(s, "/calendars/alice/c/", VD_COLL_CALENDAR, &id), VD_OK);
    CHECK_INT(put_full(s, id, "b.ics", "one", "u1", NULL, 0, false, &r1), VD_OK);
    CHECK(r1.created);
    vd_etag_of("one", 3, etag);
    CHECK_STR(r1.etag, etag);
    CHECK_STR(r1.old_etag, "");
    CHECK_INT(put_full(s, id, "b.ics", "two", "u1", NULL, 0, false, &r2), VD_OK);
    CHECK(!r2.created);
    CHECK_STR(r2.old_etag, r1.etag);
    CHECK(strcmp(r2.etag, r1.etag) != 0);
    CHECK_INT(put_full(s, id, "b.ics", "two", "u1", NULL, 0, false, &r3), VD_OK);
    CHECK_STR(r3.etag, r2.etag);                 /* same bytes, same etag */
    char *d = res_data(s, id, "b.ics", &e);
    CHECK_STR(d, "two");
    free(d);
    CHECK_INT(put(s, id, "a.ics", "A"), VD_OK);
    CHECK_INT(put(s, id, "c.ics", "C"), VD_OK);
    /* bytes with a NUL inside round-trip */
    job j = {.op = J_PUT};
    j.put = (vd_put){.coll_id = id, .name = "bin", .data = "x\0y", .len = 3};
    CHECK_INT(jrun(s, &j), VD_OK);
    vd_txn *t;
    vd_res r;
    size_t n;
    strlist l = {0};
    char buf[256];
    CHECK_INT(vd_store_read(s, &t), VD_OK);
    CHECK_INT(vd_store_res_get(t, id, "bin", &r), VD_OK);
    CHECK(r.len == 3 && memcmp(r.data, "x\0y", 3) == 0);
    CHECK(r.uid == NULL);
    CHECK_INT(vd_store_res_get(t, id, "b.ics", &r), VD_OK);
    CHECK(r.created <= r.modified);
    CHECK_INT(vd_store_res_list(t, id, list_cb, &l), VD_OK);
    CHECK_STR(sl_join(&l, false, buf, sizeof buf), "a.ics,b.ics,bin,c.ics");
    CHECK_INT(vd_store_coll_count(t, id, &n), VD_OK);
    CHECK_INT(n, 4);
    vd_txn_end(t);
    sl_free(&l);
    CHECK_INT(del(s, id, "b.ics"), VD_OK);
    CHECK(res_data(s, id, "b.ics", &e) == NULL);
    CHECK_INT(e, VD_ENOTFOUND);
    CHECK_INT(del(s, id, "b.ics"), VD_ENOTFOUND);
    CHECK_INT(put_full(s, id, "b.ics", "again", NULL, NULL, 0, false, &r1), VD_OK);
    CHECK(r1.created);
    CHECK_INT(put(s, id, "", "x"), VD_EINVAL);
    CHECK_INT(put(s, id, "a/b", "x"), VD_EINVAL);
    CHECK_INT(put(s, id, "..", "x"), VD_EINVAL);
    char longn[300];
    memset(longn, 'n', sizeof longn - 1);
    longn[sizeof longn - 1] = 0;
    CHECK_INT(put(s, id, longn, "x"), VD_ETOOBIG);
    CHECK(res_data(s, id, longn, &e) == NULL);
    CHECK_INT(e, VD_ENOTFOUND);
    CHECK_INT(put(s, 9999, "a", "x"), VD_ENOTFOUND);
    CHECK_INT(del(s, 9999, "a"), VD_ENOTFOUND);
    vd_store_close(s);
    tmpdir_free(dir);
}

static vd_err lookup(vd_store *s, uint64_t id, const char *uid, char *out, size_t n)
{
    vd_txn *t;
    char *name = NULL;
    vd_err e = vd_store_read(s, &t);
    if (!e)
        e = vd_store_uid_lookup(t, id, uid, &name);
    vd_txn_end(t);
    snprintf(out, n, "%s", name ? name : "");
    free(name);
    return e;
}

static void test_uid(void)
{
    char *dir = tmpdir_new();
    vd_store *s = open_at(dir, 0);
    uint64_t id, id2;
    char nm[300];
    mkcol(s, "/calendars/alice/", VD_COLL_HOME, NULL);
    mkcol(s, "/calendars/alice/c/", VD_COLL_CALENDAR, &id);
    mkcol(s, "/calendars/alice/d/", VD_COLL_CALENDAR, &id2);
    put_full(s, id, "a.ics", "A", "U1", NULL, 0, false, NULL);
    put_full(s, id, "b.ics", "B", "U2", NULL, 0, false, NULL);
    CHECK_INT(lookup(s, id, "U1", nm, sizeof nm), VD_OK);
    CHECK_STR(nm, "a.ics");
    CHECK_INT(lookup(s, id, "U2", nm, sizeof nm), VD_OK);
    CHECK_STR(nm, "b.ics");
    CHECK_INT(lookup(s, id, "U", nm, sizeof nm), VD_ENOTFOUND);
    CHECK_INT(lookup(s, id2, "U1", nm, sizeof nm), VD_ENOTFOUND);
    put_full(s, id, "a.ics", "A2", "U3", NULL, 0, false, NULL);    /* uid changed */
    CHECK_INT(lookup(s, id, "U1", nm, sizeof nm), VD_ENOTFOUND);
    CHECK_INT(lookup(s, id, "U3", nm, sizeof nm), VD_OK);
    CHECK_STR(nm, "a.ics");
    CHECK_INT(del(s, id, "a.ics"), VD_OK);
    CHECK_INT(lookup(s, id, "U3", nm, sizeof nm), VD_ENOTFOUND);
    /* UIDs longer than a key are hashed, and confirmed on lookup */
    char lu[1001], lu2[1001];
    memset(lu, 'u', 1000);
    lu[1000] = 0;
    memcpy(lu2, lu, sizeof lu);
    lu2[999] = 'v';
    CHECK_INT(put_full(s, id, "long.ics", "L", lu, NULL, 0, false, NULL), VD_OK);
    CHECK_INT(lookup(s, id, lu, nm, sizeof nm), VD_OK);
    CHECK_STR(nm, "long.ics");
    CHECK_INT(lookup(s, id, lu2, nm, sizeof nm), VD_ENOTFOUND);
    CHECK_INT(del(s, id, "long.ics"), VD_OK);
    CHECK_INT(lookup(s, id, lu, nm, sizeof nm), VD_ENOTFOUND);
    vd_store_close(s);
    tmpdir_free(dir);
}

static void test_time(void)
{
    char *dir = tmpdir_new();
    vd_store *s = open_at(dir, 0);
    uint64_t id;
    int calls;
    mkcol(s, "/calendars/alice/", VD_COLL_HOME, NULL);
    mkcol(s, "/calendars/alice/c/", VD_COLL_CALENDAR, &id);
    CHECK_INT(put_at(s, id, "e1", T0, T0 + 1000), VD_OK);
    CHECK_INT(put_at(s, id, "e2", T0 + 1000, T0 + 2000), VD_OK);
    CHECK_INT(put_at(s, id, "e3", T0 + 500, T0 + 500), VD_OK);             /* zero length */
    CHECK_INT(put_at(s, id, "long", T0 - 20 * DAY, T0 + 10), VD_OK);
    CHECK_INT(put_at(s, id, "huge", T0 + 400 * DAY, T0 + 440 * DAY), VD_OK); /* 40 days */
    CHECK_INT(put_at(s, id, "far", T0 + 5000 * DAY, T0 + 5000 * DAY + 1), VD_OK);
    vd_instance rec[300];
    for (int k = 0; k < 300; k++)
        rec[k] = (vd_instance){T0 + k * DAY + 5000, T0 + k * DAY + 5100};
    CHECK_INT(put_full(s, id, "rec", "R", NULL, rec, 300, false, NULL), VD_OK);
    CHECK_INT(put_full(s, id, "open", "O", NULL, NULL, 0, true, NULL), VD_OK);
    CHECK_INT(put_full(s, id, "none", "N", NULL, NULL, 0, false, NULL), VD_OK);

    CHECK_STR(cands(s, id, T0, T0 + 1000, NULL, NULL), "e1,e3,huge,long,open");
    CHECK_STR(cands(s, id, T0 + 1000, T0 + 1001, NULL, NULL), "e2,huge,open");
    CHECK_STR(cands(s, id, T0 + 500, T0 + 501, NULL, NULL), "e1,e3,huge,open");
    CHECK_STR(cands(s, id, T0 + 501, T0 + 600, NULL, NULL), "e1,huge,open");
    CHECK_STR(cands(s, id, T0 + 10, T0 + 20, NULL, NULL), "e1,huge,open");
    CHECK_STR(cands(s, id, T0 + 9, T0 + 10, NULL, NULL), "e1,huge,long,open");
    CHECK_STR(cands(s, id, T0 - 100 * DAY, T0 - 99 * DAY, NULL, NULL), "huge,open");
    CHECK_STR(cands(s, id, T0 - 19 * DAY, T0 - 18 * DAY, NULL, NULL), "huge,long,open");
    CHECK_STR(cands(s, id, T0 + 5000 * DAY, T0 + 5001 * DAY, NULL, NULL), "far,huge,open");
    /* a recurring member with many instances in the window is reported once */
    CHECK_STR(cands(s, id, T0 + 5000, T0 + 200 * DAY, &calls, NULL), "huge,open,rec");
    CHECK_INT(calls, 3);
    CHECK_STR(cands(s, id, T0 + 5100, T0 + DAY + 5000, NULL, NULL), "huge,open");
    CHECK_STR(cands(s, id, VD_TIME_MIN, VD_TIME_MAX, &calls, NULL),
              "e1,e2,e3,far,huge,long,open,rec");
    CHECK_INT(calls, 8);
    /* replace moves the instances; delete drops them */
    CHECK_INT(put_at(s, id, "e1", T0 + 50000, T0 + 50100), VD_OK);
    CHECK_STR(cands(s, id, T0, T0 + 1000, NULL, NULL), "e3,huge,long,open");
    CHECK_STR(cands(s, id, T0 + 50000, T0 + 50001, NULL, NULL), "e1,huge,open");
    CHECK_INT(del(s, id, "rec"), VD_OK);
    CHECK_STR(cands(s, id, T0 + 5000, T0 + 200 * DAY, NULL, NULL), "e1,huge,open");
    CHECK_INT(put_at(s, id, "open", T0 + 7 * DAY, T0 + 7 * DAY + 1), VD_OK); /* no longer open */
    CHECK_STR(cands(s, id, T0 + 3 * DAY, T0 + 4 * DAY, NULL, NULL), "huge");
    vd_store_close(s);
    tmpdir_free(dir);
}

static uint64_t change_seq_of(vd_store *s, uint64_t id, const char *name)
{
    vd_txn *t;
    vd_res r;
    uint64_t seq = 0;
    if (!vd_store_read(s, &t) && !vd_store_res_get(t, id, name, &r))
        seq = r.change_seq;
    vd_txn_end(t);
    return seq;
}

static void test_changes(void)
{
    char *dir = tmpdir_new();
    vd_store *s = open_at(dir, 0);
    const char *p = "/calendars/alice/c/";
    uint64_t id, id2, seq, t1, t2;
    bool tr;
    vd_err e;
    mkcol(s, "/calendars/alice/", VD_COLL_HOME, NULL);
    mkcol(s, p, VD_COLL_CALENDAR, &id);
    uint64_t s0 = coll_seq(s, p);
    CHECK_STR(changes(s, id, 0, 0, &seq, &tr, NULL), "");
    CHECK_INT(seq, s0);
    CHECK(!tr);
    put(s, id, "a", "1");
    put(s, id, "b", "1");
    put(s, id, "c", "1");
    t1 = coll_seq(s, p);
    CHECK(t1 > s0);
    CHECK_INT(change_seq_of(s, id, "c"), t1);
    CHECK_STR(changes(s, id, 0, 0, &seq, &tr, NULL), "a,b,c");
    CHECK_INT(seq, t1);
    CHECK_STR(changes(s, id, s0, 0, NULL, NULL, NULL), "a,b,c");
    put(s, id, "b", "2");
    del(s, id, "c");
    put(s, id, "d", "1");
    CHECK_STR(changes(s, id, t1, 0, NULL, NULL, NULL), "b,-c,d");
    CHECK_STR(changes(s, id, 0, 0, NULL, NULL, NULL), "a,b,d");
    put(s, id, "c", "new");                  /* recreated: tombstone gone */
    CHECK_STR(changes(s, id, t1, 0, NULL, NULL, NULL), "b,d,c");
    CHECK_STR(changes(s, id, 0, 0, NULL, NULL, NULL), "a,b,d,c");
    del(s, id, "a");
    CHECK_STR(changes(s, id, 0, 0, NULL, NULL, NULL), "b,d,c");
    t2 = coll_seq(s, p);
    /* no change: empty, complete, same token */
    CHECK_STR(changes(s, id, t2, 0, &seq, &tr, NULL), "");
    CHECK_INT(seq, t2);
    CHECK(!tr);
    /* truncation and continuation */
    CHECK_STR(changes(s, id, 0, 2, &seq, &tr, NULL), "b,d");
    CHECK(tr);
    CHECK_INT(seq, change_seq_of(s, id, "d"));
    CHECK_STR(changes(s, id, seq, 2, &seq, &tr, NULL), "c,-a");
    CHECK(!tr);
    CHECK_INT(seq, t2);
    CHECK_STR(changes(s, id, t1, 1, &seq, &tr, NULL), "b");
    CHECK(tr);
    CHECK_STR(changes(s, id, seq, 1, &seq, &tr, NULL), "d");
    CHECK_STR(changes(s, id, seq, 1, &seq, &tr, NULL), "c");
    CHECK_STR(changes(s, id, seq, 1, &seq, &tr, NULL), "-a");
    CHECK(!tr);             /* limit reached exactly, nothing after it */
    CHECK_INT(seq, t2);
    /* tokens from the future or from before the collection are refused */
    changes(s, id, t2 + 1, 0, NULL, NULL, &e);
    CHECK_INT(e, VD_EINVAL);
    mkcol(s, "/calendars/alice/d/", VD_COLL_CALENDAR, &id2);
    changes(s, id2, t1, 0, NULL, NULL, &e);
    CHECK_INT(e, VD_EINVAL);
    CHECK_STR(changes(s, id2, coll_seq(s, "/calendars/alice/d/"), 0, NULL, NULL, &e), "");
    CHECK_INT(e, VD_OK);
    /* a collection property change moves the token, no member reported */
    job j = {.op = J_PSET, .id = id, .clark = "{DAV:}displayname", .xml = "<x/>"};
    CHECK_INT(jrun(s, &j), VD_OK);
    CHECK_STR(changes(s, id, t2, 0, &seq, &tr, NULL), "");
    CHECK(seq > t2);
    CHECK_INT(seq, coll_seq(s, p));
    vd_store_close(s);
    tmpdir_free(dir);
}

static vd_err prop_cb(const char *clark, const char *xml, void *ctx)
{
    char b[600];
    snprintf(b, sizeof b, "%s=%s", clark, xml);
    sl_add(ctx, b);
    return VD_OK;
}

static const char *props(vd_store *s, uint64_t id, const char *name)
{
    static char buf[2048];
    vd_txn *t;
    strlist l = {0};
    vd_err e = vd_store_read(s, &t);
    if (!e)
        e = vd_store_prop_list(t, id, name, prop_cb, &l);
    vd_txn_end(t);
    sl_join(&l, false, buf, sizeof buf);
    sl_free(&l);
    return e ? "ERR" : buf;
}

static vd_err pset(vd_store *s, uint64_t id, const char *name, const char *clark, const char *xml)
{
    job j = {.op = J_PSET, .id = id, .name = name, .clark = clark, .xml = xml};
    return jrun(s, &j);
}

static void test_props(void)
{
    char *dir = tmpdir_new();
    vd_store *s = open_at(dir, 0);
    const char *p = "/calendars/alice/c/";
    const char *color = "{http://apple.com/ns/ical/}calendar-color";
    uint64_t id, id2;
    mkcol(s, "/calendars/alice/", VD_COLL_HOME, NULL);
    mkcol(s, p, VD_COLL_CALENDAR, &id);
    mkcol(s, "/calendars/alice/d/", VD_COLL_CALENDAR, &id2);
    uint64_t seq = coll_seq(s, p);
    CHECK_INT(pset(s, id, NULL, color, "<x:calendar-color xmlns:x=\"http://apple.com/ns/ical/\">#FF0000</x:calendar-color>"), VD_OK);
    CHECK(coll_seq(s, p) > seq);
    CHECK_INT(pset(s, id, NULL, "{DAV:}displayname", "<D:displayname xmlns:D=\"DAV:\">Visits</D:displayname>"), VD_OK);
    CHECK_INT(pset(s, id, NULL, "{DAV:}displayname", "<D:displayname xmlns:D=\"DAV:\">Work</D:displayname>"), VD_OK);
    vd_txn *t;
    const char *xml;
    CHECK_INT(vd_store_read(s, &t), VD_OK);
    CHECK_INT(vd_store_prop_get(t, id, NULL, "{DAV:}displayname", &xml), VD_OK);
    CHECK_STR(xml, "<D:displayname xmlns:D=\"DAV:\">Work</D:displayname>");
    CHECK_INT(vd_store_prop_get(t, id, NULL, "{DAV:}nope", &xml), VD_ENOTFOUND);
    vd_txn_end(t);
    CHECK_STR(props(s, id, NULL),
              "{DAV:}displayname=<D:displayname xmlns:D=\"DAV:\">Work</D:displayname>,"
              "{http://apple.com/ns/ical/}calendar-color=<x:calendar-color xmlns:x=\"http://apple.com/ns/ical/\">#FF0000</x:calendar-color>");
    /* member properties are separate from the collection's */
    put(s, id, "a.ics", "A");
    put(s, id, "b.ics", "B");
    CHECK_INT(pset(s, id, "a.ics", "{urn:x}p", "<p1/>"), VD_OK);
    CHECK_INT(pset(s, id, "a.ics", "{urn:x}q", "<q1/>"), VD_OK);
    CHECK_INT(pset(s, id, "b.ics", "{urn:x}z", "<z/>"), VD_OK);
    CHECK_INT(pset(s, id, "zz.ics", "{urn:x}p", "<p/>"), VD_ENOTFOUND);
    CHECK_INT(pset(s, 999, NULL, "{urn:x}p", "<p/>"), VD_ENOTFOUND);
    CHECK_INT(pset(s, id, NULL, "", "<p/>"), VD_EINVAL);
    char lc[300];
    memset(lc, 'c', sizeof lc - 1);
    lc[sizeof lc - 1] = 0;
    CHECK_INT(pset(s, id, NULL, lc, "<p/>"), VD_ETOOBIG);
    CHECK_STR(props(s, id, "a.ics"), "{urn:x}p=<p1/>,{urn:x}q=<q1/>");
    CHECK(strstr(props(s, id, NULL), "urn:x") == NULL);
    /* copy replaces the destination's properties and keeps the source */
    job j = {.op = J_PCP, .id = id, .name = "a.ics", .id2 = id, .name2 = "b.ics"};
    CHECK_INT(jrun(s, &j), VD_OK);
    CHECK_STR(props(s, id, "b.ics"), "{urn:x}p=<p1/>,{urn:x}q=<q1/>");
    CHECK_STR(props(s, id, "a.ics"), "{urn:x}p=<p1/>,{urn:x}q=<q1/>");
    seq = coll_seq(s, "/calendars/alice/d/");
    j = (job){.op = J_PCP, .id = id, .name = NULL, .id2 = id2, .name2 = NULL};
    CHECK_INT(jrun(s, &j), VD_OK);
    CHECK_STR(props(s, id2, NULL),
              "{DAV:}displayname=<D:displayname xmlns:D=\"DAV:\">Work</D:displayname>,"
              "{http://apple.com/ns/ical/}calendar-color=<x:calendar-color xmlns:x=\"http://apple.com/ns/ical/\">#FF0000</x:calendar-color>");
    CHECK(coll_seq(s, "/calendars/alice/d/") > seq);
    /* remove, remove again (fine), collection removal bumps seq */
    j = (job){.op = J_PRM, .id = id, .name = "a.ics", .clark = "{urn:x}p"};
    CHECK_INT(jrun(s, &j), VD_OK);
    CHECK_INT(jrun(s, &j), VD_OK);
    CHECK_STR(props(s, id, "a.ics"), "{urn:x}q=<q1/>");
    seq = coll_seq(s, p);
    j = (job){.op = J_PRM, .id = id, .clark = color};
    CHECK_INT(jrun(s, &j), VD_OK);
    CHECK(coll_seq(s, p) > seq);
    CHECK(strstr(props(s, id, NULL), "calendar-color") == NULL);
    /* a deleted member's properties go with it */
    CHECK_INT(del(s, id, "a.ics"), VD_OK);
    put(s, id, "a.ics", "A again");
    CHECK_STR(props(s, id, "a.ics"), "");
    CHECK_STR(props(s, id, "b.ics"), "{urn:x}p=<p1/>,{urn:x}q=<q1/>");
    vd_store_close(s);
    tmpdir_free(dir);
}

static void test_principals(void)
{
    char *dir = tmpdir_new();
    vd_store *s = open_at(dir, 0);
    job j = {.op = J_PRINC, .name = "alice", .path = "Alice A.", .path2 = "alice@example.com"};
    vd_principal p;
    vd_txn *t;
    CHECK_INT(jrun(s, &j), VD_OK);
    j = (job){.op = J_PRINC, .name = "bob"};
    CHECK_INT(jrun(s, &j), VD_OK);
    j = (job){.op = J_PRINC, .name = "alice", .path = "Alice B."};  /* email kept */
    CHECK_INT(jrun(s, &j), VD_OK);
    CHECK_INT(vd_store_read(s, &t), VD_OK);
    CHECK_INT(vd_store_principal_get(t, "alice", &p), VD_OK);
    CHECK_STR(p.name, "alice");
    CHECK_STR(p.displayname, "Alice B.");
    CHECK_STR(p.email, "alice@example.com");
    CHECK(p.created > 0);
    vd_principal_clear(&p);
    CHECK_INT(vd_store_principal_get(t, "bob", &p), VD_OK);
    CHECK(p.displayname == NULL && p.email == NULL);
    vd_principal_clear(&p);
    vd_principal_clear(NULL);
    CHECK_INT(vd_store_principal_get(t, "carol", &p), VD_ENOTFOUND);
    vd_txn_end(t);
    j = (job){.op = J_PRINCDEL, .name = "bob"};
    CHECK_INT(jrun(s, &j), VD_OK);
    CHECK_INT(jrun(s, &j), VD_ENOTFOUND);
    j = (job){.op = J_PRINC, .name = ""};
    CHECK_INT(jrun(s, &j), VD_EINVAL);
    CHECK_INT(vd_store_read(s, &t), VD_OK);
    CHECK_INT(vd_store_principal_get(t, "bob", &p), VD_ENOTFOUND);
    vd_txn_end(t);
    vd_store_close(s);
    tmpdir_free(dir);
}

static vd_err audit_cb(const vd_audit *a, void *ctx)
{
    char b[1024];
    snprintf(b, sizeof b, "%s %s %s %s>%s %s", a->actor, a->method, a->path,
             a->old_etag[0] ? "E" : "", a->new_etag[0] ? "E" : "", a->summary);
    sl_add(ctx, b);
    return VD_OK;
}

typedef struct aseq { uint64_t seq[16]; size_t n; vd_time when; char old[17], new_[17]; } aseq;

static vd_err audit_seq_cb(const vd_audit *a, void *ctx)
{
    aseq *x = ctx;
    if (x->n < 16)
        x->seq[x->n++] = a->seq;
    x->when = a->when;
    snprintf(x->old, sizeof x->old, "%s", a->old_etag);
    snprintf(x->new_, sizeof x->new_, "%s", a->new_etag);
    return VD_OK;
}

static const char *audit(vd_store *s, uint64_t since, size_t limit)
{
    static char buf[4096];
    vd_txn *t;
    strlist l = {0};
    vd_err e = vd_store_read(s, &t);
    if (!e)
        e = vd_store_audit_list(t, since, limit, audit_cb, &l);
    vd_txn_end(t);
    sl_join(&l, false, buf, sizeof buf);
    sl_free(&l);
    return e ? "ERR" : buf;
}

static void test_audit(void)
{
    char *dir = tmpdir_new();
    vd_store *s = open_at(dir, 0);
    uint64_t id;
    vd_put_result r1, r2;
    mkcol(s, "/calendars/alice/", VD_COLL_HOME, NULL);
    mkcol(s, "/calendars/alice/c/", VD_COLL_CALENDAR, &id);
    CHECK_STR(audit(s, 0, 0), "");
    put_full(s, id, "a.ics", "1", NULL, NULL, 0, false, &r1);
    put_full(s, id, "a.ics", "2", NULL, NULL, 0, false, &r2);
    job j = {.op = J_DEL, .id = id, .name = "a.ics", .actor = "bob", .method = "DELETE"};
    CHECK_INT(jrun(s, &j), VD_OK);
    CHECK_INT(simple(s, J_MVCOL, "/calendars/alice/c/", "/calendars/alice/e/"), VD_OK);
    CHECK_INT(simple(s, J_RMCOL, "/calendars/alice/e/", NULL), VD_OK);
    CHECK_STR(audit(s, 0, 0),
              "alice TEST /calendars/alice/c/a.ics >E a visit,"
              "alice TEST /calendars/alice/c/a.ics E>E a visit,"
              "bob DELETE /calendars/alice/c/a.ics E> ,"
              "alice TEST /calendars/alice/e/ > moved from /calendars/alice/c/,"
              "alice TEST /calendars/alice/e/ > collection deleted");
    aseq x = {0};
    vd_txn *t;
    CHECK_INT(vd_store_read(s, &t), VD_OK);
    CHECK_INT(vd_store_audit_list(t, 0, 2, audit_seq_cb, &x), VD_OK);
    CHECK_INT(x.n, 2);
    CHECK(x.seq[0] < x.seq[1]);
    CHECK_STR(x.old, r1.etag);
    CHECK_STR(x.new_, r2.etag);
    CHECK(x.when > 0);
    uint64_t second = x.seq[1];
    x.n = 0;
    CHECK_INT(vd_store_audit_list(t, second, 0, audit_seq_cb, &x), VD_OK);
    CHECK_INT(x.n, 3);
    CHECK(x.seq[0] > second);
    vd_txn_end(t);
    vd_store_close(s);
    tmpdir_free(dir);
}

static void test_abort(void)
{
    char *dir = tmpdir_new();
    vd_store *s = open_at(dir, 0);
    uint64_t id;
    vd_err e;
    mkcol(s, "/calendars/alice/", VD_COLL_HOME, NULL);
    mkcol(s, "/calendars/alice/c/", VD_COLL_CALENDAR, &id);
    uint64_t seq = coll_seq(s, "/calendars/alice/c/");
    char before[4096];
    snprintf(before, sizeof before, "%s", audit(s, 0, 0));
    job j = {.op = J_PUT_FAIL};
    vd_instance in = {T0, T0 + 10};
    j.put = (vd_put){.coll_id = id, .name = "x", .data = "X", .len = 1, .uid = "UX",
                     .inst = &in, .n_inst = 1};
    CHECK_INT(jrun(s, &j), VD_EINVAL);
    CHECK_INT(j.calls, 1);
    CHECK(res_data(s, id, "x", &e) == NULL);
    CHECK_INT(e, VD_ENOTFOUND);
    CHECK_INT(coll_seq(s, "/calendars/alice/c/"), seq);
    CHECK_STR(audit(s, 0, 0), before);
    char nm[64];
    CHECK_INT(lookup(s, id, "UX", nm, sizeof nm), VD_ENOTFOUND);
    CHECK_STR(cands(s, id, T0, T0 + 10, NULL, NULL), "");
    CHECK_STR(changes(s, id, 0, 0, NULL, NULL, NULL), "");
    /* a write inside a write callback is refused instead of deadlocking */
    j = (job){.op = J_NESTED, .id = id, .s = s};
    CHECK_INT(jrun(s, &j), VD_OK);
    CHECK_INT(j.inner, VD_EINVAL);
    vd_coll c;
    CHECK_INT(coll_get(s, "/calendars/alice/c/", &c), VD_OK);
    CHECK_INT(c.comp_mask, VD_COMP_VEVENT);
    vd_coll_clear(&c);
    CHECK_INT(vd_store_write(s, "a", "b", NULL, NULL), VD_EINVAL);
    vd_store_close(s);
    tmpdir_free(dir);
}

/* ---------- map growth, with readers running meanwhile ---------- */
typedef struct reader_arg {
    vd_store *s;
    uint64_t id;
    atomic_int stop;
    atomic_int reads, errors;
} reader_arg;

static void *reader_main(void *p)
{
    reader_arg *a = p;
    while (!atomic_load(&a->stop)) {
        vd_txn *t;
        vd_res r;
        if (vd_store_read(a->s, &t)) {
            atomic_fetch_add(&a->errors, 1);
            continue;
        }
        if (vd_store_res_get(t, a->id, "anchor", &r) || r.len != 6 || memcmp(r.data, "ANCHOR", 6))
            atomic_fetch_add(&a->errors, 1);
        vd_txn_end(t);
        atomic_fetch_add(&a->reads, 1);
    }
    return NULL;
}

/* vd_store_generation reads the meta pages inside the map without a txn:
 * asked all through the growth, it must neither fault on a remapped map
 * nor go backwards. */
static void *generation_main(void *p)
{
    reader_arg *a = p;
    uint64_t last = 0;
    while (!atomic_load(&a->stop)) {
        uint64_t g = vd_store_generation(a->s);
        if (g == 0 || g < last)
            atomic_fetch_add(&a->errors, 1);
        last = g;
        atomic_fetch_add(&a->reads, 1);
    }
    return NULL;
}

typedef struct bulk { uint64_t id; int from, n, calls; const char *fmt; } bulk;

static vd_err bulk_put(vd_txn *t, void *ctx)
{
    bulk *b = ctx;
    char name[32], data[2048];
    b->calls++;
    memset(data, 'd', sizeof data);
    for (int i = b->from; i < b->from + b->n; i++) {
        snprintf(name, sizeof name, b->fmt, i);
        vd_put p = {.coll_id = b->id, .name = name, .data = data, .len = sizeof data};
        vd_err e = vd_store_res_put(t, &p, NULL);
        if (e)
            return e;
    }
    return VD_OK;
}

static void test_growth(void)
{
    char *dir = tmpdir_new();
    vd_store *s = open_at(dir, 128 << 10);
    uint64_t id;
    vd_store_stats st;
    CHECK(s != NULL);
    CHECK_INT(mkcol(s, "/calendars/alice/", VD_COLL_HOME, NULL), VD_OK);
    CHECK_INT(mkcol(s, "/calendars/alice/c/", VD_COLL_CALENDAR, &id), VD_OK);
    CHECK_INT(put(s, id, "anchor", "ANCHOR"), VD_OK);
    CHECK_INT(vd_store_stats_get(s, &st), VD_OK);
    CHECK_INT(st.map_bytes, 128 << 10);
    reader_arg ra = {.s = s, .id = id};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, i < 2 ? reader_main : generation_main, &ra);
    /* one txn far bigger than the map: aborted, grown, re-run */
    bulk b = {id, 0, 1000, 0, "big%04d"};
    CHECK_INT(vd_store_write(s, "alice", "TEST", bulk_put, &b), VD_OK);
    CHECK(b.calls > 1);
    /* thousands of small txns */
    int fails = 0;
    for (int i = 0; i < 3000; i++) {
        bulk one = {id, i, 1, 0, "small%04d"};
        fails += vd_store_write(s, "alice", "TEST", bulk_put, &one) != VD_OK;
    }
    CHECK_INT(fails, 0);
    atomic_store(&ra.stop, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    CHECK_INT(atomic_load(&ra.errors), 0);
    CHECK(atomic_load(&ra.reads) > 0);
    CHECK_INT(vd_store_stats_get(s, &st), VD_OK);
    CHECK_INT(st.resources, 4001);
    CHECK(st.map_bytes >= (size_t)8 << 20);
    printf("  growth: map %zu KiB -> %zu KiB, used %zu KiB, %d concurrent reads\n",
           (size_t)128, st.map_bytes >> 10, st.used_bytes >> 10, atomic_load(&ra.reads));

    /* growth needs every txn of this process ended: one held by the very
     * thread that writes fails fast instead of deadlocking */
    vd_txn *t;
    CHECK_INT(vd_store_read(s, &t), VD_OK);
    size_t map = st.map_bytes;
    bulk huge = {id, 0, (int)(map / 2048) + 10, 0, "huge%05d"};
    CHECK_INT(vd_store_write(s, "alice", "TEST", bulk_put, &huge), VD_EIO);
    CHECK(strstr(vd_store_last_error(), "holds a transaction") != NULL);
    vd_txn_end(t);
    CHECK_INT(vd_store_write(s, "alice", "TEST", bulk_put, &huge), VD_OK);
    vd_store_close(s);

    /* reopened: the grown map is kept, the data is there */
    s = open_at(dir, 128 << 10);
    CHECK(s != NULL);
    CHECK_INT(vd_store_stats_get(s, &st), VD_OK);
    CHECK(st.map_bytes > map);
    CHECK_INT(st.resources, 4001 + (size_t)huge.n);
    vd_err e;
    char *d = res_data(s, id, "small2999", &e);
    CHECK(d && strlen(d) == 2048);
    free(d);
    vd_store_close(s);
    tmpdir_free(dir);
}

/* ---------- another process grows the map (like the admin command) ---------- */
static int child_grow(const char *dir, const char *idstr)
{
    vd_store *s = open_at(dir, 128 << 10);
    bulk b = {strtoull(idstr, NULL, 10), 0, 1000, 0, "child%04d"};
    vd_err e = s ? vd_store_write(s, "admin", "TEST", bulk_put, &b) : VD_EIO;
    vd_store_close(s);
    return e == VD_OK && b.calls > 1 ? 0 : 1;
}

static void test_other_process_grows(const char *self)
{
    char *dir = tmpdir_new();
    vd_store *s = open_at(dir, 128 << 10);
    uint64_t id;
    vd_store_stats st;
    vd_err e;
    mkcol(s, "/calendars/alice/", VD_COLL_HOME, NULL);
    mkcol(s, "/calendars/alice/c/", VD_COLL_CALENDAR, &id);
    CHECK_INT(put(s, id, "anchor", "ANCHOR"), VD_OK);
    char ids[32];
    snprintf(ids, sizeof ids, "%" PRIu64, id);
    pid_t pid = fork();
    if (pid == 0) {
        execl(self, self, "grow", dir, ids, (char *)NULL);
        _exit(127);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* this process's map is now smaller than the data: adopt and go on */
    char *d = res_data(s, id, "child0999", &e);
    CHECK_INT(e, VD_OK);
    CHECK(d && strlen(d) == 2048);
    free(d);
    CHECK_INT(vd_store_stats_get(s, &st), VD_OK);
    CHECK(st.map_bytes >= (size_t)2 << 20);
    CHECK_INT(put(s, id, "after", "A"), VD_OK);
    CHECK_INT(st.resources, 1001);
    vd_store_close(s);
    tmpdir_free(dir);
}

/* ---------- readers never wait for the writer ---------- */
typedef struct hold {
    vd_store *s;
    uint64_t id;
    atomic_int in_txn, release;
} hold;

static vd_err hold_cb(vd_txn *t, void *ctx)
{
    hold *h = ctx;
    vd_put p = {.coll_id = h->id, .name = "uncommitted", .data = "U", .len = 1};
    vd_err e = vd_store_res_put(t, &p, NULL);
    atomic_store(&h->in_txn, 1);
    for (int i = 0; i < 1000 && !atomic_load(&h->release); i++)
        usleep(10000);
    return e;
}

static void *writer_main(void *p)
{
    hold *h = p;
    vd_store_write(h->s, "alice", "TEST", hold_cb, h);
    return NULL;
}

static void test_reader_not_blocked(void)
{
    char *dir = tmpdir_new();
    vd_store *s = open_at(dir, 0);
    uint64_t id;
    vd_err e;
    mkcol(s, "/calendars/alice/", VD_COLL_HOME, NULL);
    mkcol(s, "/calendars/alice/c/", VD_COLL_CALENDAR, &id);
    put(s, id, "pre", "P");
    hold h = {.s = s, .id = id};
    pthread_t th;
    pthread_create(&th, NULL, writer_main, &h);
    for (int i = 0; i < 1000 && !atomic_load(&h.in_txn); i++)
        usleep(1000);
    CHECK(atomic_load(&h.in_txn));
    double t0 = now_s();
    char *d = res_data(s, id, "pre", &e);
    CHECK_STR(d, "P");
    free(d);
    CHECK(res_data(s, id, "uncommitted", &e) == NULL);   /* isolation */
    CHECK_INT(e, VD_ENOTFOUND);
    double dt = now_s() - t0;
    CHECK(dt < 1.0);
    CHECK(!atomic_load(&h.release));                     /* writer still open */
    atomic_store(&h.release, 1);
    pthread_join(th, NULL);
    d = res_data(s, id, "uncommitted", &e);
    CHECK_STR(d, "U");
    free(d);
    vd_store_close(s);
    tmpdir_free(dir);
}

/* ---------- correctness at scale, with rough timings ---------- */
#define NEV 10000

static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

typedef struct ev { vd_instance in[20]; int n; bool open; } ev;

static bool ev_hits(const ev *e, vd_time a, vd_time b)
{
    if (e->open)
        return true;
    for (int i = 0; i < e->n; i++) {
        vd_time s = e->in[i].start, t = e->in[i].end;
        if ((s < b && t > a) || (s == t && s >= a && s < b))
            return true;
    }
    return false;
}

static void scale_fill(vd_store *s, uint64_t id, ev *evs)
{
    char name[32];
    int fails = 0;
    double t0 = now_s();
    for (int i = 0; i < NEV; i++) {
        ev *e = &evs[i];
        vd_time start = T0 + (vd_time)i * 1800 + (i % 7) * 60;
        vd_time len = (i % 5) * 600 + ((i % 97) == 0 ? 3 * DAY : 0);
        e->open = i % 500 == 0;
        e->n = i % 50 == 0 ? 20 : 1;
        for (int k = 0; k < e->n; k++)
            e->in[k] = (vd_instance){start + k * 7 * DAY, start + k * 7 * DAY + len};
        snprintf(name, sizeof name, "ev%05d.ics", i);
        fails += put_full(s, id, name, name, name, e->in, (size_t)e->n, e->open, NULL) != VD_OK;
    }
    double dt = now_s() - t0;
    CHECK_INT(fails, 0);
    printf("  scale: %d puts, one txn each: %.2f s (%.0f puts/s)\n", NEV, dt, NEV / dt);
}

/* 1000 random windows, each checked against a brute-force answer. */
static void scale_queries(vd_store *s, uint64_t id, const ev *evs)
{
    int bad = 0;
    size_t total = 0;
    double t0 = now_s();
    for (int q = 0; q < 1000; q++) {
        vd_time a = T0 - 2 * DAY + (vd_time)(rnd() % (uint64_t)(NEV * 1800 + 200 * DAY));
        vd_time b = a + (vd_time)(rnd() % (uint64_t)(3 * DAY)) + (q % 10 == 0 ? 0 : 1);
        vd_txn *t;
        strlist got = {0}, want = {0};
        vd_store_read(s, &t);
        if (vd_store_time_candidates(t, id, a, b, name_cb, &got))
            bad++;
        vd_txn_end(t);
        char name[32];
        for (int i = 0; i < NEV; i++) {
            if (ev_hits(&evs[i], a, b)) {
                snprintf(name, sizeof name, "ev%05d.ics", i);
                sl_add(&want, name);
            }
        }
        qsort(got.v, got.n, sizeof *got.v, cmp_str);
        bool same = got.n == want.n && got.calls == (int)got.n;
        for (size_t i = 0; same && i < got.n; i++)
            same = !strcmp(got.v[i], want.v[i]);
        bad += !same;
        total += got.n;
        sl_free(&got);
        sl_free(&want);
    }
    double dt = now_s() - t0;
    CHECK_INT(bad, 0);
    printf("  scale: 1000 time-range queries (incl. brute-force check): %.2f s, %zu hits\n",
           dt, total);
}

static void test_scale(void)
{
    char *dir = tmpdir_new();
    vd_store *s = open_at(dir, 0);
    uint64_t id;
    ev *evs = calloc(NEV, sizeof *evs);
    mkcol(s, "/calendars/alice/", VD_COLL_HOME, NULL);
    mkcol(s, "/calendars/alice/c/", VD_COLL_CALENDAR, &id);
    scale_fill(s, id, evs);
    scale_queries(s, id, evs);
    /* the same kind of queries without the checking: the store's own cost */
    double t0 = now_s();
    for (int q = 0; q < 1000; q++) {
        vd_time a = T0 + (vd_time)(rnd() % (uint64_t)(NEV * 1800));
        vd_txn *t;
        strlist got = {0};
        vd_store_read(s, &t);
        vd_store_time_candidates(t, id, a, a + DAY, name_cb, &got);
        vd_txn_end(t);
        sl_free(&got);
    }
    double dt = now_s() - t0;
    printf("  scale: 1000 one-day queries alone: %.3f s (%.0f us each)\n", dt, dt * 1000);
    /* a full initial sync in pages of 1000 sees every member once */
    uint64_t seq = 0;
    bool tr = true;
    size_t seen = 0;
    int pages = 0;
    while (tr && pages < 100) {
        vd_txn *t;
        strlist l = {0};
        vd_store_read(s, &t);
        vd_store_changes(t, id, seq, 1000, change_cb, &l, &seq, &tr);
        vd_txn_end(t);
        seen += l.n;
        pages++;
        sl_free(&l);
    }
    CHECK_INT(seen, NEV);
    CHECK(pages >= 10 && pages <= 11);
    free(evs);
    vd_store_close(s);
    tmpdir_free(dir);
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "grow"))
        return child_grow(argv[2], argv[3]);
    setvbuf(stdout, NULL, _IONBF, 0);
    test_open_reopen();
    test_schema();
    test_collections();
    test_resources();
    test_uid();
    test_time();
    test_changes();
    test_props();
    test_principals();
    test_audit();
    test_abort();
    test_growth();
    test_other_process_grows(argv[0]);
    test_reader_not_blocked();
    test_scale();
    return check_done();
}
