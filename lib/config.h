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
} vd_config;

/* Fill *c with the embedded defaults. */
void   vd_config_defaults(vd_config *c);
/* Defaults, then the file's settings.  Errors: VD_EIO (cannot read),
 * VD_EINVAL (message "file:line: reason"). */
vd_err vd_config_load(const char *path, vd_config *c, vd_diag *d);
/* Add a listen address given on the command line: the first call replaces
 * the default/file list, later calls append.  VD_EINVAL for a bad address. */
vd_err vd_config_add_listen(vd_config *c, const char *addr, bool *replaced_once, vd_diag *d);
void   vd_config_clear(vd_config *c);

/* Split "127.0.0.1:8008" / "[::1]:8008" / "localhost:80" into host and port. */
vd_err vd_config_parse_addr(const char *addr, char **host, unsigned *port);

#endif
