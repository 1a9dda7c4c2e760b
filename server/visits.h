/* visits.h - the visit rules (issue 3, docs/rules.md) wired into the
 * store: every write of a VEVENT into a calendar passes vd_visits_store
 * inside the request's one write transaction, which recognises the
 * customer, checks the rules against the store's visit indexes, rejects
 * or flags, indexes the visit and keeps the flags of the other visits
 * true ("flags never go stale").  Also the holders of the customer
 * directory and the rules file, the conflicts listing (API and admin
 * command) and `visitdav approve`.  Implemented in visits.c (the listing
 * and approval in visits_list.c); linked into visitdavd and the visitdav
 * admin command, so it never answers HTTP.
 *
 * Refs.  A visit is named by its decoded path (collection path + member
 * name) inside the rules; flags (X-VISIT-CONFLICT values) and the listing
 * carry the percent-encoded href of that path.
 *
 * Approval.  X-VISIT-APPROVED:RULE on a visit makes the rules skip that
 * rule for every collision the visit takes part in (on both sides).  A
 * value counts when the writing user is an approver (rules.conf
 * `approvers`), when `visitdav approve` writes it, or when the stored
 * version of the same resource already had it.  Any other value naming a
 * rule is removed from the stored bytes, so a stored approval is always
 * one that counts (a later re-check can trust it).  A COPY or MOVE by a
 * non-approver therefore drops the approvals of what it copies.
 *
 * Re-checks and their bound.  After visit A is stored, every visit that A
 * now flags, and every visit linked to A before the write (flagged
 * because of A, or A flagged because of it), is re-checked: its stored
 * bytes are stripped, checked (a reject counts as a flag: it is already
 * stored), re-flagged and stored again only if the bytes changed (new
 * ETag, its collection's sync token moves).  A re-check never triggers
 * further re-checks.  The same happens to the links of a visit that is
 * deleted or moved away.  Per request at most VD_VISITS_MAX_RECHECK
 * visits are re-checked (the rest keep their flags until their own next
 * write), and a visit carries at most VD_VISITS_MAX_FLAGS flags (the
 * first in the rules' order).  So one PUT costs one check plus at most
 * VD_VISITS_MAX_RECHECK re-checks, each one parse, one expansion and one
 * index lookup per instance and active rule. */
#ifndef VD_VISITS_H
#define VD_VISITS_H

#include "server.h"

#include "../lib/ical.h"
#include "../lib/rules.h"

#define VD_VISITS_MAX_RECHECK  1000     /* re-checked visits per request */
#define VD_VISITS_MAX_FLAGS    200      /* X-VISIT-CONFLICT per visit */
#define VD_VISITS_PAST_DAYS    30       /* instances checked before now */
#define VD_VISITS_MAX_LISTED   10000    /* entries of one conflicts listing */

/* ---------- the rules file, reloadable (like vd_customerdb) ---------- */
typedef struct vd_rulesdb vd_rulesdb;
/* path NULL: the built-in defaults.  The file's timezone must be known
 * (vd_ical_zone_known), else VD_EINVAL "path: ...". */
vd_err vd_rulesdb_open(const char *path, vd_rulesdb **out, vd_diag *d);
/* A bad file keeps the rules in force and returns its error. */
vd_err vd_rulesdb_reload(vd_rulesdb *db, vd_diag *d);
const vd_rules *vd_rulesdb_acquire(vd_rulesdb *db);   /* never NULL */
void   vd_rulesdb_release(vd_rulesdb *db, const vd_rules *r);
void   vd_rulesdb_close(vd_rulesdb *db);              /* NULL harmless */

/* Open s->customers and s->rules from s->cfg (customers_file, rules_file;
 * absent: empty directory, default rules).  d: "file:line: reason". */
vd_err vd_visits_open(vd_server *s, vd_diag *d);
/* SIGHUP: reload both; a file with an error keeps the one in force.  The
 * outcome of each goes to cd / rd (message set on error). */
