/* dispatch.c - routing of one request: the method table, the
 * /.well-known/caldav redirect, HTTP Basic authentication (RFC 7617),
 * first-login provisioning, then the method handler.  Also the SIGHUP
 * reload.
 * Must not: include microhttpd.h (http.c owns the wire), open store
 * transactions beyond resolving a node for a 405, or decide what a method
 * does to a node (the handlers do). */
#include "dispatch.h"

#include "api.h"
#include "feeds.h"
#include "http.h"
#include "methods.h"
#include "outbox.h"
#include "visits.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef void (*handler_fn)(vd_request *r);

typedef struct method_entry {
    const char *name;
    handler_fn  fn;          /* NULL: a method we know but do not offer: 405 */
    bool        needs_auth;
} method_entry;

/* Method names are case-sensitive (RFC 9110 9.1). */
static const method_entry METHODS[] = {
    {.name = "OPTIONS",    .fn = vd_method_options,    .needs_auth = true},
    {.name = "GET",        .fn = vd_method_get,        .needs_auth = true},
    {.name = "HEAD",       .fn = vd_method_get,        .needs_auth = true},
    {.name = "PUT",        .fn = vd_method_put,        .needs_auth = true},
    {.name = "DELETE",     .fn = vd_method_delete,     .needs_auth = true},
    {.name = "COPY",       .fn = vd_method_copy,       .needs_auth = true},
    {.name = "MOVE",       .fn = vd_method_move,       .needs_auth = true},
    {.name = "PROPFIND",   .fn = vd_method_propfind,   .needs_auth = true},
    {.name = "PROPPATCH",  .fn = vd_method_proppatch,  .needs_auth = true},
    {.name = "MKCOL",      .fn = vd_method_mkcol,      .needs_auth = true},
    {.name = "MKCALENDAR", .fn = vd_method_mkcalendar, .needs_auth = true},
    {.name = "REPORT",     .fn = vd_method_report,     .needs_auth = true},
    /* known, not implemented, not advertised in Allow */
    {.name = "LOCK",       .fn = NULL,                 .needs_auth = true},
    {.name = "UNLOCK",     .fn = NULL,                 .needs_auth = true},
    {.name = "ACL",        .fn = NULL,                 .needs_auth = true},
    {.name = "POST",       .fn = NULL,                 .needs_auth = true},
};

static const method_entry *find_method(const char *name)
{
    for (size_t i = 0; i < sizeof METHODS / sizeof METHODS[0]; i++)
        if (strcmp(METHODS[i].name, name) == 0)
            return &METHODS[i];
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Basic auth                                                          */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Strict RFC 4648 base64: padded to a multiple of 4, '=' only at the end,
 * unused bits zero.  out must hold n / 4 * 3 + 1 bytes; NUL-terminated. */
static bool b64_decode(const char *in, size_t n, char *out, size_t *out_len)
{
    size_t o = 0;
    if (n == 0 || n % 4 != 0)
        return false;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)in[i + k];
            if (c == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad || (v[k] = b64_value(c)) < 0) {
                return false;   /* bad char, or data after '=' */
            }
        }
        unsigned bits = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 |
                        (unsigned)v[2] << 6 | (unsigned)v[3];
        if ((pad == 1 && (bits & 0xff)) || (pad == 2 && (bits & 0xffff)))
            return false;       /* non-canonical: stray bits */
        out[o++] = (char)(bits >> 16);
        if (pad < 2)
            out[o++] = (char)(bits >> 8 & 0xff);
        if (pad < 1)
            out[o++] = (char)(bits & 0xff);
    }
    out[o] = '\0';
    *out_len = o;
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decode s in place; false on a bad escape or an encoded NUL.
 * iOS 18.4+ sends "@" in user names as "%40". */
static bool pct_decode_inplace(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p != '%') {
            *o++ = *p;
            continue;
        }
        int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
            return false;
        *o++ = (char)(hi << 4 | lo);
        p += 2;
    }
    *o = '\0';
    return true;
}

