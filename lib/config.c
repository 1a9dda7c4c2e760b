/* config.c - visitdav.conf: embedded defaults, the "key = value" parser with
 * [section] headers, value checks and path resolution, and listen address
 * parsing.  Used by the server and the admin command alike, so both agree on
 * where the data and the users file are.
 *
 * Must not: ignore anything it does not understand (an unknown key, a
 * repeated key, a bad number or bool is an error with file:line), or touch
 * the files the settings name (checking those is their owners' job). */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CONF_BYTES  (1u << 20)
#define MAX_CONF_LINE   4096
#define DEFAULT_LISTEN  "127.0.0.1:8008"
#define DEFAULT_DATA    "./visitdav-data"

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p) {   /* nothing sensible runs without a few bytes for defaults */
        fputs("visitdav: out of memory\n", stderr);
        abort();
    }
    return p;
}

static char *join_path(const char *dir, const char *name)
{
    size_t ld = strlen(dir), ln = strlen(name);
    char *s = malloc(ld + ln + 2);
    if (!s)
        return NULL;
    memcpy(s, dir, ld);
    s[ld] = '/';
    memcpy(s + ld + 1, name, ln + 1);
    return s;
}

void vd_config_defaults(vd_config *c)
{
    memset(c, 0, sizeof *c);
    c->listen[0] = xstrdup(DEFAULT_LISTEN);
    c->n_listen = 1;
    c->data_dir = xstrdup(DEFAULT_DATA);
    c->users_file = xstrdup(DEFAULT_DATA "/users");
    c->realm = xstrdup("visitdav");
    c->max_body_bytes = 10u << 20;
    c->max_resource_bytes = 1u << 20;
    c->max_multiget_hrefs = 5000;
    c->max_instances = VD_MAX_EXPAND_INST;
    c->threads = 4;
    c->conn_timeout_s = 60;
    c->max_connections = 512;
    c->default_calendar = xstrdup("visits");
    c->default_calendar_displayname = xstrdup("Visits");
    c->timezone = xstrdup("UTC");
    c->no_sync = false;
    c->access_log = NULL;
    c->users_explicit = false;
}

void vd_config_clear(vd_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_listen && i < VD_MAX_LISTEN; i++)
        free(c->listen[i]);
    free(c->data_dir);
    free(c->users_file);
    free(c->realm);
    free(c->default_calendar);
    free(c->default_calendar_displayname);
    free(c->timezone);
    free(c->access_log);
    free(c->customers_file);
    free(c->rules_file);
    free(c->acl_file);
    memset(c, 0, sizeof *c);
}

vd_err vd_config_set_data_dir(vd_config *c, const char *dir)
{
    if (!dir || !dir[0])
        return VD_EINVAL;
    char *d = strdup(dir), *u = NULL;
    if (!d)
        return VD_ENOMEM;
    if (!c->users_explicit && !(u = join_path(dir, "users"))) {
        free(d);
        return VD_ENOMEM;
    }
    free(c->data_dir);
    c->data_dir = d;
    if (u) {
        free(c->users_file);
        c->users_file = u;
    }
    return VD_OK;
}

/* ---------- addresses ---------- */

static bool parse_port(const char *s, unsigned *port)
{
    if (!*s || strlen(s) > 5)
        return false;
    unsigned v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (unsigned)(*s - '0');
    }
    if (v > 65535)
        return false;
    *port = v;
    return true;
}

static bool hostname_ok(const char *h, size_t n)
{
    if (n == 0 || n > 253 || h[0] == '-' || h[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)h[i]) && h[i] != '-' && h[i] != '.')
            return false;
    return true;
}

