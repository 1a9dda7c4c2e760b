/* teams.h - team calendars (issue 4, docs/acl.md "Team calendars"):
 * the URL space under /teams/ and the aliases of team calendars in every
 * user's calendar home.  Implemented in teams.c.
 *
 * /teams/<team>/             a stored collection (VD_COLL_HOME, owner
 *                            "team:<team>") per team of the ACL file,
 *                            made at start and after each ACL reload
 * /teams/<team>/visits/      the aggregate (VD_NODE_TEAM_CAL, read-only,
 *                            virtual): every member's default calendar
 *                            (/calendars/<member>/<default_calendar>/;
 *                            members, not managers)
 * /teams/<team>/conflicts/   the same, filtered to visits that carry
 *                            X-VISIT-CONFLICT (issue 3)
 * /teams/<team>/<cal>/       a shared team calendar: a stored calendar,
 *                            made with MKCALENDAR by whoever holds write on
 *                            /teams/<team>/
 * A member of an aggregate is named "<user>~<name>": the resource <name>
 * of <user>'s default calendar.  Its node is a VD_NODE_RES whose path is
 * the aggregate path asked for and whose coll/res/name are the stored
 * event's.
 *
 * Aliases.  "/calendars/<u>/team-<team>-<cal>/" (and everything below it)
 * names "/teams/<team>/<cal>/" when user u holds any privilege there; a
 * team name holding '-' is matched longest first.  Requests under an
 * alias behave exactly like the /teams/ path; responses name the path the
 * client asked for.  Home children named "team-<team>-..." for a team of
 * the ACL file are reserved (no collection may be made or moved there).
 * Likewise "/calendars/<u>/user-<owner>~<cal>/" names another user's
 * calendar "/calendars/<owner>/<cal>/" when u holds any privilege there
 * (user names hold no '~', so the first '~' ends the owner; no alias of
 * one's own calendar, none of an alias); every "user-..." home child is
 * reserved.  vd_teams_map_path maps such a path to the real one
 * (VD_TEAMS_MAP_PATH): its ACL decides.
 *
 * Privileges (access.c decides them with vd_teams_map): an aggregate is
 * read-only whatever the ACL says; on one of its members the privilege is
 * max(privilege on the event's own path, min(privilege on the aggregate
 * path, read-masked)): a team calendar shows teammates' visits masked at
 * most, full detail needs read on the rep's own calendar.
 *
 * Sync.  An aggregate's sync-token (and CS:getctag) is
 *   http://visitdav.org/ns/sync/team-<team>-<S>-<hash>
 * S: the highest seq of the member calendars (seqs come from one
 * store-wide counter, so "changed since S" holds across calendars);
 * hash: 16 hex digits over the aggregate kind and each member with its
 * calendar's id, so a change of membership (or a recreated calendar)
 * invalidates old tokens (403 valid-sync-token: the client resyncs).
 *
 * Must not: answer the client, decide privileges (access.c), or write to
 * the store except in vd_teams_provision. */
#ifndef VD_TEAMS_H
#define VD_TEAMS_H

#include "server.h"

#define VD_TEAMS_PATH          "/teams/"
#define VD_TEAMS_OWNER_PREFIX  "team:"      /* owner of /teams/<team>/ and what is made in it */
#define VD_TEAMS_ALIAS_PREFIX  "team-"
#define VD_TEAMS_USER_PREFIX   "user-"     /* "user-<owner>~<cal>": another user's calendar */
#define VD_TEAMS_VISITS        "visits"
#define VD_TEAMS_CONFLICTS     "conflicts"
#define VD_TEAMS_TOKEN_MAX     256

/* Make /teams/<team>/ for every team of the ACL file that lacks it (one
 * write txn, none when nothing is missing).  No ACL file: VD_OK. */
vd_err vd_teams_provision(vd_server *s);

/* For vd_resolve: a team aggregate, one of its members, or an alias.
 * *handled false: path is none of these (resolve goes on as usual).
 * On VD_OK with *handled, out is filled as vd_resolve promises (a missing
 * member or alias target is kind NONE; NONE under an aggregate has no
 * collection).  Errors: store errors, VD_ENOMEM (out cleared). */
vd_err vd_teams_resolve(vd_server *s, vd_txn *t, const char *path, vd_node *out, bool *handled);

