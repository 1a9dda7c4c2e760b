/* http.c - the HTTP boundary; the only file that includes microhttpd.h.
 * Owns: the libmicrohttpd daemons, reading a request body under the size
 * cap, decoding the request path once, the request lifetime (one
 * conn_state per request, freed in one place), turning the vd_request's
 * response into an MHD response, the access log, and the vd_req_* /
 * vd_resp_* helpers of server.h.
 * Must not: know what any method means (dispatch.c and the handlers do),
 * touch the store, or read the body of a request that failed auth. */
#include "http.h"

#include "../lib/davxml.h"
#include "../lib/path.h"
#include "dispatch.h"

#include <microhttpd.h>
#define ZLIB_CONST   /* next_in is const: the body is only read */
#include <zlib.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct vd_http {
    struct MHD_Daemon *daemon;
    vd_server *srv;
    int log_fd;          /* access log, -1 = none */
    bool log_owned;      /* close log_fd on stop (not for stderr) */
};

/* Everything one request owns, from the first callback (headers in) until
 * libmicrohttpd reports the request complete or aborted. */
typedef struct conn_state {
    vd_request req;
    vd_buf body;
    struct timespec t0;
    bool responded;      /* a response is queued: discard any further input */
    bool too_big;        /* body grew over the cap: discarding, then 413 */
    size_t discarded;    /* bytes dropped since */
} conn_state;

/* How much of an over-long chunked body is read and dropped before the
 * connection is cut without an answer. */
#define MAX_DISCARD_BYTES ((size_t)16 << 20)

/* ------------------------------------------------------------------ */
/* logging                                                             */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void vd_log(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n = snprintf(line, sizeof line, "visitdavd: ");
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;   /* truncated: still one line */
    while (len > 0 && line[len - 1] == '\n')
        len--;
    line[len++] = '\n';
    pthread_mutex_lock(&log_lock);
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;   /* nowhere left to report a failed log write */
    pthread_mutex_unlock(&log_lock);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    vd_log("http: %s", msg);
}

/* Copy s into out with bytes outside printable ASCII and '"' as %XX, so a
 * log line stays one parseable line whatever the client sent. */
static void log_sanitise(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    for (; s && *s && o + 4 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x21 || ch > 0x7e || ch == '"')
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", ch);
        else
            out[o++] = (char)ch;
    }
    out[o] = '\0';
}

/* One access-log line: time "METHOD path" status bytes duration user, the
 * duration from the request's headers to its answer queued, in ms with three
 * decimals. */
static void access_log(vd_http *h, conn_state *st, const char *url, size_t bytes)
{
    if (h->log_fd < 0)
        return;
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* Microseconds: most requests take well under a millisecond. */
    long us = (long)(t1.tv_sec - st->t0.tv_sec) * 1000000 +
              (t1.tv_nsec - st->t0.tv_nsec) / 1000;
    char when[17], path[600], method[40], user[140];
    vd_time_format_utc(vd_now(), when);
    log_sanitise(path, sizeof path, url);
    log_sanitise(method, sizeof method, st->req.method);
    log_sanitise(user, sizeof user, st->req.user ? st->req.user : "-");
    char line[1024];
    int n = snprintf(line, sizeof line, "%s \"%s %s\" %d %zu %ld.%03ldms %s\n",
                     when, method, path, st->req.status, bytes, us / 1000, us % 1000, user);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line) {
        n = (int)sizeof line - 1;
        line[n - 1] = '\n';
    }
    /* One write(2) per line on an O_APPEND fd: lines never interleave. */
    ssize_t w = write(h->log_fd, line, (size_t)n);
    (void)w;
}

/* ------------------------------------------------------------------ */
/* request helpers of server.h                                         */

void vd_request_init(vd_request *r, vd_server *s)
{
    memset(r, 0, sizeof *r);
    r->srv = s;
    r->body = "";
}

