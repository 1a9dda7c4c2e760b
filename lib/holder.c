/* holder.c - the reloadable immutable object holder (holder.h).  Owns the
 * locking and reference counting only; must not know what it holds.
 *
 * Each object in force or still read after a swap has a generation node
 * with its reference count.  A mutex guards the list of nodes and every
 * count; objects are freed outside it.  The list is short: the object in
 * force plus old ones a slow reader still holds. */
#include "holder.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct gen {
    struct gen *next;
    void *obj;
    size_t refs;                /* the holder's own (current only) + readers' */
} gen;

struct vd_holder {
    pthread_mutex_t mu;         /* the list and every refs */
    pthread_mutex_t reload_mu;  /* one reload at a time */
    void (*free_fn)(void *);
    gen *cur;                   /* head of the list: the object in force */
};

vd_holder *vd_holder_new(void *obj, void (*free_fn)(void *))
{
    vd_holder *h = calloc(1, sizeof *h);
    gen *g = calloc(1, sizeof *g);
    if (!h || !g) {
        free(h);
        free(g);
        return NULL;
    }
    g->obj = obj;
    g->refs = 1;
    h->free_fn = free_fn;
    h->cur = g;
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_init(&h->reload_mu, NULL);
    return h;
}

const void *vd_holder_acquire(vd_holder *h)
{
    pthread_mutex_lock(&h->mu);
    h->cur->refs++;
    const void *obj = h->cur->obj;
    pthread_mutex_unlock(&h->mu);
    return obj;
}

/* Drop one reference of the node holding obj (caller holds h->mu); an
 * unreferenced node is unlinked.  The object to free, or NULL. */
static void *unref(vd_holder *h, const void *obj)
{
    for (gen **pp = &h->cur; *pp; pp = &(*pp)->next) {
        gen *g = *pp;
        if (g->obj != obj)
            continue;
        if (--g->refs > 0)
            return NULL;
        void *dead = g->obj;
        *pp = g->next;
        free(g);
        return dead;
    }
    return NULL;   /* not ours: a caller bug, ignored rather than corrupting */
}

void vd_holder_release(vd_holder *h, const void *obj)
{
    if (!h || !obj)
        return;
    pthread_mutex_lock(&h->mu);
    void *dead = unref(h, obj);
    pthread_mutex_unlock(&h->mu);
    if (dead)
        h->free_fn(dead);
}

vd_err vd_holder_swap(vd_holder *h, void *new_obj)
{
    gen *g = calloc(1, sizeof *g);
    if (!g) {
        h->free_fn(new_obj);
        return VD_ENOMEM;
    }
    g->obj = new_obj;
    g->refs = 1;
    pthread_mutex_lock(&h->mu);
    /* the old head stays in the list while readers hold it; drop the
     * holder's reference before linking so unref finds it, not g */
    void *dead = unref(h, h->cur->obj);
    g->next = h->cur;
    h->cur = g;
    pthread_mutex_unlock(&h->mu);
    if (dead)
        h->free_fn(dead);
    return VD_OK;
}

vd_err vd_holder_reload(vd_holder *h, vd_err (*load)(void *ctx, void **out), void *ctx)
{
    void *obj = NULL;
    pthread_mutex_lock(&h->reload_mu);
    vd_err err = load(ctx, &obj);
    if (err == VD_OK)
        err = vd_holder_swap(h, obj);
    pthread_mutex_unlock(&h->reload_mu);
    return err;
}

void vd_holder_free(vd_holder *h)
{
    if (!h)
        return;
    void *dead = unref(h, h->cur->obj);
    if (dead)
        h->free_fn(dead);
    /* nodes left are still referenced (a caller bug): their objects are
     * left alone, only the bookkeeping goes */
    for (gen *g = h->cur, *next; g; g = next) {
        next = g->next;
        free(g);
    }
    pthread_mutex_destroy(&h->mu);
    pthread_mutex_destroy(&h->reload_mu);
    free(h);
}