/* "host:port", "[v6]:port".  Port 0 is allowed: it means "pick one". */
vd_err vd_config_parse_addr(const char *addr, char **host, unsigned *port)
{
    const char *h, *colon;
    size_t hn;
    *host = NULL;
    if (!addr)
        return VD_EINVAL;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':')
            return VD_EINVAL;
        h = addr + 1;
        hn = (size_t)(close - h);
        colon = close + 1;
        char v6[INET6_ADDRSTRLEN + 1];
        struct in6_addr a6;
        if (hn == 0 || hn >= sizeof v6)
            return VD_EINVAL;
        memcpy(v6, h, hn);
        v6[hn] = '\0';
        if (inet_pton(AF_INET6, v6, &a6) != 1)
            return VD_EINVAL;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
            return VD_EINVAL;   /* no port, or a bare IPv6 address */
        h = addr;
        hn = (size_t)(colon - addr);
        if (!hostname_ok(h, hn))
            return VD_EINVAL;
    }
    unsigned p;
    if (!parse_port(colon + 1, &p))
        return VD_EINVAL;
    if (!(*host = strndup(h, hn)))
        return VD_ENOMEM;
    *port = p;
    return VD_OK;
}

static vd_err check_addr(const char *addr)
{
    char *h = NULL;
    unsigned p;
    vd_err rc = vd_config_parse_addr(addr, &h, &p);
    free(h);
    return rc;
}

vd_err vd_config_add_listen(vd_config *c, const char *addr, bool *replaced_once, vd_diag *d)
{
    vd_err rc = check_addr(addr);
    if (rc != VD_OK) {
        vd_diag_set(d, 0, NULL, NULL,
                    "bad listen address '%.200s': want HOST:PORT or [IPv6]:PORT, port 0-65535",
                    addr ? addr : "");
        return rc;
    }
    char *copy = strdup(addr);
    if (!copy)
        return VD_ENOMEM;
    if (replaced_once && !*replaced_once) {
        for (size_t i = 0; i < c->n_listen; i++)
            free(c->listen[i]);
        c->n_listen = 0;
        *replaced_once = true;
    }
    if (c->n_listen >= VD_MAX_LISTEN) {
        free(copy);
        vd_diag_set(d, 0, NULL, NULL, "more than %d listen addresses", VD_MAX_LISTEN);
        return VD_ETOOBIG;
    }
    c->listen[c->n_listen++] = copy;
    return VD_OK;
}

/* ---------- values ---------- */

/* Decimal digits only (no sign, no spaces), no overflow. */
static bool parse_u64(const char *s, uint64_t *out, const char **end)
{
    uint64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (p == s)
        return false;
    *out = v;
    *end = p;
    return true;
}

/* Bytes, or K/M/G (binary multiples), optionally written KB/KiB. */
static bool parse_size(const char *s, uint64_t *out)
{
    uint64_t v, mul = 1;
    const char *p;
    if (!parse_u64(s, &v, &p))
        return false;
    switch (toupper((unsigned char)*p)) {
    case 'K': mul = 1ull << 10; p++; break;
    case 'M': mul = 1ull << 20; p++; break;
    case 'G': mul = 1ull << 30; p++; break;
    default: break;
    }
    if (mul > 1 && (*p == 'i' || *p == 'I') && toupper((unsigned char)p[1]) == 'B')
        p += 2;
    else if (toupper((unsigned char)*p) == 'B')
        p++;
    if (*p || v > UINT64_MAX / mul)
        return false;
    *out = v * mul;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "true", "yes", "on", "1" };
    static const char *const no[] = { "false", "no", "off", "0" };
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) { *out = true; return true; }
        if (strcasecmp(s, no[i]) == 0) { *out = false; return true; }
    }
    return false;
}

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* ---------- the key table ---------- */

typedef enum kind {
    K_LISTEN, K_PATH, K_LOGPATH, K_REALM, K_SIZE, K_COUNT, K_UINT,
    K_SEGMENT, K_TEXT, K_TZ, K_BOOL
} kind;

typedef struct keydef {
    const char *key;
    kind kind;
    size_t off;
    uint64_t min, max;
} keydef;

