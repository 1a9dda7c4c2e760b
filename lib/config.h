/* config.h - visitdav.conf: "key = value" lines, '#' comments, [section]
 * headers allowed for grouping (keys are then "section.key").  Unknown keys
 * and bad values are errors with "file:line: reason" (never ignored: a typo
 * in a security setting must not silently fall back to a default).
 * Relative paths in the file are taken relative to the file's directory.
 * Without a file every field has the embedded default below. */
#ifndef VD_CONFIG_H
#define VD_CONFIG_H

#include "vd.h"

#define VD_MAX_LISTEN 8

typedef struct vd_config {
    char  *listen[VD_MAX_LISTEN]; /* "127.0.0.1:8008", "[::1]:8008"; default one entry 127.0.0.1:8008 */
    size_t n_listen;
    char  *data_dir;              /* default "./visitdav-data" (relative to cwd) */
    char  *users_file;            /* default "<data_dir>/users" */
    char  *realm;                 /* Basic realm, default "visitdav" */
    size_t max_body_bytes;        /* default 10 MiB: larger requests get 413 */
    size_t max_resource_bytes;    /* default 1 MiB: C:max-resource-size */
    size_t max_multiget_hrefs;    /* default 5000 */
    size_t max_instances;         /* recurrence expansion cap, default VD_MAX_EXPAND_INST */
    unsigned threads;             /* HTTP worker threads, default 4 */
    unsigned conn_timeout_s;      /* idle connection timeout, default 60 */
    unsigned max_connections;     /* default 512 */
    char  *default_calendar;      /* name of the calendar made at first login: "visits" */
    char  *default_calendar_displayname; /* "Visits" */
    char  *timezone;              /* organisation time zone (IANA), default "UTC" */
    bool   no_sync;               /* [store] no_sync = true: skip fsync (benchmarks only) */
    char  *access_log;            /* path, "-" for stderr, NULL = none */
    bool   users_explicit;        /* (extension) users_file was set by the file */
    char  *customers_file;        /* (issue 3) customer directory CSV, NULL = none (empty) */
    char  *rules_file;            /* (issue 3) visit rules file, NULL = built-in defaults */
    char  *acl_file;              /* (issue 4) ACL file, NULL = built-in own-home rule only */
} vd_config;

/* Fill *c with the embedded defaults. */
void   vd_config_defaults(vd_config *c);
/* Defaults, then the file's settings (path NULL: defaults only).  *c need
 * not be initialised; on error it is left cleared (vd_config_clear is still
 * harmless).  Keys: listen (repeatable: the first replaces the default,
 * later ones append), data, users, realm, max_body_bytes,
 * max_resource_bytes (sizes: bytes or K/M/G), max_multiget_hrefs,
 * max_instances, threads, conn_timeout, max_connections, default_calendar,
 * default_calendar_displayname, timezone, access_log, store.no_sync (or
 * no_sync under [store]), customers, rules (paths; issue 3), acl (path; issue 4).  A value may be "quoted"; otherwise a '#' after a
 * blank starts a comment.  Errors: VD_EIO (cannot read), VD_ETOOBIG (file
 * over 1 MiB), VD_EINVAL (message "file:line: reason"). */
vd_err vd_config_load(const char *path, vd_config *c, vd_diag *d);
/* (extension) --data DIR: set data_dir and, unless the config file set
 * users explicitly, users_file = "DIR/users".  VD_EINVAL for an empty dir. */
vd_err vd_config_set_data_dir(vd_config *c, const char *dir);
/* Add a listen address given on the command line: the first call replaces
 * the default/file list, later calls append.  VD_EINVAL for a bad address. */
vd_err vd_config_add_listen(vd_config *c, const char *addr, bool *replaced_once, vd_diag *d);
void   vd_config_clear(vd_config *c);

/* Split "127.0.0.1:8008" / "[::1]:8008" / "localhost:80" into host and port. */
vd_err vd_config_parse_addr(const char *addr, char **host, unsigned *port);

#endif