vd_err vd_visits_reload(vd_server *s, vd_diag *cd, vd_diag *rd);
void   vd_visits_close(vd_server *s);

/* ---------- the write path ---------- */
typedef struct vd_visits_write {
    vd_server *srv;
    const char *actor;          /* the writing user (approvals), may be NULL */
    bool admin;                 /* visitdav approve: counts as an approver */
    const vd_coll *coll;        /* the calendar */
    const char *name;           /* member name */
    vd_ical *ic;                /* the parsed object: stripped / flagged here */
    vd_put put;                 /* filled by the caller; data/len = the sent bytes */
    /* results */
    char *bytes; size_t len;    /* the stored bytes when they differ (malloc'd) */
    char *reject_xml;           /* DAV:error body of a reject (malloc'd) */
} vd_visits_write;

/* Inside write txn t: check w's object, then store it (vd_store_res_put,
 * result in *res), index it, set its links and re-check the others.
 * A reject: VD_EPRECOND, d = 403 + message, w->reject_xml the body, and
 * nothing written (the caller's txn must abort: return the error).
 * Non-VEVENT objects are stored as sent and leave the indexes.
 * Errors: VD_EPRECOND, store errors, VD_ENOMEM.  Re-runnable. */
vd_err vd_visits_store(vd_txn *t, vd_visits_write *w, vd_put_result *res, vd_diag *d);
void   vd_visits_write_clear(vd_visits_write *w);   /* frees results */

/* Delete a member (vd_store_res_delete) and re-check the visits linked to
 * it.  Same errors as vd_store_res_delete.  s NULL: plain delete. */
vd_err vd_visits_res_delete(vd_txn *t, vd_server *s, uint64_t coll_id, const char *name);
/* Delete a collection tree (vd_store_coll_delete) and re-check the visits
 * linked to its members. */
vd_err vd_visits_coll_delete(vd_txn *t, vd_server *s, const char *path);
/* After vd_store_coll_move to `path`: the members' refs changed, so they
 * and the visits linked to them are re-checked (flags name new paths). */
vd_err vd_visits_coll_moved(vd_txn *t, vd_server *s, const char *path);

/* ---------- listing and approval ---------- */
/* JSON {"conflicts": [...]} (docs/rules.md) of the stored flags of the
 * visits of `owners` with an instance in [start, end), sorted by start,
 * visit, rule, other; at most VD_VISITS_MAX_LISTED entries (then
 * "truncated": true).  An entry's start/end is the visit's instance
 * nearest the other visit's start (the colliding one for single events). */
vd_err vd_visits_conflicts_json(vd_txn *t, vd_server *s, const char *const *owners,
                                size_t n_owners, vd_time start, vd_time end, vd_buf *out);

/* (issue 4) The same for viewer: with an ACL file, only the visits in
 * calendars viewer holds some privilege on (read-free-busy or more) are
 * listed (their flags may name other visits: rule, href, owner, times).
 * viewer NULL: every visit (the admin command). */
vd_err vd_visits_conflicts_json_for(vd_txn *t, vd_server *s, const char *viewer,
                                    const char *const *owners, size_t n_owners,
                                    vd_time start, vd_time end, vd_buf *out);

/* May viewer list the conflicts of owner's visits?  viewer NULL (the admin
 * command) or an approver (issue 4: also a manager of a team of the ACL
 * file owner is a member of): anyone's; else only their own.  With team: only
 * when owner is a member of team (rules.conf members). */
bool vd_visits_may_list(vd_server *s, const char *viewer, const char *team, const char *owner);
/* The rules' horizon_days in seconds. */
vd_time vd_visits_horizon(vd_server *s);

/* Add X-VISIT-APPROVED:rule to the stored calendar object at path (decoded)
 * through the write path (flags recomputed, links re-checked), as actor.
 * Errors: VD_EINVAL (unknown rule), VD_ENOTFOUND (no calendar object at
 * path), what the write returned; d says why. */
vd_err vd_visits_approve(vd_server *s, const char *actor, const char *path, const char *rule,
                         vd_diag *d);

#endif
