/* test_store_visits.c - unit tests of lib/store_visits.c: the visit indexes
 * (by customer, by owner), the flag links, and their removal when members
 * and collections are deleted.  Each test works in its own mkdtemp()
 * directory, removed at the end.  Only store.h is used. */
#include "check.h"
#include "store.h"

#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define T0 ((vd_time)1700000000)
#define HOUR ((vd_time)3600)
#define DAY ((vd_time)86400)

/* ---------- temp stores ---------- */
static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

typedef struct fix {
    char *dir;
    vd_store *s;
} fix;

static bool fix_open(fix *f)
{
    char tmpl[] = "/tmp/vd-visits-XXXXXX";
    f->s = NULL;
    f->dir = mkdtemp(tmpl) ? strdup(tmpl) : NULL;
    vd_store_options o = {.initial_map_bytes = (size_t)64 << 20, .no_sync = true};
    vd_diag d = {0};
    if (f->dir && vd_store_open(f->dir, &o, &f->s, &d))
        fprintf(stderr, "open %s: %s\n", f->dir, d.message);
    return f->s != NULL;
}

static void fix_close(fix *f)
{
    vd_store_close(f->s);
    if (f->dir)
        nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f->dir);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------- write operations: one callback interprets them ---------- */
enum { OP_MKCOL, OP_RES, OP_VPUT, OP_VDEL, OP_LINKS, OP_RESDEL, OP_COLLDEL, OP_COLLMOVE,
       OP_VPUT_FAIL };

typedef struct op {
    int op;
    const char *path, *path2, *name, *owner, *cust;
    uint64_t id;
    vd_coll_kind kind;
    const vd_instance *inst;
    size_t n;
    const vd_ref *to;
} op;

static vd_err op_run(vd_txn *t, void *ctx)
{
    op *o = ctx;
    vd_coll c;
    vd_err e;
    switch (o->op) {
    case OP_MKCOL:
        e = vd_store_coll_create(t, o->path, o->kind, o->owner, VD_COMP_DEFAULT, &c);
        o->id = c.id;
        if (!e)
            vd_coll_clear(&c);
        return e;
    case OP_RES: {
        vd_put p = {.coll_id = o->id, .name = o->name, .data = "BEGIN:VCALENDAR\r\n",
                    .len = 17, .content_type = "text/calendar", .uid = o->name,
                    .comp = VD_COMP_VEVENT};
        return vd_store_res_put(t, &p, NULL);
    }
    case OP_VPUT:
        return vd_store_visits_put(t, o->id, o->name, o->owner, o->cust, o->inst, o->n);
    case OP_VPUT_FAIL:     /* the put succeeds, the txn is then abandoned */
        e = vd_store_visits_put(t, o->id, o->name, o->owner, o->cust, o->inst, o->n);
        return e ? e : VD_ECONFLICT;
    case OP_VDEL:
        return vd_store_visits_delete(t, o->id, o->name);
    case OP_LINKS:
        return vd_store_links_set(t, o->id, o->name, o->to, o->n);
    case OP_RESDEL:
        return vd_store_res_delete(t, o->id, o->name);
    case OP_COLLDEL:
        return vd_store_coll_delete(t, o->path);
    case OP_COLLMOVE:
        return vd_store_coll_move(t, o->path, o->path2);
    }
    return VD_EINVAL;
}

static vd_err run(vd_store *s, op *o) { return vd_store_write(s, "tester", "TEST", op_run, o); }

static uint64_t mkcal(vd_store *s, const char *user, const char *cal)
{
    char home[128], path[256];
    snprintf(home, sizeof home, "/calendars/%s/", user);
    snprintf(path, sizeof path, "%s%s/", home, cal);
    op h = {.op = OP_MKCOL, .path = home, .kind = VD_COLL_HOME, .owner = user};
    run(s, &h);   /* may exist already */
    op o = {.op = OP_MKCOL, .path = path, .kind = VD_COLL_CALENDAR, .owner = user};
    return run(s, &o) ? 0 : o.id;
}

static vd_err res(vd_store *s, uint64_t id, const char *name)
{
    op o = {.op = OP_RES, .id = id, .name = name};
    return run(s, &o);
}

static vd_err vput(vd_store *s, uint64_t id, const char *name, const char *owner,
                   const char *cust, const vd_instance *in, size_t n)
{
    op o = {.op = OP_VPUT, .id = id, .name = name, .owner = owner, .cust = cust,
            .inst = in, .n = n};
    return run(s, &o);
}

/* A member with one indexed instance [a, b). */
static vd_err visit(vd_store *s, uint64_t id, const char *name, const char *owner,
                    const char *cust, vd_time a, vd_time b)
{
    vd_instance in = {a, b};
    vd_err e = res(s, id, name);
    return e ? e : vput(s, id, name, owner, cust, &in, 1);
}

static vd_err links(vd_store *s, uint64_t id, const char *name, const vd_ref *to, size_t n)
{
    op o = {.op = OP_LINKS, .id = id, .name = name, .to = to, .n = n};
    return run(s, &o);
}

/* ---------- lookups into text ---------- */
typedef struct hits {
    char buf[8192];
    size_t n;
    bool ordered;
    vd_time last;
    int stop_after;            /* > 0: the callback fails after this many */
} hits;

