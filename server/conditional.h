/* conditional.h - conditional requests, evaluated in one place for every
 * method: If-Match and If-None-Match (RFC 9110 13.1) and the WebDAV If
 * header (RFC 4918 10.4); plus whether a URL names this server, which
 * COPY/MOVE (Destination) and tagged If lists both need.
 * Internal to the server; implemented in conditional.c. */
#ifndef VD_CONDITIONAL_H
#define VD_CONDITIONAL_H

#include "server.h"

#define VD_COND_ETAG_LEN 48     /* room for any ETag vd_cond_node_etag gives */

/* The current ETag of node n, unquoted, copied into out: a resource's
 * stored ETag, a collection's derived from its id and sync sequence (it
 * changes with every member or property change).  Returns out, or NULL
 * when n has no ETag (kind NONE, virtual nodes). */
const char *vd_cond_node_etag(const vd_node *n, char out[VD_COND_ETAG_LEN]);

/* Evaluate r's preconditions against n, the request target as resolved in
 * txn t (kind NONE: nothing exists there), in this order:
 *   1. the If header's syntax (RFC 4918 10.4.2): malformed -> 400;
 *   2. If-Match, strong comparison (RFC 9110 13.1.1) -> 412;
 *   3. If-None-Match, weak comparison (13.1.2) -> 412, or 304 when safe;
 *   4. the If header: untagged lists against n, each tagged list against
 *      the resource its tag names (resolved in t; one on another server or
 *      absent is unmapped, RFC 4918 10.4.4) -> 412 when no list is true.
 * There are no locks: a state token never matches ("Not <token>" does).
 * safe: GET/HEAD.  t may be NULL: tags naming another resource are then
 * unmapped.
 * Returns VD_OK when the request may go on; VD_EPRECOND with d->status
 * 304, 400 or 412 and a message; a store error from resolving a tag. */
vd_err vd_cond_check(vd_request *r, vd_txn *t, const vd_node *n, bool safe, vd_diag *d);

/* Does url name this server?  A path ("/x", no authority) always does.
 * An absolute http(s) URL (or "//authority/...") does when its host[:port]
 * equals the request's Host or the first X-Forwarded-Host entry (hosts
 * compared case-insensitively, an absent port is the scheme's default).
 * False for other schemes with an authority, a malformed authority, or a
 * request without Host and X-Forwarded-Host. */
bool vd_cond_url_local(vd_request *r, const char *url);

#endif