#define F(field) offsetof(vd_config, field)
static const keydef keys[] = {
    { "listen",             K_LISTEN,  0, 0, 0 },
    { "data",               K_PATH,    F(data_dir), 0, 0 },
    { "users",              K_PATH,    F(users_file), 0, 0 },
    { "realm",              K_REALM,   F(realm), 0, 0 },
    { "max_body_bytes",     K_SIZE,    F(max_body_bytes), 1, 1ull << 30 },
    { "max_resource_bytes", K_SIZE,    F(max_resource_bytes), 1, 1ull << 30 },
    { "max_multiget_hrefs", K_COUNT,   F(max_multiget_hrefs), 1, 1000000 },
    { "max_instances",      K_COUNT,   F(max_instances), 1, 1000000 },
    { "threads",            K_UINT,    F(threads), 1, 1024 },
    { "conn_timeout",       K_UINT,    F(conn_timeout_s), 1, 86400 },
    { "max_connections",    K_UINT,    F(max_connections), 1, 100000 },
    { "default_calendar",   K_SEGMENT, F(default_calendar), 0, 0 },
    { "default_calendar_displayname", K_TEXT, F(default_calendar_displayname), 0, 0 },
    { "timezone",           K_TZ,      F(timezone), 0, 0 },
    { "access_log",         K_LOGPATH, F(access_log), 0, 0 },
    { "store.no_sync",      K_BOOL,    F(no_sync), 0, 0 },
    { "customers",          K_PATH,    F(customers_file), 0, 0 },
    { "rules",              K_PATH,    F(rules_file), 0, 0 },
    { "acl",                K_PATH,    F(acl_file), 0, 0 },
};
#undef F
#define N_KEYS (sizeof keys / sizeof keys[0])

static const char *const sections[] = { "store" };

typedef struct parser {
    const char *path;      /* the config file, for messages */
    char *dir;             /* its directory: base of relative paths */
    vd_config *c;
    size_t seen[N_KEYS];   /* line where each key was set, 0 = not yet */
    bool listen_replaced;
} parser;

static const char *check_string(kind k, const char *v)
{
    if (has_ctl(v))
        return "control characters are not allowed";
    if (k == K_REALM && strpbrk(v, "\"\\"))
        return "realm may not contain '\"' or '\\' (it is sent in a quoted header)";
    if (k == K_SEGMENT) {
        if (v[0] == '.' || strlen(v) > 64)
            return "calendar name must be 1-64 of A-Z a-z 0-9 . _ -, not starting with '.'";
        for (const char *p = v; *p; p++)
            if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
                return "calendar name must be 1-64 of A-Z a-z 0-9 . _ -, not starting with '.'";
    }
    if (k == K_TZ) {
        if (strstr(v, "..") || v[0] == '/' || strlen(v) > 64)
            return "not an IANA time zone name (like Europe/Berlin)";
        for (const char *p = v; *p; p++)
            if (!isalnum((unsigned char)*p) && !strchr("/_+-", *p))
                return "not an IANA time zone name (like Europe/Berlin)";
    }
    return NULL;
}

/* Store a string-like value; relative paths become relative to the file. */
static const char *set_string(parser *ps, const keydef *k, const char *v)
{
    char **slot = (char **)((char *)ps->c + k->off);
    char *copy;
    if (k->kind == K_LOGPATH && !v[0]) {
        free(*slot);   /* access_log = (empty): no access log */
        *slot = NULL;
        return NULL;
    }
    if (!v[0])
        return "missing value";
    const char *why = check_string(k->kind, v);
    if (why)
        return why;
    bool is_path = k->kind == K_PATH || (k->kind == K_LOGPATH && strcmp(v, "-") != 0);
    while (is_path && v[0] == '.' && v[1] == '/')
        for (v += 2; *v == '/'; v++)   /* "./x" is "x": tidier messages */
            ;
    if (is_path && (!v[0] || strcmp(v, ".") == 0))
        copy = strdup(ps->dir);
    else if (is_path && v[0] != '/')
        copy = join_path(ps->dir, v);
    else
        copy = strdup(v);
    if (!copy)
        return "out of memory";
    free(*slot);
    *slot = copy;
    if (k->off == offsetof(vd_config, users_file))
        ps->c->users_explicit = true;
    return NULL;
}