static vd_err hit_cb(const vd_visit_entry *e, void *ctx)
{
    hits *h = ctx;
    if (h->n && e->start < h->last)
        h->ordered = false;
    h->last = e->start;
    size_t l = strlen(h->buf);
    snprintf(h->buf + l, sizeof h->buf - l, "%s%s", h->n ? "," : "", e->name);
    h->n++;
    return h->stop_after && (int)h->n >= h->stop_after ? VD_ECONFLICT : VD_OK;
}

/* Names found, in callback order, joined by ','; "" when none. */
static const char *q(vd_store *s, bool by_cust, const char *key, vd_time a, vd_time b,
                     hits *h, vd_err *err)
{
    vd_txn *t;
    int stop = h->stop_after;
    memset(h, 0, sizeof *h);
    h->ordered = true;
    h->stop_after = stop;
    vd_err e = vd_store_read(s, &t);
    if (!e) {
        e = by_cust ? vd_store_visits_by_customer(t, key, a, b, hit_cb, h)
                    : vd_store_visits_by_owner(t, key, a, b, hit_cb, h);
        vd_txn_end(t);
    }
    if (err)
        *err = e;
    return h->buf;
}

static hits H;
#define QC(s, cust, a, b) q((s), true, (cust), (a), (b), &H, NULL)
#define QO(s, owner, a, b) q((s), false, (owner), (a), (b), &H, NULL)

/* The one entry found (fields copied). */
typedef struct one {
    int n;
    uint64_t coll;
    vd_time start, end;
    char name[64], owner[64], cust[64];
    bool cust_null;
} one;

static vd_err one_cb(const vd_visit_entry *e, void *ctx)
{
    one *o = ctx;
    o->n++;
    o->coll = e->coll_id;
    o->start = e->start;
    o->end = e->end;
    snprintf(o->name, sizeof o->name, "%s", e->name);
    snprintf(o->owner, sizeof o->owner, "%s", e->owner);
    o->cust_null = !e->customer_id;
    snprintf(o->cust, sizeof o->cust, "%s", e->customer_id ? e->customer_id : "");
    return VD_OK;
}

static one get_one(vd_store *s, bool by_cust, const char *key, vd_time a, vd_time b)
{
    one o = {0};
    vd_txn *t;
    if (vd_store_read(s, &t))
        return o;
    if (by_cust)
        vd_store_visits_by_customer(t, key, a, b, one_cb, &o);
    else
        vd_store_visits_by_owner(t, key, a, b, one_cb, &o);
    vd_txn_end(t);
    return o;
}

static vd_err ref_cb(uint64_t id, const char *name, void *ctx)
{
    char *b = ctx;
    size_t l = strlen(b);
    snprintf(b + l, 1024 - l, "%s%" PRIu64 ":%s", l ? "," : "", id, name);
    return VD_OK;
}

static char refbuf[1024];
/* "id:name,..." of links_to (to = true) or links_from. */
static const char *refs(vd_store *s, bool to, uint64_t id, const char *name)
{
    vd_txn *t;
    refbuf[0] = 0;
    if (vd_store_read(s, &t))
        return "(read failed)";
    vd_err e = to ? vd_store_links_to(t, id, name, ref_cb, refbuf)
                  : vd_store_links_from(t, id, name, ref_cb, refbuf);
    vd_txn_end(t);
    return e ? "(error)" : refbuf;
}

