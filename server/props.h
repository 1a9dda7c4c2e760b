/* props.h - internal to server/: the DAV property layer shared by PROPFIND,
 * PROPPATCH, MKCOL/MKCALENDAR (methods_dav.c) and REPORT (report.c).
 *
 * Owns: the live-property table (one line per property: namespace, name,
 * flags, node kinds, getter), dead-property access through the store, the
 * per-response result set handed to the multistatus writer, the sync-token
 * and getctag formats, and the "view" nodes used to list members without a
 * vd_resolve per member.  It never opens or commits a transaction (callers
 * pass theirs) and never writes a whole HTTP response. */
#ifndef VD_PROPS_H
#define VD_PROPS_H

#include "../lib/davxml.h"
#include "../lib/ical.h"
#include "server.h"

/* Per-request caches; zero-initialise, release with vd_propcache_clear. */
typedef struct vd_propcache {
    uint64_t tz_coll;       /* collection whose calendar-timezone is cached */
    bool     tz_done;
    char    *tzid;          /* its TZID (NULL: none or invalid) */
    char    *pr_user;       /* user whose users-db record is cached */
    char    *pr_dn, *pr_email;
    bool     pr_found;
} vd_propcache;
void vd_propcache_clear(vd_propcache *pc);

/* What a getter may look at.  Everything is borrowed. */
typedef struct vd_propctx {
    vd_request *r;
    vd_txn     *txn;
    const vd_node *n;               /* the node whose properties are asked */
    uint32_t    privs;              /* vd_access_privs(r, n) */
    const vd_caldata_spec *caldata; /* calendar-data request (NULL: stored bytes) */
    const vd_ical *ic;              /* n's parsed data if the caller has it, else NULL */
    const char *floating_tz;        /* NULL: the calendar's calendar-timezone or cfg */
    vd_propcache *cache;            /* never NULL */
} vd_propctx;

/* The results for one <D:response>.  Values live in vals (pointers are
 * fixed up by vd_props_write) or point into the read txn (dead props). */
typedef struct vd_propset {
    vd_propresult *res;
    size_t *voff;           /* value offset + 1 into vals; 0 = res[i].value as is */
    size_t  n, cap;
    vd_buf  vals;
    char  **owned;          /* ns/name strings split from dead-property names */
    size_t  n_owned, cap_owned;
} vd_propset;
void vd_propset_reset(vd_propset *ps);   /* keep memory for the next response */
void vd_propset_free(vd_propset *ps);
/* Add a result with a copied value (inner XML, NULL = empty element).
 * ns/name must stay valid until the response is written. */
void vd_propset_add(vd_propset *ps, const char *ns, const char *name, int status,
                    const char *value, size_t len);

/* Evaluate what pf asks (allprop + include / propname / prop) on c->n. */
void vd_props_collect(vd_propctx *c, const vd_propfind *pf, vd_propset *ps);
/* Evaluate a single property into ps. */
void vd_props_eval(vd_propctx *c, const char *ns, const char *name, vd_propset *ps);
/* One <D:response> for the decoded path with ps's results (brief: no 404s). */
void vd_props_write(vd_buf *ms, const char *path, vd_propset *ps, bool brief);

/* vd_props_collect + vd_props_write in one pass: the found values are
 * written straight into ms (no copy through ps, which is scratch space for
 * what was not found).  Same bytes as the two calls. */
void vd_props_respond(vd_propctx *c, const vd_propfind *pf, vd_propset *ps, vd_buf *ms,
                      const char *path, bool brief);

/* Href-valued live properties (for expand-property): fills up to max
 * malloc'd values (paths start with '/', anything else is a URI such as
 * mailto:) and returns how many, or -1 when the property is not a live
 * href-valued property on this node.  Free each value. */
int vd_props_hrefs(vd_propctx *c, const char *ns, const char *name, char **out, int max);

/* Is report k implemented for node n?  (supported-report-set and REPORT
 * dispatch both ask this, so they cannot disagree.) */
bool vd_props_report_supported(const vd_node *n, vd_report_kind k);

/* PROPPATCH / MKCOL support.  vd_props_check: may op be applied to node n
 * (a collection or resource)?  0 if so; else an HTTP status (403) with d
 * set (C:valid-calendar-data for a bad calendar-timezone,
 * D:cannot-modify-protected-property for a protected live property).
 * resourcetype and supported-calendar-component-set are protected here;
 * MKCOL/MKCALENDAR handle them before calling this. */
int    vd_props_check(const vd_node *n, const vd_propop *op, vd_diag *d);
/* Store (set) or delete (remove) a dead property of n; removing an unset
 * one succeeds. */
vd_err vd_props_store(vd_txn *t, const vd_node *n, const vd_propop *op);

/* The calendar's floating time zone: its calendar-timezone's TZID, or
 * cfg->timezone.  Cached in pc per collection.  Borrowed from pc/cfg. */
const char *vd_props_floating_tz(vd_propcache *pc, vd_request *r, vd_txn *t,
                                 const vd_coll *cal);

/* Sync tokens (RFC 6578: a URI) and CS:getctag, both from (id, seq):
 *   sync-token  http://visitdav.org/ns/sync/<id>-<seq>
 *   getctag     "<id>-<seq>"  (with the quotes) */
#define VD_SYNC_TOKEN_PREFIX "http://visitdav.org/ns/sync/"
void vd_props_sync_token(uint64_t id, uint64_t seq, char out[80]);
/* Strict parse; false for anything not exactly of that form. */
bool vd_props_parse_sync_token(const char *tok, uint64_t *id, uint64_t *seq);

/* View nodes: shallow vd_nodes that borrow everything (never pass them to
 * vd_node_clear).  A member's path is built in pathbuf. */
void vd_props_coll_node(vd_node *m, const vd_coll *c);
void vd_props_member_node(vd_node *m, const vd_coll *coll, const vd_res *res, vd_buf *pathbuf);

/* Namespace declarations for the fixed prefixes, for roots we write
 * ourselves (mkcol-response, principal-search-property-set, ...). */
#define VD_XMLNS_ALL " xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\"" \
    " xmlns:CS=\"http://calendarserver.org/ns/\" xmlns:A=\"http://apple.com/ns/ical/\"" \
    " xmlns:V=\"urn:visitdav:ns\""

#endif