static const char *set_number(parser *ps, const keydef *k, const char *v)
{
    uint64_t n;
    const char *end;
    bool ok = k->kind == K_SIZE ? parse_size(v, &n) : (parse_u64(v, &n, &end) && !*end);
    if (!ok)
        return k->kind == K_SIZE ? "not a size (bytes, or a number with K, M or G)"
                                 : "not a number";
    if (n < k->min || n > k->max)
        return "out of range";
    void *slot = (char *)ps->c + k->off;
    if (k->kind == K_UINT)
        *(unsigned *)slot = (unsigned)n;
    else
        *(size_t *)slot = (size_t)n;
    return NULL;
}

static const char *set_value(parser *ps, const keydef *k, const char *v, vd_diag *d)
{
    switch (k->kind) {
    case K_LISTEN:
        if (vd_config_add_listen(ps->c, v, &ps->listen_replaced, d) != VD_OK)
            return d && d->message[0] ? d->message : "bad listen address";
        return NULL;
    case K_BOOL:
        return parse_bool(v, (bool *)((char *)ps->c + k->off)) ? NULL
               : "not a boolean (true/false, yes/no, on/off, 1/0)";
    case K_SIZE: case K_COUNT: case K_UINT:
        return set_number(ps, k, v);
    default:
        return set_string(ps, k, v);
    }
}

/* ---------- lines ---------- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* The value after '=': "quoted" (\" and \\ escapes) or bare, where a '#'
 * after a blank starts a comment.  Unquoted in place. */
static const char *unquote(char *v)
{
    if (v[0] != '"') {
        for (char *p = v; *p; p++)
            if (*p == '#' && (p == v || p[-1] == ' ' || p[-1] == '\t')) {
                *p = '\0';
                break;
            }
        trim(v);
        return NULL;
    }
    char *w = v;
    const char *r = v + 1;
    for (; *r && *r != '"'; r++) {
        if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
            r++;
        *w++ = *r;
    }
    if (*r != '"')
        return "unterminated quoted value";
    *w = '\0';
    for (r++; *r == ' ' || *r == '\t'; r++)
        ;
    if (*r && *r != '#')
        return "text after the closing quote";
    return NULL;
}

static const char *section_line(char *s, char *section, size_t cap)
{
    size_t n = strlen(s);
    if (n < 3 || s[n - 1] != ']')
        return "bad section header (want [name])";
    s[n - 1] = '\0';
    char *name = trim(s + 1);
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
        if (strcmp(name, sections[i]) == 0 && strlen(name) < cap) {
            strcpy(section, name);
            return NULL;
        }
    return "unknown section";
}

static const char *key_line(parser *ps, char *s, const char *section, size_t lineno,
                            char *msg, size_t cap, vd_diag *d)
{
    char *eq = strchr(s, '=');
    if (!eq)
        return "expected 'key = value'";
    *eq = '\0';
    char *key = trim(s), *val = trim(eq + 1);
    char full[128];
    if (!key[0])
        return "missing key before '='";
    if (snprintf(full, sizeof full, "%s%s%s", section, section[0] ? "." : "", key) >= (int)sizeof full)
        return "key too long";
    size_t i = 0;
    while (i < N_KEYS && strcmp(keys[i].key, full) != 0)
        i++;
    if (i == N_KEYS) {
        snprintf(msg, cap, "unknown key '%s'", full);
        return msg;
    }
    if (ps->seen[i] && keys[i].kind != K_LISTEN) {
        snprintf(msg, cap, "duplicate key '%s' (first set on line %zu)", full, ps->seen[i]);
        return msg;
    }
    ps->seen[i] = lineno;
    const char *why = unquote(val);
    if (!why)
        why = set_value(ps, &keys[i], val, d);
    if (why && why != msg) {
        snprintf(msg, cap, "%s: %.250s", full, why);
        return msg;
    }
    return why;
}

