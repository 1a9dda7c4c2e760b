/* calobj.h - storing one calendar object resource, the single path every
 * write of iCalendar data into a calendar collection takes (PUT, COPY, MOVE,
 * collection COPY, visitdav approve).  Implemented in calobj.c.
 *
 * Two steps, so the expensive part runs outside the write transaction:
 *   vd_calobj_prepare  no store access: media type, size, RFC 4791 5.3.2
 *                      validation (vd_ical_parse), instance indexing.
 *   vd_calobj_store    inside the one write txn of the request: supported
 *                      component re-check, UID rules, then vd_store_res_put.
 *                      The visit rules layer (issue 3, visits.h) runs here,
 *                      inside the same txn, when o->srv is set: it may
 *                      rewrite o->data (the caller then must not send an
 *                      ETag, RFC 4791 5.3.4) or reject the write
 *                      (o->reject_xml holds the 403 body). */
#ifndef VD_CALOBJ_H
#define VD_CALOBJ_H

#include "../lib/config.h"
#include "../lib/ical.h"
#include "../lib/store.h"

struct vd_server;

typedef struct vd_calobj {
    vd_ical *ic;                  /* parsed object (owned) */
    const char *sent; size_t sent_len;   /* the bytes the client sent (borrowed) */
    const char *data; size_t len; /* the bytes to store: == sent unless rewritten */
    char *owned;                  /* set when a hook rewrote data (malloc'd) */
    vd_instance *inst; size_t n_inst;    /* index instances (malloc'd) */
    bool open_ended;
    /* (extension, issue 3) set by the caller after prepare: */
    struct vd_server *srv;        /* the visit rules run when set */
    const char *actor;            /* the writing user (approvals) */
    bool admin;                   /* visitdav approve: counts as an approver */
    /* set by store on a visit-rules reject (owned): the DAV:error body */
    char *reject_xml;
} vd_calobj;

typedef struct vd_calobj_stored {
    vd_put_result put;            /* created, etag, old_etag */
    bool bytes_changed;           /* stored bytes differ from sent: no ETag */
} vd_calobj_stored;

/* Validate data (content_type as sent, may be NULL) for a calendar allowing
 * comp_mask (0 = VD_COMP_DEFAULT) and index its instances.  data must stay
 * valid until vd_calobj_clear.  On failure returns VD_EPRECOND with d set to
 * 403 and one of C:supported-calendar-data, C:max-resource-size,
 * C:valid-calendar-data, C:valid-calendar-object-resource,
 * C:supported-calendar-component.  o is cleared first. */
vd_err vd_calobj_prepare(vd_calobj *o, const vd_config *cfg, const char *content_type,
                         const char *data, size_t len, uint32_t comp_mask, vd_diag *d);

/* Inside write txn t: store o as member name of calendar coll.
 * replaced_uid: the UID of the resource being replaced (NULL when none);
 * a different UID is refused (RFC 4791 5.3.2.1).  A UID held by another
 * member of coll is refused with C:no-uid-conflict naming that member.
 * With o->srv set the visit rules run (vd_visits_store): a reject is
 * VD_EPRECOND with d = 403 and o->reject_xml set (answer it as the body,
 * application/xml).  Re-runnable (o->data is reset to the sent bytes).
 * Errors: VD_EPRECOND (d: 403 + precondition), store errors. */
vd_err vd_calobj_store(vd_txn *t, vd_calobj *o, const vd_coll *coll, const char *name,
                       const char *replaced_uid, vd_calobj_stored *out, vd_diag *d);

/* Free what prepare allocated; zeroes o.  NULL harmless. */
void vd_calobj_clear(vd_calobj *o);

/* Is ct a media type a calendar collection accepts (text/calendar with an
 * absent, utf-8 or us-ascii charset)? */
bool vd_calobj_media_ok(const char *ct);

/* (issue 4) "Never seen" markers.  A member created CLASS:PRIVATE, and
 * private in every version since, was never served to anyone but its
 * owner (access.h); vd_calobj_store marks it with a dead property of its
 * calendar, which survives its deletion, so sync-collection leaves its
 * changes and its deletion out of other viewers' reports while an event
 * that turns private after being seen is reported as removed.  The first
 * non-private version removes the mark for good.  The markers' namespace
 * is protected and never listed (props.c). */
#define VD_CALOBJ_UNSEEN_NS "urn:visitdav:unseen"
/* Is member name of calendar coll_id marked "never seen", in txn t? */
bool vd_calobj_unseen(vd_txn *t, uint64_t coll_id, const char *name);

#endif
