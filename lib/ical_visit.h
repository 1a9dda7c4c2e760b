/* ical_visit.h - what the visit rules need from an iCalendar object:
 * the fields customer recognition reads, the flags (X-VISIT-CONFLICT and
 * the visible marker) added to and stripped from stored events, and local
 * days in a time zone.  Implemented in lib/ical_visit.c (libical). */
#ifndef VD_ICAL_VISIT_H
#define VD_ICAL_VISIT_H

#include "buf.h"
#include "ical.h"

typedef struct vd_visit_info {
    char  *x_customer;          /* X-VISIT-CUSTOMER of the master, or NULL */
    char **attendees;           /* ATTENDEE values of the master */
    size_t n_attendees;
    char  *location;            /* LOCATION, or NULL */
    char  *summary;             /* SUMMARY (marker already stripped by the caller), or NULL */
    bool   has_purpose;         /* DESCRIPTION or X-VISIT-PURPOSE non-empty */
    bool   transparent;         /* TRANSP:TRANSPARENT on the master */
    bool   cancelled;           /* STATUS:CANCELLED on the master */
    char **approved;            /* X-VISIT-APPROVED values (rule names) */
    size_t n_approved;
} vd_visit_info;

/* Fill *out from the main (master, else first) component. All strings
 * malloc'd; clear with vd_visit_info_clear. */
vd_err vd_ical_visit_info(const vd_ical *ic, vd_visit_info *out);
void   vd_visit_info_clear(vd_visit_info *v);

/* Remove what the server added: every X-VISIT-CONFLICT property, the
 * SUMMARY prefix `prefix` (repeated copies too, so a client that saved a
 * flagged event twice never gets a double prefix) and the CATEGORIES value
 * `category`, in every component.  Returns true if anything was removed.
 * Details: a SUMMARY that was nothing but the prefix (also with trailing
 * spaces trimmed, as add_flags writes it when there was no SUMMARY) is
 * removed; the category is compared ignoring ASCII case, only that value
 * leaves a multi-value CATEGORIES, and a CATEGORIES left empty goes.
 * prefix or category NULL/"": that part is not stripped. */
bool vd_ical_strip_flags(vd_ical *ic, const char *prefix, const char *category);

/* One flag to add: "this visit collides with other_ref by rule". */
typedef struct vd_flag {
    const char *rule;           /* "customer-overlap" ... */
    const char *other_ref;      /* href of the other visit, or NULL */
    const char *other_owner;    /* or NULL */
    vd_time other_start, other_end;
    const char *message;        /* one human line */
} vd_flag;

/* Add to the master component one X-VISIT-CONFLICT per flag, e.g.
 *   X-VISIT-CONFLICT;X-RULE=customer-overlap;X-OTHER-OWNER=bob;
 *    X-OTHER-START=20270301T090000Z;X-OTHER-END=20270301T100000Z:/calendars/bob/visits/x.ics
 * and, when n > 0, the marker: marker & 1 -> SUMMARY prefix, marker & 2 ->
 * a CATEGORIES value.  No-op when n == 0.
 * Details: parameters X-RULE, X-OTHER-OWNER, X-OTHER-START, X-OTHER-END
 * (the last three only when known) and X-MESSAGE (when message is set);
 * libical quotes values holding ':' ';' ',' and writes '"' as ^' (RFC
 * 6868); control characters become spaces.  The value is other_ref, or
 * the rule name when there is no other visit (libical drops empty values).
 * The marker goes on every main component (master and overridden
 * instances: clients show an override's own SUMMARY), never twice: a
 * SUMMARY already starting with the prefix or a category already present
 * is left alone.  No SUMMARY: one holding the prefix (trailing spaces
 * trimmed) is added.  New properties are appended, so add then strip gives
 * back the same serialisation. */
void vd_ical_add_flags(vd_ical *ic, const vd_flag *flags, size_t n,
                       int marker, const char *prefix, const char *category);

/* Serialise the (possibly modified) object, CRLF line ends, lines folded
 * at 75 octets.  libical's X-LIC-ERROR notes (left by the parser where it
 * dropped a bad property) are not written.  Errors: VD_EINVAL, VD_ENOMEM. */
vd_err vd_ical_serialize(const vd_ical *ic, vd_buf *out);

/* The local day [start, end) containing t in tzid (IANA or registered
 * VTIMEZONE id; NULL or unknown = UTC), DST-correct (23/25-hour days).
 * Where local midnight does not exist (a DST gap at 00:00, as in
 * America/Havana) the day starts at the transition.  Outside the years
 * 1900..2200 UTC days are used.  Thread-safe (zones are looked up under
 * lib/ical.c's zone lock). */
void vd_ical_local_day(vd_time t, const char *tzid, vd_time *day_start, vd_time *day_end);

/* Seconds east of UTC at t in tzid (as above; 0 for UTC, unknown zones
 * and t outside 1900..2200).  For vd_rules_source.utc_offset. */
int vd_ical_utc_offset(vd_time t, const char *tzid);

/* true when tzid names a time zone vd_ical_local_day would honour (the
 * system zone database, a registered calendar-timezone, or UTC); for
 * checking the rules file's timezone at load. */
bool vd_ical_zone_known(const char *tzid);

#endif