/* ---------- put, replace, delete ---------- */
static void test_put_replace_delete(void)
{
    fix f;
    CHECK(fix_open(&f));
    uint64_t a = mkcal(f.s, "alice", "visits");
    CHECK(a != 0);
    CHECK_INT(visit(f.s, a, "v1.ics", "alice", "acme", T0, T0 + HOUR), VD_OK);
    CHECK_STR(QC(f.s, "acme", T0 - DAY, T0 + DAY), "v1.ics");
    CHECK_STR(QO(f.s, "alice", T0 - DAY, T0 + DAY), "v1.ics");
    one o = get_one(f.s, true, "acme", T0, T0 + 1);
    CHECK(o.n == 1 && o.coll == a && o.start == T0 && o.end == T0 + HOUR);
    CHECK_STR(o.owner, "alice");
    CHECK_STR(o.cust, "acme");
    o = get_one(f.s, false, "alice", T0, T0 + 1);
    CHECK(o.n == 1 && !o.cust_null);
    CHECK_STR(o.cust, "acme");
    CHECK_STR(o.name, "v1.ics");

    /* Replace: new time and a new customer; the old entries are gone. */
    vd_instance in2 = {T0 + 2 * DAY, T0 + 2 * DAY + HOUR};
    CHECK_INT(vput(f.s, a, "v1.ics", "alice", "globex", &in2, 1), VD_OK);
    CHECK_STR(QC(f.s, "acme", T0 - 10 * DAY, T0 + 10 * DAY), "");
    CHECK_STR(QC(f.s, "globex", T0 - 10 * DAY, T0 + 10 * DAY), "v1.ics");
    CHECK_STR(QO(f.s, "alice", T0 - DAY, T0 + DAY), "");
    CHECK_STR(QO(f.s, "alice", T0 + DAY, T0 + 3 * DAY), "v1.ics");

    /* No customer: owner index only, customer_id NULL there. */
    CHECK_INT(vput(f.s, a, "v1.ics", "alice", NULL, &in2, 1), VD_OK);
    CHECK_STR(QC(f.s, "globex", T0 - 10 * DAY, T0 + 10 * DAY), "");
    o = get_one(f.s, false, "alice", T0 + 2 * DAY, T0 + 2 * DAY + 1);
    CHECK(o.n == 1 && o.cust_null);

    /* n == 0 removes; visits_delete removes; deleting nothing is fine. */
    CHECK_INT(vput(f.s, a, "v1.ics", "alice", "acme", &in2, 1), VD_OK);
    CHECK_INT(vput(f.s, a, "v1.ics", "alice", "acme", NULL, 0), VD_OK);
    CHECK_STR(QC(f.s, "acme", T0 - 10 * DAY, T0 + 10 * DAY), "");
    CHECK_STR(QO(f.s, "alice", T0 - 10 * DAY, T0 + 10 * DAY), "");
    CHECK_INT(vput(f.s, a, "v1.ics", "alice", "acme", &in2, 1), VD_OK);
    op d = {.op = OP_VDEL, .id = a, .name = "v1.ics"};
    CHECK_INT(run(f.s, &d), VD_OK);
    CHECK_STR(QC(f.s, "acme", T0 - 10 * DAY, T0 + 10 * DAY), "");
    CHECK_STR(QO(f.s, "alice", T0 - 10 * DAY, T0 + 10 * DAY), "");
    CHECK_INT(run(f.s, &d), VD_OK);
    d.name = "never.ics";
    CHECK_INT(run(f.s, &d), VD_OK);

    /* Duplicate starts keep the longest; an end before its start is the start. */
    vd_instance dup[] = {{T0, T0 + HOUR}, {T0, T0 + 3 * HOUR}, {T0 + DAY, T0 + DAY - 5}};
    CHECK_INT(vput(f.s, a, "v1.ics", "alice", "acme", dup, 3), VD_OK);
    CHECK_STR(QC(f.s, "acme", T0 - DAY, T0 + 2 * DAY), "v1.ics,v1.ics");
    o = get_one(f.s, true, "acme", T0 + 2 * HOUR, T0 + 2 * HOUR + 1);
    CHECK(o.n == 1 && o.end == T0 + 3 * HOUR);
    o = get_one(f.s, true, "acme", T0 + DAY, T0 + DAY + 1);
    CHECK(o.n == 1 && o.start == T0 + DAY && o.end == T0 + DAY);

    /* An abandoned write txn leaves nothing behind. */
    vd_instance in3 = {T0 + 50 * DAY, T0 + 50 * DAY + HOUR};
    op fl = {.op = OP_VPUT_FAIL, .id = a, .name = "v1.ics", .owner = "alice",
             .cust = "acme", .inst = &in3, .n = 1};
    CHECK_INT(run(f.s, &fl), VD_ECONFLICT);
    CHECK_STR(QC(f.s, "acme", T0 + 49 * DAY, T0 + 51 * DAY), "");
    CHECK_STR(QC(f.s, "acme", T0 - DAY, T0 + 2 * DAY), "v1.ics,v1.ics");
    fix_close(&f);
}

static void test_errors(void)
{
    fix f;
    CHECK(fix_open(&f));
    uint64_t a = mkcal(f.s, "alice", "visits");
    vd_instance in = {T0, T0 + HOUR};
    CHECK_INT(vput(f.s, a, "ghost.ics", "alice", "acme", &in, 1), VD_ENOTFOUND);
    CHECK_INT(res(f.s, a, "v.ics"), VD_OK);
    CHECK_INT(vput(f.s, a, "v.ics", "alice", "", &in, 1), VD_EINVAL);
    CHECK_INT(vput(f.s, a, "v.ics", "", "acme", &in, 1), VD_EINVAL);
    CHECK_INT(vput(f.s, a, "v.ics", NULL, "acme", &in, 1), VD_EINVAL);
    CHECK_INT(vput(f.s, a, "v.ics", "alice", "acme", NULL, 1), VD_EINVAL);
    char longc[VD_STORE_MAX_CUSTOMER + 2];
    memset(longc, 'c', sizeof longc - 1);
    longc[sizeof longc - 1] = 0;
    CHECK_INT(vput(f.s, a, "v.ics", "alice", longc, &in, 1), VD_ETOOBIG);
    longc[VD_STORE_MAX_CUSTOMER] = 0;          /* exactly the maximum: fine */
    CHECK_INT(vput(f.s, a, "v.ics", "alice", longc, &in, 1), VD_OK);
    CHECK_STR(QC(f.s, longc, T0, T0 + 1), "v.ics");
    longc[VD_STORE_MAX_CUSTOMER] = 'c';
    vd_err e;
    CHECK_STR(q(f.s, true, longc, T0, T0 + 1, &H, &e), "");
    CHECK_INT(e, VD_OK);
    CHECK_STR(q(f.s, true, "", T0, T0 + 1, &H, &e), "");
    CHECK_INT(e, VD_EINVAL);

    /* Writes in a read txn are refused; nothing failed open. */
    vd_txn *t;
    CHECK_INT(vd_store_read(f.s, &t), VD_OK);
    CHECK_INT(vd_store_visits_put(t, a, "v.ics", "alice", "acme", &in, 1), VD_EINVAL);
    CHECK_INT(vd_store_visits_delete(t, a, "v.ics"), VD_EINVAL);
    CHECK_INT(vd_store_links_set(t, a, "v.ics", NULL, 0), VD_EINVAL);
    vd_txn_end(t);

    /* A callback error stops the walk and is returned. */
    CHECK_INT(visit(f.s, a, "w.ics", "alice", "acme", T0 + HOUR, T0 + 2 * HOUR), VD_OK);
    CHECK_INT(visit(f.s, a, "x.ics", "alice", "acme", T0 + 2 * HOUR, T0 + 3 * HOUR), VD_OK);
    hits h = {.stop_after = 2};
    CHECK_STR(q(f.s, false, "alice", T0 - DAY, T0 + DAY, &h, &e), "v.ics,w.ics");
    CHECK_INT(e, VD_ECONFLICT);
    fix_close(&f);
}

