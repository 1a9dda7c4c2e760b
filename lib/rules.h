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
 * never applied.
 *
 * Details of the format (rules.c):
 *   - '#' starts a comment (outside quotes); blank lines are ignored; keys
 *     before the first section belong to [organisation] ("organization" is
 *     accepted too); keys and policy/marker words ignore case.
 *   - A value may be "double quoted" (needed for a trailing space, as in
 *     marker.prefix); inside quotes \" and \\ stand for " and \.
 *   - A key set twice in one section (or in two sections of the same team)
 *     is an error; [team NAME] may repeat and adds to the same team.
 *   - A team section takes only the rule keys: the four policies,
 *     customer-overlap.window and customer-cadence.days; and
 *     "members = alice, bob" (until the ACL file names teams): a user may
 *     be a member of one team only (vd_rules_team_of).
 *   - Bounds: file 1 MiB, line 4096 bytes, 1024 teams, 256 approvers,
 *     10,000 team members in all,
 *     horizon_days 1..VD_INDEX_HORIZON_DAYS (nothing is indexed further),
 *     window 1..720 h, cadence 1..366 days, marker texts 1..64 bytes
 *     (marker.category without ',' ';' or control characters), timezone a
 *     plain zone name (its existence is checked by the caller, e.g. with
 *     vd_ical_zone_known; an unknown zone behaves as UTC).
 *   - Defaults (vd_rules_load(NULL), and keys not set): timezone UTC,
 *     horizon_days 366, the policies and windows above, marker summary,
 *     marker.prefix "[CONFLICT] ", marker.category Conflict, no approvers.
 * vd_rules_load errors: VD_EIO (unreadable, "path: reason"), VD_ETOOBIG
 * (over 1 MiB), VD_EINVAL (as above), VD_ENOMEM.  Accessors given a NULL
 * vd_rules answer the defaults. */
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
/* The team whose "members" list names user, or NULL (borrowed from r). */
const char *vd_rules_team_of(const vd_rules *r, const char *user);
/* The customer-overlap window for team (NULL: organisation); *hours is set
 * for VD_WINDOW_HOURS (else 0).  hours may be NULL. */
vd_window_kind vd_rules_window(const vd_rules *r, const char *team, int *hours);
int         vd_rules_cadence_days(const vd_rules *r, const char *team);

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
    /* Optional (may be NULL): seconds east of UTC at t in tzid, used to
     * write local times in messages (vd_ical_utc_offset).  NULL: messages
     * give UTC times, marked " UTC" unless the organisation's zone is UTC. */
    int (*utc_offset)(vd_time t, const char *tzid);
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
    bool truncated;             /* over VD_RULES_MAX_OTHERS other visits for one
                                   rule: the rest were not recorded */
} vd_conflicts;

#define VD_RULES_MAX_OTHERS 1000

/* Check v against its neighbours.  At most one conflict per (rule, other
 * visit): the first colliding instance.  Deterministic order: by rule,
 * then other start, then other ref.  Cost: one source lookup per instance
 * and rule, bounded by the number of nearby visits.
 *
 * Exactly (rules.c):
 *   - Overlap is strict: [a, b) and [c, d) collide when a < d && c < b, so
 *     an event ending when the other starts does not collide, and a
 *     zero-length instance collides with nothing under rep-overlap and the
 *     "overlap" window.
 *   - rep-overlap: by_owner(v->owner) over each instance; a neighbour of
 *     the same owner overlapping the instance.  Skipped when owner is NULL.
 *   - customer-overlap (customer_id set): each instance widened to its
 *     window: "overlap" the instance itself, "<N>h" N hours either side,
 *     "same-day" the local day (src->local_day, organisation zone) of its
 *     start, through the local day of its last second when it crosses
 *     midnight; a neighbour of ANOTHER owner overlapping the window.
 *   - customer-cadence: each instance widened by N * 86400 s either side;
 *     any other visit to the customer, the rep's own included.
 *   - required-fields: customer_id set without has_purpose, or
 *     looks_like_visit without customer_id; other_ref/other_owner NULL.
 *   - Transparent or cancelled v: only required-fields is checked.  The
 *     source is expected to leave transparent and cancelled events out of
 *     its indexes, so they are never found as neighbours either.
 *   - A rule whose bit is set in v->approved is not checked at all.
 *   - "First" pair of one (rule, other ref): the smallest (instance start,
 *     other start, other end), whatever order the source calls back in.
 * Errors: VD_EINVAL (NULL arguments; a source function that an active rule
 * needs is NULL: never fail open), VD_ETOOBIG (n_inst over
 * VD_MAX_EXPAND_INST), VD_ENOMEM, or whatever the source returned (out is
 * then empty).  Owns: out's items and their strings (vd_conflicts_clear). */
vd_err vd_rules_check(const vd_rules *r, const vd_visit *v, const vd_rules_source *src,
                      vd_conflicts *out);
void   vd_conflicts_clear(vd_conflicts *c);

#endif
