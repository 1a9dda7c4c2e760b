/* vd.h - types shared by every visitdav module: error codes, the diagnostic
 * that carries an HTTP status + DAV precondition + message up to the one place
 * that turns it into a response, time and component constants.
 * Nothing here depends on any external library. */
#ifndef VD_H
#define VD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 0 is success; every public function that can fail returns one of these. */
typedef enum vd_err {
    VD_OK = 0,
    VD_ENOTFOUND,   /* the thing asked for does not exist */
    VD_EEXISTS,     /* would overwrite / already there */
    VD_EINVAL,      /* malformed input (bad XML, bad iCalendar, bad path) */
    VD_ENOMEM,
    VD_EIO,         /* storage or file system failure */
    VD_ETOOBIG,     /* a size / depth / count limit was exceeded */
    VD_EPRECOND,    /* a protocol precondition failed; details in vd_diag */
    VD_EFORBIDDEN,  /* not allowed */
    VD_ECONFLICT,   /* state conflict (e.g. parent collection missing) */
    VD_EBUSY        /* transient: retry (the store uses it internally) */
} vd_err;

const char *vd_strerror(vd_err e);

/* XML namespaces used throughout. */
#define VD_NS_DAV     "DAV:"
#define VD_NS_CALDAV  "urn:ietf:params:xml:ns:caldav"
#define VD_NS_CS      "http://calendarserver.org/ns/"
#define VD_NS_APPLE   "http://apple.com/ns/ical/"
#define VD_NS_VISIT   "urn:visitdav:ns"

/* A diagnostic: filled by whoever detects a failure, turned into an HTTP
 * response in one place (server/http.c vd_resp_error).  All fields optional;
 * a zeroed vd_diag means "no detail".  Strings are copied in (fixed buffers),
 * so a diag never owns heap memory and never needs freeing. */
typedef struct vd_diag {
    int  status;            /* HTTP status to answer with, 0 = let caller decide */
    const char *precond_ns; /* namespace of the precondition element (static string) */
    const char *precond;    /* local name, e.g. "valid-calendar-data" (static string) */
    char href[1024];        /* optional DAV:href inside the precondition (already an encoded href) */
    char message[512];      /* one human-readable line */
} vd_diag;

/* Set status, precondition and a printf-style message on d (d may be NULL). */
void vd_diag_set(vd_diag *d, int status, const char *precond_ns,
                 const char *precond, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Time: seconds since the epoch, UTC. Unbounded ends use these. */
typedef int64_t vd_time;
#define VD_TIME_MIN INT64_MIN
#define VD_TIME_MAX INT64_MAX

/* One occurrence of an event/todo, half-open [start, end). */
typedef struct vd_instance {
    vd_time start;
    vd_time end;
} vd_instance;

/* Calendar component kinds, usable as a bit mask. */
enum {
    VD_COMP_VEVENT    = 1u << 0,
    VD_COMP_VTODO     = 1u << 1,
    VD_COMP_VJOURNAL  = 1u << 2,
    VD_COMP_VFREEBUSY = 1u << 3,
};
#define VD_COMP_DEFAULT (VD_COMP_VEVENT | VD_COMP_VTODO)

/* Parse an iCalendar UTC date-time "20240101T000000Z" (as in CalDAV
 * time-range attributes). VD_EINVAL if not exactly that form. */
vd_err vd_time_parse_utc(const char *s, vd_time *out);
/* Format t as "YYYYMMDDTHHMMSSZ" into out (>= 17 bytes). */
void   vd_time_format_utc(vd_time t, char out[17]);
/* Format t as an HTTP date (RFC 9110 IMF-fixdate) into out (>= 30 bytes). */
void   vd_time_format_http(vd_time t, char out[30]);
vd_time vd_now(void);

/* Limits that several modules agree on (config may lower or raise some). */
#define VD_MAX_XML_DEPTH      64
#define VD_MAX_EXPAND_INST    5000      /* recurrence instances per resource per expansion */
#define VD_INDEX_HORIZON_DAYS (366 * 3) /* instances indexed this far ahead of "now" */

#endif