/* ---------- range semantics ---------- */
static void test_edges(void)
{
    fix f;
    CHECK(fix_open(&f));
    uint64_t a = mkcal(f.s, "alice", "visits");
    vd_time s = T0 + 10 * DAY, e = s + 2 * HOUR;
    CHECK_INT(visit(f.s, a, "ends-at-s", "alice", "acme", s - HOUR, s), VD_OK);
    CHECK_INT(visit(f.s, a, "zero-at-s", "alice", "acme", s, s), VD_OK);
    CHECK_INT(visit(f.s, a, "zero-inside", "alice", "acme", s + HOUR, s + HOUR), VD_OK);
    CHECK_INT(visit(f.s, a, "zero-at-e", "alice", "acme", e, e), VD_OK);
    CHECK_INT(visit(f.s, a, "starts-at-e", "alice", "acme", e, e + HOUR), VD_OK);
    CHECK_INT(visit(f.s, a, "cross-start", "alice", "acme", s - 1, s + 1), VD_OK);
    CHECK_INT(visit(f.s, a, "cross-end", "alice", "acme", e - 1, e + HOUR), VD_OK);
    CHECK_INT(visit(f.s, a, "covers", "alice", "acme", s - DAY, e + DAY), VD_OK);
    CHECK_STR(QC(f.s, "acme", s, e), "covers,cross-start,zero-at-s,zero-inside,cross-end");
    CHECK(H.ordered);
    CHECK_STR(QO(f.s, "alice", s, e), "covers,cross-start,zero-at-s,zero-inside,cross-end");
    /* One second earlier: the instance ending at s now overlaps. */
    CHECK_STR(QC(f.s, "acme", s - 1, s), "covers,ends-at-s,cross-start");
    /* A point query finds what contains the point and what starts there. */
    CHECK_STR(QC(f.s, "acme", e, e), "covers,cross-end,starts-at-e,zero-at-e");
    /* An inverted window finds nothing. */
    CHECK_STR(QC(f.s, "acme", e, s), "");
    /* Windows at the ends of time do not wrap. */
    CHECK_STR(QC(f.s, "acme", VD_TIME_MIN, VD_TIME_MIN + 1), "");
    CHECK_INT(H.n, 0);
    CHECK_STR(QC(f.s, "acme", VD_TIME_MAX - 1, VD_TIME_MAX), "");
    QC(f.s, "acme", VD_TIME_MIN, VD_TIME_MAX);
    CHECK_INT(H.n, 8);
    fix_close(&f);
}

static void test_long_instances(void)
{
    fix f;
    CHECK(fix_open(&f));
    uint64_t a = mkcal(f.s, "alice", "visits");
    uint64_t b = mkcal(f.s, "bob", "visits");
    vd_time s = T0 + 100 * DAY;
    /* A 20-day instance that began 19 days before the window. */
    CHECK_INT(visit(f.s, a, "fair", "alice", "acme", s - 19 * DAY, s + DAY), VD_OK);
    CHECK_INT(visit(f.s, a, "short", "alice", "acme", s - 2 * DAY, s - DAY), VD_OK);
    CHECK_STR(QC(f.s, "acme", s, s + HOUR), "fair");
    CHECK_STR(QO(f.s, "alice", s, s + HOUR), "fair");
    /* A year-long one, then the window a day before its end. */
    CHECK_INT(visit(f.s, b, "year", "bob", "acme", s - 365 * DAY, s + 2 * DAY), VD_OK);
    CHECK_STR(QC(f.s, "acme", s + DAY, s + DAY + HOUR), "year");
    CHECK_STR(QC(f.s, "acme", s, s + HOUR), "year,fair");
    /* One unbounded instance: still found, still exact. */
    CHECK_INT(visit(f.s, b, "forever", "bob", "initech", VD_TIME_MIN + 1, VD_TIME_MAX), VD_OK);
    CHECK_STR(QC(f.s, "initech", s, s + 1), "forever");
    CHECK_STR(QC(f.s, "initech", VD_TIME_MIN, VD_TIME_MIN + 1), "");
    CHECK_STR(QO(f.s, "bob", s + DAY, s + DAY + 1), "forever,year");
    /* Spans are per key: alice's short lookups still seek back 20 days only,
     * and get the right answer. */
    CHECK_STR(QO(f.s, "alice", s - 2 * DAY, s - DAY), "fair,short");
    fix_close(&f);
}

