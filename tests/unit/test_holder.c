/* test_holder.c - the reloadable holder: readers keep the object they took
 * across a swap, the last reference frees it exactly once, a failed reload
 * keeps the object in force, and readers race reloads safely. */
#include "check.h"
#include "holder.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

static atomic_int freed;

typedef struct obj { int version; } obj;

static void free_obj(void *p)
{
    atomic_fetch_add(&freed, 1);
    free(p);
}

static obj *make(int v)
{
    obj *o = malloc(sizeof *o);
    o->version = v;
    return o;
}

static vd_err load_ok(void *ctx, void **out)
{
    *out = make(*(int *)ctx);
    return VD_OK;
}

static vd_err load_bad(void *ctx, void **out)
{
    (void)ctx;
    *out = NULL;
    return VD_EINVAL;
}

static void basics(void)
{
    atomic_store(&freed, 0);
    vd_holder *h = vd_holder_new(make(1), free_obj);
    CHECK(h != NULL);
    const obj *a = vd_holder_acquire(h);
    CHECK_INT(a->version, 1);
    CHECK_INT(vd_holder_swap(h, make(2)), VD_OK);
    CHECK_INT(a->version, 1);                 /* still valid for its reader */
    CHECK_INT(atomic_load(&freed), 0);
    const obj *b = vd_holder_acquire(h);
    CHECK_INT(b->version, 2);
    vd_holder_release(h, a);                  /* last reference of version 1 */
    CHECK_INT(atomic_load(&freed), 1);
    int v = 3;
    CHECK_INT(vd_holder_reload(h, load_bad, &v), VD_EINVAL);
    const obj *c = vd_holder_acquire(h);
    CHECK_INT(c->version, 2);                 /* a failed reload keeps the old */
    vd_holder_release(h, c);
    CHECK_INT(vd_holder_reload(h, load_ok, &v), VD_OK);
    c = vd_holder_acquire(h);
    CHECK_INT(c->version, 3);
    vd_holder_release(h, c);
    CHECK_INT(atomic_load(&freed), 1);        /* version 2 still held by b */
    vd_holder_release(h, b);
    CHECK_INT(atomic_load(&freed), 2);
    vd_holder_free(h);
    CHECK_INT(atomic_load(&freed), 3);        /* version 3 with the holder */
    vd_holder_free(NULL);
    vd_holder_release(NULL, NULL);
}

static atomic_int stop, bad_reads;

static void *reader(void *arg)
{
    vd_holder *h = arg;
    while (!atomic_load(&stop)) {
        const obj *o = vd_holder_acquire(h);
        if (!o || o->version < 0)
            atomic_fetch_add(&bad_reads, 1);
        vd_holder_release(h, o);
    }
    return NULL;
}

static void race(void)
{
    atomic_store(&freed, 0);
    vd_holder *h = vd_holder_new(make(0), free_obj);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, reader, h);
    int ok = 0;
    for (int v = 1; v <= 2000; v++)
        ok += vd_holder_reload(h, v % 3 ? load_ok : load_bad, &v) == VD_OK;
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK_INT(atomic_load(&bad_reads), 0);
    vd_holder_free(h);
    CHECK_INT(atomic_load(&freed), ok + 1);   /* every object freed exactly once */
}

int main(void)
{
    basics();
    race();
    return check_done();
}