void vd_request_clear(vd_request *r)
{
    if (!r)
        return;
    free(r->path);
    free((char *)r->user);     /* owned by the request (dispatch.c strdup) */
    free(r->user_displayname);
    free(r->user_email);
    free(r->content_type);
    vd_buf_free(&r->out);
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    memset(r, 0, sizeof *r);
}

const char *vd_req_header(vd_request *r, const char *name)
{
    if (!r || !r->get_header || !name)
        return NULL;
    return r->get_header(r->http_ctx, name);
}

/* Trimmed copy of header value v into out; false when too long. */
static bool trimmed(const char *v, char *out, size_t cap)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n >= cap)
        return false;
    memcpy(out, v, n);
    out[n] = '\0';
    return true;
}

int vd_req_depth(vd_request *r, int dflt)
{
    const char *v = vd_req_header(r, "Depth");
    char t[16];
    if (!v)
        return dflt;
    if (!trimmed(v, t, sizeof t))
        return -2;
    if (strcmp(t, "0") == 0)
        return 0;
    if (strcmp(t, "1") == 0)
        return 1;
    if (strcasecmp(t, "infinity") == 0)
        return -1;
    return -2;
}

/* Does the Prefer header list the preference return=minimal (RFC 7240)?
 * Preferences are comma separated, each possibly followed by ";params";
 * blanks and quotes around the value are ignored. */
static bool prefer_minimal(const char *v)
{
    char pref[64];
    size_t k = 0;
    bool in_params = false;
    for (const char *p = v; p; p++) {
        if (*p == ',' || *p == '\0') {
            pref[k] = '\0';
            if (strcasecmp(pref, "return=minimal") == 0)
                return true;
            if (*p == '\0')
                break;
            k = 0;
            in_params = false;
        } else if (*p == ';') {
            in_params = true;
        } else if (!in_params && *p != ' ' && *p != '\t' && *p != '"' &&
                   k < sizeof pref - 1) {
            pref[k++] = *p;
        }
    }
    return false;
}

bool vd_req_brief(vd_request *r)
{
    const char *b = vd_req_header(r, "Brief");
    char t[8];
    if (b && trimmed(b, t, sizeof t) && strcasecmp(t, "t") == 0)
        return true;
    return prefer_minimal(vd_req_header(r, "Prefer"));
}

/* ------------------------------------------------------------------ */
/* response helpers of server.h                                        */

void vd_resp_header(vd_request *r, const char *name, const char *value)
{
    if (!name || !value)
        return;
    if (r->n_headers >= VD_MAX_RESP_HEADERS) {
        vd_log("response header %s dropped: more than %d headers", name,
               VD_MAX_RESP_HEADERS);
        return;
    }
    vd_header *h = &r->headers[r->n_headers];
    h->name = strdup(name);
    h->value = strdup(value);
    if (!h->name || !h->value) {
        free(h->name);
        free(h->value);
        h->name = h->value = NULL;
        return;
    }
    r->n_headers++;
}

void vd_resp_set(vd_request *r, int status, const char *content_type,
                 const char *body, size_t len)
{
    r->status = status;
    free(r->content_type);
    r->content_type = content_type ? strdup(content_type) : NULL;
    vd_buf_reset(&r->out);
    if (body && len)
        vd_buf_append(&r->out, body, len);
}

void vd_resp_status(vd_request *r, int status)
{
    vd_resp_set(r, status, NULL, NULL, 0);
}

static const char *reason(int status)
{
    const char *p = MHD_get_reason_phrase_for((unsigned)status);
    return (p && *p) ? p : "Error";
}

void vd_resp_error(vd_request *r, const vd_diag *d, int dflt)
{
    int status = (d && d->status) ? d->status : dflt;
    if (d && d->precond) {
        vd_buf b = VD_BUF_INIT;
        vd_dav_error_body(&b, d);
        vd_resp_set(r, status, "application/xml; charset=utf-8", b.data, b.len);
        vd_buf_free(&b);
        return;
    }
    const char *msg = (d && d->message[0]) ? d->message : reason(status);
    vd_resp_errorf(r, status, "%s", msg);
}