static void test_isolation_and_order(void)
{
    fix f;
    CHECK(fix_open(&f));
    uint64_t a = mkcal(f.s, "alice", "visits");
    uint64_t a2 = mkcal(f.s, "alice", "work");
    uint64_t b = mkcal(f.s, "al", "visits");
    /* Keys that are prefixes of each other never leak into one another. */
    CHECK_INT(visit(f.s, a, "c1", "alice", "ac", T0, T0 + HOUR), VD_OK);
    CHECK_INT(visit(f.s, a, "c2", "alice", "acme", T0, T0 + HOUR), VD_OK);
    CHECK_INT(visit(f.s, b, "c3", "al", "acme2", T0, T0 + HOUR), VD_OK);
    CHECK_STR(QC(f.s, "ac", T0 - DAY, T0 + DAY), "c1");
    CHECK_STR(QC(f.s, "acme", T0 - DAY, T0 + DAY), "c2");
    CHECK_STR(QC(f.s, "acme2", T0 - DAY, T0 + DAY), "c3");
    CHECK_STR(QC(f.s, "acm", T0 - DAY, T0 + DAY), "");
    CHECK_STR(QO(f.s, "al", T0 - DAY, T0 + DAY), "c3");
    CHECK_STR(QO(f.s, "alice", T0 - DAY, T0 + DAY), "c1,c2");
    CHECK_STR(QO(f.s, "carol", T0 - DAY, T0 + DAY), "");
    /* Start order across members and calendars, ties by collection. */
    CHECK_INT(visit(f.s, a2, "w3", "alice", "acme", T0 + 3 * HOUR, T0 + 4 * HOUR), VD_OK);
    CHECK_INT(visit(f.s, a, "w1", "alice", "acme", T0 + HOUR, T0 + 2 * HOUR), VD_OK);
    CHECK_INT(visit(f.s, a2, "w0", "alice", "acme", T0, T0 + HOUR), VD_OK);
    CHECK_INT(visit(f.s, a, "w2", "alice", "acme", T0 + 2 * HOUR, T0 + 3 * HOUR), VD_OK);
    CHECK_STR(QC(f.s, "acme", T0 - DAY, T0 + DAY), "c2,w0,w1,w2,w3");
    CHECK(H.ordered);
    CHECK_STR(QO(f.s, "alice", T0 - DAY, T0 + DAY), "c1,c2,w0,w1,w2,w3");
    fix_close(&f);
}

static void test_recurring_replace(void)
{
    fix f;
    CHECK(fix_open(&f));
    uint64_t a = mkcal(f.s, "alice", "visits");
    vd_instance *in = malloc(300 * sizeof *in);
    for (int i = 0; i < 300; i++)        /* given in reverse order */
        in[i] = (vd_instance){T0 + (299 - i) * DAY, T0 + (299 - i) * DAY + HOUR};
    CHECK_INT(res(f.s, a, "weekly.ics"), VD_OK);
    CHECK_INT(vput(f.s, a, "weekly.ics", "alice", "acme", in, 300), VD_OK);
    QC(f.s, "acme", VD_TIME_MIN, VD_TIME_MAX);
    CHECK_INT(H.n, 300);
    CHECK(H.ordered);
    QO(f.s, "alice", T0 + 10 * DAY, T0 + 20 * DAY);
    CHECK_INT(H.n, 10);
    vd_instance two[] = {{T0 + 5 * DAY + 1, T0 + 5 * DAY + HOUR}, {T0 + 400 * DAY, T0 + 400 * DAY + HOUR}};
    CHECK_INT(vput(f.s, a, "weekly.ics", "bob", "globex", two, 2), VD_OK);
    QC(f.s, "acme", VD_TIME_MIN, VD_TIME_MAX);
    CHECK_INT(H.n, 0);
    QO(f.s, "alice", VD_TIME_MIN, VD_TIME_MAX);
    CHECK_INT(H.n, 0);
    QC(f.s, "globex", VD_TIME_MIN, VD_TIME_MAX);
    CHECK_INT(H.n, 2);
    QO(f.s, "bob", VD_TIME_MIN, VD_TIME_MAX);
    CHECK_INT(H.n, 2);
    free(in);
    fix_close(&f);
}

