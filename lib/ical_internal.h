/* ical_internal.h - what the four ical*.c files share: the vd_ical struct,
 * process-wide libical setup and time-zone resolution (ical.c), and the
 * recurrence expander (ical_expand.c).  Only ical*.c include this file; it
 * is the one place besides them that names libical types.  Nothing here is
 * part of the public contract (lib/ical.h). */
#ifndef VD_ICAL_INTERNAL_H
#define VD_ICAL_INTERNAL_H

#include <libical/ical.h>

#include "ical.h"

/* Hard limits that hold whatever the caller asks for. */
#define IC_MAX_STEPS   100000   /* recurrence iterator steps per expansion */
#define IC_MAX_DEPTH   16       /* component nesting (BEGIN inside BEGIN) */

struct vd_ical {
    icalcomponent *root;        /* the VCALENDAR, owned */
    icalcomponent_kind kind;    /* kind of the main component(s) */
    uint32_t comp;              /* VD_COMP_* of kind, 0 if unknown */
    char *uid;                  /* owned copy, "" when none */
};

/* ---- ical.c: setup and time zones ---- */

/* One-time, thread-safe libical setup (token handling, zone table preload).
 * Every public entry point calls it first. */
void ic_init(void);

/* Resolve a TZID used inside root: the object's VTIMEZONE first, then the
 * system zone database, then zones registered by vd_ical_timezone_id.
 * NULL when unknown (the caller then treats the time as floating). */
icaltimezone *ic_zone_for_tzid(icalcomponent *root, const char *tzid);

/* The zone floating times and dates are taken in: a registered zone or a
 * system zone called name; UTC when name is NULL or unknown. */
icaltimezone *ic_floating_zone(const char *name);

/* A DATE or DATE-TIME as found in a property, resolved. */
typedef struct ic_dt {
    icaltimetype t;             /* wall time (or date); t.zone = zone, or NULL for dates */
    icaltimezone *zone;         /* zone the wall time is in (UTC, TZID's or floating) */
    bool is_date;
    bool floating;              /* no usable TZID: position depends on the viewer */
} ic_dt;

/* Resolve t (from property p, whose TZID parameter is honoured). */
ic_dt   ic_dt_make(icaltimetype t, icalproperty *p, icalcomponent *root,
                   icaltimezone *floating);
/* Resolve the DATE/DATE-TIME value of p (DTSTART, DTEND, DUE,
 * RECURRENCE-ID, EXDATE, COMPLETED, ...). false if p holds no such value. */
bool    ic_prop_dt(icalproperty *p, icalcomponent *root, icaltimezone *floating,
                   ic_dt *out);
/* Wall time t in zone (NULL = UTC) as UTC seconds; a DATE is its midnight. */
vd_time ic_local_to_utc(icaltimetype t, icaltimezone *zone);
vd_time ic_dt_utc(const ic_dt *d);

/* Name comparison for a property (handles X- and unknown IANA names). */
bool ic_prop_is(icalproperty *p, const char *name);
/* Name of a component, upper case ("VEVENT", "X-FOO"). */
const char *ic_comp_name(icalcomponent *c);
/* VD_COMP_* of a component kind, 0 if none. */
uint32_t ic_kind_mask(icalcomponent_kind k);
/* The first main component (master if present), or NULL. */
icalcomponent *ic_first_main(const vd_ical *ic);

/* ---- ical_expand.c: recurrence expansion ---- */

/* How RFC 4791 9.9 compares one instance with a time range [rs, re). */
typedef enum ic_trmode {
    IC_TR_OVERLAP,      /* rs <  end   AND re >  start            */
    IC_TR_POINT,        /* rs <= start AND re >  start (no length) */
    IC_TR_TODO_DUR,     /* VTODO DTSTART+DURATION row              */
    IC_TR_TODO_DUE,     /* VTODO DTSTART+DUE row                   */
    IC_TR_DUE_ONLY,     /* VTODO with DUE only: rs < end AND re >= end */
    IC_TR_TODO_NONE     /* VTODO without DTSTART/DUE: see ic_todo_nodate */
} ic_trmode;

typedef struct ic_inst {
    vd_time start, end;         /* UTC; [MIN, MAX) for IC_TR_TODO_NONE */
    vd_time rid;                /* original start (RECURRENCE-ID), UTC */
    icalcomponent *comp;        /* component that defines this instance */
    ic_trmode mode;
    bool is_date;               /* start was a DATE */
    bool rid_is_date;
    bool in_set;                /* part of a recurrence set (needs RECURRENCE-ID) */
} ic_inst;

typedef struct ic_set {
    ic_inst *v;
    size_t n, alloc;
    bool truncated;             /* more than cap in the window, or step cap hit */
    bool beyond;                /* some occurrence starts at or after until */
    bool floating;              /* floating times or dates were involved */
} ic_set;

/* Instances of every main component overlapping [from, until) in the sense
 * of ic_trmatch, sorted by start, at most cap.  VD_ENOMEM on allocation
 * failure (out is then empty). */
vd_err ic_expand(const vd_ical *ic, vd_time from, vd_time until,
                 icaltimezone *floating, size_t cap, ic_set *out);
void   ic_set_free(ic_set *s);
bool   ic_trmatch(const ic_inst *in, vd_time rs, vd_time re);
/* RFC 4791 9.9 rows for a VTODO without DTSTART and DUE (COMPLETED/CREATED). */
bool   ic_todo_nodate(icalcomponent *todo, icalcomponent *root,
                      icaltimezone *floating, vd_time rs, vd_time re);
/* true when an RRULE would make the iterator crawl (sub-daily frequency with
 * date-level BYxxx parts); such rules are refused by validation. */
bool   ic_rrule_too_costly(const struct icalrecurrencetype *r);

#endif