void vd_resp_errorf(vd_request *r, int status, const char *fmt, ...)
{
    vd_buf b = VD_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    vd_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    vd_buf_puts(&b, "\n");
    vd_resp_set(r, status, "text/plain; charset=utf-8", b.data, b.len);
    vd_buf_free(&b);
}

void vd_resp_multistatus(vd_request *r, vd_buf *ms)
{
    r->status = 207;
    free(r->content_type);
    r->content_type = strdup("application/xml; charset=utf-8");
    vd_buf_free(&r->out);
    r->out = *ms;
    ms->data = NULL;
    ms->len = ms->cap = 0;
}

/* ------------------------------------------------------------------ */
/* libmicrohttpd glue                                                  */

/* Query-string arguments (libmicrohttpd strips them from the URL it hands
 * us and keeps them decoded per name). */
static const char *mhd_query(void *ctx, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)ctx,
                                       MHD_GET_ARGUMENT_KIND, name);
}

static const char *mhd_header(void *ctx, const char *name)
{
    /* case-insensitive, as RFC 9110 5.1 requires */
    return MHD_lookup_connection_value((struct MHD_Connection *)ctx,
                                       MHD_HEADER_KIND, name);
}

/* Keep the path exactly as received: vd_path_decode decodes it once. */
static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

static bool is_method(const vd_request *r, const char *m)
{
    return r->method && strcmp(r->method, m) == 0;
}

/* The path part of a request target (RFC 9112 3.2): origin-form as is,
 * absolute-form without scheme and authority, "*" (OPTIONS only) as "/".
 * NULL when the target has none of these forms. */
static const char *target_path(const char *url, const char *method)
{
    if (strcmp(url, "*") == 0)
        return strcmp(method, "OPTIONS") == 0 ? "/" : NULL;
    if (url[0] == '/')
        return url;
    const char *p = NULL;
    if (strncasecmp(url, "http://", 7) == 0)
        p = url + 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        p = url + 8;
    if (!p)
        return NULL;
    const char *slash = strchr(p, '/');
    return slash ? slash : "/";
}

/* Is the declared Content-Length over the cap?  (libmicrohttpd itself
 * rejects a malformed one with 400.) */
static bool length_over(const char *cl, size_t cap)
{
    if (!cl)
        return false;
    errno = 0;
    char *end = NULL;
    unsigned long long n = strtoull(cl, &end, 10);
    if (errno == ERANGE)
        return true;
    return end != cl && n > (unsigned long long)cap;
}

/* ------------------------------------------------------------------ */
/* gzip content coding (RFC 9110 8.4.1.3)                              */

/* Bodies up to this size are sent as they are: the gain is a few hundred
 * bytes at most, and every error body is far smaller. */
#define GZIP_MIN_BYTES 1024
/* zlib level 1: on a 1,000-event multistatus it takes less than half the
 * time of level 6 and keeps 96% of its saving (docs/architecture.md, HTTP). */
#define GZIP_LEVEL 1

/* What the request's Accept-Encoding lines say about gzip, in thousandths
 * of q (RFC 9110 12.4.2); -1 where the coding is not listed. */
typedef struct accept_gzip {
    int gzip_q;      /* "gzip" or its alias "x-gzip" */
    int star_q;      /* "*" */
} accept_gzip;

static const char *skip_ows(const char *s, const char *e)
{
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    return s;
}

static const char *trim_ows_end(const char *s, const char *e)
{
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    return e;
}

/* qvalue = "0" [ "." 0*3DIGIT ] / "1" [ "." 0*3"0" ] in thousandths;
 * -1 when malformed. */
