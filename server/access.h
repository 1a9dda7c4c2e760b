/* access.h - who may do what on a node (vd_access_privs, server.h), and
 * what of an event a viewer who is not its owner gets to see (the masked
 * view, issue 4): helpers for every handler that reads or writes, so the
 * rules live in one place (access.c).
 *
 * Privileges.  Without an ACL file (vd_server.acl NULL) a user holds every
 * privilege on their own calendar home and nothing on anyone else's.  With
 * one, the privileges on a stored path are those lib/acl.h grants (the
 * closure of read-free-busy < read-masked < read < write < admin), mapped
 * onto the VD_PRIV_* bits as docs/acl.md lists them:
 *   read-free-busy          C:read-free-busy
 *   read-masked, read       D:read, C:read-free-busy,
 *                           D:read-current-user-privilege-set
 *   write                   + D:write-content, D:write-properties, D:bind,
 *                           D:unbind (D:write)
 *   admin                   everything (D:all)
 * The server itself grants read on "/", the principal tree, every
 * principal and "/calendars/"; with an ACL file also on every calendar
 * home (a listing only: its members are filtered per privilege).
 *
 * Visibility (one rule, every method; docs/acl.md "What a request
 * answers"): a collection is visible with any privilege on it; an event
 * is visible unless its view is VD_MASK_HIDDEN.  A collection or event
 * that exists but is not visible: 403 with need-privileges, except an
 * event hidden from a viewer who may see its calendar (a private event,
 * or a free-busy-only viewer), which is 404 as if absent (multiget and
 * sync leave it out), since a listing never showed it.  What is not
 * visible never appears in a listing or report. */
#ifndef VD_ACCESS_H
#define VD_ACCESS_H

#include "server.h"

#include "../lib/ical.h"
#include "../lib/ical_mask.h"

/* The DAV: element name of one VD_PRIV_* bit ("read", "write-content",
 * "bind", "read-current-user-privilege-set", ...); NULL for anything else. */
const char *vd_priv_name(uint32_t priv);

/* 403 with <D:error><D:need-privileges> naming path (decoded, encoded here)
 * and privilege (a DAV: privilege name as vd_priv_name gives), RFC 3744
 * 7.1.1. */
void vd_resp_forbidden(vd_request *r, const char *path, const char *privilege);

/* True when r->user holds every bit of need on n; otherwise answers r with
 * vd_resp_forbidden for the first missing privilege and returns false. */
bool vd_access_check(vd_request *r, const vd_node *n, uint32_t need);

/* (issue 4) The raw ACL privileges (VD_ACL_*, closure applied) of r->user
 * on path (decoded, collections ending in '/'): VD_ACL_ADMIN on the own
 * home without an ACL file, 0 for anything else then and for no user. */
unsigned vd_access_acl(vd_request *r, const char *path);

/* (issue 4) Is r->user the owner of what n names (the owner of its
 * collection, or the user whose home it lies in)?  Owners see everything. */
bool vd_access_is_owner(vd_request *r, const vd_node *n);

/* (issue 4) The level r->user sees resource n at: owner -> NONE; else from
 * the ACL privilege on the resource (read -> NONE, read-masked -> CUSTOMER,
 * read-free-busy or nothing -> HIDDEN), made stricter by the event's CLASS
 * (vd_ical_mask_level).  ic NULL (not a calendar object) for a non-owner:
 * NONE with read, else HIDDEN (nothing can be masked, so nothing leaks). */
vd_mask_level vd_access_mask_level(vd_request *r, const vd_node *n, const vd_ical *ic);

/* (issue 4) vd_access_privs, and for a calendar home with an ACL file:
 * D:read and D:read-current-user-privilege-set (a listing: its members
 * are filtered) when the user holds any privilege on one of its child
 * collections, looked up in t.  For the request target of PROPFIND, GET
 * and REPORT and for the homes listed in /calendars/. */
uint32_t vd_access_privs_txn(vd_request *r, vd_txn *t, const vd_node *n);

/* (issue 4) Visibility of a collection or virtual node with privileges
 * privs: any of D:read and C:read-free-busy. */
bool vd_access_coll_visible(uint32_t privs);

/* (issue 4) What r->user gets of a stored resource: the view every read
 * path serves (GET, PROPFIND, calendar-query, multiget, sync, COPY).
 * node is n as served: for a masked view its res.data/len/etag point at
 * the masked copy and its ETag is vd_etag_of(masked bytes), never the
 * stored one (a view node: borrows from n and v; never vd_node_clear it). */
typedef struct vd_access_view {
    vd_mask_level level;    /* VD_MASK_HIDDEN: not served (404, left out) */
    bool     masked;        /* the bytes served are not the stored ones */
    uint32_t privs;         /* privileges as served: a masked view is read-only */
    vd_node  node;
    vd_buf   bytes;         /* the masked copy (when masked) */
    char     etag[17];
    vd_ical *ic;            /* parsed masked copy, made by vd_access_view_ical */
    const vd_ical *src_ic;  /* the stored object parsed (the caller's or own_ic) */
    vd_ical *own_ic;        /* the stored object parsed here */
} vd_access_view;

/* Fill v for resource n with r->user's privileges privs on it (as
 * vd_access_privs gave).  ic: n's stored data parsed, if the caller has
 * it, else NULL (parsed here only for a non-owner).  Owners get the stored
 * bytes at once (no parsing).  Errors: VD_ENOMEM; a stored object that no
 * longer parses is HIDDEN for non-owners.  Clear v even on error. */
vd_err vd_access_view_of(vd_request *r, const vd_node *n, uint32_t privs, const vd_ical *ic,
                         vd_access_view *v);
/* The parsed object as served (the masked copy when masked, else ic as
 * given or parsed): what filters must be evaluated on.  NULL on failure. */
const vd_ical *vd_access_view_ical(vd_access_view *v);
void vd_access_view_clear(vd_access_view *v);

#endif