#define MAX_CREDENTIALS_B64 4096

bool vd_auth_parse_basic(const char *header, char **user, char **password)
{
    *user = *password = NULL;
    if (!header)
        return false;
    while (*header == ' ' || *header == '\t')
        header++;
    /* auth-scheme is case-insensitive (RFC 9110 11.1) */
    if (strncasecmp(header, "Basic", 5) != 0 || (header[5] != ' ' && header[5] != '\t'))
        return false;
    const char *p = header + 5;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strcspn(p, " \t");
    for (const char *q = p + n; *q; q++)
        if (*q != ' ' && *q != '\t')
            return false;       /* anything after the token68 */
    if (n > MAX_CREDENTIALS_B64)
        return false;
    char buf[MAX_CREDENTIALS_B64 / 4 * 3 + 1];
    size_t len = 0;
    /* What the decoder can have written, the only part to wipe (the whole
     * buffer is ~6 KB, wiped on every request before). */
    size_t touched = n / 4 * 3 + 3 < sizeof buf ? n / 4 * 3 + 3 : sizeof buf;
    if (!b64_decode(p, n, buf, &len) || memchr(buf, '\0', len))
        goto fail;
    char *colon = strchr(buf, ':');   /* user-id cannot contain ':' (RFC 7617 2) */
    if (!colon || colon == buf)
        goto fail;
    *colon = '\0';
    if (!pct_decode_inplace(buf) || !buf[0])
        goto fail;
    *user = strdup(buf);
    *password = strdup(colon + 1);
    explicit_bzero(buf, touched);
    if (!*user || !*password) {
        free(*user);
        free(*password);
        *user = *password = NULL;
        return false;
    }
    return true;
fail:
    explicit_bzero(buf, touched);
    return false;
}

/* 401 with the challenge (RFC 7617 2; charset per 2.1).  Never 403 and
 * never an anonymous 207: Apple clients probe without credentials and only
 * send them after a challenge. */
static void challenge(vd_request *r)
{
    vd_buf v = VD_BUF_INIT;
    vd_buf_puts(&v, "Basic realm=\"");
    for (const char *p = r->srv->cfg->realm ? r->srv->cfg->realm : "visitdav"; *p; p++) {
        if (*p == '"' || *p == '\\')
            vd_buf_puts(&v, "\\");
        if ((unsigned char)*p >= 0x20 && *p != 0x7f)
            vd_buf_append(&v, p, 1);
    }
    vd_buf_puts(&v, "\", charset=\"UTF-8\"");
    vd_resp_errorf(r, 401, "authentication required");
    vd_resp_header(r, "WWW-Authenticate", v.data);
    vd_buf_free(&v);
}

static bool authenticate(vd_request *r)
{
    char *user = NULL, *pw = NULL, *dn = NULL, *email = NULL;
    const char *h = vd_req_header(r, "Authorization");
    bool ok = h && vd_auth_parse_basic(h, &user, &pw) &&
              vd_userdb_verify(r->srv->users, user, pw, &dn, &email);
    if (pw) {
        explicit_bzero(pw, strlen(pw));
        free(pw);
    }
    if (!ok) {
        free(user);
        free(dn);
        free(email);
        challenge(r);
        return false;
    }
    r->user = user;
    r->user_displayname = dn;
    r->user_email = email;
    return true;
}

/* ------------------------------------------------------------------ */
/* phases                                                              */

static bool is_well_known(const char *path)
{
    return strcmp(path, "/.well-known/caldav") == 0 ||
           strcmp(path, "/.well-known/caldav/") == 0;
}

