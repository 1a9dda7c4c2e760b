/* calfilter.h - a CALDAV:filter (RFC 4791 9.7) and a CALDAV:calendar-data
 * request (RFC 4791 9.6) as plain structs.  davxml builds them from request
 * XML; ical evaluates/applies them.  No library types appear here. */
#ifndef VD_CALFILTER_H
#define VD_CALFILTER_H

#include "vd.h"

typedef enum vd_collation {
    VD_COLL_ASCII_CASEMAP = 0,   /* i;ascii-casemap (the default) */
    VD_COLL_OCTET,               /* i;octet */
    VD_COLL_UNICODE_CASEMAP      /* i;unicode-casemap (RFC 5051) */
} vd_collation;

typedef struct vd_textmatch {
    char *text;                  /* UTF-8 */
    vd_collation collation;
    bool negate;                 /* negate-condition="yes" */
} vd_textmatch;

typedef struct vd_paramfilter {
    char *name;                  /* upper-case parameter name, e.g. "PARTSTAT" */
    bool is_not_defined;
    vd_textmatch *text_match;    /* NULL if absent */
    struct vd_paramfilter *next;
} vd_paramfilter;

typedef struct vd_propfilter {
    char *name;                  /* upper-case property name, e.g. "SUMMARY" */
    bool is_not_defined;
    bool has_time_range;
    vd_time start, end;          /* VD_TIME_MIN / VD_TIME_MAX when an end is absent */
    vd_textmatch *text_match;    /* NULL if absent */
    vd_paramfilter *params;      /* all must match (RFC 4791) */
    struct vd_propfilter *next;
} vd_propfilter;

typedef struct vd_compfilter {
    char *name;                  /* "VCALENDAR", "VEVENT", "VTODO", "VALARM", ... */
    bool is_not_defined;
    bool has_time_range;
    vd_time start, end;
    vd_propfilter *props;        /* all must match */
    struct vd_compfilter *comps; /* child comp-filters: all must match */
    struct vd_compfilter *next;  /* sibling */
} vd_compfilter;
/* Note on test="anyof|allof" (RFC 4791 has none; later drafts do): not
 * supported; every listed filter must match (allof), as RFC 4791 says. */

/* What calendar-data the client asked for in a REPORT / PROPFIND. */
typedef struct vd_caldata_spec {
    bool wanted;                 /* calendar-data present in the prop list */
    bool expand;                 /* <C:expand start end>: return instances, no RRULE, in UTC */
    vd_time expand_start, expand_end;
    bool limit_recurrence;       /* <C:limit-recurrence-set> */
    vd_time limit_start, limit_end;
    /* Partial retrieval (<C:comp name=..><C:prop name=..>): if comp_names is
     * NULL everything is returned.  Kept simple: a flat list of component
     * names to keep and, per the whole object, property names to keep
     * (NULL = all properties). */
    char **comp_names; size_t n_comp_names;
    char **prop_names; size_t n_prop_names;
} vd_caldata_spec;

void vd_compfilter_free(vd_compfilter *f);
void vd_caldata_spec_clear(vd_caldata_spec *s);

#endif
