/* api.h - the JSON API under /api/v1/ (api.c).  Today one resource:
 *   GET /api/v1/conflicts?start=T&end=T[&team=NAME]   (docs/rules.md)
 * T is a UTC date-time "YYYYMMDDTHHMMSSZ"; start defaults to 30 days ago,
 * end to the rules' horizon.  A user sees the conflicts of their own
 * visits, an approver everyone's (only the team's members with team). */
#ifndef VD_API_H
#define VD_API_H

#include "server.h"

/* Is path under /api/ (then vd_api_handle answers it, any method)? */
bool vd_api_path(const char *path);
/* Answer an authenticated request under /api/. */
void vd_api_handle(vd_request *r);

#endif