bool vd_dispatch_head(vd_request *r)
{
    const char *m = r->method;
    /* RFC 6764 5: the well-known URI redirects to the context path; clients
     * then PROPFIND "/" for current-user-principal (with auth). */
    if (is_well_known(r->path) &&
        (!strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "PROPFIND") ||
         !strcmp(m, "OPTIONS"))) {
        vd_resp_errorf(r, 301, "see /");
        vd_resp_header(r, "Location", "/");
        return false;
    }
    /* issue 4: a feed URL is its own credential (feeds.c); read-only */
    if (vd_feeds_path(r->path)) {
        if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
            return true;
        vd_feeds_not_allowed(r);
        return false;
    }
    const method_entry *e = find_method(m);
    if ((!e || e->needs_auth) && !authenticate(r))
        return false;
    if (!e) {
        vd_resp_errorf(r, 501, "method %.40s is not implemented", m);
        return false;
    }
    return true;
}

/* 405 for a method we know but do not offer; RFC 9110 15.5.6: the Allow
 * header MUST list the methods the target supports. */
static void not_allowed(vd_request *r)
{
    vd_txn *t = NULL;
    vd_node n = {0};
    if (vd_store_read(r->srv->store, &t) != VD_OK ||
        vd_resolve(r->srv, t, r->path, &n) != VD_OK) {
        vd_resp_errorf(r, 500, "store failure");
        goto out;
    }
    vd_resp_errorf(r, 405, "method %s is not allowed here", r->method);
    vd_resp_header(r, "Allow", vd_allow_for(&n));
out:
    vd_node_clear(&n);
    vd_txn_end(t);
}

void vd_dispatch_body(vd_request *r)
{
    const method_entry *e = find_method(r->method);
    if (!e) {   /* vd_dispatch_head let it through: cannot happen */
        vd_resp_errorf(r, 501, "method not implemented");
        return;
    }
    if (r->user) {
        vd_err err = vd_provision_user(r->srv, r->user, r->user_displayname,
                                       r->user_email);
        if (err != VD_OK) {
            vd_log("cannot provision user %s: %s", r->user, vd_strerror(err));
            vd_resp_errorf(r, 500, "cannot set up the calendar home");
            return;
        }
    }
    if (!r->user && vd_feeds_path(r->path)) {   /* issue 4: GET/HEAD of a feed */
        vd_feeds_get(r);
        return;
    }
    if (vd_api_path(r->path)) {     /* /api/v1/: JSON, not WebDAV */
        vd_api_handle(r);
        return;
    }
    if (strcmp(r->method, "POST") == 0 && vd_outbox_is(r->path)) {
        vd_outbox_post(r);          /* issue 4: free-busy (RFC 6638) */
        return;
    }
    if (!e->fn) {
        not_allowed(r);
        return;
    }
    e->fn(r);
}

/* ------------------------------------------------------------------ */
/* SIGHUP                                                              */

static void count_user(const char *name, void *ctx)
{
    (void)name;
    (*(size_t *)ctx)++;
}

void vd_server_reload(vd_server *s)
{
    vd_diag d = {0};
    if (vd_userdb_reload(s->users, &d) != VD_OK) {
        vd_log("users file %s not reloaded, previous users stay in force: %s",
               s->cfg->users_file, d.message[0] ? d.message : "error");
    } else {
        size_t n = 0;
        vd_userdb_each(s->users, count_user, &n);
        vd_log("users file %s reloaded: %zu users", s->cfg->users_file, n);
    }
    /* issue 3: the customer directory and the rules; a bad file keeps the old */
    vd_diag cd = {0}, rd = {0};
    vd_visits_reload(s, &cd, &rd);
    vd_log("customers %s%s%s", s->cfg->customers_file ? s->cfg->customers_file : "(none)",
           cd.message[0] ? " not reloaded, previous directory stays in force: " : " reloaded",
           cd.message);
    vd_log("rules %s%s%s", s->cfg->rules_file ? s->cfg->rules_file : "(defaults)",
           rd.message[0] ? " not reloaded, previous rules stay in force: " : " reloaded",
           rd.message);
    /* issue 4: reload the ACL file here, same pattern */
}
