/* dispatch.h - internal to the server core: routing of one request in two
 * phases, so that nothing is read from an unauthenticated client's body.
 *   vd_dispatch_head  runs as soon as the headers are in (well-known
 *                     redirect, method check, Basic auth);
 *   vd_dispatch_body  runs once the body is complete (provisioning, handler).
 * Plus the server-wide reload that SIGHUP triggers. */
#ifndef VD_DISPATCH_H
#define VD_DISPATCH_H

#include "server.h"

/* Headers-only phase.  Returns true when the request goes on (r->user set
 * for authenticated requests); false when r already holds the complete
 * response (redirect, 401, 501) and the body must not be read. */
bool vd_dispatch_head(vd_request *r);
/* Body phase: provisioning, then the method handler; fills r's response. */
void vd_dispatch_body(vd_request *r);

/* Parse an Authorization header value "Basic <base64>" (RFC 7617) into a
 * percent-decoded user name and a password (both malloc'd).  Strict: false
 * for another scheme, bad base64, no ':', NUL bytes, bad %-escapes. */
bool vd_auth_parse_basic(const char *header, char **user, char **password);

/* Reload everything that is re-read on SIGHUP (today: the users file; issue
 * 4 adds the ACL and customer files here).  Logs the outcome. */
void vd_server_reload(vd_server *s);

#endif