static char *dir_of(const char *path)
{
    char *d = strdup(path);
    if (!d)
        return NULL;
    char *slash = strrchr(d, '/');
    if (!slash) {
        free(d);
        d = strdup(".");
    } else if (slash == d) {
        d[1] = '\0';
    } else {
        *slash = '\0';
    }
    if (!d)
        return NULL;
    char *abs = realpath(d, NULL);   /* so paths survive a later chdir */
    if (abs) {
        free(d);
        return abs;
    }
    return d;
}

static vd_err parse_conf(parser *ps, const char *text, size_t len, vd_diag *d)
{
    char line[MAX_CONF_LINE + 1], section[32] = "", msg[400];
    size_t lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        const char *why = NULL;
        lineno++;
        if (n > MAX_CONF_LINE || memchr(text + pos, '\0', n)) {
            why = n > MAX_CONF_LINE ? "line longer than 4096 bytes" : "NUL byte in line";
        } else {
            memcpy(line, text + pos, n);
            line[n] = '\0';
            char *s = trim(line);
            if (s[0] == '[')
                why = section_line(s, section, sizeof section);
            else if (s[0] && s[0] != '#')
                why = key_line(ps, s, section, lineno, msg, sizeof msg, d);
        }
        if (why) {
            char copy[400];
            snprintf(copy, sizeof copy, "%s", why);   /* why may live in d */
            vd_diag_set(d, 0, NULL, NULL, "%s:%zu: %s", ps->path, lineno, copy);
            return VD_EINVAL;
        }
        pos += n + 1;
    }
    return VD_OK;
}

static vd_err read_conf(const char *path, char **text, size_t *len, vd_diag *d)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        vd_diag_set(d, 0, NULL, NULL, "%s: %s", path, strerror(errno));
        return VD_EIO;
    }
    char *buf = malloc(MAX_CONF_BYTES + 1);
    size_t n = buf ? fread(buf, 1, MAX_CONF_BYTES + 1, f) : 0;
    vd_err rc = VD_OK;
    if (!buf)
        rc = VD_ENOMEM;
    else if (ferror(f)) {
        vd_diag_set(d, 0, NULL, NULL, "%s: read error", path);
        rc = VD_EIO;
    } else if (n > MAX_CONF_BYTES) {
        vd_diag_set(d, 0, NULL, NULL, "%s: larger than %u bytes", path, MAX_CONF_BYTES);
        rc = VD_ETOOBIG;
    }
    fclose(f);
    if (rc != VD_OK) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return VD_OK;
}

vd_err vd_config_load(const char *path, vd_config *c, vd_diag *d)
{
    char *text = NULL;
    size_t len = 0;
    parser ps;
    memset(&ps, 0, sizeof ps);
    vd_config_defaults(c);
    if (!path)
        return VD_OK;
    vd_err rc = read_conf(path, &text, &len, d);
    if (rc != VD_OK)
        goto out;
    ps.path = path;
    ps.c = c;
    if (!(ps.dir = dir_of(path))) {
        rc = VD_ENOMEM;
        goto out;
    }
    if ((rc = parse_conf(&ps, text, len, d)) != VD_OK)
        goto out;
    /* The users file follows the data directory unless set itself. */
    if (!c->users_explicit) {
        char *u = join_path(c->data_dir, "users");
        if (!u) {
            rc = VD_ENOMEM;
            goto out;
        }
        free(c->users_file);
        c->users_file = u;
    }
out:
    free(text);
    free(ps.dir);
    if (rc != VD_OK)
        vd_config_clear(c);
    return rc;
}
