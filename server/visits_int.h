/* visits_int.h - internal to visits.c and visits_list.c: the state of one
 * rules operation (snapshots of the rules and the customer directory, a
 * collection cache, the re-check list) and the reading of iCalendar
 * content lines as text.  Not for other modules. */
#ifndef VD_VISITS_INT_H
#define VD_VISITS_INT_H

#include "visits.h"

#include "../lib/customers.h"

#define VD_VCTX_COLLS 64        /* collections remembered per operation */

typedef struct vd_coll_slot {
    uint64_t id;
    char *path, *owner;
    char *tz;                   /* calendar-timezone TZID, NULL = the rules' zone */
    bool tz_done;
} vd_coll_slot;

typedef struct vd_vctx {
    vd_txn *t;
    vd_server *srv;
    const char *actor;
    const vd_rules *rules;
    const vd_customers *cust;
    vd_time now;
    vd_coll_slot colls[VD_VCTX_COLLS];
    size_t n_colls, evict;
    vd_ref *pend;               /* visits to re-check (names owned) */
    size_t n_pend;
    /* approvals of other visits by ref (hash, open addressing): stored
     * approvals change only when their visit is written, and a visit is
     * never looked up before its own write in one operation */
    struct vd_appr { char *ref; uint32_t mask; } *appr;
    size_t n_appr, cap_appr;
} vd_vctx;

void vd_vctx_open(vd_vctx *x, vd_txn *t, vd_server *s, const char *actor);
/* (issue 4) Does user manage a team of the ACL file that owner is a member
 * of?  False without an ACL file.  In visits.c. */
bool vd_visits_acl_manages(vd_server *s, const char *user, const char *owner);
void vd_vctx_close(vd_vctx *x);
/* The collection with id (cached; the pointer is valid until the next
 * call).  *out NULL with VD_OK when it is gone. */
vd_err vd_vctx_coll(vd_vctx *x, uint64_t id, const vd_coll_slot **out);
/* Floating times and dates of a calendar: its calendar-timezone, else the
 * organisation's zone (rules.conf timezone). */
const char *vd_vctx_floating_tz(vd_vctx *x, uint64_t coll_id);

/* Logical lines (RFC 5545 3.1, unfolded) of iCalendar text. */
typedef struct vd_ics_it {
    const char *p, *end;
} vd_ics_it;

/* The next line: raw span [*b, *e) with its line end, the unfolded text
 * without line end in text. */
bool vd_ics_next(vd_ics_it *it, const char **b, const char **e, vd_buf *text);
/* Is line the property name (case-insensitive)? */
bool vd_ics_prop_is(const char *line, const char *name);
/* The ':' that starts the value (outside quoted parameters), or NULL. */
const char *vd_ics_value_colon(const char *line);
/* Parameter pname of line, unquoted and RFC 6868 decoded, into out. */
bool vd_ics_param_get(const char *line, const char *pname, char *out, size_t cap);

#endif