static int parse_qvalue(const char *s, const char *e)
{
    size_t n = (size_t)(e - s);
    if (n == 0 || n > 5 || (s[0] != '0' && s[0] != '1'))
        return -1;
    int q = (s[0] - '0') * 1000, scale = 100;
    if (n == 1)
        return q;
    if (s[1] != '.')
        return -1;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        q += (s[i] - '0') * scale;
    }
    return q <= 1000 ? q : -1;
}

static bool range_is(const char *s, const char *e, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(e - s) == n && strncasecmp(s, word, n) == 0;
}

/* One list member "coding *( OWS ";" OWS param )" in [s, e).  A malformed
 * weight counts as q=0: when in doubt, send the body unencoded. */
static void accept_member(accept_gzip *a, const char *s, const char *e)
{
    const char *semi = memchr(s, ';', (size_t)(e - s));
    const char *cs = skip_ows(s, semi ? semi : e);
    const char *ce = trim_ows_end(cs, semi ? semi : e);
    int q = 1000;
    for (const char *p = semi; p && p < e;) {
        const char *next = memchr(p + 1, ';', (size_t)(e - p - 1));
        const char *ps = skip_ows(p + 1, next ? next : e);
        const char *pe = trim_ows_end(ps, next ? next : e);
        if (pe - ps >= 2 && (ps[0] == 'q' || ps[0] == 'Q') && ps[1] == '=') {
            int v = parse_qvalue(ps + 2, pe);
            q = v < 0 ? 0 : v;
        }
        p = next;
    }
    /* a coding listed twice: the lower weight wins */
    int *slot = NULL;
    if (range_is(cs, ce, "gzip") || range_is(cs, ce, "x-gzip"))
        slot = &a->gzip_q;
    else if (range_is(cs, ce, "*"))
        slot = &a->star_q;
    if (slot && (*slot < 0 || q < *slot))
        *slot = q;
}

/* Called for every request header line; reads each Accept-Encoding line
 * (several lines are one comma-separated list, RFC 9110 5.3). */
static enum MHD_Result accept_line(void *cls, enum MHD_ValueKind kind,
                                   const char *key, const char *value)
{
    (void)kind;
    if (!key || !value || strcasecmp(key, "Accept-Encoding") != 0)
        return MHD_YES;
    const char *end = value + strlen(value);
    for (const char *s = value; s < end;) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *e = comma ? comma : end;
        accept_member(cls, s, e);
        s = comma ? comma + 1 : end;
    }
    return MHD_YES;
}

/* RFC 9110 12.5.3: gzip is acceptable when listed with q > 0, or, when
 * not listed, when "*" is with q > 0.  No Accept-Encoding: not sent. */
static bool gzip_accepted(struct MHD_Connection *c)
{
    accept_gzip a = {.gzip_q = -1, .star_q = -1};
    MHD_get_connection_values(c, MHD_HEADER_KIND, accept_line, &a);
    return a.gzip_q >= 0 ? a.gzip_q > 0 : a.star_q > 0;
}

static vd_header *find_header(vd_request *r, const char *name)
{
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return &r->headers[i];
    return NULL;
}

/* Does the comma-separated field value v list token (case-insensitive)? */
static bool list_has(const char *v, const char *token)
{
    const char *end = v + strlen(v);
    for (const char *s = v; s < end;) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *e = comma ? comma : end;
        const char *ts = skip_ows(s, e);
        if (range_is(ts, trim_ows_end(ts, e), token))
            return true;
        s = comma ? comma + 1 : end;
    }
    return false;
}

/* Add token to the response's Vary, merged into the Vary already there
 * and never listed twice (RFC 9110 12.5.5).  False if it could not be. */