/* For access.c: how the privileges on path are decided. */
typedef enum vd_teams_map_kind {
    VD_TEAMS_MAP_NONE = 0,
    VD_TEAMS_MAP_PATH,      /* an alias of a stored team path: the ACL of `path` */
    VD_TEAMS_MAP_AGG,       /* an aggregate (or below it, nothing there): the ACL of
                               `path`, read-only */
    VD_TEAMS_MAP_MEMBER,    /* a member of an aggregate: max(ACL of `real`,
                               min(ACL of `path`, read-masked)), read-only */
} vd_teams_map_kind;

typedef struct vd_teams_map {
    vd_teams_map_kind kind;
    char *path;             /* the /teams/ path (owned) */
    char *real;             /* MEMBER: the stored event's own path (owned) */
} vd_teams_map;

/* true (and out filled) when path is an alias or lies in an aggregate. */
bool vd_teams_map_path(vd_server *s, const char *path, vd_teams_map *out);
void vd_teams_map_clear(vd_teams_map *m);

/* Is path "/calendars/<u>/team-<team>-..." (the home child itself, with
 * or without '/') for a team of the ACL file?  Reserved for aliases. */
bool vd_teams_reserved(vd_server *s, const char *path);

/* The member calendars of aggregate node agg (VD_NODE_TEAM_CAL), each a
 * copy of the stored collection whose path is "<agg->path><user>~", so
 * that vd_props_member_node gives the member's aggregate href. */
typedef struct vd_teams_cals {
    vd_coll *v;             /* owned: vd_teams_cals_clear */
    size_t n;
    bool flagged_only;      /* the conflicts aggregate */
    uint64_t seq;           /* S: highest seq of the calendars, 0 if none */
    uint64_t hash;          /* membership hash (see above) */
    char *team;             /* owned */
} vd_teams_cals;
vd_err vd_teams_cals_get(vd_server *s, vd_txn *t, const vd_node *agg, vd_teams_cals *out);
void   vd_teams_cals_clear(vd_teams_cals *l);
/* Is res a member of the aggregate (conflicts: carries X-VISIT-CONFLICT)? */
bool   vd_teams_listed(const vd_teams_cals *l, const vd_res *res);

/* Every member of agg (all calendars, listed ones only), in calendar then
 * name order.  cb returning non-OK stops the walk and is returned. */
typedef vd_err (*vd_teams_res_cb)(const vd_coll *view, const vd_res *res, void *ctx);
vd_err vd_teams_walk(vd_server *s, vd_txn *t, const vd_node *agg, vd_teams_res_cb cb, void *ctx);

/* The aggregate's current sync-token (RFC 6578: a URI), as above. */
vd_err vd_teams_token(vd_server *s, vd_txn *t, const vd_node *agg, char out[VD_TEAMS_TOKEN_MAX]);

/* sync-collection: the changes since token (NULL or "": every listed
 * member, no deletions), each member once: deleted when it is gone or (in
 * conflicts) no longer flagged.  new_token receives the current token.
 * Errors: VD_EINVAL (a token not of this aggregate, from another
 * membership, or from the future: 403 valid-sync-token), store errors,
 * what cb returned.  cb is called only after the token was checked. */
typedef vd_err (*vd_teams_change_cb)(const vd_coll *view, const char *name, bool deleted,
                                     void *ctx);
vd_err vd_teams_changes(vd_server *s, vd_txn *t, const vd_node *agg, const char *token,
                        vd_teams_change_cb cb, void *ctx, char new_token[VD_TEAMS_TOKEN_MAX]);

/* Depth 1 additions: on a user's home, its alias children (an aggregate
 * alias is a VD_NODE_TEAM_CAL, a team calendar's or another user's
 * calendar's a VD_NODE_COLL with the stored collection and the alias
 * path); on /teams/<team>/, its two
 * aggregates.  Nodes are valid during the callback only.  The caller
 * filters by the requesting user's privileges. */
typedef vd_err (*vd_teams_node_cb)(const vd_node *n, void *ctx);
vd_err vd_teams_children(vd_server *s, vd_txn *t, const vd_node *parent, vd_teams_node_cb cb,
                         void *ctx);

/* "<Team> visits" / "<Team> conflicts" (the team name, first letter
 * capitalised) appended to out. */
void vd_teams_displayname(const vd_node *agg, vd_buf *out);

#endif
