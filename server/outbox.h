/* outbox.h - the schedule outbox of RFC 6638, free-busy only (issue 4):
 * /calendars/<user>/outbox/ takes a POSTed VFREEBUSY request (RFC 6638
 * sec. 5 and 6) and answers one C:schedule-response with each
 * recipient's busy time, as far as the requester may see it
 * (read-free-busy, lib/acl.h).  No iTIP processing: no inbox, no
 * scheduling of events, nothing stored. */
#ifndef VD_OUTBOX_H
#define VD_OUTBOX_H

#include "server.h"

#define VD_OUTBOX_NAME "outbox"

/* malloc'd "/calendars/<user>/outbox/". */
char *vd_outbox_path(const char *user);

/* Is path (decoded) a schedule outbox "/calendars/<user>/outbox/" (the
 * trailing '/' optional)? */
bool vd_outbox_is(const char *path);

/* POST to an outbox (vd_outbox_is(r->path)): only its owner may. */
void vd_outbox_post(vd_request *r);

#endif
