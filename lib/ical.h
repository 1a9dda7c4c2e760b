/* ical.h - the libical wrapper: parse and validate calendar object
 * resources, expand recurrences, evaluate CalDAV filters, compute busy time,
 * render calendar-data (expand / partial), merge many objects into one
 * VCALENDAR.  The only module that includes libical; icalcomponent never
 * leaves it.  Times going in and out are vd_time (UTC seconds). */
#ifndef VD_ICAL_H
#define VD_ICAL_H

#include "buf.h"
#include "calfilter.h"
#include "vd.h"

typedef struct vd_ical vd_ical;   /* one parsed VCALENDAR */
/* Threads: every function may be called from several threads at once on
 * different vd_ical objects; one vd_ical must not be used by two threads
 * at the same time (libical components keep internal iterators). */

/* Parse and validate data as a calendar object resource (RFC 4791 4.1 and
 * 5.3.2 preconditions).  On failure returns VD_EPRECOND with d set to status
 * 403 (RFC 4791 says 403 or 409; we use 403) and the precondition:
 *   - C:valid-calendar-data: not parseable iCalendar, not exactly one
 *     VCALENDAR, missing VERSION/PRODID is tolerated (clients omit them),
 *     a component without UID, a bad DTSTART/DTEND/DURATION/RRULE value;
 *   - C:valid-calendar-object-resource: more than one UID, more than one
 *     master component, an override without RECURRENCE-ID, METHOD present,
 *     mixed component types, no component at all;
 *   - C:supported-calendar-component: main component not in allowed_mask
 *     (VD_COMP_*), e.g. a VJOURNAL when only VEVENT|VTODO are allowed.
 * Accepts CRLF or LF line ends and folded lines, with or without a trailing
 * newline, and a UTF-8 byte order mark.  Also refused as
 * valid-calendar-data: bytes that are not UTF-8, components nested more than
 * 16 deep or more than 10,000 of them, a UID over 400 bytes (it is part of
 * store keys), and an RRULE that libical could only expand by crawling
 * (FREQ=SECONDLY with any BYxxx but BYSECOND, MINUTELY with BYHOUR/BYDAY/
 * date parts, HOURLY with BYMONTH/BYWEEKNO/BYYEARDAY/BYMONTHDAY).
 * An unknown TZID without a VTIMEZONE is accepted and treated as floating.
 * The message names the problem in one readable line. */
vd_err vd_ical_parse(const char *data, size_t len, uint32_t allowed_mask,
                     vd_ical **out, vd_diag *d);
void   vd_ical_free(vd_ical *ic);

/* Lenient parse for stored data (already validated): NULL on failure. */
vd_ical *vd_ical_load(const char *data, size_t len);

const char *vd_ical_uid(const vd_ical *ic);        /* borrowed, never NULL after parse */
uint32_t    vd_ical_comp(const vd_ical *ic);       /* VD_COMP_* of the main component */
/* "text/calendar; charset=utf-8; component=vevent" for the main component (static). */
const char *vd_ical_content_type(const vd_ical *ic);
/* SUMMARY of the master (or first) component, or NULL. Borrowed. */
const char *vd_ical_summary(const vd_ical *ic);

/* Expand instances overlapping [from, until) of all components (master with
 * RRULE/RDATE/EXDATE, and overridden instances via RECURRENCE-ID replacing
 * the instance they override).  Times with TZID use the VTIMEZONE in the
 * object (or the system zone database for a known TZID); floating times and
 * all-day dates are taken in floating_tz (an IANA name, or NULL for UTC).
 * Durations: DTEND, DURATION; a VEVENT with a DATE DTSTART and no end lasts
 * one day, with a DATE-TIME DTSTART and no end zero seconds (RFC 5545
 * 3.6.1); VTODO uses DTSTART/DUE/DURATION; a VTODO with neither gives one
 * instance [VD_TIME_MIN, VD_TIME_MAX).  At most cap instances are returned,
 * sorted by start; *truncated is set when more exist inside the window.
 * *out is malloc'd (free()). */
vd_err vd_ical_instances(const vd_ical *ic, vd_time from, vd_time until,
                         const char *floating_tz, size_t cap,
                         vd_instance **out, size_t *n, bool *truncated);

