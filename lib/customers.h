/* customers.h - the customer directory (conf/customers.csv) and the
 * recognition of which customer an event is a visit to.  Pure: no store,
 * no HTTP, no libical (the caller extracts the event's text fields).
 *
 * File format: UTF-8 CSV (RFC 4180 quoting: "a, b" and "" for a quote),
 * first line a header naming the columns id,name,aliases,domains,address
 * (in that order; header required).  aliases and domains hold several
 * values separated by ';'.  '#' at the start of a line is a comment.  A
 * bad row (missing id or name, duplicate id, bad quoting, invalid UTF-8,
 * a domain that is not a host name) is an error "path:line: reason"; a
 * directory with any bad row is not loaded at all (the one in force stays
 * in force: never half a directory).  The message names the first bad
 * row, e.g. "conf/customers.csv:7: duplicate id 'C-104' (first on line 3)";
 * a record with a line break inside quotes is reported at the line where
 * it starts.  Details (implementation notes, compatible with the above):
 * CRLF or LF, a UTF-8 BOM and blank lines are accepted; the header names
 * are case-insensitive and may stop after "id,name" (rows then have at
 * most that many fields; a row may have fewer fields than the header);
 * unquoted fields, list items and ids are trimmed; ids compare
 * case-insensitively (so "c-1" duplicates "C-1"); a domain may carry a
 * leading '@', is an ASCII host name with at least two labels and belongs
 * to one customer only (a second owner is an error).  Limits: 4 KiB per
 * field, 64 MiB per file, 1,000,000 customers.
 *
 * Matching ignores case and Unicode normalisation differences (NFKC case
 * folding via libunistring: "MÜLLER", "Müller" and "Mu\u0308ller" match)
 * and works for CJK names (华为, 腾讯科技) and Latin names alike.  Latin
 * names match on word boundaries ("ACME" does not match in "ACMEX"); CJK
 * names match as substrings (there are no spaces between CJK words).  When
 * several names or aliases match, the longest match (in code points) wins;
 * ties go to the first in file order. */
#ifndef VD_CUSTOMERS_H
#define VD_CUSTOMERS_H

#include "vd.h"

typedef struct vd_customer {
    const char *id;
    const char *name;
    const char *const *aliases;  size_t n_aliases;
    const char *const *domains;  size_t n_domains;   /* lower-case */
    const char *address;         /* may be "" */
} vd_customer;

typedef struct vd_customers vd_customers;   /* immutable once loaded */

/* Load path. Errors: VD_EIO (unreadable), VD_EINVAL ("path:line: reason"
 * in d->message, also for a file over the limits), VD_ENOMEM.  An empty
 * file (header only) is a valid empty directory.  Every pointer a
 * vd_customers hands out lives until vd_customers_free. */
vd_err vd_customers_load(const char *path, vd_customers **out, vd_diag *d);
/* Same from memory (tests); name is used in messages. */
vd_err vd_customers_parse(const char *name, const char *text, size_t len,
                          vd_customers **out, vd_diag *d);
void   vd_customers_free(vd_customers *c);

size_t vd_customers_count(const vd_customers *c);
const vd_customer *vd_customers_at(const vd_customers *c, size_t i);
const vd_customer *vd_customers_by_id(const vd_customers *c, const char *id); /* case-insensitive */

/* What recognition looks at, extracted from an event by the caller. */
typedef struct vd_visit_text {
    const char *x_customer;              /* X-VISIT-CUSTOMER value, or NULL */
    const char *const *attendees;        /* ATTENDEE values (mailto: URIs or
                                            bare addresses), may be NULL */
    size_t n_attendees;
    const char *location;                /* or NULL */
    const char *summary;                 /* or NULL */
} vd_visit_text;

typedef enum vd_match_source {
    VD_MATCH_NONE = 0,
    VD_MATCH_PROPERTY,    /* X-VISIT-CUSTOMER named an id or a name */
    VD_MATCH_ATTENDEE,    /* an attendee's e-mail domain (or a parent domain of it) */
    VD_MATCH_LOCATION,    /* a name or alias found in LOCATION */
    VD_MATCH_SUMMARY,     /* ... in SUMMARY */
} vd_match_source;

/* The customer of an event, in this order: X-VISIT-CUSTOMER (id, or name /
 * alias compared whole after normalisation); an attendee whose e-mail
 * domain (or a parent domain: "sales.acme.de" -> "acme.de") belongs to a
 * customer; a name or alias in LOCATION; then in SUMMARY.  NULL when none
 * (the event is then not a customer visit).  *how (may be NULL) tells
 * which step matched.  Cost: linear in the text length, not in the number
 * of customers (an automaton or hash index built at load).
 * An X-VISIT-CUSTOMER that names nobody falls through to the next steps
 * (how then is not VD_MATCH_PROPERTY).  A Latin name next to a CJK
 * character counts as on a word boundary ("拜访SAP公司" finds "SAP").
 * Safe to call from many threads on one directory; aborts when out of
 * memory (as vd_buf) rather than answer "no customer". */
const vd_customer *vd_customers_identify(const vd_customers *c, const vd_visit_text *t,
                                         vd_match_source *how);

/* Thread-safe holder for the server: load, reload on SIGHUP keeping the old
 * directory when the new file is bad, and hand out references that stay
 * valid while a request uses them. */
typedef struct vd_customerdb vd_customerdb;
/* Errors as vd_customers_load (*out NULL then; a missing file is VD_EIO). */
vd_err vd_customerdb_open(const char *path, vd_customerdb **out, vd_diag *d); /* path may be NULL: empty directory */
/* On error the directory in force stays and d says why; no-op for NULL path. */
vd_err vd_customerdb_reload(vd_customerdb *db, vd_diag *d);
const vd_customers *vd_customerdb_acquire(vd_customerdb *db);  /* never NULL */
void   vd_customerdb_release(vd_customerdb *db, const vd_customers *c);
void   vd_customerdb_close(vd_customerdb *db);   /* after every reference is released */

#endif
