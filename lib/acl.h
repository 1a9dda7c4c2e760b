/* acl.h - who may do what where: the ACL file ops write (conf/acl.conf),
 * parsed into teams, roles and grant rules, and a pure check
 * (user, path) -> privileges.  No HTTP, no store.
 *
 * File format (line-oriented; '#' starts a comment; see docs/acl.md):
 *
 *   [team east]                 a team: members and managers
 *   members = alice, bob
 *   managers = carol
 *
 *   [role exec]                 a role: a named set of users
 *   members = grace
 *
 *   [rules]                     grants, one per line:
 *   allow PRIVS on PATTERN to SUBJECT
 *
 *   PRIVS    comma list of: read-free-busy, read-masked, read, write, admin
 *            (each implies the ones before it: admin > write > read >
 *            read-masked > read-free-busy)
 *   PATTERN  an absolute path; a segment may be '*' (any one segment),
 *            the last may be '**' (this node and everything below it), and
 *            variables bound per requesting user (a '*', '**' or variable
 *            is a whole segment; a trailing '/' on a pattern or on a
 *            checked path makes no difference):
 *              {user}      the requesting user
 *              {team}      any team the user is a member or manager of
 *              {managed}   any team the user manages
 *              {teammate}  any member of a team the user belongs to
 *                          (as member or manager), the user included
 *              {report}    any member of a team the user manages
 *   SUBJECT  everyone (every authenticated user) | user NAME | team NAME
 *            (its members and managers) | managers of NAME | role NAME
 *
 * Evaluation: deny unless allowed.  A user always holds admin on their own
 * home (/calendars/<user>/ and all below) and their principal
 * /principals/users/<user>/ (two built-in rules, line 0).  Every
 * rule whose pattern and subject match grants its privileges; a user's
 * privileges on a path are the union of all grants (no ordering, no deny
 * rules: adding a line can only add access, removing one only remove it).
 * The "deciding rule" that explain names is the first matching rule, in
 * file order, that grants the privilege asked about.
 * Errors are "path:line:column: reason"; a file with any error is never
 * applied (the rules in force stay in force). */
#ifndef VD_ACL_H
#define VD_ACL_H

#include "buf.h"
#include "vd.h"

enum {
    VD_ACL_FREEBUSY = 1u << 0,   /* busy time only */
    VD_ACL_MASKED   = 1u << 1,   /* time, customer and owner only */
    VD_ACL_READ     = 1u << 2,
    VD_ACL_WRITE    = 1u << 3,
    VD_ACL_ADMIN    = 1u << 4,
};
/* The closure: a grant of write also holds read, masked and freebusy. */
unsigned vd_acl_closure(unsigned privs);
const char *vd_acl_priv_name(unsigned one_priv);          /* "read-masked", ...; NULL unless one known bit */
bool vd_acl_priv_parse(const char *name, unsigned *out);  /* *out: that one bit (no closure) */

typedef struct vd_acl vd_acl;

vd_err vd_acl_load(const char *path, vd_acl **out, vd_diag *d);   /* path NULL: built-in only */
vd_err vd_acl_parse(const char *name, const char *text, size_t len, vd_acl **out, vd_diag *d);
void   vd_acl_free(vd_acl *a);
/* Errors: VD_EINVAL (d->message: the first "path:line:column: reason"),
 * VD_EIO (cannot read the file), VD_ETOOBIG (file over 16 MiB), VD_ENOMEM.
 * On any error *out is NULL: nothing of a broken file is ever applied. */

/* (extension) For `visitdav acl check`: every error of a file (at most
 * 100, then a count), one "path:line:column: reason\n" each, appended to
 * errors.  Returns the number of errors; 0: the file is valid. */
size_t vd_acl_check_file(const char *path, vd_buf *errors);
size_t vd_acl_check_text(const char *name, const char *text, size_t len, vd_buf *errors);
/* (extension) Rules in force, the two built-in ones included. */
size_t vd_acl_rule_count(const vd_acl *a);

/* Privileges (closure applied) of user on path (a decoded, normalised
 * path; collections with a trailing '/').  If deciding_line is non-NULL
 * it receives the line of the first rule granting the highest privilege
 * held (0 for the built-in own-home rule, -1 when nothing is granted). */
unsigned vd_acl_privs(const vd_acl *a, const char *user, const char *path, int *deciding_line);

/* A human explanation for `visitdav acl explain USER METHOD PATH`: the
 * privilege the method needs (GET/PROPFIND/REPORT read or read-masked,
 * PUT/DELETE/MKCALENDAR/MKCOL/PROPPATCH/MOVE/COPY write, ...), the verdict,
 * and the deciding rule quoted with its line, or why nothing matched. */
void vd_acl_explain(const vd_acl *a, const char *user, const char *method,
                    const char *path, vd_buf *out);

/* Teams and roles. Returned strings are borrowed from a (valid while a is). */
size_t      vd_acl_team_count(const vd_acl *a);
const char *vd_acl_team_name(const vd_acl *a, size_t i);
bool        vd_acl_team_exists(const vd_acl *a, const char *team);
bool        vd_acl_is_member(const vd_acl *a, const char *team, const char *user);
bool        vd_acl_is_manager(const vd_acl *a, const char *team, const char *user);
/* Members (not managers) of team, in file order; n_out receives the count. */
const char *const *vd_acl_team_members(const vd_acl *a, const char *team, size_t *n_out);
const char *const *vd_acl_team_managers(const vd_acl *a, const char *team, size_t *n_out);
/* The first team user is a member of (for the rules' per-team overrides), or NULL. */
const char *vd_acl_team_of(const vd_acl *a, const char *user);
bool        vd_acl_has_role(const vd_acl *a, const char *role, const char *user);

/* Thread-safe holder: reload on SIGHUP, keep the old rules on error. */
typedef struct vd_acldb vd_acldb;
vd_err vd_acldb_open(const char *path, vd_acldb **out, vd_diag *d);
vd_err vd_acldb_reload(vd_acldb *db, vd_diag *d);
const vd_acl *vd_acldb_acquire(vd_acldb *db);              /* never NULL */
void   vd_acldb_release(vd_acldb *db, const vd_acl *a);
void   vd_acldb_close(vd_acldb *db);

#endif