/* As vd_ical_instances, without the instances whose own component (the
 * master, or the override replacing them) is TRANSP:TRANSPARENT or
 * STATUS:CANCELLED: a cancelled occurrence of a weekly visit blocks nobody
 * (the visit rules use this).  *n may be 0 with *out allocated. */
vd_err vd_ical_busy_instances(const vd_ical *ic, vd_time from, vd_time until,
                              const char *floating_tz, size_t cap,
                              vd_instance **out, size_t *n, bool *truncated);

/* For the store's time index: instances from the first occurrence up to
 * horizon (exclusive), at most cap.  *open_ended is set when the object has
 * occurrences after horizon, more than cap occurrences, a span too wide to
 * index (over 31 days for one instance), or floating/all-day times (whose
 * UTC position depends on the viewer): such objects are always candidates
 * for time-range queries and are then checked exactly.  Each returned
 * instance is widened by one second on both sides, so that a plain overlap
 * test on the index also finds the zero-length and inclusive cases of
 * RFC 4791 9.9; the index is a superset, vd_ical_matches decides. */
vd_err vd_ical_index_instances(const vd_ical *ic, vd_time horizon, size_t cap,
                               vd_instance **out, size_t *n, bool *open_ended);

/* RFC 4791 9.7 filter evaluation (comp-filter tree, prop-filter,
 * param-filter, text-match with collations, is-not-defined, time-range with
 * recurrence expansion as in RFC 4791 9.9).  floating_tz as above. */
bool vd_ical_matches(const vd_ical *ic, const vd_compfilter *f, const char *floating_tz);

/* Busy periods for free-busy (RFC 4791 7.10): instances overlapping
 * [from, until) of VEVENTs that are not TRANSP:TRANSPARENT and not
 * STATUS:CANCELLED.  fbtype is "BUSY", "BUSY-TENTATIVE" (STATUS:TENTATIVE)
 * or "BUSY-UNAVAILABLE". cb is called once per period, clipped to the range.
 * A VFREEBUSY object contributes its FREEBUSY periods (FBTYPE kept, FREE
 * skipped); VTODO and VJOURNAL contribute nothing. */
typedef void (*vd_busy_cb)(vd_time start, vd_time end, const char *fbtype, void *ctx);
vd_err vd_ical_busy(const vd_ical *ic, vd_time from, vd_time until,
                    const char *floating_tz, vd_busy_cb cb, void *ctx);

/* A VFREEBUSY reply body (VCALENDAR with one VFREEBUSY, DTSTAMP, DTSTART,
 * DTEND and merged FREEBUSY periods per fbtype) for the collected periods. */
void vd_ical_freebusy_render(vd_buf *out, vd_time from, vd_time until,
                             const vd_instance *busy, size_t n_busy,
                             const vd_instance *tentative, size_t n_tentative,
                             const vd_instance *unavailable, size_t n_unavail);

/* Write the calendar-data the client asked for (spec may be NULL = the
 * stored bytes unchanged, which callers do themselves for speed).  With
 * expand: the recurrence set is replaced by its instances in
 * [expand_start, expand_end) as separate components with RECURRENCE-ID,
 * times in UTC, no RRULE/RDATE/EXDATE (RFC 4791 9.6.5).  With
 * limit-recurrence-set: overrides outside the range are dropped.  Partial
 * retrieval keeps only the listed components/properties. */
vd_err vd_ical_render(const vd_ical *ic, const vd_caldata_spec *spec,
                      const char *floating_tz, vd_buf *out);

/* Merge several objects into one VCALENDAR (GET on a collection, feeds):
 * VTIMEZONEs deduplicated by TZID, every other component kept.  name
 * becomes X-WR-CALNAME (and NAME, RFC 7986) when not NULL. */
typedef struct vd_ical_merge vd_ical_merge;
vd_ical_merge *vd_ical_merge_new(const char *name);
/* Add a stored object's bytes (unparseable data is skipped, returns false). */
bool  vd_ical_merge_add(vd_ical_merge *m, const char *data, size_t len);
/* Serialise (CRLF line ends) into out, then free m. */
void  vd_ical_merge_finish(vd_ical_merge *m, vd_buf *out);

/* Parse a C:timezone / calendar-timezone value (a VCALENDAR holding one
 * VTIMEZONE) and return its TZID (malloc'd), or NULL if invalid. The zone
 * is registered so later calls with that TZID as floating_tz resolve it. */
char *vd_ical_timezone_id(const char *vcalendar_text);

#endif
