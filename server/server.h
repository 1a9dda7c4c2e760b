/* server.h - what every request handler sees: the server context, the
 * request (already authenticated, path decoded once), the response being
 * built, and the resolution of a path to a node.  No libmicrohttpd type
 * appears here: http.c is the only file that includes microhttpd.h, so
 * handlers can be driven without sockets. */
#ifndef VD_SERVER_H
#define VD_SERVER_H

#include "../lib/buf.h"
#include "../lib/config.h"
#include "../lib/customers.h"
#include "../lib/store.h"
#include "../lib/users.h"
#include "../lib/vd.h"

typedef struct vd_server {
    vd_config  *cfg;
    vd_store   *store;
    vd_userdb  *users;
    vd_customerdb *customers;   /* issue 3: the customer directory (visits.h) */
    struct vd_rulesdb *rules;   /* issue 3: the visit rules (visits.h) */
    struct vd_acldb *acl;       /* issue 4: the ACL file (access.h); NULL = the built-in
                                   own-home rule only (no `acl` key) */
} vd_server;

#define VD_MAX_RESP_HEADERS 24

typedef struct vd_header {
    char *name;
    char *value;
} vd_header;

typedef struct vd_request {
    vd_server  *srv;
    const char *method;         /* "PROPFIND" ... (borrowed from the HTTP layer) */
    char       *path;           /* decoded + normalised (vd_path_decode), owned */
    const char *user;           /* authenticated user name, owned by request; NULL only
                                   for the few requests that need no auth */
    char       *user_displayname, *user_email;   /* may be NULL, owned */
    const char *body;           /* request body (NUL-terminated copy), may be "" */
    size_t      body_len;
    /* header lookup, provided by the HTTP layer */
    const char *(*get_header)(void *http_ctx, const char *name);
    void       *http_ctx;
    /* (extension) query argument lookup (decoded value), provided by the
     * HTTP layer; NULL when it does not: every argument is then absent */
    const char *(*get_query)(void *http_ctx, const char *name);

    /* --- response, filled by the handler --- */
    int         status;         /* 0 until set */
    char       *content_type;   /* owned, NULL = none */
    vd_buf      out;            /* body */
    vd_header   headers[VD_MAX_RESP_HEADERS];
    size_t      n_headers;
    bool        is_head;        /* HEAD: the HTTP layer drops the body but keeps Content-Length */
} vd_request;

/* Case-insensitive request header lookup; NULL if absent. */
const char *vd_req_header(vd_request *r, const char *name);
/* (extension) Query argument of the request URL; NULL if absent (api.c). */
const char *vd_req_query(vd_request *r, const char *name);
/* Depth header: 0, 1, or -1 for "infinity"; dflt when absent; -2 when invalid. */
int         vd_req_depth(vd_request *r, int dflt);
/* Brief: t or Prefer: return=minimal present. */
bool        vd_req_brief(vd_request *r);

/* Add a response header (copied). */
void vd_resp_header(vd_request *r, const char *name, const char *value);
/* Set status + body (copied) + content type; body NULL = empty. */
void vd_resp_set(vd_request *r, int status, const char *content_type, const char *body, size_t len);
/* Status with an empty body. */
void vd_resp_status(vd_request *r, int status);
/* Answer with d: status d->status (or dflt if 0); a DAV:error XML body
 * (application/xml) when d->precond is set, else a text/plain line. */
void vd_resp_error(vd_request *r, const vd_diag *d, int dflt);
/* Convenience: status + text/plain message (printf). */
void vd_resp_errorf(vd_request *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* 207 with the multistatus in buf (body moved out of buf). */
void vd_resp_multistatus(vd_request *r, vd_buf *ms);

/* ---- nodes: what a path names ---- */
typedef enum vd_node_kind {
    VD_NODE_NONE = 0,        /* nothing there; coll/name describe where it would go */
    VD_NODE_ROOT,            /* "/" */
    VD_NODE_PRINCIPALS,      /* "/principals/" */
    VD_NODE_PRINCIPAL_USERS, /* "/principals/users/" */
    VD_NODE_PRINCIPAL,       /* "/principals/users/<user>/" for a known user */
    VD_NODE_CALENDARS,       /* "/calendars/" */
    VD_NODE_COLL,            /* a stored collection (home, calendar, plain) */
    VD_NODE_RES,             /* a stored resource */
    VD_NODE_TEAM_CAL,        /* (issue 4, teams.h) a team aggregate, read-only and
                                virtual: /teams/<team>/visits/ or .../conflicts/
                                (or its alias in a home); user: the team, name:
                                "visits" or "conflicts"; coll zeroed */
} vd_node_kind;

typedef struct vd_node {
    vd_node_kind kind;
    char    *path;     /* canonical path; collections end with '/' (owned) */
    char    *user;     /* PRINCIPAL: the user; TEAM_CAL: the team (owned) */
    vd_coll  coll;     /* COLL: itself; RES: its collection; NONE: the parent
                          collection if it exists (coll.id != 0), else zeroed */
    char    *name;     /* RES / NONE: the member name (owned) */
    char    *team;     /* (issue 4) PRINCIPAL: a team's group principal
                          "/principals/teams/<team>/" (owned; user NULL).
                          A PRINCIPAL with neither user nor team is the
                          collection of team principals "/principals/teams/" */
    vd_res   res;      /* RES: borrowed from the txn */
} vd_node;

/* Resolve path in txn.  A collection path given without its trailing '/'
 * resolves to the collection.  Never fails for a merely missing node (kind
 * NONE); errors only on store failure. */
vd_err vd_resolve(vd_server *s, vd_txn *t, const char *path, vd_node *out);
void   vd_node_clear(vd_node *n);

/* ---- access (replaced by the ACL layer of issue 4) ---- */
enum {
    VD_PRIV_READ          = 1u << 0,
    VD_PRIV_READ_FREEBUSY = 1u << 1,
    VD_PRIV_WRITE_CONTENT = 1u << 2,
    VD_PRIV_WRITE_PROPS   = 1u << 3,
    VD_PRIV_BIND          = 1u << 4,
    VD_PRIV_UNBIND        = 1u << 5,
    VD_PRIV_READ_ACL      = 1u << 6,
    VD_PRIV_READ_CUPS     = 1u << 7,  /* read-current-user-privilege-set */
};
#define VD_PRIV_ALL 0xffu
/* Privileges r->user holds on node n (deny unless allowed). */
uint32_t vd_access_privs(vd_request *r, const vd_node *n);

/* Paths of the URL space. */
#define VD_PRINCIPALS_PATH "/principals/"
#define VD_USERS_PATH      "/principals/users/"
#define VD_CALENDARS_PATH  "/calendars/"
#define VD_TEAM_PRINCIPALS_PATH "/principals/teams/"   /* issue 4: group principals */
/* malloc'd "/principals/users/<user>/" and "/calendars/<user>/". */
char *vd_principal_path(const char *user);
char *vd_home_path(const char *user);
/* (issue 4) malloc'd "/principals/teams/<team>/". */
char *vd_team_principal_path(const char *team);
/* (issue 4) cb with the path of each team principal of the ACL file in
 * force, in file order (none without one): the Depth 1 members of
 * "/principals/teams/" (the PRINCIPAL node with neither user nor team).
 * The ACL is not held during the calls. */
void vd_team_principals_each(vd_server *s, void (*cb)(const char *path, void *ctx), void *ctx);

/* Make sure user's principal record, home and default calendar exist
 * (first login).  Cheap when they already do (read txn only). */
vd_err vd_provision_user(vd_server *s, const char *user, const char *displayname, const char *email);

#endif
