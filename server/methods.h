/* methods.h - one handler per HTTP method.  Each gets an authenticated
 * request (r->user set, r->path decoded) and fills r's response.  Each opens
 * its own store transaction(s): reads in a read txn, all writes of the
 * request in one vd_store_write call. */
#ifndef VD_METHODS_H
#define VD_METHODS_H

#include "server.h"

/* methods_rw.c */
void vd_method_options(vd_request *r);
void vd_method_get(vd_request *r);      /* GET and HEAD (r->is_head) */
void vd_method_put(vd_request *r);
void vd_method_delete(vd_request *r);
void vd_method_copy(vd_request *r);
void vd_method_move(vd_request *r);

/* methods_dav.c */
void vd_method_propfind(vd_request *r);
void vd_method_proppatch(vd_request *r);
void vd_method_mkcol(vd_request *r);
void vd_method_mkcalendar(vd_request *r);
void vd_method_report(vd_request *r);   /* report.c */

/* The Allow header value for the node at path (used by OPTIONS and 405s). */
const char *vd_allow_for(const vd_node *n);

#endif