static bool vary_add(vd_request *r, const char *token)
{
    vd_header *first = NULL;
    for (size_t i = 0; i < r->n_headers; i++) {
        vd_header *hd = &r->headers[i];
        if (strcasecmp(hd->name, "Vary") != 0)
            continue;
        if (list_has(hd->value, token) || list_has(hd->value, "*"))
            return true;
        if (!first)
            first = hd;
    }
    if (!first) {
        size_t n = r->n_headers;
        vd_resp_header(r, "Vary", token);
        return r->n_headers > n;
    }
    vd_buf b = VD_BUF_INIT;
    const char *old = first->value;
    const char *e = trim_ows_end(old, old + strlen(old));
    vd_buf_printf(&b, "%.*s%s%s", (int)(e - old), old, e > old ? ", " : "", token);
    size_t n;
    char *merged = vd_buf_steal(&b, &n);
    if (!merged)
        return false;
    free(first->value);
    first->value = merged;
    return true;
}

/* [data, len) as one gzip member, malloc'd; NULL on failure or when the
 * result would not be smaller. */
static char *gzip_body(const char *data, size_t len, size_t *out_len)
{
    z_stream zs = {0};
    char *out = NULL;
    if (len > UINT_MAX ||
        deflateInit2(&zs, GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    uLong cap = deflateBound(&zs, (uLong)len);
    if (cap > UINT_MAX || !(out = malloc(cap)))
        goto done;
    zs.next_in = (const Bytef *)data;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)cap;
    /* avail_out >= deflateBound: one Z_FINISH call completes */
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END || zs.total_out >= len) {
        free(out);
        out = NULL;
        goto done;
    }
    *out_len = zs.total_out;
done:
    deflateEnd(&zs);
    return out;
}

/* Replace the body (*data, *len) by its gzip form when the client accepts
 * gzip, the body is over GZIP_MIN_BYTES and the response has no ETag: an
 * ETag names one representation (RFC 9110 8.8.3), and a strong one must
 * not be shared by the plain and the gzip bytes.  HEAD runs the same code
 * on the same body, so it reports the headers GET would. */
static void maybe_gzip(vd_request *r, struct MHD_Connection *c,
                       char **data, size_t *len)
{
    if (*len <= GZIP_MIN_BYTES || find_header(r, "ETag") ||
        find_header(r, "Content-Encoding") || find_header(r, "Content-Range"))
        return;
    /* the choice below depends on Accept-Encoding, whichever way it goes;
     * without the Vary a cache could hand gzip to a client that can't read it */
    if (!vary_add(r, "Accept-Encoding") || !gzip_accepted(c))
        return;
    size_t zlen = 0;
    char *z = gzip_body(*data, *len, &zlen);
    if (!z)
        return;
    size_t n = r->n_headers;
    vd_resp_header(r, "Content-Encoding", "gzip");
    if (r->n_headers == n) {      /* no room to say so: send it plain */
        free(z);
        return;
    }
    free(*data);
    *data = z;
    *len = zlen;
}

/* Turn st->req's response into an MHD response and queue it. */
static enum MHD_Result queue(vd_http *h, struct MHD_Connection *c,
                             conn_state *st, const char *url)
{
    vd_request *r = &st->req;
    st->responded = true;
    if (r->status < 200 || r->status > 599) {
        vd_log("%s %s: handler left status %d; answering 500",
               r->method, r->path ? r->path : url, r->status);
        vd_resp_errorf(r, 500, "internal error");
    }
    if (is_method(r, "PROPFIND") || is_method(r, "REPORT"))
        vd_resp_header(r, "Vary", "Brief, Prefer");
    size_t len = 0;
    char *data = vd_buf_steal(&r->out, &len);
    if (data)
        maybe_gzip(r, c, &data, &len);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(data);
        return MHD_NO;
    }
    if (r->content_type &&
        MHD_add_response_header(resp, "Content-Type", r->content_type) != MHD_YES)
        vd_log("bad Content-Type from handler dropped");
    for (size_t i = 0; i < r->n_headers; i++) {
        const vd_header *hd = &r->headers[i];
        /* libmicrohttpd owns framing: it computes Content-Length itself
         * (also for HEAD, from the GET body it then does not send). */
        if (strcasecmp(hd->name, "Content-Length") == 0 ||
            strcasecmp(hd->name, "Transfer-Encoding") == 0)
            continue;
        if (MHD_add_response_header(resp, hd->name, hd->value) != MHD_YES)
            vd_log("response header %s dropped (invalid)", hd->name);
    }
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    access_log(h, st, url, r->is_head ? 0 : len);
    return ret;
}

