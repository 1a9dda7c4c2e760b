/* resolve.c - what a decoded path names: the virtual nodes of the URL space
 * ("/", "/principals/", "/principals/users/", a principal, "/calendars/",
 * and the team principals under "/principals/teams/" of issue 4)
 * and the stored collections and resources below, plus the path builders
 * vd_principal_path / vd_home_path.
 * Must not: decide access (access.c) or answer the client; a merely missing
 * node is kind NONE, never an error. */
#include "server.h"
#include "teams.h"

#include "../lib/acl.h"
#include "../lib/path.h"

#include <stdlib.h>
#include <string.h>

static char *join3(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *s = malloc(la + lb + lc + 1);
    if (!s)
        return NULL;
    memcpy(s, a, la);
    memcpy(s + la, b, lb);
    memcpy(s + la + lb, c, lc + 1);
    return s;
}

char *vd_principal_path(const char *user)
{
    return join3(VD_USERS_PATH, user, "/");
}

char *vd_home_path(const char *user)
{
    return join3(VD_CALENDARS_PATH, user, "/");
}

char *vd_team_principal_path(const char *team)
{
    return join3(VD_TEAM_PRINCIPALS_PATH, team, "/");
}

void vd_team_principals_each(vd_server *s, void (*cb)(const char *path, void *ctx), void *ctx)
{
    const vd_acl *a = s && s->acl ? vd_acldb_acquire(s->acl) : NULL;
    size_t n = a ? vd_acl_team_count(a) : 0;
    char **paths = n ? calloc(n, sizeof *paths) : NULL;
    for (size_t i = 0; paths && i < n; i++)
        paths[i] = vd_team_principal_path(vd_acl_team_name(a, i));
    if (a)
        vd_acldb_release(s->acl, a);
    for (size_t i = 0; paths && i < n; i++) {
        if (paths[i])
            cb(paths[i], ctx);
        free(paths[i]);
    }
    free(paths);
}

void vd_node_clear(vd_node *n)
{
    if (!n)
        return;
    free(n->path);
    free(n->user);
    free(n->name);
    free(n->team);
    vd_coll_clear(&n->coll);
    memset(n, 0, sizeof *n);
}

/* (issue 4) "/principals/teams/" and "/principals/teams/<team>/" for a
 * team of the ACL file in force: PRINCIPAL nodes with user NULL. */
static bool resolve_team(vd_server *s, const char *dir, vd_node *out)
{
    int depth = vd_path_depth(dir);
    if (depth == 2) {
        out->kind = VD_NODE_PRINCIPAL;
        return true;
    }
    char *team = depth == 3 ? vd_path_segment(dir, 2) : NULL;
    const vd_acl *a = team && s->acl ? vd_acldb_acquire(s->acl) : NULL;
    if (a && vd_acl_team_exists(a, team)) {
        out->kind = VD_NODE_PRINCIPAL;
        out->team = team;
        team = NULL;
    }
    if (a)
        vd_acldb_release(s->acl, a);
    free(team);
    return true;
}

/* The virtual nodes above the store.  Returns true when dir (ending in
 * '/') is one of them or lies in the principal tree (which has no stored
 * members), with out filled. */
static bool resolve_virtual(vd_server *s, const char *dir, vd_node *out)
{
    static const struct { const char *path; vd_node_kind kind; } fixed[] = {
        {"/", VD_NODE_ROOT},
        {VD_PRINCIPALS_PATH, VD_NODE_PRINCIPALS},
        {VD_USERS_PATH, VD_NODE_PRINCIPAL_USERS},
        {VD_CALENDARS_PATH, VD_NODE_CALENDARS},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (strcmp(dir, fixed[i].path) == 0) {
            out->kind = fixed[i].kind;
            return true;
        }
    }
    if (strncmp(dir, VD_PRINCIPALS_PATH, strlen(VD_PRINCIPALS_PATH)) != 0)
        return false;
    /* "/principals/users/<u>/" for a user in the user db, and the team
     * principals (issue 4); anything else under /principals/ does not exist */
    out->kind = VD_NODE_NONE;
    if (strncmp(dir, VD_TEAM_PRINCIPALS_PATH, strlen(VD_TEAM_PRINCIPALS_PATH)) == 0)
        return resolve_team(s, dir, out);
    if (vd_path_depth(dir) == 3 &&
        strncmp(dir, VD_USERS_PATH, strlen(VD_USERS_PATH)) == 0) {
        char *u = vd_path_segment(dir, 2);
        if (u && vd_userdb_lookup(s->users, u, NULL, NULL)) {
            out->kind = VD_NODE_PRINCIPAL;
            out->user = u;
            return true;
        }
        free(u);
    }
    return true;
}

/* Fill out->coll with the collection at parent (a NONE node's parent or a
 * resource's collection); a missing parent leaves it zeroed. */
static vd_err parent_coll(vd_txn *t, const char *parent, vd_node *out)
{
    vd_err e = vd_store_coll_get(t, parent, &out->coll);
    if (e == VD_ENOTFOUND) {
        memset(&out->coll, 0, sizeof out->coll);
        return VD_OK;
    }
    return e;
}

vd_err vd_resolve(vd_server *s, vd_txn *t, const char *path, vd_node *out)
{
    vd_err e = VD_ENOMEM;
    char *dir = NULL, *parent = NULL;
    memset(out, 0, sizeof *out);
    if (!path || path[0] != '/')
        return VD_EINVAL;
    dir = vd_path_as_dir(path);
    if (!dir)
        goto fail;
    if (resolve_virtual(s, dir, out)) {
        if (out->kind != VD_NODE_NONE) {
            out->path = dir;
            return VD_OK;
        }
        free(dir);
        dir = NULL;
        if (!(out->path = strdup(path)) ||
            vd_path_split(path, &parent, &out->name) != VD_OK)
            goto fail;
        free(parent);
        return VD_OK;
    }
    /* issue 4 (teams.h): a team aggregate, its members, or an alias of a
     * team calendar in a home */
    bool team = false;
    if ((e = vd_teams_resolve(s, t, path, out, &team)) != VD_OK || team) {
        free(dir);
        return e;
    }
    /* A stored collection, with or without the trailing '/' given. */
    e = vd_store_coll_get(t, dir, &out->coll);
    if (e == VD_OK) {
        out->kind = VD_NODE_COLL;
        out->path = dir;
        return VD_OK;
    }
    memset(&out->coll, 0, sizeof out->coll);
    if (e != VD_ENOTFOUND)
        goto fail;
    /* A member of a stored collection, or nothing (kind NONE). */
    if ((e = vd_path_split(path, &parent, &out->name)) != VD_OK)
        goto fail;
    if ((e = parent_coll(t, parent, out)) != VD_OK)
        goto fail;
    out->kind = VD_NODE_NONE;
    if (out->coll.id && !vd_path_is_dir(path)) {
        e = vd_store_res_get(t, out->coll.id, out->name, &out->res);
        if (e == VD_OK)
            out->kind = VD_NODE_RES;
        else if (e != VD_ENOTFOUND)
            goto fail;
    }
    e = VD_ENOMEM;
    if (!(out->path = strdup(path)))
        goto fail;
    free(dir);
    free(parent);
    return VD_OK;
fail:
    free(dir);
    free(parent);
    vd_node_clear(out);
    return e == VD_OK ? VD_ENOMEM : e;
}
