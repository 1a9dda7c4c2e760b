/* ical_mask.h - what a viewer who may not read everything gets to see of
 * an event: the masked copies served to read-masked and read-free-busy
 * viewers, CLASS:PRIVATE / CONFIDENTIAL handling, and VALARM stripping for
 * read-only viewers.  Implemented in lib/ical_mask.c (libical). */
#ifndef VD_ICAL_MASK_H
#define VD_ICAL_MASK_H

#include "buf.h"
#include "ical.h"

typedef enum vd_mask_level {
    VD_MASK_NONE = 0,     /* full event (still: VALARMs stripped if strip_alarms) */
    VD_MASK_CUSTOMER,     /* time, customer and owner only: DTSTART, DTEND/DURATION,
                             RRULE/RDATE/EXDATE/RECURRENCE-ID, UID, DTSTAMP, SEQUENCE,
                             STATUS, TRANSP, X-VISIT-CUSTOMER; SUMMARY becomes
                             "Visit: <customer name>" (or "Busy" without a customer);
                             no DESCRIPTION, LOCATION, ATTENDEE, ORGANIZER, notes,
                             attachments, alarms, X- properties other than
                             X-VISIT-CUSTOMER and X-VISIT-OWNER */
    VD_MASK_BUSY,         /* time only: SUMMARY "Busy", nothing else but the
                             time/recurrence properties, UID, DTSTAMP (REQUIRED
                             by RFC 5545 3.6.1), STATUS, TRANSP */
    VD_MASK_HIDDEN,       /* not served as an event at all (multiget: 404);
                             it still counts in free-busy */
} vd_mask_level;

typedef struct vd_mask_opts {
    vd_mask_level level;
    const char *customer_name;  /* for VD_MASK_CUSTOMER, may be NULL */
    const char *owner;          /* added as X-VISIT-OWNER for MASK_CUSTOMER, may be NULL */
    bool strip_alarms;          /* read-only viewers get no VALARM */
} vd_mask_opts;

/* The level a viewer who is not the owner gets: the stricter of
 * viewer_level (from their privilege: read -> NONE, read-masked ->
 * CUSTOMER, read-free-busy -> HIDDEN) and the event's CLASS
 * (RFC 5545 3.8.1.3): CLASS:CONFIDENTIAL -> BUSY (time only),
 * CLASS:PRIVATE -> HIDDEN (busy time in free-busy only), PUBLIC or absent
 * -> NONE.  The owner's own events are never masked (callers don't ask).
 * Details: the strictest CLASS of any main component counts (an override
 * marked PRIVATE hides the whole resource); values compare ignoring case;
 * an x-name or unknown CLASS counts as PRIVATE (RFC 5545 3.8.1.3 MUST);
 * ic NULL or a viewer_level outside the enum gives HIDDEN. */
vd_mask_level vd_ical_mask_level(const vd_ical *ic, vd_mask_level viewer_level);

/* Write the masked object (CRLF) into out. Applies every component
 * (master and overrides), keeps VTIMEZONEs the remaining properties need.
 * Details: a new VCALENDAR with VERSION:2.0, PRODID
 * "-//visitdav//masked//EN" and CALSCALE if present (the full object also
 * keeps its other calendar properties, X-WR-CALNAME...); VTIMEZONEs only
 * those a written property names in TZID (first one per TZID); the main
 * components in stored order.  Masked levels: kept properties lose every
 * parameter but TZID, VALUE and RANGE; a stored X-VISIT-OWNER is dropped
 * and the one from o->owner written (usernames come from the server, the
 * stored one from the client); no sub-components; customer_name and owner
 * are written as at most 512 bytes of UTF-8, control characters as
 * spaces, invalid bytes as '?'; a VFREEBUSY gets no SUMMARY.  Output is a
 * function of the object and o only: same input, same bytes.  out is
 * appended to, and untouched on failure.
 * Errors: VD_EFORBIDDEN (VD_MASK_HIDDEN), VD_EINVAL (NULL argument, level
 * outside the enum), VD_ENOMEM.
 * Threads: unlike the rest of lib/ical.h, vd_ical_mask and
 * vd_ical_mask_level may run on one vd_ical from several threads at once
 * (they serialise on a lock of their own per object), as long as no other
 * function uses or changes that vd_ical meanwhile. */
vd_err vd_ical_mask(const vd_ical *ic, const vd_mask_opts *o, vd_buf *out);

#endif
