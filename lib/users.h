/* users.h - the users file (conf/users): one user per line,
 *     name:crypt-hash[:display name[:email]]
 * '#' starts a comment line; blank lines are ignored.  Hashes are crypt(3)
 * strings; new ones are yescrypt ("$y$").  The file is the source of truth
 * for who may log in; the admin command edits it, the server re-reads it
 * when its modification time changes (checked at most once a second) and
 * on SIGHUP.  A file that fails to parse is never applied: the users in
 * force stay in force (never fail open).
 * Verifying a password with yescrypt costs milliseconds, so successful
 * verifications are cached in memory under a keyed SipHash of
 * (name, password) with a random per-process key, for a bounded time, and
 * the cache is dropped whenever the file changes. */
#ifndef VD_USERS_H
#define VD_USERS_H

#include "vd.h"

typedef struct vd_users vd_users;

typedef struct vd_user {
    char *name;
    char *hash;
    char *displayname;   /* may be NULL */
    char *email;         /* may be NULL */
} vd_user;

/* Load the file at path (a missing file is an empty user list).  A syntax
 * error returns VD_EINVAL with "path:line: reason" in d->message. */
vd_err vd_users_load(const char *path, vd_users **out, vd_diag *d);
void   vd_users_free(vd_users *u);

/* For the server: a thread-safe handle that reloads on change. */
typedef struct vd_userdb vd_userdb;
vd_err vd_userdb_open(const char *path, vd_userdb **out, vd_diag *d);
void   vd_userdb_close(vd_userdb *db);
/* Re-read now (SIGHUP). On failure keep the old list and return the error. */
vd_err vd_userdb_reload(vd_userdb *db, vd_diag *d);
/* Check a password. True only for a known user with a matching hash.
 * Copies display name / email into the out params if non-NULL (malloc'd). */
bool   vd_userdb_verify(vd_userdb *db, const char *name, const char *password,
                        char **displayname, char **email);
/* Does the user exist (for principal lookups)? Copies fields like verify. */
bool   vd_userdb_lookup(vd_userdb *db, const char *name, char **displayname, char **email);
/* Call cb for every user name (sorted). */
void   vd_userdb_each(vd_userdb *db, void (*cb)(const char *name, void *ctx), void *ctx);

/* For the admin command: edit the file atomically (write a temp file in the
 * same directory, fsync, rename).  Names: 1-64 bytes of [A-Za-z0-9._@-],
 * not starting with '.'.  Errors: VD_EEXISTS (add of an existing user),
 * VD_ENOTFOUND (passwd/del of an unknown one), VD_EINVAL (bad name, empty
 * password), VD_EIO. */
vd_err vd_users_add(const char *path, const char *name, const char *password,
                    const char *displayname, const char *email, vd_diag *d);
vd_err vd_users_passwd(const char *path, const char *name, const char *password, vd_diag *d);
vd_err vd_users_del(const char *path, const char *name, vd_diag *d);
/* List users: cb(user) for each, in file order. */
vd_err vd_users_list(const char *path, void (*cb)(const vd_user *u, void *ctx), void *ctx, vd_diag *d);

/* Read access to a loaded list (extension): count, the i-th user in file
 * order, a user by name.  Pointers are borrowed from u (valid until
 * vd_users_free). */
size_t         vd_users_count(const vd_users *u);
const vd_user *vd_users_get(const vd_users *u, size_t i);
const vd_user *vd_users_find(const vd_users *u, const char *name);

/* Counters of a vd_userdb (extension; for tests and diagnostics). */
typedef struct vd_userdb_stats {
    uint64_t cache_hits;     /* verifications answered from the cache */
    uint64_t cache_misses;   /* verifications that ran crypt(3) */
    uint64_t reloads;        /* applied re-reads of the file */
    uint64_t reload_errors;  /* re-reads rejected (file did not parse) */
    size_t   users;          /* users in force */
} vd_userdb_stats;
void   vd_userdb_stats_get(vd_userdb *db, vd_userdb_stats *out);

/* Longest password accepted (bytes). */
#define VD_USERS_MAX_PASSWORD 1024

/* Hash a password with yescrypt (malloc'd crypt string). NULL on failure. */
char  *vd_users_hash_password(const char *password);
bool   vd_users_name_valid(const char *name);

#endif