/* ---------- links ---------- */
static void test_links(void)
{
    fix f;
    CHECK(fix_open(&f));
    uint64_t a = mkcal(f.s, "alice", "visits");
    uint64_t b = mkcal(f.s, "bob", "visits");
    const char *names[] = {"a1", "a2", "a3"};
    for (int i = 0; i < 3; i++) {
        CHECK_INT(res(f.s, a, names[i]), VD_OK);
        CHECK_INT(res(f.s, b, names[i]), VD_OK);
    }
    char exp[256];
    vd_ref to[] = {{b, "a1"}, {a, "a2"}, {b, "a1"}};
    CHECK_INT(links(f.s, a, "a1", to, 3), VD_OK);
    snprintf(exp, sizeof exp, "%" PRIu64 ":a2,%" PRIu64 ":a1", a, b);
    CHECK_STR(refs(f.s, false, a, "a1"), exp);
    snprintf(exp, sizeof exp, "%" PRIu64 ":a1", a);
    CHECK_STR(refs(f.s, true, b, "a1"), exp);
    CHECK_STR(refs(f.s, true, a, "a2"), exp);
    CHECK_STR(refs(f.s, true, a, "a1"), "");
    /* b/a1 is flagged because of a/a1 too: two visits flagged by a/a1. */
    vd_ref back[] = {{a, "a1"}};
    CHECK_INT(links(f.s, b, "a1", back, 1), VD_OK);
    snprintf(exp, sizeof exp, "%" PRIu64 ":a1", b);
    CHECK_STR(refs(f.s, true, a, "a1"), exp);
    /* Replace: a/a1 now flagged because of a/a3 only. */
    vd_ref to2[] = {{a, "a3"}};
    CHECK_INT(links(f.s, a, "a1", to2, 1), VD_OK);
    snprintf(exp, sizeof exp, "%" PRIu64 ":a3", a);
    CHECK_STR(refs(f.s, false, a, "a1"), exp);
    CHECK_STR(refs(f.s, true, a, "a2"), "");
    snprintf(exp, sizeof exp, "%" PRIu64 ":a1", a);
    CHECK_STR(refs(f.s, true, b, "a1"), "");
    CHECK_STR(refs(f.s, true, a, "a3"), exp);
    /* Refused sets change nothing. */
    vd_ref bad[] = {{a, "a2"}, {b, "ghost"}};
    CHECK_INT(links(f.s, a, "a1", bad, 2), VD_ENOTFOUND);
    vd_ref self[] = {{a, "a1"}};
    CHECK_INT(links(f.s, a, "a1", self, 1), VD_EINVAL);
    CHECK_INT(links(f.s, a, "ghost", to2, 1), VD_ENOTFOUND);
    snprintf(exp, sizeof exp, "%" PRIu64 ":a3", a);
    CHECK_STR(refs(f.s, false, a, "a1"), exp);
    /* n == 0 clears the outgoing links only. */
    CHECK_INT(links(f.s, a, "a1", NULL, 0), VD_OK);
    CHECK_STR(refs(f.s, false, a, "a1"), "");
    CHECK_STR(refs(f.s, true, a, "a3"), "");
    snprintf(exp, sizeof exp, "%" PRIu64 ":a1", b);
    CHECK_STR(refs(f.s, true, a, "a1"), exp);
    /* Names at the maximum length both ways (the keys stay under 511). */
    char ln1[VD_STORE_MAX_NAME + 1], ln2[VD_STORE_MAX_NAME + 1];
    memset(ln1, 'x', VD_STORE_MAX_NAME);
    memset(ln2, 'y', VD_STORE_MAX_NAME);
    ln1[VD_STORE_MAX_NAME] = ln2[VD_STORE_MAX_NAME] = 0;
    CHECK_INT(res(f.s, a, ln1), VD_OK);
    CHECK_INT(res(f.s, b, ln2), VD_OK);
    vd_ref lto[] = {{b, ln2}};
    CHECK_INT(links(f.s, a, ln1, lto, 1), VD_OK);
    CHECK(strstr(refs(f.s, true, b, ln2), ln1) != NULL);
    fix_close(&f);
}

/* The callback of links_to may rewrite links (a re-check does). */
typedef struct recheck {
    int calls;
} recheck;

static vd_err recheck_one(uint64_t id, const char *name, void *ctx)
{
    (void)id, (void)name;
    ((recheck *)ctx)->calls++;
    return VD_OK;
}

typedef struct rc_job {
    uint64_t id;
    const char *name;
    int calls;
    vd_err inner;
} rc_job;

static vd_err clear_cb(uint64_t id, const char *name, void *ctx)
{
    (void)id, (void)name;
    rc_job *j = ctx;
    j->calls++;
    return j->inner;
}

static vd_txn *cur_txn;
static vd_err clear_links_cb(uint64_t id, const char *name, void *ctx)
{
    rc_job *j = ctx;
    j->calls++;
    return vd_store_links_set(cur_txn, id, name, NULL, 0);
}

static vd_err recheck_txn(vd_txn *t, void *ctx)
{
    rc_job *j = ctx;
    cur_txn = t;
    j->calls = 0;
    return vd_store_links_to(t, j->id, j->name, clear_links_cb, j);
}

static void test_links_recheck(void)
{
    fix f;
    CHECK(fix_open(&f));
    uint64_t a = mkcal(f.s, "alice", "visits");
    char n[16];
    for (int i = 0; i < 20; i++) {
        snprintf(n, sizeof n, "v%02d", i);
        CHECK(res(f.s, a, n) == VD_OK || !"res");
    }
    vd_ref to[] = {{a, "v00"}};
    for (int i = 1; i < 20; i++) {
        snprintf(n, sizeof n, "v%02d", i);
        if (links(f.s, a, n, to, 1))
            CHECK(!"links");
    }
    recheck r = {0};
    vd_txn *t;
    CHECK_INT(vd_store_read(f.s, &t), VD_OK);
    CHECK_INT(vd_store_links_to(t, a, "v00", recheck_one, &r), VD_OK);
    vd_txn_end(t);
    CHECK_INT(r.calls, 19);
    rc_job j = {a, "v00", 0, VD_OK};
    CHECK_INT(vd_store_write(f.s, "t", "T", recheck_txn, &j), VD_OK);
    CHECK_INT(j.calls, 19);
    CHECK_STR(refs(f.s, true, a, "v00"), "");
    CHECK_STR(refs(f.s, false, a, "v07"), "");
    /* An error from the callback is returned. */
    CHECK_INT(links(f.s, a, "v01", to, 1), VD_OK);
    rc_job k = {a, "v00", 0, VD_EFORBIDDEN};
    CHECK_INT(vd_store_read(f.s, &t), VD_OK);
    CHECK_INT(vd_store_links_to(t, a, "v00", clear_cb, &k), VD_EFORBIDDEN);
    vd_txn_end(t);
    CHECK_INT(k.calls, 1);
    fix_close(&f);
}

