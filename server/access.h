/* access.h - helpers around vd_access_privs (server.h) for the handlers:
 * privilege names and the RFC 3744 403 answer. */
#ifndef VD_ACCESS_H
#define VD_ACCESS_H

#include "server.h"

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

#endif
