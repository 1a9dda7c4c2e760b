/* rules.h - the visit rules: which writes collide with what, and what to
 * do about it (reject, flag, or nothing).  Pure: no store, no HTTP, no
 * libical.  The caller describes the visit being written (vd_visit) and
 * gives a source that finds nearby visits through the store's indexes
 * inside the same write transaction; the rules answer with conflicts.
 *
 * Rules (issue 3), each with a policy reject | flag | off, set for the
 * organisation and overridable per team:
 *   rep-overlap       the rep's busy events overlap in time (all of the
 *                     rep's calendars).                     default flag
 *   customer-overlap  visits to the same customer by different reps
 *                     overlap, or fall in one window: "overlap",
 *                     "same-day" (in the organisation's time zone) or
 *                     "<N>h" apart.                          default flag, same-day
 *   customer-cadence  the same customer is visited again within N days by
 *                     anyone (the rep included).             default off, 14 days
 *   required-fields   a customer visit lacks a purpose, or an event that
 *                     looks like a visit names no known customer.  default off
 * Transparent (TRANSP:TRANSPARENT) and cancelled (STATUS:CANCELLED) events
 * never collide, on either side.  A rule listed in the visit's approvals
 * (X-VISIT-APPROVED, set by someone allowed to) is not reported.
 *
 * File (conf/rules.conf), "key = value" with [sections]:
 *   [organisation]
 *   timezone = Europe/Berlin         # for same-day windows
 *   horizon_days = 366               # recurring visits checked this far ahead
 *   rep-overlap = flag
 *   customer-overlap = flag
 *   customer-overlap.window = same-day   # overlap | same-day | <N>h
 *   customer-cadence = off
 *   customer-cadence.days = 14
 *   required-fields = off
 *   marker = summary                 # summary | categories | both
 *   marker.prefix = "[CONFLICT] "
 *   marker.category = Conflict
 *   approvers = carol, dave          # who may set X-VISIT-APPROVED (until the ACL file names managers)
 *   [team east]
 *   customer-overlap = reject        # any rule key may be overridden per team
 * Unknown keys, bad values: VD_EINVAL "path:line: reason"; a bad file is
 * never applied. */
#ifndef VD_RULES_H
#define VD_RULES_H

#include "vd.h"

typedef enum vd_rule {
    VD_RULE_REP_OVERLAP = 0,
    VD_RULE_CUSTOMER_OVERLAP,
    VD_RULE_CUSTOMER_CADENCE,
    VD_RULE_REQUIRED_FIELDS,
    VD_RULE_COUNT
} vd_rule;

typedef enum vd_policy { VD_POLICY_OFF = 0, VD_POLICY_FLAG, VD_POLICY_REJECT } vd_policy;

typedef enum vd_window_kind { VD_WINDOW_OVERLAP, VD_WINDOW_SAME_DAY, VD_WINDOW_HOURS } vd_window_kind;

typedef enum vd_marker { VD_MARKER_SUMMARY = 1, VD_MARKER_CATEGORIES = 2, VD_MARKER_BOTH = 3 } vd_marker;

typedef struct vd_rules vd_rules;   /* a loaded configuration, immutable */

vd_err vd_rules_load(const char *path, vd_rules **out, vd_diag *d);   /* path NULL: defaults */
vd_err vd_rules_parse(const char *name, const char *text, size_t len, vd_rules **out, vd_diag *d);
void   vd_rules_free(vd_rules *r);

const char *vd_rule_name(vd_rule rule);              /* "rep-overlap", ... */
bool        vd_rule_from_name(const char *name, vd_rule *out);
vd_policy   vd_rules_policy(const vd_rules *r, vd_rule rule, const char *team); /* team may be NULL */
const char *vd_rules_timezone(const vd_rules *r);    /* IANA name */
int         vd_rules_horizon_days(const vd_rules *r);
vd_marker   vd_rules_marker(const vd_rules *r);
const char *vd_rules_marker_prefix(const vd_rules *r);
const char *vd_rules_marker_category(const vd_rules *r);
bool        vd_rules_is_approver(const vd_rules *r, const char *user);

/* The visit being written, as the rules see it. */
typedef struct vd_visit {
    const char *ref;            /* "collection path + name": identifies it, excluded from lookups */
    const char *owner;          /* the rep (owner of the calendar) */
    const char *team;           /* the rep's team for overrides, or NULL */
    const char *customer_id;    /* NULL: not a customer visit */
    bool looks_like_visit;      /* for required-fields: e.g. X-VISIT-CUSTOMER set but unknown */
    bool has_purpose;           /* DESCRIPTION or X-VISIT-PURPOSE non-empty */
    bool transparent, cancelled;
    uint32_t approved;          /* bit (1 << vd_rule) for each approved rule */
    const vd_instance *inst;    /* instances inside the horizon, sorted */
    size_t n_inst;
} vd_visit;

/* One instance of another visit, as found by the source. */
typedef struct vd_neighbour {
    const char *ref;
    const char *owner;
    const char *customer_id;    /* may be NULL for owner lookups */
    vd_time start, end;
} vd_neighbour;

typedef vd_err (*vd_neighbour_cb)(const vd_neighbour *n, void *ctx);

/* Lookups the caller provides (backed by the store's customer and owner
 * indexes).  Each calls cb for every indexed instance overlapping
 * [start, end) except those of `exclude_ref`. */
typedef struct vd_rules_source {
    void *ctx;
    /* The local day [start, end) containing t in time zone tzid (for the
     * same-day window); time zones live in lib/ical (vd_ical_local_day). */
    void (*local_day)(vd_time t, const char *tzid, vd_time *day_start, vd_time *day_end);
    vd_err (*by_customer)(void *ctx, const char *customer_id, vd_time start, vd_time end,
                          const char *exclude_ref, vd_neighbour_cb cb, void *cb_ctx);
    vd_err (*by_owner)(void *ctx, const char *owner, vd_time start, vd_time end,
                       const char *exclude_ref, vd_neighbour_cb cb, void *cb_ctx);
} vd_rules_source;

/* One collision found. */
typedef struct vd_conflict {
    vd_rule rule;
    vd_policy policy;           /* the effective policy (never OFF) */
    vd_time start, end;         /* this visit's instance */
    char *other_ref;            /* NULL for required-fields */
    char *other_owner;
    vd_time other_start, other_end;
    char message[256];          /* one human line, no private details beyond
                                   rule, time and owner */
} vd_conflict;

typedef struct vd_conflicts {
    vd_conflict *items; size_t n;
    bool reject;                /* at least one conflict has policy REJECT */
} vd_conflicts;

/* Check v against its neighbours.  At most one conflict per (rule, other
 * visit): the first colliding instance.  Deterministic order: by rule,
 * then other start, then other ref.  Cost: one source lookup per instance
 * and rule, bounded by the number of nearby visits. */
vd_err vd_rules_check(const vd_rules *r, const vd_visit *v, const vd_rules_source *src,
                      vd_conflicts *out);
void   vd_conflicts_clear(vd_conflicts *c);

#endif