/* ---------- deletion clears everything ---------- */
static void test_res_delete(void)
{
    fix f;
    CHECK(fix_open(&f));
    uint64_t a = mkcal(f.s, "alice", "visits");
    uint64_t b = mkcal(f.s, "bob", "visits");
    CHECK_INT(visit(f.s, a, "x", "alice", "acme", T0, T0 + HOUR), VD_OK);
    CHECK_INT(visit(f.s, b, "y", "bob", "acme", T0, T0 + HOUR), VD_OK);
    CHECK_INT(visit(f.s, b, "z", "bob", "acme", T0 + HOUR, T0 + 2 * HOUR), VD_OK);
    vd_ref xy[] = {{b, "y"}, {b, "z"}}, yx[] = {{a, "x"}}, zx[] = {{a, "x"}};
    CHECK_INT(links(f.s, a, "x", xy, 2), VD_OK);
    CHECK_INT(links(f.s, b, "y", yx, 1), VD_OK);
    CHECK_INT(links(f.s, b, "z", zx, 1), VD_OK);
    op d = {.op = OP_RESDEL, .id = a, .name = "x"};
    CHECK_INT(run(f.s, &d), VD_OK);
    CHECK_STR(QC(f.s, "acme", T0 - DAY, T0 + DAY), "y,z");
    CHECK_STR(QO(f.s, "alice", T0 - DAY, T0 + DAY), "");
    CHECK_STR(refs(f.s, false, a, "x"), "");
    CHECK_STR(refs(f.s, true, a, "x"), "");
    CHECK_STR(refs(f.s, true, b, "y"), "");
    CHECK_STR(refs(f.s, false, b, "y"), "");
    CHECK_STR(refs(f.s, false, b, "z"), "");
    /* Recreated under the same name: nothing comes back by itself. */
    CHECK_INT(res(f.s, a, "x"), VD_OK);
    CHECK_STR(QO(f.s, "alice", T0 - DAY, T0 + DAY), "");
    CHECK_STR(refs(f.s, true, a, "x"), "");
    fix_close(&f);
}

static void test_coll_delete_move(void)
{
    fix f;
    CHECK(fix_open(&f));
    uint64_t a = mkcal(f.s, "alice", "visits");
    uint64_t a2 = mkcal(f.s, "alice", "other");
    uint64_t b = mkcal(f.s, "bob", "visits");
    CHECK_INT(visit(f.s, a, "x", "alice", "acme", T0, T0 + HOUR), VD_OK);
    CHECK_INT(visit(f.s, a2, "x2", "alice", "acme", T0, T0 + HOUR), VD_OK);
    CHECK_INT(visit(f.s, b, "y", "bob", "acme", T0, T0 + HOUR), VD_OK);
    vd_ref to_y[] = {{b, "y"}}, to_x[] = {{a, "x"}, {a2, "x2"}};
    CHECK_INT(links(f.s, a, "x", to_y, 1), VD_OK);
    CHECK_INT(links(f.s, b, "y", to_x, 2), VD_OK);
    /* A collection move keeps ids, entries and links. */
    op mv = {.op = OP_COLLMOVE, .path = "/calendars/alice/visits/",
             .path2 = "/calendars/alice/moved/"};
    CHECK_INT(run(f.s, &mv), VD_OK);
    CHECK_STR(QC(f.s, "acme", T0 - DAY, T0 + DAY), "x,x2,y");
    char exp[128];
    snprintf(exp, sizeof exp, "%" PRIu64 ":y", b);
    CHECK_STR(refs(f.s, false, a, "x"), exp);
    /* Deleting alice's home removes both her calendars' entries and links. */
    op d = {.op = OP_COLLDEL, .path = "/calendars/alice/"};
    CHECK_INT(run(f.s, &d), VD_OK);
    CHECK_STR(QC(f.s, "acme", T0 - DAY, T0 + DAY), "y");
    CHECK_STR(QO(f.s, "alice", VD_TIME_MIN, VD_TIME_MAX), "");
    CHECK_STR(refs(f.s, false, b, "y"), "");
    CHECK_STR(refs(f.s, true, b, "y"), "");
    CHECK_STR(refs(f.s, false, a, "x"), "");
    fix_close(&f);
}

/* ---------- scale ---------- */
#define N_OWNERS 1000
#define PER_OWNER 100
#define N_CUST 500

typedef struct sv {
    uint32_t cust, owner, idx;
    vd_time start, end;
} sv;

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

typedef struct fill {
    uint64_t id;
    uint32_t owner;
    sv *v;
} fill;

static vd_err fill_owner(vd_txn *t, void *ctx)
{
    fill *f = ctx;
    char name[32], owner[16], cust[16];
    snprintf(owner, sizeof owner, "rep%04u", f->owner);
    for (int i = 0; i < PER_OWNER; i++) {
        sv *v = &f->v[i];
        snprintf(name, sizeof name, "v%03d.ics", i);
        snprintf(cust, sizeof cust, "cust%03u", v->cust);
        vd_put p = {.coll_id = f->id, .name = name, .data = "x", .len = 1,
                    .content_type = "text/calendar"};
        vd_instance in = {v->start, v->end};
        vd_err e = vd_store_res_put(t, &p, NULL);
        if (!e)
            e = vd_store_visits_put(t, f->id, name, owner, cust, &in, 1);
        if (e)
            return e;
    }
    return VD_OK;
}