/* First callback: headers are in, nothing of the body has been read.
 * Everything that can be refused without the body is refused here. */
static enum MHD_Result on_headers(vd_http *h, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  void **con_cls)
{
    conn_state *st = calloc(1, sizeof *st);
    if (!st)
        return MHD_NO;
    *con_cls = st;
    clock_gettime(CLOCK_MONOTONIC, &st->t0);
    vd_request *r = &st->req;
    vd_request_init(r, h->srv);
    r->method = method;
    r->get_header = mhd_header;
    r->get_query = mhd_query;
    r->http_ctx = c;
    r->is_head = strcmp(method, "HEAD") == 0;

    vd_diag d = {0};
    const char *raw = target_path(url, method);
    if (!raw) {
        vd_resp_errorf(r, 400, "bad request target");
        return queue(h, c, st, url);
    }
    if (vd_path_decode(raw, &r->path, &d) != VD_OK) {
        vd_resp_error(r, &d, 400);
        return queue(h, c, st, url);
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (length_over(cl, h->srv->cfg->max_body_bytes)) {
        /* RFC 9110 15.5.14: refuse before reading any of the content */
        vd_resp_errorf(r, 413, "request body larger than %zu bytes",
                       h->srv->cfg->max_body_bytes);
        vd_resp_header(r, "Connection", "close");
        return queue(h, c, st, url);
    }
    if (!vd_dispatch_head(r))
        return queue(h, c, st, url);
    return MHD_YES;   /* go on: libmicrohttpd sends 100 Continue if asked */
}

static enum MHD_Result on_upload(vd_http *h, conn_state *st,
                                 const char *data, size_t *size)
{
    size_t cap = h->srv->cfg->max_body_bytes;
    size_t n = *size;
    *size = 0;
    if (st->responded)
        return MHD_YES;   /* answer already queued: drop the rest */
    if (!st->too_big && (n > cap || st->body.len > cap - n)) {
        /* A chunked body (no Content-Length) grew over the cap.
         * libmicrohttpd 0.9.75 cannot queue a response in mid-upload, so
         * the rest is read and dropped, and 413 answered at the end. */
        st->too_big = true;
        vd_buf_free(&st->body);
    }
    if (st->too_big) {
        st->discarded += n;
        if (st->discarded <= MAX_DISCARD_BYTES)
            return MHD_YES;
        vd_log("%s %s: body far over %zu bytes, connection cut", st->req.method,
               st->req.path, cap);
        return MHD_NO;
    }
    vd_buf_append(&st->body, data, n);
    return MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c,
                                 const char *url, const char *method,
                                 const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    (void)version;
    vd_http *h = cls;
    conn_state *st = *con_cls;
    if (!st)
        return on_headers(h, c, url, method, con_cls);
    if (*upload_size)
        return on_upload(h, st, upload, upload_size);
    if (st->responded)
        return MHD_YES;
    if (st->too_big) {
        vd_resp_errorf(&st->req, 413, "request body larger than %zu bytes",
                       h->srv->cfg->max_body_bytes);
        vd_resp_header(&st->req, "Connection", "close");
        return queue(h, c, st, url);
    }
    vd_request *r = &st->req;
    r->body = st->body.data ? st->body.data : "";
    r->body_len = st->body.len;
    vd_dispatch_body(r);
    return queue(h, c, st, url);
}

/* The one place a request's memory is freed, also for aborted ones. */
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    conn_state *st = *con_cls;
    if (!st)
        return;
    vd_request_clear(&st->req);
    vd_buf_free(&st->body);
    free(st);
    *con_cls = NULL;
}

