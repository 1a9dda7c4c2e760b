/* http.h - internal to the server core (main.c, http.c, dispatch.c): the
 * HTTP listener, the request lifetime and the one log function.  No
 * libmicrohttpd type appears here either; handlers never include this. */
#ifndef VD_HTTP_H
#define VD_HTTP_H

#include "server.h"

typedef struct vd_http vd_http;

/* Start one listener on addr ("127.0.0.1:8008", "[::1]:0", "localhost:80")
 * serving s.  Port 0 lets the OS pick.  On success *url_out is the malloc'd
 * base URL with the real port ("http://127.0.0.1:41234/").
 * Errors: VD_EINVAL (bad address), VD_EIO (cannot bind/start; d says why). */
vd_err vd_http_start(vd_server *s, const char *addr, vd_http **out,
                     char **url_out, vd_diag *d);
/* Stop accepting, finish the requests in flight, free.  NULL harmless. */
void   vd_http_stop(vd_http *h);

/* Initialise r for server s (response empty, status 0). */
void vd_request_init(vd_request *r, vd_server *s);
/* Free everything r owns (path, user, response); r is zeroed. */
void vd_request_clear(vd_request *r);

/* One line to stderr: "visitdavd: <message>".  Thread-safe. */
void vd_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
