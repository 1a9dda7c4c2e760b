/* holder.h - a thread-safe holder of one reloadable immutable object
 * (the ACL rules, the customer directory): readers take a counted
 * reference to the object in force, a reload swaps in a new one, and
 * each object is freed by whoever drops its last reference.  Knows
 * nothing of what it holds; does no I/O.
 *
 * Ownership: vd_holder_new and vd_holder_swap take the object they are
 * given.  vd_holder_acquire returns a borrowed pointer, valid until the
 * matching vd_holder_release; readers must not modify it (the object is
 * shared between threads without a lock).  vd_holder_free drops the
 * holder's own reference and must come after every reader released
 * theirs (an object still referenced then is left alone, never freed
 * under a reader). */
#ifndef VD_HOLDER_H
#define VD_HOLDER_H

#include "vd.h"

typedef struct vd_holder vd_holder;

/* A holder of obj (non-NULL), freed with free_fn (non-NULL).  NULL without
 * memory; obj is then still the caller's. */
vd_holder  *vd_holder_new(void *obj, void (*free_fn)(void *));

/* The object in force with one more reference; never NULL. */
const void *vd_holder_acquire(vd_holder *h);

/* Drop a reference from vd_holder_acquire; frees obj if it was its last
 * (it was swapped out meanwhile).  NULL h or obj: nothing. */
void        vd_holder_release(vd_holder *h, const void *obj);

/* Put new_obj (non-NULL) in force; the old object is freed now or by its
 * last reader.  Takes new_obj in every case.  Errors: VD_ENOMEM (new_obj
 * freed, the old object stays in force). */
vd_err      vd_holder_swap(vd_holder *h, void *new_obj);

/* One reload at a time: load(ctx, &obj) runs while no other
 * vd_holder_reload does (so the last load to finish is the one in force);
 * on VD_OK obj is swapped in.  Returns load's error (nothing changed: the
 * old object stays in force) or vd_holder_swap's. */
vd_err      vd_holder_reload(vd_holder *h, vd_err (*load)(void *ctx, void **out), void *ctx);

/* Drop the holder's reference and free it.  NULL: nothing. */
void        vd_holder_free(vd_holder *h);

#endif