/* ------------------------------------------------------------------ */
/* daemon                                                              */

static vd_err resolve_addr(const char *host, unsigned port,
                           struct sockaddr_storage *ss, vd_diag *d)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc != 0 || !res) {
        vd_diag_set(d, 0, NULL, NULL, "cannot resolve listen address %s: %s",
                    host, gai_strerror(rc));
        if (res)
            freeaddrinfo(res);
        return VD_EINVAL;
    }
    memset(ss, 0, sizeof *ss);
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return VD_OK;
}

static unsigned poll_flag(void)
{
    if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES)
        return MHD_USE_EPOLL;
    if (MHD_is_feature_supported(MHD_FEATURE_POLL) == MHD_YES)
        return MHD_USE_POLL;
    return 0;   /* select() */
}

static bool open_access_log(vd_http *h, const char *path, vd_diag *d)
{
    h->log_fd = -1;
    if (!path || !*path)
        return true;
    if (strcmp(path, "-") == 0) {
        h->log_fd = STDERR_FILENO;
        return true;
    }
    h->log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (h->log_fd < 0) {
        vd_diag_set(d, 0, NULL, NULL, "cannot open access log %s: %s",
                    path, strerror(errno));
        return false;
    }
    h->log_owned = true;
    return true;
}

static char *make_url(const char *host, bool v6, unsigned port)
{
    vd_buf b = VD_BUF_INIT;
    vd_buf_printf(&b, v6 ? "http://[%s]:%u/" : "http://%s:%u/", host, port);
    size_t n;
    return vd_buf_steal(&b, &n);
}

static struct MHD_Daemon *start_daemon(vd_http *h, const vd_config *cfg,
                                       struct sockaddr_storage *ss, unsigned port)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | poll_flag();
    if (ss->ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    unsigned threads = cfg->threads ? cfg->threads : 1;
    return MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, on_access, h,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, (void *)NULL,   /* first */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)ss,
        MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->conn_timeout_s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, (void *)h,
        MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, (void *)NULL,
        MHD_OPTION_END);
}

vd_err vd_http_start(vd_server *s, const char *addr, vd_http **out,
                     char **url_out, vd_diag *d)
{
    char *host = NULL;
    unsigned port = 0;
    vd_err e = VD_EINVAL;
    struct sockaddr_storage ss;
    vd_http *h = calloc(1, sizeof *h);
    *out = NULL;
    *url_out = NULL;
    if (!h)
        return VD_ENOMEM;
    h->srv = s;
    h->log_fd = -1;
    if (vd_config_parse_addr(addr, &host, &port) != VD_OK) {
        vd_diag_set(d, 0, NULL, NULL, "bad listen address %s", addr);
        goto out;
    }
    if ((e = resolve_addr(host, port, &ss, d)) != VD_OK)
        goto out;
    e = VD_EIO;
    if (!open_access_log(h, s->cfg->access_log, d))
        goto out;
    h->daemon = start_daemon(h, s->cfg, &ss, port);
    if (!h->daemon) {
        vd_diag_set(d, 0, NULL, NULL, "cannot listen on %s", addr);
        goto out;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (info && info->port)
        port = info->port;
    *url_out = make_url(host, ss.ss_family == AF_INET6, port);
    *out = h;
    h = NULL;
    e = VD_OK;
out:
    free(host);
    vd_http_stop(h);
    return e;
}

void vd_http_stop(vd_http *h)
{
    if (!h)
        return;
    if (h->daemon)
        MHD_stop_daemon(h->daemon);
    if (h->log_owned && h->log_fd >= 0)
        close(h->log_fd);
    free(h);
}
