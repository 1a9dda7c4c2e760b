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
                             time/recurrence properties, UID, STATUS, TRANSP */
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
 * -> NONE.  The owner's own events are never masked (callers don't ask). */
vd_mask_level vd_ical_mask_level(const vd_ical *ic, vd_mask_level viewer_level);

/* Write the masked object (CRLF) into out. Applies every component
 * (master and overrides), keeps VTIMEZONEs the remaining properties need. */
vd_err vd_ical_mask(const vd_ical *ic, const vd_mask_opts *o, vd_buf *out);

#endif