typedef struct sq {
    size_t n, bad;
    vd_time s, e;
    uint32_t cust;
} sq;

static vd_err scale_cb(const vd_visit_entry *e, void *ctx)
{
    sq *q = ctx;
    char cust[16];
    snprintf(cust, sizeof cust, "cust%03u", q->cust);
    bool overlap = e->start == q->s || (e->start < q->e && e->end > q->s);
    if (strcmp(e->customer_id, cust) || !overlap)
        q->bad++;
    q->n++;
    return VD_OK;
}

/* Lookups of one day for random customers: each result count equals the
 * brute-force count over the first n visits; returns seconds per lookup. */
static double scale_queries(vd_store *s, const sv *all, size_t n, int rounds, size_t *wrong,
                            size_t *found)
{
    vd_txn *t;
    if (vd_store_read(s, &t))
        return -1;
    double spent = 0;
    for (int r = 0; r < rounds; r++) {
        sq q = {0, 0, T0 + (vd_time)(rnd() % 365) * DAY, 0, (uint32_t)(rnd() % N_CUST)};
        q.e = q.s + DAY;
        char cust[16];
        snprintf(cust, sizeof cust, "cust%03u", q.cust);
        double a = now_s();
        if (vd_store_visits_by_customer(t, cust, q.s, q.e, scale_cb, &q))
            (*wrong)++;
        spent += now_s() - a;
        size_t want = 0;
        for (size_t i = 0; i < n; i++)
            want += all[i].cust == q.cust && all[i].start < q.e && all[i].end > q.s;
        *wrong += q.bad + (q.n != want);
        *found += q.n;
    }
    vd_txn_end(t);
    return spent / rounds;
}

static void test_scale(void)
{
    fix f;
    CHECK(fix_open(&f));
    sv *all = malloc((size_t)N_OWNERS * PER_OWNER * sizeof *all);
    CHECK(all != NULL);
    size_t n = 0, wrong = 0, found = 0;
    double fill_s = 0;
    int checkpoints[] = {10, 100, N_OWNERS};
    int cp = 0;
    for (uint32_t o = 0; o < N_OWNERS; o++) {
        char user[16];
        snprintf(user, sizeof user, "rep%04u", o);
        fill fl = {mkcal(f.s, user, "visits"), o, all + n};
        for (int i = 0; i < PER_OWNER; i++) {
            vd_time st = T0 + (vd_time)(rnd() % (365 * 24)) * HOUR;
            /* Mostly 1-2 h visits; a few trade fairs of up to 5 days. */
            vd_time len = rnd() % 50 == 0 ? (vd_time)(1 + rnd() % 5) * DAY
                                          : (vd_time)(1 + rnd() % 2) * HOUR;
            all[n + i] = (sv){(uint32_t)(rnd() % N_CUST), o, (uint32_t)i, st, st + len};
        }
        double a = now_s();
        vd_err e = vd_store_write(f.s, "t", "T", fill_owner, &fl);
        fill_s += now_s() - a;
        if (e) {
            CHECK_INT(e, VD_OK);
            break;
        }
        n += PER_OWNER;
        if ((int)o + 1 == checkpoints[cp]) {
            size_t w = 0, fd = 0;
            double per = scale_queries(f.s, all, n, 1000, &w, &fd);
            printf("  visits scale: %7zu visits indexed: by_customer 1-day lookup %.1f us "
                   "(%zu entries found in 1000 lookups)\n", n, per * 1e6, fd);
            wrong += w;
            found += fd;
            cp++;
        }
    }
    printf("  visits scale: filled %zu visits (res_put + visits_put) in %.2f s\n", n, fill_s);
    CHECK_INT(n, (size_t)N_OWNERS * PER_OWNER);
    CHECK_INT(wrong, 0);
    CHECK(found > 500);        /* the lookups did find things */

    /* One customer's whole year: exactly its own visits. */
    vd_txn *t;
    sq q = {0, 0, T0 - DAY, T0 + 400 * DAY, 42};
    size_t want = 0;
    for (size_t i = 0; i < n; i++)
        want += all[i].cust == 42;
    CHECK_INT(vd_store_read(f.s, &t), VD_OK);
    double a = now_s();
    CHECK_INT(vd_store_visits_by_customer(t, "cust042", q.s, q.e, scale_cb, &q), VD_OK);
    double b = now_s();
    vd_txn_end(t);
    CHECK_INT(q.n, want);
    CHECK_INT(q.bad, 0);
    printf("  visits scale: a whole year of one customer: %zu entries in %.0f us\n", q.n,
           (b - a) * 1e6);
    free(all);
    fix_close(&f);
}

int main(void)
{
    test_put_replace_delete();
    test_errors();
    test_edges();
    test_long_instances();
    test_isolation_and_order();
    test_recurring_replace();
    test_links();
    test_links_recheck();
    test_res_delete();
    test_coll_delete_move();
    test_scale();
    return check_done();
}
